//! Crash safety: the daemon is killed with SIGKILL at awkward moments while the ACS is down,
//! restarted, and when the ACS comes back every pending event arrives exactly once.

mod common;

use common::acs::{Acs, AcsOpts, Msg};
use common::daemon::{Cpe, CpeOpts};
use common::{soap, Rig, GO_DOWN, WAIT};
use std::time::{Duration, Instant};

/// Polls until the ACS refused at least `n` POSTs with 503.
fn wait_refused(rig: &Rig, n: u32) {
    let deadline = Instant::now() + WAIT;
    while rig.acs.counters().2 < n {
        if Instant::now() > deadline {
            rig.fail(&format!("the daemon made fewer than {n} attempts"), "");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many accepted Informs carry `code` (with `key`, when given).
fn count(msgs: &[Msg], code: &str, key: Option<&str>) -> usize {
    msgs.iter()
        .flat_map(|m| m.events())
        .filter(|(c, k)| c == code && key.is_none_or(|want| k == want))
        .count()
}

/// No Inform lists the same (code, key) twice.
fn assert_no_duplicates(msgs: &[Msg]) {
    for m in msgs {
        let ev = m.events();
        for (i, e) in ev.iter().enumerate() {
            assert!(!ev[i + 1..].contains(e), "{e:?} twice in {}", m.summary());
        }
    }
}

#[test]
fn kill_right_after_start_with_acs_closed_then_bootstrap_once() {
    let acs = Acs::start(AcsOpts::default());
    acs.close();
    let mut cpe = Cpe::start(CpeOpts::new(&acs.url()));
    // Right after start: maybe before the daemon wrote anything.
    cpe.kill9();
    cpe.spawn();
    // Let it get going (its connection-request port is up), then again.
    assert!(cpe.wait_cr_port(WAIT), "{}", cpe.logs());
    cpe.kill9();
    cpe.spawn();
    assert!(cpe.wait_cr_port(WAIT), "{}", cpe.logs());
    acs.open();
    let rig = Rig { acs, cpe };
    rig.wait_inform("0 BOOTSTRAP", 1);
    let msgs = rig.wait_idle();
    assert_no_duplicates(&msgs);
    assert_eq!(count(&msgs, "0 BOOTSTRAP", None), 1);
    assert_eq!(count(&msgs, "1 BOOT", None), 1);
    assert_eq!(msgs.iter().filter(|m| m.method() == "Inform").count(), 1);
    rig.assert_xsd_valid();
}

#[test]
fn kill_during_retries_keeps_events_once() {
    let opts = AcsOpts {
        unavailable: true,
        ..AcsOpts::default()
    };
    let mut rig = Rig::with(opts, &[], |_| {});
    wait_refused(&rig, 2);
    rig.cpe.kill9();
    rig.cpe.spawn();
    wait_refused(&rig, 3);
    rig.cpe.kill9();
    rig.cpe.spawn();
    wait_refused(&rig, 4);
    rig.acs.set_unavailable(false);
    rig.wait_inform("0 BOOTSTRAP", 1);
    let msgs = rig.wait_idle();
    assert_no_duplicates(&msgs);
    assert_eq!(count(&msgs, "0 BOOTSTRAP", None), 1);
    assert_eq!(count(&msgs, "1 BOOT", None), 1);
    rig.assert_xsd_valid();
}

#[test]
fn scheduled_inform_survives_kill9_and_arrives_once() {
    let mut rig = Rig::start(&[soap::schedule_inform(2, "survivor")]);
    rig.wait_answer("ScheduleInform", 1);
    // Killed right after accepting it, before the session even ended.
    rig.cpe.kill9();
    rig.acs.set_unavailable(true);
    rig.cpe.spawn();
    wait_refused(&rig, 1);
    rig.cpe.kill9();
    rig.cpe.spawn();
    wait_refused(&rig, 2);
    rig.acs.set_unavailable(false);
    rig.wait_inform("M ScheduleInform", 1);
    let msgs = rig.wait_idle();
    assert_no_duplicates(&msgs);
    assert_eq!(count(&msgs, "M ScheduleInform", Some("survivor")), 1);
    assert_eq!(count(&msgs, "3 SCHEDULED", None), 1);
    assert_eq!(
        count(&msgs, "0 BOOTSTRAP", None),
        1,
        "bootstrap was delivered before the kill"
    );
    rig.assert_xsd_valid();
}

#[test]
fn delivered_events_are_not_repeated_after_kill9() {
    let mut rig = Rig::with(
        AcsOpts::default(),
        &[soap::gpv(&["Device.DeviceInfo.UpTime"])],
        |o| {
            o.boot = false;
        },
    );
    // The Inform was answered (events delivered); kill in the middle of the session.
    rig.wait_answer("GetParameterValues", 1);
    rig.cpe.kill9();
    rig.cpe.spawn();
    rig.kick();
    let inform = rig.wait_inform("6 CONNECTION REQUEST", 1);
    assert!(!inform.has_event("0 BOOTSTRAP"), "{}", inform.summary());
    let msgs = rig.wait_idle();
    assert_eq!(count(&msgs, "0 BOOTSTRAP", None), 1);
    assert_eq!(count(&msgs, "1 BOOT", None), 0, "started without -b");
}

#[test]
fn reboot_event_survives_a_kill_before_the_first_inform() {
    // The daemon re-executes itself at the end of the session; the ACS goes away then so the
    // M Reboot Inform cannot be delivered; kill, restart, bring the ACS back.
    let mut rig = Rig::start(&[soap::reboot("rb-1"), GO_DOWN.to_string()]);
    rig.wait_answer("Reboot", 1);
    wait_refused(&rig, 1);
    rig.cpe.kill9();
    rig.cpe.spawn();
    wait_refused(&rig, 2);
    rig.acs.set_unavailable(false);
    rig.wait_inform("M Reboot", 1);
    let msgs = rig.wait_idle();
    assert_no_duplicates(&msgs);
    assert_eq!(count(&msgs, "M Reboot", Some("rb-1")), 1);
    rig.assert_xsd_valid();
}

#[test]
fn empty_user_names_are_filled_from_real_identifiers_on_the_first_start_only() {
    let mut rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.acs_user = String::new();
        o.cr_user = String::new();
        o.extra_args = vec!["--default-userid".into()];
        o.extra_cpe = "\toption manufacturer_oui '00A0BC'\n\toption serial_number 'SN42'\n".into();
    });
    rig.wait_inform("0 BOOTSTRAP", 1);
    let text = rig.cpe.config_text();
    assert_eq!(
        text.matches("option userid '00A0BC-SN42'").count(),
        2,
        "both user names filled:\n{text}"
    );
    // Emptied again by the operator: a later start leaves it as it is.
    let emptied = text.replace("option userid '00A0BC-SN42'", "option userid ''");
    std::fs::write(&rig.cpe.config, emptied).expect("config");
    let before = rig.wait_idle().len();
    rig.restart_until_inform(before);
    let text = rig.cpe.config_text();
    assert!(!text.contains("00A0BC-SN42"), "filled twice:\n{text}");
}
