//! XMPP connection requests (TR-069 Annex K) through a real XMPP server: Debian's `prosody`,
//! started by the test in the foreground on a loopback port with a throw-away config and a
//! self-signed certificate under the test's temp dir (skipped with a message when not
//! installed; `make test-deps` installs it). Two accounts are made with `prosodyctl`: the
//! CPE's and the ACS's. The ACS side is a small client in the test (the crate's own session
//! for STARTTLS + SCRAM-SHA-1 + bind, then raw iqs). A valid `connectionRequest` is answered
//! with `result` and opens a `6 CONNECTION REQUEST` session; wrong credentials and a sender not
//! in ConnReqAllowedJabberIDs get an error iq, are logged and open no session.

mod common;

use common::acs::AcsOpts;
use common::{free_port, Rig, WAIT};
use icwmp::xmpp::connreq::{ConnReqPolicy, NS_CONNREQ};
use icwmp::xmpp::session::{Account, Action, Session};
use openssl::ssl::{SslConnector, SslMethod, SslStream};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOMAIN: &str = "xmpp.test";

/// A throw-away prosody on 127.0.0.1; killed on drop.
struct Prosody {
    child: Child,
    port: u16,
    cert: PathBuf,
    log: PathBuf,
    cfg: PathBuf,
}

impl Prosody {
    fn start(dir: &Path) -> Prosody {
        let port = free_port();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=xmpp.test",
                "-addext",
                "subjectAltName=DNS:xmpp.test",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl")
            .success();
        assert!(ok, "self-signed certificate");
        let d = dir.display();
        let log = dir.join("prosody.log");
        // run_as_root: test containers run as root; prosody refuses that otherwise.
        // c2s_require_encryption: both clients must STARTTLS (no plaintext auth).
        let cfg = format!(
            "run_as_root = true\n\
             pidfile = \"{d}/prosody.pid\"\n\
             data_path = \"{d}/data\"\n\
             certificates = \"{d}\"\n\
             log = {{ debug = \"{d}/prosody.log\" }}\n\
             interfaces = {{ \"127.0.0.1\" }}\n\
             c2s_interfaces = {{ \"127.0.0.1\" }}\n\
             c2s_ports = {{ {port} }}\n\
             s2s_ports = {{ }}\n\
             http_ports = {{ }}\n\
             https_ports = {{ }}\n\
             modules_enabled = {{ \"roster\", \"saslauth\", \"tls\", \"disco\", \"ping\" }}\n\
             modules_disabled = {{ \"s2s\" }}\n\
             authentication = \"internal_hashed\"\n\
             c2s_require_encryption = true\n\
             ssl = {{ key = \"{}\", certificate = \"{}\" }}\n\
             VirtualHost \"{DOMAIN}\"\n",
            key.display(),
            cert.display()
        );
        let cfg_path = dir.join("prosody.cfg.lua");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(&cfg_path, cfg).unwrap();
        for (user, pw) in [
            ("cpe", "cpe-xmpp-pw"),
            ("acs", "acs-xmpp-pw"),
            ("evil", "evil-pw"),
        ] {
            let ok = Command::new("prosodyctl")
                .arg("--config")
                .arg(&cfg_path)
                .args(["register", user, DOMAIN, pw])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("prosodyctl")
                .success();
            assert!(ok, "prosodyctl register {user}");
        }
        let child = spawn(&cfg_path, port);
        Prosody {
            child,
            port,
            cert,
            log,
            cfg: cfg_path,
        }
    }

    /// Kills the server and starts it again on the same port with the same accounts.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.cfg, self.port);
    }
}

fn spawn(cfg: &Path, port: u16) -> Child {
    let child = Command::new("prosody")
        .arg("-F")
        .arg("--config")
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prosody");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "prosody did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

impl Drop for Prosody {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ACS's XMPP client: logged in and bound, then sends raw stanzas.
struct AcsClient {
    tls: SslStream<TcpStream>,
    seen: String,
}

impl AcsClient {
    fn login(p: &Prosody, user: &str, pw: &str) -> AcsClient {
        let mut tcp = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let account = Account {
            username: user.into(),
            domain: DOMAIN.into(),
            password: pw.into(),
            resource: "acs".into(),
            use_tls: true,
        };
        let policy = ConnReqPolicy::default();
        let mut s = Session::new(account, "acsnonce0123456789");
        let mut buf = [0u8; 4096];
        // Plaintext until STARTTLS.
        loop {
            tcp.write_all(&s.take_output()).unwrap();
            let n = tcp.read(&mut buf).unwrap();
            assert!(n > 0, "prosody closed");
            if s.receive(&buf[..n], &policy)
                .unwrap()
                .contains(&Action::StartTls)
            {
                break;
            }
        }
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_ca_file(&p.cert).unwrap();
        let mut tls = b.build().connect(DOMAIN, tcp).unwrap();
        s.tls_started();
        loop {
            tls.write_all(&s.take_output()).unwrap();
            let n = tls.read(&mut buf).unwrap();
            assert!(n > 0, "prosody closed");
            let acts = s.receive(&buf[..n], &policy).unwrap();
            if acts.iter().any(|a| matches!(a, Action::Bound(_))) {
                tls.write_all(&s.take_output()).unwrap();
                return AcsClient {
                    tls,
                    seen: String::new(),
                };
            }
        }
    }

    /// Sends a connectionRequest iq and returns the reply iq's start tag and content.
    fn connection_request(&mut self, id: &str, to: &str, user: &str, pass: &str) -> String {
        let iq = format!(
            "<iq type='get' id='{id}' to='{to}'><connectionRequest xmlns='{NS_CONNREQ}'>\
<username>{user}</username><password>{pass}</password></connectionRequest></iq>"
        );
        self.tls.write_all(iq.as_bytes()).unwrap();
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        loop {
            for q in ['\'', '"'] {
                if let Some(at) = self.seen.find(&format!("id={q}{id}{q}")) {
                    let start = self.seen[..at].rfind("<iq").unwrap();
                    let rest = &self.seen[start..];
                    let end = rest.find("</iq>").map(|e| e + 5);
                    let end = end.or_else(|| rest.find("/>").map(|e| e + 2));
                    if let Some(end) = end {
                        return rest[..end].to_string();
                    }
                }
            }
            assert!(Instant::now() < deadline, "no reply to {id}: {}", self.seen);
            let n = self.tls.read(&mut buf).unwrap();
            assert!(n > 0, "prosody closed");
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

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
    let mut server = Prosody::start(&dir);
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
