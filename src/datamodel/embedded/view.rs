//! Reading the data model during one RPC: values, instance lists and tree walks. A [`View`]
//! borrows the backend's state and caches the host's interface list for the call.

use super::host::{self, Iface};
use super::manageable::{self, ManageableDevice};
use super::persist::Persisted;
use super::schema::{At, Instances, Kind, Loc, Tree};
use super::sources::{self, Host, Info, Net, Src};
use crate::datamodel::{ConfigStore, ParamInfo, ParamValue};
use std::fmt::Write;

/// The backend state one call reads.
pub(crate) struct View<'a> {
    pub tree: &'a Tree,
    pub src: &'a [Src],
    pub config: &'a dyn ConfigStore,
    pub data: &'a Persisted,
    pub cpu_prev: &'a mut Option<(u64, u64)>,
    /// Where the STUN client publishes its status.
    pub state_dir: &'a std::path::Path,
    /// The diagnostics objects' state.
    pub diag: &'a crate::diag::store::DiagStore,
    ifaces: Option<Vec<Iface>>,
    /// The manageable devices file, read once per call.
    mds: Option<Vec<ManageableDevice>>,
}

/// A diagnostics parameter's object and its name relative to it, instance numbers put in
/// (`RouteHops.{i}.Host` in instance 2: `RouteHops.2.Host`).
fn diag_name(path: &str, inst: &[u32]) -> Option<(&'static str, String)> {
    let kind = crate::diag::Kind::of_path(path)?;
    let template = &path[kind.object().len()..];
    let mut rel = String::with_capacity(template.len());
    let mut parts = template.split("{i}");
    rel.push_str(parts.next().unwrap_or_default());
    for (part, n) in parts.zip(inst) {
        let _ = write!(rel, "{n}");
        rel.push_str(part);
    }
    Some((kind.object(), rel))
}

impl<'a> View<'a> {
    /// A view over the backend state.
    pub(crate) fn new(
        tree: &'a Tree,
        src: &'a [Src],
        config: &'a dyn ConfigStore,
        data: &'a Persisted,
        cpu_prev: &'a mut Option<(u64, u64)>,
        state_dir: &'a std::path::Path,
        diag: &'a crate::diag::store::DiagStore,
    ) -> View<'a> {
        View {
            tree,
            src,
            config,
            data,
            cpu_prev,
            state_dir,
            diag,
            ifaces: None,
            mds: None,
        }
    }

    fn ifaces(&mut self) -> &[Iface] {
        self.ifaces.get_or_insert_with(host::interfaces)
    }

    fn manageable_devices(&mut self) -> &[ManageableDevice] {
        let config = self.config;
        self.mds.get_or_insert_with(|| manageable::read(config))
    }

    fn md_value(&mut self, md: sources::Md, inst: &[u32]) -> String {
        let i = inst.last().map_or(0, |n| *n as usize);
        let Some(d) = i
            .checked_sub(1)
            .and_then(|i| self.manageable_devices().get(i))
        else {
            return String::new();
        };
        match md {
            sources::Md::Oui => d.oui.clone(),
            sources::Md::Serial => d.serial.clone(),
            sources::Md::ProductClass => d.class.clone(),
            sources::Md::Host => d.host.clone(),
        }
    }

    fn iface(&mut self, inst: &[u32]) -> Option<&Iface> {
        let idx = *inst.first()?;
        self.ifaces().iter().find(|i| i.index == idx)
    }

    /// A config option as a parameter value, falling back to `default` when unset or when the
    /// stored text is not valid for the parameter's type.
    fn config_value(
        &self,
        node: usize,
        sec: &str,
        opt: &str,
        dflt: &str,
        conv: sources::Conv,
    ) -> String {
        let e = self.tree.entry(node);
        let raw = self.config.get(sec, opt);
        let v = sources::from_config(raw.as_deref().unwrap_or(dflt), conv);
        // Out of range reads as the default, which is what the daemon then runs with (the
        // config loader replaces such values the same way).
        let in_range = |c: &str| {
            e.range().is_none_or(|(lo, hi)| {
                c.parse::<i128>()
                    .is_ok_and(|n| (lo as i128..=hi as i128).contains(&n))
            })
        };
        match e.ty.check_value(&v) {
            Ok(c) if in_range(&c) => c,
            _ => sources::from_config(dflt, conv),
        }
    }

    /// The value of parameter `node` in instance path `inst` (hidden ones read empty).
    pub(crate) fn value(&mut self, node: usize, inst: &[u32]) -> String {
        let e = self.tree.entry(node);
        if e.hidden {
            return String::new();
        }
        match self.src[node] {
            Src::Const(v) => v.to_string(),
            Src::Cfg(sec, opt, dflt, conv) => self.config_value(node, sec, opt, dflt, conv),
            Src::Info(opt, which) => {
                let over = self
                    .config
                    .get("cpe", opt)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty());
                let v = match which {
                    Info::Oui => over.and_then(|v| host::normalize_oui(&v)),
                    _ => over,
                };
                let mut v = v.unwrap_or_else(|| host::device_info_default(which));
                if e.max_len > 0 && v.len() > e.max_len as usize {
                    let mut cut = e.max_len as usize;
                    while !v.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    v.truncate(cut);
                }
                v
            }
            Src::Host(h) => self.host_value(h, e.path),
            Src::Kept(d) => self
                .data
                .values
                .get(e.path)
                .cloned()
                .unwrap_or_else(|| d.into()),
            Src::Count => {
                let tree = self.tree;
                let parent = tree.nodes[node].parent;
                let seg = tree.nodes[node].seg;
                let table = tree.nodes[parent]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| tree.entry(c).num_entries() == Some(seg));
                match table {
                    Some(t) => self.instances(t, inst).len().to_string(),
                    None => "0".into(),
                }
            }
            Src::Stored => {
                let table = self.tree.nodes[node].parent;
                let col = self.tree.nodes[node].col;
                inst.last()
                    .and_then(|n| self.data.tables.get(&table)?.rows.get(n)?.get(col).cloned())
                    .unwrap_or_default()
            }
            Src::MappingStatus => {
                let table = self.tree.nodes[node].parent;
                let on = self
                    .tree
                    .child(table, "Enable")
                    .map(|c| self.value(c, inst) == "true")
                    .unwrap_or(false);
                if on { "Enabled" } else { "Disabled" }.into()
            }
            Src::Net(n) => self.net_value(n, inst),
            Src::Md(md) => self.md_value(md, inst),
            Src::XmppServer(col) => {
                let row = inst.last().copied().unwrap_or(1);
                let alias1 = self.data.values.get(e.path);
                super::xmpp_rows::value(self.config, col, row, alias1)
            }
            Src::DiagState | Src::DiagInput | Src::DiagResult => {
                let found = diag_name(e.path, inst).and_then(|(obj, rel)| {
                    let d = self.diag.get(obj)?;
                    match self.src[node] {
                        Src::DiagState => Some(d.state.clone()),
                        Src::DiagInput => d.inputs.get(&rel).cloned(),
                        _ => d.result(&rel).map(str::to_string),
                    }
                });
                match (found, self.src[node]) {
                    (Some(v), _) => v,
                    (None, Src::DiagState) => crate::diag::store::NONE.into(),
                    (None, _) => super::persist::default_value(node),
                }
            }
            Src::Object
            | Src::StoredTable
            | Src::IfaceTable
            | Src::V4Table
            | Src::V6Table
            | Src::MdTable
            | Src::OneRow
            | Src::XmppServerTable
            | Src::DiagTable => String::new(),
        }
    }

    /// STUNEnable: the STUN client runs and its published status is current.
    fn stun_on(&self) -> bool {
        let v = self.config.get("cpe", "stun_enable").unwrap_or_default();
        sources::from_config(&v, sources::Conv::Bool) == "true"
    }

    /// `cpe.xmpp_enable`: the XMPP connection-request client runs.
    fn xmpp_on(&self) -> bool {
        let v = self.config.get("cpe", "xmpp_enable").unwrap_or_default();
        sources::from_config(&v, sources::Conv::Bool) == "true"
    }

    /// SupportedConnReqMethods as enabled now: HTTP unless `cpe.http_cr_enable` is off,
    /// STUN (UDP connection requests) while `cpe.stun_enable` is on, XMPP while
    /// `cpe.xmpp_enable` is on.
    fn conn_req_methods(&self) -> String {
        let http = self
            .config
            .get("cpe", "http_cr_enable")
            .is_none_or(|v| sources::from_config(&v, sources::Conv::Bool) == "true");
        let mut m = Vec::new();
        if http {
            m.push("HTTP");
        }
        if self.stun_on() {
            m.push("STUN");
        }
        if self.xmpp_on() {
            m.push("XMPP");
        }
        m.join(",")
    }

    fn host_value(&mut self, h: Host, path: &str) -> String {
        match h {
            Host::UpTime => host::uptime().min(u32::MAX as u64).to_string(),
            Host::MemTotal => host::meminfo().0.min(u32::MAX as u64).to_string(),
            Host::MemFree => host::meminfo().1.min(u32::MAX as u64).to_string(),
            Host::CpuUsage => match host::cpu_sample() {
                Some(now) => {
                    let pct = host::cpu_percent(*self.cpu_prev, now);
                    *self.cpu_prev = Some(now);
                    pct.to_string()
                }
                None => "0".into(),
            },
            Host::Processes => host::process_count().to_string(),
            Host::ConnReqUrl => self.conn_req_url(),
            Host::UdpConnReqAddress if self.stun_on() => {
                crate::stun::status::read(self.state_dir).address
            }
            Host::NatDetected if self.stun_on() => crate::stun::status::read(self.state_dir)
                .nat_detected
                .to_string(),
            Host::UdpConnReqAddress => String::new(),
            Host::NatDetected => "false".into(),
            Host::ConnReqMethods => self.conn_req_methods(),
            Host::JabberId if self.xmpp_on() => crate::xmpp::client::read_jid(self.state_dir),
            Host::JabberId => String::new(),
            Host::XmppStatus if !self.xmpp_on() => "Disabled".into(),
            Host::XmppStatus => {
                let bound = !crate::xmpp::client::read_jid(self.state_dir).is_empty();
                if bound { "Enabled" } else { "Connecting" }.into()
            }
            Host::XmppTls => {
                // Unset: on (the option's default).
                let tls = self
                    .config
                    .get("cpe", "xmpp_use_tls")
                    .unwrap_or_else(|| "1".into());
                let bound =
                    self.xmpp_on() && !crate::xmpp::client::read_jid(self.state_dir).is_empty();
                (bound && sources::from_config(&tls, sources::Conv::Bool) != "false").to_string()
            }
            Host::XmppAlgorithm => super::xmpp_rows::algorithm(self.config).into(),
            Host::LocalTime => crate::time::format_datetime(crate::time::now_unix()),
            Host::TimeZone => self
                .data
                .values
                .get(path)
                .cloned()
                .or_else(|| host::read_trim("/etc/TZ"))
                .unwrap_or_else(|| "UTC0".into()),
            Host::TimeStatus => {
                let on = self
                    .data
                    .values
                    .get("Device.Time.Enable")
                    .is_none_or(|v| v == "true");
                if on { "Synchronized" } else { "Disabled" }.into()
            }
        }
    }

    /// `http://host:port/path` from `cpe.cr_host` (or an interface address, IPv6 in brackets
    /// when there is no IPv4 one: [`host::cr_url_host`]),
    /// `cpe.port` and `cpe.path`; empty when there is no address to give, or when HTTP
    /// connection requests are disabled (`cpe.http_cr_enable`, TR-181 says so).
    fn conn_req_url(&mut self) -> String {
        let enabled = self
            .config
            .get("cpe", "http_cr_enable")
            .is_none_or(|v| crate::config::parse_bool(&v) != Some(false));
        if !enabled {
            return String::new();
        }
        let over = self
            .config
            .get("cpe", "cr_host")
            .filter(|h| !h.trim().is_empty());
        let host = match over {
            Some(h) => h.trim().to_string(),
            None => match host::cr_url_host(self.ifaces()) {
                Some(a) => a.to_string(),
                None => return String::new(),
            },
        };
        let port = self
            .config
            .get("cpe", "port")
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or(7547);
        let path = self.config.get("cpe", "path").unwrap_or_default();
        host::cr_url(&host, port, &path)
    }

    fn net_value(&mut self, n: Net, inst: &[u32]) -> String {
        let Some(i) = self.iface(inst) else {
            return String::new();
        };
        let sub = inst.get(1).map(|&k| k as usize - 1);
        let v4 = sub.and_then(|k| i.v4.get(k));
        let v6 = sub.and_then(|k| i.v6.get(k));
        match n {
            Net::Enable => i.up.to_string(),
            Net::Status => if i.up && (i.running || i.loopback) {
                "Up"
            } else {
                "Down"
            }
            .into(),
            Net::Alias => {
                let name: String = i
                    .name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                format!("cpe-{name}")
            }
            Net::Name => i.name.clone(),
            Net::Mtu => i.mtu.clamp(64, 65535).to_string(),
            Net::Type => if i.loopback { "Loopback" } else { "Normal" }.into(),
            Net::Loopback => i.loopback.to_string(),
            Net::V4Count => i.v4.len().to_string(),
            Net::V6Count => i.v6.len().to_string(),
            Net::AddrAlias => format!("cpe-{}", inst.get(1).copied().unwrap_or(0)),
            Net::V4Addr => v4.map(|a| a.0.to_string()).unwrap_or_default(),
            Net::V4Mask => v4.map(|a| a.1.to_string()).unwrap_or_default(),
            Net::V4Type => match v4 {
                Some((a, _)) if a.is_link_local() => "AutoIP".into(),
                _ => "Static".into(),
            },
            Net::V6Addr => v6.map(|a| a.0.to_string()).unwrap_or_default(),
            Net::V6Status => v6.map(|a| host::v6_status(a.1)).unwrap_or("Unknown").into(),
            Net::V6Origin => v6
                .map(|a| host::v6_origin(&a.0, a.1))
                .unwrap_or("Static")
                .into(),
        }
    }

    /// Appends the values of every parameter at or below `loc`.
    pub(crate) fn collect_values(&mut self, loc: &Loc, out: &mut Vec<ParamValue>) {
        let mut name = loc.name.clone();
        let mut inst = loc.inst.clone();
        match loc.at {
            At::Param => out.push(ParamValue {
                name,
                value: self.value(loc.node, &inst),
                ty: self.tree.entry(loc.node).ty,
            }),
            At::Object => self.walk(
                loc.node,
                &mut inst,
                &mut name,
                &mut Sink::Values(out),
                false,
            ),
            At::Table => self.walk_instances(
                loc.node,
                &mut inst,
                &mut name,
                &mut Sink::Values(out),
                false,
            ),
        }
    }

    /// Appends names for GetParameterNames at `loc` (see the trait for the rules).
    pub(crate) fn collect_names(&mut self, loc: &Loc, next_level: bool, out: &mut Vec<ParamInfo>) {
        let e = self.tree.entry(loc.node);
        let mut name = loc.name.clone();
        let mut inst = loc.inst.clone();
        let mut sink = Sink::Names(out);
        match loc.at {
            At::Param => {
                let row = inst.last().copied().unwrap_or(0);
                sink.name(name, e.writable && super::settable(self.src[loc.node], row))
            }
            At::Object => {
                if !next_level {
                    // An instance is writable when it may be deleted; a plain object never is.
                    let w = e.kind == Kind::Table && e.writable;
                    sink.name(name.clone(), w);
                }
                self.walk(loc.node, &mut inst, &mut name, &mut sink, next_level);
            }
            At::Table => {
                if !next_level {
                    sink.name(name.clone(), e.writable);
                }
                self.walk_instances(loc.node, &mut inst, &mut name, &mut sink, next_level);
            }
        }
    }

    /// Walks the children of object/instance `node`; `shallow` stops after one level.
    fn walk(
        &mut self,
        node: usize,
        inst: &mut Vec<u32>,
        name: &mut String,
        sink: &mut Sink,
        shallow: bool,
    ) {
        let tree = self.tree;
        for &c in &tree.nodes[node].children {
            let len = name.len();
            name.push_str(tree.nodes[c].seg);
            let e = tree.entry(c);
            match e.kind {
                Kind::Param => match sink {
                    Sink::Values(out) => out.push(ParamValue {
                        name: name.clone(),
                        value: self.value(c, inst),
                        ty: e.ty,
                    }),
                    Sink::Names(out) => out.push(ParamInfo {
                        name: name.clone(),
                        writable: e.writable
                            && super::settable(self.src[c], inst.last().copied().unwrap_or(0)),
                    }),
                },
                Kind::Object => {
                    name.push('.');
                    sink.name(name.clone(), false);
                    if !shallow {
                        self.walk(c, inst, name, sink, false);
                    }
                }
                Kind::Table => {
                    name.push('.');
                    sink.name(name.clone(), e.writable);
                    if !shallow {
                        self.walk_instances(c, inst, name, sink, false);
                    }
                }
            }
            name.truncate(len);
        }
    }

    /// Walks the instances of table `node` (whose name, ending with `.`, is in `name`).
    fn walk_instances(
        &mut self,
        node: usize,
        inst: &mut Vec<u32>,
        name: &mut String,
        sink: &mut Sink,
        shallow: bool,
    ) {
        let writable = self.tree.entry(node).writable;
        for n in self.instances(node, inst) {
            let len = name.len();
            // Writing to a String cannot fail.
            let _ = write!(name, "{n}.");
            sink.name(name.clone(), writable);
            if !shallow {
                inst.push(n);
                self.walk(node, inst, name, sink, false);
                inst.pop();
            }
            name.truncate(len);
        }
    }
}

/// Where a walk puts what it finds.
enum Sink<'o> {
    Values(&'o mut Vec<ParamValue>),
    Names(&'o mut Vec<ParamInfo>),
}

impl Sink<'_> {
    /// Records an object name (ignored when collecting values).
    fn name(&mut self, name: String, writable: bool) {
        if let Sink::Names(out) = self {
            out.push(ParamInfo { name, writable });
        }
    }
}

impl Instances for View<'_> {
    fn instances(&mut self, node: usize, inst: &[u32]) -> Vec<u32> {
        match self.src[node] {
            Src::StoredTable => self
                .data
                .tables
                .get(&node)
                .map(|t| t.rows.keys().copied().collect())
                .unwrap_or_default(),
            Src::IfaceTable => self.ifaces().iter().map(|i| i.index).collect(),
            Src::OneRow => vec![1],
            Src::XmppServerTable => super::xmpp_rows::rows(self.config),
            Src::MdTable => (1..=self.manageable_devices().len() as u32).collect(),
            Src::DiagTable => {
                let Some((obj, rel)) = diag_name(self.tree.entry(node).path, inst) else {
                    return Vec::new();
                };
                // `RouteHops.{i}.` -> rows named `RouteHops.<n>.<column>`.
                let prefix = rel.strip_suffix("{i}.").unwrap_or(&rel);
                let mut rows: Vec<u32> = self
                    .diag
                    .get(obj)
                    .map(|d| {
                        d.results
                            .iter()
                            .filter_map(|(n, _)| {
                                let rest = n.strip_prefix(prefix)?;
                                rest.split_once('.')?.0.parse().ok()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                rows.sort_unstable();
                rows.dedup();
                rows
            }
            Src::V4Table => {
                let n = self.iface(inst).map_or(0, |i| i.v4.len());
                (1..=n as u32).collect()
            }
            Src::V6Table => {
                let n = self.iface(inst).map_or(0, |i| i.v6.len());
                (1..=n as u32).collect()
            }
            _ => Vec::new(),
        }
    }

    fn alias(&mut self, node: usize, inst: &[u32]) -> Option<String> {
        let c = self.tree.child(node, "Alias")?;
        Some(self.value(c, inst))
    }
}
