//! `cargo bench --bench ping` (or `make bench`): IPPing of 10 echoes to 127.0.0.1, the whole
//! test (inputs, source address, socket, echoes, results), against the kernel's round trip:
//! 10 echoes back to back on an already open socket, and iputils `ping -c 10` when installed.
//! Goal (issue 11): the test within 10x the kernel's 10 round trips. Figures only.

use icwmp::diag::icmp::{self, Answer, EchoSocket};
use icwmp::diag::{ipping, Cancel, Inputs};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 50;
const ECHOES: u16 = 10;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// 10 echoes on one open socket: the kernel's round trips plus the least user space can add.
fn kernel_round_trips() -> Option<Vec<Duration>> {
    let addr = "127.0.0.1".parse().ok()?;
    let mut s = EchoSocket::open(addr, &icmp::Options::default()).ok()?;
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        for seq in 0..ECHOES {
            let data = icmp::payload(seq, 64);
            let sent = Instant::now();
            s.send(seq, &data).ok()?;
            let deadline = sent + Duration::from_secs(1);
            match s.wait_reply(seq, &data, sent, deadline, None).ok()? {
                Answer::Reply(_) => {}
                _ => return None,
            }
        }
        runs.push(t0.elapsed());
    }
    Some(runs)
}

/// iputils ping's own average round trip (ms) for 10 echoes 2 ms apart, if it is installed.
fn iputils_avg_ms() -> Option<f64> {
    let o = Command::new("ping")
        .args(["-n", "-q", "-c", "10", "-i", "0.002", "127.0.0.1"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text.lines().find(|l| l.contains("min/avg/max"))?;
    let figures = line.split('=').nth(1)?.trim();
    figures.split('/').nth(1)?.parse().ok()
}

fn main() {
    let Some(kernel) = kernel_round_trips() else {
        println!("ping: skipped, no ICMP socket (needs root or net.ipv4.ping_group_range)");
        return;
    };
    let inputs: Inputs = [
        ("Host", "127.0.0.1"),
        ("NumberOfRepetitions", "10"),
        ("DataBlockSize", "64"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut runs = Vec::with_capacity(RUNS);
    let mut avg_us = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let o = ipping::run(&inputs, &Cancel::new());
        runs.push(t0.elapsed());
        assert_eq!(o.state, "Complete", "{o:?}");
        let get = |k: &str| {
            o.values
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("SuccessCount").as_deref(), Some("10"), "{o:?}");
        avg_us.push(
            get("AverageResponseTimeDetailed")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0),
        );
    }
    avg_us.sort_unstable();
    let (k_med, k_min) = (
        median(kernel.clone()),
        kernel.iter().min().copied().unwrap_or_default(),
    );
    let (t_med, t_min) = (
        median(runs.clone()),
        runs.iter().min().copied().unwrap_or_default(),
    );
    println!("ping: {ECHOES} echoes to 127.0.0.1, {RUNS} runs each");
    println!("  kernel round trips (open socket):  median {k_med:?}  best {k_min:?}");
    println!("  IPPing test (whole run):           median {t_med:?}  best {t_min:?}");
    println!(
        "  IPPing AverageResponseTimeDetailed median {} us",
        avg_us[avg_us.len() / 2]
    );
    if let Some(ms) = iputils_avg_ms() {
        println!(
            "  iputils ping avg round trip        {:.3} ms (x10 = {:.3} ms)",
            ms,
            ms * 10.0
        );
    } else {
        println!("  iputils ping: not installed");
    }
    let ratio = t_med.as_secs_f64() / k_med.as_secs_f64().max(1e-9);
    let verdict = if ratio <= 10.0 { "within" } else { "OVER" };
    println!("  ratio (median): {ratio:.2}x the kernel's round trips ({verdict} the 10x goal)");
}
