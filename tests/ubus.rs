//! The daemon on OpenWrt's real ubusd (private socket): the `tr069` object called by a second
//! client and through the real `ubus` CLI (also while a session is held by a paused ACS), bus
//! events sent with `ubus send`, and the bbfdm data model served by the in-tree fake `bbfdm`
//! registered on that ubusd by the test process.

mod common;

use common::acs::AcsOpts;
use common::soap;
use common::ubus::{client, Bus, Ubusd};
use common::{pause, Rig, WAIT};
use icwmp::datamodel::bbfdm::fake::FakeBbfdm;
use icwmp::datamodel::bbfdm::Api;
use icwmp::ubus::{status, UbusError, UbusHandle};
use serde_json::{json, Value as Json};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(3);

#[path = "ubus/bbfdm.rs"]
mod bbfdm;
#[path = "ubus/cli.rs"]
mod cli;
#[path = "ubus/events.rs"]
mod events;

fn call(h: &UbusHandle, method: &str, args: Json) -> Json {
    let r = h.call("tr069", method, &args, T).expect("tr069 call");
    r.into_iter().next().unwrap_or(Json::Null)
}

/// Waits until `status` no longer reports a running session (the end-of-session work after
/// the last 204 is done).
fn wait_not_running(h: &UbusHandle) {
    let deadline = Instant::now() + WAIT;
    while call(h, "status", json!({}))["last_session"]["status"] == "running" {
        assert!(Instant::now() < deadline, "session never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn with_socket(bus: &Bus, datamodel: &str) -> impl FnOnce(&mut common::daemon::CpeOpts) {
    let args = vec![
        "--ubus-socket".to_string(),
        bus.path().display().to_string(),
        "--datamodel".into(),
        datamodel.into(),
    ];
    move |o| o.extra_args = args
}

#[test]
fn status_answers_at_once_while_a_session_is_held() {
    let bus = Bus::start("ubus");
    let script = [pause(4000), soap::gpv(&["Device.DeviceInfo.SerialNumber"])];
    let rig = Rig::with(AcsOpts::default(), &script, with_socket(&bus, "auto"));
    bus.wait_object("tr069");
    let (h, _rx) = bus.client(Vec::new());
    rig.wait_inform("1 BOOT", 1);
    // The ACS now holds the CPE's empty POST: the main loop is blocked in HTTP.
    let t = Instant::now();
    let st = call(&h, "status", json!({}));
    let took = t.elapsed();
    assert!(took < Duration::from_millis(500), "status took {took:?}");
    assert_eq!(st["last_session"]["status"], "running", "{st}");
    assert_eq!(st["cwmp"]["status"], "up");
    assert_eq!(st["cwmp"]["acs_url"], rig.acs.url());
    assert!(st["cwmp"]["start_time"]
        .as_str()
        .unwrap()
        .ends_with("+00:00"));
    let r = call(&h, "inform", json!({"event": "2 PERIODIC"}));
    assert_eq!(
        r,
        json!({"status": 1, "info": "Session already running, event will be sent at the end of the session"})
    );
    let r = call(&h, "command", json!({"command": "reload"}));
    assert_eq!(
        r,
        json!({"status": 0, "info": "Session running, reload at the end of the session"})
    );
    // The event goes out in the next session, once this one is over.
    let periodic = rig.wait_inform("2 PERIODIC", 1);
    assert!(!periodic.has_event("1 BOOT"));
    rig.wait_idle();
    let deadline = Instant::now() + WAIT;
    loop {
        let st = call(&h, "status", json!({}));
        if st["statistics"]["success_sessions"] == 2 {
            assert_eq!(st["last_session"]["status"], "success");
            assert_eq!(st["statistics"]["total_sessions"], 2);
            assert_ne!(st["last_session"]["end_time"], "N/A");
            break;
        }
        assert!(Instant::now() < deadline, "{st}\n{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn inform_command_and_bad_input() {
    let bus = Bus::start("ubus");
    let mut rig = Rig::with(AcsOpts::default(), &[], with_socket(&bus, "embedded"));
    bus.wait_object("tr069");
    let (h, _rx) = bus.client(Vec::new());
    rig.wait_idle();

    assert_eq!(
        h.call("tr069", "nosuch", &json!({}), T),
        Err(UbusError::Status(status::METHOD_NOT_FOUND))
    );
    let r = call(&h, "command", json!({}));
    assert_eq!(r["SupportedCommands"][0]["command"], "reload");
    let r = call(&h, "command", json!({"command": 42}));
    assert!(r.get("SupportedCommands").is_some(), "{r}");
    let r = call(&h, "command", json!({"command": "foo"}));
    assert_eq!(
        r,
        json!({"status": -1, "info": "'foo' is not supported. Check the supported commands."})
    );
    let r = call(&h, "inform", json!({"event": "99 WHATEVER"}));
    assert_eq!(
        r,
        json!({"status": -1, "info": "not able to get the event code"})
    );
    wait_not_running(&h);
    let r = call(&h, "command", json!({"command": "reload"}));
    assert_eq!(r, json!({"status": 0, "info": "icwmpd config reloaded"}));

    // GetRPCMethods: a session with the CPE's GetRPCMethods, not a fake 2 PERIODIC.
    let r = call(&h, "inform", json!({"GetRPCMethods": true}));
    assert_eq!(r["status"], 1);
    let inform = rig.wait_inform("6 CONNECTION REQUEST", 1);
    assert!(!inform.has_event("2 PERIODIC"), "{}", inform.body);
    rig.wait("the CPE's GetRPCMethods", |m| {
        m.iter().any(|x| x.method() == "GetRPCMethods")
    });
    rig.wait_idle();
    wait_not_running(&h);
    let r = call(&h, "inform", json!({"event": "6 connection request"}));
    assert_eq!(r, json!({"status": 1, "info": "Session started"}));
    rig.wait_inform("6 CONNECTION REQUEST", 2);
    rig.wait_idle();

    let r = call(&h, "command", json!({"command": "exit"}));
    assert_eq!(r["status"], 0);
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(st) = rig.cpe.exit_status() {
            break st.code();
        }
        assert!(
            Instant::now() < deadline,
            "still running\n{}",
            rig.cpe.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn the_daemon_runs_without_ubusd_and_registers_once_it_appears() {
    let dir = common::temp_dir("late-ubus");
    let path = dir.join("ubus.sock");
    let args = vec!["--ubus-socket".to_string(), path.display().to_string()];
    let rig = Rig::with(AcsOpts::default(), &[], move |o| o.extra_args = args);
    rig.wait_inform("1 BOOT", 1);
    rig.wait_idle();
    let wait_tr069 = |limit: Duration| {
        let deadline = Instant::now() + limit;
        while !common::ubus::cli_on(&path, &["list", "tr069"])
            .status
            .success()
        {
            assert!(Instant::now() < deadline, "no tr069\n{}", rig.cpe.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let ubusd = Ubusd::start(&path);
    // The daemon retries with a backoff capped well below this.
    wait_tr069(Duration::from_secs(40));
    let (h, _rx) = client(&path, Vec::new());
    assert_eq!(
        call(&h, "status", json!({}))["statistics"]["success_sessions"],
        1
    );
    // ubusd restarted (procd respawns it after a crash): the object comes back, as
    // `ubus wait_for` (what init scripts use; it follows `ubus.object.add`) sees it.
    drop(ubusd);
    let t = Instant::now();
    let ubusd = Ubusd::start(&path);
    let waited = common::ubus::cli_on(&path, &["-t", "40", "wait_for", "tr069"]);
    assert!(waited.status.success(), "{waited:?}\n{}", rig.cpe.logs());
    let took = t.elapsed();
    let status = common::ubus::cli_on(&path, &["call", "tr069", "status"]);
    let status: Json = serde_json::from_slice(&status.stdout).expect("status reply");
    assert_eq!(status["statistics"]["success_sessions"], 1, "{took:?}");
    drop(ubusd);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The RequestDownload the ACS received: (FileType, [(Name, Value)]).
fn request_downloads(msgs: &[common::acs::Msg]) -> Vec<(String, Vec<(String, String)>)> {
    msgs.iter()
        .filter_map(|m| m.rpc())
        .filter(|r| r.name == "RequestDownload")
        .map(|r| {
            let args = r
                .all("ArgStruct")
                .iter()
                .map(|a| (a.child_text("Name"), a.child_text("Value")))
                .collect();
            (r.child_text("FileType"), args)
        })
        .collect()
}

#[test]
fn request_download_through_ubus_and_the_cli() {
    let bus = Bus::start("ubus");
    let rig = Rig::with(AcsOpts::default(), &[], with_socket(&bus, "embedded"));
    bus.wait_object("tr069");
    let (h, _rx) = bus.client(Vec::new());
    rig.wait_idle();
    let r = call(
        &h,
        "request_download",
        json!({"file_type": "1 Firmware Upgrade Image", "args": {"Version": "2.0"}}),
    );
    assert_eq!(r["status"], 1, "{r}");
    let inform = rig.wait_inform("9 REQUEST DOWNLOAD", 1);
    assert!(!inform.has_event("1 BOOT"), "{}", inform.summary());
    let msgs = rig.wait("RequestDownload", |m| !request_downloads(m).is_empty());
    assert_eq!(
        request_downloads(&msgs),
        vec![(
            "1 Firmware Upgrade Image".to_string(),
            vec![("Version".to_string(), "2.0".to_string())]
        )]
    );
    let bad = call(&h, "request_download", json!({"args": {}}));
    assert_eq!(bad["status"], -1, "{bad}");
    // The CLI goes through the same object.
    wait_not_running(&h);
    let out = std::process::Command::new(common::daemon::bin())
        .arg("--config")
        .arg(&rig.cpe.config)
        .arg("--state-dir")
        .arg(&rig.cpe.state_dir)
        .arg("--ubus-socket")
        .arg(bus.path())
        .args([
            "-c",
            "request_download",
            "3 Vendor Configuration File",
            "a=b",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let msgs = rig.wait("second RequestDownload", |m| {
        request_downloads(m).len() >= 2
    });
    assert_eq!(
        request_downloads(&msgs)[1],
        (
            "3 Vendor Configuration File".to_string(),
            vec![("a".to_string(), "b".to_string())]
        )
    );
    // Acknowledged: nothing left on disk; the CLI without a bus fails clearly.
    rig.wait_idle();
    wait_not_running(&h);
    let outbox = std::fs::read_to_string(rig.cpe.state_dir.join("outbox.json")).unwrap();
    assert!(!outbox.contains("RequestDownload"), "{outbox}");
    let out = std::process::Command::new(common::daemon::bin())
        .arg("--config")
        .arg(&rig.cpe.config)
        .arg("--ubus-socket")
        .arg(bus.dir.join("nosuch.sock"))
        .args(["-c", "request_download", "1 Firmware Upgrade Image"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ubus"),
        "{out:?}"
    );
    rig.assert_xsd_valid();
}

#[test]
fn autonomous_du_change_from_bbfdm_event_follows_the_policy() {
    let bus = Bus::start("ubus");
    let rig = Rig::with(AcsOpts::default(), &[], with_socket(&bus, "embedded"));
    bus.wait_object("tr069");
    let (h, _rx) = bus.client(Vec::new());
    rig.wait_idle();
    // Sent with the real `ubus send`, as bbfdm's event relay would reach ubusd.
    let input = |op: &str, code: u32| {
        json!({"name": "Device.SoftwareModules.DUStateChange!", "input": {
            "UUID": "886313e1-3b8a-5372-9b90-0c9aee199e5d", "OperationPerformed": op,
            "CurrentState": "Installed", "Version": "1.0", "Resolved": "1",
            "DeploymentUnitRef": "Device.SoftwareModules.DeploymentUnit.2",
            "StartTime": "2024-01-02T03:04:05Z", "FaultCode": code}})
    };
    // No policy section: filtered out.
    bus.send("bbfdm.event", &input("Install", 0).to_string());
    let mut cfg = std::fs::read_to_string(&rig.cpe.config).unwrap();
    cfg.push_str(
        "\nconfig du_state_change\n\toption enable '1'\n\toption operation_type 'Install'\n",
    );
    std::fs::write(&rig.cpe.config, cfg).unwrap();
    wait_not_running(&h);
    call(&h, "command", json!({"command": "reload"}));
    // The reload and the bus events reach the main loop on different channels.
    std::thread::sleep(Duration::from_millis(500));
    bus.send("bbfdm.event", &input("Uninstall", 0).to_string());
    bus.send("bbfdm.event", &input("Install", 0).to_string());
    let inform = rig.wait_inform("12 AUTONOMOUS DU STATE CHANGE COMPLETE", 1);
    assert!(!inform.has_event("1 BOOT"));
    let msgs = rig.wait("AutonomousDUStateChangeComplete", |m| {
        m.iter()
            .any(|x| x.method() == "AutonomousDUStateChangeComplete")
    });
    let sent: Vec<_> = msgs
        .iter()
        .filter(|x| x.method() == "AutonomousDUStateChangeComplete")
        .collect();
    assert_eq!(sent.len(), 1);
    let r = sent[0].rpc().unwrap();
    let res = r.child("Results").unwrap();
    assert_eq!(res.child_text("OperationPerformed"), "Install");
    assert_eq!(res.child_text("StartTime"), "2024-01-02T03:04:05Z");
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn autonomous_transfer_complete_from_bbfdm_event_follows_the_policy() {
    let bus = Bus::start("ubus");
    let mut rig = Rig::with(AcsOpts::default(), &[], |o| {
        with_socket(&bus, "embedded")(o);
        // Only successful downloads of firmware are reported.
        o.extra_cpe.push_str(
            "\nconfig transfer_complete\n\toption enable '1'\n\toption transfer_type 'Download'\n\
             \toption result_type 'Success'\n\toption file_type '1 Firmware Upgrade Image'\n",
        );
    });
    bus.wait_object("tr069");
    let (h, _rx) = bus.client(Vec::new());
    rig.wait_idle();
    let event = |kind: &str, file_type: &str, code: u32| {
        json!({"name": "Device.LocalAgent.TransferComplete!", "input": {
            "TransferType": kind, "FileType": file_type, "FaultCode": code,
            "TransferURL": "http://files.example/fw.bin", "FileSize": "1234",
            "StartTime": "2024-01-02T03:04:05Z", "CompleteTime": "2024-01-02T03:05:00Z"}})
    };
    h.send_event(
        "bbfdm.event",
        &event("Upload", "1 Firmware Upgrade Image", 0),
        T,
    )
    .unwrap();
    h.send_event(
        "bbfdm.event",
        &event("Download", "1 Firmware Upgrade Image", 9010),
        T,
    )
    .unwrap();
    h.send_event(
        "bbfdm.event",
        &event("Download", "3 Vendor Configuration File", 0),
        T,
    )
    .unwrap();
    h.send_event(
        "bbfdm.event",
        &event("Download", "1 Firmware Upgrade Image", 0),
        T,
    )
    .unwrap();
    rig.wait_inform("10 AUTONOMOUS TRANSFER COMPLETE", 1);
    let msgs = rig.wait("AutonomousTransferComplete", |m| {
        m.iter().any(|x| x.method() == "AutonomousTransferComplete")
    });
    rig.wait_idle();
    let sent: Vec<_> = rig
        .acs
        .msgs()
        .into_iter()
        .filter(|x| x.method() == "AutonomousTransferComplete")
        .collect();
    assert_eq!(sent.len(), 1, "only the allowed one: {}", msgs.len());
    let r = sent[0].rpc().unwrap();
    assert_eq!(r.child_text("TransferURL"), "http://files.example/fw.bin");
    assert_eq!(r.child_text("IsDownload"), "1");
    assert_eq!(r.child_text("FileSize"), "1234");
    // Acknowledged: a restart does not send it again.
    let before = rig.acs.msgs().len();
    rig.cpe.restart();
    rig.wait_inform("1 BOOT", 2);
    rig.wait_idle();
    assert!(rig.acs.msgs()[before..]
        .iter()
        .all(|x| x.method() != "AutonomousTransferComplete"));
    rig.assert_xsd_valid();
}
