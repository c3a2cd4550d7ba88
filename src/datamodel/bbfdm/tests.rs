//! The DataModel semantics through the bbfdm backend, against a fake `bbfdm` served by a
//! second ubus client on the test broker, for both API generations.

use super::fake::FakeBbfdm;
use super::*;
use crate::datamodel::DataModel;
use crate::fault::FaultCode;
use crate::ubus::broker::Broker;
use crate::ubus::{UbusConfig, UbusEvent, UbusThread};
use crossbeam_channel::Receiver;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "batch_tests.rs"]
mod batch;

struct Rig {
    fake: FakeBbfdm,
    dm: BbfdmDataModel,
    // Kept alive for the test's duration; stopped before its directory goes.
    broker: Option<Broker>,
    server: Option<(UbusHandle, Receiver<UbusEvent>)>,
    _client_rx: Receiver<UbusEvent>,
    dir: PathBuf,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.broker = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(
    path: &std::path::Path,
    objects: Vec<crate::ubus::UbusObject>,
) -> (UbusHandle, Receiver<UbusEvent>) {
    let mut cfg = UbusConfig::new(Some(path.to_path_buf()));
    cfg.objects = objects;
    cfg.backoff_min = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(100);
    UbusThread::spawn_with(cfg).unwrap()
}

fn rig(api: Api) -> Rig {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "icwmp-bbfdm-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ubus.sock");
    let broker = Broker::start(&path).unwrap();
    let fake = FakeBbfdm::new(api);
    let objects = fake.objects();
    let names: Vec<String> = objects.iter().map(|o| o.name.clone()).collect();
    let server = spawn(&path, objects);
    // The API generation is read from which objects exist: all must be registered first.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !names
        .iter()
        .all(|n| broker.objects().iter().any(|(o, _)| o == n))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the fake did not register"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let (client, client_rx) = spawn(&path, Vec::new());
    let mut dm = BbfdmDataModel::connect(client, Duration::from_secs(5)).unwrap();
    dm.set_timeout(Duration::from_secs(2));
    assert_eq!(dm.api(), api, "API generation detected from the signature");
    Rig {
        fake,
        dm,
        broker: Some(broker),
        server: Some(server),
        _client_rx: client_rx,
        dir,
    }
}

fn sv(name: &str, value: &str) -> SetValue {
    SetValue {
        name: name.into(),
        value: value.into(),
        type_hint: None,
    }
}

fn value(dm: &mut BbfdmDataModel, name: &str) -> String {
    let v = dm.get_values(name).unwrap();
    assert_eq!(v.len(), 1, "{name}: {v:?}");
    v[0].value.clone()
}

const APIS: [Api; 2] = [Api::BbfConfig, Api::Transaction];

/// A rig of `api` after setting `vals`, which must fail with 9003 listing `want` (each
/// parameter at fault and its code) in order.
fn refused_set(api: Api, vals: &[SetValue], want: &[(&str, u32)]) -> Rig {
    let mut r = rig(api);
    let f = r.dm.set_values(vals).unwrap_err();
    assert_eq!(f.code, FaultCode::INVALID_ARGUMENTS, "{api:?}");
    let got: Vec<(&str, u32)> = f
        .param_faults
        .iter()
        .map(|p| (p.name.as_str(), p.code.0))
        .collect();
    assert_eq!(got, want, "{api:?}");
    r
}

/// Fails when the fake holds staged values: its parameters must be the committed ones.
fn assert_nothing_staged(r: &Rig, api: Api) {
    let st = r.fake.state();
    assert_eq!(st.params, st.committed, "{api:?}: nothing staged");
}

#[test]
fn get_values_reads_rows_with_types_and_every_call_says_cwmp_raw() {
    let mut r = rig(Api::BbfConfig);
    let v = r.dm.get_values("Device.DeviceInfo.UpTime").unwrap();
    assert_eq!(
        v,
        vec![ParamValue {
            name: "Device.DeviceInfo.UpTime".into(),
            value: "120".into(),
            ty: ParamType::UnsignedInt,
        }]
    );
    let all = r.dm.get_values("Device.DeviceInfo.").unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.iter().all(|p| p.name.starts_with("Device.DeviceInfo.")));
    let root = r.dm.get_values("").unwrap();
    assert!(root.len() > all.len());
    for call in r.fake.calls_to("bbfdm.get") {
        assert_eq!(call["optional"], json!({"proto": "cwmp", "format": "raw"}));
    }
    assert_eq!(
        r.dm.get_values("Device.Nope").unwrap_err().code,
        FaultCode::INVALID_PARAMETER_NAME
    );
    assert_eq!(
        r.dm.get_values("Device.Nope.").unwrap_err().code,
        FaultCode::INVALID_PARAMETER_NAME
    );
}

#[test]
fn get_names_next_level_and_full_listing() {
    let mut r = rig(Api::BbfConfig);
    let names = r.dm.get_names("Device.Users.", true).unwrap();
    assert_eq!(
        names,
        vec![ParamInfo {
            name: "Device.Users.User.".into(),
            writable: true
        }]
    );
    let all = r.dm.get_names("Device.Users.", false).unwrap();
    assert_eq!(
        all[0].name, "Device.Users.",
        "the object itself comes first"
    );
    let user = all
        .iter()
        .find(|i| i.name == "Device.Users.User.1.")
        .unwrap();
    assert!(
        user.writable,
        "an instance of a writable table is deletable"
    );
    let uptime = r.dm.get_names("Device.DeviceInfo.UpTime", false).unwrap();
    assert_eq!(
        uptime,
        vec![ParamInfo {
            name: "Device.DeviceInfo.UpTime".into(),
            writable: false
        }]
    );
    assert_eq!(
        r.dm.get_names("Device.DeviceInfo.UpTime", true)
            .unwrap_err()
            .code,
        FaultCode::INVALID_ARGUMENTS
    );
    assert_eq!(
        r.dm.get_names("Device.Nope.", true).unwrap_err().code,
        FaultCode::INVALID_PARAMETER_NAME
    );
    let calls = r.fake.calls_to("bbfdm.schema");
    assert_eq!(calls[0]["first_level"], json!(true));
}

#[test]
fn set_values_commits_and_the_change_is_visible() {
    for api in APIS {
        let mut r = rig(api);
        let vals = [
            sv("Device.ManagementServer.PeriodicInformInterval", "60"),
            sv("Device.Users.User.1.Username", "admin"),
        ];
        r.dm.set_values(&vals).unwrap();
        assert_eq!(
            value(&mut r.dm, "Device.ManagementServer.PeriodicInformInterval"),
            "60"
        );
        let st = r.fake.state();
        assert_eq!(
            st.committed["Device.Users.User.1.Username"].0, "admin",
            "{api:?}: committed"
        );
        assert!(
            st.transaction.is_none(),
            "{api:?}: no transaction left open"
        );
        drop(st);
        match api {
            Api::BbfConfig => {
                let commits = r.fake.calls_to("bbf.config.commit");
                assert_eq!(commits, vec![json!({"proto": "cwmp"})]);
            }
            _ => {
                for set in r.fake.calls_to("bbfdm.set") {
                    assert_eq!(set["optional"]["transaction_id"], json!(1243454652));
                }
                // Services are committed at the end of the session, as the C one does.
                assert!(r.fake.calls_to("uci.commit").is_empty());
                r.dm.end_of_session();
                let mut configs: Vec<Json> = r
                    .fake
                    .calls_to("uci.commit")
                    .into_iter()
                    .map(|c| c["config"].clone())
                    .collect();
                configs.sort_by_key(|c| c.to_string());
                assert_eq!(configs, vec![json!("managementserver"), json!("users")]);
            }
        }
    }
}

#[test]
fn set_values_with_one_bad_parameter_reverts_everything() {
    for api in APIS {
        let mut r = refused_set(
            api,
            &[
                sv("Device.ManagementServer.PeriodicInformInterval", "60"),
                sv("Device.DeviceInfo.UpTime", "5"),
                sv("Device.Users.User.1.Enable", "maybe"),
                sv("Device.Nope", "1"),
            ],
            &[
                ("Device.DeviceInfo.UpTime", 9008),
                ("Device.Users.User.1.Enable", 9007),
                ("Device.Nope", 9005),
            ],
        );
        assert_eq!(
            value(&mut r.dm, "Device.ManagementServer.PeriodicInformInterval"),
            "600",
            "{api:?}: the good value was dropped too"
        );
        assert_nothing_staged(&r, api);
        match api {
            Api::BbfConfig => {
                assert!(r.fake.calls_to("bbf.config.commit").is_empty());
                assert_eq!(r.fake.calls_to("bbf.config.revert").len(), 1);
            }
            _ => {
                let cmds: Vec<Json> = r
                    .fake
                    .calls_to("bbfdm.transaction")
                    .into_iter()
                    .map(|c| c["cmd"].clone())
                    .collect();
                assert_eq!(cmds, vec![json!("start"), json!("abort")]);
            }
        }
    }
}

#[test]
fn add_and_delete_objects_atomically_with_aliases() {
    for api in APIS {
        let mut r = rig(api);
        let (n, _) = r.dm.add_object("Device.Users.User.").unwrap();
        assert_eq!(n, 2, "{api:?}");
        assert_eq!(value(&mut r.dm, "Device.Users.User.2.Username"), "");
        // `Table.[alias].` creates the row and names it.
        let (m, _) = r.dm.add_object("Device.Users.User.[guest].").unwrap();
        assert_eq!(m, 3);
        assert_eq!(value(&mut r.dm, "Device.Users.User.3.Alias"), "guest");
        // Alias-based addressing of existing rows.
        assert_eq!(
            value(&mut r.dm, "Device.Users.User.[admin].Username"),
            "root"
        );
        r.dm.set_values(&[sv("Device.Users.User.[guest].Username", "g")])
            .unwrap();
        assert_eq!(value(&mut r.dm, "Device.Users.User.3.Username"), "g");
        assert_eq!(
            r.dm.get_values("Device.Users.User.[nobody].Username")
                .unwrap_err()
                .code,
            FaultCode::INVALID_PARAMETER_NAME
        );
        r.dm.delete_object("Device.Users.User.[guest].").unwrap();
        assert!(r.dm.get_values("Device.Users.User.3.").is_err());
        assert_eq!(
            r.dm.delete_object("Device.Users.User.9.").unwrap_err().code,
            FaultCode::INVALID_PARAMETER_NAME
        );
        assert_eq!(
            r.dm.add_object("Device.DeviceInfo.").unwrap_err().code,
            FaultCode::INVALID_PARAMETER_NAME
        );
        let st = r.fake.state();
        assert_eq!(
            st.params, st.committed,
            "{api:?}: every change committed or dropped"
        );
        assert!(!st.params.contains_key("Device.Users.User.3.Alias"));
        assert_eq!(st.params["Device.Users.User.2.Enable"].0, "0");
    }
}

#[test]
fn instance_alias_mode_names_rows_by_alias_in_results() {
    let mut r = rig(Api::BbfConfig);
    r.dm.set_alias_mode(true);
    let values = r.dm.get_values("Device.Users.User.").unwrap();
    assert!(
        values
            .iter()
            .any(|v| v.name == "Device.Users.User.[admin].Username" && v.value == "root"),
        "{values:?}"
    );
    assert!(values
        .iter()
        .all(|v| !v.name.starts_with("Device.Users.User.1.")));
    let names = r.dm.get_names("Device.Users.User.", true).unwrap();
    assert!(
        names.iter().any(|n| n.name == "Device.Users.User.[admin]."),
        "{names:?}"
    );
    // Number mode keeps numbers.
    r.dm.set_alias_mode(false);
    let values = r.dm.get_values("Device.Users.User.1.Username").unwrap();
    assert_eq!(values[0].name, "Device.Users.User.1.Username");
}

#[test]
fn a_failed_alias_on_add_drops_the_new_row() {
    let mut r = rig(Api::BbfConfig);
    // Make Alias non-writable in new rows: the follow-up set fails with 9008.
    r.fake
        .state()
        .tables
        .get_mut("Device.Users.User.")
        .unwrap()
        .retain(|(c, _)| c != "Alias");
    let f = r.dm.add_object("Device.Users.User.[x].").unwrap_err();
    assert_eq!(f.code, FaultCode::INVALID_PARAMETER_NAME);
    let st = r.fake.state();
    assert!(!st
        .params
        .keys()
        .any(|k| k.starts_with("Device.Users.User.2.")));
    assert_eq!(st.params, st.committed);
}

#[test]
fn critical_services_are_committed_at_the_end_of_the_session() {
    let mut r = rig(Api::BbfConfig);
    r.fake.state().critical.insert("users".into());
    let vals = [
        sv("Device.Users.User.1.Username", "x"),
        sv("Device.ManagementServer.PeriodicInformInterval", "70"),
    ];
    assert_eq!(r.dm.set_values(&vals).unwrap(), ApplyStatus::Pending);
    assert_eq!(
        r.fake.calls_to("bbf.config.commit"),
        vec![json!({"proto": "cwmp", "services": ["managementserver"]})]
    );
    // A later failing RPC drops only its own changes, not the deferred ones.
    let bad = [sv("Device.ManagementServer.PeriodicInformInterval", "x")];
    r.dm.set_values(&bad).unwrap_err();
    assert_eq!(r.fake.state().params["Device.Users.User.1.Username"].0, "x");
    r.dm.end_of_session();
    let commits = r.fake.calls_to("bbf.config.commit");
    assert_eq!(
        commits.last(),
        Some(&json!({"proto": "cwmp", "services": ["users"]}))
    );
    let st = r.fake.state();
    assert_eq!(st.committed["Device.Users.User.1.Username"].0, "x");
    assert_eq!(st.params, st.committed);
}

#[test]
fn a_bbfdm_that_never_answers_gives_9002_after_the_timeout() {
    let mut r = rig(Api::BbfConfig);
    r.dm.set_timeout(Duration::from_millis(300));
    r.fake.state().hang = Some(Duration::from_secs(2));
    let t = Instant::now();
    let f = r.dm.get_values("Device.DeviceInfo.UpTime").unwrap_err();
    assert_eq!(f.code, FaultCode::INTERNAL_ERROR);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    let f =
        r.dm.set_values(&[sv("Device.Users.User.1.Username", "x")])
            .unwrap_err();
    assert_eq!(f.code, FaultCode::INTERNAL_ERROR);
    assert!(f.param_faults.is_empty());
}

#[test]
fn bbfdm_gone_or_refusing_gives_9002() {
    let mut r = rig(Api::BbfConfig);
    // A ubus status (here: bbfdm refusing arguments) is an internal error, not a panic.
    let e =
        r.dm.raw_call(OBJECT, "get", json!({"path": 5}))
            .unwrap_err();
    assert_eq!(e.code, FaultCode::INTERNAL_ERROR);
    let e = r.dm.raw_call(OBJECT, "nonexistent", json!({})).unwrap_err();
    assert_eq!(e.code, FaultCode::INTERNAL_ERROR);
    r.server = None;
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        r.dm.get_values("Device.DeviceInfo.UpTime")
            .unwrap_err()
            .code,
        FaultCode::INTERNAL_ERROR
    );
}

#[test]
fn connect_gives_up_when_bbfdm_never_appears() {
    let dir = std::env::temp_dir().join(format!("icwmp-bbfdm-none-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ubus.sock");
    let _broker = Broker::start(&path).unwrap();
    let (client, _rx) = spawn(&path, Vec::new());
    let t = Instant::now();
    let e = BbfdmDataModel::connect(client, Duration::from_millis(600))
        .err()
        .unwrap();
    assert!(e.contains("did not appear"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(4));
    drop(_broker);
    let _ = std::fs::remove_dir_all(&dir);
}
