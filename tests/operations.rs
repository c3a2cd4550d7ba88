//! Operations features, black-box: the last-good-ACS fallback, the HTTP proxy to the ACS, the
//! metrics (`icwmpd -c metrics`, ubus `tr069 metrics`) and millisecond log timestamps.

mod common;

use common::acs::{Acs, AcsOpts};
use common::{soap, Rig, WAIT};
use std::time::{Duration, Instant};

fn poll(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn informs(acs: &Acs) -> Vec<common::acs::Msg> {
    acs.msgs()
        .into_iter()
        .filter(|m| m.method() == "Inform")
        .collect()
}

fn state_json(rig: &Rig) -> serde_json::Value {
    let text = std::fs::read_to_string(rig.cpe.state_dir.join("state.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// An SPV moves the device to a dead URL: after `fallback_attempts` failed sessions the old,
/// live ACS gets an Inform again (without the new URL's BOOTSTRAP), and once the new URL comes
/// alive the slow retry takes it, with its BOOTSTRAP, and it becomes the last good one.
#[test]
fn a_dead_new_acs_url_falls_back_to_the_last_good_one_then_is_taken_when_alive() {
    let new = Acs::start(AcsOpts::default());
    new.close();
    let new_url = new.url();
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::spv(
            &[("Device.ManagementServer.URL", &new_url, "xsd:string")],
            "typo",
        )],
        |o| {
            o.extra_acs = "\toption fallback_attempts '3'\n\toption fallback_time '0'\n\
                           \toption fallback_retry_interval '4'\n"
                .into();
        },
    );
    rig.wait_answer("SetParameterValues", 1);
    rig.wait_idle();
    let old_url = rig.acs.url();
    // Persisted once the session completed.
    assert!(poll(
        || state_json(&rig)["last_good_acs_url"] == old_url.as_str()
    ));
    // The old ACS hears from the device again, after exactly three failures.
    let back = rig.wait("an Inform back at the old ACS", |m| {
        m.iter().filter(|x| x.method() == "Inform").count() >= 2
    });
    let inform = back
        .iter()
        .filter(|x| x.method() == "Inform")
        .nth(1)
        .unwrap();
    assert!(
        !inform.has_event("0 BOOTSTRAP"),
        "the new URL's BOOTSTRAP went to the old ACS: {}",
        inform.body
    );
    let logs = rig.cpe.logs();
    let failed = logs.matches("session failed").count();
    assert_eq!(failed, 3, "{logs}");
    assert!(
        logs.contains(&format!(
            "ACS {new_url} has not completed a session after 3 attempt(s)"
        )) && logs.contains(&format!("going back to the last good ACS {old_url}")),
        "{logs}"
    );
    // The operator's URL stays configured; the old one is still the last good one.
    assert!(rig.cpe.config_text().contains(&new_url));
    assert_eq!(state_json(&rig)["last_good_acs_url"], old_url.as_str());

    // The new ACS comes alive: the next slow retry (4 s) takes it, with its BOOTSTRAP.
    let alive = Instant::now();
    new.open();
    let msgs = new
        .wait_for(WAIT, |m| m.iter().any(|x| x.has_event("0 BOOTSTRAP")))
        .unwrap_or_else(|r| rig.fail("no BOOTSTRAP at the new ACS", &r));
    assert!(
        alive.elapsed() <= Duration::from_secs(10),
        "{:?}",
        alive.elapsed()
    );
    let first = msgs.iter().find(|m| m.method() == "Inform").unwrap();
    assert!(first.has_event("0 BOOTSTRAP"), "{}", first.body);
    new.wait_idle(WAIT)
        .unwrap_or_else(|r| rig.fail("the new ACS's session did not end", &r));
    assert!(
        poll(|| state_json(&rig)["last_good_acs_url"] == new_url.as_str()),
        "{}",
        rig.cpe.logs()
    );
    // From now on sessions go to the new ACS only.
    let old_informs = informs(&rig.acs).len();
    rig.cpe
        .connection_request()
        .unwrap_or_else(|e| rig.fail(&e, ""));
    new.wait_for(WAIT, |m| {
        m.iter().any(|x| x.has_event("6 CONNECTION REQUEST"))
    })
    .unwrap_or_else(|r| rig.fail("no CONNECTION REQUEST at the new ACS", &r));
    assert_eq!(informs(&rig.acs).len(), old_informs);
}

/// `fallback_enable 0`: a dead new URL is retried for ever, the old ACS never hears again.
#[test]
fn without_the_fallback_a_dead_url_is_retried_and_the_old_acs_left_alone() {
    let new = Acs::start(AcsOpts::default());
    new.close();
    let new_url = new.url();
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::spv(
            &[("Device.ManagementServer.URL", &new_url, "xsd:string")],
            "typo",
        )],
        |o| {
            o.extra_acs = "\toption fallback_enable '0'\n\toption fallback_attempts '1'\n".into();
        },
    );
    rig.wait_idle();
    assert!(
        poll(|| rig.cpe.logs().matches("session failed").count() >= 3),
        "{}",
        rig.cpe.logs()
    );
    assert_eq!(informs(&rig.acs).len(), 1);
    assert!(!rig.cpe.logs().contains("going back"));
}

/// `cpe.log_timestamp_ms 1`: every line of the log file has `HH:MM:SS.mmm`; the default is
/// the C format, whole seconds.
#[test]
fn log_file_lines_carry_milliseconds_when_asked() {
    for ms in [true, false] {
        let dir = common::temp_dir("logms");
        let file = dir.join("icwmpd.log");
        let rig = Rig::with(AcsOpts::default(), &[], |o| {
            o.extra_cpe = format!(
                "\toption log_to_file '1'\n\toption log_file_name '{}'\n{}",
                file.display(),
                if ms {
                    "\toption log_timestamp_ms '1'\n"
                } else {
                    ""
                }
            );
        });
        rig.wait_inform("1 BOOT", 1);
        rig.wait_idle();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(" [")).collect();
        assert!(lines.len() >= 3, "{text}");
        let mut fractions = std::collections::BTreeSet::new();
        for l in &lines {
            // DD-MM-YYYY, HH:MM:SS[.mmm] [LEVEL]
            let (time, _) = l.split_once(" [").unwrap();
            let b = time.as_bytes();
            let c_format = b.len() >= 20
                && b[2] == b'-'
                && b[5] == b'-'
                && &time[10..12] == ", "
                && b[14] == b':'
                && b[17] == b':';
            assert!(c_format, "{l}");
            if ms {
                assert_eq!(time.len(), 24, "{l}");
                assert_eq!(b[20], b'.', "{l}");
                assert!(time[21..].bytes().all(|c| c.is_ascii_digit()), "{l}");
                fractions.insert(time[21..].to_string());
            } else {
                assert_eq!(time.len(), 20, "{l}");
            }
        }
        if ms {
            // Real milliseconds, not a constant.
            assert!(fractions.len() >= 2, "{text}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
