//! End-to-end sessions between the real daemon and the scripted ACS: Inform contents, every
//! RPC the ACS may call, reboot and factory reset, ScheduleInform, connection requests, HTTPS
//! and ACS authentication. Every message the ACS receives is checked against the CWMP XSD.

mod common;

use common::acs::{AcsOpts, Auth, Msg};
use common::soap::{self, value_of};
use common::Rig;
use std::time::{Duration, Instant};

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";

#[test]
fn first_inform_has_bootstrap_boot_device_id_and_forced_parameters() {
    let rig = Rig::start(&[]);
    let inform = rig.wait_inform("0 BOOTSTRAP", 1);
    assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
    let rpc = inform.rpc().expect("Inform parses");
    let id = rpc.child("DeviceId").expect("DeviceId");
    for f in ["Manufacturer", "OUI", "ProductClass", "SerialNumber"] {
        assert!(
            !id.child_text(f).is_empty(),
            "DeviceId.{f} empty:\n{}",
            inform.body
        );
    }
    let values = inform.values();
    for p in [
        "Device.RootDataModelVersion",
        "Device.DeviceInfo.HardwareVersion",
        "Device.DeviceInfo.SoftwareVersion",
        "Device.DeviceInfo.ProvisioningCode",
        "Device.ManagementServer.ParameterKey",
        "Device.ManagementServer.ConnectionRequestURL",
    ] {
        assert!(
            value_of(&values, p).is_some(),
            "{p} missing from the Inform:\n{}",
            inform.body
        );
    }
    let cr_url = value_of(&values, "Device.ManagementServer.ConnectionRequestURL").unwrap();
    assert!(
        cr_url.starts_with(&format!("http://127.0.0.1:{}/", rig.cpe.cr_port)),
        "ConnectionRequestURL {cr_url}"
    );
    let msgs = rig.wait_idle();
    let session: Vec<&Msg> = msgs
        .iter()
        .filter(|m| m.session == inform.session)
        .collect();
    for m in &session {
        assert!(
            m.cookie_ok,
            "POST without the session cookie: {}",
            m.summary()
        );
        if m.is_empty() {
            assert_eq!(m.header("content-length"), Some("0"), "{:?}", m.headers);
        } else {
            let ct = m.header("content-type").unwrap_or_default();
            assert!(ct.starts_with("text/xml"), "Content-Type {ct:?}");
        }
    }
    assert!(
        session.last().is_some_and(|m| m.is_empty()),
        "the CPE must end its turn with an empty POST"
    );
    rig.assert_xsd_valid();
}

#[test]
fn gpv_of_device_info_returns_values() {
    let rig = Rig::start(&[soap::gpv(&["Device.DeviceInfo."])]);
    let ans = rig.wait_answer("GetParameterValues", 1);
    assert!(ans.id_echoed, "cwmp:ID not echoed:\n{}", ans.body);
    assert_eq!(ans.method(), "GetParameterValuesResponse", "{}", ans.body);
    let values = ans.values();
    assert!(values
        .iter()
        .all(|(n, _)| n.starts_with("Device.DeviceInfo.")));
    let uptime = value_of(&values, "Device.DeviceInfo.UpTime").expect("UpTime listed");
    assert!(uptime.parse::<u64>().is_ok(), "UpTime {uptime:?}");
    assert!(!value_of(&values, "Device.DeviceInfo.SoftwareVersion")
        .unwrap_or("")
        .is_empty());
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn spv_is_persisted_and_parameter_key_reported_next_inform() {
    let rig = Rig::start(&[
        soap::spv(&[(PII, "1234", "xsd:unsignedInt")], "key-one"),
        soap::gpv(&[PII]),
    ]);
    let spv = rig.wait_answer("SetParameterValues", 1);
    assert_eq!(spv.method(), "SetParameterValuesResponse", "{}", spv.body);
    let status = spv.rpc().unwrap().child_text("Status");
    assert!(status == "0" || status == "1", "Status {status:?}");
    let gpv = rig.wait_answer("GetParameterValues", 1);
    assert_eq!(value_of(&gpv.values(), PII), Some("1234"), "{}", gpv.body);
    rig.wait_idle();
    let uci = rig.cpe.config_text();
    assert!(
        uci.contains("periodic_inform_interval '1234'"),
        "UCI file:\n{uci}"
    );
    assert!(uci.contains("ParameterKey 'key-one'"), "UCI file:\n{uci}");
    rig.kick();
    let inform = rig.wait_inform("6 CONNECTION REQUEST", 1);
    let key = value_of(&inform.values(), "Device.ManagementServer.ParameterKey").map(String::from);
    assert_eq!(key.as_deref(), Some("key-one"), "{}", inform.body);
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn spv_with_a_bad_value_faults_and_changes_nothing() {
    let enable = "Device.ManagementServer.PeriodicInformEnable";
    let rig = Rig::start(&[
        soap::spv(
            &[
                (enable, "true", "xsd:boolean"),
                (PII, "not-a-number", "xsd:unsignedInt"),
            ],
            "bad-key",
        ),
        soap::gpv(&[PII, enable, "Device.ManagementServer.ParameterKey"]),
    ]);
    let spv = rig.wait_answer("SetParameterValues", 1);
    let (code, params) = spv
        .fault()
        .unwrap_or_else(|| panic!("no fault:\n{}", spv.body));
    assert_eq!(code, 9003, "{}", spv.body);
    assert_eq!(params, vec![(PII.to_string(), 9007)], "{}", spv.body);
    let gpv = rig.wait_answer("GetParameterValues", 1);
    let values = gpv.values();
    assert_eq!(value_of(&values, PII), Some("86400"), "{}", gpv.body);
    let en = value_of(&values, enable).unwrap_or("?");
    assert!(en == "false" || en == "0", "{enable} changed to {en}");
    assert_eq!(
        value_of(&values, "Device.ManagementServer.ParameterKey"),
        Some("")
    );
    rig.wait_idle();
    assert!(!rig.cpe.config_text().contains("bad-key"));
    rig.assert_xsd_valid();
}

#[test]
fn add_object_then_delete_object() {
    let rig = Rig::start(&[soap::add_object("Device.NAT.PortMapping.", "add-1")]);
    let add = rig.wait_answer("AddObject", 1);
    assert_eq!(add.method(), "AddObjectResponse", "{}", add.body);
    let n: u32 = add
        .rpc()
        .unwrap()
        .child_text("InstanceNumber")
        .parse()
        .unwrap_or(0);
    assert!(n >= 1, "{}", add.body);
    let obj = format!("Device.NAT.PortMapping.{n}.");
    let msgs = rig.session(&[
        soap::gpn(&obj, true),
        soap::delete_object(&obj, "del-1"),
        soap::gpv(&[&obj]),
    ]);
    let gpn = rig.answer(&msgs, "GetParameterNames");
    assert!(gpn.body.contains(&format!("{obj}Enable")), "{}", gpn.body);
    let del = rig.answer(&msgs, "DeleteObject");
    assert_eq!(del.method(), "DeleteObjectResponse", "{}", del.body);
    let gone = rig.answer(&msgs, "GetParameterValues");
    assert_eq!(gone.fault().map(|f| f.0), Some(9005), "{}", gone.body);
    assert!(rig.cpe.config_text().contains("ParameterKey 'del-1'"));
    rig.assert_xsd_valid();
}

#[test]
fn gpn_next_level_lists_direct_children_only() {
    let rig = Rig::start(&[
        soap::gpn("Device.", true),
        soap::gpn("Device.DeviceInfo.", false),
        soap::gpn("Device.NoSuchObject.", true),
    ]);
    rig.wait_idle();
    let msgs = rig.acs.msgs();
    let top = rig.answer(&msgs, "GetParameterNames");
    let names: Vec<String> = top
        .rpc()
        .unwrap()
        .all("ParameterInfoStruct")
        .iter()
        .map(|p| p.child_text("Name"))
        .collect();
    assert!(
        names.contains(&"Device.DeviceInfo.".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"Device.ManagementServer.".to_string()),
        "{names:?}"
    );
    for n in &names {
        let rest = n.strip_prefix("Device.").expect("below Device.");
        let depth = rest.trim_end_matches('.').matches('.').count();
        assert_eq!(depth, 0, "{n} is not a direct child of Device.");
    }
    let answers: Vec<&Msg> = msgs
        .iter()
        .filter(|m| m.answer_to.as_deref() == Some("GetParameterNames"))
        .collect();
    assert_eq!(answers.len(), 3);
    let deep = answers[1].rpc().unwrap();
    let uptime = deep
        .all("ParameterInfoStruct")
        .into_iter()
        .find(|p| p.child_text("Name") == "Device.DeviceInfo.UpTime")
        .unwrap_or_else(|| panic!("UpTime not listed:\n{}", answers[1].body));
    let w = uptime.child_text("Writable");
    assert!(w == "false" || w == "0", "UpTime Writable {w}");
    assert_eq!(
        answers[2].fault().map(|f| f.0),
        Some(9005),
        "{}",
        answers[2].body
    );
    rig.assert_xsd_valid();
}

#[test]
fn spa_then_gpa_reports_the_notification() {
    let rig = Rig::start(&[
        soap::spa(&[(PII, 2)]),
        soap::gpa(&[PII]),
        soap::spa(&[("Device.DeviceInfo.NoSuchParameter", 1)]),
    ]);
    let spa = rig.wait_answer("SetParameterAttributes", 1);
    assert_eq!(
        spa.method(),
        "SetParameterAttributesResponse",
        "{}",
        spa.body
    );
    let gpa = rig.wait_answer("GetParameterAttributes", 1);
    let rpc = gpa.rpc().unwrap();
    let attr = rpc
        .first("ParameterAttributeStruct")
        .expect("one attribute struct");
    assert_eq!(attr.child_text("Name"), PII);
    assert_eq!(attr.child_text("Notification"), "2", "{}", gpa.body);
    let bad = rig.wait_answer("SetParameterAttributes", 2);
    assert_eq!(bad.fault().map(|f| f.0), Some(9005), "{}", bad.body);
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn unknown_method_faults_9000_and_the_session_goes_on() {
    let rig = Rig::start(&[soap::unknown_method(), soap::gpv(&[PII])]);
    let f = rig.wait_answer("FrobnicateEverything", 1);
    assert_eq!(f.fault().map(|f| f.0), Some(9000), "{}", f.body);
    assert!(
        f.id_echoed,
        "fault must echo the request's cwmp:ID:\n{}",
        f.body
    );
    let gpv = rig.wait_answer("GetParameterValues", 1);
    assert_eq!(gpv.session, f.session, "session should have continued");
    assert_eq!(value_of(&gpv.values(), PII), Some("86400"));
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn reboot_reexecutes_and_reports_boot_and_m_reboot_once() {
    let rig = Rig::start(&[soap::reboot("reboot-key-7")]);
    let pid = rig.cpe.pid();
    let ans = rig.wait_answer("Reboot", 1);
    assert_eq!(ans.method(), "RebootResponse", "{}", ans.body);
    let inform = rig.wait_inform("M Reboot", 1);
    assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
    assert!(inform.session > ans.session);
    let keys: Vec<(String, String)> = inform.events();
    assert!(
        keys.contains(&("M Reboot".to_string(), "reboot-key-7".to_string())),
        "{keys:?}"
    );
    assert!(
        !inform.has_event("0 BOOTSTRAP"),
        "a reboot is not a bootstrap"
    );
    assert_eq!(rig.cpe.pid(), pid, "the daemon re-executes itself in place");
    // Delivered once: the next session does not repeat it.
    rig.session(&[]);
    let last = rig.wait_inform("6 CONNECTION REQUEST", 1);
    assert!(
        !last.has_event("M Reboot") && !last.has_event("1 BOOT"),
        "{}",
        last.summary()
    );
    rig.assert_xsd_valid();
}

#[test]
fn factory_reset_bootstraps_again() {
    let rig = Rig::start(&[
        soap::spv(&[(PII, "600", "xsd:unsignedInt")], "before-reset"),
        soap::factory_reset(),
    ]);
    let ans = rig.wait_answer("FactoryReset", 1);
    assert_eq!(ans.method(), "FactoryResetResponse", "{}", ans.body);
    let second = rig.wait_inform("0 BOOTSTRAP", 2);
    assert!(second.session > ans.session);
    let key = value_of(&second.values(), "Device.ManagementServer.ParameterKey").map(String::from);
    assert_eq!(
        key.as_deref(),
        Some(""),
        "ParameterKey survives a factory reset"
    );
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn schedule_inform_fires_with_scheduled_and_m_schedule_inform() {
    let rig = Rig::start(&[soap::schedule_inform(2, "sched-1")]);
    let ans = rig.wait_answer("ScheduleInform", 1);
    assert_eq!(ans.method(), "ScheduleInformResponse", "{}", ans.body);
    let inform = rig.wait_inform("3 SCHEDULED", 1);
    let ev = inform.events();
    assert!(
        ev.contains(&("M ScheduleInform".to_string(), "sched-1".to_string())),
        "{ev:?}"
    );
    // Not before the delay (lower bound only; 1 s of slack: the daemon counts whole seconds).
    assert!(inform.at.duration_since(ans.at) >= Duration::from_secs(1));
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn connection_request_with_digest_opens_a_session() {
    let rig = Rig::start(&[]);
    rig.wait_idle();
    let o = rig.cpe.connection_request().unwrap();
    assert_eq!((o.first, o.second), (401, 200));
    let inform = rig.wait_inform("6 CONNECTION REQUEST", 1);
    assert!(!inform.has_event("0 BOOTSTRAP"), "{}", inform.summary());
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn connection_request_with_a_wrong_password_is_refused() {
    let rig = Rig::start(&[]);
    rig.wait_idle();
    let o = rig.cpe.connection_request_as("cruser", "wrong").unwrap();
    assert_eq!((o.first, o.second), (401, 401));
    let o = rig.cpe.connection_request_as("intruder", "crpass").unwrap();
    assert_eq!(o.second, 401);
    // A good one afterwards still works and produces exactly one session.
    rig.kick();
    rig.wait_inform("6 CONNECTION REQUEST", 1);
    let msgs = rig.wait_idle();
    let n = msgs
        .iter()
        .filter(|m| m.has_event("6 CONNECTION REQUEST"))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn https_acs_trusted_through_ssl_cafile() {
    let dir = common::temp_dir("pki");
    let Some(pki) = common::pki::make_pki(&dir) else {
        return;
    };
    let opts = AcsOpts {
        tls: Some(pki),
        ..AcsOpts::default()
    };
    let rig = Rig::with(opts, &[soap::gpv(&[PII])], |_| {});
    assert!(rig.acs.url().starts_with("https://"));
    rig.wait_inform("0 BOOTSTRAP", 1);
    let gpv = rig.wait_answer("GetParameterValues", 1);
    assert_eq!(value_of(&gpv.values(), PII), Some("86400"));
    rig.wait_idle();
    rig.assert_xsd_valid();
}

/// Only the configured CA is trusted, not OpenSSL's default locations too: here the ACS's
/// CA is in the default file (`SSL_CERT_FILE`) and `ssl_cafile` names another CA.
#[test]
fn https_acs_trusts_only_the_configured_ca() {
    let (Some(pki), Some(other)) = (
        common::pki::make_pki(&common::temp_dir("pki")),
        common::pki::make_pki(&common::temp_dir("pki-other")),
    ) else {
        return;
    };
    let acs_ca = pki.ca_file.display().to_string();
    let opts = AcsOpts {
        tls: Some(pki),
        ..AcsOpts::default()
    };
    let rig = Rig::with(opts, &[], |o| {
        o.ca_file = Some(other.ca_file.clone());
        o.env = vec![
            ("SSL_CERT_FILE".into(), acs_ca.clone()),
            ("SSL_CERT_DIR".into(), "/nonexistent".into()),
        ];
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !rig.cpe.logs().contains("TLS") {
        assert!(std::time::Instant::now() < deadline, "{}", rig.cpe.logs());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        rig.acs.msgs().is_empty(),
        "the CPE trusted a CA it was not given"
    );
}

fn auth_rig(auth: Auth) -> Rig {
    // Basic credentials belong on TLS only; use HTTPS for them when the openssl CLI is here.
    let tls = (auth == Auth::Basic)
        .then(|| common::pki::make_pki(&common::temp_dir("pki")))
        .flatten();
    let opts = AcsOpts {
        auth,
        tls,
        ..AcsOpts::default()
    };
    Rig::with(opts, &[soap::gpv(&[PII])], |_| {})
}

#[test]
fn basic_auth_acs() {
    let rig = auth_rig(Auth::Basic);
    rig.wait_answer("GetParameterValues", 1);
    let msgs = rig.wait_idle();
    assert!(msgs.iter().all(|m| m
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic "))));
    assert_eq!(rig.acs.counters().1, 0, "wrong credentials were sent");
    rig.assert_xsd_valid();
}

#[test]
fn digest_auth_acs() {
    let rig = auth_rig(Auth::Digest);
    rig.wait_answer("GetParameterValues", 1);
    rig.wait_idle();
    rig.session(&[soap::gpv(&["Device.DeviceInfo.UpTime"])]);
    let (challenges, failures, _) = rig.acs.counters();
    assert_eq!(
        failures, 0,
        "bad digest responses (wrong hash or replayed nc)"
    );
    assert!(challenges >= 1);
    rig.assert_xsd_valid();
}

#[test]
fn wrong_acs_password_never_gets_a_session_through() {
    let opts = AcsOpts {
        auth: Auth::Digest,
        ..AcsOpts::default()
    };
    let rig = Rig::with(opts, &[], |o| o.acs_pass = "not-the-password".into());
    let deadline = Instant::now() + common::WAIT;
    while rig.acs.counters().1 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        rig.acs.counters().1 >= 1,
        "the daemon never answered the challenge"
    );
    assert!(
        rig.acs.msgs().is_empty(),
        "a message got through with a wrong password"
    );
}

#[test]
fn every_rpc_answer_validates_against_the_xsd() {
    if !common::xsd::available() {
        return;
    }
    let rig = Rig::start(&[
        soap::get_rpc_methods(),
        soap::gpv(&["Device.ManagementServer."]),
        soap::gpv(&["Device.Bogus."]),
        soap::spv(&[(PII, "300", "xsd:unsignedInt")], "x1"),
        soap::spv(
            &[("Device.DeviceInfo.UpTime", "5", "xsd:unsignedInt")],
            "x2",
        ),
        soap::gpn("Device.ManagementServer.", false),
        soap::add_object("Device.NAT.PortMapping.", "x3"),
        soap::spa(&[(PII, 1)]),
        soap::gpa(&["Device.ManagementServer."]),
        soap::unknown_method(),
        soap::schedule_inform(3600, "later"),
    ]);
    let msgs = rig.wait_idle();
    assert!(msgs.iter().filter(|m| m.answer_to.is_some()).count() >= 11);
    let ro = rig.answer(&msgs, "SetParameterValues");
    assert!(ro.id_echoed);
    rig.assert_xsd_valid();
}
