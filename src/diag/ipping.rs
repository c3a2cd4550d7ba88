//! `Device.IP.Diagnostics.IPPing.`: ICMP/ICMPv6 echoes to `Host`, one at a time (the next
//! leaves when the previous is answered or timed out), over the socket of [`super::icmp`].
//!
//! Limits (9007 at SPV time above them): `NumberOfRepetitions` 1-1000, `Timeout` 1-60000 ms;
//! and whatever the inputs, a test stops sending after [`target::TEST_BUDGET`] (10 min), the
//! echoes not sent counting as failures. `DataBlockSize` above what one datagram carries
//! (65507 bytes over IPv4) is sent at that size.
//!
//! States: `Complete` once the echoes ran, answered or not (an unanswered echo is a failure,
//! the response times are 0 when none was answered); `Error_CannotResolveHostName` when `Host`
//! gives no address of the `ProtocolVersion` asked within 5 s; `Error_NoRouteToHost` when the
//! routing table has no route, or every echo failed to leave for lack of one;
//! `Error_Internal` when no ICMP socket can be opened (neither ping sockets allowed by
//! `net.ipv4.ping_group_range` nor root); `Error_Other` for a bad `Interface`; `Canceled` when
//! cancelled.

use super::icmp::{self, Answer, EchoSocket};
use super::target::{self, Target};
use super::{sock, Cancel, Inputs, Outcome};
use crate::fault::Fault;
use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The most echoes one test may ask for (`NumberOfRepetitions`).
pub const MAX_REPETITIONS: u32 = 1000;
/// The longest wait for one reply (`Timeout`, ms).
pub const MAX_TIMEOUT_MS: u32 = 60_000;
/// `NumberOfRepetitions` when the ACS set none.
pub const DEFAULT_REPETITIONS: u32 = 3;
/// `Timeout` (ms) when the ACS set none.
pub const DEFAULT_TIMEOUT_MS: u32 = 1000;
/// `DataBlockSize` when the ACS set none.
pub const DEFAULT_SIZE: u32 = 64;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(name: &str, value: &str) -> Result<(), Fault> {
    if let Some(r) = target::check_common(name, value) {
        return r;
    }
    match name {
        "NumberOfRepetitions" => target::check_uint(name, value, 1, MAX_REPETITIONS),
        "Timeout" => target::check_uint(name, value, 1, MAX_TIMEOUT_MS),
        _ => Ok(()),
    }
}

/// The figures of a test from each echo's round-trip time (`None`: no reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    /// Echoes answered in time.
    pub success: u32,
    /// Echoes not answered (or not sent).
    pub failure: u32,
    /// Smallest round trip, µs (0 when none answered).
    pub min_us: u64,
    /// Mean round trip, µs, rounded to nearest (0 when none answered).
    pub avg_us: u64,
    /// Largest round trip, µs (0 when none answered).
    pub max_us: u64,
}

/// A duration in µs, at least 1 for a reply so that 0 keeps meaning "no reply".
fn micros(d: Duration) -> u64 {
    (d.as_micros().min(u128::from(u64::MAX)) as u64).max(1)
}

/// µs to ms, rounded to nearest, at least 1 when `us` is (0 is reserved for "no reply").
pub fn ms_of(us: u64) -> u64 {
    if us == 0 {
        0
    } else {
        us.saturating_add(500).div_euclid(1000).max(1)
    }
}

/// Sums up the round trips of a test.
pub fn summarize(rtts: &[Option<Duration>]) -> Stats {
    let got: Vec<u64> = rtts.iter().flatten().map(|d| micros(*d)).collect();
    let success = got.len() as u32;
    let failure = (rtts.len() - got.len()) as u32;
    if got.is_empty() {
        return Stats {
            failure,
            ..Stats::default()
        };
    }
    let sum: u128 = got.iter().map(|&u| u128::from(u)).sum();
    let n = got.len() as u128;
    Stats {
        success,
        failure,
        // Both exist: got is not empty.
        min_us: got.iter().copied().min().unwrap_or(0),
        max_us: got.iter().copied().max().unwrap_or(0),
        avg_us: ((sum + n / 2) / n) as u64,
    }
}

/// The result parameters of a test that used source address `used`.
pub fn results(stats: &Stats, used: IpAddr) -> Vec<(String, String)> {
    let p = |k: &str, v: String| (k.to_string(), v);
    vec![
        p("IPAddressUsed", used.to_string()),
        p("SuccessCount", stats.success.to_string()),
        p("FailureCount", stats.failure.to_string()),
        p("AverageResponseTime", ms_of(stats.avg_us).to_string()),
        p("MinimumResponseTime", ms_of(stats.min_us).to_string()),
        p("MaximumResponseTime", ms_of(stats.max_us).to_string()),
        p("AverageResponseTimeDetailed", stats.avg_us.to_string()),
        p("MinimumResponseTimeDetailed", stats.min_us.to_string()),
        p("MaximumResponseTimeDetailed", stats.max_us.to_string()),
    ]
}

/// The test's inputs after defaults and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    to: Target,
    repetitions: u32,
    timeout: Duration,
    size: usize,
}

fn plan(inputs: &Inputs) -> Option<Plan> {
    Some(Plan {
        to: Target::from_inputs(inputs)?,
        repetitions: target::uint(
            inputs,
            "NumberOfRepetitions",
            DEFAULT_REPETITIONS,
            1,
            MAX_REPETITIONS,
        ),
        timeout: Duration::from_millis(
            target::uint(inputs, "Timeout", DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS).into(),
        ),
        size: target::uint(inputs, "DataBlockSize", DEFAULT_SIZE, 1, 65535) as usize,
    })
}

/// Runs the test (see [`super::run`]).
pub fn run(inputs: &Inputs, cancel: &Cancel) -> Outcome {
    let started = Instant::now();
    let Some(plan) = plan(inputs) else {
        return Outcome::error("Error_Other");
    };
    let (addr, used) = match plan.to.locate("IPPing", cancel) {
        Ok(found) => found,
        Err(end) => return end,
    };
    let opts = icmp::Options {
        dscp: plan.to.dscp,
        device: plan.to.device.clone(),
        only: None,
    };
    let mut socket = match EchoSocket::open(addr, &opts) {
        Ok(s) => s,
        Err(e) if sock::is_no_route(&e) => return Outcome::error("Error_NoRouteToHost"),
        Err(e) => {
            log::warn!("IPPing: no ICMP socket (ping_group_range or root needed): {e}");
            return Outcome::error("Error_Internal");
        }
    };
    let size = plan.size.min(target::max_payload(addr));
    let mut rtts: Vec<Option<Duration>> = Vec::with_capacity(plan.repetitions as usize);
    let mut unrouted = 0;
    for i in 0..plan.repetitions {
        if started.elapsed() >= target::TEST_BUDGET {
            log::warn!("IPPing: stopped after {i} echoes, the test budget is spent");
            break;
        }
        let seq = i as u16;
        let data = icmp::payload(seq, size);
        let sent = Instant::now();
        if let Err(e) = socket.send(seq, &data) {
            if sock::is_no_route(&e) {
                unrouted += 1;
            } else {
                log::debug!("IPPing: echo {i} not sent: {e}");
            }
            rtts.push(None);
            continue;
        }
        match socket.wait_reply(seq, &data, sent, sent + plan.timeout, Some(cancel)) {
            Ok(Answer::Reply(rtt)) => rtts.push(Some(rtt)),
            Ok(Answer::TimedOut) => rtts.push(None),
            Ok(Answer::Cancelled) => return Outcome::error("Canceled"),
            Err(e) => {
                log::debug!("IPPing: echo {i}: {e}");
                rtts.push(None);
            }
        }
    }
    rtts.resize(plan.repetitions as usize, None);
    let stats = summarize(&rtts);
    let state = if unrouted == plan.repetitions {
        "Error_NoRouteToHost"
    } else {
        "Complete"
    };
    Outcome {
        state: state.to_string(),
        values: results(&stats, used),
    }
}

/// One ICMP echo of `size` data bytes to `addr`: its round-trip time, or an error (timeout
/// included, as `TimedOut`). Used by ServerSelectionDiagnostics with `Protocol=ICMP`.
pub fn probe(addr: IpAddr, size: usize, timeout: Duration) -> io::Result<Duration> {
    let addr = sock::canonical(addr);
    let mut socket = EchoSocket::open(addr, &icmp::Options::default())?;
    let data = icmp::payload(0, size.min(target::max_payload(addr)));
    let sent = Instant::now();
    socket.send(0, &data)?;
    match socket.wait_reply(0, &data, sent, sent + timeout, None)? {
        Answer::Reply(rtt) => Ok(rtt),
        Answer::TimedOut | Answer::Cancelled => Err(io::ErrorKind::TimedOut.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::target::Family;
    use super::*;
    use crate::fault::FaultCode;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn stats_of_mixed_answers() {
        let s = summarize(&[ms(2), None, ms(4), Some(Duration::from_micros(3_001))]);
        assert_eq!(s.success, 3);
        assert_eq!(s.failure, 1);
        assert_eq!((s.min_us, s.max_us), (2000, 4000));
        assert_eq!(s.avg_us, 3000); // (2000 + 4000 + 3001) / 3 = 3000.33
        assert!(s.min_us <= s.avg_us && s.avg_us <= s.max_us);
    }

    #[test]
    fn no_answer_gives_zero_times() {
        let s = summarize(&[None, None]);
        assert_eq!(
            s,
            Stats {
                failure: 2,
                ..Stats::default()
            }
        );
        let r = results(&s, "10.0.0.1".parse().unwrap());
        for (k, v) in &r[3..] {
            assert_eq!(v, "0", "{k}");
        }
        assert_eq!(summarize(&[]), Stats::default());
    }

    #[test]
    fn sub_millisecond_replies_are_not_zero() {
        let s = summarize(&[
            Some(Duration::from_nanos(300)),
            Some(Duration::from_micros(40)),
        ]);
        assert_eq!((s.min_us, s.max_us), (1, 40));
        let r = results(&s, "::1".parse().unwrap());
        let get = |k: &str| r.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("MinimumResponseTime"), "1");
        assert_eq!(get("AverageResponseTimeDetailed"), "21"); // (1 + 40) / 2 rounded
        assert_eq!(get("IPAddressUsed"), "::1");
        assert_eq!(get("SuccessCount"), "2");
        assert_eq!(get("FailureCount"), "0");
    }

    #[test]
    fn ms_rounding() {
        assert_eq!(ms_of(0), 0);
        assert_eq!(ms_of(1), 1);
        assert_eq!(ms_of(1499), 1);
        assert_eq!(ms_of(1500), 2);
        assert_eq!(ms_of(u64::MAX), u64::MAX / 1000);
    }

    #[test]
    fn checks_and_limits() {
        assert!(check("NumberOfRepetitions", "1").is_ok());
        assert!(check("NumberOfRepetitions", "1000").is_ok());
        for (name, bad) in [
            ("NumberOfRepetitions", "0"),
            ("NumberOfRepetitions", "1000000000"),
            ("NumberOfRepetitions", "x"),
            ("Timeout", "0"),
            ("Timeout", "60001"),
            ("DSCP", "64"),
            ("DataBlockSize", "0"),
            ("ProtocolVersion", "ipv4"),
        ] {
            let f = check(name, bad).unwrap_err();
            assert_eq!(f.code, FaultCode::INVALID_PARAMETER_VALUE, "{name}={bad}");
        }
        assert!(check("Timeout", "60000").is_ok());
        assert!(check("SomethingElse", "anything").is_ok());
    }

    #[test]
    fn plan_defaults_and_caps() {
        let mut i = Inputs::new();
        i.insert("Host".into(), "h".into());
        let p = plan(&i).unwrap();
        assert_eq!(p.repetitions, DEFAULT_REPETITIONS);
        assert_eq!(p.timeout, Duration::from_millis(1000));
        assert_eq!(
            (p.size, p.to.dscp, p.to.family, p.to.device),
            (64, 0, Family::Any, None)
        );
        i.insert("NumberOfRepetitions".into(), "1000000000".into());
        i.insert("Interface".into(), "eth1".into());
        let p = plan(&i).unwrap();
        assert_eq!(p.repetitions, MAX_REPETITIONS);
        assert_eq!(p.to.device.as_deref(), Some("eth1"));
        i.insert("ProtocolVersion".into(), "IPv7".into());
        assert_eq!(plan(&i), None);
    }

    #[test]
    fn bad_inputs_end_in_the_spec_states() {
        let c = Cancel::new();
        let mut i = Inputs::new();
        assert_eq!(run(&i, &c).state, "Error_CannotResolveHostName");
        i.insert("Host".into(), "::1".into());
        i.insert("ProtocolVersion".into(), "IPv4".into());
        assert_eq!(run(&i, &c).state, "Error_CannotResolveHostName");
        i.insert("ProtocolVersion".into(), "bogus".into());
        assert_eq!(run(&i, &c).state, "Error_Other");
    }
}
