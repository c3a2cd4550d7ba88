//! The daemon's state files (a truncated, corrupt or hand-edited file must not stop it):
//! the input is written as each of them in turn and loaded by its loader. What a loader
//! kept must survive a save and a reload unchanged, so a restart never loses or alters it.
//! Files: state.json (src/agent/state.rs), transfers.json (src/transfer/persist.rs), du.json
//! (src/du/store.rs), du_jobs.json (src/du/jobs.rs), notifications.json (src/notify/attrs.rs),
//! outbox.json (src/agent/outbox.rs), notify_values.json (src/agent/changes.rs). Then one more entry is added to what each loaded, as
//! the daemon would next (ids and counters from the file must not overflow). dm.json (the
//! embedded data model's objects, src/datamodel/embedded/persist.rs) is loaded, walked and
//! added to.
#![no_main]

use icwmp::agent::outbox::Outbox;
use icwmp::agent::state::AgentState;
use icwmp::datamodel::embedded::EmbeddedDataModel;
use icwmp::datamodel::{DataModel, MemConfigStore};
use icwmp::du::jobs::DuJobs;
use icwmp::du::store::DuStore;
use icwmp::events::PendingEvent;
use icwmp::notify::{ChangeTracker, NotifyAttributes};
use icwmp::soap::{CpeRequest, DownloadArgs, DuOperation};
use icwmp::transfer::{Request, TransferQueue};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A state directory of this process (tmpfs when there is one: the loaders fsync).
fn dirs() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        // fuzz/run.sh names a directory it removes afterwards; tmpfs otherwise.
        let shm = Path::new("/dev/shm");
        let base = match std::env::var_os("ICWMP_FUZZ_TMP") {
            Some(d) => PathBuf::from(d),
            None if shm.is_dir() => shm.to_path_buf(),
            None => std::env::temp_dir(),
        };
        let base = base.join(format!("icwmp-fuzz-state-{}", std::process::id()));
        let (a, b) = (base.join("a"), base.join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).expect("creating the fuzz state directory");
        }
        (a, b)
    })
}

/// Writes `data` as `<dir>/<name>`, loads it, saves what was loaded into a second directory
/// and loads that: the two loads must agree.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    name: &str,
    data: &[u8],
    load: impl Fn(&Path) -> T,
    save: impl Fn(&mut T, &Path),
) {
    let (a, b) = dirs();
    std::fs::write(a.join(name), data).expect("writing the fuzz input");
    let mut first = load(a);
    let _ = std::fs::remove_file(b.join(name));
    save(&mut first, b);
    let again = load(b);
    assert_eq!(first, again, "{name} changed through save and reload");
}

fuzz_target!(|data: &[u8]| {
    let (a, _) = dirs();
    round_trip(
        "state.json",
        data,
        |d| {
            let s = AgentState::load(d);
            // Only the events kept across a reboot are written: compare those.
            let kept: Vec<PendingEvent> = s
                .events
                .events()
                .iter()
                .filter(|e| e.code.kept_across_reboot())
                .cloned()
                .collect();
            (s.bootstrapped_url, kept, s.scheduled)
        },
        |_, d| {
            // `save` writes where the state was loaded from: a fresh state in `d` (emptied)
            // given what was loaded from `a`.
            let loaded = AgentState::load(a);
            let mut s = AgentState::load(d);
            s.bootstrapped_url = loaded.bootstrapped_url;
            s.events = loaded.events;
            s.scheduled = loaded.scheduled;
            s.save();
        },
    );
    round_trip("transfers.json", data, TransferQueue::load, |q, d| {
        q.save(d).expect("saving transfers")
    });
    round_trip("du.json", data, DuStore::load, |s, d| {
        s.save(d).expect("saving DUs")
    });
    round_trip("du_jobs.json", data, DuJobs::load, |j, d| {
        j.save(d).expect("saving DU jobs")
    });
    round_trip(
        "notifications.json",
        data,
        NotifyAttributes::load,
        |n, d| n.save(d).expect("saving notification attributes"),
    );
    round_trip("outbox.json", data, Outbox::load, |o, d| {
        o.save(d).expect("saving the outbox")
    });
    // notify_values.json (src/agent/changes.rs): the reported values, read back unchanged.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(t) = ChangeTracker::from_reported(&v) {
            let saved = t.reported_json();
            let again = ChangeTracker::from_reported(&saved).expect("reloading what was saved");
            assert_eq!(saved, again.reported_json(), "notify_values.json changed");
        }
    }
    std::fs::write(a.join("dm.json"), data).expect("writing the fuzz input");
    grow(a);
});

/// Adds to what was loaded from `dir`: a transfer (and starts the first), a DU job, a DU, a
/// data-model object and an outbox entry.
fn grow(dir: &Path) {
    let mut q = TransferQueue::load(dir);
    if let Some(id) = q.items().first().map(|t| t.id) {
        let _ = q.start(id, 0);
    }
    let args = DownloadArgs {
        url: "http://acs.example/f".into(),
        ..DownloadArgs::default()
    };
    let _ = q.add(Request::download(&args, 0));
    let op = DuOperation::Uninstall {
        uuid: "u".into(),
        version: "1".into(),
        execution_env_ref: String::new(),
    };
    let _ = DuJobs::load(dir).add("k", vec![op]);
    DuStore::load(dir).add("u", "n", "1", "http://acs.example/p");
    let mut dm = EmbeddedDataModel::new(dir, Box::new(MemConfigStore::default()));
    let _ = dm.get_names("Device.", false);
    let _ = dm.add_object("Device.NAT.PortMapping.");
    Outbox::load(dir).push(CpeRequest::RequestDownload {
        file_type: "1 Firmware Upgrade Image".into(),
        args: Vec::new(),
    });
}
