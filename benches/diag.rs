//! `cargo bench --bench diag`: DownloadDiagnostics of 64 MiB over loopback HTTP against
//! `curl -o /dev/null` fetching the same file (throughput; goal >= 80% of curl), and the
//! extra peak RSS of the engine during its run (goal < 2 MB). Figures only: nothing here
//! asserts a target.

use icwmp::diag::{self, Cancel, Inputs, Kind};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Instant;

const SIZE: usize = 64 << 20;
const RUNS: usize = 5;

/// Reads a request head (small: from curl or the engine).
fn read_head(s: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || s.read(&mut b).unwrap_or(0) == 0 {
            return false;
        }
        head.push(b[0]);
    }
    true
}

/// Serves a 64 MiB body of one 256 KiB block allocated up front (so the server adds
/// nothing to the RSS measured around the engine's runs but its thread stacks).
fn file_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let block = std::sync::Arc::new(vec![b'x'; 256 << 10]);
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let block = block.clone();
            std::thread::spawn(move || {
                if !read_head(&mut s) {
                    return;
                }
                let h = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n"
                );
                if s.write_all(h.as_bytes()).is_err() {
                    return;
                }
                for _ in 0..SIZE / block.len() {
                    if s.write_all(&block).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// A field of /proc/self/status in kB.
fn status_kb(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn curl_secs(url: &str) -> Option<f64> {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{time_total} %{size_download}",
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut w = text.split_whitespace();
    let secs: f64 = w.next()?.parse().ok()?;
    let size: f64 = w.next()?.parse().ok()?;
    (size as usize == SIZE).then_some(secs)
}

fn main() {
    let port = file_server();
    let url = format!("http://127.0.0.1:{port}/64m");
    let mut inputs = Inputs::new();
    inputs.insert("DownloadURL".into(), url.clone());

    // Warm up curl (page cache), then the engine's first run: its cold extra RSS (heap and
    // stack pages it touches for the first time in this process).
    let _ = curl_secs(&url);
    let cold_ok = reset_peak();
    let base = status_kb("VmRSS:");
    let o = diag::run(Kind::Download, &inputs, &Cancel::new());
    let cold_kb = status_kb("VmHWM:").saturating_sub(base);
    assert_eq!(o.state, "Complete", "{o:?}");

    // Interleaved, best of RUNS each, so a load change on the machine hits both alike.
    let mut curl_best = f64::MAX;
    let mut curl_ok = true;
    let mut ours_best = f64::MAX;
    let mut extra_kb = 0;
    for _ in 0..RUNS {
        if curl_ok {
            match curl_secs(&url) {
                Some(s) => curl_best = curl_best.min(s),
                None => {
                    println!("diag: curl unavailable or failed; no comparison");
                    curl_ok = false;
                }
            }
        }
        let peak_ok = reset_peak();
        let base = status_kb("VmRSS:");
        let t = Instant::now();
        let o = diag::run(Kind::Download, &inputs, &Cancel::new());
        let secs = t.elapsed().as_secs_f64();
        let peak = status_kb("VmHWM:");
        assert_eq!(o.state, "Complete", "{o:?}");
        ours_best = ours_best.min(secs);
        if peak_ok {
            extra_kb = extra_kb.max(peak.saturating_sub(base));
        }
    }

    let mib = SIZE as f64 / (1 << 20) as f64;
    println!("diag: DownloadDiagnostics 64 MiB over loopback, best of {RUNS}");
    println!(
        "diag:   engine  {:8.1} MiB/s ({ours_best:.3} s)",
        mib / ours_best
    );
    if curl_ok && curl_best < f64::MAX {
        println!(
            "diag:   curl    {:8.1} MiB/s ({curl_best:.3} s)",
            mib / curl_best
        );
        println!(
            "diag:   engine/curl {:.0}% (goal >= 80%)",
            100.0 * curl_best / ours_best
        );
    }
    if cold_ok {
        println!("diag:   extra peak RSS of the engine: first run {cold_kb} kB, later runs {extra_kb} kB (goal < 2048 kB)");
    } else {
        println!("diag:   extra peak RSS: /proc/self/clear_refs not writable, not measured");
    }
}
