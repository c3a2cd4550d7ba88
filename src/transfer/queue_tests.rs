//! The pure queue: windows, limits, cancel, restart recovery, persistence.

use super::queue::*;
use super::*;
use crate::soap::{DownloadArgs, ScheduleDownloadArgs, TimeWindow, UploadArgs};

const T0: i64 = 1_700_000_000;

fn dl(key: &str, delay: u32) -> Request {
    let a = DownloadArgs {
        command_key: key.into(),
        file_type: "1 Firmware Upgrade Image".into(),
        url: "http://h/fw".into(),
        password: "secret".into(),
        delay_seconds: delay,
        ..DownloadArgs::default()
    };
    Request::download(&a, T0)
}

fn sd(key: &str, windows: &[(u32, u32, &str, i32)]) -> Request {
    let a = ScheduleDownloadArgs {
        download: DownloadArgs {
            command_key: key.into(),
            file_type: "3 Vendor Configuration File".into(),
            url: "http://h/c".into(),
            ..DownloadArgs::default()
        },
        windows: windows
            .iter()
            .map(|(s, e, m, r)| TimeWindow {
                window_start: *s,
                window_end: *e,
                window_mode: m.to_string(),
                user_message: String::new(),
                max_retries: *r,
            })
            .collect(),
    };
    Request::schedule_download(&a, T0)
}

fn ok() -> Outcome {
    Outcome::default()
}

#[test]
fn delay_seconds_counts_from_receipt_and_limit_is_16() {
    let mut q = TransferQueue::new();
    let a = q.add(dl("a", 30)).unwrap();
    assert!(q.startable(T0 + 29).is_empty());
    assert_eq!(q.next_due(T0), Some(T0 + 30));
    assert_eq!(q.startable(T0 + 30), vec![a]);
    for i in 1..MAX_TRANSFERS {
        q.add(dl(&i.to_string(), 0)).unwrap();
    }
    assert_eq!(q.add(dl("x", 0)).unwrap_err().code.0, 9004);
    assert_eq!(q.snapshot().len(), 16);
}

#[test]
fn lifecycle_reports_once_with_times() {
    let mut q = TransferQueue::new();
    let id = q.add(dl("k", 0)).unwrap();
    let g = q.start(id, T0 + 1).unwrap();
    assert_eq!(q.start(id, T0 + 1), None, "already running");
    assert_eq!(q.snapshot()[0].state, 2);
    assert!(q.applying(id, g, Some("1.0".into())));
    assert!(
        !q.finish(id, g + 1, ok(), T0 + 5),
        "stale generation ignored"
    );
    assert!(q.finish(id, g, ok(), T0 + 9));
    assert_eq!(q.snapshot()[0].state, 3);
    let c = q.completions();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].2.command_key, "k");
    assert_eq!(
        (c[0].2.start_time, c[0].2.complete_time),
        (Some(T0 + 1), Some(T0 + 9))
    );
    assert!(q.has_result(Kind::Download, "k"));
    assert!(q.acknowledge(id).is_some());
    assert!(q.acknowledge(id).is_none());
    assert!(q.completions().is_empty());
}

#[test]
fn cancel_rules() {
    let mut q = TransferQueue::new();
    q.add(dl("a", 100)).unwrap();
    let b = q.add(dl("b", 0)).unwrap();
    q.start(b, T0).unwrap();
    let snap = q.snapshot();
    assert!(check_cancel(&snap, "a").is_ok());
    assert_eq!(check_cancel(&snap, "b").unwrap_err().code.0, 9021);
    assert_eq!(check_cancel(&snap, "zz").unwrap_err().code.0, 9003);
    assert_eq!(q.cancel("a"), 1);
    assert_eq!(q.items().len(), 1);
}

#[test]
fn windows_modes_and_expiry() {
    let mut q = TransferQueue::new();
    let a = q.add(sd("a", &[(60, 120, "1 At Any Time", -1)])).unwrap();
    assert!(q.startable(T0 + 59).is_empty());
    assert_eq!(q.next_due(T0), Some(T0 + 60));
    assert_eq!(q.startable(T0 + 60), vec![a]);
    // Past the only window: 9020, with an Unknown StartTime.
    assert!(q.expire(T0 + 120));
    let c = &q.completions()[0].2;
    assert_eq!((c.fault.code, c.start_time), (9020, None));

    // Second window still usable after the first closed.
    let mut q = TransferQueue::new();
    let b = q
        .add(sd(
            "b",
            &[(0, 10, "2 Immediately", 0), (100, 200, "1 At Any Time", 0)],
        ))
        .unwrap();
    assert!(!q.expire(T0 + 50));
    assert!(q.startable(T0 + 50).is_empty());
    assert_eq!(q.next_due(T0 + 50), Some(T0 + 100));
    assert_eq!(q.startable(T0 + 150), vec![b]);
}

#[test]
fn when_idle_waits_for_other_transfers() {
    let mut q = TransferQueue::new();
    let other = q.add(dl("dl", 0)).unwrap();
    let idle = q.add(sd("idle", &[(0, 1000, "3 When Idle", 0)])).unwrap();
    // Both due: the plain download starts, the idle one waits.
    assert_eq!(q.startable(T0), vec![other]);
    let g = q.start(other, T0).unwrap();
    assert!(q.startable(T0 + 1).is_empty());
    assert_eq!(q.next_due(T0 + 1), Some(T0 + 1000));
    q.finish(other, g, ok(), T0 + 2);
    assert_eq!(q.startable(T0 + 3), vec![idle]);
}

#[test]
fn failed_windowed_download_is_retried_then_reported() {
    let mut q = TransferQueue::new();
    let id = q.add(sd("r", &[(0, 1000, "1 At Any Time", 1)])).unwrap();
    let fail = || Outcome::failed(crate::fault::FaultCode::CONTACT_SERVER_FAILURE, "down");
    let g = q.start(id, T0).unwrap();
    assert!(!q.finish(id, g, fail(), T0 + 1), "one retry allowed");
    assert!(q.startable(T0 + 2).is_empty());
    assert_eq!(q.startable(T0 + 1 + RETRY_DELAY), vec![id]);
    let g = q.start(id, T0 + 61).unwrap();
    assert!(q.finish(id, g, fail(), T0 + 62));
    assert_eq!(q.completions()[0].2.fault.code, 9015);
    // A plain Download is never retried.
    let mut q = TransferQueue::new();
    let id = q.add(dl("d", 0)).unwrap();
    let g = q.start(id, T0).unwrap();
    assert!(q.finish(id, g, fail(), T0 + 1));
}

#[test]
fn restart_recovery_reports_exactly_once() {
    let mut q = TransferQueue::new();
    let run = q.add(dl("running", 0)).unwrap();
    let up = q
        .add(Request::upload(
            &UploadArgs {
                command_key: "up".into(),
                file_type: "2 Vendor Log File".into(),
                url: "http://h/u".into(),
                ..UploadArgs::default()
            },
            T0,
        ))
        .unwrap();
    let win = q.add(sd("win", &[(0, 1000, "1 At Any Time", -1)])).unwrap();
    let fw = q.add(dl("fw", 0)).unwrap();
    let fw_bad = q.add(dl("fw-bad", 0)).unwrap();
    let queued = q.add(dl("queued", 500)).unwrap();
    for id in [run, up, win, fw, fw_bad] {
        q.start(id, T0).unwrap();
    }
    let g = q.get(fw).unwrap().generation;
    q.applying(fw, g, Some("1.0".into()));
    let g = q.get(fw_bad).unwrap().generation;
    q.applying(fw_bad, g, Some("2.0".into()));

    // Through the file, as after a power cut.
    let mut back = TransferQueue::from_json(&q.to_json());
    assert_eq!(back, q);
    let current_version = "2.0";
    back.recover(T0 + 100, &|old| old != Some(current_version));
    let phase = |id| back.get(id).unwrap().phase.clone();
    let fault = |id| match phase(id) {
        Phase::Done(o) => o.fault,
        p => panic!("{p:?}"),
    };
    assert_eq!(fault(run), 9017);
    assert_eq!(fault(up), 9011);
    assert_eq!(
        phase(win),
        Phase::Queued,
        "its window is still open: retried"
    );
    assert_eq!(fault(fw), 0, "image taken: the reboot ended the apply");
    assert_eq!(fault(fw_bad), 9018, "version unchanged");
    assert_eq!(phase(queued), Phase::Queued);
    // A second restart changes nothing: no second report, nothing lost.
    let mut again = TransferQueue::from_json(&back.to_json());
    again.recover(T0 + 200, &|_| true);
    assert_eq!(again.completions(), back.completions());
    // Ids are not reused after a restart.
    let new = again.add(dl("new", 0)).unwrap();
    assert!(new > queued);
}

#[test]
fn corrupt_or_partial_file() {
    let q = TransferQueue::from_json(&serde_json::json!({
        "transfers": [{"id": 3, "kind": "Nope", "phase": "queued"},
                      {"id": 4, "kind": "Upload", "phase": "queued", "url": "ftp://h/x"}]
    }));
    assert_eq!(q.items().len(), 1);
    assert_eq!(q.items()[0].req.url, "ftp://h/x");
    let dir = std::env::temp_dir().join(format!("icwmp-xfer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    q.save(&dir).unwrap();
    assert_eq!(TransferQueue::load(&dir), q);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join(FILE_NAME))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "passwords inside: owner only");
    std::fs::write(dir.join(FILE_NAME), b"{not json").unwrap();
    assert!(TransferQueue::load(&dir).items().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
