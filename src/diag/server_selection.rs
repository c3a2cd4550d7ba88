//! ServerSelectionDiagnostics: `NumberOfRepetitions` probes (ICMP echo through
//! [`super::ipping::probe`], or UDP echo through [`super::udpecho::probe`]) to each host of
//! `HostList`; the fastest is the one with the lowest average response time.
//!
//! `HostList` items are names or address literals; with `Protocol=UDP Echo` an item may
//! carry a port (`host:port`, `[v6]:port`), 7 (echo) otherwise. Hosts that do not resolve
//! are skipped (`Error_CannotResolveHostName` when none does); when no host answers at all
//! the test ends in `Error_Other` (`Error_Internal` when the probe itself is unsupported on
//! this system, e.g. no ICMP socket allowed).
//!
//! Limits: at most [`MAX_HOSTS`] hosts, [`MAX_REPETITIONS`] repetitions and a
//! [`MAX_TIMEOUT_MS`] timeout (9007 above). Each probe runs on a short-lived thread so the
//! [`Cancel`] is still polled every 100 ms while a probe waits.

use super::net::{self, check_uint, Family, POLL};
use super::{Cancel, Inputs, Outcome};
use crate::fault::Fault;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

/// Most hosts in `HostList`.
pub const MAX_HOSTS: usize = 10;
/// Most repetitions per host.
pub const MAX_REPETITIONS: u64 = 100;
/// Longest per-probe timeout, in ms.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Data bytes of each probe.
const PROBE_SIZE: usize = 24;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(name: &str, value: &str) -> Result<(), Fault> {
    if let Some(r) = net::check_common(name, value) {
        return r;
    }
    match name {
        "Protocol" => net::check_enum(name, value, &["ICMP", "UDP Echo"]),
        "NumberOfRepetitions" => check_uint(name, value, 1, MAX_REPETITIONS),
        "Timeout" => check_uint(name, value, 1, MAX_TIMEOUT_MS),
        "HostList" => {
            let items: Vec<&str> = value.split(',').map(str::trim).collect();
            if value.trim().is_empty() {
                Ok(())
            } else if items.len() > MAX_HOSTS {
                Err(net::bad(name, value, &format!("at most {MAX_HOSTS} hosts")))
            } else if items.iter().any(|h| h.is_empty() || h.len() > 256) {
                Err(net::bad(name, value, "empty or over-long host"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// The probes of one host: its round-trip times (`None` for a lost probe).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probed {
    /// The `HostList` item, as given (`FastestHost` reports it so).
    pub host: String,
    /// Where the probes went.
    pub addr: SocketAddr,
    /// One entry per probe.
    pub rtts: Vec<Option<Duration>>,
}

/// The fastest host (lowest average over its answered probes) and its
/// (average, minimum, maximum) in microseconds; `None` when no probe was answered.
pub(crate) fn fastest(hosts: &[Probed]) -> Option<(&Probed, (u32, u32, u32))> {
    hosts
        .iter()
        .filter_map(|h| {
            let (ok, _, avg, min, max) = super::udpecho::stats(h.rtts.iter().copied());
            (ok > 0).then_some((h, (avg, min, max)))
        })
        .min_by_key(|(_, (avg, _, _))| *avg)
}

/// Runs the test (see [`super::run`]).
pub fn run(inputs: &Inputs, cancel: &Cancel) -> Outcome {
    let icmp = net::text(inputs, "Protocol") != "UDP Echo";
    let family = Family::of(inputs);
    let reps = net::uint(inputs, "NumberOfRepetitions", 1).clamp(1, MAX_REPETITIONS);
    let timeout =
        Duration::from_millis(net::uint(inputs, "Timeout", 1000).clamp(1, MAX_TIMEOUT_MS));
    let targets: Vec<(String, SocketAddr)> = net::text(inputs, "HostList")
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .take(MAX_HOSTS)
        .filter_map(|item| {
            let (host, port) = if icmp {
                (item.trim_start_matches('[').trim_end_matches(']'), 0)
            } else {
                net::split_host_port(item, 7)?
            };
            Some((item.to_string(), net::resolve(host, port, family)?))
        })
        .collect();
    if targets.is_empty() {
        return Outcome::error("Error_CannotResolveHostName");
    }
    let mut probed = Vec::new();
    let mut unsupported = true;
    for (host, addr) in targets {
        let mut rtts = Vec::new();
        for _ in 0..reps {
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                let r = if icmp {
                    super::ipping::probe(addr.ip(), PROBE_SIZE, timeout)
                } else {
                    super::udpecho::probe(addr, PROBE_SIZE, timeout)
                };
                let _ = tx.send(r);
            });
            let r = loop {
                if cancel.is_cancelled() {
                    return Outcome::error("Canceled");
                }
                match rx.recv_timeout(POLL) {
                    Ok(r) => break r,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break Err(ErrorKind::Other.into()),
                }
            };
            unsupported &= matches!(&r, Err(e) if e.kind() == ErrorKind::Unsupported);
            rtts.push(r.ok());
        }
        probed.push(Probed { host, addr, rtts });
    }
    let Some((best, (avg, min, max))) = fastest(&probed) else {
        return Outcome::error(if unsupported {
            "Error_Internal"
        } else {
            "Error_Other"
        });
    };
    let mut values = vec![
        ("FastestHost".to_string(), best.host.clone()),
        ("MinimumResponseTime".to_string(), min.to_string()),
        ("AverageResponseTime".to_string(), avg.to_string()),
        ("MaximumResponseTime".to_string(), max.to_string()),
    ];
    if let Some(ip) = net::source_for(best.addr) {
        values.push(("IPAddressUsed".to_string(), ip.to_string()));
    }
    Outcome {
        state: "Complete".into(),
        values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::testing::{assert_cancel_ends, get, inputs, udp_server};
    use std::net::UdpSocket;
    use std::time::Instant;

    /// An echo server that answers after `delay`.
    fn echo(delay: Duration) -> SocketAddr {
        udp_server(move |_, d| {
            std::thread::sleep(delay);
            vec![d.to_vec()]
        })
        .0
    }

    #[test]
    fn the_fastest_is_the_lowest_average_of_answered_probes() {
        let ms = |n| Some(Duration::from_millis(n));
        let p = |h: &str, rtts| Probed {
            host: h.into(),
            addr: "127.0.0.1:7".parse().unwrap(),
            rtts,
        };
        let hosts = [
            p("a", vec![ms(5), ms(5)]),
            p("b", vec![ms(1), None, ms(3)]),
            p("c", vec![None]),
        ];
        let (best, times) = fastest(&hosts).unwrap();
        assert_eq!((best.host.as_str(), times), ("b", (2000, 1000, 3000)));
        assert!(fastest(&hosts[2..]).is_none());
    }

    #[test]
    fn checks() {
        assert!(check("HostList", "a,b, c").is_ok());
        assert!(check("HostList", &["h"; MAX_HOSTS + 1].join(",")).is_err());
        assert!(check("HostList", "a,,b").is_err());
        assert!(check("Protocol", "TCP").is_err());
        assert!(check("Protocol", "UDP Echo").is_ok());
        assert!(check("NumberOfRepetitions", "1000000000").is_err());
        assert!(check("Timeout", "0").is_err());
    }

    #[test]
    fn udp_echo_picks_the_fastest_of_real_servers() {
        let slow = echo(Duration::from_millis(60));
        let fast = echo(Duration::ZERO);
        let list = format!("no-such-host.invalid,{slow},{fast}");
        let i = inputs(&[
            ("Protocol", "UDP Echo"),
            ("HostList", &list),
            ("NumberOfRepetitions", "3"),
            ("Timeout", "1000"),
        ]);
        let o = run(&i, &Cancel::new());
        assert_eq!(o.state, "Complete", "{o:?}");
        assert_eq!(get(&o, "FastestHost"), fast.to_string());
        let t = |k| get(&o, k).parse::<u32>().unwrap();
        assert!(t("MinimumResponseTime") <= t("AverageResponseTime"));
        assert!(t("MaximumResponseTime") < 60_000, "{o:?}");
        assert_eq!(get(&o, "IPAddressUsed"), "127.0.0.1");
    }

    #[test]
    fn failure_states() {
        let i = inputs(&[
            ("Protocol", "UDP Echo"),
            ("HostList", "no-such-host.invalid"),
        ]);
        assert_eq!(run(&i, &Cancel::new()).state, "Error_CannotResolveHostName");
        let quiet = UdpSocket::bind("127.0.0.1:0").unwrap();
        let list = quiet.local_addr().unwrap().to_string();
        let i = inputs(&[
            ("Protocol", "UDP Echo"),
            ("HostList", &list),
            ("NumberOfRepetitions", "2"),
            ("Timeout", "100"),
        ]);
        assert_eq!(run(&i, &Cancel::new()).state, "Error_Other");
        // ICMP goes through ipping::probe: whatever it answers, the test ends and is bounded.
        let i = inputs(&[
            ("Protocol", "ICMP"),
            ("HostList", "127.0.0.1"),
            ("Timeout", "500"),
        ]);
        let t = Instant::now();
        let o = run(&i, &Cancel::new());
        assert!(
            ["Complete", "Error_Internal", "Error_Other"].contains(&o.state.as_str()),
            "{o:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(2));
        // Cancel while a probe waits.
        let i = inputs(&[
            ("Protocol", "UDP Echo"),
            ("HostList", &list),
            ("NumberOfRepetitions", "5"),
            ("Timeout", "60000"),
        ]);
        assert_cancel_ends(Duration::from_millis(100), |c| run(&i, c));
    }
}
