//! End to end: the real `icwmpd` against the scripted ACS (tests/common) and an in-test file
//! server. Download (firmware with the embedded soft reboot, configuration import), Upload,
//! ScheduleDownload with a window, CancelTransfer with GetAllQueuedTransfers and
//! GetQueuedTransfers, and kill -9 in the middle of a transfer followed by a restart: exactly
//! one TransferComplete each time. Every message the ACS receives is checked against the XSD.

mod common;

use common::acs::Msg;
use common::files;
use common::Rig;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A file server: GET /fw.bin, /cfg (the text given), /slow (1 MB dripping), PUT /up.
fn file_server(cfg: Arc<Mutex<String>>) -> (String, mpsc::Receiver<(String, Vec<u8>)>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let url = files::serve(move |path, body, w| {
        let _ = tx.lock().unwrap().send((path.to_string(), body));
        match path {
            "/fw.bin" => files::ok(w, b"FIRMWARE-IMAGE"),
            "/cfg" => files::ok(w, cfg.lock().unwrap().as_bytes()),
            "/slow" => files::drip(w, 1_000_000, &[0u8; 100]),
            _ => files::ok(w, b""),
        }
    });
    (url, rx)
}

fn download(key: &str, file_type: &str, url: &str, size: usize, delay: u32) -> String {
    format!("<cwmp:Download><CommandKey>{key}</CommandKey><FileType>{file_type}</FileType><URL>{url}</URL><Username></Username><Password></Password><FileSize>{size}</FileSize><TargetFileName></TargetFileName><DelaySeconds>{delay}</DelaySeconds><SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>")
}

/// (CommandKey, FaultCode, StartTime) of a TransferComplete.
fn completion(m: &Msg) -> Option<(String, String, String)> {
    let rpc = m.rpc()?;
    if rpc.name != "TransferComplete" {
        return None;
    }
    let fault = rpc.child("FaultStruct")?.child_text("FaultCode");
    Some((
        rpc.child_text("CommandKey"),
        fault,
        rpc.child_text("StartTime"),
    ))
}

fn completions(msgs: &[Msg], key: &str) -> Vec<(String, String, String)> {
    msgs.iter()
        .filter_map(completion)
        .filter(|c| c.0 == key)
        .collect()
}

/// Waits until the ACS has received `n` TransferCompletes for `key`; returns all messages.
fn wait_completions(rig: &Rig, key: &str, n: usize) -> Vec<Msg> {
    rig.wait(&format!("TransferComplete {key}"), |m| {
        completions(m, key).len() >= n
    })
}

#[test]
fn firmware_download_reboots_and_reports_in_the_boot_session() {
    let (files, _) = file_server(Arc::default());
    let dl = download(
        "fw1",
        "1 Firmware Upgrade Image",
        &format!("{files}/fw.bin"),
        14,
        0,
    );
    let rig = Rig::start(&[dl]);
    assert_eq!(rig.wait_answer("Download", 1).method(), "DownloadResponse");
    // The soft reboot (re-exec) gives a BOOT session with the completion.
    let inform = rig.wait_inform("7 TRANSFER COMPLETE", 1);
    assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
    assert!(
        inform
            .events()
            .contains(&("M Download".into(), "fw1".into())),
        "{}",
        inform.summary()
    );
    let msgs = wait_completions(&rig, "fw1", 1);
    let (_, fault, start) = completions(&msgs, "fw1").remove(0);
    assert_eq!(fault, "0");
    assert!(!start.starts_with("0001"), "StartTime {start}");
    assert_eq!(
        std::fs::read(rig.cpe.state_dir.join("firmware.bin")).unwrap(),
        b"FIRMWARE-IMAGE"
    );
    // Acknowledged: gone from transfers.json; a restart reports nothing again.
    let before = rig.wait_idle().len();
    let q = std::fs::read_to_string(rig.cpe.state_dir.join("transfers.json")).unwrap();
    assert!(!q.contains("fw1"), "{q}");
    let mut rig = rig;
    rig.restart_until_inform(before);
    let after = rig.wait_idle().split_off(before);
    assert!(completions(&after, "fw1").is_empty());
    rig.assert_xsd_valid();
}

#[test]
fn config_download_upload_and_queue_rpcs() {
    let cfg = Arc::new(Mutex::new(String::new()));
    let (files, got) = file_server(cfg.clone());
    let mut rig = Rig::start(&[]);
    rig.wait_idle();
    *cfg.lock().unwrap() = rig.cpe.config_text() + "# imported by Download\n";
    let msgs = rig.session(&[
        download("cfg1", "3 Vendor Configuration File", &format!("{files}/cfg"), 0, 0),
        download("late", "3 Vendor Configuration File", &format!("{files}/cfg"), 0, 3600),
        format!("<cwmp:Upload><CommandKey>up1</CommandKey><FileType>1 Vendor Configuration File</FileType><URL>{files}/up</URL><Username></Username><Password></Password><DelaySeconds>0</DelaySeconds></cwmp:Upload>"),
        "<cwmp:GetAllQueuedTransfers/>".into(),
        "<cwmp:CancelTransfer><CommandKey>late</CommandKey></cwmp:CancelTransfer>".into(),
        "<cwmp:CancelTransfer><CommandKey>nope</CommandKey></cwmp:CancelTransfer>".into(),
        "<cwmp:GetQueuedTransfers/>".into(),
    ]);
    let all = rig.answer(&msgs, "GetAllQueuedTransfers");
    let all = all.rpc().unwrap();
    let keys: Vec<String> = all
        .all("CommandKey")
        .iter()
        .map(|e| e.text.clone())
        .collect();
    assert_eq!(keys, ["cfg1", "late", "up1"]);
    assert_eq!(
        rig.answer(&msgs, "CancelTransfer").method(),
        "CancelTransferResponse"
    );
    let refused = msgs
        .iter()
        .filter(|m| m.answer_to.as_deref() == Some("CancelTransfer"))
        .nth(1)
        .and_then(Msg::fault);
    assert_eq!(refused.map(|f| f.0), Some(9003));
    let queued = rig.answer(&msgs, "GetQueuedTransfers");
    assert!(!queued.body.contains("late"), "{}", queued.body);
    // Both transfers complete after the session and are reported.
    wait_completions(&rig, "cfg1", 1);
    let msgs = wait_completions(&rig, "up1", 1);
    assert_eq!(completions(&msgs, "cfg1")[0].1, "0");
    assert_eq!(completions(&msgs, "up1")[0].1, "0");
    assert!(rig.cpe.config_text().contains("# imported by Download"));
    let uploads: Vec<_> = got.try_iter().filter(|(p, _)| p == "/up").collect();
    assert_eq!(uploads.len(), 1);
    assert!(String::from_utf8_lossy(&uploads[0].1).contains("config acs"));
    // Restart: nothing is reported twice.
    let before = rig.wait_idle().len();
    rig.restart_until_inform(before);
    let after = rig.wait_idle().split_off(before);
    assert!(
        !after[0].has_event("7 TRANSFER COMPLETE"),
        "{}",
        after[0].summary()
    );
    assert!(completions(&after, "cfg1").is_empty() && completions(&after, "up1").is_empty());
    rig.assert_xsd_valid();
}

#[test]
fn schedule_download_in_a_window() {
    let (files, got) = file_server(Arc::default());
    let sd = format!("<cwmp:ScheduleDownload><CommandKey>sd1</CommandKey><FileType>2 Web Content</FileType><URL>{files}/fw.bin</URL><Username></Username><Password></Password><FileSize>0</FileSize><TargetFileName>page.html</TargetFileName><TimeWindowList><TimeWindowStruct><WindowStart>2</WindowStart><WindowEnd>60</WindowEnd><WindowMode>3 When Idle</WindowMode><UserMessage></UserMessage><MaxRetries>-1</MaxRetries></TimeWindowStruct></TimeWindowList></cwmp:ScheduleDownload>");
    let rig = Rig::start(&[sd]);
    let answer = rig.wait_answer("ScheduleDownload", 1);
    assert_eq!(answer.method(), "ScheduleDownloadResponse");
    let inform = rig.wait_inform("7 TRANSFER COMPLETE", 1);
    assert!(
        inform
            .events()
            .contains(&("M ScheduleDownload".into(), "sd1".into())),
        "{}",
        inform.summary()
    );
    assert!(
        inform.at - answer.at >= Duration::from_secs(1),
        "started before the window opened"
    );
    let msgs = wait_completions(&rig, "sd1", 1);
    assert_eq!(completions(&msgs, "sd1")[0].1, "0");
    assert_eq!(got.try_iter().filter(|(p, _)| p == "/fw.bin").count(), 1);
    assert_eq!(
        std::fs::read(rig.cpe.state_dir.join("downloads/web-content")).unwrap(),
        b"FIRMWARE-IMAGE"
    );
    rig.assert_xsd_valid();
}

#[test]
fn kill_9_mid_transfer_gives_exactly_one_transfer_complete() {
    let (files, got) = file_server(Arc::default());
    let dl = download(
        "cut",
        "1 Firmware Upgrade Image",
        &format!("{files}/slow"),
        0,
        0,
    );
    let mut rig = Rig::start(&[dl]);
    rig.wait_answer("Download", 1);
    // Wait until the download is on its way, then cut the power.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !got.try_iter().any(|(p, _)| p == "/slow") {
        assert!(Instant::now() < deadline, "download never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    rig.cpe.restart();
    let inform = rig.wait_inform("7 TRANSFER COMPLETE", 1);
    assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
    assert!(inform
        .events()
        .contains(&("M Download".into(), "cut".into())));
    let msgs = wait_completions(&rig, "cut", 1);
    assert_eq!(completions(&msgs, "cut")[0].1, "9017");
    // And once more: a second power cut does not repeat it.
    let before = rig.wait_idle().len();
    rig.restart_until_inform(before);
    let all = rig.wait_idle();
    assert_eq!(
        completions(&all, "cut").len(),
        1,
        "exactly one TransferComplete"
    );
    rig.assert_xsd_valid();
}

/// On a router the firmware hook (sysupgrade) reboots the device itself: the transfer waits
/// for that reboot, and the BOOT session after it reports success when the software version
/// changed, or 9018 when the same firmware came back.
#[test]
fn firmware_hook_result_is_reported_after_the_platform_reboot() {
    for (new_version, expected_fault) in [("2.0", "0"), ("1.0", "9018")] {
        let (files, _) = file_server(Arc::default());
        let dl = download(
            "fwh",
            "1 Firmware Upgrade Image",
            &format!("{files}/fw.bin"),
            14,
            0,
        );
        let marker = common::temp_dir("fw-hook").join("flashed");
        let hook = format!("cp \"$1\" '{}' && true", marker.display());
        let mut rig = Rig::with(common::acs::AcsOpts::default(), &[dl], |o| {
            o.extra_cpe = format!(
                "\toption firmware_upgrade_command '{hook}'\n\toption software_version '1.0'\n"
            );
        });
        rig.wait_answer("Download", 1);
        let deadline = Instant::now() + common::WAIT;
        while !marker.exists() {
            assert!(
                Instant::now() < deadline,
                "hook never ran: {}",
                rig.cpe.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Give the main loop a moment to record the hand-over, then "reboot" the platform.
        std::thread::sleep(Duration::from_millis(300));
        let msgs = rig.wait_idle();
        assert!(
            completions(&msgs, "fwh").is_empty(),
            "no TransferComplete before the reboot"
        );
        rig.cpe.kill9();
        let text = rig
            .cpe
            .config_text()
            .replace("'1.0'", &format!("'{new_version}'"));
        std::fs::write(&rig.cpe.config, text).unwrap();
        rig.cpe.restart();
        let inform = rig.wait_inform("7 TRANSFER COMPLETE", 1);
        assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
        let msgs = wait_completions(&rig, "fwh", 1);
        let (_, fault, _) = completions(&msgs, "fwh").remove(0);
        assert_eq!(fault, expected_fault, "new version {new_version}");
        rig.assert_xsd_valid();
    }
}
