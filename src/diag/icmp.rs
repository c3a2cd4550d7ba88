//! ICMP and ICMPv6 echo: the packets (pure) and a socket that sends one echo request and
//! waits for its reply.
//!
//! The socket is an unprivileged ICMP datagram socket (`socket(AF_INET, SOCK_DGRAM,
//! IPPROTO_ICMP)`, the "ping socket", for IPv6 `IPPROTO_ICMPV6`) when the process's group is
//! inside `net.ipv4.ping_group_range` (that one sysctl covers both families), else a raw socket
//! (`SOCK_RAW`, needs root or `CAP_NET_RAW`). With a ping socket the kernel sets the echo
//! identifier and checksum and hands us only our own replies; with a raw socket we set the
//! identifier, compute the IPv4 checksum (the kernel does ICMPv6's), filter on identifier,
//! sequence and payload, and an IPv4 raw socket hands us the IP header too.

use super::{sock, Cancel};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// ICMP echo request type (IPv4).
const ECHO_REQUEST_V4: u8 = 8;
/// ICMP echo reply type (IPv4).
const ECHO_REPLY_V4: u8 = 0;
/// ICMPv6 echo request type.
const ECHO_REQUEST_V6: u8 = 128;
/// ICMPv6 echo reply type.
const ECHO_REPLY_V6: u8 = 129;
/// `SOL_RAW`/`ICMP_FILTER`: drop every ICMP type but echo reply on an IPv4 raw socket.
const SOL_RAW: libc::c_int = 255;
const ICMP_FILTER: libc::c_int = 1;
/// `ICMP6_FILTER` at level `IPPROTO_ICMPV6`.
const ICMP6_FILTER: libc::c_int = 1;

/// Which kind of socket carries the echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// An unprivileged ICMP datagram ("ping") socket.
    Datagram,
    /// A raw socket (root or `CAP_NET_RAW`).
    Raw,
}

/// How to open an [`EchoSocket`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// DSCP of outgoing packets (0-63).
    pub dscp: u8,
    /// Linux interface to bind to (`SO_BINDTODEVICE`).
    pub device: Option<String>,
    /// Use only this kind of socket (tests); `None` tries a ping socket, then a raw one.
    pub only: Option<SocketKind>,
}

/// An echo request of `payload` with identifier `ident` and sequence `seq`. The IPv4
/// checksum is computed; the ICMPv6 one is left 0 (the kernel fills it in).
pub fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.push(if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo reply as received: identifier, sequence and payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// Echo identifier (a ping socket's is its local "port").
    pub ident: u16,
    /// Echo sequence number.
    pub seq: u16,
    /// The data after the 8-byte header.
    pub payload: &'a [u8],
}

/// Parses a received datagram as an echo reply; `ip_header` when it starts with an IPv4
/// header (IPv4 raw sockets). `None` for anything else (other ICMP types, truncated input).
pub fn parse_reply(buf: &[u8], v6: bool, ip_header: bool) -> Option<Reply<'_>> {
    let icmp = if ip_header {
        let first = *buf.first()?;
        if first >> 4 != 4 {
            return None;
        }
        buf.get(usize::from(first & 0x0f) * 4..)?
    } else {
        buf
    };
    if icmp.len() < 8 {
        return None;
    }
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    Some(Reply {
        ident: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        payload: &icmp[8..],
    })
}

/// The data of echo `seq`: a repeating pattern that starts with the sequence number, so a
/// reply to an older echo never matches a newer one on payload alone.
pub fn payload(seq: u16, size: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    for (d, s) in p.iter_mut().zip(seq.to_be_bytes()) {
        *d = s;
    }
    p
}

/// What waiting for one echo reply gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The reply, with its round-trip time.
    Reply(Duration),
    /// No reply before the timeout.
    TimedOut,
    /// The test was cancelled.
    Cancelled,
}

/// A connected ICMP echo socket towards one address.
#[derive(Debug)]
pub struct EchoSocket {
    fd: OwnedFd,
    v6: bool,
    kind: SocketKind,
    ident: u16,
    buf: Vec<u8>,
}

fn open_fd(v6: bool, kind: SocketKind) -> io::Result<OwnedFd> {
    let (domain, proto) = if v6 {
        (libc::AF_INET6, libc::IPPROTO_ICMPV6)
    } else {
        (libc::AF_INET, libc::IPPROTO_ICMP)
    };
    let ty = match kind {
        SocketKind::Datagram => libc::SOCK_DGRAM,
        SocketKind::Raw => libc::SOCK_RAW,
    };
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Identifiers for raw sockets: the process id plus a counter, so two tests of this process
/// (IPPing and ServerSelection) never share one.
fn next_ident() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    (std::process::id() as u16)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919))
}

impl EchoSocket {
    /// Opens a socket towards `peer`: a ping socket if allowed, else a raw one. The error of
    /// the last kind tried when neither opens (`PermissionDenied` without privileges).
    pub fn open(peer: IpAddr, opts: &Options) -> io::Result<EchoSocket> {
        let v6 = peer.is_ipv6();
        let kinds: &[SocketKind] = match opts.only {
            Some(SocketKind::Datagram) => &[SocketKind::Datagram],
            Some(SocketKind::Raw) => &[SocketKind::Raw],
            None => &[SocketKind::Datagram, SocketKind::Raw],
        };
        let mut last = io::Error::from(io::ErrorKind::PermissionDenied);
        for &kind in kinds {
            match open_fd(v6, kind) {
                Ok(fd) => return EchoSocket::setup(fd, v6, kind, peer, opts),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn setup(
        fd: OwnedFd,
        v6: bool,
        kind: SocketKind,
        peer: IpAddr,
        opts: &Options,
    ) -> io::Result<EchoSocket> {
        let raw = fd.as_raw_fd();
        sock::set_nonblocking(raw)?;
        if opts.dscp != 0 {
            sock::set_dscp(raw, v6, opts.dscp)?;
        }
        if let Some(d) = &opts.device {
            sock::bind_device(raw, d)?;
        }
        if kind == SocketKind::Raw {
            // Fewer wakeups on a busy router; the replies are filtered again below, so a
            // kernel without the filter only costs CPU.
            if v6 {
                let mut filter = [u32::MAX; 8];
                filter[usize::from(ECHO_REPLY_V6 >> 5)] &= !(1u32 << (ECHO_REPLY_V6 & 31));
                // SAFETY: the option value is the 32-byte icmp6_filter bitmap.
                unsafe {
                    libc::setsockopt(
                        raw,
                        libc::IPPROTO_ICMPV6,
                        ICMP6_FILTER,
                        filter.as_ptr().cast(),
                        std::mem::size_of_val(&filter) as libc::socklen_t,
                    )
                };
            } else {
                let _ = sock::set_int(raw, SOL_RAW, ICMP_FILTER, !(1 << ECHO_REPLY_V4));
            }
        }
        // Connecting filters replies by source address and fixes the route (and the source
        // address) once for every echo.
        let (ss, len) = sock::to_raw(SocketAddr::new(peer, 0));
        // SAFETY: ss holds len bytes of a valid sockaddr.
        if unsafe { libc::connect(raw, (&ss as *const libc::sockaddr_storage).cast(), len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(EchoSocket {
            fd,
            v6,
            kind,
            ident: next_ident(),
            buf: vec![0; 65536 + 60],
        })
    }

    /// Which kind of socket this is.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// Sends echo request `seq` carrying `data`.
    pub fn send(&self, seq: u16, data: &[u8]) -> io::Result<()> {
        let pkt = echo_request(self.v6, self.ident, seq, data);
        loop {
            // SAFETY: pkt is a live buffer of the length passed.
            let n = unsafe { libc::send(self.fd.as_raw_fd(), pkt.as_ptr().cast(), pkt.len(), 0) };
            if n >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Waits until `deadline` for the reply to echo `seq` carrying `data`, sent at `sent`;
    /// other datagrams (stale replies, other pings' replies on a raw socket) are skipped.
    pub fn wait_reply(
        &mut self,
        seq: u16,
        data: &[u8],
        sent: Instant,
        deadline: Instant,
        cancel: Option<&Cancel>,
    ) -> io::Result<Answer> {
        let fd = self.fd.as_raw_fd();
        loop {
            match sock::wait(fd, libc::POLLIN, deadline, cancel)? {
                sock::Ready::TimedOut => return Ok(Answer::TimedOut),
                sock::Ready::Cancelled => return Ok(Answer::Cancelled),
                sock::Ready::Events(_) => {}
            }
            // Drain what is queued; a flood of foreign datagrams is bounded by the deadline.
            loop {
                // SAFETY: buf is a live buffer of the length passed.
                let n = unsafe { libc::recv(fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock => break,
                        io::ErrorKind::Interrupted => continue,
                        // An ICMP error queued for an earlier echo: not this echo's answer.
                        _ if sock::is_no_route(&e)
                            || e.raw_os_error() == Some(libc::ECONNREFUSED) =>
                        {
                            continue
                        }
                        _ => return Err(e),
                    }
                }
                let now = Instant::now();
                let got = &self.buf[..n as usize];
                let ip_header = self.kind == SocketKind::Raw && !self.v6;
                if let Some(r) = parse_reply(got, self.v6, ip_header) {
                    let ours = self.kind == SocketKind::Datagram || r.ident == self.ident;
                    if ours && r.seq == seq && r.payload == data {
                        return Ok(Answer::Reply(now.saturating_duration_since(sent)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2, the checksum its complement.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&d), !0xddf2);
        // A packet carrying its checksum sums to 0.
        let p = echo_request(false, 0x1234, 7, b"odd");
        assert_eq!(checksum(&p), 0);
    }

    #[test]
    fn request_layout() {
        let p = echo_request(true, 0xabcd, 0x0102, &[9, 9]);
        assert_eq!(p, vec![128, 0, 0, 0, 0xab, 0xcd, 1, 2, 9, 9]);
        let p = echo_request(false, 1, 2, &[]);
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..], &[0, 1, 0, 2]);
    }

    #[test]
    fn reply_parsing_with_and_without_ip_header() {
        let mut reply = echo_request(false, 5, 6, b"data");
        reply[0] = ECHO_REPLY_V4;
        let r = parse_reply(&reply, false, false).unwrap();
        assert_eq!((r.ident, r.seq, r.payload), (5, 6, &b"data"[..]));
        let mut with_ip = vec![0x46; 24]; // version 4, IHL 6 (24 bytes, options included)
        with_ip.extend_from_slice(&reply);
        assert_eq!(parse_reply(&with_ip, false, true).unwrap().seq, 6);
        // Requests (our own echo looping back), other families and truncated input: none.
        assert_eq!(
            parse_reply(&echo_request(false, 5, 6, b""), false, false),
            None
        );
        assert_eq!(parse_reply(&reply, true, false), None);
        assert_eq!(parse_reply(&reply[..7], false, false), None);
        assert_eq!(parse_reply(&[0x4f, 0, 0], false, true), None);
        assert_eq!(parse_reply(&[0x60; 40], false, true), None);
        assert_eq!(parse_reply(&[], false, true), None);
        let mut r6 = echo_request(true, 1, 2, b"x");
        r6[0] = ECHO_REPLY_V6;
        assert_eq!(parse_reply(&r6, true, false).unwrap().payload, b"x");
    }

    #[test]
    fn payload_starts_with_sequence() {
        assert_eq!(payload(0x0102, 4), vec![1, 2, 2, 3]);
        assert_eq!(payload(0x0102, 1), vec![1]);
        assert!(payload(1, 0).is_empty());
        assert_ne!(payload(1, 64), payload(2, 64));
    }
}
