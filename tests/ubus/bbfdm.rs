//! The bbfdm backend on the real ubusd for every API generation of the in-tree fake (the
//! current `bbf.config` one, 7.x transactions, and neither): the daemon tells them apart by
//! the signatures the real ubusd relays, and the ACS sees the same answers.

use super::*;

/// Runs GPV, a half-bad SPV, a good SPV and AddObject against a fake of generation `api`,
/// checking the ACS's answers and what the fake holds after; returns the fake and the
/// daemon's logs for generation-specific checks.
fn session_on(api: Api) -> (FakeBbfdm, String) {
    let bus = Bus::start("ubus-bbfdm-api");
    let fake = FakeBbfdm::new(api);
    let _server = bus.client(fake.objects());
    bus.wait_object("bbfdm");
    let script = [
        soap::gpv(&[
            "Device.DeviceInfo.UpTime",
            "Device.Users.User.[admin].Username",
        ]),
        soap::spv(
            &[
                (
                    "Device.ManagementServer.PeriodicInformInterval",
                    "60",
                    "xsd:unsignedInt",
                ),
                ("Device.DeviceInfo.UpTime", "1", "xsd:unsignedInt"),
            ],
            "bad",
        ),
        soap::spv(
            &[("Device.Users.User.1.Username", "alice", "xsd:string")],
            "good",
        ),
        soap::add_object("Device.Users.User.", "add"),
    ];
    let rig = Rig::with(AcsOpts::default(), &script, with_socket(&bus, "bbfdm"));
    let inform = rig.wait_inform("1 BOOT", 1);
    assert!(inform.body.contains("SN-BBF-1"), "{}", inform.body);
    let msgs = rig.wait_idle();
    let values = rig.answer(&msgs, "GetParameterValues").values();
    assert_eq!(
        soap::value_of(&values, "Device.DeviceInfo.UpTime"),
        Some("120")
    );
    assert_eq!(
        soap::value_of(&values, "Device.Users.User.1.Username"),
        Some("root")
    );
    let (code, list) = rig
        .answer(&msgs, "SetParameterValues")
        .fault()
        .expect("fault");
    assert_eq!(code, 9003);
    assert_eq!(list, vec![("Device.DeviceInfo.UpTime".to_string(), 9008)]);
    let add = rig.answer(&msgs, "AddObject");
    assert!(
        add.body.contains("<InstanceNumber>2</InstanceNumber>"),
        "{}",
        add.body
    );
    {
        let st = fake.state();
        // Without bbf.config, bbfdm applies writes itself: no separate committed copy.
        let values = if api == Api::Direct {
            &st.params
        } else {
            &st.committed
        };
        assert_eq!(values["Device.Users.User.1.Username"].0, "alice");
        assert!(values.contains_key("Device.Users.User.2.Username"));
        if api != Api::Direct {
            // The half-bad SPV was undone, the good one and AddObject committed.
            assert_eq!(
                st.committed["Device.ManagementServer.PeriodicInformInterval"].0,
                "600"
            );
        }
    }
    rig.assert_xsd_valid();
    let logs = rig.cpe.logs();
    assert!(logs.contains(&format!("({api:?} API)")), "{logs}");
    (fake, logs)
}

#[test]
fn bbfdm_backend_end_to_end() {
    let (fake, _) = session_on(Api::BbfConfig);
    assert_eq!(fake.calls_to("bbf.config.revert").len(), 1);
    assert_eq!(fake.calls_to("bbf.config.commit").len(), 2);
}

#[test]
fn bbfdm_7x_transactions_on_the_real_ubusd() {
    let (fake, _) = session_on(Api::Transaction);
    let cmds: Vec<String> = fake
        .calls_to("bbfdm.transaction")
        .iter()
        .filter_map(|a| a["cmd"].as_str().map(str::to_string))
        .collect();
    assert!(cmds.contains(&"abort".to_string()), "{cmds:?}");
    assert_eq!(
        cmds.iter().filter(|c| *c == "commit").count(),
        2,
        "{cmds:?}"
    );
    assert!(fake.calls_to("bbf.config.commit").is_empty());
}

#[test]
fn bbfdm_without_bbf_config_on_the_real_ubusd() {
    let (fake, logs) = session_on(Api::Direct);
    assert!(logs.contains("changes cannot be reverted"), "{logs}");
    assert!(fake.calls_to("bbfdm.transaction").is_empty());
    assert!(fake.calls_to("bbf.config.commit").is_empty());
}
