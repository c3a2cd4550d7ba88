//! `cargo bench --bench transfer`: a 64 MB Download over loopback HTTP by the release
//! daemon, against `curl` fetching the same file, and the daemon's peak RSS before and after.
//! Figures only: nothing here asserts a target.

#[path = "common/port.rs"]
mod port;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

const SIZE: usize = 64 << 20;

fn read_head(r: &mut BufReader<TcpStream>) -> Option<(String, usize)> {
    let mut first = String::new();
    if r.read_line(&mut first).ok()? == 0 {
        return None; // the peer closed the connection
    }
    let mut len = 0;
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 || l.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    Some((first, len))
}

/// Serves the 64 MB file; reports (start, end) of each GET.
fn file_server(data: Arc<Vec<u8>>) -> (u16, mpsc::Receiver<Duration>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (data, tx) = (data.clone(), tx.clone());
            std::thread::spawn(move || {
                let mut w = s.try_clone().expect("clone");
                let mut r = BufReader::new(s);
                if read_head(&mut r).is_none() {
                    return;
                }
                let t = Instant::now();
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    data.len()
                );
                let _ = w.write_all(h.as_bytes());
                let _ = w.write_all(&data);
                let _ = w.shutdown(std::net::Shutdown::Write);
                // Wait for the client to close: the bytes are then all read.
                let _ = r.read_to_end(&mut Vec::new());
                let _ = tx.send(t.elapsed());
            });
        }
    });
    (port, rx)
}

fn envelope(id: u32, body: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">{id}</cwmp:ID></soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"#
    )
}

/// A one-purpose ACS: sends `script` after the Inform, answers TransferComplete, reports
/// every CPE message.
fn acs(script: Arc<Mutex<Vec<String>>>) -> (u16, mpsc::Receiver<(Instant, String)>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let (script, tx) = (script.clone(), tx.clone());
            std::thread::spawn(move || {
                let mut w = s.try_clone().expect("clone");
                let mut r = BufReader::new(s);
                let mut id = 0;
                while let Some((_, len)) = read_head(&mut r) {
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    id += 1;
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let reply = if text.contains("<cwmp:Inform>") {
                        Some("<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>".to_string())
                    } else if text.contains("<cwmp:TransferComplete>") {
                        Some("<cwmp:TransferCompleteResponse/>".to_string())
                    } else {
                        let mut s = script.lock().unwrap_or_else(|e| e.into_inner());
                        (!s.is_empty()).then(|| s.remove(0))
                    };
                    if std::env::var_os("BENCH_VERBOSE").is_some() {
                        let m = text.split("<cwmp:").nth(1).unwrap_or("(empty)");
                        let r = reply.as_deref().unwrap_or("204");
                        eprintln!(
                            "ACS conn {:?}: {:.40} -> {:.40}",
                            std::thread::current().id(),
                            m,
                            r
                        );
                    }
                    let _ = tx.send((Instant::now(), text));
                    let out = match reply {
                        Some(b) => {
                            let b = envelope(id, &b);
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{b}", b.len())
                        }
                        None => "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".into(),
                    };
                    if w.write_all(out.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Kills the daemon when the bench ends, panics included.
struct Daemon(std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mbps(d: Duration) -> f64 {
    SIZE as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_icwmpd");
    let dir = std::env::temp_dir().join(format!("icwmp-bench-xfer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let data: Arc<Vec<u8>> = Arc::new((0..SIZE).map(|i| (i % 253) as u8).collect());
    let (fport, got) = file_server(data);
    let url = format!("http://127.0.0.1:{fport}/big.bin");

    let mut curl = Vec::new();
    for _ in 0..3 {
        let st = Command::new("curl")
            .args(["-s", "-o"])
            .arg(dir.join("curl.out"))
            .arg(&url)
            .status();
        match st {
            Ok(s) if s.success() => curl.push(got.recv().expect("served")),
            _ => {
                println!("curl not available: no reference figure");
                break;
            }
        }
    }
    let _ = std::fs::remove_file(dir.join("curl.out"));

    let script = Arc::new(Mutex::new(Vec::new()));
    let (aport, seen) = acs(script.clone());
    let cr = port::daemon_port();
    let config = dir.join("cwmp");
    std::fs::write(
        &config,
        format!("config acs 'acs'\n\toption url 'http://127.0.0.1:{aport}/acs'\n\toption periodic_inform_enable '0'\n\toption get_rpc_methods '0'\n\nconfig cpe 'cpe'\n\toption port '{cr}'\n\toption log_severity 'WARNING'\n"),
    )
    .expect("config");
    let start = || {
        Daemon(
            Command::new(exe)
                .args(["-b", "--config"])
                .arg(&config)
                .arg("--state-dir")
                .arg(dir.join("state"))
                .stdout(Stdio::null())
                .stderr(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(dir.join("log"))
                        .map_or_else(|_| Stdio::null(), Stdio::from),
                )
                .spawn()
                .expect("start icwmpd"),
        )
    };
    let mut child = start();
    let pid = child.0.id();
    let wait = |what: &str, pred: &dyn Fn(&str) -> bool| loop {
        match seen.recv_timeout(Duration::from_secs(120)) {
            Ok((t, m)) if pred(&m) => return t,
            Ok(_) => {}
            Err(_) => panic!("timed out waiting for {what}"),
        }
    };
    wait("first session", &|m| m.is_empty());
    std::thread::sleep(Duration::from_millis(300));
    let idle_rss = status_kb(pid, "VmRSS:");
    let idle_hwm = status_kb(pid, "VmHWM:");
    let mut runs = Vec::new();
    for i in 0..3 {
        script.lock().unwrap_or_else(|e| e.into_inner()).push(format!("<cwmp:Download><CommandKey>big{i}</CommandKey><FileType>2 Web Content</FileType><URL>{url}</URL><Username></Username><Password></Password><FileSize>{SIZE}</FileSize><TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds><SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>"));
        // A connection request would need digest auth: a restart gives a session too.
        drop(child);
        child = start();
        let t0 = wait("DownloadResponse", &|m| m.contains("DownloadResponse"));
        let served = got.recv_timeout(Duration::from_secs(120)).expect("served");
        let t1 = wait("TransferComplete", &|m| {
            m.contains("<cwmp:TransferComplete>")
        });
        // Let the session end (acknowledgement persisted) before the next restart.
        wait("session end", &|m| m.is_empty());
        runs.push((served, t1 - t0, status_kb(child.0.id(), "VmHWM:")));
    }
    drop(child);
    for (i, c) in curl.iter().enumerate() {
        println!(
            "curl 64 MiB run {i}: {:.0} ms ({:.0} MiB/s)",
            c.as_secs_f64() * 1e3,
            mbps(*c)
        );
    }
    println!("icwmpd idle: VmRSS {idle_rss} KiB, VmHWM {idle_hwm} KiB");
    for (i, (served, total, hwm)) in runs.iter().enumerate() {
        println!(
            "icwmpd 64 MiB run {i}: transfer {:.0} ms ({:.0} MiB/s), DownloadResponse to TransferComplete {:.0} ms, peak RSS (VmHWM) {hwm} KiB",
            served.as_secs_f64() * 1e3,
            mbps(*served),
            total.as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
