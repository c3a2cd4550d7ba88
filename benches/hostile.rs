//! `cargo bench --bench hostile` (part of `make bench`): what the worst messages of the
//! hostile-ACS suite cost the release daemon.
//!
//! For each message: the main-loop stall (from the last byte of the message to the daemon's
//! next word: its answer, or the retry Inform less the fixed 1 s backoff configured here) and
//! the daemon's peak RSS (VmHWM) after it. Each message runs against a fresh daemon, so
//! every peak is that message's own. Figures only: nothing here asserts a target.

#[path = "common/http.rs"]
mod http;
#[path = "common/port.rs"]
mod port;
use http::read_request;

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn envelope(body: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">7</cwmp:ID></soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"#
    )
}

const INFORM_RESPONSE: &str =
    "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>";

fn http(body: &[u8], extra: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn compress(data: &[u8], zlib: bool) -> Vec<u8> {
    let (prog, args): (&str, &[&str]) = if zlib {
        (
            "python3",
            &["-c", "import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read(), 9))"],
        )
    } else {
        ("gzip", &["-c", "-9"])
    };
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("compressor");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let w = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("compressed");
    let _ = w.join();
    out.stdout
}

/// The worst messages: (name, raw HTTP response).
fn messages() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    let empties = "<a/>".repeat(200_000);
    let body = envelope(&format!("<cwmp:GetParameterValues><ParameterNames>{empties}</ParameterNames></cwmp:GetParameterValues>"));
    let gz = compress(body.as_bytes(), false);
    v.push((
        format!("200k empty elements ({} B gzip)", gz.len()),
        http(&gz, "Content-Encoding: gzip\r\n"),
    ));
    let names: String = (0..150_000)
        .map(|i| format!("<string>Device.DeviceInfo.X{i}</string>"))
        .collect();
    let body = envelope(&format!(
        "<cwmp:GetParameterValues><ParameterNames>{names}</ParameterNames></cwmp:GetParameterValues>"
    ));
    let gz = compress(body.as_bytes(), false);
    v.push((
        format!("GPV of 150k names ({} B gzip)", gz.len()),
        http(&gz, "Content-Encoding: gzip\r\n"),
    ));
    let params: String = (0..10_000)
        .map(|i| format!("<ParameterValueStruct><Name>Device.X_Bench.P{i}</Name><Value>{}</Value></ParameterValueStruct>", "v".repeat(64)))
        .collect();
    let body = envelope(&format!(
        "<cwmp:SetParameterValues><ParameterList>{params}</ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"
    ));
    v.push((
        format!("SPV of 10k parameters ({} B)", body.len()),
        http(body.as_bytes(), ""),
    ));
    let decls: String = (0..40_000)
        .map(|i| format!(" xmlns:n{i}=\"urn:x:{i}\""))
        .collect();
    let children = "<string>Device.</string>".repeat(4_000);
    let body = envelope(&format!(
        "<cwmp:GetParameterValues{decls}><ParameterNames>{children}</ParameterNames></cwmp:GetParameterValues>"
    ));
    v.push((
        format!("40k namespace declarations, 4k children ({} B)", body.len()),
        http(body.as_bytes(), ""),
    ));
    let unclosed = "<a>".repeat(200_000);
    let body = envelope(&format!("<cwmp:GetParameterValues>{unclosed}"));
    v.push((
        format!("200k unclosed tags ({} B)", body.len()),
        http(body.as_bytes(), ""),
    ));
    // `make test` runs this once as a debug-build smoke run: smaller bombs keep it quick.
    let bomb = if cfg!(debug_assertions) {
        64 << 20
    } else {
        1 << 30
    };
    let label = if bomb == 1 << 30 { "1 GiB" } else { "64 MiB" };
    let zeros = vec![0u8; bomb];
    let gz = compress(&zeros, false);
    v.push((
        format!("{label} gzip bomb ({} B)", gz.len()),
        http(&gz, "Content-Encoding: gzip\r\n"),
    ));
    let z = compress(&zeros, true);
    drop(zeros);
    v.push((
        format!("{label} zlib bomb ({} B)", z.len()),
        http(&z, "Content-Encoding: deflate\r\n"),
    ));
    let mut big = b"<a>".to_vec();
    big.resize(bomb.min(100 << 20), b' ');
    v.push((format!("{} MB body", big.len() >> 20), http(&big, "")));
    v
}

/// What the ACS saw after the hostile message: when it was sent, and the next POST.
struct Outcome {
    sent: Instant,
    next: Instant,
    next_is_inform: bool,
}

/// Serves: Inform → InformResponse; first empty POST → `hostile`; then plain answers.
fn acs(listener: TcpListener, hostile: Vec<u8>, tx: mpsc::Sender<Outcome>) {
    let mut hostile = Some(hostile);
    let mut sent: Option<Instant> = None;
    for stream in listener.incoming().flatten() {
        let mut w = stream.try_clone().expect("clone");
        let mut r = BufReader::new(stream);
        while let Some(body) = read_request(&mut r) {
            let now = Instant::now();
            let inform = String::from_utf8_lossy(&body).contains("<cwmp:Inform>");
            if let Some(s) = sent.take() {
                let _ = tx.send(Outcome {
                    sent: s,
                    next: now,
                    next_is_inform: inform,
                });
            }
            let answer = if inform {
                http(envelope(INFORM_RESPONSE).as_bytes(), "")
            } else if let Some(h) = hostile.take() {
                // Ignore a daemon that hangs up early: its next word still comes.
                let _ = w.write_all(&h);
                sent = Some(Instant::now());
                continue;
            } else {
                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_vec()
            };
            if w.write_all(&answer).is_err() {
                break;
            }
        }
    }
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let exe = std::env::var("ICWMPD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_icwmpd").into());
    println!("hostile ACS: {exe}");
    println!("  message                                          stall ms   peak RSS KiB  outcome");
    let dir = std::env::temp_dir().join(format!("icwmp-bench-hostile-{}", std::process::id()));
    for (i, (name, bytes)) in messages().into_iter().enumerate() {
        let d = dir.join(i.to_string());
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("dir");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cr_port = port::daemon_port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || acs(listener, bytes, tx));
        let config = d.join("cwmp");
        std::fs::write(
            &config,
            format!(
                "config acs 'acs'\n\toption url 'http://127.0.0.1:{port}/acs'\n\toption periodic_inform_enable '0'\n\toption get_rpc_methods '0'\n\
                 \toption retry_min_wait_interval '1'\n\toption retry_interval_multiplier '1000'\n\n\
                 config cpe 'cpe'\n\toption port '{cr_port}'\n\toption cr_host '127.0.0.1'\n\toption log_severity 'INFO'\n"
            ),
        )
        .expect("config");
        let child = Command::new(&exe)
            .args(["-b", "--config"])
            .arg(&config)
            .arg("--state-dir")
            .arg(d.join("state"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start icwmpd");
        let daemon = Daemon(child);
        let out = rx.recv_timeout(Duration::from_secs(120));
        let hwm = status_kb(daemon.0.id(), "VmHWM:");
        match out {
            Ok(o) => {
                let mut stall = o.next.duration_since(o.sent);
                let outcome = if o.next_is_inform {
                    // Failed, then retried after exactly 1 s.
                    stall = stall.saturating_sub(Duration::from_secs(1));
                    "session failed, retried"
                } else {
                    "answered"
                };
                println!(
                    "  {name:<48} {:>8.1}   {hwm:>12}  {outcome}",
                    stall.as_secs_f64() * 1000.0
                );
            }
            Err(_) => println!("  {name:<48} {:>8}   {hwm:>12}  no word in 120 s", "-"),
        }
        drop(daemon);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
