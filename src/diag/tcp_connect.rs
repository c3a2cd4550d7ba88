//! A TCP connect for the test connections that std's `connect_timeout` cannot do: socket
//! options set before the SYN (DSCP, SO_PRIORITY, SO_BINDTODEVICE), and the [`Cancel`]
//! polled while the handshake is pending.

use super::net::POLL;
use super::Cancel;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Options of a test connection.
#[derive(Clone, Debug, Default)]
pub(crate) struct Opts {
    /// DSCP (0..=63), in IP_TOS / IPV6_TCLASS.
    pub dscp: u8,
    /// SO_PRIORITY (the 802.1p priority through a VLAN's egress map).
    pub prio: u8,
    /// Linux interface to bind to (SO_BINDTODEVICE; needs CAP_NET_RAW, best effort).
    pub iface: Option<String>,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `sockaddr_storage` for `addr`, and its length.
fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// Connects to `addr` within `timeout`, options applied before the SYN; `Interrupted` when
/// cancelled meanwhile. The stream returned is blocking.
pub(crate) fn connect(
    addr: SocketAddr,
    opts: &Opts,
    timeout: Duration,
    cancel: &Cancel,
) -> io::Result<TcpStream> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe {
        OwnedFd::from_raw_fd(check(libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    let raw = fd.as_raw_fd();
    // Best effort: a socket option the system refuses does not stop the test.
    let _ = super::net::set_dscp(raw, addr.is_ipv6(), opts.dscp);
    let _ = super::net::set_priority(raw, opts.prio);
    if let Some(name) = &opts.iface {
        // SAFETY: the name buffer outlives the call; its length is passed.
        unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            );
        }
    }
    // SAFETY: fcntl on our own fd.
    let flags = check(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    check(unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    let (ss, len) = sockaddr(&addr);
    // SAFETY: ss holds a sockaddr of `len` bytes for this family.
    let rc = unsafe { libc::connect(raw, (&ss as *const libc::sockaddr_storage).cast(), len) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
        let end = Instant::now() + timeout;
        loop {
            if cancel.is_cancelled() {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            let mut p = libc::pollfd {
                fd: raw,
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = left.min(POLL).as_millis().max(1) as libc::c_int;
            // SAFETY: one pollfd, valid for the call.
            let n = unsafe { libc::poll(&mut p, 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if n > 0 {
                break;
            }
        }
        let mut err: libc::c_int = 0;
        let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err and l are valid out-pointers of the sizes given.
        check(unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut l,
            )
        })?;
        if err != 0 {
            return Err(io::Error::from_raw_os_error(err));
        }
    }
    check(unsafe { libc::fcntl(raw, libc::F_SETFL, flags) })?;
    Ok(TcpStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn tos(s: &TcpStream, v6: bool) -> libc::c_int {
        let (level, opt) = if v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS)
        } else {
            (libc::IPPROTO_IP, libc::IP_TOS)
        };
        let mut v: libc::c_int = 0;
        let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: valid out-pointers.
        unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                level,
                opt,
                (&mut v as *mut libc::c_int).cast(),
                &mut l,
            )
        };
        v
    }

    #[test]
    fn connects_with_dscp_set_and_reports_refusals() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        let opts = Opts {
            dscp: 46,
            prio: 5,
            iface: None,
        };
        let s = connect(a, &opts, Duration::from_secs(2), &Cancel::new()).unwrap();
        assert_eq!(tos(&s, false), 46 << 2);
        assert_eq!(s.peer_addr().unwrap(), a);
        assert!(s.read_timeout().unwrap().is_none(), "blocking again");
        if let Ok(l6) = TcpListener::bind("[::1]:0") {
            let s = connect(
                l6.local_addr().unwrap(),
                &opts,
                Duration::from_secs(2),
                &Cancel::new(),
            )
            .unwrap();
            assert_eq!(tos(&s, true), 46 << 2);
        }
        drop(l);
        let e = connect(a, &opts, Duration::from_secs(2), &Cancel::new()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }
}
