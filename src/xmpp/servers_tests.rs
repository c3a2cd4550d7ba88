//! Server selection: the option's format, the algorithms, RFC 2782 ordering, and the SRV
//! lookup against a tiny DNS server on loopback.

use super::*;
use std::net::UdpSocket;

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Srv {
    Srv {
        priority,
        weight,
        port,
        target: target.into(),
    }
}

fn entry(host: &str, port: Option<u16>) -> ServerEntry {
    ServerEntry {
        host: host.into(),
        port,
    }
}

/// A random source that must not be asked (ordering without choice).
fn no_rand(_: u32) -> u32 {
    panic!("no random choice expected")
}

#[test]
fn algorithms_and_their_default() {
    for a in ["DNS-SRV", "DNS", "ServerTable"] {
        assert_eq!(Algorithm::parse(a).unwrap().as_str(), a);
        assert!(SUPPORTED.split(',').any(|s| s == a));
    }
    assert_eq!(Algorithm::parse("WebSocket"), None);
    assert_eq!(
        Algorithm::parse("dns"),
        None,
        "TR-181 names are case-sensitive"
    );
    // Unset (or not supported): what the daemon did before the option.
    assert_eq!(Algorithm::effective(None, true), Algorithm::ServerTable);
    assert_eq!(Algorithm::effective(None, false), Algorithm::DnsSrv);
    assert_eq!(
        Algorithm::effective(Some("bogus"), false),
        Algorithm::DnsSrv
    );
    assert_eq!(Algorithm::effective(Some("DNS"), true), Algorithm::Dns);
}

#[test]
fn server_entries_parse_and_format_back() {
    let (e, bad) = parse_servers(" a.example  10.0.0.2:5223,[2001:db8::1]:5224 ::1 [::2] ");
    assert_eq!(bad, 0);
    assert_eq!(
        e,
        vec![
            entry("a.example", None),
            entry("10.0.0.2", Some(5223)),
            entry("2001:db8::1", Some(5224)),
            entry("::1", None),
            entry("::2", None),
        ]
    );
    assert_eq!(
        format_servers(&e),
        "a.example 10.0.0.2:5223 [2001:db8::1]:5224 ::1 ::2"
    );
    assert_eq!(parse_servers(&format_servers(&e)).0, e, "round trip");
    // A UCI list reads comma-joined.
    assert_eq!(parse_servers("a,b:1").0.len(), 2);
    // Bad ports, stray brackets, empty hosts: skipped and counted.
    let (e, bad) = parse_servers("h:0 h:70000 h:x [h]:1 [::1 :5222 a/b ok");
    assert_eq!((e, bad), (vec![entry("ok", None)], 7));
    // Bounded.
    let many = (0..100)
        .map(|i| format!("h{i}"))
        .collect::<Vec<_>>()
        .join(" ");
    let (e, bad) = parse_servers(&many);
    assert_eq!((e.len(), bad), (MAX_SERVERS, 100 - MAX_SERVERS));
    assert_eq!(parse_servers(""), (vec![], 0));
}

#[test]
fn candidates_follow_the_algorithm() {
    let table = [entry("s1", None), entry("s2", Some(5299))];
    let records = [srv(0, 0, 5300, "t.example")];
    let c = |a, servers: &[ServerEntry], srv: Option<&[Srv]>| {
        candidates(a, "d.example", servers, 5222, srv, &mut no_rand)
    };
    let plain = vec![("d.example".to_string(), 5222)];
    // ServerTable: by position, the entry's port else xmpp_port; SRV answers ignored.
    assert_eq!(
        c(Algorithm::ServerTable, &table, Some(&records)),
        vec![("s1".to_string(), 5222), ("s2".to_string(), 5299)]
    );
    // An empty table connects to the Domain, as before.
    assert_eq!(c(Algorithm::ServerTable, &[], None), plain);
    // DNS: the Domain, whatever the table or SRV say.
    assert_eq!(c(Algorithm::Dns, &table, Some(&records)), plain);
    // DNS-SRV: the SRV targets; without an answer, the Domain; the table is ignored.
    assert_eq!(
        c(Algorithm::DnsSrv, &table, Some(&records)),
        vec![("t.example".to_string(), 5300)]
    );
    assert_eq!(c(Algorithm::DnsSrv, &table, None), plain);
    assert_eq!(c(Algorithm::DnsSrv, &[], Some(&[])), plain);
    // A lone "." target: the service is decidedly not offered, nothing is tried.
    assert!(c(Algorithm::DnsSrv, &[], Some(&[srv(0, 0, 0, "")])).is_empty());
}

#[test]
fn srv_records_go_by_priority_then_weight() {
    let records = [
        srv(20, 0, 3, "late"),
        srv(10, 10, 1, "a"),
        srv(10, 30, 1, "b"),
        srv(10, 0, 1, "zero"),
        srv(5, 0, 9, ""),
        srv(15, 7, 2, "only"),
    ];
    // The draws within priority 10 (weights zero 0, a 10, b 30: running sums 0, 10, 40):
    // 25 -> b (first sum >= 25); then of zero, a (sums 0, 10): 1 -> a; then zero alone.
    // Priorities 15 and 20 have one record each: no draw.
    let mut draws = vec![25, 1].into_iter();
    let mut asked = Vec::new();
    let mut rand = |n: u32| {
        asked.push(n);
        draws.next().unwrap()
    };
    let order = srv_order(&records, &mut rand);
    let names: Vec<&str> = order.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["b", "a", "zero", "only", "late"], "'.' dropped");
    assert_eq!(asked, [40, 10], "the sums of the remaining weights");
    // A draw of 0 prefers a weight-0 record (sorted first, RFC 2782).
    let mut zero = |_: u32| 0;
    let order = srv_order(&records, &mut zero);
    assert_eq!(order[0].0, "zero");
    // A source returning out of range cannot index past the group.
    let mut huge = |_: u32| u32::MAX;
    assert_eq!(srv_order(&records, &mut huge).len(), 5);
}

#[test]
fn weighted_selection_follows_the_weights() {
    // A small LCG as the random source: deterministic, roughly uniform.
    let mut x: u64 = 12345;
    let mut rand = move |n: u32| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 33) % (u64::from(n) + 1)) as u32
    };
    let records = [srv(0, 10, 1, "light"), srv(0, 90, 1, "heavy")];
    let heavy_first = (0..10_000)
        .filter(|_| srv_order(&records, &mut rand)[0].0 == "heavy")
        .count();
    // Expected 90 %: generous bounds, the point is the weights are followed.
    assert!((8500..9500).contains(&heavy_first), "{heavy_first}");
}

/// A DNS server on loopback answering every query with `rcode` and SRV records of these
/// rdatas; returns its port.
fn dns_server(records: Vec<Vec<u8>>, rcode: u8) -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut b) {
            let mut r = b[..n].to_vec();
            r[2..4].copy_from_slice(&(0x8180u16 | u16::from(rcode)).to_be_bytes());
            r[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
            for d in &records {
                r.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
                r.extend_from_slice(&(d.len() as u16).to_be_bytes());
                r.extend_from_slice(d);
            }
            let _ = s.send_to(&r, from);
        }
    });
    port
}

#[test]
fn srv_lookup_asks_the_resolv_conf_servers() {
    let dir = std::env::temp_dir().join(format!("icwmp-xsrv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("resolv.conf");
    let mut rdata = vec![0, 1, 0, 5, 0x14, 0x66];
    rdata.extend_from_slice(b"\x09localhost\x00");
    // A dead nameserver first (nothing listens: refused at once), then the live one.
    let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let live = dns_server(vec![rdata], 0);
    std::fs::write(
        &conf,
        format!("nameserver 127.0.0.1:{dead_port}\nnameserver 127.0.0.1:{live}\n"),
    )
    .unwrap();
    assert_eq!(
        lookup_srv("d.test", &conf, &mut || false),
        Some(vec![srv(1, 5, 5222, "localhost")])
    );
    // NXDOMAIN, or an answer without records: no SRV (the caller falls back).
    let nx = dns_server(Vec::new(), 3);
    std::fs::write(&conf, format!("nameserver 127.0.0.1:{nx}\n")).unwrap();
    assert_eq!(lookup_srv("d.test", &conf, &mut || false), None);
    let empty = dns_server(Vec::new(), 0);
    std::fs::write(&conf, format!("nameserver 127.0.0.1:{empty}\n")).unwrap();
    assert_eq!(lookup_srv("d.test", &conf, &mut || false), None);
    // No resolv.conf, no nameserver in it: no SRV.
    assert_eq!(
        lookup_srv("d.test", &dir.join("missing"), &mut || false),
        None
    );
    std::fs::write(&conf, "search lan\n").unwrap();
    assert_eq!(lookup_srv("d.test", &conf, &mut || false), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn srv_lookup_asks_no_further_nameserver_once_stopped() {
    // Two nameservers that would never answer (3 s each): asked to stop after the first,
    // the lookup leaves the second alone.
    let dir = std::env::temp_dir().join(format!("icwmp-srv-stop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("resolv.conf");
    let silent: Vec<std::net::UdpSocket> = (0..2)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let lines: String = silent
        .iter()
        .map(|s| format!("nameserver {}\n", s.local_addr().unwrap()))
        .collect();
    std::fs::write(&conf, lines).unwrap();
    let mut checks = 0;
    let mut stop = || {
        checks += 1;
        checks > 1
    };
    assert_eq!(lookup_srv("d.test", &conf, &mut stop), None);
    let got = |s: &std::net::UdpSocket| {
        s.set_nonblocking(true).unwrap();
        s.recv(&mut [0u8; 512]).is_ok()
    };
    assert!(got(&silent[0]), "the first nameserver was asked");
    assert!(!got(&silent[1]), "the second was asked after the stop");
    let _ = std::fs::remove_dir_all(&dir);
}
