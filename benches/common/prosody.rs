//! A throw-away Debian `prosody` on a loopback port and the ACS's XMPP client, shared by
//! tests/xmpp.rs and benches/nat.rs through `#[path]`.

#![allow(dead_code)]

use icwmp::xmpp::connreq::{ConnReqPolicy, NS_CONNREQ};
use icwmp::xmpp::session::{Account, Action, Session};
use openssl::ssl::{SslConnector, SslMethod, SslStream};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The virtual host of the throw-away server.
pub const DOMAIN: &str = "xmpp.test";

/// How long a start or a reply may take.
const WAIT: Duration = Duration::from_secs(20);

/// A throw-away prosody on 127.0.0.1; killed on drop.
pub struct Prosody {
    child: Child,
    /// Its client port on 127.0.0.1.
    pub port: u16,
    /// The certificate a client trusts.
    pub cert: PathBuf,
    /// Its debug log.
    pub log: PathBuf,
    /// Its virtual host ([`DOMAIN`] unless started with [`Prosody::start_for`]).
    pub domain: String,
    cfg: PathBuf,
}

impl Prosody {
    /// Starts prosody on `port` with three accounts (`cpe`, `acs`, `evil`), a fresh
    /// self-signed certificate for [`DOMAIN`] and STARTTLS required.
    pub fn start(dir: &Path, port: u16) -> Prosody {
        Prosody::start_for(dir, port, DOMAIN)
    }

    /// Likewise for the virtual host `domain` (its certificate names it).
    pub fn start_for(dir: &Path, port: u16, domain: &str) -> Prosody {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .arg("-subj")
            .arg(format!("/CN={domain}"))
            .arg("-addext")
            .arg(format!("subjectAltName=DNS:{domain}"))
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
             VirtualHost \"{domain}\"\n",
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
                .args(["register", user, domain, pw])
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
            domain: domain.to_string(),
            cfg: cfg_path,
        }
    }

    /// Kills the server and starts it again on the same port with the same accounts.
    pub fn restart(&mut self) {
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
pub struct AcsClient {
    tls: SslStream<TcpStream>,
    seen: String,
}

impl AcsClient {
    /// Logs `user` in (STARTTLS, SCRAM-SHA-1, bind) with the crate's own session.
    pub fn login(p: &Prosody, user: &str, pw: &str) -> AcsClient {
        let mut tcp = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let account = Account {
            username: user.into(),
            domain: p.domain.clone(),
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
        let mut tls = b.build().connect(&p.domain, tcp).unwrap();
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
    pub fn connection_request(&mut self, id: &str, to: &str, user: &str, pass: &str) -> String {
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
