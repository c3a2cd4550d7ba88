//! `cargo bench --bench session` (or `make bench`): figures of the release daemon on loopback.
//!
//! Runs the real `icwmpd` against a minimal raw-socket ACS in this process and prints:
//! binary size, idle private RSS, the time of a 5-RPC session, connection request to Inform on the
//! wire, and GetParameterValues of `Device.` with ~10,000 parameters (time and peak RSS).
//! All of it twice: with the ACS on http, then on https (a certificate made here, given to the
//! daemon as `ssl_cafile`), which is what a deployment runs and what starts OpenSSL.
//! Figures only: nothing here asserts a target.

#[path = "common/http.rs"]
mod http;
#[path = "common/port.rs"]
mod port;
use http::{md5_hex, read_request};

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// One ACS-side event the bench waits on.
enum Seen {
    Inform(Instant),
    End { at: Instant, last_body: String },
}

struct Script {
    queue: Vec<String>,
}

fn envelope(id: u32, body: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">{id}</cwmp:ID></soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"#
    )
}

fn gpv(name: &str) -> String {
    format!("<cwmp:GetParameterValues><ParameterNames><string>{name}</string></ParameterNames></cwmp:GetParameterValues>")
}

fn serve<S: Read + Write>(stream: S, script: Arc<Mutex<Script>>, tx: mpsc::Sender<Seen>) {
    let mut r = BufReader::new(stream);
    let mut id = 0;
    while let Some(body) = read_request(&mut r) {
        id += 1;
        let text = String::from_utf8_lossy(&body);
        let reply = if text.contains("<cwmp:Inform>") {
            let _ = tx.send(Seen::Inform(Instant::now()));
            Some(envelope(
                id,
                "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
            ))
        } else {
            let mut s = script.lock().unwrap_or_else(|e| e.into_inner());
            if s.queue.is_empty() {
                None
            } else {
                let req = s.queue.remove(0);
                Some(envelope(id, &req))
            }
        };
        let out = match &reply {
            Some(b) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ),
            None => "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_string(),
        };
        if r.get_mut().write_all(out.as_bytes()).is_err() {
            return;
        }
        if reply.is_none() {
            let _ = tx.send(Seen::End {
                at: Instant::now(),
                last_body: text.into_owned(),
            });
        }
    }
}

/// A digest-authenticated connection request; returns when the CPE answered 200.
fn connection_request(port: u16) {
    let get = |auth: &str| -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("CR connect");
        let req = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
        s.write_all(req.as_bytes()).expect("CR write");
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp
    };
    let challenge = get("");
    let field = |name: &str| {
        let key = format!("{name}=\"");
        challenge
            .split(&key)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    let (realm, nonce, opaque) = (field("realm"), field("nonce"), field("opaque"));
    let ha1 = md5_hex(&format!("cr:{realm}:crpass"));
    let ha2 = md5_hex("GET:/");
    let resp = md5_hex(&format!("{ha1}:{nonce}:00000001:abcdef:auth:{ha2}"));
    let auth = format!(
        "Authorization: Digest username=\"cr\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"/\", qop=auth, nc=00000001, cnonce=\"abcdef\", response=\"{resp}\", opaque=\"{opaque}\"\r\n"
    );
    let ok = get(&auth);
    assert!(ok.starts_with("HTTP/1.1 200"), "CR refused: {ok}");
}

/// A `/proc/<pid>/smaps_rollup` field in KiB.
fn rollup_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    s.lines()
        .filter(|l| l.starts_with(key))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// The mappings holding the most of a smaps field, e.g. `Private_Dirty:` or `Rss:`
/// (shown with BENCH_VERBOSE=1).
fn breakdown(pid: u32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    let mut name = String::new();
    for l in s.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first()
            .is_some_and(|a| a.contains('-') && !a.ends_with(':'))
        {
            name = f.get(5).unwrap_or(&"[anon]").to_string();
        } else if f.first() == Some(&key) {
            *by.entry(name.clone()).or_default() +=
                f.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    let mut v: Vec<_> = by.into_iter().filter(|(_, k)| *k > 0).collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v.iter()
        .take(8)
        .map(|(n, k)| format!("    {k:6} KiB {key} {n}\n"))
        .collect()
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn wait_end(rx: &mpsc::Receiver<Seen>) -> (Instant, String) {
    loop {
        match rx
            .recv_timeout(Duration::from_secs(60))
            .expect("session end")
        {
            Seen::End { at, last_body } => return (at, last_body),
            Seen::Inform(_) => {}
        }
    }
}

fn wait_inform(rx: &mpsc::Receiver<Seen>) -> Instant {
    loop {
        if let Seen::Inform(t) = rx.recv_timeout(Duration::from_secs(60)).expect("inform") {
            return t;
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A self-signed certificate for 127.0.0.1 (written to `dir/ca.pem`) and its acceptor.
fn tls_acceptor(dir: &std::path::Path) -> openssl::ssl::SslAcceptor {
    use openssl::{asn1, bn, ec, hash, nid, pkey, ssl, x509};
    let group = ec::EcGroup::from_curve_name(nid::Nid::X9_62_PRIME256V1).expect("curve");
    let key = pkey::PKey::from_ec_key(ec::EcKey::generate(&group).expect("key")).expect("key");
    let mut name = x509::X509Name::builder().expect("name");
    name.append_entry_by_nid(nid::Nid::COMMONNAME, "bench-acs")
        .expect("cn");
    let name = name.build();
    let mut b = x509::X509::builder().expect("cert");
    b.set_version(2).expect("version");
    let serial = bn::BigNum::from_u32(1).and_then(|n| n.to_asn1_integer());
    b.set_serial_number(&serial.expect("serial"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&asn1::Asn1Time::days_from_now(0).expect("time"))
        .expect("time");
    b.set_not_after(&asn1::Asn1Time::days_from_now(1).expect("time"))
        .expect("time");
    let ctx = b.x509v3_context(None, None);
    let san = x509::extension::SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&ctx)
        .expect("san");
    b.append_extension(san).expect("san");
    b.sign(&key, hash::MessageDigest::sha256()).expect("sign");
    let cert = b.build();
    std::fs::write(dir.join("ca.pem"), cert.to_pem().expect("pem")).expect("ca.pem");
    let mut acc = ssl::SslAcceptor::mozilla_intermediate_v5(ssl::SslMethod::tls()).expect("tls");
    acc.set_certificate(&cert).expect("cert");
    acc.set_private_key(&key).expect("key");
    acc.build()
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_icwmpd");
    let size = std::fs::metadata(exe).map(|m| m.len()).unwrap_or(0);
    println!(
        "binary: {exe}\n  size: {size} bytes ({:.0} KiB)",
        size as f64 / 1024.0
    );
    println!("== ACS over http");
    measure(exe, false);
    println!("== ACS over https (OpenSSL started, CA file loaded)");
    measure(exe, true);
}

fn measure(exe: &str, https: bool) {
    let dir = std::env::temp_dir().join(format!("icwmp-bench-{}-{https}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let tls = https.then(|| Arc::new(tls_acceptor(&dir)));
    let acs = TcpListener::bind("127.0.0.1:0").expect("bind ACS");
    let acs_port = acs.local_addr().expect("addr").port();
    let cr_port = port::daemon_port();
    let config = dir.join("cwmp");
    std::fs::write(
        &config,
        format!(
            "config acs 'acs'\n\toption url '{scheme}://127.0.0.1:{acs_port}/acs'\n\toption ssl_cafile '{ca}'\n\toption periodic_inform_enable '0'\n\toption get_rpc_methods '0'\n\n\
             config cpe 'cpe'\n\toption port '{cr_port}'\n\toption userid 'cr'\n\toption passwd 'crpass'\n\toption cr_host '127.0.0.1'\n\toption log_severity 'WARNING'\n",
            scheme = if https { "https" } else { "http" },
            ca = dir.join("ca.pem").display(),
        ),
    )
    .expect("config");

    let script = Arc::new(Mutex::new(Script { queue: Vec::new() }));
    let (tx, rx) = mpsc::channel();
    {
        let script = script.clone();
        std::thread::spawn(move || {
            for s in acs.incoming().flatten() {
                let (script, tx, tls) = (script.clone(), tx.clone(), tls.clone());
                // Like any real server: no Nagle delay on the answer's TLS records.
                let _ = s.set_nodelay(true);
                std::thread::spawn(move || match tls {
                    None => serve(s, script, tx),
                    Some(acc) => {
                        if let Ok(s) = acc.accept(s) {
                            serve(s, script, tx);
                        }
                    }
                });
            }
        });
    }

    // A freshly built binary's page-cache pages still count as dirty in smaps until written
    // back: flush first so "private dirty" measures the daemon, not the build.
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    let child = Command::new(exe)
        .args(["-b", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start icwmpd");
    let daemon = Daemon(child);
    let pid = daemon.0.id();

    let five_rpcs = || {
        vec![
            gpv("Device.DeviceInfo."),
            gpv("Device.ManagementServer."),
            "<cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath><NextLevel>1</NextLevel></cwmp:GetParameterNames>".to_string(),
            "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name><Value>3600</Value></ParameterValueStruct></ParameterList><ParameterKey>bench</ParameterKey></cwmp:SetParameterValues>".to_string(),
            gpv("Device.IP."),
        ]
    };
    // Boot session with 5 RPCs.
    script.lock().unwrap_or_else(|e| e.into_inner()).queue = five_rpcs();
    let t0 = wait_inform(&rx);
    let (t1, _) = wait_end(&rx);
    println!(
        "boot session (Inform + 5 RPCs): {:.2} ms",
        (t1 - t0).as_secs_f64() * 1e3
    );
    std::thread::sleep(Duration::from_millis(500));
    // Private_Dirty is the memory this process really owns (heap, stacks, relocated data);
    // Private_Clean is code of files no other process happens to map right now.
    println!(
        "idle: private dirty (anon) {} KiB, private clean (unshared file pages) {} KiB, VmRSS {} KiB",
        rollup_kb(pid, "Private_Dirty:"),
        rollup_kb(pid, "Private_Clean:"),
        status_kb(pid, "VmRSS:")
    );
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        print!("{}", breakdown(pid, "Private_Dirty:"));
        print!("{}", breakdown(pid, "Rss:"));
    }

    // Connection request to Inform, and 5-RPC sessions, repeated.
    let (mut cr, mut sess) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        script.lock().unwrap_or_else(|e| e.into_inner()).queue = five_rpcs();
        let start = Instant::now();
        connection_request(cr_port);
        let inform = wait_inform(&rx);
        let (end, _) = wait_end(&rx);
        cr.push((inform - start).as_secs_f64() * 1e3);
        sess.push((end - inform).as_secs_f64() * 1e3);
    }
    println!(
        "connection request -> Inform on the wire: median {:.2} ms (20 runs)",
        median(cr)
    );
    println!(
        "5-RPC session (Inform to 204): median {:.2} ms (20 runs)",
        median(sess)
    );

    // Grow the data model to ~10,000 parameters, then GPV Device.
    let add = "<cwmp:AddObject><ObjectName>Device.NAT.PortMapping.</ObjectName><ParameterKey></ParameterKey></cwmp:AddObject>";
    script.lock().unwrap_or_else(|e| e.into_inner()).queue = vec![add.to_string(); 700];
    connection_request(cr_port);
    wait_end(&rx);
    println!(
        "after 700 AddObjects: peak RSS (VmHWM) {} KiB",
        status_kb(pid, "VmHWM:")
    );
    // Reset the high-water mark so the figure below is the GPV's own peak.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    let mut gpv_ms = Vec::new();
    let mut count = String::new();
    for _ in 0..5 {
        script.lock().unwrap_or_else(|e| e.into_inner()).queue = vec![gpv("Device.")];
        connection_request(cr_port);
        let inform = wait_inform(&rx);
        let (end, body) = wait_end(&rx);
        gpv_ms.push((end - inform).as_secs_f64() * 1e3);
        count = body
            .split("ParameterValueStruct[")
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap_or("?")
            .to_string();
    }
    println!(
        "GPV Device. ({count} parameters): session Inform to 204, median {:.2} ms (5 runs)",
        median(gpv_ms)
    );
    println!(
        "GPV Device.: peak RSS (VmHWM) {} KiB, private dirty after {} KiB",
        status_kb(pid, "VmHWM:"),
        rollup_kb(pid, "Private_Dirty:")
    );
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        print!("{}", breakdown(pid, "Rss:"));
    }
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
