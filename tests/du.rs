//! End to end: ChangeDUState against the real `icwmpd` (embedded data model, no opkg: the
//! built-in DU store in `du.json`) with packages served by an in-test HTTP server. Install,
//! update, uninstall, duplicate install (9026), unknown UUID (9028), and kill -9 in the middle
//! of an install: exactly one DUStateChangeComplete. Every message is checked against the XSD.

mod common;

use common::acs::Msg;
use common::files;
use common::Rig;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// GET /hello.ipk (version 1.0), /hello2.ipk (2.0), /slow.ipk (the first request drips for a
/// minute, later ones are fast). Reports each path requested.
fn package_server() -> (String, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let slow_hits = AtomicUsize::new(0);
    let url = files::serve(move |path, _, w| {
        let _ = tx.lock().unwrap().send(path.to_string());
        match path {
            "/hello.ipk" => files::ok(w, b"Package: hello\nVersion: 1.0\n"),
            "/hello2.ipk" => files::ok(w, b"Package: hello\nVersion: 2.0\n"),
            "/slow.ipk" if slow_hits.fetch_add(1, Ordering::SeqCst) == 0 => {
                files::drip(w, 100_000, &[b'x'; 10])
            }
            "/slow.ipk" => files::ok(w, b"Package: slow\nVersion: 3\n"),
            _ => {
                let _ = w.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            }
        }
    });
    (url, rx)
}

fn install(url: &str, uuid: &str) -> String {
    format!("<Operations xsi:type=\"cwmp:InstallOpStruct\"><URL>{url}</URL><UUID>{uuid}</UUID><Username></Username><Password></Password><ExecutionEnvRef></ExecutionEnvRef></Operations>")
}

fn update(uuid: &str, url: &str) -> String {
    update_version(uuid, "", url)
}

fn update_version(uuid: &str, version: &str, url: &str) -> String {
    format!("<Operations xsi:type=\"cwmp:UpdateOpStruct\"><UUID>{uuid}</UUID><Version>{version}</Version><URL>{url}</URL><Username></Username><Password></Password></Operations>")
}

fn uninstall(uuid: &str) -> String {
    format!("<Operations xsi:type=\"cwmp:UninstallOpStruct\"><UUID>{uuid}</UUID><Version></Version><ExecutionEnvRef></ExecutionEnvRef></Operations>")
}

fn cdus(key: &str, ops: &[String]) -> String {
    format!(
        "<cwmp:ChangeDUState>{}<CommandKey>{key}</CommandKey></cwmp:ChangeDUState>",
        ops.concat()
    )
}

/// One OpResultStruct: (UUID, DeploymentUnitRef, Version, CurrentState, FaultCode).
type Res = (String, String, String, String, String);

/// The results of every DUStateChangeComplete with CommandKey `key`.
fn completions(msgs: &[Msg], key: &str) -> Vec<Vec<Res>> {
    msgs.iter()
        .filter_map(|m| m.rpc())
        .filter(|r| r.name == "DUStateChangeComplete" && r.child_text("CommandKey") == key)
        .map(|r| {
            r.children
                .iter()
                .filter(|c| c.name == "Results")
                .map(|c| {
                    let fault = c.child("Fault").map(|f| f.child_text("FaultCode"));
                    (
                        c.child_text("UUID"),
                        c.child_text("DeploymentUnitRef"),
                        c.child_text("Version"),
                        c.child_text("CurrentState"),
                        fault.unwrap_or_default(),
                    )
                })
                .collect()
        })
        .collect()
}

fn wait_completion(rig: &Rig, key: &str) -> Vec<Res> {
    let msgs = rig.wait(&format!("DUStateChangeComplete {key}"), |m| {
        !completions(m, key).is_empty()
    });
    completions(&msgs, key).remove(0)
}

fn res(uuid: &str, du: &str, version: &str, state: &str, fault: &str) -> Res {
    let du = if du.is_empty() {
        String::new()
    } else {
        format!("Device.SoftwareModules.DeploymentUnit.{du}")
    };
    (uuid.into(), du, version.into(), state.into(), fault.into())
}

#[test]
fn install_update_uninstall_duplicate_and_unknown() {
    let (files, _) = package_server();
    let url = format!("{files}/hello.ipk");
    let uuid = icwmp::du::uuid_for_url(&url);
    let rig = Rig::start(&[cdus("i1", &[install(&url, "")])]);
    assert_eq!(
        rig.wait_answer("ChangeDUState", 1).method(),
        "ChangeDUStateResponse"
    );
    let inform = rig.wait_inform("11 DU STATE CHANGE COMPLETE", 1);
    assert!(
        inform
            .events()
            .contains(&("M ChangeDUState".into(), "i1".into())),
        "{}",
        inform.summary()
    );
    assert_eq!(
        wait_completion(&rig, "i1"),
        vec![res(&uuid, "1", "1.0", "Installed", "0")]
    );
    let store = std::fs::read_to_string(rig.cpe.state_dir.join("du.json")).unwrap();
    assert!(store.contains(&uuid) && store.contains("hello"), "{store}");

    // Duplicate install, update to 2.0, uninstall of an unknown UUID: one result each.
    let unknown = "00000000-0000-5000-8000-000000000000";
    rig.session(&[cdus(
        "i2",
        &[
            install(&url, &uuid),
            // A Version that is not installed names no unit.
            update_version(&uuid, "9.9", &format!("{files}/hello2.ipk")),
            update(&uuid, &format!("{files}/hello2.ipk")),
            uninstall(unknown),
        ],
    )]);
    assert_eq!(
        wait_completion(&rig, "i2"),
        vec![
            res(&uuid, "", "", "Failed", "9026"),
            res(&uuid, "", "", "Failed", "9028"),
            res(&uuid, "1", "2.0", "Installed", "0"),
            res(unknown, "", "", "Failed", "9028"),
        ]
    );
    rig.session(&[cdus("i3", &[uninstall(&uuid)])]);
    assert_eq!(
        wait_completion(&rig, "i3"),
        vec![res(&uuid, "1", "2.0", "Uninstalled", "0")]
    );
    let store = std::fs::read_to_string(rig.cpe.state_dir.join("du.json")).unwrap();
    assert!(!store.contains(&uuid), "{store}");
    // A malformed UUID is refused in the response itself.
    let msgs = rig.session(&[cdus("bad", &[uninstall("nope")])]);
    let answer = rig.answer(&msgs, "ChangeDUState");
    assert_eq!(
        answer.fault().map(|f| f.0),
        Some(9022),
        "{}",
        answer.summary()
    );
    // Every result acknowledged: nothing left to send.
    let jobs = std::fs::read_to_string(rig.cpe.state_dir.join("du_jobs.json")).unwrap();
    assert!(
        !jobs.contains("\"i1\"") && !jobs.contains("\"i3\""),
        "{jobs}"
    );
    rig.assert_xsd_valid();
}

#[test]
fn kill_9_mid_install_gives_exactly_one_completion() {
    let (files, got) = package_server();
    let url = format!("{files}/slow.ipk");
    let mut rig = Rig::start(&[cdus("cut", &[install(&url, "")])]);
    rig.wait_answer("ChangeDUState", 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !got.try_iter().any(|p| p == "/slow.ipk") {
        assert!(Instant::now() < deadline, "install never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    rig.cpe.restart();
    // The interrupted install runs again after the restart and completes once.
    let inform = rig.wait_inform("11 DU STATE CHANGE COMPLETE", 1);
    assert!(inform
        .events()
        .contains(&("M ChangeDUState".into(), "cut".into())));
    let uuid = icwmp::du::uuid_for_url(&url);
    assert_eq!(
        wait_completion(&rig, "cut"),
        vec![res(&uuid, "1", "3", "Installed", "0")]
    );
    let before = rig.wait_idle().len();
    rig.restart_until_inform(before);
    let all = rig.wait_idle();
    assert_eq!(completions(&all, "cut").len(), 1, "exactly one completion");
    rig.assert_xsd_valid();
}
