//! The agent's own initiative: retries and RetryCount, a new ACS URL, periodic informs,
//! value-change notifications, connection requests during a session, TLS refusal.

mod common;

use common::acs::{Acs, AcsOpts};
use common::pki::make_pki;
use common::soap::{self, value_of};
use common::{pause, Rig, WAIT};
use std::time::{Duration, Instant};

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";
/// UCI lines for a value-change poll every second.
const NOTIFY_FAST: &str =
    "\toption periodic_notify_enable '1'\n\toption periodic_notify_interval '1'\n";

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

#[test]
fn retry_count_counts_the_failed_attempts() {
    let opts = AcsOpts {
        unavailable: true,
        ..AcsOpts::default()
    };
    let rig = Rig::with(opts, &[], |_| {});
    assert!(poll(|| rig.acs.counters().2 >= 2), "{}", rig.cpe.logs());
    rig.acs.set_unavailable(false);
    let inform = rig.wait_inform("0 BOOTSTRAP", 1);
    let refused = rig.acs.counters().2;
    let retry = inform.rpc().unwrap().child_text("RetryCount");
    assert_eq!(retry, refused.to_string(), "{}", inform.body);
    // A successful session resets it.
    rig.wait_idle();
    rig.kick();
    let next = rig.wait_inform("6 CONNECTION REQUEST", 1);
    assert_eq!(next.rpc().unwrap().child_text("RetryCount"), "0");
}

#[test]
fn a_new_acs_url_gets_bootstrap_after_the_session() {
    let acs2 = Acs::start(AcsOpts::default());
    let url = acs2.url();
    let rig = Rig::start(&[
        soap::spv(
            &[("Device.ManagementServer.URL", &url, "xsd:string")],
            "move",
        ),
        soap::gpv(&[PII]),
    ]);
    // The current session finishes against the old ACS.
    rig.wait_answer("GetParameterValues", 1);
    rig.wait_idle();
    let msgs = acs2
        .wait_for(WAIT, |m| m.iter().any(|x| x.has_event("0 BOOTSTRAP")))
        .unwrap_or_else(|r| rig.fail("no BOOTSTRAP at the new ACS", &r));
    let inform = msgs.iter().find(|m| m.has_event("0 BOOTSTRAP")).unwrap();
    let key = value_of(&inform.values(), "Device.ManagementServer.ParameterKey").map(String::from);
    assert_eq!(key.as_deref(), Some("move"));
    assert_eq!(
        rig.acs
            .msgs()
            .iter()
            .filter(|m| m.method() == "Inform")
            .count(),
        1,
        "the old ACS got another Inform"
    );
    assert!(rig.cpe.config_text().contains(&url));
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (days-to-civil, proleptic Gregorian).
fn iso(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86400), unix.rem_euclid(86400));
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[test]
fn periodic_inform_fires_on_the_reference_time() {
    assert_eq!(iso(951782400), "2000-02-29T00:00:00Z");
    let now = icwmp::time::now_unix();
    // Interval 60 s anchored 3 s from now: the first periodic Inform is due in ~3 s.
    let reference = iso(now + 3);
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_acs = format!(
            "\toption periodic_inform_enable '1'\n\toption periodic_inform_interval '60'\n\
             \toption periodic_inform_time '{reference}'\n"
        );
    });
    let first = rig.wait_inform("0 BOOTSTRAP", 1);
    let periodic = rig.wait_inform("2 PERIODIC", 1);
    let waited = periodic.at.duration_since(first.at);
    assert!(
        waited >= Duration::from_millis(1500),
        "periodic Inform after {waited:?}"
    );
    rig.wait_idle();
}

#[test]
fn heartbeat_goes_alone_with_forced_parameters_only() {
    let now = icwmp::time::now_unix();
    let reference = iso(now + 3);
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_acs = format!(
            "\toption heartbeat_enable '1'\n\toption heartbeat_interval '60'\n\
             \toption heartbeat_time '{reference}'\n"
        );
    });
    rig.wait_inform("0 BOOTSTRAP", 1);
    let hb = rig.wait_inform("14 HEARTBEAT", 1);
    assert_eq!(hb.events().len(), 1, "{}", hb.body);
    assert!(hb.values().iter().all(|(n, _)| [
        "Device.RootDataModelVersion",
        "Device.DeviceInfo.HardwareVersion",
        "Device.DeviceInfo.SoftwareVersion",
        "Device.DeviceInfo.ProvisioningCode",
        "Device.ManagementServer.ParameterKey",
        "Device.ManagementServer.ConnectionRequestURL",
        "Device.ManagementServer.AliasBasedAddressing",
    ]
    .contains(&n.as_str())));
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn value_change_of_an_active_parameter_opens_a_session() {
    // A fast poll interval keeps the test short (the default polls every 10 s).
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(PII, 2)])], |o| {
        o.extra_cpe = NOTIFY_FAST.into();
    });
    rig.wait_answer("SetParameterAttributes", 1);
    rig.wait_settled();
    // A local change (the CLI writes the UCI file, as `uci set` would).
    let o = rig.cpe.cli(&["set", PII, "4321"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
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
fn value_changes_made_by_the_acs_are_not_notified() {
    let rig = Rig::with(
        AcsOpts::default(),
        &[
            soap::spa(&[(PII, 2)]),
            soap::spv(&[(PII, "555", "xsd:unsignedInt")], "acs-change"),
        ],
        |o| o.extra_cpe = NOTIFY_FAST.into(),
    );
    rig.wait_idle();
    // Give the poller a few rounds, then look: a later connection request is the marker.
    std::thread::sleep(Duration::from_millis(2500));
    rig.kick();
    rig.wait_inform("6 CONNECTION REQUEST", 1);
    let msgs = rig.wait_idle();
    let vc: Vec<String> = msgs
        .iter()
        .filter(|m| m.has_event("4 VALUE CHANGE"))
        .map(|m| m.summary())
        .collect();
    assert!(vc.is_empty(), "ACS-made change notified: {vc:?}");
}

#[test]
fn connection_request_during_a_session_is_served_after_it() {
    let rig = Rig::start(&[soap::gpv(&[PII]), pause(2000)]);
    let ans = rig.wait_answer("GetParameterValues", 1);
    // The ACS is now holding the CPE's POST: the session is still open.
    let o = rig.cpe.connection_request().unwrap();
    assert_eq!((o.first, o.second), (401, 200), "accepted and remembered");
    let inform = rig.wait_inform("6 CONNECTION REQUEST", 1);
    assert!(inform.session > ans.session);
    rig.wait_idle();
}

#[test]
fn https_acs_with_an_unknown_ca_is_refused() {
    let dir = common::temp_dir("pki");
    let Some(pki) = make_pki(&dir) else {
        return;
    };
    let opts = AcsOpts {
        tls: Some(pki),
        ..AcsOpts::default()
    };
    // The daemon is not given the test CA (ssl_cafile left empty).
    let rig = Rig::with(opts, &[], |o| o.ca_file = None);
    let failed = poll(|| {
        std::fs::read_to_string(rig.cpe.log_path())
            .unwrap_or_default()
            .contains("session failed")
    });
    assert!(failed, "no failed session logged:\n{}", rig.cpe.logs());
    assert!(
        rig.acs.msgs().is_empty(),
        "a message went to an untrusted ACS"
    );
}
