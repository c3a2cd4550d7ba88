//! NSLookupDiagnostics: `NumberOfRepetitions` lookups of `HostName` (an A and an AAAA
//! query each, sent together over UDP) to `DNSServer`, with our own codec ([`super::dns`]).
//!
//! `DNSServer` is an address or a name (resolved by the system resolver), optionally with a
//! port (`addr:port`, `[v6]:port`); empty means the first `nameserver` of
//! `/etc/resolv.conf`. A TR-181 path (`Device.DNS.Client.Server.1`) is not mapped here and
//! ends in `Error_DNSServerNotResolved`. Truncated replies are used as they are (no TCP
//! retry).
//!
//! Per repetition: `Success` when either query returned addresses (at most
//! [`MAX_ADDRESSES`] listed), `Error_HostNameNotResolved` for NXDOMAIN or no address,
//! `Error_DNSServerNotAvailable` when the server refused (ICMP unreachable, REFUSED,
//! SERVFAIL...), `Error_Timeout` when nothing came back within `Timeout`.
//! Limits: [`MAX_REPETITIONS`] and [`MAX_TIMEOUT_MS`] (9007 above); 0 means the default.

use super::dns::{self, Reply};
use super::net::{self, check_len, check_uint, POLL};
use super::{Cancel, Inputs, Outcome};
use crate::fault::Fault;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Most repetitions accepted.
pub const MAX_REPETITIONS: u64 = 100;
/// Longest timeout accepted, in ms.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Timeout when none is set, in ms.
const DEFAULT_TIMEOUT_MS: u64 = 5000;
/// Most addresses listed in `IPAddresses`.
pub const MAX_ADDRESSES: usize = 10;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(name: &str, value: &str) -> Result<(), Fault> {
    match name {
        "Interface" | "HostName" | "DNSServer" => check_len(name, value, 256),
        "Timeout" => check_uint(name, value, 0, MAX_TIMEOUT_MS),
        "NumberOfRepetitions" => check_uint(name, value, 0, MAX_REPETITIONS),
        _ => Ok(()),
    }
}

/// The first `nameserver` of a resolv.conf text, with port 53.
pub(crate) fn first_nameserver(conf: &str) -> Option<SocketAddr> {
    nameservers(conf).next()
}

/// The `nameserver`s of a resolv.conf text in order, with port 53. An address with a port
/// (`127.0.0.1:5353`, `[::1]:5353`; not something the C library reads) keeps it: tests
/// point the daemon at a DNS server on an unprivileged port that way.
pub(crate) fn nameservers(conf: &str) -> impl Iterator<Item = SocketAddr> + '_ {
    conf.lines().filter_map(|l| {
        let mut w = l.split_whitespace();
        if w.next()? != "nameserver" {
            return None;
        }
        let a = w.next()?;
        if let Ok(sa) = a.parse::<SocketAddr>() {
            return Some(sa);
        }
        // A scoped v6 address (fe80::1%eth0) loses its scope: std cannot parse it.
        let ip: IpAddr = a.split('%').next()?.parse().ok()?;
        Some(SocketAddr::new(ip, 53))
    })
}

/// One query for `name`/`qtype` to `server` over UDP, with query id `id`: its reply, or
/// `None` when the server is unreachable or nothing that is ours came back within `timeout`.
/// (For other users of the codec, e.g. the XMPP client's SRV lookup.)
pub(crate) fn ask(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    id: u16,
    timeout: Duration,
) -> Option<Reply> {
    let q = dns::query(id, name, qtype)?;
    let any: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any).ok()?;
    s.connect(server).ok()?;
    s.send(&q).ok()?;
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return None;
        }
        s.set_read_timeout(Some(left)).ok()?;
        match s.recv(&mut buf) {
            Ok(n) => {
                if let Ok(r) = dns::parse_reply(&buf[..n], id, name, qtype) {
                    return Some(r);
                }
            }
            // Timed out, or ICMP unreachable: no answer from this server.
            Err(e) if e.kind() != ErrorKind::Interrupted => return None,
            Err(_) => {}
        }
    }
}

/// One lookup's result row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// `Status`.
    pub status: &'static str,
    /// `AnswerType`.
    pub answer: &'static str,
    /// `HostNameReturned`.
    pub name: String,
    /// `IPAddresses`.
    pub ips: Vec<IpAddr>,
    /// `ResponseTime`, ms.
    pub ms: u32,
}

/// What came back for the A and the AAAA query of one lookup (`None`: nothing).
pub(crate) fn judge(replies: &[Option<Reply>], refused: bool, took: Duration) -> Lookup {
    let got: Vec<&Reply> = replies.iter().flatten().collect();
    let mut ips = Vec::new();
    let mut name = String::new();
    for r in &got {
        for (owner, ip) in r.addresses() {
            if name.is_empty() {
                name = owner.to_string();
            }
            if ips.len() < MAX_ADDRESSES && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    let ms = u32::try_from(took.as_millis()).unwrap_or(u32::MAX);
    let status = if !ips.is_empty() {
        "Success"
    } else if got
        .iter()
        .any(|r| r.rcode == dns::RCODE_NXDOMAIN || r.rcode == 0)
    {
        "Error_HostNameNotResolved"
    } else if refused || !got.is_empty() {
        "Error_DNSServerNotAvailable"
    } else {
        "Error_Timeout"
    };
    let answer = match status {
        "Success"
            if got
                .iter()
                .any(|r| r.authoritative && r.addresses().next().is_some()) =>
        {
            "Authoritative"
        }
        "Success" => "NonAuthoritative",
        _ => "None",
    };
    if status != "Success" {
        name.clear();
    }
    Lookup {
        status,
        answer,
        name,
        ips,
        ms,
    }
}

/// Sends the A and AAAA queries for `host` and collects their replies until both came or
/// `timeout`; `Err(())` when cancelled.
fn lookup(
    s: &UdpSocket,
    host: &str,
    seq: u16,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<Lookup, ()> {
    let types = [dns::TYPE_A, dns::TYPE_AAAA];
    let ids = [seq.wrapping_mul(2), seq.wrapping_mul(2).wrapping_add(1)];
    let start = Instant::now();
    let mut replies: [Option<Reply>; 2] = [None, None];
    let mut refused = false;
    for (id, t) in ids.iter().zip(types) {
        let Some(q) = dns::query(*id, host, t) else {
            // Not a name DNS can carry (empty or over-long label).
            return Ok(Lookup {
                status: "Error_Other",
                answer: "None",
                name: String::new(),
                ips: Vec::new(),
                ms: 0,
            });
        };
        if s.send(&q).is_err() {
            refused = true;
        }
    }
    let mut buf = [0u8; 4096];
    let mut last = start;
    while replies.iter().any(Option::is_none) && !refused {
        if cancel.is_cancelled() {
            return Err(());
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        let _ = s.set_read_timeout(Some(left.min(POLL)));
        match s.recv(&mut buf) {
            Ok(n) => {
                for i in 0..2 {
                    if replies[i].is_none() {
                        if let Ok(r) = dns::parse_reply(&buf[..n], ids[i], host, types[i]) {
                            replies[i] = Some(r);
                            last = Instant::now();
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused = true,
            Err(_) => {}
        }
    }
    let took = if replies.iter().any(Option::is_some) {
        last - start
    } else {
        start.elapsed()
    };
    Ok(judge(&replies, refused, took))
}

/// Runs the test (see [`super::run`]).
pub fn run(inputs: &Inputs, cancel: &Cancel) -> Outcome {
    let host = net::text(inputs, "HostName");
    let server_in = net::text(inputs, "DNSServer");
    let server = if server_in.is_empty() {
        std::fs::read_to_string("/etc/resolv.conf")
            .ok()
            .and_then(|c| first_nameserver(&c))
    } else {
        net::split_host_port(server_in, 53).and_then(|(h, p)| net::resolve(h, p, net::Family::Any))
    };
    let Some(server) = server else {
        return Outcome::error("Error_DNSServerNotResolved");
    };
    if host.is_empty() {
        return Outcome::error("Error_Other");
    }
    let reps = net::uint(inputs, "NumberOfRepetitions", 1).clamp(1, MAX_REPETITIONS);
    let ms = match net::uint(inputs, "Timeout", DEFAULT_TIMEOUT_MS) {
        0 => DEFAULT_TIMEOUT_MS,
        t => t.min(MAX_TIMEOUT_MS),
    };
    let any: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let Ok(s) = UdpSocket::bind(any).and_then(|s| s.connect(server).map(|_| s)) else {
        return Outcome::error("Error_Other");
    };
    // Query ids from the clock: not predictable for an off-path spoofer at a glance, and
    // the question is checked too.
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u16);
    let mut rows = Vec::new();
    for i in 0..reps {
        match lookup(
            &s,
            host,
            base.wrapping_add(i as u16),
            Duration::from_millis(ms),
            cancel,
        ) {
            Ok(l) => rows.push(l),
            Err(()) => return Outcome::error("Canceled"),
        }
    }
    Outcome {
        state: "Complete".into(),
        values: values(&rows, server.ip()),
    }
}

/// The result parameters from the rows.
pub(crate) fn values(rows: &[Lookup], server: IpAddr) -> Vec<(String, String)> {
    let ok = rows.iter().filter(|r| r.status == "Success").count();
    let mut v = vec![
        ("SuccessCount".to_string(), ok.to_string()),
        ("ResultNumberOfEntries".to_string(), rows.len().to_string()),
    ];
    for (i, r) in rows.iter().enumerate() {
        let p = format!("Result.{}.", i + 1);
        let ips: Vec<String> = r.ips.iter().map(IpAddr::to_string).collect();
        v.push((format!("{p}Status"), r.status.to_string()));
        v.push((format!("{p}AnswerType"), r.answer.to_string()));
        v.push((format!("{p}HostNameReturned"), r.name.clone()));
        v.push((format!("{p}IPAddresses"), ips.join(",")));
        v.push((format!("{p}DNSServerIP"), server.to_string()));
        v.push((format!("{p}ResponseTime"), r.ms.to_string()));
    }
    v
}

#[cfg(test)]
#[path = "nslookup_tests.rs"]
mod tests;
