//! Embedded TR-181 backend: a generated subset of Device:2.19 ([`schema_gen`]) with live host
//! values, `ManagementServer.*` on the [`ConfigStore`], and writable tables
//! (`NAT.PortMapping`, `Users.User`, `ManagementServer.InformParameter`) persisted in
//! `<state_dir>/dm.json`. The default backend off OpenWrt and the one tests use.

mod host;
mod manageable;
mod persist;
mod schema;
mod schema_gen;
mod sources;
mod view;
mod xmpp_rows;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_diag;
#[cfg(test)]
mod tests_ms;
#[cfg(test)]
mod tests_shared;

use crate::datamodel::{
    ActiveNotify, ApplyStatus, ConfigStore, DataModel, ParamInfo, ParamPath, ParamType, ParamValue,
    SetValue,
};
use crate::diag::store::DiagStore;
use crate::fault::{Fault, FaultCode, ParamFault};
use persist::Persisted;
use schema::{At, Kind, Loc, Tree, SCHEMA};
use sources::{Host, Src, XmppCol};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use view::View;

/// Most instances one stored table may hold (AddObject beyond gives 9004).
pub const MAX_INSTANCES: usize = 100_000;

/// The embedded data model (see the module docs).
pub struct EmbeddedDataModel {
    tree: Tree,
    src: Vec<Src>,
    state_file: PathBuf,
    config: Box<dyn ConfigStore>,
    data: Persisted,
    /// Identity of dm.json as last loaded or written: another process (`icwmpd -c`) that
    /// changes the file makes us reload it instead of overwriting its change later.
    stamp: Option<FileStamp>,
    cpu_prev: Option<(u64, u64)>,
    /// The diagnostics objects (src/diag/store.rs), and the identity of their file as last
    /// read or written (the agent stores results, the CLI requests tests).
    diag: DiagStore,
    diag_stamp: crate::diag::store::Stamp,
}

/// (modification time in ns, size, inode) of a file.
type FileStamp = (i128, u64, u64);

fn file_stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((
        m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
        m.len(),
        m.ino(),
    ))
}

/// One validated change of a SetParameterValues.
struct Change {
    node: usize,
    inst: Vec<u32>,
    value: String,
}

/// What to put back if persisting a change fails.
enum Undo {
    Cell(usize, u32, usize, String),
    Value(String, Option<String>),
}

/// Whether a parameter of source `src` (in row `row` of its table, 0 outside one) takes
/// SetParameterValues: what GetParameterNames reports as writable too, so that an ACS never
/// sees a parameter offered for writing that SPV then refuses with 9008.
pub(super) fn settable(src: Src, row: u32) -> bool {
    match src {
        Src::XmppServer(col) => xmpp_rows::settable(col, row),
        s => matches!(
            s,
            Src::Cfg(..)
                | Src::Stored
                | Src::Kept(_)
                | Src::Host(Host::TimeZone | Host::XmppAlgorithm)
                | Src::DiagState
                | Src::DiagInput
        ),
    }
}

impl EmbeddedDataModel {
    /// Opens the backend, loading `<state_dir>/dm.json` (missing or corrupt: start empty).
    pub fn new(state_dir: &Path, config: Box<dyn ConfigStore>) -> EmbeddedDataModel {
        let tree = Tree::build();
        // Every entry has a source (unit-tested); Object is a harmless fallback.
        let src: Vec<Src> = SCHEMA
            .iter()
            .map(|e| sources::source(e.path).unwrap_or(Src::Object))
            .collect();
        let state_file = state_dir.join("dm.json");
        let stamp = file_stamp(&state_file);
        let data = Persisted::load(&state_file, &tree, &src);
        let diag_stamp = crate::diag::store::stamp(state_dir);
        let diag = DiagStore::load(state_dir);
        EmbeddedDataModel {
            tree,
            src,
            state_file,
            config,
            data,
            stamp,
            cpu_prev: None,
            diag,
            diag_stamp,
        }
    }

    /// Clears the persisted tables and values (FactoryReset) and writes the empty state.
    pub fn factory_reset(&mut self) -> std::io::Result<()> {
        self.data = Persisted::default();
        self.save()
    }

    /// The config store (e.g. for the agent to read what SPV wrote).
    pub fn config(&self) -> &dyn ConfigStore {
        self.config.as_ref()
    }

    /// Names of the forced-inform parameters outside tables (`forcedInform="true"`).
    pub fn forced_inform_names() -> Vec<&'static str> {
        SCHEMA
            .iter()
            .filter(|e| e.forced && e.kind == Kind::Param && !e.path.contains("{i}"))
            .map(|e| e.path)
            .collect()
    }

    fn save(&mut self) -> std::io::Result<()> {
        crate::store::write_atomic(&self.state_file, &self.data.to_json(&self.tree))?;
        self.stamp = file_stamp(&self.state_file);
        Ok(())
    }

    /// Reloads dm.json when someone else rewrote it since we last read or wrote it.
    fn refresh(&mut self) {
        let now = file_stamp(&self.state_file);
        if now != self.stamp {
            log::debug!("{} changed on disk: reloading", self.state_file.display());
            self.data = Persisted::load(&self.state_file, &self.tree, &self.src);
            self.stamp = now;
        }
        let dir = self.state_dir().to_path_buf();
        let now = crate::diag::store::stamp(&dir);
        if now != self.diag_stamp {
            self.diag = DiagStore::load(&dir);
            self.diag_stamp = now;
        }
    }

    fn state_dir(&self) -> &Path {
        self.state_file.parent().unwrap_or(Path::new("."))
    }

    fn view(&mut self) -> View<'_> {
        self.refresh();
        View::new(
            &self.tree,
            &self.src,
            self.config.as_ref(),
            &self.data,
            &mut self.cpu_prev,
            self.state_file.parent().unwrap_or(Path::new(".")),
            &self.diag,
        )
    }

    /// Parses and resolves `path` (no wildcards) to exactly one location.
    fn resolve_one(&mut self, path: &str) -> Result<Loc, Fault> {
        let p = ParamPath::parse(path)?;
        let mut locs = {
            let mut v = self.view();
            let tree = v.tree;
            schema::resolve(tree, &mut v, p.as_str(), false)?
        };
        match (locs.pop(), locs.is_empty()) {
            (Some(l), true) => Ok(l),
            _ => Err(Fault::invalid_name(path)),
        }
    }

    /// Checks one SetParameterValues item; the change to make, or the per-parameter fault.
    fn check_set(
        &mut self,
        v: &SetValue,
        planned: &[Change],
    ) -> Result<Change, (FaultCode, String)> {
        let loc = self
            .resolve_one(&v.name)
            .map_err(|f| (FaultCode::INVALID_PARAMETER_NAME, f.message))?;
        if loc.at != At::Param {
            return Err((FaultCode::INVALID_PARAMETER_NAME, "not a parameter".into()));
        }
        let e = self.tree.entry(loc.node);
        let row = loc.inst.last().copied().unwrap_or(0);
        if !e.writable || !settable(self.src[loc.node], row) {
            return Err((
                FaultCode::NON_WRITABLE_PARAMETER,
                "parameter is read-only".into(),
            ));
        }
        let bad = |why: String| (FaultCode::INVALID_PARAMETER_VALUE, why);
        let value = match e.ty.check_value(&v.value) {
            Ok(c) => c,
            Err(f) => {
                // A value that does not parse, sent with another type, is a type error.
                let hinted = v.type_hint.as_deref().map(ParamType::from_xsd);
                let code = match hinted {
                    Some(h) if h != Some(e.ty) => FaultCode::INVALID_PARAMETER_TYPE,
                    _ => FaultCode::INVALID_PARAMETER_VALUE,
                };
                return Err((code, f.message));
            }
        };
        if e.max_len > 0 && value.chars().count() > e.max_len as usize {
            return Err(bad(format!("longer than {} characters", e.max_len)));
        }
        if let Some((lo, hi)) = e.range() {
            let n: i128 = value.parse().unwrap_or(0);
            if n < lo as i128 || n > hi as i128 {
                return Err(bad(format!("out of range {lo}..{hi}")));
            }
        }
        let enums = e.enums();
        if !enums.is_empty() {
            let ok = if e.list {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .all(|s| enums.contains(&s))
            } else {
                enums.contains(&value.as_str())
            };
            if !ok {
                return Err(bad(format!("'{value}' is not one of {}", enums.join(","))));
            }
        }
        if let Src::Cfg(_, _, _, conv) = self.src[loc.node] {
            if sources::to_config(&value, conv).is_none() {
                return Err(bad(format!("'{value}' is not supported")));
            }
        }
        xmpp_rows::check(self.src[loc.node], &value).map_err(bad)?;
        if e.path == "Device.ManagementServer.URL" && !value.is_empty() {
            let l = value.to_ascii_lowercase();
            if !(l.starts_with("http://") || l.starts_with("https://")) || l.len() < 9 {
                return Err(bad("not an HTTP or HTTPS URL".into()));
            }
        }
        if let Some(kind) = crate::diag::Kind::of_path(e.path) {
            let name = &e.path[kind.object().len()..];
            match self.src[loc.node] {
                // TR-181: Requested is the only value an ACS may write (Canceled is optional
                // and not supported).
                Src::DiagState if value != crate::diag::store::REQUESTED => {
                    return Err(bad(format!("'{value}' cannot be written, only Requested")));
                }
                Src::DiagInput => {
                    crate::diag::check(kind, name, &value).map_err(|f| bad(f.message))?
                }
                _ => {}
            }
        }
        if self.src[loc.node] == Src::Stored && self.tree.nodes[loc.node].seg == "Alias" {
            self.check_alias(&loc, &value, planned).map_err(bad)?;
        }
        Ok(Change {
            node: loc.node,
            inst: loc.inst,
            value,
        })
    }

    /// An Alias must start with a letter and be unique in its table (TR-069 _AliasCWMP).
    fn check_alias(&self, loc: &Loc, value: &str, planned: &[Change]) -> Result<(), String> {
        if !value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        {
            return Err("an Alias must start with a letter".into());
        }
        let table = self.tree.nodes[loc.node].parent;
        let col = self.tree.nodes[loc.node].col;
        let me = loc.inst.last().copied();
        let taken_now = self.data.tables.get(&table).is_some_and(|t| {
            t.rows
                .iter()
                .any(|(n, row)| Some(*n) != me && row.get(col).map(String::as_str) == Some(value))
        });
        let taken_batch = planned
            .iter()
            .any(|c| c.node == loc.node && c.value == value && c.inst != loc.inst);
        if taken_now || taken_batch {
            return Err(format!("Alias '{value}' is already used"));
        }
        Ok(())
    }

    fn rollback(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Cell(table, n, col, old) => {
                    if let Some(cell) = self
                        .data
                        .tables
                        .get_mut(&table)
                        .and_then(|t| t.rows.get_mut(&n))
                        .and_then(|r| r.get_mut(col))
                    {
                        *cell = old;
                    }
                }
                Undo::Value(k, Some(old)) => {
                    self.data.values.insert(k, old);
                }
                Undo::Value(k, None) => {
                    self.data.values.remove(&k);
                }
            }
        }
    }

    /// Applies validated changes: dm.json first, then one ConfigStore write; all or nothing.
    fn apply(&mut self, changes: Vec<Change>) -> Result<(), Fault> {
        let mut cfg = Vec::new();
        let mut undo = Vec::new();
        let mut diag = Vec::new();
        let mut xmpp = Vec::new();
        for c in changes {
            match self.src[c.node] {
                s @ (Src::XmppServer(XmppCol::Address | XmppCol::Port)
                | Src::Host(Host::XmppAlgorithm)) => {
                    xmpp.push((s, c.inst.last().copied().unwrap_or(1), c.value));
                }
                Src::DiagState | Src::DiagInput => {
                    let path = SCHEMA[c.node].path;
                    if let Some(kind) = crate::diag::Kind::of_path(path) {
                        let obj = kind.object();
                        diag.push((obj.to_string(), path[obj.len()..].to_string(), c.value));
                    }
                }
                Src::Cfg(sec, opt, _, conv) => {
                    let v = sources::to_config(&c.value, conv).unwrap_or(c.value);
                    cfg.push((sec.to_string(), opt.to_string(), v));
                }
                Src::Stored => {
                    let table = self.tree.nodes[c.node].parent;
                    let col = self.tree.nodes[c.node].col;
                    let n = c.inst.last().copied().unwrap_or(0);
                    let cell = self
                        .data
                        .tables
                        .get_mut(&table)
                        .and_then(|t| t.rows.get_mut(&n))
                        .and_then(|r| r.get_mut(col));
                    if let Some(cell) = cell {
                        let old = std::mem::replace(cell, c.value);
                        undo.push(Undo::Cell(table, n, col, old));
                    }
                }
                _ => {
                    let key = SCHEMA[c.node].path.to_string();
                    let old = self.data.values.insert(key.clone(), c.value);
                    undo.push(Undo::Value(key, old));
                }
            }
        }
        cfg.extend(xmpp_rows::writes(self.config.as_ref(), &xmpp));
        let diag_before = (!diag.is_empty()).then(|| self.diag.clone());
        if diag_before.is_some() {
            self.diag.apply(&diag);
            if let Err(e) = self.save_diag() {
                self.rollback(undo);
                if let Some(before) = diag_before {
                    self.diag = before;
                }
                return Err(Fault::internal(format!("cannot persist: {e}")));
            }
        }
        let touched = !undo.is_empty();
        if touched {
            if let Err(e) = self.save() {
                self.rollback(undo);
                self.restore_diag(diag_before);
                return Err(Fault::internal(format!("cannot persist: {e}")));
            }
        }
        if !cfg.is_empty() {
            if let Err(e) = self.config.set(&cfg) {
                if touched {
                    self.rollback(undo);
                    if let Err(e2) = self.save() {
                        log::error!("cannot restore dm.json after a failed config write: {e2}");
                    }
                }
                self.restore_diag(diag_before);
                return Err(Fault::internal(format!("cannot write config: {e}")));
            }
        }
        Ok(())
    }

    fn save_diag(&mut self) -> std::io::Result<()> {
        let dir = self.state_dir().to_path_buf();
        self.diag.save(&dir)?;
        self.diag_stamp = crate::diag::store::stamp(&dir);
        Ok(())
    }

    /// Puts the diagnostics state back as it was before a change that failed later on.
    fn restore_diag(&mut self, before: Option<DiagStore>) {
        if let Some(before) = before {
            self.diag = before;
            if let Err(e) = self.save_diag() {
                log::error!("cannot restore {}: {e}", crate::diag::store::FILE_NAME);
            }
        }
    }

    /// The stored-table node a resolved table or instance location belongs to.
    fn stored_table(&self, loc: &Loc) -> Option<usize> {
        (self.src[loc.node] == Src::StoredTable && self.tree.entry(loc.node).writable)
            .then_some(loc.node)
    }
}

impl DataModel for EmbeddedDataModel {
    fn get_values(&mut self, path: &str) -> Result<Vec<ParamValue>, Fault> {
        let p = ParamPath::parse(path)?;
        let mut v = self.view();
        let tree = v.tree;
        let locs = schema::resolve(tree, &mut v, p.as_str(), true)?;
        let mut out = Vec::new();
        for loc in &locs {
            v.collect_values(loc, &mut out);
        }
        Ok(out)
    }

    fn get_names(&mut self, path: &str, next_level: bool) -> Result<Vec<ParamInfo>, Fault> {
        let p = ParamPath::parse(path)?;
        if p.is_root() && next_level {
            return Ok(vec![ParamInfo {
                name: "Device.".into(),
                writable: false,
            }]);
        }
        let mut v = self.view();
        let tree = v.tree;
        let locs = schema::resolve(tree, &mut v, p.as_str(), true)?;
        if next_level && locs.iter().any(|l| l.at == At::Param) {
            return Err(Fault::invalid_args("NextLevel true on a parameter name"));
        }
        let mut out = Vec::new();
        for loc in &locs {
            v.collect_names(loc, next_level, &mut out);
        }
        Ok(out)
    }

    fn set_values(&mut self, values: &[SetValue]) -> Result<ApplyStatus, Fault> {
        let mut seen = HashSet::new();
        for v in values {
            if !seen.insert(v.name.as_str()) {
                return Err(Fault::invalid_args(format!("{} appears twice", v.name)));
            }
        }
        let mut faults = Vec::new();
        let mut changes = Vec::with_capacity(values.len());
        for v in values {
            match self.check_set(v, &changes) {
                Ok(c) => changes.push(c),
                Err((code, message)) => faults.push(ParamFault {
                    name: v.name.clone(),
                    code,
                    message,
                }),
            }
        }
        if !faults.is_empty() {
            return Err(Fault::set_values(faults));
        }
        self.apply(changes)?;
        Ok(ApplyStatus::Applied)
    }

    fn add_object(&mut self, path: &str) -> Result<(u32, ApplyStatus), Fault> {
        let loc = self.resolve_one(path)?;
        let table = match (loc.at, self.stored_table(&loc)) {
            (At::Table, Some(t)) => t,
            _ => {
                return Err(Fault::with_message(
                    FaultCode::INVALID_PARAMETER_NAME,
                    format!("{path} is not a table that accepts AddObject"),
                ))
            }
        };
        let t = self.data.tables.entry(table).or_default();
        if t.rows.len() >= MAX_INSTANCES {
            return Err(Fault::new(FaultCode::RESOURCES_EXCEEDED));
        }
        let old_next = t.next;
        let n = t.next.max(1);
        if n == u32::MAX {
            return Err(Fault::new(FaultCode::RESOURCES_EXCEEDED));
        }
        t.next = n + 1;
        // Keep a CPE alias unique even if the ACS already chose `cpe-<n>` elsewhere.
        let alias_col = self
            .tree
            .child(table, "Alias")
            .map(|c| self.tree.nodes[c].col);
        let mut alias = format!("cpe-{n}");
        if let Some(col) = alias_col {
            let mut k = 1;
            while t.rows.values().any(|r| r.get(col) == Some(&alias)) {
                k += 1;
                alias = format!("cpe-{n}-{k}");
            }
        }
        let row = persist::default_row(&self.tree, table, &alias);
        t.rows.insert(n, row);
        if let Err(e) = self.save() {
            if let Some(t) = self.data.tables.get_mut(&table) {
                t.rows.remove(&n);
                t.next = old_next;
            }
            return Err(Fault::internal(format!("cannot persist: {e}")));
        }
        Ok((n, ApplyStatus::Applied))
    }

    fn delete_object(&mut self, path: &str) -> Result<ApplyStatus, Fault> {
        let loc = self.resolve_one(path)?;
        let n = loc.inst.last().copied();
        let table = match (loc.at, self.stored_table(&loc), n) {
            (At::Object, Some(t), Some(n)) if self.tree.entry(loc.node).kind == Kind::Table => {
                (t, n)
            }
            _ => {
                return Err(Fault::with_message(
                    FaultCode::INVALID_PARAMETER_NAME,
                    format!("{path} is not an instance that accepts DeleteObject"),
                ))
            }
        };
        let (table, n) = table;
        let row = self
            .data
            .tables
            .get_mut(&table)
            .and_then(|t| t.rows.remove(&n));
        if let Err(e) = self.save() {
            if let (Some(t), Some(row)) = (self.data.tables.get_mut(&table), row) {
                t.rows.insert(n, row);
            }
            return Err(Fault::internal(format!("cannot persist: {e}")));
        }
        Ok(ApplyStatus::Applied)
    }

    fn change_sources(&self) -> crate::notify::watch::Sources {
        // dm.json (another process's AddObject or SPV), the host files DeviceInfo and Time
        // values read (sources::HOST_FILES), and rtnetlink for everything about interfaces
        // (their table, addresses, status, the ConnectionRequestURL's address). The UCI file
        // is the agent's to add: it is the same for every backend.
        let mut files = vec![
            self.state_file.clone(),
            self.state_dir().join(crate::diag::store::FILE_NAME),
        ];
        files.extend(host::WATCHED_FILES.iter().map(PathBuf::from));
        // The LAN's manageable devices (ManageableDeviceNumberOfEntries is often notified).
        files.push(manageable::file(self.config.as_ref()));
        crate::notify::watch::Sources {
            files,
            netlink: true,
        }
    }

    fn active_notify(&mut self, name: &str) -> ActiveNotify {
        self.tree
            .schema_of(name)
            .map(|n| self.tree.entry(n).notify)
            .unwrap_or_default()
    }
}
