//! Storage faults, black-box: corrupt state files, a full disk, a read-only state directory,
//! a kill right after the RebootResponse, and the mode of the rewritten UCI file. The daemon
//! must start, say what it could not read or write, keep what it had, never write a half
//! file, and answer 9002 when an RPC's effect could not be persisted.
//!
//! The full-disk and read-only tests mount a small tmpfs on the state directory; where
//! mounting is not permitted (not root) they print a SKIP line and pass.

mod common;

use common::acs::{Acs, AcsOpts, Msg};
use common::daemon::{Cpe, CpeOpts};
use common::{pause, soap, Rig, GO_DOWN, WAIT};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";
/// A download URL nobody serves: the transfer is queued with an hour's delay, never run.
const FW_URL: &str = "http://127.0.0.1:9/fw.bin";

/// A tmpfs mounted on a directory for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIP: cannot mount a tmpfs on {} (needs root)",
                dir.display()
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, opt: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{opt}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {opt} {}", self.0.display());
    }

    /// Fills the filesystem up (the daemon's own reserve stays).
    fn fill(&self) {
        let mut f = std::fs::File::create(self.0.join("filler")).expect("create filler");
        let page = [0x5au8; 4096];
        while f.write_all(&page).is_ok() {}
        while f.write_all(b"x").is_ok() {}
    }

    fn free(&self) {
        let _ = std::fs::remove_file(self.0.join("filler"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A daemon whose state directory is a fresh tmpfs, and its ACS with `script`.
fn rig_on_tmpfs(script: &[String], size: &str) -> Option<(Tmpfs, Rig)> {
    let acs = Acs::start(AcsOpts::default());
    for r in script {
        if r == GO_DOWN {
            acs.push_go_down();
        } else {
            acs.push(r.clone());
        }
    }
    let mut cpe = Cpe::prepare(CpeOpts::new(&acs.url()));
    let fs = Tmpfs::mount(&cpe.state_dir, size)?;
    cpe.spawn();
    Some((fs, Rig { acs, cpe }))
}

/// Polls `cond` every 20 ms until it holds or [`WAIT`] passes.
fn poll(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn count(msgs: &[Msg], code: &str, key: Option<&str>) -> usize {
    msgs.iter()
        .flat_map(|m| m.events())
        .filter(|(c, k)| c == code && key.is_none_or(|want| k == want))
        .count()
}

fn informs_after(msgs: &[Msg], before: usize) -> Vec<Msg> {
    msgs[before.min(msgs.len())..]
        .iter()
        .filter(|m| m.method() == "Inform")
        .cloned()
        .collect()
}

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn rewriting_the_uci_file_keeps_mode_0600() {
    let acs = Acs::start(AcsOpts::default());
    acs.push(soap::spv(&[(PII, "1234", "xsd:unsignedInt")], "key-600"));
    let mut cpe = Cpe::prepare(CpeOpts::new(&acs.url()));
    std::fs::set_permissions(&cpe.config, std::fs::Permissions::from_mode(0o600)).unwrap();
    cpe.spawn();
    let rig = Rig { acs, cpe };
    rig.wait_answer("SetParameterValues", 1);
    rig.wait_idle();
    assert!(rig.cpe.config_text().contains("'key-600'"));
    let mode = std::fs::metadata(&rig.cpe.config)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{:o}", mode & 0o777);
}

#[test]
fn a_corrupt_state_json_costs_only_what_it_held() {
    let mut rig = Rig::start(&[soap::download("dl-keep", FW_URL, 10, 3600)]);
    rig.wait_answer("Download", 1);
    rig.wait_idle();
    let state = rig.cpe.state_dir.clone();
    assert!(read(&state.join("transfers.json")).contains("dl-keep"));
    for bad in [
        "",
        "{\"version\":1,\"acs_url\":\"htt",
        "\u{1}garbage",
        "[1,2]",
        "\"s\"",
    ] {
        rig.cpe.kill9();
        std::fs::write(state.join("state.json"), bad).unwrap();
        std::fs::write(state.join("transfers.json.tmp"), "{\"half").unwrap();
        let _ = std::fs::remove_file(state.join("state.json.corrupt"));
        let before = rig.acs.msgs().len();
        rig.restart_until_inform(before);
        let msgs = rig.wait_idle();
        let informs = informs_after(&msgs, before);
        let first = &informs[0];
        assert!(
            !first.has_event("0 BOOTSTRAP") && first.has_event("1 BOOT"),
            "{bad:?}: {}\n{}",
            first.summary(),
            rig.cpe.logs()
        );
        assert!(
            read(&state.join("transfers.json")).contains("dl-keep"),
            "{bad:?}: the queued transfer was dropped"
        );
        assert_eq!(read(&state.join("state.json.corrupt")), bad);
        assert!(tmp_files(&state).is_empty(), "{:?}", tmp_files(&state));
        let log = std::fs::read_to_string(rig.cpe.log_path()).unwrap();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("state.json is unusable"))
            .collect();
        assert_eq!(lines.len(), 1, "{bad:?}: {log}");
        assert!(lines[0].contains("state.json.corrupt"), "{}", lines[0]);
    }
}

#[test]
fn wrong_json_types_in_state_files_are_logged() {
    let mut rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    let before = rig.wait_idle().len();
    rig.cpe.kill9();
    let state = rig.cpe.state_dir.clone();
    std::fs::write(state.join("transfers.json"), "[1]").unwrap();
    std::fs::write(state.join("du_jobs.json"), "7").unwrap();
    std::fs::write(state.join("outbox.json"), "{\"entries\":{}}").unwrap();
    std::fs::write(state.join("notifications.json"), "null").unwrap();
    rig.restart_until_inform(before);
    let log = std::fs::read_to_string(rig.cpe.log_path()).unwrap();
    for (file, what) in [
        ("transfers.json is unusable", "a JSON array where an object"),
        ("du_jobs.json is unusable", "a JSON number"),
        ("outbox.json: 'entries'", "a JSON object where an array"),
        ("notifications.json is unusable", "a JSON null"),
    ] {
        assert!(
            log.lines().any(|l| l.contains(file) && l.contains(what)),
            "no '{file}' line saying '{what}':\n{log}"
        );
    }
}

#[test]
fn m_reboot_survives_a_kill_right_after_the_reboot_response() {
    // The ACS holds the POST that carries the RebootResponse: the session cannot end, so
    // the reboot (and the end of session) never comes before the kill.
    let mut rig = Rig::start(&[soap::reboot("rb-kill"), pause(4000)]);
    rig.wait_inform("1 BOOT", 1);
    // The RebootResponse leaves within milliseconds of the Reboot.
    std::thread::sleep(Duration::from_millis(1500));
    let before = rig.acs.msgs().len();
    rig.cpe.kill9();
    rig.cpe.spawn();
    let inform = rig.wait_inform("M Reboot", 1);
    assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
    let msgs = rig.wait_idle();
    assert!(
        msgs.iter()
            .any(|m| m.answer_to.as_deref() == Some("Reboot")),
        "the RebootResponse was sent before the kill"
    );
    assert_eq!(count(&msgs, "M Reboot", Some("rb-kill")), 1);
    assert_eq!(informs_after(&msgs, before).len(), 1);
}

#[test]
fn no_session_between_a_reboot_request_and_the_reboot() {
    // A reboot command that does not reboot: the daemon must wait for the reboot rather
    // than report `M Reboot` in a session of its own.
    let acs = Acs::start(AcsOpts::default());
    acs.push(soap::reboot("rb-wait"));
    let mut o = CpeOpts::new(&acs.url());
    o.extra_cpe = "\toption reboot_command 'true'\n".into();
    let rig = Rig {
        acs,
        cpe: Cpe::start(o),
    };
    rig.wait_answer("Reboot", 1);
    let msgs = rig.wait_idle();
    std::thread::sleep(Duration::from_secs(3));
    let later = rig.acs.msgs();
    assert_eq!(
        later.len(),
        msgs.len(),
        "a session opened before the reboot"
    );
    assert!(rig.cpe.logs().contains("rebooting"));
}

#[test]
fn full_disk_rpcs_answer_9002_and_leave_no_temporaries() {
    let Some((fs, rig)) = rig_on_tmpfs(&[], "256k") else {
        return;
    };
    rig.wait_inform("0 BOOTSTRAP", 1);
    // Settled: a state file the CPE rewrites after the 204 would free the old file's pages
    // once the disk is full, leaving room for what must fail (a make-test flake).
    rig.wait_settled();
    let state = rig.cpe.state_dir.clone();
    fs.fill();
    let msgs = rig.session(&[
        soap::schedule_inform(60, "si-full"),
        soap::spa(&[(PII, 2)]),
        soap::download("dl-full", FW_URL, 10, 3600),
        soap::gpv(&[PII]),
    ]);
    for m in ["ScheduleInform", "SetParameterAttributes", "Download"] {
        let a = rig.answer(&msgs, m);
        assert_eq!(
            a.fault().map(|f| f.0),
            Some(9002),
            "{m}: {}\n{}",
            a.summary(),
            rig.cpe.logs()
        );
    }
    assert!(rig.answer(&msgs, "GetParameterValues").fault().is_none());
    assert!(tmp_files(&state).is_empty(), "{:?}", tmp_files(&state));
    assert!(!read(&state.join("state.json")).contains("si-full"));
    assert!(!read(&state.join("transfers.json")).contains("dl-full"));
    // Room again: the same requests succeed.
    fs.free();
    let msgs = rig.session(&[soap::schedule_inform(60, "si-ok"), soap::spa(&[(PII, 2)])]);
    assert!(rig.answer(&msgs, "ScheduleInform").fault().is_none());
    assert!(rig
        .answer(&msgs, "SetParameterAttributes")
        .fault()
        .is_none());
    assert!(read(&state.join("state.json")).contains("si-ok"));
}

#[test]
fn an_m_reboot_delivered_on_a_full_disk_is_not_sent_again() {
    let Some((fs, mut rig)) = rig_on_tmpfs(&[soap::reboot("rb-full"), GO_DOWN.into()], "256k")
    else {
        return;
    };
    rig.wait_answer("Reboot", 1);
    // Re-executed, refused by the ACS: fill the disk, then let the M Reboot through.
    assert!(poll(|| rig.acs.counters().2 >= 1), "{}", rig.cpe.logs());
    fs.fill();
    rig.acs.set_unavailable(false);
    rig.wait_inform("M Reboot", 1);
    let before = rig.wait_idle().len();
    rig.restart_until_inform(before);
    let msgs = rig.wait_idle();
    let informs = informs_after(&msgs, before);
    assert!(
        !informs.iter().any(|m| m.has_event("M Reboot")),
        "{}\n{}",
        informs[0].summary(),
        rig.cpe.logs()
    );
    assert_eq!(count(&msgs, "M Reboot", Some("rb-full")), 1);
    assert!(tmp_files(&rig.cpe.state_dir).is_empty());
}

#[test]
fn a_read_only_state_dir_keeps_what_it_had() {
    let Some((fs, mut rig)) = rig_on_tmpfs(&[], "256k") else {
        return;
    };
    rig.wait_inform("0 BOOTSTRAP", 1);
    let before = rig.wait_idle().len();
    rig.cpe.kill9();
    let state = rig.cpe.state_dir.clone();
    std::fs::write(state.join("notifications.json"), "{garbage").unwrap();
    fs.remount("ro");
    rig.restart_until_inform(before);
    let msgs = rig.wait_idle();
    let informs = informs_after(&msgs, before);
    assert!(
        !informs[0].has_event("0 BOOTSTRAP"),
        "{}",
        informs[0].summary()
    );
    let log = std::fs::read_to_string(rig.cpe.log_path()).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("notifications.json is unusable")
                && l.contains("could not be set aside")
                && l.contains("Read-only")),
        "{log}"
    );
    // One line per file that cannot be written, however often it is saved.
    let state_lines = log
        .lines()
        .filter(|l| l.contains("[ERROR]") && l.contains("cannot write") && l.contains("state.json"))
        .count();
    assert_eq!(state_lines, 1, "{log}");
    let msgs = rig.session(&[soap::schedule_inform(60, "si-ro")]);
    assert_eq!(
        rig.answer(&msgs, "ScheduleInform").fault().map(|f| f.0),
        Some(9002)
    );
    assert_eq!(read(&state.join("notifications.json")), "{garbage");
    fs.remount("rw");
}
