//! Live values read from the host (procfs, sysfs, getifaddrs). Every reader degrades to a
//! neutral value when a file is missing, so the backend works in containers and on routers.

use std::ffi::CStr;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The files outside /proc and /sys that values are read from (DeviceInfo defaults,
/// Time.LocalTimeZone): the change watcher watches them.
pub(crate) const WATCHED_FILES: [&str; 5] = [
    "/tmp/sysinfo/model",
    "/etc/machine-id",
    "/var/lib/dbus/machine-id",
    "/etc/openwrt_version",
    "/etc/TZ",
];

/// A file's content, trimmed; `None` if unreadable or empty.
pub(crate) fn read_trim(path: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Seconds since boot (/proc/uptime).
pub(crate) fn uptime() -> u64 {
    read_trim("/proc/uptime")
        .and_then(|s| s.split('.').next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// `(MemTotal, MemFree)` in KiB (/proc/meminfo).
pub(crate) fn meminfo() -> (u64, u64) {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("MemTotal:"), field("MemFree:"))
}

/// `(total, idle)` jiffies of all CPUs (/proc/stat first line).
pub(crate) fn cpu_sample() -> Option<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    // idle + iowait count as idle.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((v.iter().sum(), idle))
}

/// CPU usage in percent between two samples (the first one may be the boot).
pub(crate) fn cpu_percent(prev: Option<(u64, u64)>, now: (u64, u64)) -> u32 {
    let (pt, pi) = prev.unwrap_or((0, 0));
    let dt = now.0.saturating_sub(pt);
    let di = now.1.saturating_sub(pi);
    if dt == 0 {
        return 0;
    }
    (100 * dt.saturating_sub(di) / dt).min(100) as u32
}

/// Number of processes (numeric entries of /proc).
pub(crate) fn process_count() -> u32 {
    fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count() as u32
        })
        .unwrap_or(0)
}

/// `uname`: (sysname, release, machine).
pub(crate) fn uname() -> (String, String, String) {
    // SAFETY: utsname is plain old data; uname fills it with NUL-terminated strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return ("Linux".into(), String::new(), String::new());
    }
    let f = |a: &[libc::c_char]| {
        // SAFETY: the kernel NUL-terminates each field within its array.
        unsafe { CStr::from_ptr(a.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    (f(&u.sysname), f(&u.release), f(&u.machine))
}

/// The host default of a DeviceInfo value (used when the `cpe` section has no override).
pub(crate) fn device_info_default(which: super::sources::Info) -> String {
    use super::sources::Info::*;
    let dmi = |f: &str| read_trim(&format!("/sys/class/dmi/id/{f}"));
    match which {
        Manufacturer => dmi("sys_vendor").unwrap_or_else(|| "Generic".into()),
        Oui => "000000".into(),
        ModelName => read_trim("/tmp/sysinfo/model")
            .or_else(|| read_trim("/proc/device-tree/model").map(|s| s.trim_matches('\0').into()))
            .or_else(|| dmi("product_name"))
            .unwrap_or_else(|| "Linux host".into()),
        Description => {
            let (s, r, m) = uname();
            format!("{s} {r} {m}").trim().to_string()
        }
        ProductClass => {
            let (s, _, m) = uname();
            if m.is_empty() {
                s
            } else {
                format!("{s}_{m}")
            }
        }
        Serial => read_trim("/etc/machine-id")
            .or_else(|| read_trim("/var/lib/dbus/machine-id"))
            .map(|s| s.chars().take(64).collect())
            .unwrap_or_else(|| "000000000000".into()),
        HardwareVersion => dmi("product_version")
            .filter(|v| v != "None")
            .unwrap_or_else(|| uname().2),
        SoftwareVersion => read_trim("/etc/openwrt_version").unwrap_or_else(|| uname().1),
    }
}

/// Normalizes a ManufacturerOUI override: six hex digits, upper case; `None` if invalid.
pub(crate) fn normalize_oui(v: &str) -> Option<String> {
    let v = v.trim();
    (v.len() == 6 && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_ascii_uppercase())
}

/// One host network interface with its addresses.
#[derive(Clone, Debug, Default)]
pub(crate) struct Iface {
    /// Kernel ifindex: the instance number.
    pub index: u32,
    /// Name (`eth0`).
    pub name: String,
    /// IFF_UP.
    pub up: bool,
    /// IFF_RUNNING (carrier).
    pub running: bool,
    /// IFF_LOOPBACK.
    pub loopback: bool,
    /// MTU from sysfs (0 if unknown).
    pub mtu: u32,
    /// IPv4 addresses and netmasks.
    pub v4: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// IPv6 addresses and their /proc/net/if_inet6 flags.
    pub v6: Vec<(Ipv6Addr, u32)>,
}

/// The interfaces of the host, sorted by ifindex.
pub(crate) fn interfaces() -> Vec<Iface> {
    // By name, in the order first seen (sorted by ifindex at the end); a list rather than a
    // map: a router has a few dozen interfaces at most, and no BTreeMap<String, Iface> code.
    let mut by_name: Vec<Iface> = Vec::new();
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free exactly once below.
    if unsafe { libc::getifaddrs(&mut ifap) } != 0 {
        return Vec::new();
    }
    let mut p = ifap;
    while !p.is_null() {
        // SAFETY: p is a node of the list getifaddrs returned, still alive.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = ifa.ifa_flags as libc::c_int;
        let k = match by_name.iter().position(|i| i.name == name) {
            Some(k) => k,
            None => {
                by_name.push(Iface {
                    name,
                    ..Iface::default()
                });
                by_name.len() - 1
            }
        };
        let e = &mut by_name[k];
        e.up = flags & libc::IFF_UP != 0;
        e.running = flags & libc::IFF_RUNNING != 0;
        e.loopback = flags & libc::IFF_LOOPBACK != 0;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr whose family tells its real type.
        match unsafe { (*ifa.ifa_addr).sa_family } as libc::c_int {
            libc::AF_INET => {
                let v4 = |sa: *const libc::sockaddr| -> Ipv4Addr {
                    if sa.is_null() {
                        return Ipv4Addr::UNSPECIFIED;
                    }
                    // SAFETY: AF_INET addresses (and their netmasks) are sockaddr_in.
                    let sin = unsafe { &*(sa as *const libc::sockaddr_in) };
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))
                };
                e.v4.push((v4(ifa.ifa_addr), v4(ifa.ifa_netmask)));
            }
            libc::AF_INET6 => {
                // SAFETY: AF_INET6 addresses are sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                e.v6.push((Ipv6Addr::from(sin6.sin6_addr.s6_addr), 0));
            }
            _ => {}
        }
    }
    // SAFETY: ifap came from a successful getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifap) };
    let inet6 = fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    let mut out: Vec<Iface> = by_name
        .into_iter()
        .filter_map(|mut i| {
            let c = std::ffi::CString::new(i.name.clone()).ok()?;
            // SAFETY: c is a valid NUL-terminated name.
            i.index = unsafe { libc::if_nametoindex(c.as_ptr()) };
            i.mtu = read_trim(&format!("/sys/class/net/{}/mtu", i.name))
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            for (addr, flags) in i.v6.iter_mut() {
                *flags = inet6_flags(&inet6, addr).unwrap_or(0);
            }
            (i.index != 0).then_some(i)
        })
        .collect();
    out.sort_by_key(|i| i.index);
    out
}

/// The flags column of /proc/net/if_inet6 for `addr`.
fn inet6_flags(table: &str, addr: &Ipv6Addr) -> Option<u32> {
    let hex: String = addr.octets().iter().map(|b| format!("{b:02x}")).collect();
    table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&hex.as_str()))
            .then(|| f.get(4).and_then(|x| u32::from_str_radix(x, 16).ok()))
            .flatten()
    })
}

/// The address to advertise in ConnectionRequestURL when `cpe.cr_host` names none: the first
/// IPv4 address of an up, non-loopback interface; when there is none, an IPv6 address an
/// ACS can reach: global before unique-local (fc00::/7), and one that is not deprecated or
/// still tentative before one that is. Link-local addresses (useless without a zone),
/// loopback, multicast, IPv4-mapped and duplicate (DAD failed) ones are never chosen.
pub(crate) fn cr_url_host(ifaces: &[Iface]) -> Option<IpAddr> {
    let usable = || ifaces.iter().filter(|i| !i.loopback && i.up);
    let v4 = usable()
        .flat_map(|i| i.v4.iter())
        .map(|(a, _)| *a)
        .find(|a| !a.is_loopback() && !a.is_unspecified());
    if let Some(a) = v4 {
        return Some(IpAddr::V4(a));
    }
    usable()
        .flat_map(|i| i.v6.iter())
        .filter(|(a, flags)| {
            let s = a.segments();
            !a.is_loopback()
                && !a.is_unspecified()
                && !a.is_multicast()
                && (s[0] & 0xffc0) != 0xfe80
                && a.to_ipv4_mapped().is_none()
                && flags & 0x08 == 0
        })
        // min_by_key keeps the first of equals: the interface and address order.
        .min_by_key(|(a, flags)| {
            let ula = (a.segments()[0] & 0xfe00) == 0xfc00;
            (ula, flags & (0x20 | 0x40) != 0)
        })
        .map(|(a, _)| IpAddr::V6(*a))
}

/// `http://host:port/path`, an IPv6 `host` in brackets (RFC 3986), `path` with one leading
/// `/`.
pub(crate) fn cr_url(host: &str, port: u16, path: &str) -> String {
    let path = path.trim();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("http://{host}:{port}{slash}{path}")
}

/// IPv6Address.IPAddressStatus from if_inet6 flags.
pub(crate) fn v6_status(flags: u32) -> &'static str {
    if flags & 0x08 != 0 {
        "Duplicate"
    } else if flags & 0x40 != 0 {
        "Tentative"
    } else if flags & 0x20 != 0 {
        "Deprecated"
    } else {
        "Preferred"
    }
}

/// IPv6Address.Origin: permanent global addresses are static; the rest autoconfigured.
pub(crate) fn v6_origin(addr: &Ipv6Addr, flags: u32) -> &'static str {
    let link_local = addr.segments()[0] & 0xffc0 == 0xfe80;
    if addr.is_loopback() {
        "WellKnown"
    } else if flags & 0x80 != 0 && !link_local {
        "Static"
    } else {
        "AutoConfigured"
    }
}

#[cfg(test)]
mod cr_host_tests {
    use super::*;

    fn iface(up: bool, loopback: bool, v4: &[&str], v6: &[(&str, u32)]) -> Iface {
        Iface {
            up,
            loopback,
            v4: v4
                .iter()
                .map(|a| (a.parse().unwrap(), Ipv4Addr::new(255, 255, 255, 0)))
                .collect(),
            v6: v6.iter().map(|(a, f)| (a.parse().unwrap(), *f)).collect(),
            ..Iface::default()
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn ipv4_first_then_a_reachable_ipv6() {
        let lo = iface(true, true, &["127.0.0.1"], &[("::1", 0x80)]);
        let wan6 = iface(
            true,
            false,
            &[],
            &[
                ("fe80::1", 0x80),
                ("fd00::1", 0),
                ("2001:db8::dead", 0x20),
                ("2001:db8::1", 0),
            ],
        );
        let wan4 = iface(true, false, &["192.0.2.9"], &[("2001:db8::2", 0)]);
        assert_eq!(
            cr_url_host(&[lo.clone(), wan6.clone(), wan4.clone()]),
            ip("192.0.2.9")
        );
        assert_eq!(cr_url_host(&[lo.clone(), wan6.clone()]), ip("2001:db8::1"));
        // Down: its addresses do not count.
        let down4 = iface(false, false, &["192.0.2.10"], &[]);
        assert_eq!(cr_url_host(&[down4, wan6]), ip("2001:db8::1"));
        // Only a deprecated global, or only a ULA, or a tentative one: still chosen.
        let dep = iface(true, false, &[], &[("fd00::1", 0), ("2001:db8::3", 0x20)]);
        assert_eq!(cr_url_host(&[dep]), ip("2001:db8::3"));
        let ula = iface(true, false, &[], &[("fe80::1", 0), ("fd12::7", 0)]);
        assert_eq!(cr_url_host(&[ula]), ip("fd12::7"));
        let tent = iface(true, false, &[], &[("2001:db8::4", 0x40)]);
        assert_eq!(cr_url_host(&[tent]), ip("2001:db8::4"));
    }

    #[test]
    fn the_url_puts_an_ipv6_host_in_brackets() {
        let host = cr_url_host(&[iface(true, false, &[], &[("2001:db8::1", 0)])])
            .unwrap()
            .to_string();
        assert_eq!(
            cr_url(&host, 7547, "/path"),
            "http://[2001:db8::1]:7547/path"
        );
        assert_eq!(
            cr_url("[2001:db8::1]", 7547, "x"),
            "http://[2001:db8::1]:7547/x"
        );
        assert_eq!(cr_url("192.0.2.1", 80, ""), "http://192.0.2.1:80/");
        assert_eq!(
            cr_url("cpe.example", 7547, " /a "),
            "http://cpe.example:7547/a"
        );
    }

    #[test]
    fn nothing_reachable_is_none() {
        let lo = iface(true, true, &["127.0.0.1"], &[("::1", 0x80)]);
        let useless = iface(
            true,
            false,
            &["0.0.0.0"],
            &[
                ("fe80::1", 0x80),
                ("ff02::1", 0),
                ("::ffff:192.0.2.1", 0),
                ("2001:db8::5", 0x08),
                ("::", 0),
            ],
        );
        assert_eq!(cr_url_host(&[lo, useless]), None);
        assert_eq!(cr_url_host(&[]), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_are_one_per_name_sorted_by_index() {
        let list = interfaces();
        let mut names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), list.len(), "one entry per name");
        assert!(list.windows(2).all(|w| w[0].index < w[1].index));
        // getifaddrs lists lo once per address family: the entries merge into one.
        if let Some(lo) = list.iter().find(|i| i.name == "lo") {
            assert!(lo.loopback);
            assert!(lo.v4.iter().any(|(a, _)| a.is_loopback()));
        }
    }

    #[test]
    fn cpu_percent_uses_deltas() {
        assert_eq!(cpu_percent(Some((100, 50)), (200, 75)), 75);
        assert_eq!(cpu_percent(Some((100, 50)), (100, 50)), 0);
        assert_eq!(cpu_percent(None, (10, 10)), 0);
    }

    #[test]
    fn oui_must_be_six_hex_digits() {
        assert_eq!(normalize_oui("00a0bc").as_deref(), Some("00A0BC"));
        assert_eq!(normalize_oui("00A0B"), None);
        assert_eq!(normalize_oui("XYZXYZ"), None);
    }

    #[test]
    fn reads_if_inet6_flags() {
        let t = "00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(inet6_flags(t, &Ipv6Addr::LOCALHOST), Some(0x80));
        assert_eq!(v6_origin(&Ipv6Addr::LOCALHOST, 0x80), "WellKnown");
        assert_eq!(v6_status(0x40), "Tentative");
    }

    #[test]
    fn every_file_read_outside_proc_and_sys_is_watched() {
        for src in [include_str!("host.rs"), include_str!("view.rs")] {
            for (at, _) in src.match_indices("read_trim(\"/") {
                let rest = &src[at + "read_trim(\"".len()..];
                let path = &rest[..rest.find('"').unwrap_or(0)];
                if path.starts_with("/proc/") || path.starts_with("/sys/") {
                    continue;
                }
                assert!(
                    WATCHED_FILES.contains(&path),
                    "{path} is read but not watched"
                );
            }
        }
    }

    #[test]
    fn host_readers_do_not_fail() {
        assert!(!interfaces().iter().any(|i| i.index == 0));
        let (total, free) = meminfo();
        assert!(free <= total);
        assert!(!device_info_default(super::super::sources::Info::Serial).is_empty());
    }
}
