//! `Device.XMPP.Connection.1.ServerConnectAlgorithm` and the `Server.{i}.` rows on the
//! `cpe.xmpp_server*` options the `xmpp` thread follows (see [`crate::xmpp::servers`]).
//!
//! One row per `xmpp_server` entry, at least one (an empty Server.1 when none is set, as
//! before); Priority is the position. ServerAddress and Port of an existing row are
//! writable: an empty ServerAddress removes the entry; Server.1.Port is `xmpp_port` while
//! the table has at most one entry without its own port (the single-server option as it
//! always was), else the entry's own port. Rows are not added or deleted by AddObject /
//! DeleteObject: the ACS edits the list through the rows there are.

use super::sources::{Host, Src, XmppCol};
use crate::datamodel::ConfigStore;
use crate::xmpp::servers::{self, Algorithm, ServerEntry};

fn entries(config: &dyn ConfigStore) -> Vec<ServerEntry> {
    servers::parse_servers(&config.get("cpe", "xmpp_server").unwrap_or_default()).0
}

/// `cpe.xmpp_port` as the daemon runs it (5222 when unset or bad).
fn default_port(config: &dyn ConfigStore) -> u16 {
    config
        .get("cpe", "xmpp_port")
        .and_then(|v| v.trim().parse::<u16>().ok())
        .filter(|&p| p > 0)
        .unwrap_or(5222)
}

/// The row numbers of the Server table.
pub(crate) fn rows(config: &dyn ConfigStore) -> Vec<u32> {
    (1..=entries(config).len().max(1) as u32).collect()
}

/// ServerConnectAlgorithm as in effect.
pub(crate) fn algorithm(config: &dyn ConfigStore) -> &'static str {
    let opt = config.get("cpe", "xmpp_server_algorithm");
    let has = !entries(config).is_empty();
    Algorithm::effective(opt.as_deref(), has).as_str()
}

/// The value of column `col` of row `row`; `alias1` is row 1's kept Alias, if any.
pub(crate) fn value(
    config: &dyn ConfigStore,
    col: XmppCol,
    row: u32,
    alias1: Option<&String>,
) -> String {
    let e = entries(config);
    let entry = e.get(row.saturating_sub(1) as usize);
    match col {
        XmppCol::Alias if row == 1 => alias1.cloned().unwrap_or_else(|| "cpe-1".into()),
        XmppCol::Alias => format!("cpe-{row}"),
        XmppCol::Priority => row.saturating_sub(1).to_string(),
        XmppCol::Address => entry.map(|s| s.host.clone()).unwrap_or_default(),
        XmppCol::Port => entry
            .and_then(|s| s.port)
            .unwrap_or_else(|| default_port(config))
            .to_string(),
    }
}

/// Whether a column of row `row` takes SetParameterValues.
pub(crate) fn settable(col: XmppCol, row: u32) -> bool {
    match col {
        XmppCol::Alias => row == 1,
        XmppCol::Priority => false,
        XmppCol::Address | XmppCol::Port => true,
    }
}

/// Checks a value written to a parameter of source `src` (the type and range are checked
/// by the caller; other sources pass): a ServerConnectAlgorithm must be a supported one
/// (TR-181 lists WebSocket too), a ServerAddress a host without a port.
pub(crate) fn check(src: Src, value: &str) -> Result<(), String> {
    match src {
        Src::Host(Host::XmppAlgorithm) if Algorithm::parse(value).is_none() => Err(format!(
            "'{value}' is not supported ({})",
            servers::SUPPORTED
        )),
        Src::XmppServer(XmppCol::Address) if !value.is_empty() => match ServerEntry::parse(value) {
            Some(e) if e.port.is_none() && !value.starts_with('[') => Ok(()),
            _ => Err(format!("'{value}' is not a host name or address")),
        },
        Src::XmppServer(XmppCol::Port) if value == "0" => Err("port 0".into()),
        _ => Ok(()),
    }
}

/// The option writes for a batch of validated changes (source, row, value), in order.
pub(crate) fn writes(
    config: &dyn ConfigStore,
    changes: &[(Src, u32, String)],
) -> Vec<(String, String, String)> {
    let mut list = entries(config);
    let before = list.clone();
    let mut port = None;
    let mut out = Vec::new();
    for (src, row, value) in changes {
        let at = row.saturating_sub(1) as usize;
        let col = match src {
            Src::XmppServer(col) => col,
            Src::Host(Host::XmppAlgorithm) => {
                out.push(("cpe".into(), "xmpp_server_algorithm".into(), value.clone()));
                continue;
            }
            _ => continue,
        };
        match col {
            XmppCol::Address if value.is_empty() => {
                if at < list.len() {
                    list.remove(at);
                }
            }
            XmppCol::Address => match list.get_mut(at) {
                Some(e) => e.host = value.clone(),
                None => list.push(ServerEntry {
                    host: value.clone(),
                    port: None,
                }),
            },
            XmppCol::Port => {
                let Ok(p) = value.parse::<u16>() else {
                    continue;
                };
                let single = list.len() <= 1 && list.first().is_none_or(|e| e.port.is_none());
                match list.get_mut(at) {
                    Some(e) if !(at == 0 && single) => e.port = Some(p),
                    _ => port = Some(p),
                }
            }
            XmppCol::Alias | XmppCol::Priority => {}
        }
    }
    if list != before {
        out.push((
            "cpe".into(),
            "xmpp_server".into(),
            servers::format_servers(&list),
        ));
    }
    if let Some(p) = port {
        out.push(("cpe".into(), "xmpp_port".into(), p.to_string()));
    }
    out
}
