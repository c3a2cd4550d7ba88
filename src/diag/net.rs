//! What the network diagnostics share: input checks (fault 9007), reading inputs with
//! defaults, name resolution per `ProtocolVersion`, microsecond `dateTime`s, DSCP and
//! Ethernet priority on sockets, Linux interface counters, cancellable sleeps.

use super::{Cancel, Inputs};
use crate::fault::{Fault, FaultCode};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often engines look at their [`Cancel`] (the contract asks for at least every 100 ms).
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// Fault 9007 naming the input.
pub(crate) fn bad(name: &str, value: &str, why: &str) -> Fault {
    Fault::with_message(
        FaultCode::INVALID_PARAMETER_VALUE,
        format!("{name}={value:?}: {why}"),
    )
}

/// An unsigned integer within `min..=max`.
pub(crate) fn check_uint(name: &str, value: &str, min: u64, max: u64) -> Result<(), Fault> {
    match value.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(()),
        Ok(_) => Err(bad(name, value, &format!("allowed {min}..={max}"))),
        Err(_) => Err(bad(name, value, "not an unsigned integer")),
    }
}

/// One of `allowed`.
pub(crate) fn check_enum(name: &str, value: &str, allowed: &[&str]) -> Result<(), Fault> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(bad(name, value, &format!("one of {allowed:?}")))
    }
}

/// A TR-106 boolean.
pub(crate) fn check_bool(name: &str, value: &str) -> Result<(), Fault> {
    check_enum(name, value, &["0", "1", "true", "false"])
}

/// A string of at most `max` bytes.
pub(crate) fn check_len(name: &str, value: &str, max: usize) -> Result<(), Fault> {
    if value.len() <= max {
        Ok(())
    } else {
        Err(bad(name, value, &format!("longer than {max}")))
    }
}

/// The checks every TR-143 style object shares (`Interface`, `DSCP`, `ProtocolVersion`...);
/// `None` for a name this does not know.
pub(crate) fn check_common(name: &str, value: &str) -> Option<Result<(), Fault>> {
    Some(match name {
        "Interface" => check_len(name, value, 256),
        "DSCP" => check_uint(name, value, 0, 63),
        "EthernetPriority" => check_uint(name, value, 0, 7),
        "ProtocolVersion" => check_enum(name, value, &["Any", "IPv4", "IPv6"]),
        "DiagnosticsState" => Ok(()),
        _ => return None,
    })
}

/// Input `name` as an unsigned integer, `default` when unset or unreadable (the model
/// checked it at SPV time).
pub(crate) fn uint(inputs: &Inputs, name: &str, default: u64) -> u64 {
    inputs
        .get(name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Input `name` as a boolean, false when unset.
pub(crate) fn flag(inputs: &Inputs, name: &str) -> bool {
    matches!(inputs.get(name).map(|s| s.trim()), Some("1" | "true"))
}

/// Input `name`, trimmed, empty when unset.
pub(crate) fn text<'a>(inputs: &'a Inputs, name: &str) -> &'a str {
    inputs.get(name).map(|s| s.trim()).unwrap_or("")
}

/// The address families `ProtocolVersion` allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    /// From the `ProtocolVersion` input (`Any` when unset).
    pub(crate) fn of(inputs: &Inputs) -> Family {
        match text(inputs, "ProtocolVersion") {
            "IPv4" => Family::V4,
            "IPv6" => Family::V6,
            _ => Family::Any,
        }
    }

    /// Whether `ip` is of this family.
    pub(crate) fn allows(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// The first address of `host` (a name or a literal, `[v6]` brackets allowed) in `family`.
/// Resolution goes through the system resolver (getaddrinfo), bounded by its own timeouts.
pub(crate) fn resolve(host: &str, port: u16, family: Family) -> Option<SocketAddr> {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return family.allows(&ip).then_some(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()?
        .find(|a| family.allows(&a.ip()))
}

/// Splits `host:port`, `[v6]:port`, a bare v6 literal or a bare name; `default` port when
/// none is given. `None` for an unreadable port.
pub(crate) fn split_host_port(s: &str, default: u16) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest.split_once(']')?;
        return match tail.strip_prefix(':') {
            Some(p) => Some((h, p.parse().ok()?)),
            None if tail.is_empty() => Some((h, default)),
            None => None,
        };
    }
    if s.parse::<IpAddr>().is_ok() {
        return Some((s, default));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h, p.parse().ok()?)),
        None => Some((s, default)),
    }
}

/// Maps [`Instant`]s (monotonic, for ordering and durations) to wall-clock times, with one
/// wall-clock reading per test so timestamps of one test never go backwards.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    wall: SystemTime,
    mono: Instant,
}

impl Clock {
    /// Reads the clocks now.
    pub(crate) fn start() -> Clock {
        Clock {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }

    /// The wall-clock time of `t` as a TR-181 dateTime with microseconds.
    pub(crate) fn datetime(&self, t: Instant) -> String {
        datetime_us(self.wall + t.saturating_duration_since(self.mono))
    }
}

/// `t` as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (TR-143 asks for microsecond precision).
pub(crate) fn datetime_us(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut s = crate::time::format_datetime(d.as_secs() as i64);
    s.pop();
    s.push_str(&format!(".{:06}Z", d.subsec_micros()));
    s
}

/// Microseconds of `d`, saturating in a u32 (TR-181 `unsignedInt`).
pub(crate) fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Sets the DSCP (IP_TOS / IPV6_TCLASS) of a socket.
pub(crate) fn set_dscp(fd: RawFd, v6: bool, dscp: u8) -> std::io::Result<()> {
    let tos: libc::c_int = (dscp as libc::c_int & 0x3f) << 2;
    let (level, opt) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
    } else {
        (libc::IPPROTO_IP, libc::IP_TOS)
    };
    setsockopt_int(fd, level, opt, tos)
}

/// Sets SO_PRIORITY, which the kernel maps to the 802.1p priority on a VLAN interface
/// (through its egress-qos-map); elsewhere it only orders the socket's packets in qdiscs.
pub(crate) fn set_priority(fd: RawFd, prio: u8) -> std::io::Result<()> {
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PRIORITY, prio as libc::c_int)
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: fd is a live socket owned by the caller; the value is a c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The Linux interface the `Interface` input names, when it names one directly (`eth0`,
/// `br-lan`): only then can its byte counters be read. A TR-181 path
/// (`Device.IP.Interface.1`) is not mapped here.
pub(crate) fn linux_interface(inputs: &Inputs) -> Option<String> {
    let name = text(inputs, "Interface");
    let plain = !name.is_empty()
        && name.len() < 16
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_@".contains(&b));
    (plain && std::path::Path::new("/sys/class/net").join(name).exists()).then(|| name.to_string())
}

/// (received, sent) bytes of Linux interface `name`.
pub(crate) fn if_counters(name: &str) -> Option<(u64, u64)> {
    let read = |f: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/{f}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some((read("rx_bytes")?, read("tx_bytes")?))
}

/// Sleeps `d` in [`POLL`] steps; false when cancelled meanwhile.
pub(crate) fn sleep(d: Duration, cancel: &Cancel) -> bool {
    let end = Instant::now() + d;
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(POLL));
    }
}

/// The local address a datagram to `peer` would leave from (IPAddressUsed), without sending.
pub(crate) fn source_for(peer: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any).ok()?;
    s.connect(peer).ok()?;
    Some(s.local_addr().ok()?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_give_9007_outside_the_range() {
        assert!(check_uint("DSCP", "63", 0, 63).is_ok());
        let f = check_uint("DSCP", "64", 0, 63).unwrap_err();
        assert_eq!(f.code, FaultCode::INVALID_PARAMETER_VALUE);
        assert!(check_uint("DSCP", "-1", 0, 63).is_err());
        assert!(check_uint("DSCP", "x", 0, 63).is_err());
        assert!(check_enum("ProtocolVersion", "IPv5", &["IPv4"]).is_err());
        assert!(check_bool("E", "yes").is_err());
        assert!(check_common("ProtocolVersion", "IPv6").unwrap().is_ok());
        assert!(check_common("Host", "x").is_none());
    }

    #[test]
    fn datetimes_have_microseconds() {
        let t = UNIX_EPOCH + Duration::new(1_207_753_265, 123_456_000);
        assert_eq!(datetime_us(t), "2008-04-09T15:01:05.123456Z");
        assert_eq!(datetime_us(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("a.b:53", 7), Some(("a.b", 53)));
        assert_eq!(split_host_port("a.b", 7), Some(("a.b", 7)));
        assert_eq!(split_host_port("::1", 7), Some(("::1", 7)));
        assert_eq!(split_host_port("[::1]:99", 7), Some(("::1", 99)));
        assert_eq!(split_host_port("[::1]", 7), Some(("::1", 7)));
        assert_eq!(split_host_port("a:x", 7), None);
    }

    #[test]
    fn resolution_follows_the_protocol_version() {
        assert_eq!(
            resolve("127.0.0.1", 9, Family::Any),
            Some("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(resolve("127.0.0.1", 9, Family::V6), None);
        assert_eq!(
            resolve("[::1]", 9, Family::V6),
            Some("[::1]:9".parse().unwrap())
        );
        assert_eq!(resolve("", 9, Family::Any), None);
        assert_eq!(resolve("no-such-host.invalid", 9, Family::Any), None);
    }
}
