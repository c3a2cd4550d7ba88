//! Transfer RPC handlers: responses, faults, actions, GetRPCMethods listing.

use super::test_env::Env;
use super::{supported_methods, Action};
use crate::soap::{
    AcsRequest, CpeResponse, DownloadArgs, QueuedTransfer, ScheduleDownloadArgs, TimeWindow,
    UploadArgs,
};

fn dl(url: &str) -> DownloadArgs {
    DownloadArgs {
        command_key: "k".into(),
        file_type: "1 Firmware Upgrade Image".into(),
        url: url.into(),
        ..DownloadArgs::default()
    }
}

fn queued(key: &str, state: u8) -> QueuedTransfer {
    QueuedTransfer {
        command_key: key.into(),
        state,
        is_download: true,
        file_type: "1 Firmware Upgrade Image".into(),
        file_size: 10,
        target_file_name: "t".into(),
    }
}

#[test]
fn download_is_queued_with_status_1_and_unknown_times() {
    let mut env = Env::new();
    let a = dl("http://files/fw.bin");
    let (resp, actions) = env.call(AcsRequest::Download(a.clone()));
    assert_eq!(
        resp,
        CpeResponse::Download {
            status: 1,
            start_time: None,
            complete_time: None
        }
    );
    assert_eq!(actions, vec![Action::Download(a)]);
    assert_eq!(
        env.fault(AcsRequest::Download(dl("tftp://f/x"))).code.0,
        9013
    );
    assert_eq!(
        env.fault(AcsRequest::Download(dl("http://u:p@f/x"))).code.0,
        9003
    );
    env.transfers = (0..16).map(|i| queued(&i.to_string(), 1)).collect();
    assert_eq!(
        env.fault(AcsRequest::Download(dl("http://f/x"))).code.0,
        9004
    );
}

#[test]
fn upload_and_schedule_download() {
    let mut env = Env::new();
    let up = UploadArgs {
        file_type: "2 Vendor Log File".into(),
        url: "ftp://f/log".into(),
        ..UploadArgs::default()
    };
    let (resp, actions) = env.call(AcsRequest::Upload(up.clone()));
    assert!(matches!(resp, CpeResponse::Upload { status: 1, .. }));
    assert_eq!(actions, vec![Action::Upload(up)]);
    let mut sd = ScheduleDownloadArgs {
        download: dl("https://f/fw"),
        windows: vec![TimeWindow {
            window_start: 0,
            window_end: 3600,
            window_mode: "3 When Idle".into(),
            user_message: String::new(),
            max_retries: -1,
        }],
    };
    let (resp, _) = env.call(AcsRequest::ScheduleDownload(sd.clone()));
    assert_eq!(resp, CpeResponse::ScheduleDownload);
    sd.windows[0].window_mode = "4 Confirmation Needed".into();
    assert_eq!(
        env.fault(AcsRequest::ScheduleDownload(sd.clone())).code.0,
        9001
    );
    env.amd = 2;
    assert_eq!(env.fault(AcsRequest::ScheduleDownload(sd)).code.0, 9000);
}

#[test]
fn cancel_and_queue_listings() {
    let mut env = Env::new();
    env.transfers = vec![queued("a", 1), queued("b", 2), queued("c", 3)];
    let cancel = |k: &str| AcsRequest::CancelTransfer {
        command_key: k.into(),
    };
    let (resp, actions) = env.call(cancel("a"));
    assert_eq!(resp, CpeResponse::CancelTransfer);
    assert_eq!(
        actions,
        vec![Action::CancelTransfer {
            command_key: "a".into()
        }]
    );
    assert_eq!(env.fault(cancel("b")).code.0, 9021);
    assert_eq!(env.fault(cancel("c")).code.0, 9021);
    assert_eq!(env.fault(cancel("zz")).code.0, 9003);
    match env.call(AcsRequest::GetQueuedTransfers).0 {
        CpeResponse::GetQueuedTransfers { transfers } => {
            assert_eq!(transfers.len(), 3);
            assert_eq!(
                (transfers[1].command_key.as_str(), transfers[1].state),
                ("b", 2)
            );
            assert_eq!(transfers[1].file_type, "", "only CommandKey and State");
        }
        other => panic!("{other:?}"),
    }
    match env.call(AcsRequest::GetAllQueuedTransfers).0 {
        CpeResponse::GetAllQueuedTransfers { transfers } => assert_eq!(transfers, env.transfers),
        other => panic!("{other:?}"),
    }
}

#[test]
fn get_rpc_methods_lists_transfer_methods_by_amendment() {
    let m5 = supported_methods(5);
    for n in [
        "Download",
        "Upload",
        "ScheduleDownload",
        "CancelTransfer",
        "GetQueuedTransfers",
        "GetAllQueuedTransfers",
    ] {
        assert!(m5.contains(&n), "{n}");
    }
    let m1 = supported_methods(1);
    assert!(m1.contains(&"Download") && !m1.contains(&"GetAllQueuedTransfers"));
    assert!(!m1.contains(&"ScheduleDownload") && !m1.contains(&"ChangeDUState"));
}

#[test]
fn change_du_state_answers_empty_and_queues_checked_operations() {
    use crate::soap::DuOperation;
    let install = |uuid: &str| DuOperation::Install {
        url: "http://h/p.ipk".into(),
        uuid: uuid.into(),
        username: String::new(),
        password: String::new(),
        execution_env_ref: String::new(),
    };
    let req = |ops: Vec<DuOperation>| AcsRequest::ChangeDuState {
        operations: ops,
        command_key: "d1".into(),
    };
    let mut env = Env::new();
    env.amd = 3;
    let (resp, actions) = env.call(req(vec![install("")]));
    assert_eq!(resp, CpeResponse::ChangeDuState);
    assert_eq!(
        actions,
        vec![Action::ChangeDuState {
            operations: vec![install("")],
            command_key: "d1".into()
        }]
    );
    assert_eq!(
        super::test_env::code(&env.fault(req(vec![install("bad")]))),
        9022
    );
    assert_eq!(super::test_env::code(&env.fault(req(vec![]))), 9003);
    env.amd = 2;
    assert_eq!(
        super::test_env::code(&env.fault(req(vec![install("")]))),
        9000
    );
}
