//! Inputs shared by IPPing and TraceRoute: `Host` resolved within a bounded time, the
//! `ProtocolVersion` filter, the `Interface` to bind to, the source address the kernel picks,
//! and the unsignedInt inputs with their TR-181 ranges.

use super::{sock, Cancel, Inputs};
use crate::fault::{Fault, FaultCode};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The longest a name lookup may take before the test ends in `Error_CannotResolveHostName`
/// (the resolver thread is left to finish on its own; getaddrinfo has timeouts of its own).
pub const RESOLVE_LIMIT: Duration = Duration::from_secs(5);

/// The longest any one IPPing or TraceRoute test runs, whatever its inputs ask: 10 minutes.
pub const TEST_BUDGET: Duration = Duration::from_secs(600);

/// `ProtocolVersion`: which address family `Host` may resolve to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The first address the resolver gives.
    Any,
    /// IPv4 addresses only.
    V4,
    /// IPv6 addresses only.
    V6,
}

impl Family {
    /// The `ProtocolVersion` value; `None` for a value TR-181 does not list.
    pub fn parse(value: &str) -> Option<Family> {
        match value {
            "" | "Any" => Some(Family::Any),
            "IPv4" => Some(Family::V4),
            "IPv6" => Some(Family::V6),
            _ => None,
        }
    }

    fn admits(self, ip: IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// Why `Host` gave no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolveError {
    /// Empty, unknown, too slow to resolve, or no address of the requested family.
    NotFound,
    /// The test was cancelled while resolving.
    Cancelled,
}

/// Where a test goes, read alike by IPPing and TraceRoute from `Host` (with an IPv6 zone),
/// `ProtocolVersion`, `Interface` and `DSCP`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Which address family `host` may resolve to.
    pub family: Family,
    /// `Host` without its zone.
    pub host: String,
    /// The device to bind to: `Interface`, else the zone of a link-local `Host`.
    pub device: Option<String>,
    /// `DSCP` (0-63).
    pub dscp: u8,
}

impl Target {
    /// The target the inputs name; `None` for a `ProtocolVersion` TR-181 does not list.
    pub fn from_inputs(inputs: &Inputs) -> Option<Target> {
        let get = |k: &str| inputs.get(k).map(String::as_str).unwrap_or("");
        let (host, zone) = split_zone(get("Host"));
        Some(Target {
            family: Family::parse(get("ProtocolVersion"))?,
            host,
            device: interface(get("Interface")).map(str::to_string).or(zone),
            dscp: dscp(inputs),
        })
    }

    /// The target's address and the source address towards it (through `device` when
    /// given), or the [`super::Outcome`] the `test` ends with when either cannot be had.
    pub fn locate(&self, test: &str, cancel: &Cancel) -> Result<(IpAddr, IpAddr), super::Outcome> {
        use super::Outcome;
        let addr = match resolve(&self.host, self.family, RESOLVE_LIMIT, cancel) {
            Ok(a) => a,
            Err(ResolveError::NotFound) => {
                return Err(Outcome::error("Error_CannotResolveHostName"))
            }
            Err(ResolveError::Cancelled) => return Err(Outcome::error("Canceled")),
        };
        match source_for(addr, self.device.as_deref()) {
            Ok(used) => Ok((addr, used)),
            Err(e) if sock::is_no_route(&e) => Err(Outcome::error("Error_NoRouteToHost")),
            Err(e) => {
                log::warn!("{test}: no source address towards {addr}: {e}");
                Err(Outcome::error("Error_Other"))
            }
        }
    }
}

/// The address to test: `host` as a literal (brackets allowed around IPv6) or looked up by
/// name on a helper thread, waiting at most `limit` and polling `cancel`.
pub fn resolve(
    host: &str,
    family: Family,
    limit: Duration,
    cancel: &Cancel,
) -> Result<IpAddr, ResolveError> {
    let host = host.trim();
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        let ip = sock::canonical(ip);
        return if family.admits(ip) {
            Ok(ip)
        } else {
            Err(ResolveError::NotFound)
        };
    }
    if host.is_empty() || host.len() > 256 {
        return Err(ResolveError::NotFound);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    let spawned = std::thread::Builder::new()
        .name("diag-resolve".into())
        .spawn(move || {
            let addrs: Vec<IpAddr> = (name.as_str(), 0)
                .to_socket_addrs()
                .map(|it| it.map(|a| sock::canonical(a.ip())).collect())
                .unwrap_or_default();
            // The receiver may have given up already; nothing to do then.
            let _ = tx.send(addrs);
        });
    if spawned.is_err() {
        return Err(ResolveError::NotFound);
    }
    let deadline = Instant::now() + limit;
    loop {
        if cancel.is_cancelled() {
            return Err(ResolveError::Cancelled);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ResolveError::NotFound);
        }
        match rx.recv_timeout((deadline - now).min(sock::CANCEL_POLL)) {
            Ok(addrs) => {
                return addrs
                    .into_iter()
                    .find(|ip| family.admits(*ip))
                    .ok_or(ResolveError::NotFound)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ResolveError::NotFound),
        }
    }
}

/// An IPv6 literal with a zone (`fe80::1%eth0`, brackets allowed) as the address and the
/// zone, which the test binds to (a link-local address means nothing without its link);
/// anything else as is, without a zone.
pub fn split_zone(host: &str) -> (String, Option<String>) {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    if let Some((addr, zone)) = h.split_once('%') {
        if addr.parse::<std::net::Ipv6Addr>().is_ok() && !zone.is_empty() {
            return (addr.to_string(), Some(zone.to_string()));
        }
    }
    (host.to_string(), None)
}

/// The Linux interface an `Interface` input names: `None` for an empty value or a data-model
/// path (`Device.IP.Interface.2`: the caller maps paths it knows to Linux names before the
/// run; an unmapped path leaves the routing table to choose, as for an empty value).
pub fn interface(value: &str) -> Option<&str> {
    let v = value.trim();
    if v.is_empty() || v.starts_with("Device.") {
        None
    } else {
        Some(v)
    }
}

/// The source address the kernel uses towards `dst` (through `device` when given): a UDP
/// socket connected without sending anything. An error of kind [`sock::is_no_route`] means
/// there is no route.
pub fn source_for(dst: IpAddr, device: Option<&str>) -> io::Result<IpAddr> {
    let any: SocketAddr = if dst.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any)?;
    if let Some(d) = device {
        sock::bind_device(s.as_raw_fd(), d)?;
    }
    s.connect((dst, 9))?;
    Ok(sock::canonical(s.local_addr()?.ip()))
}

/// 9007 with the parameter's name.
pub fn invalid(name: &str, why: &str) -> Fault {
    Fault::with_message(
        FaultCode::INVALID_PARAMETER_VALUE,
        format!("Invalid parameter value: {name} {why}"),
    )
}

/// Checks an unsignedInt input against `min..=max` (9007 outside, or not a number).
pub fn check_uint(name: &str, value: &str, min: u32, max: u32) -> Result<(), Fault> {
    match value.trim().parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(invalid(name, &format!("must be {min}-{max}"))),
    }
}

/// Checks the inputs IPPing and TraceRoute share (`ProtocolVersion`, `Host`, `DSCP`,
/// `DataBlockSize`, `Interface` length); `None` for a name they do not share.
pub fn check_common(name: &str, value: &str) -> Option<Result<(), Fault>> {
    Some(match name {
        // An empty value (a model that never set it) runs as Any, but the ACS may not set it.
        "ProtocolVersion" => match value {
            "Any" | "IPv4" | "IPv6" => Ok(()),
            _ => Err(invalid(name, "must be Any, IPv4 or IPv6")),
        },
        "Host" | "Interface" if value.len() > 256 => Err(invalid(name, "is longer than 256")),
        "Host" | "Interface" => Ok(()),
        "DSCP" => check_uint(name, value, 0, 63),
        "DataBlockSize" => check_uint(name, value, 1, 65535),
        _ => return None,
    })
}

/// An unsignedInt input clamped to `min..=max`, `default` when absent, empty or 0 (a model
/// that never saw the input may hold 0 for it).
pub fn uint(inputs: &Inputs, name: &str, default: u32, min: u32, max: u32) -> u32 {
    match inputs.get(name).map(|v| v.trim().parse::<u32>()) {
        Some(Ok(0)) | None | Some(Err(_)) => default,
        Some(Ok(n)) => n.clamp(min, max),
    }
}

/// `DSCP` (0 when absent, clamped to 63).
pub fn dscp(inputs: &Inputs) -> u8 {
    inputs
        .get("DSCP")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map_or(0, |d| d.min(63) as u8)
}

/// The largest payload one IP datagram of `ip`'s family carries after an 8-byte ICMP or UDP
/// header (65535 minus the headers), so `DataBlockSize` is clamped to what can be sent.
pub fn max_payload(ip: IpAddr) -> usize {
    if ip.is_ipv6() {
        65535 - 8
    } else {
        65535 - 20 - 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_resolve_without_lookup_and_respect_family() {
        let c = Cancel::new();
        let r = |h, f| resolve(h, f, Duration::from_millis(1), &c);
        assert_eq!(
            r("127.0.0.1", Family::Any),
            Ok("127.0.0.1".parse().unwrap())
        );
        assert_eq!(r("[::1]", Family::V6), Ok("::1".parse().unwrap()));
        assert_eq!(
            r("::ffff:10.1.2.3", Family::V4),
            Ok("10.1.2.3".parse().unwrap())
        );
        assert_eq!(r("::1", Family::V4), Err(ResolveError::NotFound));
        assert_eq!(r("127.0.0.1", Family::V6), Err(ResolveError::NotFound));
        assert_eq!(r("", Family::Any), Err(ResolveError::NotFound));
        assert_eq!(
            r(&"a".repeat(300), Family::Any),
            Err(ResolveError::NotFound)
        );
    }

    #[test]
    fn cancelled_lookup_returns_promptly() {
        let c = Cancel::new();
        c.cancel();
        let t0 = Instant::now();
        let r = resolve(
            "name.that.is.not.looked.up.invalid",
            Family::Any,
            Duration::from_secs(60),
            &c,
        );
        assert_eq!(r, Err(ResolveError::Cancelled));
        assert!(t0.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn zones_split_off_ipv6_literals_only() {
        let z = |h: &str| split_zone(h);
        assert_eq!(z("fe80::1%eth0"), ("fe80::1".into(), Some("eth0".into())));
        assert_eq!(
            z("[fe80::1%br-lan]"),
            ("fe80::1".into(), Some("br-lan".into()))
        );
        assert_eq!(z("fe80::1%"), ("fe80::1%".into(), None));
        assert_eq!(z("host%name"), ("host%name".into(), None));
        assert_eq!(z("10.0.0.1%eth0"), ("10.0.0.1%eth0".into(), None));
        assert_eq!(z("::1"), ("::1".into(), None));
    }

    #[test]
    fn interface_paths_and_empty_are_not_bound() {
        assert_eq!(interface(""), None);
        assert_eq!(interface("Device.IP.Interface.1"), None);
        assert_eq!(interface(" eth0 "), Some("eth0"));
    }

    #[test]
    fn common_checks() {
        assert!(check_common("ProtocolVersion", "IPv6").unwrap().is_ok());
        assert!(check_common("ProtocolVersion", "").unwrap().is_err());
        let f = check_common("ProtocolVersion", "IPv5")
            .unwrap()
            .unwrap_err();
        assert_eq!(f.code, FaultCode::INVALID_PARAMETER_VALUE);
        assert!(check_common("DSCP", "63").unwrap().is_ok());
        assert!(check_common("DSCP", "64").unwrap().is_err());
        assert!(check_common("DSCP", "-1").unwrap().is_err());
        assert!(check_common("DataBlockSize", "0").unwrap().is_err());
        assert!(check_common("DataBlockSize", "65535").unwrap().is_ok());
        assert!(check_common("DataBlockSize", "65536").unwrap().is_err());
        assert!(check_common("Host", &"h".repeat(257)).unwrap().is_err());
        assert!(check_common("Host", "example.com").unwrap().is_ok());
        assert!(check_common("NumberOfRepetitions", "1").is_none());
    }

    #[test]
    fn uint_defaults_and_clamps() {
        let mut i = Inputs::new();
        assert_eq!(uint(&i, "Timeout", 1000, 1, 60000), 1000);
        i.insert("Timeout".into(), "0".into());
        assert_eq!(uint(&i, "Timeout", 1000, 1, 60000), 1000);
        i.insert("Timeout".into(), "99999999".into());
        assert_eq!(uint(&i, "Timeout", 1000, 1, 60000), 60000);
        i.insert("Timeout".into(), "junk".into());
        assert_eq!(uint(&i, "Timeout", 1000, 1, 60000), 1000);
        i.insert("DSCP".into(), "70".into());
        assert_eq!(dscp(&i), 63);
    }
}
