//! State files holding the largest ids and counters (hand-edited or corrupt, found by the
//! state_json fuzz target): loading them and then adding one more entry must not overflow
//! (a panic in debug builds, a wrap to id 0 in release ones), and what was loaded is kept.

use icwmp::agent::outbox::Outbox;
use icwmp::du::jobs::DuJobs;
use icwmp::du::store::DuStore;
use icwmp::soap::{CpeRequest, DownloadArgs, DuOperation};
use icwmp::transfer::{Request, TransferQueue};
use std::path::PathBuf;

fn dir_with(name: &str, file: &str, json: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("icwmp-ids-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), json).unwrap();
    dir
}

#[test]
fn du_jobs_at_the_last_id() {
    let dir = dir_with(
        "jobs",
        "du_jobs.json",
        r#"{"next_id":18446744073709551615,"jobs":[{"id":18446744073709551615,"command_key":"k",
            "ops":[{"op":"Uninstall","uuid":"u","version":"1","ee":""}],"results":[],
            "phase":"queued","attempts":0}]}"#,
    );
    let mut jobs = DuJobs::load(&dir);
    assert_eq!(jobs.jobs.len(), 1);
    let op = DuOperation::Uninstall {
        uuid: "v".into(),
        version: "2".into(),
        execution_env_ref: String::new(),
    };
    assert!(jobs.add("k2", vec![op]).is_some());
    assert_eq!(jobs.jobs.len(), 2);
}

#[test]
fn outbox_at_the_last_id() {
    let dir = dir_with(
        "outbox",
        "outbox.json",
        r#"{"entries":[{"id":18446744073709551615,"kind":"RequestDownload",
            "file_type":"1 Firmware Upgrade Image","args":[]}]}"#,
    );
    let mut o = Outbox::load(&dir);
    assert_ne!(o, Outbox::default(), "the entry is kept");
    o.push(CpeRequest::RequestDownload {
        file_type: "1 Firmware Upgrade Image".into(),
        args: Vec::new(),
    });
    o.save(&dir).unwrap();
    assert_eq!(Outbox::load(&dir), o);
}

#[test]
fn transfers_at_the_last_id_and_attempt() {
    let dir = dir_with(
        "transfers",
        "transfers.json",
        r#"{"next_id":1,"transfers":[{"id":18446744073709551615,"kind":"Download",
            "command_key":"c","file_type":"1 Firmware Upgrade Image","url":"http://a/f",
            "username":"","password":"","file_size":0,"target_file_name":"","not_before":0,
            "windows":[],"attempts":4294967295,"generation":0,"phase":"queued"}]}"#,
    );
    let mut q = TransferQueue::load(&dir);
    assert_eq!(q.items().len(), 1);
    let id = q.items()[0].id;
    assert!(q.start(id, 0).is_some(), "a queued transfer starts");
    assert_eq!(q.items()[0].attempts, u32::MAX);
    let args = DownloadArgs {
        url: "http://a/g".into(),
        ..DownloadArgs::default()
    };
    assert!(q.add(Request::download(&args, 0)).is_ok());
    assert_eq!(q.items().len(), 2);
}

#[test]
fn du_store_at_the_last_instance() {
    let dir = dir_with(
        "units",
        "du.json",
        r#"{"units":[{"instance":4294967295,"uuid":"u","name":"n","version":"1","url":"http://a/p"}]}"#,
    );
    let mut s = DuStore::load(&dir);
    assert_eq!(s.units.len(), 1);
    s.add("v", "m", "2", "http://a/q");
    assert_eq!(s.units.len(), 2);
}
