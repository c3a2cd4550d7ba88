//! Conformance suite of the DataModel semantics (digest 7.1) against the embedded backend.

use super::*;
use crate::datamodel::MemConfigStore;
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh state directory per test.
pub(super) fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "icwmp-dm-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub(super) fn mk(dir: &Path) -> EmbeddedDataModel {
    EmbeddedDataModel::new(dir, Box::new(MemConfigStore::default()))
}

pub(super) fn sv(name: &str, value: &str) -> SetValue {
    SetValue {
        name: name.into(),
        value: value.into(),
        type_hint: None,
    }
}

pub(super) fn get1(dm: &mut EmbeddedDataModel, name: &str) -> String {
    let v = dm.get_values(name).unwrap();
    assert_eq!(v.len(), 1, "{name}");
    v[0].value.clone()
}

fn names(v: &[ParamInfo]) -> Vec<&str> {
    v.iter().map(|p| p.name.as_str()).collect()
}

fn writable(v: &[ParamInfo], name: &str) -> bool {
    v.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
        .writable
}

#[test]
fn gpv_root_and_device_dot_list_every_parameter() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    let all = dm.get_values("").unwrap();
    let dev = dm.get_values("Device.").unwrap();
    let a: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    let d: Vec<&str> = dev.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(a, d);
    assert!(a.iter().all(|n| !n.ends_with('.')));
    assert!(a.contains(&"Device.ManagementServer.URL"));
    assert!(a.contains(&"Device.DeviceInfo.MemoryStatus.Total"));
    assert_eq!(get1(&mut dm, "Device.RootDataModelVersion"), "2.19");
    let oui = get1(&mut dm, "Device.DeviceInfo.ManufacturerOUI");
    assert_eq!(oui.len(), 6);
    assert!(oui
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    // Every value is valid for its type.
    for p in &all {
        assert!(
            p.ty.check_value(&p.value).is_ok(),
            "{} = {:?}",
            p.name,
            p.value
        );
    }
}

#[test]
fn gpv_partial_path_is_recursive_and_unknown_is_9005() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    let v = dm.get_values("Device.DeviceInfo.").unwrap();
    assert!(v
        .iter()
        .any(|p| p.name == "Device.DeviceInfo.ProcessStatus.CPUUsage"));
    assert!(v.iter().all(|p| p.name.starts_with("Device.DeviceInfo.")));
    for bad in [
        "Device.Nope",
        "Device.DeviceInfo.Nope",
        "Device.DeviceInfo",
        "Device.DeviceInfo.UpTime.",
        "Device.NAT.PortMapping.9.",
        "Device.NAT.PortMapping.x.",
        "InternetGatewayDevice.",
        "Device..",
    ] {
        assert_eq!(dm.get_values(bad).unwrap_err().code.0, 9005, "{bad}");
    }
}

#[test]
fn gpn_next_level_rules() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    assert_eq!(names(&dm.get_names("", true).unwrap()), ["Device."]);
    let top = dm.get_names("Device.", true).unwrap();
    let n = names(&top);
    assert!(n.contains(&"Device.DeviceInfo."));
    assert!(n.contains(&"Device.RootDataModelVersion"));
    assert!(!n.contains(&"Device."));
    assert!(!n.contains(&"Device.DeviceInfo.UpTime"));
    let all = dm.get_names("", false).unwrap();
    assert_eq!(all[0].name, "Device.");
    assert!(names(&all).contains(&"Device.DeviceInfo.MemoryStatus.Free"));
    assert_eq!(
        dm.get_names("Device.DeviceInfo.UpTime", true)
            .unwrap_err()
            .code
            .0,
        9003
    );
    assert_eq!(
        names(&dm.get_names("Device.DeviceInfo.UpTime", false).unwrap()),
        ["Device.DeviceInfo.UpTime"]
    );
    assert_eq!(
        dm.get_names("Device.Nope.", false).unwrap_err().code.0,
        9005
    );
    assert_eq!(dm.get_names("Device.Nope", true).unwrap_err().code.0, 9005);

    dm.add_object("Device.NAT.PortMapping.").unwrap();
    let nat = dm.get_names("Device.NAT.", false).unwrap();
    assert_eq!(nat[0].name, "Device.NAT.");
    assert!(!nat[0].writable);
    assert!(writable(&nat, "Device.NAT.PortMapping."));
    assert!(writable(&nat, "Device.NAT.PortMapping.1."));
    assert!(writable(&nat, "Device.NAT.PortMapping.1.Enable"));
    assert!(!writable(&nat, "Device.NAT.PortMapping.1.Status"));
    assert!(!writable(&nat, "Device.NAT.PortMappingNumberOfEntries"));
    assert_eq!(
        names(&dm.get_names("Device.NAT.PortMapping.", true).unwrap()),
        ["Device.NAT.PortMapping.1."]
    );
    let ms = dm.get_names("Device.ManagementServer.", true).unwrap();
    assert!(writable(&ms, "Device.ManagementServer.URL"));
    assert!(!writable(&ms, "Device.ManagementServer.ParameterKey"));
    assert!(writable(&ms, "Device.ManagementServer.InformParameter."));
    let ip = dm.get_names("Device.IP.", true).unwrap();
    assert!(!writable(&ip, "Device.IP.Interface."));
}

#[test]
fn spv_validates_everything_first_and_changes_nothing_on_error() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    dm.add_object("Device.NAT.PortMapping.").unwrap();
    let err = dm
        .set_values(&[
            sv("Device.ManagementServer.URL", "http://acs.example:7547/"),
            sv("Device.NAT.PortMapping.1.Description", "web"),
            sv("Device.ManagementServer.PeriodicInformInterval", "abc"),
            sv("Device.DeviceInfo.UpTime", "5"),
            sv("Device.Nope", "1"),
            sv("Device.DeviceInfo.", "x"),
            sv("Device.NAT.PortMapping.1.Protocol", "SCTP"),
        ])
        .unwrap_err();
    assert_eq!(err.code.0, 9003);
    let got: Vec<(&str, u32)> = err
        .param_faults
        .iter()
        .map(|f| (f.name.as_str(), f.code.0))
        .collect();
    assert_eq!(
        got,
        [
            ("Device.ManagementServer.PeriodicInformInterval", 9007),
            ("Device.DeviceInfo.UpTime", 9008),
            ("Device.Nope", 9005),
            ("Device.DeviceInfo.", 9005),
            ("Device.NAT.PortMapping.1.Protocol", 9007),
        ]
    );
    assert_eq!(dm.config().get("acs", "url"), None);
    assert_eq!(get1(&mut dm, "Device.ManagementServer.URL"), "");
    assert_eq!(get1(&mut dm, "Device.NAT.PortMapping.1.Description"), "");
    assert_eq!(
        mk(&dir)
            .get_values("Device.NAT.PortMapping.1.Description")
            .unwrap()[0]
            .value,
        ""
    );
}

#[test]
fn spv_writes_management_server_through_the_config_store() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    let st = dm
        .set_values(&[
            sv("Device.ManagementServer.URL", "https://acs.example/cwmp"),
            sv("Device.ManagementServer.PeriodicInformEnable", "1"),
            sv("Device.ManagementServer.PeriodicInformInterval", "300"),
            sv("Device.ManagementServer.Password", "s3cret"),
            sv("Device.ManagementServer.HTTPCompression", "GZIP"),
        ])
        .unwrap();
    assert_eq!(st, ApplyStatus::Applied);
    let c = dm.config();
    assert_eq!(
        c.get("acs", "url").as_deref(),
        Some("https://acs.example/cwmp")
    );
    assert_eq!(c.get("acs", "periodic_inform_enable").as_deref(), Some("1"));
    assert_eq!(
        c.get("acs", "periodic_inform_interval").as_deref(),
        Some("300")
    );
    assert_eq!(c.get("acs", "passwd").as_deref(), Some("s3cret"));
    assert_eq!(c.get("acs", "compression").as_deref(), Some("gzip"));
    assert_eq!(
        get1(&mut dm, "Device.ManagementServer.URL"),
        "https://acs.example/cwmp"
    );
    assert_eq!(
        get1(&mut dm, "Device.ManagementServer.PeriodicInformEnable"),
        "true"
    );
    assert_eq!(get1(&mut dm, "Device.ManagementServer.Password"), "");
    assert_eq!(
        get1(&mut dm, "Device.ManagementServer.HTTPCompression"),
        "GZIP"
    );
    // Read-only to the ACS, but served from the config.
    let err = dm
        .set_values(&[sv("Device.ManagementServer.ParameterKey", "k")])
        .unwrap_err();
    assert_eq!(err.param_faults[0].code.0, 9008);
    // Range and scheme checks.
    for (n, v) in [
        ("Device.ManagementServer.PeriodicInformInterval", "0"),
        ("Device.ManagementServer.URL", "ftp://acs"),
        ("Device.ManagementServer.InstanceMode", "Other"),
        ("Device.ManagementServer.CWMPRetryIntervalMultiplier", "999"),
    ] {
        let e = dm.set_values(&[sv(n, v)]).unwrap_err();
        assert_eq!(e.param_faults[0].code.0, 9007, "{n}={v}");
    }
}

#[test]
fn config_values_and_connection_request_url() {
    let dir = tmpdir();
    let mut cfg = MemConfigStore::default();
    for (s, o, v) in [
        ("cpe", "cr_host", "192.0.2.7"),
        ("cpe", "port", "7548"),
        ("cpe", "path", "cr"),
        ("cpe", "manufacturer_oui", "00a0bc"),
        ("cpe", "serial_number", "SN42"),
        ("cpe", "ParameterKey", "pk1"),
        ("acs", "periodic_inform_interval", "garbage"),
    ] {
        cfg.values.insert((s.into(), o.into()), v.into());
    }
    let mut dm = EmbeddedDataModel::new(&dir, Box::new(cfg));
    assert_eq!(
        get1(&mut dm, "Device.ManagementServer.ConnectionRequestURL"),
        "http://192.0.2.7:7548/cr"
    );
    // Disabled HTTP connection requests: TR-181 wants the URL empty.
    dm.set_values(&[sv(
        "Device.ManagementServer.HTTPConnectionRequestEnable",
        "false",
    )])
    .unwrap();
    assert_eq!(
        get1(&mut dm, "Device.ManagementServer.ConnectionRequestURL"),
        ""
    );
    dm.set_values(&[sv(
        "Device.ManagementServer.HTTPConnectionRequestEnable",
        "true",
    )])
    .unwrap();
    assert_eq!(
        get1(&mut dm, "Device.ManagementServer.ConnectionRequestURL"),
        "http://192.0.2.7:7548/cr"
    );
    assert_eq!(get1(&mut dm, "Device.DeviceInfo.ManufacturerOUI"), "00A0BC");
    assert_eq!(get1(&mut dm, "Device.DeviceInfo.SerialNumber"), "SN42");
    assert_eq!(get1(&mut dm, "Device.ManagementServer.ParameterKey"), "pk1");
    // An invalid stored value falls back to the default instead of breaking the Inform.
    assert_eq!(
        get1(&mut dm, "Device.ManagementServer.PeriodicInformInterval"),
        "86400"
    );
}

#[test]
fn spv_type_hint_is_only_a_hint() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    let mut v = sv("Device.ManagementServer.PeriodicInformEnable", "true");
    v.type_hint = Some("xsd:string".into());
    dm.set_values(&[v]).unwrap();
    let mut v = sv("Device.ManagementServer.PeriodicInformInterval", "abc");
    v.type_hint = Some("xsd:string".into());
    assert_eq!(
        dm.set_values(&[v]).unwrap_err().param_faults[0].code.0,
        9006
    );
    let v = sv("Device.ManagementServer.PeriodicInformInterval", "-1");
    assert_eq!(
        dm.set_values(&[v]).unwrap_err().param_faults[0].code.0,
        9007
    );
}

#[test]
fn spv_same_name_twice_is_9003() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    let err = dm
        .set_values(&[
            sv("Device.ManagementServer.URL", "http://a/"),
            sv("Device.ManagementServer.URL", "http://b/"),
        ])
        .unwrap_err();
    assert_eq!(err.code.0, 9003);
    assert!(err.param_faults.is_empty());
    assert_eq!(dm.config().get("acs", "url"), None);
}

#[test]
fn add_delete_persist_and_never_reuse_numbers() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    assert_eq!(dm.add_object("Device.NAT.PortMapping.").unwrap().0, 1);
    assert_eq!(dm.add_object("Device.NAT.PortMapping.").unwrap().0, 2);
    dm.set_values(&[
        sv("Device.NAT.PortMapping.1.ExternalPort", "8080"),
        sv("Device.NAT.PortMapping.1.Enable", "1"),
    ])
    .unwrap();
    dm.delete_object("Device.NAT.PortMapping.2.").unwrap();
    assert_eq!(dm.add_object("Device.NAT.PortMapping.").unwrap().0, 3);
    assert_eq!(get1(&mut dm, "Device.NAT.PortMapping.3.Alias"), "cpe-3");
    assert_eq!(get1(&mut dm, "Device.NAT.PortMappingNumberOfEntries"), "2");
    dm.delete_object("Device.NAT.PortMapping.3.").unwrap();
    drop(dm);

    let mut dm = mk(&dir);
    assert_eq!(
        get1(&mut dm, "Device.NAT.PortMapping.1.ExternalPort"),
        "8080"
    );
    assert_eq!(get1(&mut dm, "Device.NAT.PortMapping.1.Enable"), "true");
    assert_eq!(get1(&mut dm, "Device.NAT.PortMapping.1.Status"), "Enabled");
    assert_eq!(get1(&mut dm, "Device.NAT.PortMapping.1.Alias"), "cpe-1");
    assert_eq!(
        dm.get_values("Device.NAT.PortMapping.3.")
            .unwrap_err()
            .code
            .0,
        9005
    );
    assert_eq!(dm.add_object("Device.NAT.PortMapping.").unwrap().0, 4);
    assert_eq!(dm.add_object("Device.Users.User.").unwrap().0, 1);
    assert_eq!(
        dm.add_object("Device.ManagementServer.InformParameter.")
            .unwrap()
            .0,
        1
    );
    dm.set_values(&[
        sv("Device.Users.User.1.Password", "pw"),
        sv(
            "Device.ManagementServer.InformParameter.1.ParameterName",
            "Device.DeviceInfo.UpTime",
        ),
        sv(
            "Device.ManagementServer.InformParameter.1.EventList",
            "1 BOOT,2 PERIODIC",
        ),
    ])
    .unwrap();
    drop(dm);
    let mut dm = mk(&dir);
    assert_eq!(get1(&mut dm, "Device.Users.User.1.Password"), "");
    assert_eq!(
        get1(
            &mut dm,
            "Device.ManagementServer.InformParameter.1.ParameterName"
        ),
        "Device.DeviceInfo.UpTime"
    );
    assert_eq!(
        get1(
            &mut dm,
            "Device.ManagementServer.InformParameterNumberOfEntries"
        ),
        "1"
    );
    let json = std::fs::read_to_string(dir.join("dm.json")).unwrap();
    assert!(json.contains("\"Password\":\"pw\""));
}

#[test]
fn add_and_delete_object_refuse_what_is_not_a_writable_table() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    for p in [
        "Device.DeviceInfo.",
        "Device.IP.Interface.",
        "Device.Nope.",
        "Device.NAT.PortMappingNumberOfEntries",
        "Device.NAT.PortMapping.*.",
    ] {
        assert_eq!(dm.add_object(p).unwrap_err().code.0, 9005, "{p}");
    }
    dm.add_object("Device.NAT.PortMapping.").unwrap();
    for p in [
        "Device.NAT.PortMapping.",
        "Device.NAT.PortMapping.7.",
        "Device.DeviceInfo.",
        "Device.NAT.PortMapping.1.Enable",
    ] {
        assert_eq!(dm.delete_object(p).unwrap_err().code.0, 9005, "{p}");
    }
    let ifaces = dm.get_names("Device.IP.Interface.", true).unwrap();
    if let Some(first) = ifaces.first() {
        assert_eq!(dm.delete_object(&first.name).unwrap_err().code.0, 9005);
    }
}

#[test]
fn aliases_wildcards_and_alias_uniqueness() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    dm.add_object("Device.NAT.PortMapping.").unwrap();
    dm.add_object("Device.NAT.PortMapping.").unwrap();
    let v = dm.get_values("Device.NAT.PortMapping.*.Alias").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1].name, "Device.NAT.PortMapping.2.Alias");
    dm.set_values(&[sv("Device.NAT.PortMapping.[cpe-2].Alias", "web")])
        .unwrap();
    assert_eq!(get1(&mut dm, "Device.NAT.PortMapping.[web].Alias"), "web");
    let e = dm
        .set_values(&[sv("Device.NAT.PortMapping.1.Alias", "web")])
        .unwrap_err();
    assert_eq!(e.param_faults[0].code.0, 9007);
    let e = dm
        .set_values(&[sv("Device.NAT.PortMapping.1.Alias", "9x")])
        .unwrap_err();
    assert_eq!(e.param_faults[0].code.0, 9007);
    // Wildcards are for reads only.
    let e = dm
        .set_values(&[sv("Device.NAT.PortMapping.*.Enable", "1")])
        .unwrap_err();
    assert_eq!(e.param_faults[0].code.0, 9005);
    assert_eq!(
        dm.get_names("Device.NAT.PortMapping.*.", true)
            .unwrap()
            .len(),
        2 * 15
    );
}

#[test]
fn ip_interfaces_come_from_the_host() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    let v = dm.get_values("Device.IP.").unwrap();
    let count: usize = get1(&mut dm, "Device.IP.InterfaceNumberOfEntries")
        .parse()
        .unwrap();
    let names: Vec<&ParamValue> = v.iter().filter(|p| p.name.ends_with(".Name")).collect();
    assert_eq!(names.len(), count);
    if let Some(lo) = names.iter().find(|p| p.value == "lo") {
        let base = lo.name.strip_suffix("Name").unwrap();
        assert_eq!(get1(&mut dm, &format!("{base}Loopback")), "true");
        assert_eq!(
            get1(&mut dm, &format!("{base}IPv4Address.1.IPAddress")),
            "127.0.0.1"
        );
    }
    let e = dm
        .set_values(&[sv("Device.IP.Interface.1.Enable", "0")])
        .unwrap_err();
    assert!(matches!(e.param_faults[0].code.0, 9005 | 9008));
}

#[test]
fn active_notify_and_forced_inform_come_from_the_schema() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    assert_eq!(
        dm.active_notify("Device.DeviceInfo.SoftwareVersion"),
        ActiveNotify::ForceEnabled
    );
    assert_eq!(
        dm.active_notify("Device.DeviceInfo.UpTime"),
        ActiveNotify::CanDeny
    );
    assert_eq!(
        dm.active_notify("Device.NAT.PortMapping.5.LeaseDuration"),
        ActiveNotify::CanDeny
    );
    assert_eq!(
        dm.active_notify("Device.ManagementServer.ConnectionRequestURL"),
        ActiveNotify::ForceDefaultEnabled
    );
    assert_eq!(dm.active_notify("Device.Nope"), ActiveNotify::Normal);
    let forced = EmbeddedDataModel::forced_inform_names();
    // The agent's forced-inform list and the schema's forcedInform flags agree.
    for n in crate::agent::inform::FORCED_INFORM {
        assert!(forced.contains(&n), "{n}");
    }
}

#[test]
fn time_values_persist_and_factory_reset_clears_tables() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    assert_eq!(get1(&mut dm, "Device.Time.Status"), "Synchronized");
    dm.set_values(&[
        sv("Device.Time.Enable", "false"),
        sv("Device.Time.LocalTimeZone", "CET-1CEST,M3.5.0,M10.5.0/3"),
    ])
    .unwrap();
    dm.add_object("Device.Users.User.").unwrap();
    let mut dm = mk(&dir);
    assert_eq!(get1(&mut dm, "Device.Time.Status"), "Disabled");
    assert_eq!(
        get1(&mut dm, "Device.Time.LocalTimeZone"),
        "CET-1CEST,M3.5.0,M10.5.0/3"
    );
    dm.factory_reset().unwrap();
    assert_eq!(get1(&mut dm, "Device.Users.UserNumberOfEntries"), "0");
    let mut dm = mk(&dir);
    assert_eq!(get1(&mut dm, "Device.Users.UserNumberOfEntries"), "0");
    assert_eq!(get1(&mut dm, "Device.Time.Enable"), "true");
}

#[test]
fn corrupt_state_file_starts_empty() {
    let dir = tmpdir();
    std::fs::write(dir.join("dm.json"), b"{not json").unwrap();
    let mut dm = mk(&dir);
    assert_eq!(get1(&mut dm, "Device.NAT.PortMappingNumberOfEntries"), "0");
    assert_eq!(dm.add_object("Device.NAT.PortMapping.").unwrap().0, 1);
    std::fs::write(
        dir.join("dm.json"),
        br#"{"tables":{"Device.NAT.PortMapping.":{"next":"x","rows":{"0":{},"a":1,"5":{"Enable":7}}}}}"#,
    )
    .unwrap();
    let mut dm = mk(&dir);
    assert_eq!(get1(&mut dm, "Device.NAT.PortMapping.5.Enable"), "false");
    assert_eq!(dm.add_object("Device.NAT.PortMapping.").unwrap().0, 6);
}

/// Correctness at scale; the speed figure is in `make bench` (benches/session.rs).
#[test]
fn gpv_and_gpn_cover_ten_thousand_rows() {
    let dir = tmpdir();
    let mut rows = serde_json::Map::new();
    for n in 1..=10_000 {
        rows.insert(
            n.to_string(),
            serde_json::json!({"Enable": "true", "ExternalPort": "8080", "Protocol": "TCP"}),
        );
    }
    let doc = serde_json::json!({"version": 1, "tables": {"Device.NAT.PortMapping.":
        {"next": 10_001, "rows": rows}}});
    std::fs::write(dir.join("dm.json"), serde_json::to_vec(&doc).unwrap()).unwrap();
    let mut dm = mk(&dir);
    let v = dm.get_values("Device.").unwrap();
    assert!(v.len() > 150_000);
    assert!(v
        .iter()
        .any(|p| p.name == "Device.NAT.PortMapping.10000.ExternalPort"));
    let n = dm.get_names("", false).unwrap();
    assert!(n.len() > v.len());
}

#[test]
fn generated_schema_matches_the_generator() {
    let xml = Path::new("../shared/spec/tr-181-2-19-1-cwmp-full.xml");
    let types = Path::new("../shared/spec/tr-106-types.xml");
    if !xml.exists() || !types.exists() {
        eprintln!("skipped: ../shared/spec is absent");
        return;
    }
    let out = match std::process::Command::new("python3")
        .arg("tools/gen_tr181.py")
        .arg(xml)
        .arg(types)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: python3 unavailable ({e})");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::fs::read("src/datamodel/embedded/schema_gen.rs").unwrap();
    assert!(
        out.stdout == committed,
        "schema_gen.rs is stale: rerun tools/gen_tr181.py (see its header)"
    );
}

#[test]
fn dm_json_is_valid_json_and_round_trips_awkward_strings() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    let awkward = "q\"uote \\ back\nline \u{1} tab\t é ✓";
    dm.add_object("Device.Users.User.").unwrap();
    dm.add_object("Device.Users.User.").unwrap();
    dm.add_object("Device.NAT.PortMapping.").unwrap();
    dm.set_values(&[
        sv("Device.Users.User.2.Username", awkward),
        sv("Device.Users.User.1.Password", ""),
    ])
    .unwrap();
    dm.delete_object("Device.Users.User.1.").unwrap();
    drop(dm);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("dm.json")).unwrap()).unwrap();
    assert_eq!(doc["version"], 1);
    let users = &doc["tables"]["Device.Users.User."];
    assert_eq!(users["next"], 3);
    assert_eq!(users["rows"]["2"]["Username"], awkward);
    assert!(users["rows"].get("1").is_none());
    assert_eq!(doc["tables"]["Device.NAT.PortMapping."]["next"], 2);
    assert!(doc["values"].is_object());
    let mut dm = mk(&dir);
    assert_eq!(get1(&mut dm, "Device.Users.User.2.Username"), awkward);
    assert_eq!(dm.add_object("Device.Users.User.").unwrap().0, 3);
}
