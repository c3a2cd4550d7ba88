//! Binding the connection-request listener.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

/// Where to listen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bind {
    /// All interfaces on this port: IPv6 dual-stack `[::]` (IPV6_V6ONLY off), or
    /// `0.0.0.0` when IPv6 is unavailable.
    Any(u16),
    /// One address (tests use `127.0.0.1:0`).
    Addr(SocketAddr),
    /// No listener: HTTP connection requests are disabled (`HTTPConnectionRequestEnable`
    /// false), and TR-181 says the port is closed.
    Off,
}

impl Bind {
    /// Where to listen for `cpe.http_cr_enable`, `cpe.cr_host` and `cpe.port`: nowhere when
    /// disabled; only the advertised address when `cr_host` is an IP address (`[v6]` too),
    /// so the port is not open on the other interfaces; else everywhere (a host name may
    /// resolve to anything, and the address found on the interfaces may change).
    pub fn choose(enabled: bool, cr_host: &str, port: u16) -> Bind {
        if !enabled {
            return Bind::Off;
        }
        let host = cr_host.trim();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match host.parse::<IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Bind::Addr(SocketAddr::new(ip, port)),
            _ => Bind::Any(port),
        }
    }
}

/// Pending connections the kernel queues for us: a flood must not fill the queue so that
/// the ACS's own connection waits for a SYN retransmit (1 s and more).
const BACKLOG: libc::c_int = 128;

/// A non-blocking listener on `bind`.
///
/// # Errors
/// The address is in use, not ours, or needs a privilege we lack.
pub fn listen(bind: Bind) -> io::Result<TcpListener> {
    let l = match bind {
        Bind::Any(port) => bind_any(port)?,
        Bind::Addr(a) => TcpListener::bind(a)?,
        Bind::Off => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "HTTP connection requests are disabled",
            ))
        }
    };
    // Non-blocking: a connection reset between poll and accept must not block the thread
    // in accept, and accept is called until it has nothing more.
    l.set_nonblocking(true)?;
    Ok(l)
}

/// `[::]:port` with IPV6_V6ONLY cleared (IPv4 too, whatever the sysctl says), or
/// `0.0.0.0:port` when the host has no IPv6.
fn bind_any(port: u16) -> io::Result<TcpListener> {
    match bind_dual_stack(port) {
        Ok(l) => Ok(l),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
            ) =>
        {
            Err(e)
        }
        Err(e) => {
            log::info!("no IPv6 listener ({e}): IPv4 only");
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
        }
    }
}

fn bind_dual_stack(port: u16) -> io::Result<TcpListener> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: plain socket syscalls on a descriptor we own (closed by OwnedFd on error);
    // the pointers passed point at live locals of the stated sizes.
    unsafe {
        let fd = check(libc::socket(
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let fd = OwnedFd::from_raw_fd(fd);
        let raw = fd.as_raw_fd();
        let int_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let (zero, one): (libc::c_int, libc::c_int) = (0, 1);
        check(libc::setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&zero as *const libc::c_int).cast(),
            int_len,
        ))?;
        check(libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            int_len,
        ))?;
        let mut addr: libc::sockaddr_in6 = std::mem::zeroed(); // zero = in6addr_any
        addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        addr.sin6_port = port.to_be();
        check(libc::bind(
            raw,
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        ))?;
        check(libc::listen(raw, BACKLOG))?;
        Ok(TcpListener::from(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_binds_the_advertised_address_or_everywhere_or_nowhere() {
        let a = |s: &str| Bind::Addr(s.parse().unwrap());
        assert_eq!(Bind::choose(true, "127.0.0.1", 7547), a("127.0.0.1:7547"));
        assert_eq!(Bind::choose(true, " 192.0.2.7 ", 80), a("192.0.2.7:80"));
        assert_eq!(
            Bind::choose(true, "2001:db8::1", 7547),
            a("[2001:db8::1]:7547")
        );
        assert_eq!(
            Bind::choose(true, "[2001:db8::1]", 7547),
            a("[2001:db8::1]:7547")
        );
        assert_eq!(Bind::choose(true, "", 7547), Bind::Any(7547));
        assert_eq!(Bind::choose(true, "cpe.example.net", 7547), Bind::Any(7547));
        assert_eq!(Bind::choose(true, "0.0.0.0", 7547), Bind::Any(7547));
        assert_eq!(Bind::choose(true, "::", 7547), Bind::Any(7547));
        assert_eq!(Bind::choose(false, "127.0.0.1", 7547), Bind::Off);
        assert_eq!(Bind::choose(false, "", 7547), Bind::Off);
    }

    #[test]
    fn off_is_no_listener() {
        assert_eq!(
            listen(Bind::Off).unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
    }
}
