//! Event-driven value-change detection with the real daemon: a CLI set, a UCI edit, an
//! interface address reach the ACS within a second with the poll switched off; a change is
//! reported across a kill -9, and a restart with nothing changed reports nothing.

mod common;

use common::acs::{AcsOpts, Msg};
use common::netns::{in_netns, ip};
use common::soap::{self, value_of};
use common::{Rig, WAIT};
use std::time::{Duration, Instant};

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";
/// The poll is off: whatever is reported came through an event.
const NO_POLL: &str = "\toption periodic_notify_enable '0'\n";
/// "Within a second": the target, on a loaded test machine.
const PROMPT: Duration = Duration::from_secs(1);

/// A daemon without the poll whose first session makes `name` active.
fn rig_with_active(name: &str) -> Rig {
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(name, 2)])], |o| {
        o.extra_cpe = NO_POLL.into();
    });
    rig.wait_answer("SetParameterAttributes", 1);
    rig.wait_settled();
    rig
}

/// Waits for the first Inform with `4 VALUE CHANGE` after message `from`.
fn value_change_after(rig: &Rig, from: usize) -> Msg {
    let msgs = rig.wait("an Inform with 4 VALUE CHANGE", |m| {
        m[from.min(m.len())..]
            .iter()
            .any(|x| x.has_event("4 VALUE CHANGE"))
    });
    msgs.into_iter()
        .skip(from)
        .find(|x| x.has_event("4 VALUE CHANGE"))
        .expect("found above")
}

fn assert_prompt(rig: &Rig, what: &str, since: Instant, inform: &Msg) {
    let took = inform.at.saturating_duration_since(since);
    if took > PROMPT {
        rig.fail(&format!("{what}: Inform {took:?} after the change"), "");
    }
}

#[test]
fn a_cli_set_is_informed_within_a_second_without_the_poll() {
    let rig = rig_with_active(PII);
    let before = rig.acs.msgs().len();
    let o = rig.cpe.cli(&["set", PII, "4321"]);
    let done = Instant::now();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let inform = value_change_after(&rig, before);
    assert_prompt(&rig, "CLI set", done, &inform);
    assert_eq!(
        value_of(&inform.values(), PII),
        Some("4321"),
        "{}",
        inform.body
    );
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn a_uci_edit_is_informed_once_with_or_without_sighup() {
    let rig = rig_with_active(PII);
    // Edited in place, as an editor would (no rename), then SIGHUP: the file event and the
    // reload both check, and the change is still reported once.
    let before = rig.acs.msgs().len();
    let text = rig.cpe.config_text();
    let edited = text.replace(
        "\toption periodic_inform_interval '86400'",
        "\toption periodic_inform_interval '7200'",
    );
    assert_ne!(text, edited);
    std::fs::write(&rig.cpe.config, edited).unwrap();
    let done = Instant::now();
    // SAFETY: kill(2) on our child's pid.
    unsafe { libc::kill(rig.cpe.pid().unwrap() as libc::pid_t, libc::SIGHUP) };
    let inform = value_change_after(&rig, before);
    assert_prompt(&rig, "UCI edit", done, &inform);
    assert_eq!(value_of(&inform.values(), PII), Some("7200"));
    std::thread::sleep(Duration::from_millis(500));
    let msgs = rig.wait_idle();
    let reports = msgs[before..]
        .iter()
        .filter(|m| m.has_event("4 VALUE CHANGE"))
        .count();
    assert_eq!(reports, 1, "one change, one report");
    // A plain edit without SIGHUP is seen too.
    let before = msgs.len();
    let text = rig.cpe.config_text();
    std::fs::write(&rig.cpe.config, text.replace("'7200'", "'3600'")).unwrap();
    let done = Instant::now();
    let inform = value_change_after(&rig, before);
    assert_prompt(&rig, "UCI edit without SIGHUP", done, &inform);
    assert_eq!(value_of(&inform.values(), PII), Some("3600"));
    rig.wait_idle();
}

#[test]
fn an_address_added_to_an_interface_is_informed_within_a_second() {
    // `lo` is interface 1 in a fresh namespace, with one IPv4 address.
    const COUNT: &str = "Device.IP.Interface.1.IPv4AddressNumberOfEntries";
    in_netns(|| {
        let rig = rig_with_active(COUNT);
        let before = rig.acs.msgs().len();
        ip(&["addr", "add", "10.9.9.1/32", "dev", "lo"]);
        let done = Instant::now();
        let inform = value_change_after(&rig, before);
        assert_prompt(&rig, "address added", done, &inform);
        assert_eq!(
            value_of(&inform.values(), COUNT),
            Some("2"),
            "{}",
            inform.body
        );
        rig.wait_idle();
        rig.assert_xsd_valid();
    });
}

#[test]
fn a_change_survives_a_kill_before_its_inform_response_and_is_reported_once() {
    let mut rig = rig_with_active(PII);
    // The ACS refuses the Inform that carries the change: it is never acknowledged.
    rig.acs.set_unavailable(true);
    let o = rig.cpe.cli(&["set", PII, "4321"]);
    assert!(o.status.success());
    let deadline = Instant::now() + WAIT;
    while rig.acs.counters().2 == 0 {
        assert!(Instant::now() < deadline, "no Inform attempt");
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.cpe.kill9();
    rig.acs.set_unavailable(false);
    let before = rig.acs.msgs().len();
    rig.cpe.spawn();
    let inform = value_change_after(&rig, before);
    assert!(inform.has_event("1 BOOT"), "{}", inform.body);
    assert_eq!(value_of(&inform.values(), PII), Some("4321"));
    let msgs = rig.wait_idle();

    // Delivered: a restart with nothing changed reports nothing.
    rig.cpe.kill9();
    let before = msgs.len();
    rig.cpe.spawn();
    let boot = rig.wait("the next BOOT Inform", |m| {
        m[before..].iter().any(|x| x.has_event("1 BOOT"))
    });
    let msgs = rig.wait_idle();
    let vc: Vec<String> = msgs[before..]
        .iter()
        .filter(|m| m.has_event("4 VALUE CHANGE"))
        .map(Msg::summary)
        .collect();
    assert!(vc.is_empty(), "unchanged value reported: {vc:?}");
    assert!(boot.len() > before);

    // A change made while the daemon was down is reported when it starts.
    rig.cpe.stop();
    let o = rig.cpe.cli(&["set", PII, "999"]);
    assert!(o.status.success());
    let before = msgs.len();
    rig.cpe.spawn();
    let inform = value_change_after(&rig, before);
    assert_eq!(value_of(&inform.values(), PII), Some("999"));
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn a_set_notif_on_the_running_daemon_applies_at_once_without_the_poll() {
    let rig = Rig::with(AcsOpts::default(), &[], |o| o.extra_cpe = NO_POLL.into());
    rig.wait_idle();
    let o = rig.cpe.cli(&["set_notif", PII, "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // The daemon takes the new attributes (and PII's baseline) on the watcher's hint.
    let deadline = Instant::now() + WAIT;
    while !rig.cpe.logs().contains("notification attributes reloaded") {
        assert!(Instant::now() < deadline, "{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = rig.acs.msgs().len();
    let o = rig.cpe.cli(&["set", PII, "4321"]);
    let done = Instant::now();
    assert!(o.status.success());
    let inform = value_change_after(&rig, before);
    assert_prompt(&rig, "CLI set after set_notif", done, &inform);
    assert_eq!(value_of(&inform.values(), PII), Some("4321"));
    rig.wait_idle();
}

#[test]
fn a_local_change_during_a_session_where_the_acs_sets_values_is_still_reported() {
    const CODE: &str = "Device.DeviceInfo.ProvisioningCode";
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::spa(&[(PII, 2), (CODE, 2)])],
        |o| o.extra_cpe = NO_POLL.into(),
    );
    rig.wait_answer("SetParameterAttributes", 1);
    rig.wait_idle();
    let before = rig.acs.msgs().len();
    // The ACS sets PII, then holds the session while a local change happens.
    rig.acs
        .push(soap::spv(&[(PII, "777", "xsd:unsignedInt")], "k-acs"));
    rig.acs.push_pause(Duration::from_millis(1500));
    rig.acs.push(soap::gpv(&[PII]));
    rig.kick();
    // Half a second in, the session is held in the pause after the SPV.
    std::thread::sleep(Duration::from_millis(500));
    let o = rig.cpe.cli(&["set", CODE, "local-change"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let msgs = rig.wait_idle();
    assert!(
        msgs[before..]
            .iter()
            .any(|m| m.answer_to.as_deref() == Some("GetParameterValues")),
        "the session was still running"
    );
    let inform = value_change_after(&rig, before);
    let values = inform.values();
    assert_eq!(
        value_of(&values, CODE),
        Some("local-change"),
        "{}",
        inform.body
    );
    // The ACS's own write is not reported back to it (PII is no forced parameter: it would
    // only be in the list as a change).
    assert_eq!(
        value_of(&values, PII),
        None,
        "PII reported back: {}",
        inform.body
    );
}

#[test]
fn passive_changes_accumulate_and_ride_the_next_inform() {
    const CODE: &str = "Device.DeviceInfo.ProvisioningCode";
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(PII, 1)])], |o| {
        o.extra_cpe = NO_POLL.into();
    });
    rig.wait_answer("SetParameterAttributes", 1);
    rig.wait_settled();
    let before = rig.acs.msgs().len();
    // Two passive changes, the second overriding the first: no session of their own.
    for v in ["111", "222"] {
        let o = rig.cpe.cli(&["set", PII, v]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rig.acs.msgs().len(),
        before,
        "a passive change opened a session"
    );
    // The next session, whatever opens it, carries the latest value with 4 VALUE CHANGE.
    let o = rig.cpe.cli(&["set", CODE, "other"]);
    assert!(o.status.success());
    rig.kick();
    let inform = value_change_after(&rig, before);
    assert!(
        inform.has_event("6 CONNECTION REQUEST"),
        "{}",
        inform.summary()
    );
    assert_eq!(
        value_of(&inform.values(), PII),
        Some("222"),
        "{}",
        inform.body
    );
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn an_active_change_waits_for_the_throttle_after_the_last_session() {
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(PII, 2)])], |o| {
        o.extra_cpe = format!("{NO_POLL}\toption active_notif_throttle '3'\n");
    });
    rig.wait_answer("SetParameterAttributes", 1);
    let msgs = rig.wait_settled();
    let session_end = msgs.last().expect("messages").at;
    let before = msgs.len();
    let o = rig.cpe.cli(&["set", PII, "4321"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let inform = value_change_after(&rig, before);
    let after = inform.at.saturating_duration_since(session_end);
    // Held until 3 s after the last session ended (whole seconds: up to 1 s more), and sent
    // then, not at some later poll.
    assert!(
        after >= Duration::from_millis(2000) && after <= Duration::from_millis(4500),
        "Inform {after:?} after the last session"
    );
    rig.wait_idle();
}
