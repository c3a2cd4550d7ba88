//! kill -9 at random points of sessions that carry events owed exactly once (M Reboot,
//! M ScheduleInform, TransferComplete), with a ledger of what the ACS acknowledged: nothing
//! the CPE accepted is lost, nothing acknowledged is reported twice.
//!
//! `CHAOS_KILLS` sets the number of kill points (default 12, what CI runs; `make chaos` runs
//! 120) and `CHAOS_SEED` the random seed (printed, so a failure can be replayed).

mod common;

use common::acs::Msg;
use common::{files, soap, Rig};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NS: &str = "urn:dslforum-org:cwmp-1-2";

/// xorshift64*: enough randomness for kill points, no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One report of an owed event the ACS received.
#[derive(Clone, Copy, Debug)]
struct Report {
    /// The ACS answered it (InformResponse, TransferCompleteResponse).
    answered: bool,
    /// The CPE then sent another message in the same session, so it had read that answer
    /// and, by then, persisted the delivery.
    proven: bool,
}

/// What the CPE owed and what it reported, from the ACS's log.
#[derive(Debug, Default)]
struct Ledger {
    /// (kind, CommandKey) -> its reports, in order.
    reports: BTreeMap<(String, String), Vec<Report>>,
    /// CommandKeys whose RPC the CPE answered with its Response (accepted).
    accepted: Vec<(String, String)>,
}

fn ledger(msgs: &[Msg]) -> Ledger {
    let mut l = Ledger::default();
    for (i, m) in msgs.iter().enumerate() {
        let report = Report {
            answered: m.reply == 200,
            proven: msgs[i + 1..].iter().any(|n| n.session == m.session),
        };
        match m.method().as_str() {
            "Inform" => {
                for (code, key) in m.events() {
                    if code == "M Reboot" || code == "M ScheduleInform" {
                        l.reports.entry((code, key)).or_default().push(report);
                    }
                }
            }
            "TransferComplete" => {
                if let Some(rpc) = m.rpc() {
                    let key = rpc.child_text("CommandKey");
                    l.reports
                        .entry(("TC".into(), key))
                        .or_default()
                        .push(report);
                }
            }
            "RebootResponse" | "ScheduleInformResponse" | "DownloadResponse" => {
                let kind = match m.method().as_str() {
                    "RebootResponse" => "M Reboot",
                    "ScheduleInformResponse" => "M ScheduleInform",
                    _ => "TC",
                };
                if let Some(key) = &m.answer_id {
                    l.accepted.push((kind.into(), key.clone()));
                }
            }
            _ => {}
        }
    }
    l
}

impl Ledger {
    /// Accepted requests whose event no report the ACS answered ever carried.
    fn lost(&self) -> Vec<&(String, String)> {
        self.accepted
            .iter()
            .filter(|k| {
                !self
                    .reports
                    .get(*k)
                    .is_some_and(|r| r.iter().any(|r| r.answered))
            })
            .collect()
    }

    /// Events reported again after a report the CPE provably saw acknowledged. (A report
    /// whose answer the CPE may not have read before the kill may be repeated: the spec
    /// allows that.)
    fn duplicated(&self) -> Vec<(&(String, String), usize)> {
        self.reports
            .iter()
            .filter_map(|(k, r)| {
                let first = r.iter().position(|r| r.proven)?;
                let again = r.len() - first - 1;
                (again > 0).then_some((k, again))
            })
            .collect()
    }

    /// Reports the ACS answered.
    fn acknowledged(&self) -> usize {
        self.reports
            .values()
            .flatten()
            .filter(|r| r.answered)
            .count()
    }
}

#[test]
fn kill9_at_random_points_loses_and_duplicates_nothing() {
    let kills: usize = std::env::var("CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    eprintln!("chaos: {kills} kill points, CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    let fw = files::serve(|_, _, w| files::ok(w, b"FIRMWARE-IMAGE"));
    let mut rig = Rig::start(&[]);
    rig.wait_idle();
    let started = Instant::now();
    for i in 0..kills {
        // The ID of each request is its CommandKey, so the ledger can tell which one an
        // answer is for.
        let key = format!("k{i}");
        let body = match i % 3 {
            0 => soap::reboot(&key),
            1 => soap::schedule_inform(1, &key),
            _ => format!(
                "<cwmp:Download><CommandKey>{key}</CommandKey><FileType>1 Firmware Upgrade Image</FileType><URL>{fw}/fw.bin</URL><Username></Username><Password></Password><FileSize>14</FileSize><TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds><SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>"
            ),
        };
        rig.acs.push_raw(soap::envelope(NS, &key, &body));
        // The daemon may be starting or busy: the request then waits for the next session.
        let _ = rig.cpe.connection_request();
        // Most kill points fall inside the session (tens of ms), some after it.
        let r = rng.next();
        let ms = if r % 4 == 0 { r % 1500 } else { r % 250 };
        std::thread::sleep(Duration::from_millis(ms));
        rig.cpe.kill9();
        rig.cpe.spawn();
    }
    // Settle: let every owed report reach the ACS.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut l = ledger(&rig.acs.msgs());
    while Instant::now() < deadline && (!l.lost().is_empty() || rig.acs.script_len() > 0) {
        std::thread::sleep(Duration::from_secs(2));
        let _ = rig.cpe.connection_request();
        l = ledger(&rig.acs.msgs());
    }
    let _ = rig.acs.wait_idle(Duration::from_secs(20));
    let l = ledger(&rig.acs.msgs());
    let acked = l.acknowledged();
    println!(
        "chaos ledger: {kills} kill points in {:.1} s; {} RPCs accepted, {acked} reports \
         acknowledged, {} lost, {} duplicated after acknowledgement",
        started.elapsed().as_secs_f64(),
        l.accepted.len(),
        l.lost().len(),
        l.duplicated().len()
    );
    let report = std::env::temp_dir().join(format!("icwmp-chaos-{seed}.log"));
    let summaries: Vec<String> = rig.acs.msgs().iter().map(Msg::summary).collect();
    let _ = std::fs::write(
        &report,
        format!("{}\n\n{}", summaries.join("\n"), rig.cpe.logs()),
    );
    assert!(
        l.lost().is_empty(),
        "lost (seed {seed}): {:?}; ACS log and daemon logs in {}",
        l.lost(),
        report.display()
    );
    assert!(
        l.duplicated().is_empty(),
        "duplicated (seed {seed}): {:?}; logs in {}",
        l.duplicated(),
        report.display()
    );
    assert!(
        !l.accepted.is_empty(),
        "no RPC was ever accepted: the test proved nothing"
    );
}
