//! The batched calls (one `get {paths}` / one `set {obj_path}` per RPC) against the fake
//! bbfdm, for both API generations: same results and per-parameter faults as one call per
//! path, in one round trip.

use super::*;

fn names(r: &Result<Vec<ParamValue>, Fault>) -> Vec<String> {
    r.as_ref()
        .map(|v| v.iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn several_paths_are_one_get_with_each_paths_own_result() {
    for api in APIS {
        let mut r = rig(api);
        let before = r.fake.calls_to("bbfdm.get").len();
        let got = r.dm.get_values_many(&[
            "Device.DeviceInfo.UpTime",
            "Device.Nope",
            "Device.Users.User.*.Alias",
            "Device.DeviceInfo.",
            "Device.Empty.",
        ]);
        let gets = r.fake.calls_to("bbfdm.get");
        assert_eq!(gets.len() - before, 1, "{api:?}: one call");
        assert_eq!(
            gets.last().unwrap()["paths"],
            json!([
                "Device.DeviceInfo.UpTime",
                "Device.Nope",
                "Device.Users.User.*.Alias",
                "Device.DeviceInfo.",
                "Device.Empty."
            ])
        );
        assert_eq!(got.len(), 5);
        assert_eq!(names(&got[0]), vec!["Device.DeviceInfo.UpTime"]);
        assert_eq!(got[0].as_ref().unwrap()[0].ty, ParamType::UnsignedInt);
        // The invalid path faults alone; its neighbours are unaffected.
        assert_eq!(
            got[1].as_ref().unwrap_err().code,
            FaultCode::INVALID_PARAMETER_NAME
        );
        assert_eq!(names(&got[2]), vec!["Device.Users.User.1.Alias"]);
        assert_eq!(names(&got[3]).len(), 6, "{:?}", got[3]);
        assert!(names(&got[3]).contains(&"Device.DeviceInfo.UpTime".to_string()));
        assert_eq!(
            got[4].as_ref().unwrap_err().code,
            FaultCode::INVALID_PARAMETER_NAME
        );
    }
}

#[test]
fn a_batch_gives_the_same_results_as_one_call_per_path() {
    let mut r = rig(Api::BbfConfig);
    let paths = [
        "Device.DeviceInfo.",
        "Device.DeviceInfo.SerialNumber",
        "Device.Users.User.[admin].Username",
        "Device.Users.User.[nobody].Username",
        "Device.ManagementServer.",
        "",
    ];
    let batch = r.dm.get_values_many(&paths);
    for (p, b) in paths.iter().zip(&batch) {
        let one = r.dm.get_values(p);
        match (b, &one) {
            (Ok(b), Ok(o)) => assert_eq!(b, o, "{p}"),
            (Err(b), Err(o)) => assert_eq!(b.code, o.code, "{p}"),
            _ => panic!("{p}: batch {b:?}, alone {one:?}"),
        }
    }
}

#[test]
fn a_dead_bbfdm_fails_every_path_of_a_batch_with_9002() {
    let mut r = rig(Api::BbfConfig);
    r.server = None;
    std::thread::sleep(Duration::from_millis(200));
    let got = r.dm.get_values_many(&["Device.DeviceInfo.", "Device.Nope"]);
    assert_eq!(got.len(), 2);
    for g in got {
        assert_eq!(g.unwrap_err().code, FaultCode::INTERNAL_ERROR);
    }
}

#[test]
fn several_values_are_one_set_call_and_commit() {
    for api in APIS {
        let mut r = rig(api);
        let vals = [
            sv("Device.ManagementServer.PeriodicInformInterval", "60"),
            sv("Device.ManagementServer.PeriodicInformEnable", "0"),
            sv("Device.Users.User.[admin].Username", "alice"),
        ];
        r.dm.set_values(&vals).unwrap();
        let sets = r.fake.calls_to("bbfdm.set");
        assert_eq!(sets.len(), 1, "{api:?}: {sets:?}");
        assert_eq!(sets[0]["path"], json!("Device."));
        assert_eq!(
            sets[0]["obj_path"],
            json!({
                "ManagementServer.PeriodicInformInterval": "60",
                "ManagementServer.PeriodicInformEnable": "0",
                "Users.User.1.Username": "alice",
            })
        );
        let st = r.fake.state();
        assert_eq!(
            st.committed["Device.ManagementServer.PeriodicInformInterval"].0,
            "60"
        );
        assert_eq!(
            st.committed["Device.ManagementServer.PeriodicInformEnable"].0,
            "0"
        );
        assert_eq!(st.committed["Device.Users.User.1.Username"].0, "alice");
    }
}

#[test]
fn a_batched_set_with_bad_values_lists_each_parameter_fault_from_one_call() {
    for api in APIS {
        let r = refused_set(
            api,
            &[
                sv("Device.ManagementServer.PeriodicInformInterval", "60"),
                sv("Device.DeviceInfo.UpTime", "5"),
                sv("Device.Users.User.1.Enable", "maybe"),
            ],
            &[
                ("Device.DeviceInfo.UpTime", 9008),
                ("Device.Users.User.1.Enable", 9007),
            ],
        );
        assert_eq!(r.fake.calls_to("bbfdm.set").len(), 1, "{api:?}");
        assert_nothing_staged(&r, api);
    }
}

#[test]
fn a_batched_set_with_an_unknown_name_still_names_each_faulty_parameter() {
    for api in APIS {
        // bbfdm refuses the whole obj_path at the unknown name, under the common path: the
        // backend asks again one by one to say which parameter is at fault.
        let r = refused_set(
            api,
            &[
                sv("Device.ManagementServer.PeriodicInformInterval", "60"),
                sv("Device.ManagementServer.Nope", "1"),
                sv("Device.ManagementServer.PeriodicInformEnable", "x"),
            ],
            &[
                ("Device.ManagementServer.Nope", 9005),
                ("Device.ManagementServer.PeriodicInformEnable", 9007),
            ],
        );
        let sets = r.fake.calls_to("bbfdm.set");
        assert_eq!(sets[0]["path"], json!("Device.ManagementServer."));
        assert_eq!(sets.len(), 4, "{api:?}: the batch, then one per parameter");
        assert_nothing_staged(&r, api);
    }
}

#[test]
fn the_fake_refuses_an_obj_path_with_an_unknown_name_whole() {
    // What real bbfdm does (fill_pvlist_set): one fault under the request's path, nothing set.
    let r = rig(Api::BbfConfig);
    let reply =
        r.dm.raw_call(
            OBJECT,
            "set",
            json!({"path": "Device.", "obj_path": {
                "ManagementServer.PeriodicInformInterval": "60", "Nope": "1"},
                "optional": {"proto": "cwmp", "format": "raw"}}),
        )
        .unwrap();
    let rows = reply::rows(&reply);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].path, "Device.");
    assert_eq!(
        rows[0].fault.as_ref().map(|f| f.code),
        Some(FaultCode::INVALID_PARAMETER_NAME)
    );
    assert_eq!(
        r.fake.state().params["Device.ManagementServer.PeriodicInformInterval"].0,
        "600"
    );
}

#[test]
fn a_notification_check_is_one_get_by_subtree() {
    let mut r = rig(Api::BbfConfig);
    let mut attrs = crate::notify::NotifyAttributes::new();
    attrs.set_notification("Device.DeviceInfo.", 1);
    attrs.set_notification("Device.DeviceInfo.UpTime", 2);
    attrs.set_notification("Device.ManagementServer.PeriodicInformInterval", 2);
    attrs.set_notification("Device.Gone.", 1);
    let before = r.fake.calls_to("bbfdm.get").len();
    let got = attrs.notified(&mut r.dm);
    let gets = r.fake.calls_to("bbfdm.get");
    assert_eq!(gets.len() - before, 1);
    // UpTime and the forced-active SoftwareVersion/ProvisioningCode are in DeviceInfo.
    assert_eq!(
        gets.last().unwrap()["paths"],
        json!([
            "Device.DeviceInfo.",
            "Device.Gone.",
            "Device.ManagementServer.PeriodicInformInterval"
        ])
    );
    let level = |n: &str| got.iter().find(|(v, _)| v.name == n).map(|(_, l)| *l);
    assert_eq!(level("Device.DeviceInfo.UpTime"), Some(2));
    assert_eq!(level("Device.DeviceInfo.SoftwareVersion"), Some(2));
    assert_eq!(level("Device.DeviceInfo.Manufacturer"), Some(1));
    assert_eq!(
        level("Device.ManagementServer.PeriodicInformInterval"),
        Some(2)
    );
    assert_eq!(got.len(), 7, "{got:?}");
}

#[test]
fn the_inform_reads_its_parameters_and_the_device_id_in_one_get() {
    let mut r = rig(Api::Transaction);
    let before = r.fake.calls_to("bbfdm.get").len();
    let extra = ["Device.DeviceInfo.UpTime".to_string()];
    let input = crate::agent::inform::InformInput {
        extra_forced: &extra,
        ..Default::default()
    };
    let inform = crate::agent::inform::build(&mut r.dm, &input);
    assert_eq!(r.fake.calls_to("bbfdm.get").len() - before, 1);
    assert_eq!(inform.device_id.serial_number, "SN-BBF-1");
    assert_eq!(inform.device_id.oui, "002207");
    let names: Vec<&str> = inform.parameters.iter().map(|p| p.name.as_str()).collect();
    // The forced parameters the fake has (the others fault alone and are skipped).
    assert_eq!(
        names,
        [
            "Device.RootDataModelVersion",
            "Device.DeviceInfo.SoftwareVersion",
            "Device.DeviceInfo.UpTime"
        ]
    );
}
