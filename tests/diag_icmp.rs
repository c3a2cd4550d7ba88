//! IPPing and TraceRoute against real sockets: loopback, and chains of network namespaces
//! joined by veth pairs with routing between them (root only: those tests say "skipped" and
//! pass when not root).

mod netns_lab;

use icwmp::diag::icmp::{self, EchoSocket, SocketKind};
use icwmp::diag::{ipping, traceroute, Cancel, Inputs, Outcome};
use netns_lab::{in_silent_net, is_root, sysctl, Chain};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

fn inputs(pairs: &[(&str, &str)]) -> Inputs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(o: &'a Outcome, name: &str) -> &'a str {
    o.values
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {o:?}"))
}

fn num(o: &Outcome, name: &str) -> u64 {
    get(o, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} not a number in {o:?}"))
}

/// Whether this process may open an ICMP socket towards `addr` (ping socket or raw).
fn can_ping(addr: &str) -> bool {
    let ok = EchoSocket::open(addr.parse().unwrap(), &icmp::Options::default()).is_ok();
    if !ok {
        eprintln!("skipped: no ICMP socket to {addr} (neither ping_group_range nor root)");
    }
    ok
}

fn assert_all_answered(o: &Outcome, reps: u64, used: &str) {
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(num(o, "SuccessCount"), reps, "{o:?}");
    assert_eq!(num(o, "FailureCount"), 0);
    assert_eq!(get(o, "IPAddressUsed"), used);
    let (min, avg, max) = (
        num(o, "MinimumResponseTimeDetailed"),
        num(o, "AverageResponseTimeDetailed"),
        num(o, "MaximumResponseTimeDetailed"),
    );
    assert!(0 < min && min <= avg && avg <= max, "{o:?}");
    assert!(max < 1_000_000, "a loopback echo took {max} µs");
    let (min, avg, max) = (
        num(o, "MinimumResponseTime"),
        num(o, "AverageResponseTime"),
        num(o, "MaximumResponseTime"),
    );
    assert!(1 <= min && min <= avg && avg <= max, "{o:?}");
}

#[test]
fn ipping_loopback_v4() {
    if !can_ping("127.0.0.1") {
        return;
    }
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("NumberOfRepetitions", "5"),
        ("DataBlockSize", "1000"),
    ]);
    assert_all_answered(&ipping::run(&i, &Cancel::new()), 5, "127.0.0.1");
}

#[test]
fn ipping_loopback_v6_by_name_family() {
    if !can_ping("::1") {
        return;
    }
    let i = inputs(&[
        ("Host", "::1"),
        ("ProtocolVersion", "IPv6"),
        ("NumberOfRepetitions", "4"),
    ]);
    assert_all_answered(&ipping::run(&i, &Cancel::new()), 4, "::1");
    // "localhost" restricted to IPv4 resolves to the IPv4 loopback.
    let i = inputs(&[
        ("Host", "localhost"),
        ("ProtocolVersion", "IPv4"),
        ("NumberOfRepetitions", "2"),
    ]);
    assert_all_answered(&ipping::run(&i, &Cancel::new()), 2, "127.0.0.1");
}

#[test]
fn ipping_largest_block_is_sent() {
    if !can_ping("127.0.0.1") {
        return;
    }
    // 65535 does not fit one IPv4 datagram after the headers: sent at 65507.
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("NumberOfRepetitions", "1"),
        ("DataBlockSize", "65535"),
    ]);
    assert_all_answered(&ipping::run(&i, &Cancel::new()), 1, "127.0.0.1");
}

#[test]
fn probe_times_one_echo() {
    if !can_ping("127.0.0.1") {
        return;
    }
    let rtt = ipping::probe("127.0.0.1".parse().unwrap(), 56, Duration::from_secs(2)).unwrap();
    assert!(
        rtt > Duration::ZERO && rtt < Duration::from_secs(1),
        "{rtt:?}"
    );
}

#[test]
fn unresolvable_host() {
    let t0 = Instant::now();
    let i = inputs(&[("Host", "no-such-host.invalid")]);
    assert_eq!(
        ipping::run(&i, &Cancel::new()),
        Outcome::error("Error_CannotResolveHostName")
    );
    assert_eq!(
        traceroute::run(&i, &Cancel::new()),
        Outcome::error("Error_CannotResolveHostName")
    );
    // Bounded: the lookup is abandoned after 5 s each.
    assert!(t0.elapsed() < Duration::from_secs(12), "{:?}", t0.elapsed());
}

#[test]
fn unknown_interface_is_an_error() {
    let i = inputs(&[("Host", "127.0.0.1"), ("Interface", "nosuchif0")]);
    assert_eq!(ipping::run(&i, &Cancel::new()).state, "Error_Other");
    assert_eq!(traceroute::run(&i, &Cancel::new()).state, "Error_Other");
}

#[test]
fn interface_binding_to_lo() {
    if !is_root() {
        eprintln!("skipped: SO_BINDTODEVICE test needs root");
        return;
    }
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("Interface", "lo"),
        ("NumberOfRepetitions", "2"),
    ]);
    assert_all_answered(&ipping::run(&i, &Cancel::new()), 2, "127.0.0.1");
}

#[test]
fn ipping_silent_host_fails_every_echo() {
    in_silent_net(|| {
        let t0 = Instant::now();
        let i = inputs(&[
            ("Host", "10.9.0.2"),
            ("NumberOfRepetitions", "3"),
            ("Timeout", "150"),
        ]);
        let o = ipping::run(&i, &Cancel::new());
        let took = t0.elapsed();
        assert_eq!(o.state, "Complete", "{o:?}");
        assert_eq!(num(&o, "SuccessCount"), 0);
        assert_eq!(num(&o, "FailureCount"), 3);
        for k in [
            "AverageResponseTime",
            "MinimumResponseTime",
            "MaximumResponseTimeDetailed",
        ] {
            assert_eq!(num(&o, k), 0, "{k}");
        }
        assert_eq!(get(&o, "IPAddressUsed"), "10.9.0.1");
        // Each echo waited its Timeout, no more than that by far.
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(3),
            "{took:?}"
        );
    });
}

#[test]
fn traceroute_silent_hops_are_listed_empty() {
    in_silent_net(|| {
        let i = inputs(&[
            ("Host", "10.9.0.2"),
            ("MaxHopCount", "2"),
            ("NumberOfTries", "2"),
            ("Timeout", "100"),
        ]);
        let t0 = Instant::now();
        let o = traceroute::run(&i, &Cancel::new());
        let took = t0.elapsed();
        assert_eq!(o.state, "Error_MaxHopCountExceeded", "{o:?}");
        assert_eq!(num(&o, "RouteHopsNumberOfEntries"), 2);
        for n in 1..=2 {
            assert_eq!(get(&o, &format!("RouteHops.{n}.Host")), "");
            assert_eq!(get(&o, &format!("RouteHops.{n}.HostAddress")), "");
            assert_eq!(get(&o, &format!("RouteHops.{n}.RTTimes")), "0,0");
        }
        assert_eq!(num(&o, "ResponseTime"), 0);
        assert_eq!(get(&o, "IPAddressUsed"), "10.9.0.1");
        // 2 hops x 2 tries, each waiting its 100 ms.
        assert!(
            took >= Duration::from_millis(400) && took < Duration::from_secs(3),
            "{took:?}"
        );
    });
}

#[test]
fn no_route_to_host() {
    in_silent_net(|| {
        let i = inputs(&[("Host", "10.8.0.1"), ("Timeout", "100")]);
        assert_eq!(ipping::run(&i, &Cancel::new()).state, "Error_NoRouteToHost");
        assert_eq!(
            traceroute::run(&i, &Cancel::new()).state,
            "Error_NoRouteToHost"
        );
    });
}

#[test]
fn cancel_stops_a_long_test_promptly() {
    in_silent_net(|| {
        for long in [
            inputs(&[
                ("Host", "10.9.0.2"),
                ("NumberOfRepetitions", "1000"),
                ("Timeout", "60000"),
            ]),
            inputs(&[("Host", "10.9.0.2"), ("Timeout", "60000")]),
        ] {
            let cancel = Cancel::new();
            let c2 = cancel.clone();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                c2.cancel();
                Instant::now()
            });
            let ping = long.contains_key("NumberOfRepetitions");
            let o = if ping {
                ipping::run(&long, &cancel)
            } else {
                traceroute::run(&long, &cancel)
            };
            let cancelled_at = t.join().unwrap();
            assert_eq!(o.state, "Canceled");
            assert!(
                cancelled_at.elapsed() < Duration::from_millis(150),
                "ping={ping}"
            );
        }
    });
}

#[test]
fn ping_socket_when_allowed_raw_socket_otherwise() {
    in_silent_net(|| {
        for (range, kind) in [
            ("0 2147483647", SocketKind::Datagram),
            ("1 0", SocketKind::Raw),
        ] {
            sysctl("net.ipv4.ping_group_range", range);
            for addr in ["127.0.0.1", "::1"] {
                let ip: IpAddr = addr.parse().unwrap();
                let s = EchoSocket::open(ip, &icmp::Options::default()).unwrap();
                assert_eq!(s.kind(), kind, "{addr} with ping_group_range {range}");
                let i = inputs(&[("Host", addr), ("NumberOfRepetitions", "3")]);
                assert_all_answered(&ipping::run(&i, &Cancel::new()), 3, addr);
            }
        }
        // Ping sockets alone refused: the error the engine turns into Error_Internal.
        let only = icmp::Options {
            only: Some(SocketKind::Datagram),
            ..Default::default()
        };
        let e = EchoSocket::open("127.0.0.1".parse().unwrap(), &only).unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM)),
            "{e}"
        );
    });
}

#[test]
fn dscp_marks_the_echoes() {
    in_silent_net(|| {
        // A raw listener sees every ICMP packet on lo, IP header included.
        // SAFETY: plain socket(2), closed by the OwnedFd below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        assert!(fd >= 0);
        // SAFETY: fd is fresh and owned only here.
        let sniff = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let i = inputs(&[
            ("Host", "127.0.0.1"),
            ("NumberOfRepetitions", "1"),
            ("DSCP", "46"),
        ]);
        assert_eq!(ipping::run(&i, &Cancel::new()).state, "Complete");
        let mut buf = [0u8; 2048];
        // SAFETY: buf is live; MSG_DONTWAIT: the packets are queued already.
        let n = unsafe {
            libc::recv(
                sniff.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        assert!(n > 28, "no packet seen");
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        assert_eq!(buf[ihl], 8, "first packet is the echo request");
        assert_eq!(buf[1] >> 2, 46, "TOS byte {:#x}", buf[1]);
    });
}

fn trace(chain: &Chain, pairs: &[(&str, &str)]) -> Outcome {
    let i = inputs(pairs);
    chain.run_in(0, move || traceroute::run(&i, &Cancel::new()))
}

fn assert_hops(o: &Outcome, hops: &[&str], tries: usize) {
    assert_eq!(
        num(o, "RouteHopsNumberOfEntries"),
        hops.len() as u64,
        "{o:?}"
    );
    for (n, want) in hops.iter().enumerate() {
        let n = n + 1;
        assert_eq!(
            get(o, &format!("RouteHops.{n}.HostAddress")),
            *want,
            "hop {n}: {o:?}"
        );
        assert_eq!(get(o, &format!("RouteHops.{n}.Host")), *want);
        let times: Vec<u64> = get(o, &format!("RouteHops.{n}.RTTimes"))
            .split(',')
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(times.len(), tries);
        assert!(
            times.iter().all(|&t| (1..1000).contains(&t)),
            "hop {n}: {times:?}"
        );
    }
}

#[test]
fn traceroute_three_hops_v4_and_v6() {
    let Some(chain) = Chain::new(4) else { return };
    let o = trace(&chain, &[("Host", "10.3.0.2"), ("Timeout", "2000")]);
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(get(&o, "IPAddressUsed"), "10.1.0.1");
    assert_hops(&o, &["10.1.0.2", "10.2.0.2", "10.3.0.2"], 3);
    for n in 1..=3 {
        assert_eq!(get(&o, &format!("RouteHops.{n}.ErrorCode")), "0");
    }
    assert!(num(&o, "ResponseTime") >= 1);
    let o = trace(
        &chain,
        &[
            ("Host", "fd00:3::2"),
            ("ProtocolVersion", "IPv6"),
            ("NumberOfTries", "2"),
            ("Timeout", "2000"),
        ],
    );
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(get(&o, "IPAddressUsed"), "fd00:1::1");
    assert_hops(&o, &["fd00:1::2", "fd00:2::2", "fd00:3::2"], 2);
}

#[test]
fn traceroute_max_hop_count_exceeded() {
    let Some(chain) = Chain::new(4) else { return };
    let o = trace(
        &chain,
        &[
            ("Host", "10.3.0.2"),
            ("MaxHopCount", "2"),
            ("NumberOfTries", "1"),
        ],
    );
    assert_eq!(o.state, "Error_MaxHopCountExceeded", "{o:?}");
    assert_hops(&o, &["10.1.0.2", "10.2.0.2"], 1);
    assert_eq!(num(&o, "ResponseTime"), 0);
}

#[test]
fn traceroute_stops_at_an_unreachable_hop() {
    let Some(chain) = Chain::new(3) else { return };
    // The client sends 10.7/16 on; the second router says "host unreachable" (code 1).
    chain.ip(0, &["route", "add", "10.7.0.0/16", "via", "10.1.0.2"]);
    chain.ip(1, &["route", "add", "10.7.0.0/16", "via", "10.2.0.2"]);
    chain.ip(2, &["route", "add", "unreachable", "10.7.0.0/16"]);
    let o = trace(&chain, &[("Host", "10.7.0.1"), ("NumberOfTries", "1")]);
    assert_eq!(o.state, "Error_NoRouteToHost", "{o:?}");
    assert_hops(&o, &["10.1.0.2", "10.2.0.2"], 1);
    assert_eq!(get(&o, "RouteHops.2.ErrorCode"), "1");
}

#[test]
fn ipping_across_routers() {
    let Some(chain) = Chain::new(3) else { return };
    let o = chain.run_in(0, || {
        let i = inputs(&[
            ("Host", "fd00:2::2"),
            ("NumberOfRepetitions", "3"),
            ("DSCP", "10"),
        ]);
        ipping::run(&i, &Cancel::new())
    });
    assert_all_answered(&o, 3, "fd00:1::1");
}

#[test]
fn link_local_target_with_zone() {
    let Some(chain) = Chain::new(2) else { return };
    let o = Command::new("ip")
        .args([
            "-n",
            &chain.names[1],
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            "l0b",
            "scope",
            "link",
        ])
        .output()
        .expect("run ip");
    let text = String::from_utf8_lossy(&o.stdout);
    let ll = text
        .split_whitespace()
        .skip_while(|w| *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no link-local address: {text}"))
        .to_string();
    let host = format!("{ll}%l0a");
    let (h2, ll2) = (host.clone(), ll.clone());
    let o = chain.run_in(0, move || {
        let i = inputs(&[("Host", &h2), ("NumberOfRepetitions", "2")]);
        ipping::run(&i, &Cancel::new())
    });
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(num(&o, "SuccessCount"), 2);
    assert!(get(&o, "IPAddressUsed").starts_with("fe80:"), "{o:?}");
    let o = trace(&chain, &[("Host", &host), ("NumberOfTries", "1")]);
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_hops(&o, &[&ll2], 1);
}

/// ServerSelectionDiagnostics with `Protocol=ICMP` goes through `ipping::probe`: of a list
/// with an unresolvable name and 127.0.0.1, loopback is the fastest host.
#[test]
fn server_selection_over_icmp_picks_the_host_that_answers() {
    if !can_ping("127.0.0.1") {
        return;
    }
    let i = inputs(&[
        ("Protocol", "ICMP"),
        ("HostList", "no-such-host.invalid,127.0.0.1"),
        ("NumberOfRepetitions", "3"),
        ("Timeout", "1000"),
    ]);
    let o = icwmp::diag::run(icwmp::diag::Kind::ServerSelection, &i, &Cancel::new());
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(get(&o, "FastestHost"), "127.0.0.1");
    assert!(num(&o, "MinimumResponseTime") <= num(&o, "MaximumResponseTime"));
    assert_eq!(get(&o, "IPAddressUsed"), "127.0.0.1");
}
