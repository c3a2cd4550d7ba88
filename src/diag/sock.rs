//! Socket plumbing shared by the IPPing and TraceRoute engines: the libc calls std has no
//! wrapper for (DSCP, TTL, device binding, `poll` with a cancel flag, socket addresses).
//!
//! Every function takes a borrowed descriptor and returns `io::Result`; nothing here panics.

use super::Cancel;
use std::ffi::CString;
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// How often a blocked wait looks at its [`Cancel`] flag (the contract says at least every
/// 100 ms).
pub const CANCEL_POLL: Duration = Duration::from_millis(50);

/// The end of a bounded wait on a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// `poll` reported these events (`POLLIN`, `POLLERR`...).
    Events(i16),
    /// The deadline passed first.
    TimedOut,
    /// The test was cancelled first.
    Cancelled,
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `setsockopt` of an `int` option.
pub fn set_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a live c_int of the length passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Marks outgoing packets with `dscp` (0-63): `IP_TOS` or `IPV6_TCLASS`, ECN bits left 0.
pub fn set_dscp(fd: RawFd, v6: bool, dscp: u8) -> io::Result<()> {
    let tos = libc::c_int::from(dscp & 0x3f) << 2;
    if v6 {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, tos)
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_TOS, tos)
    }
}

/// Sets the TTL (hop limit) of outgoing unicast packets.
pub fn set_ttl(fd: RawFd, v6: bool, ttl: u8) -> io::Result<()> {
    if v6 {
        set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, ttl.into())
    } else {
        set_int(fd, libc::IPPROTO_IP, libc::IP_TTL, ttl.into())
    }
}

/// Sends and receives only through the Linux interface `name` (`SO_BINDTODEVICE`; needs
/// `CAP_NET_RAW` before Linux 5.7, none after for an unbound socket).
pub fn bind_device(fd: RawFd, name: &str) -> io::Result<()> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let bytes = c.as_bytes_with_nul();
    // SAFETY: the option value is the NUL-terminated name, of the length passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Sets `O_NONBLOCK` so a receive never blocks past a `poll`.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor the caller owns; no pointers.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// Waits for `events` on `fd` until `deadline`, looking at `cancel` every [`CANCEL_POLL`].
pub fn wait(
    fd: RawFd,
    events: i16,
    deadline: Instant,
    cancel: Option<&Cancel>,
) -> io::Result<Ready> {
    loop {
        if cancel.is_some_and(Cancel::is_cancelled) {
            return Ok(Ready::Cancelled);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Ready::TimedOut);
        }
        let slice = (deadline - now).min(CANCEL_POLL);
        // Round up so a wait of 300 µs does not spin with a 0 ms timeout.
        let ms = slice.as_micros().div_ceil(1000) as libc::c_int;
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n > 0 && pfd.revents != 0 {
            return Ok(Ready::Events(pfd.revents));
        }
    }
}

/// `addr` as a `sockaddr_storage` and its length, for `connect`/`sendto`.
pub fn to_raw(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid (AF_UNSPEC) value.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe {
                (&mut ss as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe {
                (&mut ss as *mut libc::sockaddr_storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The address in a `sockaddr` the kernel filled in, `None` for another family.
///
/// # Safety
/// `sa` points to at least `len` readable bytes.
pub unsafe fn from_raw(sa: *const libc::sockaddr, len: usize) -> Option<SocketAddr> {
    if sa.is_null() || len < mem::size_of::<libc::sa_family_t>() {
        return None;
    }
    // SAFETY (all reads): the caller vouches for `len` bytes; each read checks the length of
    // its struct first and copies unaligned.
    match libc::c_int::from(unsafe { (*sa).sa_family }) {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            let sin = unsafe { sa.cast::<libc::sockaddr_in>().read_unaligned() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            let sin6 = unsafe { sa.cast::<libc::sockaddr_in6>().read_unaligned() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries, any other as is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an I/O error says there is no route to the destination.
pub fn is_no_route(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EADDRNOTAVAIL | libc::ENETDOWN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trips_both_families() {
        for a in ["192.0.2.7:33434", "[2001:db8::1]:9"] {
            let addr: SocketAddr = a.parse().unwrap();
            let (ss, len) = to_raw(addr);
            // SAFETY: ss holds len bytes written by to_raw.
            let back =
                unsafe { from_raw((&ss as *const libc::sockaddr_storage).cast(), len as usize) };
            assert_eq!(back, Some(addr));
        }
    }

    #[test]
    fn short_or_foreign_sockaddr_is_none() {
        let (ss, _) = to_raw("192.0.2.7:1".parse().unwrap());
        // SAFETY: ss is a full sockaddr_storage; the lengths passed are within it.
        unsafe {
            assert_eq!(
                from_raw((&ss as *const libc::sockaddr_storage).cast(), 4),
                None
            );
            assert_eq!(from_raw(std::ptr::null(), 16), None);
        }
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        let m: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(canonical(m), "10.0.0.1".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(canonical(v6), v6);
    }

    #[test]
    fn wait_honours_deadline_and_cancel() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        let t0 = Instant::now();
        let r = wait(
            s.as_raw_fd(),
            libc::POLLIN,
            t0 + Duration::from_millis(30),
            None,
        )
        .unwrap();
        assert_eq!(r, Ready::TimedOut);
        assert!(t0.elapsed() >= Duration::from_millis(30));
        let c = Cancel::new();
        c.cancel();
        let r = wait(
            s.as_raw_fd(),
            libc::POLLIN,
            t0 + Duration::from_secs(60),
            Some(&c),
        )
        .unwrap();
        assert_eq!(r, Ready::Cancelled);
    }
}
