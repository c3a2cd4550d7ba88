//! What the ACS sets in ManagementServer takes effect as set, and notification attributes set
//! from outside the ACS apply: HeartbeatPolicy on time, PeriodicInformInterval below 60 s,
//! PeriodicInformTime with its milliseconds, the forceEnabled SPA rule, `custom_notify_json`
//! and `icwmpd -c set_notif` on a running daemon.

mod common;

use common::acs::AcsOpts;
use common::soap::{self, value_of};
use common::{Rig, WAIT};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";
const PIT: &str = "Device.ManagementServer.PeriodicInformTime";
const HB: &str = "Device.ManagementServer.HeartbeatPolicy.";
const SW: &str = "Device.DeviceInfo.SoftwareVersion";
/// UCI lines for a value-change poll every second.
const NOTIFY_FAST: &str =
    "\toption periodic_notify_enable '1'\n\toption periodic_notify_interval '1'\n";

/// Unix time in milliseconds.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix milliseconds of a wall-clock time.
fn ms_of(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for Unix milliseconds.
fn iso_ms(ms: i64) -> String {
    let s = icwmp::time::format_datetime(ms.div_euclid(1000));
    format!("{}.{:03}Z", &s[..s.len() - 1], ms.rem_euclid(1000))
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

/// The output of a CLI run, asserting it succeeded.
fn cli_ok(rig: &Rig, args: &[&str]) -> String {
    let o = rig.cpe.cli(args);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{args:?}: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The ACS turns HeartbeatPolicy on (it was 9005): `14 HEARTBEAT` Informs, carrying that
/// event alone, arrive within 1 s after each InitiationTime + k * ReportingInterval, and
/// GetParameterValues reads back what was set, milliseconds included.
fn heartbeat_on_time(notify_poll: bool, beats: i64) {
    let interval = 30;
    // Phase: whole seconds count; the fraction must read back as written.
    let t0 = (now_ms() / 1000 + 4) * 1000 + 250;
    let initiation = iso_ms(t0);
    let spv = soap::spv(
        &[
            (&format!("{HB}Enable"), "1", "xsd:boolean"),
            (
                &format!("{HB}ReportingInterval"),
                &interval.to_string(),
                "xsd:unsignedInt",
            ),
            (&format!("{HB}InitiationTime"), &initiation, "xsd:dateTime"),
        ],
        "hb",
    );
    let rig = Rig::with(AcsOpts::default(), &[spv, soap::gpv(&[HB])], |o| {
        if !notify_poll {
            o.extra_cpe = "\toption periodic_notify_enable '0'\n".into();
        }
    });
    let gpv = rig.wait_answer("GetParameterValues", 1);
    let values = gpv.values();
    assert_eq!(value_of(&values, &format!("{HB}Enable")), Some("true"));
    assert_eq!(
        value_of(&values, &format!("{HB}ReportingInterval")),
        Some("30")
    );
    assert_eq!(
        value_of(&values, &format!("{HB}InitiationTime")),
        Some(initiation.as_str()),
        "{}",
        gpv.body
    );
    for k in 0..beats {
        // Up to a whole interval after the previous one, plus slack.
        let n = k as usize + 1;
        let count =
            |m: &[common::acs::Msg]| m.iter().filter(|x| x.has_event("14 HEARTBEAT")).count();
        let msgs = rig
            .acs
            .wait_for(WAIT + Duration::from_secs(interval as u64), |m| {
                count(m) >= n
            })
            .unwrap_or_else(|r| rig.fail(&format!("no heartbeat #{n}"), &r));
        let hb = msgs
            .into_iter()
            .filter(|x| x.has_event("14 HEARTBEAT"))
            .nth(n - 1)
            .expect("counted above");
        let due = (t0 / 1000 + k * interval) * 1000;
        let late = ms_of(hb.wall) - due;
        assert!(
            (0..=1000).contains(&late),
            "heartbeat {k} {late} ms after its due time\n{}",
            rig.cpe.logs()
        );
        assert_eq!(
            hb.events(),
            [("14 HEARTBEAT".to_string(), String::new())],
            "{}",
            hb.body
        );
    }
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn heartbeat_policy_set_by_the_acs_fires_on_time() {
    heartbeat_on_time(true, 2);
}

#[test]
fn heartbeat_fires_on_time_without_the_notification_poll() {
    heartbeat_on_time(false, 1);
}

#[test]
fn a_short_periodic_inform_interval_is_honoured() {
    let rig = Rig::start(&[
        soap::spv(
            &[
                (
                    "Device.ManagementServer.PeriodicInformEnable",
                    "1",
                    "xsd:boolean",
                ),
                (PII, "2", "xsd:unsignedInt"),
            ],
            "pii",
        ),
        soap::gpv(&[PII]),
        // 0 is outside TR-181's range: refused, never accepted and ignored.
        soap::spv(&[(PII, "0", "xsd:unsignedInt")], "zero"),
    ]);
    let gpv = rig.wait_answer("GetParameterValues", 1);
    assert_eq!(value_of(&gpv.values(), PII), Some("2"));
    let refused = rig.wait_answer("SetParameterValues", 2);
    let (code, params) = soap::cwmp_fault(&refused.rpc().unwrap()).expect("a fault");
    assert_eq!((code, params), (9003, vec![(PII.to_string(), 9007)]));
    let first = rig.wait_inform("2 PERIODIC", 1);
    let third = rig.wait_inform("2 PERIODIC", 3);
    let took = third.at.duration_since(first.at);
    assert!(
        took >= Duration::from_millis(3500) && took <= Duration::from_millis(4600),
        "3 periodic Informs in {took:?}"
    );
    rig.assert_xsd_valid();
}

#[test]
fn periodic_inform_time_round_trips_with_its_milliseconds_and_a_rewrite_costs_nothing() {
    let t = "2025-03-04T10:11:43.944Z";
    let set = || soap::spv(&[(PIT, t, "xsd:dateTime")], "pit");
    let rig = Rig::start(&[set(), soap::gpv(&[PIT])]);
    let gpv = rig.wait_answer("GetParameterValues", 1);
    assert_eq!(value_of(&gpv.values(), PIT), Some(t), "{}", gpv.body);
    let reloads = |rig: &Rig| rig.cpe.logs().matches("config reloaded").count();
    assert!(poll(|| reloads(&rig) == 1), "{}", rig.cpe.logs());
    let inode = || {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&rig.cpe.config).unwrap().ino()
    };
    let before = inode();
    // GenieACS writing back what it read: same value, same ParameterKey.
    let msgs = rig.session(&[set(), soap::gpv(&[PIT])]);
    let gpv = rig.answer(&msgs, "GetParameterValues");
    assert_eq!(value_of(&gpv.values(), PIT), Some(t));
    // One more session: the previous one's end-of-session work is over.
    rig.session(&[]);
    assert_eq!(reloads(&rig), 1, "an unchanged value reloaded the config");
    assert_eq!(
        inode(),
        before,
        "an unchanged value rewrote the config file"
    );
    rig.assert_xsd_valid();
}

#[test]
fn force_enabled_notification_is_always_2_whatever_is_asked() {
    let rig = Rig::start(&[
        soap::spa(&[(SW, 2)]),
        soap::spa(&[(SW, 0)]),
        soap::gpa(&[SW]),
    ]);
    let msgs = rig.wait_idle();
    let answers: Vec<_> = msgs
        .iter()
        .filter(|m| m.answer_to.as_deref() == Some("SetParameterAttributes"))
        .map(|m| m.method())
        .collect();
    assert_eq!(
        answers,
        [
            "SetParameterAttributesResponse",
            "SetParameterAttributesResponse"
        ],
        "asking for 2 succeeds, asking for less is ignored"
    );
    let gpa = rig.answer(&msgs, "GetParameterAttributes");
    let rpc = gpa.rpc().unwrap();
    let attr = rpc.all("ParameterAttributeStruct");
    assert_eq!(attr.len(), 1, "{}", gpa.body);
    assert_eq!(attr[0].child_text("Notification"), "2", "{}", gpa.body);
    rig.assert_xsd_valid();
}

#[test]
fn set_notif_on_a_running_daemon_takes_effect_without_a_restart() {
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe = NOTIFY_FAST.into();
    });
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    cli_ok(&rig, &["set_notif", PII, "2"]);
    // The daemon picks the new attribute up (and its current value as the baseline).
    assert!(
        poll(|| rig.cpe.logs().contains("notification attributes reloaded")),
        "set_notif not picked up\n{}",
        rig.cpe.logs()
    );
    cli_ok(&rig, &["set", PII, "4321"]);
    let inform = rig.wait_inform("4 VALUE CHANGE", 1);
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
fn custom_notify_json_is_applied_once_per_firmware_version() {
    let json_dir = common::temp_dir("custom-notify");
    let json = json_dir.join("notify.json");
    std::fs::write(
        &json,
        format!(r#"{{"custom_notification":[{{"parameter":"{PII}","notify_type":"2"}}]}}"#),
    )
    .unwrap();
    let mut rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe = format!(
            "{NOTIFY_FAST}\toption custom_notify_json '{}'\n\toption software_version 'fw-1'\n",
            json.display()
        );
    });
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    assert_eq!(cli_ok(&rig, &["get_notif", PII]), format!("{PII} => 2\n"));
    // It is in effect: a local change is reported at once.
    cli_ok(&rig, &["set", PII, "777"]);
    let inform = rig.wait_inform("4 VALUE CHANGE", 1);
    assert_eq!(value_of(&inform.values(), PII), Some("777"));
    // The ACS (here the CLI) turns it off: a restart on the same firmware keeps that.
    cli_ok(&rig, &["set_notif", PII, "0"]);
    let n = rig.wait_idle().len();
    rig.restart_until_inform(n);
    rig.wait_idle();
    assert_eq!(cli_ok(&rig, &["get_notif", PII]), format!("{PII} => 0\n"));
    // A new firmware applies it again.
    let text = std::fs::read_to_string(&rig.cpe.config)
        .unwrap()
        .replace("'fw-1'", "'fw-2'");
    std::fs::write(&rig.cpe.config, text).unwrap();
    let n = rig.wait_idle().len();
    rig.restart_until_inform(n);
    rig.wait_idle();
    assert_eq!(cli_ok(&rig, &["get_notif", PII]), format!("{PII} => 2\n"));
    rig.assert_xsd_valid();
    std::fs::remove_dir_all(json_dir).ok();
}
