//! XMPP connection requests (TR-069 Annex K) through a real XMPP server: Debian's `prosody`,
//! started by the test in the foreground on a loopback port with a throw-away config and a
//! self-signed certificate under the test's temp dir (skipped with a message when not
//! installed; `make test-deps` installs it). Two accounts are made with `prosodyctl`: the
//! CPE's and the ACS's. The ACS side is a small client in the test (the crate's own session
//! for STARTTLS + SCRAM-SHA-1 + bind, then raw iqs). A valid `connectionRequest` is answered
//! with `result` and opens a `6 CONNECTION REQUEST` session; wrong credentials and a sender not
//! in ConnReqAllowedJabberIDs get an error iq, are logged and open no session.
//!
//! Server selection (ServerConnectAlgorithm): a server table whose first server refuses, and
//! DNS-SRV through a tiny DNS server in the test (the daemon's resolv.conf is swapped with
//! `ICWMP_RESOLV_CONF`), with an SRV answer and without one (the domain itself).

mod common;

#[path = "../benches/common/prosody.rs"]
mod prosody;

use common::acs::AcsOpts;
use common::{free_port, Rig, WAIT};
use prosody::{AcsClient, Prosody, DOMAIN};
use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Waits until the CPE published its bound JID.
fn wait_bound(rig: &Rig, server: &Prosody) -> String {
    let jid_file = rig.cpe.dir.join("state").join("xmpp_jid");
    let deadline = Instant::now() + WAIT;
    loop {
        let j = std::fs::read_to_string(&jid_file).unwrap_or_default();
        if !j.trim().is_empty() {
            return j.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "CPE not bound\n{}\n{}",
            rig.cpe.logs(),
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn is_type(reply: &str, t: &str) -> bool {
    reply.contains(&format!("type='{t}'")) || reply.contains(&format!("type=\"{t}\""))
}

#[test]
fn xmpp_connection_requests_through_prosody() {
    let have = |c: &str| Command::new(c).arg("--help").output().is_ok();
    if !have("prosody") || !have("prosodyctl") {
        eprintln!("SKIPPED: prosody is not installed (make test-deps installs it)");
        return;
    }
    let dir = common::temp_dir("prosody");
    let mut server = Prosody::start(&dir, free_port());
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_acs.push_str(&format!(
            "\toption ssl_cafile '{}'\n",
            server.cert.display()
        ));
        o.extra_cpe.push_str(&format!(
            "\toption xmpp_enable '1'\n\toption xmpp_server '127.0.0.1'\n\
             \toption xmpp_port '{}'\n\toption xmpp_domain '{DOMAIN}'\n\
             \toption xmpp_username 'cpe'\n\toption xmpp_password 'cpe-xmpp-pw'\n\
             \toption xmpp_allowed_jids 'acs@{DOMAIN}'\n\
             \toption xmpp_retry_initial '1'\n\toption xmpp_retry_multiplier '1000'\n\
             \toption metrics_file '{}'\n",
            server.port,
            dir.join("metrics.json").display()
        ));
    });
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();

    // The CPE logs in (STARTTLS, SCRAM-SHA-1) and binds; its JID is published.
    let jid = wait_bound(&rig, &server);
    assert_eq!(jid, format!("cpe@{DOMAIN}/cwmp"));
    // The data model shows it, and XMPP among the methods.
    assert_eq!(
        rig.cpe.cli_get("Device.ManagementServer.ConnReqJabberID"),
        jid
    );
    assert_eq!(
        rig.cpe
            .cli_get("Device.ManagementServer.SupportedConnReqMethods"),
        "HTTP,XMPP"
    );
    // TR-181's view of the connection.
    const C: &str = "Device.XMPP.Connection.1.";
    assert_eq!(rig.cpe.cli_get(&format!("{C}Status")), "Enabled");
    assert_eq!(rig.cpe.cli_get(&format!("{C}JabberID")), jid);
    assert_eq!(rig.cpe.cli_get(&format!("{C}TLSEstablished")), "true");
    assert_eq!(rig.cpe.cli_get(&format!("{C}Domain")), DOMAIN);
    let before = rig.informs_with("6 CONNECTION REQUEST");

    let mut acs = AcsClient::login(&server, "acs", "acs-xmpp-pw");
    let sent = Instant::now();
    let reply = acs.connection_request("cr1", &jid, "cruser", "crpass");
    assert!(is_type(&reply, "result"), "{reply}");
    rig.wait_inform("6 CONNECTION REQUEST", before + 1);
    eprintln!("XMPP CR -> Inform: {:?}", sent.elapsed());
    rig.wait_idle();

    // Wrong credentials: error iq with not-authorized, logged, no session.
    let reply = acs.connection_request("cr2", &jid, "cruser", "wrong");
    assert!(is_type(&reply, "error"), "{reply}");
    assert!(reply.contains("not-authorized"), "{reply}");
    // A sender not on the allow-list: service-unavailable.
    let mut evil = AcsClient::login(&server, "evil", "evil-pw");
    let reply = evil.connection_request("cr3", &jid, "cruser", "crpass");
    assert!(is_type(&reply, "error"), "{reply}");
    assert!(reply.contains("service-unavailable"), "{reply}");
    let logs = rig.cpe.logs();
    assert!(
        logs.contains("wrong connection request credentials"),
        "{logs}"
    );
    assert!(logs.contains("not in ConnReqAllowedJabberIDs"), "{logs}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rig.informs_with("6 CONNECTION REQUEST"),
        before + 1,
        "a refused request opened a session"
    );
    // Counted by channel and reason (`icwmpd -c metrics`: the file follows within 2 s).
    let deadline = Instant::now() + WAIT;
    let m = loop {
        let out = rig.cpe.cli(&["metrics"]);
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if m["connection_requests"]["xmpp"]["refused"] == 2 || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let x = &m["connection_requests"]["xmpp"];
    assert_eq!(x["accepted"], 1, "{m:#}");
    assert_eq!(
        x["refused_by_reason"],
        serde_json::json!({"sender_not_allowed": 1, "wrong_credentials": 1}),
        "{m:#}"
    );

    // The server restarts: the CPE notices, withdraws its JID, reconnects (1 s back-off)
    // and takes connection requests again.
    drop((acs, evil));
    let drops = || rig.cpe.logs().matches("reconnecting in").count();
    let before_restart = drops();
    server.restart();
    let deadline = Instant::now() + WAIT;
    while drops() == before_restart {
        assert!(
            Instant::now() < deadline,
            "restart not noticed\n{}",
            rig.cpe.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(wait_bound(&rig, &server), jid);
    let mut acs = AcsClient::login(&server, "acs", "acs-xmpp-pw");
    let reply = acs.connection_request("cr4", &jid, "cruser", "crpass");
    assert!(is_type(&reply, "result"), "{reply}");
    rig.wait_inform("6 CONNECTION REQUEST", before + 2);
    rig.wait_idle();
    rig.assert_xsd_valid();
    drop(server);
}

fn have_prosody() -> bool {
    let have = |c: &str| Command::new(c).arg("--help").output().is_ok();
    if !have("prosody") || !have("prosodyctl") {
        eprintln!("SKIPPED: prosody is not installed (make test-deps installs it)");
        return false;
    }
    true
}

/// A CPE logging in as `cpe` to `server`'s domain, with `xmpp` (option lines) deciding where
/// it connects, `resolv` as its resolv.conf, and a 1 s back-off.
fn cpe_for(server: &Prosody, xmpp: &str, resolv: Option<&Path>) -> Rig {
    let domain = &server.domain;
    Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_acs.push_str(&format!(
            "\toption ssl_cafile '{}'\n",
            server.cert.display()
        ));
        o.extra_cpe.push_str(&format!(
            "\toption xmpp_enable '1'\n\toption xmpp_domain '{domain}'\n\
             \toption xmpp_username 'cpe'\n\toption xmpp_password 'cpe-xmpp-pw'\n\
             \toption xmpp_allowed_jids 'acs@{domain}'\n\
             \toption xmpp_retry_initial '1'\n\toption xmpp_retry_multiplier '1000'\n{xmpp}"
        ));
        if let Some(r) = resolv {
            o.env
                .push(("ICWMP_RESOLV_CONF".into(), r.display().to_string()));
        }
    })
}

/// The DNS names a [`dns_server`] was asked about.
type Asked = Arc<Mutex<Vec<String>>>;

/// A DNS server on loopback answering SRV queries for `name` with `records` (priority,
/// weight, port, target) and everything else with NXDOMAIN (also `name` when `records` is
/// empty); its port and the names it was asked.
fn dns_server(name: &str, records: Vec<(u16, u16, u16, &'static str)>) -> (u16, Asked) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    let asked: Asked = Arc::default();
    let log = asked.clone();
    let name = name.to_ascii_lowercase();
    std::thread::spawn(move || {
        let mut b = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut b) {
            let q = &b[..n];
            // The question: labels from offset 12, then the type.
            let (mut at, mut labels) = (12, Vec::new());
            while at < n && q[at] != 0 {
                let l = q[at] as usize;
                labels.push(String::from_utf8_lossy(&q[at + 1..(at + 1 + l).min(n)]).into_owned());
                at += 1 + l;
            }
            let qname = labels.join(".").to_ascii_lowercase();
            let qtype = q
                .get(at + 1..at + 3)
                .map_or(0, |t| u16::from_be_bytes([t[0], t[1]]));
            log.lock().unwrap().push(qname.clone());
            let hit = qname == name && qtype == 33 && !records.is_empty();
            let mut r = q.to_vec();
            r[2..4].copy_from_slice(&if hit { 0x8580u16 } else { 0x8583 }.to_be_bytes());
            if hit {
                r[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
                for (prio, weight, port, target) in &records {
                    let mut d = Vec::new();
                    for v in [prio, weight, port] {
                        d.extend_from_slice(&v.to_be_bytes());
                    }
                    for l in target.split('.') {
                        d.push(l.len() as u8);
                        d.extend_from_slice(l.as_bytes());
                    }
                    d.push(0);
                    r.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
                    r.extend_from_slice(&(d.len() as u16).to_be_bytes());
                    r.extend_from_slice(&d);
                }
            }
            let _ = s.send_to(&r, from);
        }
    });
    (port, asked)
}

fn resolv_conf(dir: &Path, dns_port: u16) -> std::path::PathBuf {
    let p = dir.join("resolv.conf");
    std::fs::write(&p, format!("nameserver 127.0.0.1:{dns_port}\n")).unwrap();
    p
}

#[test]
fn server_table_goes_past_a_server_that_refuses() {
    if !have_prosody() {
        return;
    }
    let dir = common::temp_dir("xmpp-table");
    let server = Prosody::start(&dir, free_port());
    // Nothing listens there: refused at once.
    let closed = free_port();
    let p = server.port;
    let rig = cpe_for(
        &server,
        &format!("\toption xmpp_server '127.0.0.1:{closed} 127.0.0.1:{p}'\n"),
        None,
    );
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let jid = wait_bound(&rig, &server);
    let logs = rig.cpe.logs();
    assert!(
        logs.contains(&format!("127.0.0.1:{closed} (127.0.0.1:{closed}): ")),
        "{logs}"
    );
    assert!(
        logs.contains(&format!(
            "connected to 127.0.0.1:{p} (127.0.0.1:{p}, ServerTable)"
        )),
        "{logs}"
    );
    // The first server's refusal is no failure: the second was tried at once.
    assert!(!logs.contains("reconnecting in"), "{logs}");
    const C: &str = "Device.XMPP.Connection.1.";
    assert_eq!(rig.cpe.cli_get(&format!("{C}ServerNumberOfEntries")), "2");
    assert_eq!(rig.cpe.cli_get(&format!("{C}Server.2.Port")), p.to_string());
    assert_eq!(rig.cpe.cli_get(&format!("{C}Server.2.Priority")), "1");
    assert_eq!(
        rig.cpe.cli_get(&format!("{C}ServerConnectAlgorithm")),
        "ServerTable"
    );
    // Connection requests come through the second server.
    let before = rig.informs_with("6 CONNECTION REQUEST");
    let mut acs = AcsClient::login(&server, "acs", "acs-xmpp-pw");
    let reply = acs.connection_request("t1", &jid, "cruser", "crpass");
    assert!(is_type(&reply, "result"), "{reply}");
    rig.wait_inform("6 CONNECTION REQUEST", before + 1);
    rig.wait_idle();
}

#[test]
fn dns_srv_finds_the_server_of_the_domain() {
    if !have_prosody() {
        return;
    }
    let dir = common::temp_dir("xmpp-srv");
    let server = Prosody::start(&dir, free_port());
    let closed = free_port();
    let p = server.port;
    // The best priority refuses; the next is prosody. Neither is on 5222, and the domain
    // (xmpp.test) resolves nowhere: only the SRV answer leads to the server.
    let srv_name = format!("_xmpp-client._tcp.{DOMAIN}");
    let (dns, asked) = dns_server(
        &srv_name,
        vec![(10, 5, p, "localhost"), (0, 0, closed, "localhost")],
    );
    let resolv = resolv_conf(&dir, dns);
    let rig = cpe_for(
        &server,
        "\toption xmpp_server_algorithm 'DNS-SRV'\n",
        Some(&resolv),
    );
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let jid = wait_bound(&rig, &server);
    assert_eq!(jid, format!("cpe@{DOMAIN}/cwmp"));
    assert!(asked.lock().unwrap().contains(&srv_name));
    let logs = rig.cpe.logs();
    assert!(
        logs.contains(&format!(
            "connected to 127.0.0.1:{p} (localhost:{p}, DNS-SRV)"
        )),
        "{logs}"
    );
    // Priority 0 first (it refuses), then priority 10.
    let refused = logs.find(&format!("XMPP: localhost:{closed} (127.0.0.1:{closed}): "));
    let connected = logs.find(&format!("connected to 127.0.0.1:{p}"));
    assert!(refused.is_some() && refused < connected, "{logs}");
    assert!(!logs.contains("reconnecting in"), "{logs}");
    assert_eq!(
        rig.cpe
            .cli_get("Device.XMPP.Connection.1.ServerConnectAlgorithm"),
        "DNS-SRV"
    );
}

#[test]
fn dns_srv_without_a_record_uses_the_domain() {
    if !have_prosody() {
        return;
    }
    let dir = common::temp_dir("xmpp-nosrv");
    // A domain the system resolver knows, on prosody's port (xmpp_port).
    let server = Prosody::start_for(&dir, free_port(), "localhost");
    let (dns, asked) = dns_server("_xmpp-client._tcp.localhost", Vec::new());
    let resolv = resolv_conf(&dir, dns);
    // No server table, no algorithm set: DNS-SRV by default.
    let rig = cpe_for(
        &server,
        &format!("\toption xmpp_port '{}'\n", server.port),
        Some(&resolv),
    );
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    assert_eq!(wait_bound(&rig, &server), "cpe@localhost/cwmp");
    assert!(
        asked
            .lock()
            .unwrap()
            .iter()
            .any(|n| n == "_xmpp-client._tcp.localhost"),
        "the SRV record was asked for first"
    );
    let logs = rig.cpe.logs();
    assert!(logs.contains("no SRV record for localhost"), "{logs}");
    assert!(
        logs.contains(&format!("(localhost:{}, DNS-SRV)", server.port)),
        "{logs}"
    );
}
