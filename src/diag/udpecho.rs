//! UDPEchoDiagnostics (TR-143 UDP Echo / UDP Echo Plus client): `NumberOfRepetitions`
//! datagrams of `DataBlockSize` bytes to `Host:Port`, one every `InterTransmissionTime` ms
//! (or as soon as the previous one was answered or timed out, when that takes longer), each
//! waited for `Timeout` ms.
//!
//! Each datagram starts with the UDP Echo Plus fields (TestGenSN, then TestRespSN,
//! TestRespRecvTimeStamp, TestRespReplyTimeStamp, TestRespReplyFailureCount, 4 bytes each,
//! big-endian): a plain echo server returns them as sent, an Echo Plus server fills the last
//! four in. Replies are matched on TestGenSN, so a late answer to an earlier datagram is not
//! taken for the current one.
//!
//! Limits: at most [`MAX_REPETITIONS`] repetitions and a [`MAX_TIMEOUT_MS`] timeout (9007
//! above), a whole test stops after [`MAX_TEST`] (datagrams not sent by then are not
//! counted); at most [`MAX_RESULTS`] `IndividualPacketResult` rows.

use super::net::{self, check_bool, check_len, check_uint, Clock, Family, POLL};
use super::{Cancel, Inputs, Outcome};
use crate::fault::Fault;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Most repetitions accepted.
pub const MAX_REPETITIONS: u64 = 10_000;
/// Longest per-datagram timeout accepted, in ms.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// `UDPEchoDiagnosticsMaxResults`: most `IndividualPacketResult` rows.
pub const MAX_RESULTS: usize = 100;
/// Cap on a whole test.
pub const MAX_TEST: Duration = Duration::from_secs(3600);
/// The largest UDP payload over IPv4; larger `DataBlockSize`s are sent at this size.
const MAX_DATAGRAM: usize = 65507;
/// Bytes of the UDP Echo Plus header.
const PLUS: usize = 20;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(name: &str, value: &str) -> Result<(), Fault> {
    if let Some(r) = net::check_common(name, value) {
        return r;
    }
    match name {
        "Host" => check_len(name, value, 256),
        "Port" => check_uint(name, value, 1, 65535),
        "NumberOfRepetitions" => check_uint(name, value, 1, MAX_REPETITIONS),
        "Timeout" => check_uint(name, value, 1, MAX_TIMEOUT_MS),
        "DataBlockSize" | "InterTransmissionTime" => check_uint(name, value, 1, 65535),
        "EnableIndividualPacketResults" => check_bool(name, value),
        _ => Ok(()),
    }
}

/// What one echo gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Echo {
    /// Sequence number sent (TestGenSN).
    pub sn: u32,
    /// When it was sent.
    pub sent: Instant,
    /// When its answer came, if it did.
    pub received: Option<Instant>,
    /// The Echo Plus fields of the answer (TestRespSN, RecvTimeStamp, ReplyTimeStamp,
    /// ReplyFailureCount); zero from a plain echo server.
    pub plus: [u32; 4],
}

impl Echo {
    fn rtt(&self) -> Option<Duration> {
        self.received
            .map(|r| r.saturating_duration_since(self.sent))
    }
}

/// The datagram for sequence number `sn`.
pub(crate) fn datagram(sn: u32, size: usize) -> Vec<u8> {
    let mut d = vec![0u8; size.clamp(1, MAX_DATAGRAM)];
    let sn = sn.to_be_bytes();
    let k = d.len().min(4);
    d[..k].copy_from_slice(&sn[..k]);
    for (i, b) in d.iter_mut().enumerate().skip(PLUS) {
        *b = (i % 251) as u8;
    }
    d
}

/// Whether `reply` answers `sent`, and its Echo Plus fields when it does.
pub(crate) fn matches(sent: &[u8], reply: &[u8]) -> Option<[u32; 4]> {
    let k = sent.len().min(4);
    if reply.len() != sent.len() || reply[..k] != sent[..k] {
        return None;
    }
    let mut plus = [0u32; 4];
    if reply.len() >= PLUS {
        for (i, p) in plus.iter_mut().enumerate() {
            let o = 4 + 4 * i;
            *p = u32::from_be_bytes([reply[o], reply[o + 1], reply[o + 2], reply[o + 3]]);
        }
    }
    Some(plus)
}

/// (success, failure, average, minimum, maximum) response times in microseconds; the
/// times are 0 when nothing came back.
pub(crate) fn stats(rtts: impl Iterator<Item = Option<Duration>>) -> (u32, u32, u32, u32, u32) {
    let (mut ok, mut ko, mut sum, mut min, mut max) = (0u32, 0u32, 0u128, u32::MAX, 0u32);
    for r in rtts {
        match r {
            Some(d) => {
                let us = net::micros(d);
                ok += 1;
                sum += us as u128;
                min = min.min(us);
                max = max.max(us);
            }
            None => ko += 1,
        }
    }
    if ok == 0 {
        return (0, ko, 0, 0, 0);
    }
    (ok, ko, (sum / ok as u128) as u32, min, max)
}

/// A UDP socket connected to `addr`.
fn socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = UdpSocket::bind(any)?;
    s.connect(addr)?;
    Ok(s)
}

/// Sends `d` and waits up to `timeout` for its answer; `Ok(None)` when none came (or the
/// peer refused), `Err` only when cancelled or on a local socket error.
fn echo(
    s: &UdpSocket,
    d: &[u8],
    timeout: Duration,
    cancel: Option<&Cancel>,
) -> io::Result<Option<(Instant, [u32; 4])>> {
    let mut buf = vec![0u8; d.len() + 1];
    s.send(d)?;
    let end = Instant::now() + timeout;
    loop {
        if cancel.is_some_and(Cancel::is_cancelled) {
            return Err(ErrorKind::Interrupted.into());
        }
        let now = Instant::now();
        if now >= end {
            return Ok(None);
        }
        s.set_read_timeout(Some((end - now).min(POLL)))?;
        match s.recv(&mut buf) {
            Ok(n) => {
                if let Some(plus) = matches(d, &buf[..n]) {
                    return Ok(Some((Instant::now(), plus)));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            // ICMP port unreachable from an earlier datagram: no answer for this one.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs the test (see [`super::run`]).
pub fn run(inputs: &Inputs, cancel: &Cancel) -> Outcome {
    let port = net::uint(inputs, "Port", 7).clamp(1, 65535) as u16;
    let Some(addr) = net::resolve(net::text(inputs, "Host"), port, Family::of(inputs)) else {
        return Outcome::error("Error_CannotResolveHostName");
    };
    let reps = net::uint(inputs, "NumberOfRepetitions", 1).clamp(1, MAX_REPETITIONS);
    let timeout =
        Duration::from_millis(net::uint(inputs, "Timeout", 5000).clamp(1, MAX_TIMEOUT_MS));
    let size = net::uint(inputs, "DataBlockSize", 24).clamp(1, MAX_DATAGRAM as u64) as usize;
    let gap =
        Duration::from_millis(net::uint(inputs, "InterTransmissionTime", 1000).clamp(1, 65535));
    let Ok(s) = socket(addr) else {
        return Outcome::error("Error_Other");
    };
    let _ = net::set_dscp(
        s.as_raw_fd(),
        addr.is_ipv6(),
        net::uint(inputs, "DSCP", 0).min(63) as u8,
    );
    let clock = Clock::start();
    let start = Instant::now();
    let mut echoes = Vec::new();
    for i in 0..reps {
        let slot = start + gap * i as u32;
        if let Some(wait) = slot.checked_duration_since(Instant::now()) {
            if !net::sleep(wait, cancel) {
                return Outcome::error("Canceled");
            }
        }
        if start.elapsed() >= MAX_TEST {
            break;
        }
        let sn = i as u32 + 1;
        let sent = Instant::now();
        let got = match echo(&s, &datagram(sn, size), timeout, Some(cancel)) {
            Ok(got) => got,
            Err(e) if e.kind() == ErrorKind::Interrupted => return Outcome::error("Canceled"),
            // A send refused locally (no route...) is a lost datagram, not the end.
            Err(_) => None,
        };
        echoes.push(Echo {
            sn,
            sent,
            received: got.map(|g| g.0),
            plus: got.map_or([0; 4], |g| g.1),
        });
    }
    Outcome {
        state: "Complete".into(),
        values: values(
            &echoes,
            net::flag(inputs, "EnableIndividualPacketResults"),
            &clock,
            s.local_addr().ok(),
        ),
    }
}

/// The result parameters from the echoes.
pub(crate) fn values(
    echoes: &[Echo],
    rows: bool,
    clock: &Clock,
    local: Option<SocketAddr>,
) -> Vec<(String, String)> {
    let (ok, ko, avg, min, max) = stats(echoes.iter().map(Echo::rtt));
    let mut v: Vec<(String, String)> = vec![
        ("SuccessCount".into(), ok.to_string()),
        ("FailureCount".into(), ko.to_string()),
        ("AverageResponseTime".into(), avg.to_string()),
        ("MinimumResponseTime".into(), min.to_string()),
        ("MaximumResponseTime".into(), max.to_string()),
    ];
    if let Some(l) = local {
        v.push(("IPAddressUsed".into(), l.ip().to_string()));
    }
    let shown = if rows {
        &echoes[..echoes.len().min(MAX_RESULTS)]
    } else {
        &[]
    };
    v.push((
        "IndividualPacketResultNumberOfEntries".into(),
        shown.len().to_string(),
    ));
    for (i, e) in shown.iter().enumerate() {
        let p = format!("IndividualPacketResult.{}.", i + 1);
        let recv = e.received.map_or_else(
            || crate::time::UNKNOWN_TIME.to_string(),
            |r| clock.datetime(r),
        );
        v.push((
            format!("{p}PacketSuccess"),
            e.received.is_some().to_string(),
        ));
        v.push((format!("{p}PacketSendTime"), clock.datetime(e.sent)));
        v.push((format!("{p}PacketReceiveTime"), recv));
        v.push((format!("{p}TestGenSN"), e.sn.to_string()));
        v.push((format!("{p}TestRespSN"), e.plus[0].to_string()));
        v.push((format!("{p}TestRespRcvTimeStamp"), e.plus[1].to_string()));
        v.push((format!("{p}TestRespReplyTimeStamp"), e.plus[2].to_string()));
        v.push((
            format!("{p}TestRespReplyFailureCount"),
            e.plus[3].to_string(),
        ));
    }
    v
}

/// One UDP echo of `size` bytes to `addr`: its round-trip time, or an error (timeout
/// included). Used by ServerSelectionDiagnostics with `Protocol=UDP Echo`.
pub fn probe(addr: SocketAddr, size: usize, timeout: Duration) -> io::Result<Duration> {
    let s = socket(addr)?;
    // Any sequence number will do; vary it so answers to another socket's probes never match.
    let sn = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos());
    let sent = Instant::now();
    match echo(&s, &datagram(sn, size), timeout, None)? {
        Some((at, _)) => Ok(at.saturating_duration_since(sent)),
        None => Err(ErrorKind::TimedOut.into()),
    }
}

#[cfg(test)]
#[path = "udpecho_tests.rs"]
mod tests;
