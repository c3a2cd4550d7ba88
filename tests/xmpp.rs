//! XMPP connection requests (TR-069 Annex K) through a real XMPP server: Debian's `prosody`,
//! started by the test in the foreground on a loopback port with a throw-away config and a
//! self-signed certificate under the test's temp dir (skipped with a message when not
//! installed; `make test-deps` installs it). Two accounts are made with `prosodyctl`: the
//! CPE's and the ACS's. The ACS side is a small client in the test (the crate's own session
//! for STARTTLS + SCRAM-SHA-1 + bind, then raw iqs). A valid `connectionRequest` is answered
//! with `result` and opens a `6 CONNECTION REQUEST` session; wrong credentials and a sender not
//! in ConnReqAllowedJabberIDs get an error iq, are logged and open no session.

mod common;

#[path = "../benches/common/prosody.rs"]
mod prosody;

use common::acs::AcsOpts;
use common::{free_port, Rig, WAIT};
use prosody::{AcsClient, Prosody, DOMAIN};
use std::process::Command;
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
