//! Dispatch-table and handler tests against the in-memory [`FakeDm`].

use super::fake::FakeDm;
use super::test_env::*;
use super::*;
use crate::datamodel::ApplyStatus;

/// One request of every kind, for the dispatch-table tests.
fn every_request() -> Vec<AcsRequest> {
    use crate::soap::{DownloadArgs, ScheduleDownloadArgs, UploadArgs};
    vec![
        AcsRequest::GetRpcMethods,
        AcsRequest::SetParameterValues {
            values: vec![],
            parameter_key: "k".into(),
        },
        AcsRequest::GetParameterValues {
            names: vec!["Device.DeviceInfo.".into()],
        },
        AcsRequest::GetParameterNames {
            path: "".into(),
            next_level: true,
        },
        spa(vec![notify("Device.Time.Enable", 1)]),
        AcsRequest::GetParameterAttributes {
            names: vec!["Device.Time.".into()],
        },
        AcsRequest::AddObject {
            object_name: "Device.Hosts.Host.".into(),
            parameter_key: "k".into(),
        },
        AcsRequest::DeleteObject {
            object_name: "Device.Hosts.Host.1.".into(),
            parameter_key: "k".into(),
        },
        AcsRequest::Reboot {
            command_key: "r".into(),
        },
        AcsRequest::Download(DownloadArgs::default()),
        AcsRequest::Upload(UploadArgs::default()),
        AcsRequest::FactoryReset,
        AcsRequest::FactoryResetSoft,
        AcsRequest::GetQueuedTransfers,
        AcsRequest::GetAllQueuedTransfers,
        AcsRequest::ScheduleInform {
            delay_seconds: 5,
            command_key: "s".into(),
        },
        AcsRequest::SetVouchers { vouchers: vec![] },
        AcsRequest::GetOptions {
            option_name: String::new(),
        },
        AcsRequest::ScheduleDownload(ScheduleDownloadArgs::default()),
        AcsRequest::CancelTransfer {
            command_key: "c".into(),
        },
        AcsRequest::ChangeDuState {
            operations: vec![],
            command_key: "d".into(),
        },
    ]
}

const UNSERVED: [&str; 2] = ["SetVouchers", "GetOptions"];

// --- dispatch table ---------------------------------------------------------------------

#[test]
fn lists_exactly_the_table_in_get_rpc_methods() {
    let mut env = Env::new();
    let (resp, actions) = env.call(AcsRequest::GetRpcMethods);
    let want: Vec<String> = supported_methods(5).iter().map(|s| s.to_string()).collect();
    assert_eq!(resp, CpeResponse::GetRpcMethods { methods: want });
    assert!(actions.is_empty());
}

#[test]
fn serves_every_listed_method() {
    let listed = supported_methods(6);
    assert_eq!(listed.len(), 19, "{listed:?}");
    for name in &listed {
        let req = every_request()
            .into_iter()
            .find(|r| r.method_name() == *name)
            .unwrap_or_else(|| panic!("no sample request for {name}"));
        let mut env = Env::new();
        env.amd = 6;
        if let (CpeResponse::Fault(f), _) = env.call(req) {
            assert_ne!(code(&f), 9000, "{name} listed but answered {f}");
        }
    }
}

#[test]
fn rejects_unserved_methods_with_9000() {
    let listed = supported_methods(6);
    for req in every_request() {
        let name = req.method_name();
        let served = !UNSERVED.contains(&name);
        assert_eq!(listed.contains(&name), served, "{name}");
        if !served {
            let mut env = Env::new();
            env.amd = 6;
            assert_eq!(code(&env.fault(req)), 9000, "{name}");
        }
    }
}

#[test]
fn rejects_methods_above_configured_amendment_with_9000() {
    let mut env = Env::new();
    env.amd = 0;
    assert!(supported_methods(0).is_empty());
    assert_eq!(code(&env.fault(AcsRequest::GetRpcMethods)), 9000);
    assert_eq!(code(&env.fault(AcsRequest::FactoryReset)), 9000);
}

// --- GetParameterValues -----------------------------------------------------------------

#[test]
fn accepts_names_and_partial_paths_without_duplicates() {
    let mut env = Env::new();
    let resp = env.gpv(&[
        "Device.DeviceInfo.",
        "Device.DeviceInfo.UpTime",
        "Device.DeviceInfo.",
    ]);
    let CpeResponse::GetParameterValues { values } = resp else {
        panic!("{resp:?}")
    };
    let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(names.contains(&"Device.DeviceInfo.UpTime"));
    let uptime = values.iter().find(|v| v.name.ends_with("UpTime")).unwrap();
    assert_eq!(uptime.value, "100");
}

#[test]
fn rejects_unknown_name_without_partial_result() {
    let mut env = Env::new();
    let names = vec!["Device.DeviceInfo.UpTime".into(), "Device.Nope".into()];
    let f = env.fault(AcsRequest::GetParameterValues { names });
    assert_eq!(code(&f), 9005);
}

#[test]
fn rejects_malformed_name_with_9005() {
    let mut env = Env::new();
    for bad in ["Device..UpTime", "Device.A B", ".Device"] {
        let f = env.fault(AcsRequest::GetParameterValues {
            names: vec![bad.into()],
        });
        assert_eq!(code(&f), 9005, "{bad}");
    }
}

#[test]
fn rejects_overlong_name_with_9003() {
    let mut env = Env::new();
    let long = format!("Device.{}", "A".repeat(250));
    let f = env.fault(AcsRequest::GetParameterValues { names: vec![long] });
    assert_eq!(code(&f), 9003);
}

#[test]
fn rejects_trailing_wildcard_unless_supported() {
    let mut env = Env::new();
    let names = vec!["Device.Hosts.Host.*.".to_string()];
    let f = env.fault(AcsRequest::GetParameterValues {
        names: names.clone(),
    });
    assert_eq!(code(&f), 9005);
    env.dm = FakeDm::new().with_wildcards();
    match env.call(AcsRequest::GetParameterValues { names }).0 {
        CpeResponse::GetParameterValues { values } => assert_eq!(values.len(), 4),
        other => panic!("{other:?}"),
    }
}

#[test]
fn batched_reads_give_the_same_answers_and_faults_in_request_order() {
    let requests = [
        vec![
            "Device.DeviceInfo.",
            "Device.DeviceInfo.UpTime",
            "Device.DeviceInfo.",
        ],
        vec![
            "Device.DeviceInfo.UpTime",
            "Device.Nope",
            "Device.Hosts.Host.*.",
        ],
        vec!["Device.Hosts.Host.*.", "Device.Nope"],
        vec!["Device.", "Device.ManagementServer.URL"],
        vec!["Device.DeviceInfo.", "Device.DeviceInfo.UpTime"],
    ];
    for names in requests {
        let answer = |batch: bool| {
            let mut env = Env::new();
            env.dm.batch = batch;
            let gpv = format!("{:?}", env.gpv(&names));
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let gpa = env.call(AcsRequest::GetParameterAttributes {
                names: names.clone(),
            });
            let set = spa(names.iter().map(|n| notify(n, 1)).collect());
            let spa = env.call(set);
            let after = env.gpa(&["Device.DeviceInfo.UpTime"]);
            (gpv, format!("{:?} {:?} {after:?}", gpa.0, spa))
        };
        assert_eq!(answer(true), answer(false), "{names:?}");
    }
}

// --- GetParameterNames ------------------------------------------------------------------

fn gpn(env: &mut Env, path: &str, next_level: bool) -> Result<Vec<(String, bool)>, Fault> {
    let req = AcsRequest::GetParameterNames {
        path: path.into(),
        next_level,
    };
    match env.call(req).0 {
        CpeResponse::GetParameterNames { names } => {
            Ok(names.into_iter().map(|i| (i.name, i.writable)).collect())
        }
        CpeResponse::Fault(f) => Err(f),
        other => panic!("{other:?}"),
    }
}

#[test]
fn accepts_empty_path_as_root() {
    let mut env = Env::new();
    assert_eq!(
        gpn(&mut env, "", true).unwrap(),
        [("Device.".to_string(), false)]
    );
    let all = gpn(&mut env, "", false).unwrap();
    assert!(all.iter().any(|(n, _)| n == "Device.DeviceInfo.UpTime"));
    assert!(all.iter().any(|(n, _)| n == "Device.Hosts.Host.1."));
}

#[test]
fn lists_direct_children_with_next_level() {
    let mut env = Env::new();
    assert_eq!(
        gpn(&mut env, "Device.Hosts.Host.", true).unwrap(),
        [
            ("Device.Hosts.Host.1.".to_string(), true),
            ("Device.Hosts.Host.2.".to_string(), true)
        ]
    );
}

#[test]
fn rejects_next_level_on_parameter_with_9003_and_unknown_path_with_9005() {
    let mut env = Env::new();
    assert_eq!(
        code(&gpn(&mut env, "Device.DeviceInfo.UpTime", true).unwrap_err()),
        9003
    );
    assert_eq!(code(&gpn(&mut env, "Device.Nope", true).unwrap_err()), 9005);
    assert_eq!(
        code(&gpn(&mut env, "Device.Nope.", false).unwrap_err()),
        9005
    );
    assert_eq!(code(&gpn(&mut env, "Device..", false).unwrap_err()), 9005);
}

// --- SetParameterValues -----------------------------------------------------------------

#[test]
fn accepts_valid_set_and_returns_parameter_key() {
    let mut env = Env::new();
    let req = spv(&[("Device.Time.Enable", "0")], "key1");
    let (resp, actions) = env.call(req);
    assert_eq!(resp, CpeResponse::SetParameterValues { status: 0 });
    assert_eq!(actions, [Action::SetParameterKey("key1".into())]);
    assert_eq!(env.dm.value("Device.Time.Enable"), Some("false"));

    env.dm.status = ApplyStatus::Pending;
    let req = spv(&[("Device.Time.Enable", "1")], "key2");
    let (resp, _) = env.call(req);
    assert_eq!(resp, CpeResponse::SetParameterValues { status: 1 });
}

#[test]
fn emits_config_changed_for_management_server() {
    let mut env = Env::new();
    let req = spv(
        &[("Device.ManagementServer.PeriodicInformInterval", "300")],
        "k",
    );
    let (_, actions) = env.call(req);
    assert_eq!(
        actions,
        [Action::SetParameterKey("k".into()), Action::ConfigChanged]
    );
    // Writing back the value it holds changes nothing: no config reload.
    let req = spv(
        &[("Device.ManagementServer.PeriodicInformInterval", "300")],
        "k",
    );
    let (_, actions) = env.call(req);
    assert_eq!(actions, [Action::SetParameterKey("k".into())]);
}

#[test]
fn rejects_partial_path_with_param_fault_9005() {
    let mut env = Env::new();
    let req = spv(&[("Device.Time.", "1"), ("Device..X", "1")], "k");
    let f = env.fault(req);
    assert_eq!(code(&f), 9003);
    let per: Vec<(&str, u32)> = f
        .param_faults
        .iter()
        .map(|p| (p.name.as_str(), p.code.0))
        .collect();
    assert_eq!(per, [("Device.Time.", 9005), ("Device..X", 9005)]);
    assert_eq!(env.dm.sets, 0);
}

#[test]
fn rejects_same_name_twice_with_9003() {
    let mut env = Env::new();
    let req = spv(
        &[("Device.Time.Enable", "1"), ("Device.Time.Enable", "0")],
        "k",
    );
    let f = env.fault(req);
    assert_eq!(code(&f), 9003);
    assert!(f.param_faults.is_empty());
    assert_eq!(env.dm.sets, 0);
}

#[test]
fn rejects_forced_inform_parameter_in_inform_parameter_table_with_9007() {
    let mut env = Env::new();
    let name = "Device.ManagementServer.InformParameter.1.ParameterName";
    let req = spv(&[(name, "Device.DeviceInfo.SoftwareVersion")], "k");
    let f = env.fault(req);
    assert_eq!(code(&f), 9003);
    assert_eq!(f.param_faults.len(), 1);
    assert_eq!(f.param_faults[0].name, name);
    assert_eq!(f.param_faults[0].code.0, 9007);
    let req = spv(&[(name, "Device.DeviceInfo.UpTime")], "k");
    assert!(matches!(
        env.call(req).0,
        CpeResponse::SetParameterValues { .. }
    ));
}

#[test]
fn rejects_whole_set_when_one_value_fails() {
    let mut env = Env::new();
    let req = spv(
        &[
            ("Device.Time.Enable", "0"),
            ("Device.DeviceInfo.UpTime", "5"),
            ("Device.ManagementServer.PeriodicInformInterval", "-1"),
        ],
        "k",
    );
    let f = env.fault(req);
    assert_eq!(code(&f), 9003);
    let per: Vec<u32> = f.param_faults.iter().map(|p| p.code.0).collect();
    assert_eq!(per, [9008, 9007]);
    assert_eq!(env.dm.value("Device.Time.Enable"), Some("true"));
}

#[test]
fn rejects_overlong_parameter_key_and_name_with_9003() {
    let mut env = Env::new();
    let req = spv(&[("Device.Time.Enable", "0")], &"k".repeat(33));
    assert_eq!(code(&env.fault(req)), 9003);
    let long = format!("Device.{}", "A".repeat(250));
    let req = spv(&[(&long, "0")], "k");
    assert_eq!(code(&env.fault(req)), 9003);
    let req = spv(&[("Device.Time.Enable", "0")], &"k".repeat(32));
    assert!(matches!(
        env.call(req).0,
        CpeResponse::SetParameterValues { .. }
    ));
}

// --- Reboot, FactoryReset, ScheduleInform -------------------------------------------------

#[test]
fn accepts_reboot_and_factory_resets_as_actions() {
    let mut env = Env::new();
    let (resp, actions) = env.call(AcsRequest::Reboot {
        command_key: "rb".into(),
    });
    assert_eq!(resp, CpeResponse::Reboot);
    assert_eq!(
        actions,
        [Action::Reboot {
            command_key: "rb".into()
        }]
    );
    assert_eq!(
        env.call(AcsRequest::FactoryReset),
        (CpeResponse::FactoryReset, vec![Action::FactoryReset])
    );
    assert_eq!(
        env.call(AcsRequest::FactoryResetSoft),
        (CpeResponse::FactoryResetSoft, vec![Action::FactoryReset])
    );
    let f = env.fault(AcsRequest::Reboot {
        command_key: "x".repeat(33),
    });
    assert_eq!(code(&f), 9003);
}

#[test]
fn accepts_schedule_inform_with_due_time() {
    let mut env = Env::new();
    env.queued = 9;
    let (resp, actions) = env.call(AcsRequest::ScheduleInform {
        delay_seconds: 30,
        command_key: "si".into(),
    });
    assert_eq!(resp, CpeResponse::ScheduleInform);
    assert_eq!(
        actions,
        [Action::ScheduleInform {
            delay_seconds: 30,
            due: NOW + 30,
            command_key: "si".into()
        }]
    );
}

#[test]
fn rejects_schedule_inform_with_zero_delay_or_full_queue() {
    let mut env = Env::new();
    let req = |d| AcsRequest::ScheduleInform {
        delay_seconds: d,
        command_key: "si".into(),
    };
    assert_eq!(code(&env.fault(req(0))), 9003);
    env.queued = MAX_SCHEDULED_INFORMS;
    assert_eq!(code(&env.fault(req(10))), 9004);
    env.queued = 0;
    let f = env.fault(AcsRequest::ScheduleInform {
        delay_seconds: 1,
        command_key: "k".repeat(33),
    });
    assert_eq!(code(&f), 9003);
}
