//! Which XMPP servers the client tries, in which order: TR-181
//! `XMPP.Connection.{i}.ServerConnectAlgorithm` (`DNS-SRV`, `DNS`, `ServerTable`), RFC 6120
//! §3.2 and the SRV ordering of RFC 2782. The ordering is sans-IO ([`candidates`], with the
//! random source injected); [`lookup_srv`] is the one edge that asks DNS.
//!
//! The server table is the `cpe.xmpp_server` option: entries `host`, `host:port` or
//! `[v6]:port`, separated by spaces or commas (or a UCI `list`); the entry's position is its
//! Priority, an entry without a port uses `cpe.xmpp_port`.

use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diag::dns;

/// The algorithms this client implements, as `Device.XMPP.SupportedServerConnectAlgorithms`.
pub const SUPPORTED: &str = "DNS-SRV,DNS,ServerTable";
/// Entries of the server table kept (the rest are ignored).
pub const MAX_SERVERS: usize = 16;
/// The SRV service name prefix of RFC 6120 §3.2.1.
const SRV_PREFIX: &str = "_xmpp-client._tcp.";
/// Nameservers asked, in resolv.conf order (as the C library: MAXNS).
const MAX_NAMESERVERS: usize = 3;
/// Wait for each nameserver's answer.
const DNS_TIMEOUT: Duration = Duration::from_secs(3);
/// Environment variable naming another resolv.conf (tests); unset: `/etc/resolv.conf`.
pub const RESOLV_CONF_ENV: &str = "ICWMP_RESOLV_CONF";

/// `ServerConnectAlgorithm`: how the list of servers to try is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// RFC 6120 §3.2.1: `_xmpp-client._tcp.<Domain>` SRV records, else the Domain.
    DnsSrv,
    /// RFC 6120 §3.2.2: the Domain itself.
    Dns,
    /// The configured servers, by priority (position).
    ServerTable,
}

impl Algorithm {
    /// The TR-181 name of a supported algorithm (`None`: unknown or not supported).
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.trim() {
            "DNS-SRV" => Some(Algorithm::DnsSrv),
            "DNS" => Some(Algorithm::Dns),
            "ServerTable" => Some(Algorithm::ServerTable),
            _ => None,
        }
    }

    /// Its TR-181 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::DnsSrv => "DNS-SRV",
            Algorithm::Dns => "DNS",
            Algorithm::ServerTable => "ServerTable",
        }
    }

    /// The algorithm in use: `cpe.xmpp_server_algorithm` when set to a supported one, else
    /// (the behaviour before the option existed) ServerTable with servers configured and
    /// DNS-SRV without.
    pub fn effective(option: Option<&str>, has_servers: bool) -> Algorithm {
        match option.and_then(Algorithm::parse) {
            Some(a) => a,
            None if has_servers => Algorithm::ServerTable,
            None => Algorithm::DnsSrv,
        }
    }
}

/// One entry of the server table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerEntry {
    /// Name or address (an IPv6 one without brackets).
    pub host: String,
    /// Its own port; `None`: `cpe.xmpp_port`.
    pub port: Option<u16>,
}

impl ServerEntry {
    /// Parses `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; `None` for
    /// an empty host, a bad port or stray brackets.
    pub fn parse(item: &str) -> Option<ServerEntry> {
        let item = item.trim();
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p > 0);
        let (host, port) = if let Some(rest) = item.strip_prefix('[') {
            let (h, after) = rest.split_once(']')?;
            h.parse::<Ipv6Addr>().ok()?;
            match after {
                "" => (h, None),
                _ => (h, Some(port(after.strip_prefix(':')?)?)),
            }
        } else if item.parse::<Ipv6Addr>().is_ok() {
            (item, None)
        } else {
            match item.split_once(':') {
                Some((h, p)) => (h, Some(port(p)?)),
                None => (item, None),
            }
        };
        let bad = |c: char| c.is_whitespace() || matches!(c, '[' | ']' | ',' | ':' | '/');
        if host.is_empty() || (host.parse::<Ipv6Addr>().is_err() && host.contains(bad)) {
            return None;
        }
        Some(ServerEntry {
            host: host.to_string(),
            port,
        })
    }

    /// Back to the option's text (brackets around an IPv6 address with a port).
    pub fn to_option(&self) -> String {
        match self.port {
            None => self.host.clone(),
            Some(p) if self.host.contains(':') => format!("[{}]:{p}", self.host),
            Some(p) => format!("{}:{p}", self.host),
        }
    }
}

/// The entries of `cpe.xmpp_server` (separated by spaces or commas: a UCI list reads
/// comma-joined); the bad ones are skipped, at most [`MAX_SERVERS`] kept. Also returns
/// how many items were skipped, for a warning.
pub fn parse_servers(text: &str) -> (Vec<ServerEntry>, usize) {
    let mut bad = 0;
    let mut out = Vec::new();
    for item in text.split(|c: char| c == ',' || c.is_whitespace()) {
        if item.is_empty() {
            continue;
        }
        match ServerEntry::parse(item) {
            Some(e) if out.len() < MAX_SERVERS => out.push(e),
            _ => bad += 1,
        }
    }
    (out, bad)
}

/// The option's text for `entries` (space-separated).
pub fn format_servers(entries: &[ServerEntry]) -> String {
    entries
        .iter()
        .map(ServerEntry::to_option)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One SRV record (RFC 2782); an empty target is "." (not offered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srv {
    /// Lower first.
    pub priority: u16,
    /// Share among the same priority.
    pub weight: u16,
    /// Port on the target.
    pub port: u16,
    /// The host, without the trailing dot.
    pub target: String,
}

/// SRV records in the order RFC 2782 tries them: by priority, and within one priority by
/// weighted random selection (no draw for a record alone). `rand(n)` returns a number in `0..=n` (injected for tests).
/// Targets "." are dropped.
pub fn srv_order(records: &[Srv], rand: &mut dyn FnMut(u32) -> u32) -> Vec<(String, u16)> {
    let mut rest: Vec<&Srv> = records.iter().filter(|r| !r.target.is_empty()).collect();
    // Stable: records of equal priority keep their answer order, weight 0 first (RFC 2782).
    rest.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut out = Vec::with_capacity(rest.len());
    while let Some(first) = rest.first() {
        let prio = first.priority;
        let n = rest.iter().take_while(|r| r.priority == prio).count();
        let mut group: Vec<&Srv> = rest.drain(..n).collect();
        while !group.is_empty() {
            if group.len() == 1 {
                let r = group.remove(0);
                out.push((r.target.clone(), r.port));
                break;
            }
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let pick = rand(total).min(total);
            let mut sum = 0;
            let at = group
                .iter()
                .position(|r| {
                    sum += u32::from(r.weight);
                    sum >= pick
                })
                .unwrap_or(group.len() - 1);
            let r = group.remove(at);
            out.push((r.target.clone(), r.port));
        }
    }
    out
}

/// What the connection tries, in order: `(host, port)` pairs. `srv` is the SRV answer for
/// the Domain (`None`: no usable answer: NXDOMAIN, no records, no reply); it is only looked
/// at with DNS-SRV. An empty list means nothing may be tried (a lone "." SRV target: the
/// domain offers no XMPP service, RFC 6120 §3.2.1).
pub fn candidates(
    algorithm: Algorithm,
    domain: &str,
    servers: &[ServerEntry],
    port: u16,
    srv: Option<&[Srv]>,
    rand: &mut dyn FnMut(u32) -> u32,
) -> Vec<(String, u16)> {
    let plain = vec![(domain.to_string(), port)];
    match algorithm {
        Algorithm::Dns => plain,
        Algorithm::ServerTable if servers.is_empty() => plain,
        Algorithm::ServerTable => servers
            .iter()
            .map(|s| (s.host.clone(), s.port.unwrap_or(port)))
            .collect(),
        Algorithm::DnsSrv => match srv {
            Some(r) if !r.is_empty() => srv_order(r, rand),
            _ => plain,
        },
    }
}

/// The resolv.conf the SRV lookup reads.
pub fn resolv_conf() -> PathBuf {
    std::env::var_os(RESOLV_CONF_ENV)
        .map_or_else(|| PathBuf::from("/etc/resolv.conf"), PathBuf::from)
}

/// Asks the nameservers of `resolv_conf` (in order, the first that answers wins) for the
/// `_xmpp-client._tcp.<domain>` SRV records; `None` when there is no usable answer.
pub fn lookup_srv(
    domain: &str,
    resolv_conf: &Path,
    stop: &mut dyn FnMut() -> bool,
) -> Option<Vec<Srv>> {
    let conf = std::fs::read_to_string(resolv_conf).ok()?;
    let name = format!("{SRV_PREFIX}{domain}");
    let servers: Vec<SocketAddr> = crate::diag::nslookup::nameservers(&conf)
        .take(MAX_NAMESERVERS)
        .collect();
    for server in servers {
        // Each dead nameserver costs DNS_TIMEOUT: a daemon asked to stop does not wait out
        // the others.
        if stop() {
            return None;
        }
        let mut id = [0u8; 2];
        let _ = crate::crypto::random_bytes(&mut id);
        let id = u16::from_ne_bytes(id);
        let Some(reply) = crate::diag::nslookup::ask(server, &name, dns::TYPE_SRV, id, DNS_TIMEOUT)
        else {
            continue;
        };
        // SERVFAIL, REFUSED...: this server cannot tell, ask the next.
        if reply.rcode != 0 && reply.rcode != dns::RCODE_NXDOMAIN {
            continue;
        }
        let records: Vec<Srv> = reply
            .srv()
            .map(|(priority, weight, port, target)| Srv {
                priority,
                weight,
                port,
                target: target.to_string(),
            })
            .collect();
        // An answer (records, none, NXDOMAIN) ends the search: another would say the same.
        return (reply.rcode == 0 && !records.is_empty()).then_some(records);
    }
    None
}

#[cfg(test)]
#[path = "servers_tests.rs"]
mod tests;
