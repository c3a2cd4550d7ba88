//! `cargo bench --bench nat` (or `make bench`): the ways to reach a CPE behind NAT. The
//! release daemon with STUN and XMPP on, against a minimal raw-socket ACS, a STUN responder in
//! this process and Debian's prosody (skipped with a message when not installed). Prints the
//! idle private memory with both off and both on, the UDP connection request -> Inform time
//! and the XMPP connectionRequest iq -> Inform time on loopback (20 runs each). Figures only:
//! nothing here asserts a target.

#[path = "common/port.rs"]
mod port;
#[path = "common/prosody.rs"]
mod prosody;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An ACS that answers every Inform and ends each session at once; reports Informs.
fn acs(tx: mpsc::Sender<Instant>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind ACS");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s);
                loop {
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let out = if String::from_utf8_lossy(&body).contains("<cwmp:Inform>") {
                        let _ = tx.send(Instant::now());
                        let b = r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>"#;
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{b}",
                            b.len()
                        )
                    } else {
                        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_string()
                    };
                    if r.get_mut().write_all(out.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A STUN responder: answers every Binding Request with the sender's address.
fn stun_server() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind STUN");
    let port = s.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            if n < 20 {
                continue;
            }
            let std::net::SocketAddr::V4(v4) = from else {
                continue;
            };
            let mut out = vec![0x01, 0x01, 0, 12];
            out.extend_from_slice(&buf[4..20]);
            out.extend_from_slice(&[0, 1, 0, 8, 0, 1]);
            out.extend_from_slice(&v4.port().to_be_bytes());
            out.extend_from_slice(&v4.ip().octets());
            let _ = s.send_to(&out, from);
        }
    });
    port
}

fn rollup_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn sig(text: &str) -> String {
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let k = PKey::hmac(b"crpass").expect("key");
    let mut s = Signer::new(MessageDigest::sha1(), &k).expect("signer");
    s.update(text.as_bytes()).expect("update");
    s.sign_to_vec()
        .expect("sign")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Starts the daemon; `nat` turns STUN on, and XMPP too when an XMPP server's port (and the
/// certificate to trust) is given.
fn start(
    exe: &str,
    tag: &str,
    nat: bool,
    xmpp: Option<(u16, Option<&std::path::Path>)>,
) -> (Daemon, u16, mpsc::Receiver<Instant>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("icwmp-bench-nat-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (tx, rx) = mpsc::channel();
    let acs_port = acs(tx);
    let cr_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut nat_opts = String::new();
    let mut acs_opts = String::new();
    if nat {
        nat_opts = format!(
            "\toption stun_enable '1'\n\toption stun_server_address '127.0.0.1'\n\toption stun_server_port '{}'\n",
            stun_server()
        );
    }
    if let (true, Some((xmpp_port, cert))) = (nat, xmpp) {
        if let Some(cert) = cert {
            acs_opts = format!("\toption ssl_cafile '{}'\n", cert.display());
        }
        nat_opts.push_str(&format!(
            "\toption xmpp_enable '1'\n\toption xmpp_server '127.0.0.1'\n\toption xmpp_port '{}'\n\
             \toption xmpp_domain '{}'\n\toption xmpp_username 'cpe'\n\toption xmpp_password 'cpe-xmpp-pw'\n\
             \toption xmpp_allowed_jids 'acs@{}'\n",
            xmpp_port,
            prosody::DOMAIN,
            prosody::DOMAIN
        ));
    }
    let config = dir.join("cwmp");
    std::fs::write(
        &config,
        format!(
            "config acs 'acs'\n\toption url 'http://127.0.0.1:{acs_port}/acs'\n\toption periodic_inform_enable '0'\n{acs_opts}\n\
             config cpe 'cpe'\n\toption port '{cr_port}'\n\toption userid 'cr'\n\toption passwd 'crpass'\n\toption cr_host '127.0.0.1'\n\toption log_severity 'WARNING'\n{nat_opts}"
        ),
    )
    .expect("config");
    // SAFETY: sync(2) has no preconditions (see benches/session.rs: dirty page-cache pages).
    unsafe { libc::sync() };
    let child = Command::new(exe)
        .args(["-b", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start icwmpd");
    rx.recv_timeout(Duration::from_secs(30))
        .expect("boot Inform");
    (Daemon(child), cr_port, rx, dir.join("state"))
}

fn median_max(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(|a, b| a.total_cmp(b));
    (ms[ms.len() / 2], ms[ms.len() - 1])
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_icwmpd");
    let have = |c: &str| Command::new(c).arg("--help").output().is_ok();
    let dir = std::env::temp_dir().join(format!("icwmp-bench-prosody-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let server = (have("prosody") && have("prosodyctl"))
        .then(|| prosody::Prosody::start(&dir, port::daemon_port()));
    if server.is_none() {
        println!("prosody not installed (make test-deps): XMPP figures skipped");
    }
    let (off, _, _rx_off, _) = start(exe, "off", false, None);
    let (on, cr_port, rx, state) = start(
        exe,
        "on",
        true,
        server.as_ref().map(|p| (p.port, Some(p.cert.as_path()))),
    );
    // The same, but the XMPP server accepts and stays silent: no TLS yet, so the difference
    // to `on` is what OpenSSL costs (its library state, one context, one connection), which a
    // daemon with an https ACS pays anyway.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind silent XMPP");
    let silent_port = silent.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(3600));
        drop(held);
    });
    let (no_tls, _, _rx_no_tls, _) = start(exe, "no-tls", true, Some((silent_port, None)));
    // Bound to the XMPP server (its JID published) before the idle figure is taken.
    let jid_file = state.join("xmpp_jid");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut jid = String::new();
    while server.is_some() && jid.is_empty() {
        assert!(Instant::now() < deadline, "the CPE did not bind to prosody");
        std::thread::sleep(Duration::from_millis(50));
        jid = std::fs::read_to_string(&jid_file)
            .unwrap_or_default()
            .trim()
            .to_string();
    }
    std::thread::sleep(Duration::from_millis(1000));
    let (a, b) = (
        rollup_kb(off.0.id(), "Private_Dirty:"),
        rollup_kb(on.0.id(), "Private_Dirty:"),
    );
    let c = rollup_kb(no_tls.0.id(), "Private_Dirty:");
    let what = if server.is_some() {
        "STUN and XMPP"
    } else {
        "STUN"
    };
    println!(
        "idle private dirty: {what} off {a} KiB, on {b} KiB: +{} KiB (goal < 512; XMPP before TLS: {c} KiB, so OpenSSL's share {} KiB)",
        b.saturating_sub(a),
        b.saturating_sub(c)
    );

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let mut ms = Vec::new();
    for i in 0..20u32 {
        std::thread::sleep(Duration::from_millis(200));
        while rx.try_recv().is_ok() {}
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let id = 1000 + i;
        let s = sig(&format!("{ts}{id}crcn{id}"));
        let msg = format!(
            "GET http://127.0.0.1:{cr_port}?ts={ts}&id={id}&un=cr&cn=cn{id}&sig={s} HTTP/1.1\r\n\r\n"
        );
        let t0 = Instant::now();
        udp.send_to(msg.as_bytes(), ("127.0.0.1", cr_port))
            .expect("send");
        let t1 = rx.recv_timeout(Duration::from_secs(30)).expect("Inform");
        ms.push((t1 - t0).as_secs_f64() * 1e3);
    }
    let (med, max) = median_max(ms);
    println!("UDP connection request -> Inform on the wire: median {med:.2} ms, max {max:.2} ms (20 runs)");

    let Some(server) = server else { return };
    let mut acs = prosody::AcsClient::login(&server, "acs", "acs-xmpp-pw");
    let mut ms = Vec::new();
    for i in 0..20u32 {
        std::thread::sleep(Duration::from_millis(200));
        while rx.try_recv().is_ok() {}
        let t0 = Instant::now();
        let reply = acs.connection_request(&format!("b{i}"), &jid, "cr", "crpass");
        assert!(reply.contains("result"), "{reply}");
        let t1 = rx.recv_timeout(Duration::from_secs(30)).expect("Inform");
        ms.push((t1 - t0).as_secs_f64() * 1e3);
    }
    let (med, max) = median_max(ms);
    println!("XMPP connectionRequest iq -> Inform on the wire: median {med:.2} ms, max {max:.2} ms (20 runs)");
    drop((on, off, no_tls));
    let _ = std::fs::remove_dir_all(&dir);
}
