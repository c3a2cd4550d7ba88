//! `cargo bench --bench notify` (part of `make bench`): how soon an active value change reaches
//! the ACS, and what a notification poll costs, with the release daemon.
//!
//! Prints, over [`RUNS`] changes each, the median and max time from the change being made to
//! the Inform with `4 VALUE CHANGE` arriving at a scripted ACS, with the poll switched off
//! (`periodic_notify_enable 0`: only events can report it):
//! - `icwmpd -c set` (timed from the CLI's exit: its write is done by then);
//! - an edit of the UCI file followed by SIGHUP;
//! - an address added to (or removed from) `lo` in a network namespace of the bench's own (a
//!   host value the daemon learns of through rtnetlink; skipped when not root).
//!
//! Then the CPU time of one poll cycle over ~1,000 notified parameters (67 NAT port mappings
//! of 15 parameters, notification 1), as the daemon measures it (`notification check:` debug
//! lines), over a few seconds of 1 s polls. Figures only: nothing here asserts a target.

#[path = "../tests/common/mod.rs"]
mod common;

use common::acs::{AcsOpts, Msg};
use common::{soap, Rig};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 20;
const PII: &str = "Device.ManagementServer.PeriodicInformInterval";
const NO_POLL: &str = "\toption periodic_notify_enable '0'\n";

fn rig_with_active(name: &str) -> Rig {
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(name, 2)])], |o| {
        o.extra_cpe = NO_POLL.into();
    });
    rig.wait_answer("SetParameterAttributes", 1);
    settle(&rig);
    rig
}

/// Waits until the session is over and its end (which takes the values as the new
/// baseline) has run.
fn settle(rig: &Rig) {
    rig.wait_idle();
    std::thread::sleep(Duration::from_millis(300));
}

/// Makes `RUNS` changes with `change(i)` and returns the delay to each Inform.
fn measure(rig: &Rig, mut change: impl FnMut(usize)) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..RUNS {
        let before = rig.acs.msgs().len();
        change(i);
        let made = Instant::now();
        let msgs = rig.wait("an Inform with 4 VALUE CHANGE", |m| {
            m[before.min(m.len())..]
                .iter()
                .any(|x| x.has_event("4 VALUE CHANGE"))
        });
        let inform: &Msg = msgs[before..]
            .iter()
            .find(|x| x.has_event("4 VALUE CHANGE"))
            .expect("found above");
        out.push(inform.at.saturating_duration_since(made));
        settle(rig);
    }
    out
}

fn report(what: &str, mut d: Vec<Duration>) {
    if d.is_empty() {
        return;
    }
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    println!(
        "change -> Inform, {what:<28} median {:7.1} ms   max {:7.1} ms   ({} runs)",
        ms(d[d.len() / 2]),
        ms(d[d.len() - 1]),
        d.len()
    );
}

fn cli_set() -> Vec<Duration> {
    let rig = rig_with_active(PII);
    measure(&rig, |i| {
        let v = (1000 + i).to_string();
        let o = rig.cpe.cli(&["set", PII, &v]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    })
}

fn uci_edit_sighup() -> Vec<Duration> {
    let rig = rig_with_active(PII);
    let mut current = "86400".to_string();
    measure(&rig, |i| {
        let next = (2000 + i).to_string();
        let text = rig.cpe.config_text().replace(
            &format!("periodic_inform_interval '{current}'"),
            &format!("periodic_inform_interval '{next}'"),
        );
        std::fs::write(&rig.cpe.config, text).expect("edit the UCI file");
        // SAFETY: kill(2) on our child's pid.
        unsafe { libc::kill(rig.cpe.pid().expect("running") as libc::pid_t, libc::SIGHUP) };
        current = next;
    })
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    assert!(o.status.success(), "ip {args:?}");
}

/// In a network namespace of its own (this thread's), so the host is left alone.
fn interface_address() -> Vec<Duration> {
    std::thread::spawn(|| {
        // SAFETY: unshare(2) of this thread's network namespace only.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            println!(
                "change -> Inform, interface address: skipped (no network namespace; run as root)"
            );
            return Vec::new();
        }
        ip(&["link", "set", "lo", "up"]);
        let rig = rig_with_active("Device.IP.Interface.1.IPv4AddressNumberOfEntries");
        measure(&rig, |i| {
            let op = if i % 2 == 0 { "add" } else { "del" };
            ip(&["addr", op, "10.9.9.1/32", "dev", "lo"]);
        })
    })
    .join()
    .expect("namespace thread")
}

/// CPU time (us) of each poll cycle over the notified port mappings.
fn poll_cost() {
    const ROWS: usize = 67;
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe = "\toption periodic_notify_enable '1'\n\
                       \toption periodic_notify_interval '1'\n"
            .into();
    });
    rig.wait_idle();
    let mut cpe = rig.cpe;
    cpe.stop();
    let rows: Vec<String> = (1..=ROWS).map(|n| format!("\"{n}\":{{}}")).collect();
    let dm = format!(
        "{{\"version\":1,\"tables\":{{\"Device.NAT.PortMapping.\":{{\"next\":{},\"rows\":{{{}}}}}}},\"values\":{{}}}}",
        ROWS + 1,
        rows.join(",")
    );
    std::fs::write(cpe.state_dir.join("dm.json"), dm).expect("write dm.json");
    std::fs::write(
        cpe.state_dir.join("notifications.json"),
        r#"{"Device.NAT.PortMapping.": {"notification": 1}}"#,
    )
    .expect("write notifications.json");
    cpe.spawn();
    std::thread::sleep(Duration::from_secs(8));
    let log = std::fs::read_to_string(cpe.log_path()).unwrap_or_default();
    let mut cycles: Vec<(usize, u64)> = log
        .lines()
        .filter_map(|l| {
            let rest = l.split("notification check: ").nth(1)?;
            let mut w = rest.split_whitespace();
            let n = w.next()?.parse().ok()?;
            let cpu = w.nth(1)?.parse().ok()?;
            Some((n, cpu))
        })
        .filter(|(n, _)| *n >= 1000)
        .collect();
    cycles.sort_by_key(|c| c.1);
    match (cycles.first(), cycles.last()) {
        (Some(_), Some(max)) => println!(
            "poll cycle over {} notified parameters: median {} us CPU, max {} us ({} cycles)",
            max.0,
            cycles[cycles.len() / 2].1,
            max.1,
            cycles.len()
        ),
        _ => println!("poll cycle: no measurement in the log"),
    }
}

fn main() {
    report("CLI set", cli_set());
    report("UCI edit + SIGHUP", uci_edit_sighup());
    report("interface address (netlink)", interface_address());
    poll_cost();
}
