//! UDPEcho: the pure parts, then real echo servers on loopback.

use super::*;
use crate::diag::testing::{assert_cancel_ends, get, inputs, udp_server};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An echo server answering datagrams for which `answer(index)` holds, through `reply`;
/// returns its address and the count of datagrams it saw.
fn server(answer: fn(usize) -> bool, reply: fn(&mut [u8])) -> (SocketAddr, Arc<AtomicUsize>) {
    udp_server(move |i, d| {
        if !answer(i) {
            return Vec::new();
        }
        let mut d = d.to_vec();
        reply(&mut d);
        vec![d]
    })
}

fn plain(_: &mut [u8]) {}

#[test]
fn datagrams_carry_the_sequence_number_and_match_only_their_answer() {
    let d = datagram(7, 64);
    assert_eq!(d.len(), 64);
    assert_eq!(&d[..4], &[0, 0, 0, 7]);
    assert_eq!(matches(&d, &d), Some([0; 4]));
    let mut plus = d.clone();
    plus[4..8].copy_from_slice(&9u32.to_be_bytes());
    plus[16..20].copy_from_slice(&2u32.to_be_bytes());
    assert_eq!(matches(&d, &plus), Some([9, 0, 0, 2]));
    assert_eq!(matches(&d, &datagram(8, 64)), None);
    assert_eq!(matches(&d, &d[..63]), None);
    let tiny = datagram(0x01020304, 2);
    assert_eq!(tiny, vec![1, 2]);
    assert_eq!(matches(&tiny, &[1, 2]), Some([0; 4]));
    assert_eq!(datagram(1, 100_000).len(), 65507);
}

#[test]
fn stats_over_answers_and_losses() {
    let ms = Duration::from_millis;
    assert_eq!(stats([].into_iter()), (0, 0, 0, 0, 0));
    assert_eq!(stats([None, None].into_iter()), (0, 2, 0, 0, 0));
    assert_eq!(
        stats([Some(ms(1)), None, Some(ms(3))].into_iter()),
        (2, 1, 2000, 1000, 3000)
    );
}

#[test]
fn checks_refuse_what_is_out_of_range_or_over_our_caps() {
    assert!(check("NumberOfRepetitions", "10000").is_ok());
    for (n, v) in [
        ("NumberOfRepetitions", "1000000000"),
        ("NumberOfRepetitions", "0"),
        ("Port", "0"),
        ("Port", "65536"),
        ("Timeout", "0"),
        ("DataBlockSize", "65536"),
        ("InterTransmissionTime", "0"),
        ("DSCP", "64"),
        ("ProtocolVersion", "IPv5"),
        ("EnableIndividualPacketResults", "maybe"),
    ] {
        let f = check(n, v).unwrap_err();
        assert_eq!(
            f.code,
            crate::fault::FaultCode::INVALID_PARAMETER_VALUE,
            "{n}={v}"
        );
    }
}

#[test]
fn echoes_against_a_real_server() {
    let (addr, seen) = server(|_| true, plain);
    let port = addr.port().to_string();
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("Port", &port),
        ("NumberOfRepetitions", "5"),
        ("Timeout", "1000"),
        ("DataBlockSize", "100"),
        ("InterTransmissionTime", "10"),
        ("EnableIndividualPacketResults", "1"),
    ]);
    let o = run(&i, &Cancel::new());
    assert_eq!(o.state, "Complete");
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert_eq!(
        (get(&o, "SuccessCount"), get(&o, "FailureCount")),
        ("5", "0")
    );
    let t = |k| get(&o, k).parse::<u32>().unwrap();
    let (min, avg, max) = (
        t("MinimumResponseTime"),
        t("AverageResponseTime"),
        t("MaximumResponseTime"),
    );
    assert!(0 < max && min <= avg && avg <= max && max < 1_000_000);
    assert_eq!(get(&o, "IPAddressUsed"), "127.0.0.1");
    assert_eq!(get(&o, "IndividualPacketResultNumberOfEntries"), "5");
    for k in 1..=5 {
        let p = format!("IndividualPacketResult.{k}.");
        assert_eq!(get(&o, &format!("{p}TestGenSN")), k.to_string());
        assert_eq!(get(&o, &format!("{p}PacketSuccess")), "true");
        assert!(
            get(&o, &format!("{p}PacketSendTime")) <= get(&o, &format!("{p}PacketReceiveTime"))
        );
    }
}

#[test]
fn losses_are_failures_and_echo_plus_fields_are_reported() {
    fn fill(d: &mut [u8]) {
        d[4..8].copy_from_slice(&42u32.to_be_bytes());
    }
    let (addr, _) = server(|i| i % 2 == 0, fill);
    let port = addr.port().to_string();
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("Port", &port),
        ("NumberOfRepetitions", "4"),
        ("Timeout", "150"),
        ("InterTransmissionTime", "1"),
        ("EnableIndividualPacketResults", "true"),
    ]);
    let t = Instant::now();
    let o = run(&i, &Cancel::new());
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        (get(&o, "SuccessCount"), get(&o, "FailureCount")),
        ("2", "2")
    );
    assert_eq!(get(&o, "IndividualPacketResult.1.TestRespSN"), "42");
    assert_eq!(get(&o, "IndividualPacketResult.2.PacketSuccess"), "false");
    assert_eq!(
        get(&o, "IndividualPacketResult.2.PacketReceiveTime"),
        crate::time::UNKNOWN_TIME
    );
}

#[test]
fn unreachable_targets_and_cancel() {
    let o = run(&inputs(&[("Host", "no-such-host.invalid")]), &Cancel::new());
    assert_eq!(o.state, "Error_CannotResolveHostName");
    // A closed port: ICMP port unreachable, every datagram a failure, no hang.
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("Port", &closed),
        ("NumberOfRepetitions", "3"),
        ("Timeout", "100"),
        ("InterTransmissionTime", "1"),
    ]);
    let o = run(&i, &Cancel::new());
    assert_eq!(
        (
            o.state.as_str(),
            get(&o, "SuccessCount"),
            get(&o, "FailureCount")
        ),
        ("Complete", "0", "3")
    );
    // Silence with a long timeout: cancel ends it within a poll or two.
    let (addr, _) = server(|_| false, plain);
    let port = addr.port().to_string();
    let i = inputs(&[
        ("Host", "127.0.0.1"),
        ("Port", &port),
        ("NumberOfRepetitions", "100"),
        ("Timeout", "60000"),
    ]);
    assert_cancel_ends(Duration::from_millis(100), |c| run(&i, c));
}

#[test]
fn probes_time_one_echo_or_time_out() {
    let (addr, seen) = server(|_| true, plain);
    let rtt = probe(addr, 32, Duration::from_secs(1)).unwrap();
    assert!(rtt < Duration::from_secs(1));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let (quiet, _) = server(|_| false, plain);
    let t = Instant::now();
    let e = probe(quiet, 32, Duration::from_millis(200)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(t.elapsed() >= Duration::from_millis(200) && t.elapsed() < Duration::from_millis(1200));
}
