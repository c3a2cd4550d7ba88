//! NSLookup: the pure parts, then a tiny DNS server on loopback.

use super::*;
use crate::diag::testing::{assert_cancel_ends, get, inputs, udp_server};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `q` turned into a reply with `flags` and address records for its question.
fn answer(q: &[u8], flags: u16, addrs: &[IpAddr]) -> Vec<u8> {
    let mut r = q.to_vec();
    r[2..4].copy_from_slice(&flags.to_be_bytes());
    r[6..8].copy_from_slice(&(addrs.len() as u16).to_be_bytes());
    for a in addrs {
        let (t, data) = match a {
            IpAddr::V4(v) => (dns::TYPE_A, v.octets().to_vec()),
            IpAddr::V6(v) => (dns::TYPE_AAAA, v.octets().to_vec()),
        };
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&t.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
    }
    r
}

/// The question type of a query.
fn qtype(q: &[u8]) -> u16 {
    let (_, at) = dns::read_name(q, 12).unwrap();
    u16::from_be_bytes([q[at], q[at + 1]])
}

/// A DNS server answering each query with what `respond` gives (nothing for an empty
/// list); returns its address and how many queries it saw.
fn server(respond: fn(&[u8]) -> Vec<Vec<u8>>) -> (SocketAddr, Arc<AtomicUsize>) {
    udp_server(move |_, q| respond(q))
}

fn good(q: &[u8]) -> Vec<Vec<u8>> {
    // A spoof with the wrong id first, then the real answer.
    let mut spoof = answer(q, 0x8180, &["6.6.6.6".parse().unwrap()]);
    spoof[0] ^= 0xff;
    let real = if qtype(q) == dns::TYPE_A {
        answer(
            q,
            0x8580,
            &["192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()],
        )
    } else {
        answer(q, 0x8180, &["2001:db8::1".parse().unwrap()])
    };
    vec![spoof, real]
}

#[test]
fn first_nameserver_of_resolv_conf() {
    let conf = "# x\nsearch lan\nnameserver  192.168.1.1\nnameserver ::1\n";
    assert_eq!(
        first_nameserver(conf),
        Some("192.168.1.1:53".parse().unwrap())
    );
    assert_eq!(
        first_nameserver("nameserver fe80::1%eth0"),
        Some("[fe80::1]:53".parse().unwrap())
    );
    assert_eq!(first_nameserver("nameserver\nnameserver bogus\n"), None);
}

#[test]
fn checks() {
    assert!(check("NumberOfRepetitions", "100").is_ok());
    assert!(check("NumberOfRepetitions", "1000000000").is_err());
    assert!(check("Timeout", "60001").is_err());
    assert!(check("HostName", &"a".repeat(257)).is_err());
    assert!(check("DNSServer", "8.8.8.8").is_ok());
}

#[test]
fn judging_replies() {
    let q = dns::query(1, "h.test", dns::TYPE_A).unwrap();
    let p = |r: Vec<u8>| dns::parse_reply(&r, 1, "h.test", dns::TYPE_A).ok();
    let ms = Duration::from_millis(3);
    let ok = judge(
        &[p(answer(&q, 0x8580, &["10.0.0.1".parse().unwrap()])), None],
        false,
        ms,
    );
    assert_eq!(
        (ok.status, ok.answer, ok.name.as_str(), ok.ms),
        ("Success", "Authoritative", "h.test", 3)
    );
    let nx = judge(&[p(answer(&q, 0x8183, &[])), None], false, ms);
    assert_eq!(
        (nx.status, nx.answer),
        ("Error_HostNameNotResolved", "None")
    );
    assert_eq!(
        judge(&[p(answer(&q, 0x8180, &[]))], false, ms).status,
        "Error_HostNameNotResolved"
    );
    assert_eq!(
        judge(&[p(answer(&q, 0x8185, &[]))], false, ms).status,
        "Error_DNSServerNotAvailable"
    );
    assert_eq!(
        judge(&[None, None], true, ms).status,
        "Error_DNSServerNotAvailable"
    );
    assert_eq!(judge(&[None, None], false, ms).status, "Error_Timeout");
    let many: Vec<IpAddr> = (0..20).map(|i| IpAddr::from([10, 0, 0, i])).collect();
    assert_eq!(
        judge(&[p(answer(&q, 0x8180, &many))], false, ms).ips.len(),
        MAX_ADDRESSES
    );
}

#[test]
fn lookups_against_a_tiny_dns_server() {
    let (addr, seen) = server(good);
    let i = inputs(&[
        ("HostName", "ok.test"),
        ("DNSServer", &addr.to_string()),
        ("NumberOfRepetitions", "2"),
        ("Timeout", "1000"),
    ]);
    let o = run(&i, &Cancel::new());
    assert_eq!(o.state, "Complete");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        4,
        "an A and an AAAA query per repetition"
    );
    assert_eq!(get(&o, "SuccessCount"), "2");
    assert_eq!(get(&o, "ResultNumberOfEntries"), "2");
    assert_eq!(get(&o, "Result.1.Status"), "Success");
    assert_eq!(get(&o, "Result.1.AnswerType"), "Authoritative");
    assert_eq!(get(&o, "Result.2.HostNameReturned"), "ok.test");
    assert_eq!(
        get(&o, "Result.1.IPAddresses"),
        "192.0.2.1,192.0.2.2,2001:db8::1"
    );
    assert_eq!(get(&o, "Result.1.DNSServerIP"), "127.0.0.1");
    assert!(get(&o, "Result.1.ResponseTime").parse::<u32>().unwrap() < 1000);
}

#[test]
fn failures_give_the_states_the_spec_names() {
    fn nx(q: &[u8]) -> Vec<Vec<u8>> {
        vec![answer(q, 0x8183, &[])]
    }
    fn refused(q: &[u8]) -> Vec<Vec<u8>> {
        vec![answer(q, 0x8185, &[])]
    }
    fn silent(_: &[u8]) -> Vec<Vec<u8>> {
        vec![]
    }
    fn garbage(q: &[u8]) -> Vec<Vec<u8>> {
        let mut r = answer(q, 0x8180, &["1.2.3.4".parse().unwrap()]);
        r.truncate(r.len() - 3);
        vec![r, vec![0xff; 3]]
    }
    for (respond, want) in [
        (nx as fn(&[u8]) -> Vec<Vec<u8>>, "Error_HostNameNotResolved"),
        (refused, "Error_DNSServerNotAvailable"),
        (silent, "Error_Timeout"),
        (garbage, "Error_Timeout"),
    ] {
        let (addr, _) = server(respond);
        let i = inputs(&[
            ("HostName", "x.test"),
            ("DNSServer", &addr.to_string()),
            ("Timeout", "200"),
        ]);
        let t = Instant::now();
        let o = run(&i, &Cancel::new());
        assert!(t.elapsed() < Duration::from_millis(1200));
        assert_eq!(
            (o.state.as_str(), get(&o, "Result.1.Status")),
            ("Complete", want)
        );
        assert_eq!(get(&o, "SuccessCount"), "0");
        assert_eq!(get(&o, "Result.1.AnswerType"), "None");
    }
    let closed = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let i = inputs(&[
        ("HostName", "x.test"),
        ("DNSServer", &closed),
        ("Timeout", "2000"),
    ]);
    let t = Instant::now();
    let o = run(&i, &Cancel::new());
    assert_eq!(get(&o, "Result.1.Status"), "Error_DNSServerNotAvailable");
    assert!(t.elapsed() < Duration::from_millis(1500));
    let i = inputs(&[
        ("HostName", "x.test"),
        ("DNSServer", "no-such-host.invalid"),
    ]);
    assert_eq!(run(&i, &Cancel::new()).state, "Error_DNSServerNotResolved");
    let i = inputs(&[
        ("HostName", "x.test"),
        ("DNSServer", "Device.DNS.Client.Server.1"),
    ]);
    assert_eq!(run(&i, &Cancel::new()).state, "Error_DNSServerNotResolved");
}

#[test]
fn cancel_ends_a_lookup_waiting_on_a_silent_server() {
    fn silent(_: &[u8]) -> Vec<Vec<u8>> {
        vec![]
    }
    let (addr, _) = server(silent);
    let i = inputs(&[
        ("HostName", "x.test"),
        ("DNSServer", &addr.to_string()),
        ("Timeout", "60000"),
        ("NumberOfRepetitions", "100"),
    ]);
    assert_cancel_ends(Duration::from_millis(100), |c| run(&i, c));
}

#[test]
fn ask_gets_one_reply_or_none() {
    fn silent(_: &[u8]) -> Vec<Vec<u8>> {
        Vec::new()
    }
    let conf = "nameserver 192.0.2.53\nnameserver bad\nnameserver ::1\nnameserver [::1]:5353\n";
    assert_eq!(
        nameservers(conf).collect::<Vec<_>>(),
        vec![
            "192.0.2.53:53".parse::<SocketAddr>().unwrap(),
            "[::1]:53".parse().unwrap(),
            "[::1]:5353".parse().unwrap()
        ]
    );
    let (a, seen) = server(good);
    let t = Duration::from_secs(2);
    let r = ask(a, "host.test", dns::TYPE_A, 77, t).expect("a reply");
    assert_eq!(r.addresses().count(), 2, "the spoof was skipped");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let (a, _) = server(silent);
    let start = Instant::now();
    assert!(ask(a, "host.test", dns::TYPE_A, 78, Duration::from_millis(200)).is_none());
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert!(
        ask(a, "a..b", dns::TYPE_A, 79, t).is_none(),
        "not a DNS name"
    );
}
