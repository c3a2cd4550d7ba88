//! `cargo bench --bench stun` (or `make bench`): the release daemon with STUN on, against a
//! minimal raw-socket ACS and a STUN responder in this process. Prints the UDP connection
//! request -> Inform time on loopback (20 runs) and the idle private memory with STUN off and
//! on. Figures only: nothing here asserts a target.

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

fn start(exe: &str, tag: &str, stun: bool) -> (Daemon, u16, mpsc::Receiver<Instant>) {
    let dir = std::env::temp_dir().join(format!("icwmp-bench-stun-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (tx, rx) = mpsc::channel();
    let acs_port = acs(tx);
    let cr_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let stun_opts = if stun {
        format!(
            "\toption stun_enable '1'\n\toption stun_server_address '127.0.0.1'\n\toption stun_server_port '{}'\n",
            stun_server()
        )
    } else {
        String::new()
    };
    let config = dir.join("cwmp");
    std::fs::write(
        &config,
        format!(
            "config acs 'acs'\n\toption url 'http://127.0.0.1:{acs_port}/acs'\n\toption periodic_inform_enable '0'\n\n\
             config cpe 'cpe'\n\toption port '{cr_port}'\n\toption userid 'cr'\n\toption passwd 'crpass'\n\toption cr_host '127.0.0.1'\n\toption log_severity 'WARNING'\n{stun_opts}"
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
    (Daemon(child), cr_port, rx)
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_icwmpd");
    let (off, _, _rx_off) = start(exe, "off", false);
    let (on, cr_port, rx) = start(exe, "on", true);
    std::thread::sleep(Duration::from_millis(1000));
    let (a, b) = (
        rollup_kb(off.0.id(), "Private_Dirty:"),
        rollup_kb(on.0.id(), "Private_Dirty:"),
    );
    println!("idle private dirty: STUN off {a} KiB, STUN on {b} KiB");

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
    ms.sort_by(|a, b| a.total_cmp(b));
    println!(
        "UDP connection request -> Inform on the wire: median {:.2} ms, max {:.2} ms (20 runs)",
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    );
}
