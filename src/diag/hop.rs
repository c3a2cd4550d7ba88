//! One TraceRoute probe: a UDP datagram with a given TTL, and the ICMP answer it provokes
//! read without privileges from the socket's error queue (`IP_RECVERR` / `IPV6_RECVERR`): a
//! router's time-exceeded, the target's port-unreachable, or another destination-unreachable.
//!
//! Each probe has a socket of its own (a fresh source port), so any answer on it is the
//! answer to this probe, never a late one to an earlier probe.

use super::{sock, Cancel};
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// `SO_EE_ORIGIN_ICMP`: the error came from an ICMP message.
const ORIGIN_ICMP: u8 = 2;
/// `SO_EE_ORIGIN_ICMP6`: the error came from an ICMPv6 message.
const ORIGIN_ICMP6: u8 = 3;

/// What a hop's answer says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A router on the way: TTL exceeded in transit.
    TimeExceeded,
    /// The target itself: port unreachable (or a UDP answer).
    Reached,
    /// Destination unreachable with this ICMP code (host, net, prohibited...).
    Unreachable(u8),
}

/// Reads an extended socket error: the kind of answer for ICMP(v6) `ty`/`code`, `None` for
/// an error that is not from an ICMP message or an ICMP type TraceRoute ignores.
pub fn classify(origin: u8, ty: u8, code: u8) -> Option<Kind> {
    match (origin, ty, code) {
        (ORIGIN_ICMP, 11, _) | (ORIGIN_ICMP6, 3, _) => Some(Kind::TimeExceeded),
        (ORIGIN_ICMP, 3, 3) | (ORIGIN_ICMP6, 1, 4) => Some(Kind::Reached),
        (ORIGIN_ICMP, 3, c) | (ORIGIN_ICMP6, 1, c) => Some(Kind::Unreachable(c)),
        _ => None,
    }
}

/// An answer to one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Who answered.
    pub from: IpAddr,
    /// Send to answer.
    pub rtt: Duration,
    /// What the answer says.
    pub kind: Kind,
}

/// The end of one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Answered in time.
    Answer(Answer),
    /// No answer within the timeout.
    Silent,
    /// The test was cancelled.
    Cancelled,
}

/// How to send the probes.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// DSCP (0-63).
    pub dscp: u8,
    /// Linux interface to bind to.
    pub device: Option<String>,
    /// UDP payload bytes.
    pub size: usize,
}

/// Sends one UDP probe to `dst` with `ttl` and waits `timeout` for its answer. An error
/// means the probe could not be sent ([`sock::is_no_route`] for no route).
pub fn probe(
    dst: SocketAddr,
    ttl: u8,
    opts: &Options,
    timeout: Duration,
    cancel: &Cancel,
) -> io::Result<Probe> {
    let v6 = dst.is_ipv6();
    let any: SocketAddr = if v6 {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any)?;
    let fd = s.as_raw_fd();
    if v6 {
        sock::set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
    } else {
        sock::set_int(fd, libc::IPPROTO_IP, libc::IP_RECVERR, 1)?;
    }
    sock::set_ttl(fd, v6, ttl)?;
    if opts.dscp != 0 {
        sock::set_dscp(fd, v6, opts.dscp)?;
    }
    if let Some(d) = &opts.device {
        sock::bind_device(fd, d)?;
    }
    s.connect(dst)?;
    s.set_nonblocking(true)?;
    let data = vec![0x40u8; opts.size];
    let sent = Instant::now();
    s.send(&data)?;
    let deadline = sent + timeout;
    let mut buf = [0u8; 64];
    loop {
        match sock::wait(fd, libc::POLLIN | libc::POLLERR, deadline, Some(cancel))? {
            sock::Ready::TimedOut => return Ok(Probe::Silent),
            sock::Ready::Cancelled => return Ok(Probe::Cancelled),
            sock::Ready::Events(_) => {}
        }
        while let Some(q) = read_error(fd)? {
            if let (Some(kind), Some(from)) = (classify(q.origin, q.ty, q.code), q.from) {
                let from = sock::canonical(from);
                // Port unreachable from anyone but the target is a filter on the way.
                let kind = match kind {
                    Kind::Reached if from != dst.ip() => Kind::Unreachable(q.code),
                    k => k,
                };
                let rtt = sent.elapsed();
                return Ok(Probe::Answer(Answer { from, rtt, kind }));
            }
        }
        // A UDP answer: something listens on the port, the target is reached all the same.
        if s.recv(&mut buf).is_ok() {
            let rtt = sent.elapsed();
            let kind = Kind::Reached;
            return Ok(Probe::Answer(Answer {
                from: dst.ip(),
                rtt,
                kind,
            }));
        }
    }
}

/// One entry of a socket's error queue.
struct Queued {
    /// `SO_EE_ORIGIN_*` (0 for an entry without the extended record).
    origin: u8,
    /// ICMP type.
    ty: u8,
    /// ICMP code.
    code: u8,
    /// The node that sent the ICMP message.
    from: Option<IpAddr>,
}

/// Pops one error off `fd`'s error queue; `None` when the queue is empty.
fn read_error(fd: std::os::fd::RawFd) -> io::Result<Option<Queued>> {
    let mut data = [0u8; 576];
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: msg points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: the kernel filled msg_control up to msg_controllen; the CMSG macros stay inside.
    unsafe {
        let mut cm = libc::CMSG_FIRSTHDR(&msg);
        while !cm.is_null() {
            let c = &*cm;
            let ours = (c.cmsg_level == libc::IPPROTO_IP && c.cmsg_type == libc::IP_RECVERR)
                || (c.cmsg_level == libc::IPPROTO_IPV6 && c.cmsg_type == libc::IPV6_RECVERR);
            let len = c.cmsg_len as usize;
            let head = libc::CMSG_LEN(0) as usize;
            if ours && len >= head + mem::size_of::<libc::sock_extended_err>() {
                let ee_ptr = libc::CMSG_DATA(cm).cast::<libc::sock_extended_err>();
                let ee = ee_ptr.read_unaligned();
                let off = libc::SO_EE_OFFENDER(ee_ptr).cast_const();
                let off_len = len - head - mem::size_of::<libc::sock_extended_err>();
                let from = sock::from_raw(off, off_len).map(|a| a.ip());
                return Ok(Some(Queued {
                    origin: ee.ee_origin,
                    ty: ee.ee_type,
                    code: ee.ee_code,
                    from,
                }));
            }
            cm = libc::CMSG_NXTHDR(&msg, cm);
        }
    }
    // An error without the extended record: skip it, the caller reads the next one.
    Ok(Some(Queued {
        origin: 0,
        ty: 0,
        code: 0,
        from: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_answers_classified() {
        assert_eq!(classify(ORIGIN_ICMP, 11, 0), Some(Kind::TimeExceeded));
        assert_eq!(classify(ORIGIN_ICMP, 3, 3), Some(Kind::Reached));
        assert_eq!(classify(ORIGIN_ICMP, 3, 1), Some(Kind::Unreachable(1)));
        assert_eq!(classify(ORIGIN_ICMP, 3, 13), Some(Kind::Unreachable(13)));
        assert_eq!(classify(ORIGIN_ICMP6, 3, 0), Some(Kind::TimeExceeded));
        assert_eq!(classify(ORIGIN_ICMP6, 1, 4), Some(Kind::Reached));
        assert_eq!(classify(ORIGIN_ICMP6, 1, 3), Some(Kind::Unreachable(3)));
        // ICMPv4 type numbers under the ICMPv6 origin mean something else, and back.
        assert_eq!(classify(ORIGIN_ICMP6, 11, 0), None);
        assert_eq!(classify(ORIGIN_ICMP, 1, 4), None);
        // Local errors (EMSGSIZE...) and source quench-like types are ignored.
        assert_eq!(classify(1, 0, 0), None);
        assert_eq!(classify(ORIGIN_ICMP, 4, 0), None);
    }

    #[test]
    fn loopback_target_answers_port_unreachable() {
        let c = Cancel::new();
        let dst: SocketAddr = "127.0.0.1:33434".parse().unwrap();
        let opts = Options {
            size: 38,
            ..Options::default()
        };
        match probe(dst, 1, &opts, Duration::from_secs(2), &c).unwrap() {
            Probe::Answer(a) => {
                assert_eq!(a.kind, Kind::Reached);
                assert_eq!(a.from, dst.ip());
            }
            other => panic!("{other:?}"),
        }
    }
}
