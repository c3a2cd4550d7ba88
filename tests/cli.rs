//! The command line: `icwmpd -c ...` output and exit codes, a broken config file, and the
//! daemon's robustness against real-world ACS request samples and garbage.

mod common;

use common::daemon::{bin, Cpe, CpeOpts};
use common::{soap, xml, Rig, WAIT};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";

fn cpe() -> Cpe {
    Cpe::prepare(CpeOpts::new("http://127.0.0.1:9/acs"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn report(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn get_prints_path_and_value() {
    let c = cpe();
    let o = c.cli(&["get", "Device.DeviceInfo.UpTime"]);
    assert_eq!(o.status.code(), Some(0), "{}", report(&o));
    let out = stdout(&o);
    let v = out
        .trim()
        .strip_prefix("Device.DeviceInfo.UpTime => ")
        .unwrap_or_else(|| panic!("{}", report(&o)));
    assert!(v.parse::<u64>().is_ok(), "{}", report(&o));
}

#[test]
fn unknown_path_prints_fault_9005_and_exits_1() {
    let c = cpe();
    let o = c.cli(&["get", "Device.NoSuchThing.Value"]);
    assert_eq!(o.status.code(), Some(1), "{}", report(&o));
    assert!(stdout(&o).starts_with("Fault 9005: "), "{}", report(&o));
}

#[test]
fn bad_usage_exits_2() {
    let c = cpe();
    let o = c.cli(&["frobnicate", "x"]);
    assert_eq!(o.status.code(), Some(2), "{}", report(&o));
    let o = c.cli(&["get"]);
    assert_eq!(o.status.code(), Some(2), "{}", report(&o));
}

#[test]
fn set_is_persisted_and_visible_to_get() {
    let c = cpe();
    let o = c.cli(&["set", PII, "777", "cli-key"]);
    assert_eq!(o.status.code(), Some(0), "{}", report(&o));
    assert_eq!(stdout(&o).trim(), format!("{PII} => 777"));
    let o = c.cli(&["get", PII]);
    assert_eq!(stdout(&o).trim(), format!("{PII} => 777"), "{}", report(&o));
    let uci = c.config_text();
    assert!(uci.contains("periodic_inform_interval '777'"), "{uci}");
    assert!(uci.contains("ParameterKey 'cli-key'"), "{uci}");
    let o = c.cli(&["set", PII, "minus-one"]);
    assert_eq!(o.status.code(), Some(1), "{}", report(&o));
    assert!(stdout(&o).contains("9007"), "{}", report(&o));
    assert_eq!(
        stdout(&c.cli(&["get", PII])).trim(),
        format!("{PII} => 777")
    );
}

#[test]
fn add_then_del_an_instance() {
    let c = cpe();
    let o = c.cli(&["add", "Device.NAT.PortMapping."]);
    assert_eq!(o.status.code(), Some(0), "{}", report(&o));
    let out = stdout(&o);
    let obj = out
        .trim()
        .strip_suffix(" => added")
        .unwrap_or_else(|| panic!("{}", report(&o)))
        .to_string();
    assert!(
        obj.starts_with("Device.NAT.PortMapping.") && obj.ends_with('.'),
        "{obj}"
    );
    // The instance persists between CLI runs.
    let o = c.cli(&["get", &format!("{obj}Enable")]);
    assert_eq!(o.status.code(), Some(0), "{}", report(&o));
    let o = c.cli(&["get_names", "Device.NAT.PortMapping.", "1"]);
    assert!(stdout(&o).contains(&obj), "{}", report(&o));
    let o = c.cli(&["del", &obj]);
    assert_eq!(o.status.code(), Some(0), "{}", report(&o));
    assert_eq!(stdout(&o).trim(), format!("{obj} => deleted"));
    let o = c.cli(&["get", &format!("{obj}Enable")]);
    assert_eq!(o.status.code(), Some(1), "{}", report(&o));
    assert!(stdout(&o).starts_with("Fault 9005"), "{}", report(&o));
}

#[test]
fn set_notif_then_get_notif() {
    let c = cpe();
    let o = c.cli(&["set_notif", PII, "2"]);
    assert_eq!(o.status.code(), Some(0), "{}", report(&o));
    let o = c.cli(&["get_notif", PII]);
    assert_eq!(stdout(&o).trim(), format!("{PII} => 2"), "{}", report(&o));
    let o = c.cli(&["set_notif", PII, "9"]);
    assert_eq!(o.status.code(), Some(1), "{}", report(&o));
    let o = c.cli(&["set_notif", PII, "x"]);
    assert_eq!(o.status.code(), Some(1), "{}", report(&o));
    assert_eq!(
        stdout(&c.cli(&["get_notif", PII])).trim(),
        format!("{PII} => 2")
    );
}

/// Runs `cmd`, killing it after `timeout`; None when it had to be killed.
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn icwmpd");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Broken configs and the line their error must name.
const BROKEN: [(&str, usize); 2] = [
    // A quote may span lines in UCI, so the one left open runs to the end of the file.
    (
        "config acs 'acs'\n\toption url 'http://127.0.0.1:9/'\n\toption userid 'oops\n",
        3,
    ),
    (
        "config acs 'acs'\n\toption url 'http://127.0.0.1:9/'\n\nfrobnicate 'x'\n",
        4,
    ),
];

#[test]
fn broken_config_makes_the_daemon_exit_naming_file_and_line() {
    for (i, (text, line)) in BROKEN.iter().enumerate() {
        let dir = common::temp_dir("broken");
        let file = dir.join(format!("cwmp{i}"));
        std::fs::write(&file, text).unwrap();
        for cli in [false, true] {
            let mut cmd = Command::new(bin());
            cmd.arg("--config")
                .arg(&file)
                .arg("--state-dir")
                .arg(dir.join("state"));
            if cli {
                cmd.args(["-c", "get", PII]);
            }
            let o = run_with_timeout(cmd, WAIT).expect("the daemon must exit on a broken config");
            assert!(!o.status.success(), "{}", report(&o));
            let err = String::from_utf8_lossy(&o.stderr);
            let want = format!("{}:{line}:", file.display());
            assert!(
                err.contains(&want),
                "error should name {want}\n{}",
                report(&o)
            );
        }
    }
}

#[test]
fn missing_config_file_is_an_error() {
    let dir = common::temp_dir("missing");
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(dir.join("nope"))
        .arg("--state-dir")
        .arg(dir.join("state"));
    let o = run_with_timeout(cmd, WAIT).expect("the daemon must exit");
    assert!(!o.status.success(), "{}", report(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nope"),
        "{}",
        report(&o)
    );
}

/// Methods an ACS may call (the request samples to replay), minus the ones that restart the
/// daemon (covered by the session tests).
const ACS_REQUESTS: [&str; 17] = [
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Download",
    "Upload",
    "ScheduleInform",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
    "ScheduleDownload",
    "CancelTransfer",
    "ChangeDUState",
    "SetVouchers",
];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Points every URL of a sample at a closed local port: no traffic leaves the machine.
fn localize_urls(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = ["http://", "https://", "ftp://"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
    {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(|c: char| c == '<' || c == '"' || c.is_whitespace())
            .map_or(rest.len(), |e| i + e);
        let url = &rest[i..end];
        if url.contains("schemas.xmlsoap.org") || url.contains("www.w3.org") {
            out.push_str(url);
        } else {
            out.push_str("http://127.0.0.1:9/sample");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The ACS-side request samples from ../shared/spec/test-vectors: (unique cwmp:ID, envelope).
fn request_samples(shared: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    files_under(&shared.join("spec/test-vectors"), &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let Ok(doc) = xml::parse(&text) else {
            continue;
        };
        let Some(method) = xml::body_child(&doc).map(|e| e.name.clone()) else {
            continue;
        };
        if !ACS_REQUESTS.contains(&method.as_str()) {
            continue;
        }
        // A unique cwmp:ID per sample, to tell which ones were answered.
        let id = doc
            .child("Header")
            .and_then(|h| h.child("ID"))
            .map(|e| e.text.clone())
            .unwrap_or_default();
        let unique = format!("vector-{}", out.len());
        let text = if id.is_empty() {
            text
        } else {
            text.replacen(&format!(">{id}<"), &format!(">{unique}<"), 1)
        };
        out.push((unique, localize_urls(&text)));
    }
    out
}

#[test]
fn acs_request_samples_never_crash_the_daemon_and_are_all_answered() {
    let Some(shared) = common::shared_dir() else {
        eprintln!("note: ../shared missing; skipping the test-vector replay");
        return;
    };
    let samples = request_samples(&shared);
    assert!(samples.len() >= 20, "only {} samples found", samples.len());
    let rig = Rig::start(&[]);
    for (_, env) in &samples {
        rig.acs.push_raw(env.clone());
    }
    rig.kick_when_idle();
    let msgs = rig.acs.msgs();
    assert!(rig.cpe_alive(), "the daemon died:\n{}", rig.cpe.logs());
    let unanswered: Vec<&str> = samples
        .iter()
        .filter(|(id, _)| !msgs.iter().any(|m| m.answer_id.as_ref() == Some(id)))
        .map(|(_, env)| env.as_str())
        .collect();
    assert!(
        unanswered.is_empty(),
        "{} sample(s) not answered:\n{}\n{}",
        unanswered.len(),
        unanswered.join("\n----\n"),
        summaries(&msgs)
    );
    // Answers echo the request's ID.
    for m in msgs.iter().filter(|m| m.answer_id.is_some()) {
        assert!(m.id_echoed, "ID not echoed: {}\n{}", m.summary(), m.body);
    }
    rig.assert_xsd_valid();
}

fn summaries(msgs: &[common::acs::Msg]) -> String {
    msgs.iter().map(|m| m.summary() + "\n").collect()
}

#[test]
fn garbage_from_the_acs_never_crashes_the_daemon() {
    let rig = Rig::start(&[]);
    let ok = soap::envelope(soap::CWMP_1_2, "g1", &soap::gpv(&[PII]));
    let garbage = [
        ok[..ok.len() / 2].to_string(),
        "<<<not xml at all".to_string(),
        soap::envelope(soap::CWMP_1_2, "g2", ""),
        soap::envelope("urn:example:not-cwmp", "g3", "<cwmp:GetRPCMethods/>"),
        soap::envelope(
            soap::CWMP_1_2,
            "g4",
            &format!("{}{}", soap::gpv(&[PII]), soap::gpv(&[PII])),
        ),
        soap::envelope(soap::CWMP_1_2, "g5", &"<a>".repeat(5000)),
        soap::envelope(
            soap::CWMP_1_2,
            "g6",
            "<cwmp:GetParameterValues><ParameterNames/></cwmp:GetParameterValues>",
        ),
        soap::envelope(
            soap::CWMP_1_2,
            "g7",
            &soap::spv(&[(PII, &"9".repeat(400), "xsd:unsignedInt")], "k"),
        ),
    ];
    for g in garbage {
        rig.acs.push_raw(g);
    }
    rig.kick_when_idle();
    assert!(rig.cpe_alive(), "the daemon died:\n{}", rig.cpe.logs());
    // Still serving: a fresh session works.
    let msgs = rig.session(&[soap::gpv(&[PII])]);
    let a = rig.answer(&msgs, "GetParameterValues");
    assert_eq!(
        soap::value_of(&a.values(), PII),
        Some("86400"),
        "{}",
        a.body
    );
}

trait RigExt {
    fn kick_when_idle(&self);
    fn cpe_alive(&self) -> bool;
}

impl RigExt for Rig {
    /// Waits until the script is used up, kicking the daemon with connection requests while
    /// it sits idle with requests left (a failed session leaves it waiting to retry).
    fn kick_when_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.acs.wait_idle(Duration::from_secs(1)).is_err() {
            if Instant::now() > deadline {
                let r = self.acs.wait_idle(Duration::ZERO).err().unwrap_or_default();
                self.fail("the script was never used up", &r);
            }
            let _ = self.cpe.connection_request();
        }
    }

    fn cpe_alive(&self) -> bool {
        std::fs::metadata(format!("/proc/{}", self.cpe.pid().unwrap_or(0))).is_ok()
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.cpe.pid().unwrap_or(0)))
                .unwrap_or_default()
                .contains(") Z ")
    }
}
