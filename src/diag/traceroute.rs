//! `Device.IP.Diagnostics.TraceRoute.`: UDP probes to `Host` (ports from 33434 up, like
//! traceroute(8)) with TTL 1, 2... up to `MaxHopCount`, `NumberOfTries` probes per hop, one
//! at a time; each hop is the node whose ICMP time-exceeded (or, at the end, the target's
//! port-unreachable) came back, read without privileges through `IP_RECVERR` (see
//! [`super::hop`]).
//!
//! Results: `RouteHops.{i}.Host` and `.HostAddress` are both the hop's address (no reverse
//! DNS lookup: it could take seconds per hop), empty for a hop that never answered;
//! `.ErrorCode` is the ICMP code of a destination-unreachable from that hop, 0 otherwise (the
//! target's own port-unreachable ends the test and is not an error); `.RTTimes` one time per
//! try in ms, 0 for no answer, at least 1 for an answer. `ResponseTime` is the mean round trip
//! to the target (0 when it was not reached).
//!
//! States: `Complete` when the target answered; `Error_MaxHopCountExceeded` when it did not
//! within `MaxHopCount` hops; `Error_NoRouteToHost` when the local routing table or a hop
//! says there is no way on (the hops so far are still listed); `Error_CannotResolveHostName`
//! as for IPPing; `Error_Other` when the test budget ([`target::TEST_BUDGET`], 10 min) runs
//! out or `Interface` is not a usable device; `Canceled` when cancelled.
//!
//! Limits: `NumberOfTries` 1-3 and `MaxHopCount` 1-64 (TR-181's), `Timeout` 1-60000 ms
//! (ours); 9007 outside them.

use super::hop::{self, Kind, Probe};
use super::target::{self, Target};
use super::{sock, Cancel, Inputs, Outcome};
use crate::fault::Fault;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The most tries per hop (TR-181).
pub const MAX_TRIES: u32 = 3;
/// The highest `MaxHopCount` (TR-181).
pub const MAX_HOPS: u32 = 64;
/// The longest wait for one probe's answer (`Timeout`, ms).
pub const MAX_TIMEOUT_MS: u32 = 60_000;
/// The first destination port, as traceroute(8).
const BASE_PORT: u16 = 33434;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(name: &str, value: &str) -> Result<(), Fault> {
    if let Some(r) = target::check_common(name, value) {
        return r;
    }
    match name {
        "NumberOfTries" => target::check_uint(name, value, 1, MAX_TRIES),
        "Timeout" => target::check_uint(name, value, 1, MAX_TIMEOUT_MS),
        "MaxHopCount" => target::check_uint(name, value, 1, MAX_HOPS),
        _ => Ok(()),
    }
}

/// One hop of the route as the tries saw it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Hop {
    /// The last address that answered for this hop.
    pub addr: Option<IpAddr>,
    /// The ICMP code of a destination-unreachable from this hop, 0 otherwise.
    pub code: u8,
    /// One entry per try: the round trip, `None` for no answer.
    pub rtts: Vec<Option<Duration>>,
}

/// How a hop ends the route, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// On to the next TTL.
    Next,
    /// The target answered.
    Reached,
    /// A hop said there is no way on.
    Unreachable,
}

impl Hop {
    /// Adds one try's probe result to the hop; what it means for the route.
    pub fn add(&mut self, p: Option<hop::Answer>) -> Step {
        let Some(a) = p else {
            self.rtts.push(None);
            return Step::Next;
        };
        self.rtts.push(Some(a.rtt));
        self.addr = Some(a.from);
        match a.kind {
            Kind::TimeExceeded => Step::Next,
            Kind::Reached => Step::Reached,
            Kind::Unreachable(code) => {
                self.code = code;
                Step::Unreachable
            }
        }
    }
}

/// A round trip in ms as RTTimes wants it: 0 for no answer, else rounded, at least 1.
pub fn rtt_ms(d: Option<Duration>) -> u64 {
    match d {
        None => 0,
        Some(d) => ((d.as_micros() + 500) / 1000)
            .max(1)
            .min(u128::from(u64::MAX)) as u64,
    }
}

/// The result parameters: `hops` in order, `reached` when the last one is the target.
pub fn results(hops: &[Hop], reached: bool, used: IpAddr) -> Vec<(String, String)> {
    let response = match hops.last() {
        Some(last) if reached => {
            let got: Vec<Duration> = last.rtts.iter().flatten().copied().collect();
            let n = got.len().max(1) as u32;
            rtt_ms(Some(got.iter().sum::<Duration>() / n))
        }
        _ => 0,
    };
    let mut v = vec![
        ("IPAddressUsed".to_string(), used.to_string()),
        ("ResponseTime".to_string(), response.to_string()),
        (
            "RouteHopsNumberOfEntries".to_string(),
            hops.len().to_string(),
        ),
    ];
    for (i, h) in hops.iter().enumerate() {
        let addr = h.addr.map(|a| a.to_string()).unwrap_or_default();
        let times: Vec<String> = h.rtts.iter().map(|r| rtt_ms(*r).to_string()).collect();
        let n = i + 1;
        v.push((format!("RouteHops.{n}.Host"), addr.clone()));
        v.push((format!("RouteHops.{n}.HostAddress"), addr));
        v.push((format!("RouteHops.{n}.ErrorCode"), h.code.to_string()));
        v.push((format!("RouteHops.{n}.RTTimes"), times.join(",")));
    }
    v
}

/// The test's inputs after defaults and limits.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan {
    to: Target,
    tries: u32,
    timeout: Duration,
    size: usize,
    max_hops: u32,
}

fn plan(inputs: &Inputs) -> Option<Plan> {
    // Defaults are the ones TR-181 says the CPE SHOULD use.
    Some(Plan {
        to: Target::from_inputs(inputs)?,
        tries: target::uint(inputs, "NumberOfTries", 3, 1, MAX_TRIES),
        timeout: Duration::from_millis(
            target::uint(inputs, "Timeout", 5000, 1, MAX_TIMEOUT_MS).into(),
        ),
        size: target::uint(inputs, "DataBlockSize", 38, 1, 65535) as usize,
        max_hops: target::uint(inputs, "MaxHopCount", 30, 1, MAX_HOPS),
    })
}

/// Runs the test (see [`super::run`]).
pub fn run(inputs: &Inputs, cancel: &Cancel) -> Outcome {
    let started = Instant::now();
    let Some(plan) = plan(inputs) else {
        return Outcome::error("Error_Other");
    };
    let (addr, used) = match plan.to.locate("TraceRoute", cancel) {
        Ok(found) => found,
        Err(end) => return end,
    };
    let opts = hop::Options {
        dscp: plan.to.dscp,
        device: plan.to.device.clone(),
        size: plan.size.min(target::max_payload(addr)),
    };
    let mut hops: Vec<Hop> = Vec::new();
    let mut port = BASE_PORT;
    for ttl in 1..=plan.max_hops {
        let mut h = Hop::default();
        let mut end = Step::Next;
        for _ in 0..plan.tries {
            if started.elapsed() >= target::TEST_BUDGET {
                log::warn!("TraceRoute: stopped at hop {ttl}, the test budget is spent");
                return Outcome {
                    state: "Error_Other".into(),
                    values: results(&hops, false, used),
                };
            }
            let dst = SocketAddr::new(addr, port);
            port = port.wrapping_add(1).max(BASE_PORT);
            let step = match hop::probe(dst, ttl as u8, &opts, plan.timeout, cancel) {
                Ok(Probe::Answer(a)) => h.add(Some(a)),
                Ok(Probe::Silent) => h.add(None),
                Ok(Probe::Cancelled) => return Outcome::error("Canceled"),
                Err(e) if sock::is_no_route(&e) => {
                    h.rtts.push(None);
                    Step::Unreachable
                }
                Err(e) => {
                    log::warn!("TraceRoute: probe to {dst} with TTL {ttl}: {e}");
                    return Outcome::error("Error_Other");
                }
            };
            if step != Step::Next {
                end = step;
            }
        }
        hops.push(h);
        match end {
            Step::Next => {}
            Step::Reached => {
                return Outcome {
                    state: "Complete".into(),
                    values: results(&hops, true, used),
                }
            }
            Step::Unreachable => {
                return Outcome {
                    state: "Error_NoRouteToHost".into(),
                    values: results(&hops, false, used),
                }
            }
        }
    }
    Outcome {
        state: "Error_MaxHopCountExceeded".into(),
        values: results(&hops, false, used),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultCode;

    fn ans(from: &str, ms: u64, kind: Kind) -> Option<hop::Answer> {
        Some(hop::Answer {
            from: from.parse().unwrap(),
            rtt: Duration::from_millis(ms),
            kind,
        })
    }

    #[test]
    fn hops_fill_and_end_the_route() {
        let mut h = Hop::default();
        assert_eq!(h.add(ans("10.0.0.1", 3, Kind::TimeExceeded)), Step::Next);
        assert_eq!(h.add(None), Step::Next);
        assert_eq!(h.add(ans("10.0.0.2", 5, Kind::TimeExceeded)), Step::Next);
        assert_eq!(h.addr, Some("10.0.0.2".parse().unwrap()));
        let mut t = Hop::default();
        assert_eq!(t.add(ans("10.0.9.9", 7, Kind::Reached)), Step::Reached);
        assert_eq!(t.code, 0);
        let mut u = Hop::default();
        assert_eq!(
            u.add(ans("10.0.0.1", 1, Kind::Unreachable(1))),
            Step::Unreachable
        );
        assert_eq!(u.code, 1);
    }

    #[test]
    fn result_table() {
        let hops = vec![
            Hop {
                addr: Some("10.0.0.1".parse().unwrap()),
                code: 0,
                rtts: vec![
                    Some(Duration::from_micros(200)),
                    None,
                    Some(Duration::from_micros(2600)),
                ],
            },
            Hop::default(),
            Hop {
                addr: Some("10.0.9.9".parse().unwrap()),
                code: 0,
                rtts: vec![
                    Some(Duration::from_millis(4)),
                    Some(Duration::from_millis(6)),
                    None,
                ],
            },
        ];
        let r = results(&hops, true, "10.0.0.7".parse().unwrap());
        let get = |k: &str| r.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("IPAddressUsed"), Some("10.0.0.7"));
        assert_eq!(get("ResponseTime"), Some("5"));
        assert_eq!(get("RouteHopsNumberOfEntries"), Some("3"));
        assert_eq!(get("RouteHops.1.Host"), Some("10.0.0.1"));
        assert_eq!(get("RouteHops.1.HostAddress"), Some("10.0.0.1"));
        assert_eq!(get("RouteHops.1.RTTimes"), Some("1,0,3"));
        assert_eq!(get("RouteHops.2.Host"), Some(""));
        assert_eq!(get("RouteHops.2.RTTimes"), Some(""));
        assert_eq!(get("RouteHops.3.ErrorCode"), Some("0"));
        assert_eq!(get("RouteHops.4.Host"), None);
        let r = results(&hops, false, "10.0.0.7".parse().unwrap());
        assert!(r.contains(&("ResponseTime".into(), "0".into())));
    }

    #[test]
    fn checks_and_limits() {
        for (name, ok, bad) in [
            ("NumberOfTries", "3", "4"),
            ("NumberOfTries", "1", "0"),
            ("MaxHopCount", "64", "65"),
            ("MaxHopCount", "1", "0"),
            ("Timeout", "60000", "60001"),
            ("DSCP", "0", "64"),
            ("DataBlockSize", "38", "65536"),
            ("ProtocolVersion", "Any", "IPv4 "),
        ] {
            assert!(check(name, ok).is_ok(), "{name}={ok}");
            let f = check(name, bad).unwrap_err();
            assert_eq!(f.code, FaultCode::INVALID_PARAMETER_VALUE, "{name}={bad}");
        }
    }

    #[test]
    fn plan_uses_tr181_defaults() {
        let p = plan(&Inputs::new()).unwrap();
        assert_eq!(
            (p.tries, p.timeout, p.size, p.max_hops),
            (3, Duration::from_secs(5), 38, 30)
        );
    }

    #[test]
    fn loopback_is_one_hop() {
        let mut i = Inputs::new();
        i.insert("Host".into(), "127.0.0.1".into());
        i.insert("Timeout".into(), "2000".into());
        let o = run(&i, &Cancel::new());
        assert_eq!(o.state, "Complete", "{o:?}");
        assert!(o
            .values
            .contains(&("RouteHopsNumberOfEntries".into(), "1".into())));
        assert!(o
            .values
            .contains(&("RouteHops.1.HostAddress".into(), "127.0.0.1".into())));
    }
}
