//! The diagnostics cycle in the agent with a scripted test runner (no network tests): a
//! request runs after the session, its end is stored and reported once; a second request
//! cancels the first; a restart ends a started test in Error_Internal and reports it.

use super::diag::Runner;
use super::{Agent, Input, Inputs, Options};
use crate::config::Config;
use crate::datamodel::embedded::EmbeddedDataModel;
use crate::datamodel::MemConfigStore;
use crate::diag::store::{DiagStore, FILE_NAME};
use crate::diag::{Cancel, Outcome};
use crate::events::EventCode;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PING: &str = "Device.IP.Diagnostics.IPPing.";
const RESPONSE: &str = r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>"#;

/// An ACS that accepts every Inform and records them.
fn acs() -> (String, Arc<Mutex<Vec<String>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("acs");
    let port = server.server_addr().to_ip().expect("ip").port();
    let informs = Arc::new(Mutex::new(Vec::new()));
    let seen = informs.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = std::io::Read::read_to_string(req.as_reader(), &mut body);
            let (code, answer) = if body.contains("<cwmp:Inform>") {
                seen.lock().unwrap().push(body);
                (200, RESPONSE)
            } else {
                (204, "")
            };
            let _ = req.respond(tiny_http::Response::from_string(answer).with_status_code(code));
        }
    });
    (format!("http://127.0.0.1:{port}/acs"), informs)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("icwmp-diagcycle-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("dir");
    d
}

fn agent(dir: &Path, url: &str) -> Agent {
    let config_path = dir.join("cwmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let text = format!(
        "config acs 'acs'\n\toption url '{url}'\n\toption periodic_inform_enable '0'\n\
         \nconfig cpe 'cpe'\n\toption port '{port}'\n\toption cr_host '127.0.0.1'\n\
         \toption periodic_notify_enable '0'\n"
    );
    std::fs::write(&config_path, &text).expect("config");
    let (config, _) = Config::from_str(&text, "cwmp").expect("config parses");
    let opts = Options {
        config_path,
        state_dir: dir.to_path_buf(),
        boot_event: false,
        get_rpc_methods: false,
        argv: Vec::new(),
    };
    let dm = Box::new(EmbeddedDataModel::new(
        dir,
        Box::new(MemConfigStore::default()),
    ));
    Agent::new(opts, config, dm, Inputs::default())
}

/// Requests IPPing as an SPV would (the file the model writes).
fn request(dir: &Path, host: &str) {
    let mut s = DiagStore::load(dir);
    s.apply(&[
        (PING.into(), "Host".into(), host.into()),
        (PING.into(), "DiagnosticsState".into(), "Requested".into()),
    ]);
    s.save(dir).expect("save");
}

/// Feeds the next worker report to the agent (as the main loop would).
fn next_done(agent: &mut Agent) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match agent.inputs.rx.recv_timeout(left) {
            Ok(Input::Diag(d)) => return agent.diag_done(d),
            Ok(_) => continue,
            Err(e) => panic!("no diagnostics report: {e}"),
        }
    }
}

/// A runner that answers the host as the result, after waiting for cancellation when the
/// host is "slow"; it records the hosts it ran.
fn runner(ran: Arc<Mutex<Vec<String>>>) -> Runner {
    Arc::new(
        move |_obj: &str, inputs: &crate::diag::Inputs, cancel: &Cancel| {
            let host = inputs.get("Host").cloned().unwrap_or_default();
            ran.lock().unwrap().push(host.clone());
            if host == "slow" {
                let end = Instant::now() + Duration::from_secs(10);
                while !cancel.is_cancelled() && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return Outcome::error("Error_Other");
            }
            Outcome {
                state: "Complete".into(),
                values: vec![("IPAddressUsed".into(), host)],
            }
        },
    )
}

fn has_diag_event(inform: &str) -> bool {
    inform.contains("<EventCode>8 DIAGNOSTICS COMPLETE</EventCode>")
}

#[test]
fn a_request_runs_after_the_session_and_is_reported_once() {
    let dir = tmpdir("once");
    let (url, informs) = acs();
    let mut agent = agent(&dir, &url);
    let ran = Arc::new(Mutex::new(Vec::new()));
    agent.set_diag_runner(runner(ran.clone()));
    request(&dir, "127.0.0.1");
    agent.turn();
    assert_eq!(informs.lock().unwrap().len(), 1, "the bootstrap session");
    next_done(&mut agent);
    assert_eq!(*ran.lock().unwrap(), vec!["127.0.0.1".to_string()]);
    let s = DiagStore::load(&dir);
    let e = s.get(PING).unwrap();
    assert_eq!(e.state, "Complete");
    assert_eq!(e.result("IPAddressUsed"), Some("127.0.0.1"));
    assert!(e.report, "owed until delivered");
    agent.turn();
    let got = informs.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert!(has_diag_event(&got[1]), "{}", got[1]);
    assert!(!DiagStore::load(&dir).report_owed(), "delivered");
    // Nothing more: no second report, no second run.
    agent.turn();
    assert_eq!(informs.lock().unwrap().len(), 2);
    assert_eq!(ran.lock().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_request_cancels_the_first_and_only_the_second_is_reported() {
    let dir = tmpdir("second");
    let (url, informs) = acs();
    let mut agent = agent(&dir, &url);
    let ran = Arc::new(Mutex::new(Vec::new()));
    agent.set_diag_runner(runner(ran.clone()));
    request(&dir, "slow");
    agent.turn();
    let t = Instant::now();
    while ran.lock().unwrap().is_empty() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ran.lock().unwrap().len(), 1, "the first test runs");
    let t = Instant::now();
    request(&dir, "fast");
    agent.sync_diags();
    next_done(&mut agent);
    assert!(t.elapsed() < Duration::from_secs(5), "cancelled promptly");
    assert_eq!(DiagStore::load(&dir).get(PING).unwrap().state, "Requested");
    assert!(!agent.state.events.contains(&EventCode::DiagnosticsComplete));
    agent.turn();
    next_done(&mut agent);
    assert_eq!(
        *ran.lock().unwrap(),
        vec!["slow".to_string(), "fast".to_string()]
    );
    let s = DiagStore::load(&dir);
    assert_eq!(s.get(PING).unwrap().result("IPAddressUsed"), Some("fast"));
    agent.turn();
    let got = informs.lock().unwrap().clone();
    assert_eq!(got.iter().filter(|i| has_diag_event(i)).count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restart_ends_a_started_test_in_error_internal_and_reports_it() {
    let dir = tmpdir("restart");
    let (url, informs) = acs();
    request(&dir, "slow");
    let mut s = DiagStore::load(&dir);
    assert!(s.start(PING, 1), "a worker had taken it");
    s.save(&dir).unwrap();
    let mut agent = agent(&dir, &url);
    let ran = Arc::new(Mutex::new(Vec::new()));
    agent.set_diag_runner(runner(ran.clone()));
    assert_eq!(
        DiagStore::load(&dir).get(PING).unwrap().state,
        "Error_Internal"
    );
    agent.turn();
    let got = informs.lock().unwrap().clone();
    assert!(has_diag_event(&got[0]), "{}", got[0]);
    assert!(ran.lock().unwrap().is_empty(), "not run again");
    assert!(!DiagStore::load(&dir).report_owed());
    assert!(std::fs::metadata(dir.join(FILE_NAME)).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bbfdm path, both API generations: the SPV goes to bbfdm and is noted; after the
/// session the test is bbfdm's `operate` with the inputs; bbfdm keeps the results, which GPV
/// then reads from it; `8 DIAGNOSTICS COMPLETE` follows.
#[test]
fn on_bbfdm_a_request_becomes_an_operate_and_gpv_reads_bbfdm_results() {
    use crate::datamodel::bbfdm::{fake::FakeBbfdm, Api, BbfdmDataModel};
    use crate::datamodel::SetValue;
    use crate::soap::{AcsRequest, CpeResponse};
    use crate::ubus::{broker::Broker, UbusConfig, UbusThread};
    for api in [Api::Transaction, Api::BbfConfig] {
        let dir = tmpdir(&format!("bbf-{api:?}"));
        let sock = dir.join("ubus.sock");
        let broker = Broker::start(&sock).expect("broker");
        let spawn = |objects| {
            let mut cfg = UbusConfig::new(Some(sock.clone()));
            cfg.objects = objects;
            UbusThread::spawn_with(cfg).expect("ubus")
        };
        let fake = FakeBbfdm::new(api);
        {
            let mut st = fake.state();
            for (k, v) in [
                ("Host", ""),
                ("NumberOfRepetitions", "3"),
                ("DiagnosticsState", "None"),
            ] {
                let t = if k == "NumberOfRepetitions" {
                    "xsd:unsignedInt"
                } else {
                    "xsd:string"
                };
                st.params
                    .insert(format!("{PING}{k}"), (v.into(), t.into(), true));
            }
            st.committed = st.params.clone();
        }
        let _server = spawn(fake.objects());
        let (client, _rx) = spawn(Vec::new());
        let bbf = BbfdmDataModel::connect(client.clone(), Duration::from_secs(5)).expect("bbfdm");
        let (url, informs) = acs();
        let mut agent = agent(&dir, &url);
        agent.dm = Box::new(bbf);
        agent.ubus = Some(client);
        let sv = |n: &str, v: &str| SetValue {
            name: format!("{PING}{n}"),
            value: v.into(),
            type_hint: None,
        };
        let spv = AcsRequest::SetParameterValues {
            values: vec![
                sv("Host", "127.0.0.1"),
                sv("NumberOfRepetitions", "4"),
                sv("DiagnosticsState", "Requested"),
            ],
            parameter_key: String::new(),
        };
        let resp = agent.handle_rpc(&spv);
        assert!(
            matches!(resp, CpeResponse::SetParameterValues { .. }),
            "{resp:?}"
        );
        assert_eq!(DiagStore::load(&dir).get(PING).unwrap().state, "Requested");
        agent.turn();
        next_done(&mut agent);
        let ops = fake.calls_to("bbfdm.operate");
        assert_eq!(ops.len(), 1, "{api:?}");
        assert_eq!(ops[0]["command"], "Device.IP.Diagnostics.IPPing()");
        assert_eq!(ops[0]["input"]["Host"], "127.0.0.1");
        assert_eq!(ops[0]["input"]["NumberOfRepetitions"], "4");
        let get = |agent: &mut Agent, n: &str| {
            agent.dm.get_values(&format!("{PING}{n}")).expect("gpv")[0]
                .value
                .clone()
        };
        assert_eq!(get(&mut agent, "SuccessCount"), "4");
        assert_eq!(get(&mut agent, "DiagnosticsState"), "Complete");
        agent.turn();
        let got = informs.lock().unwrap().clone();
        assert!(got.iter().any(|i| has_diag_event(i)), "{api:?}");
        assert!(!DiagStore::load(&dir).report_owed());
        drop(agent);
        // The broker first, as the bbfdm rig does: its clients then stop on their own.
        drop(broker);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_new_acs_does_not_get_the_old_acs_report() {
    let dir = tmpdir("bootstrap");
    request(&dir, "127.0.0.1");
    let mut s = DiagStore::load(&dir);
    assert!(s.finish(PING, 1, Outcome::error("Error_Other")));
    s.save(&dir).unwrap();
    // A fresh state directory has no bootstrapped URL: this start raises 0 BOOTSTRAP.
    let agent = agent(&dir, "http://127.0.0.1:9/acs");
    assert!(agent.state.events.contains(&EventCode::Bootstrap));
    assert!(!agent.state.events.contains(&EventCode::DiagnosticsComplete));
    let s = DiagStore::load(&dir);
    assert!(!s.report_owed());
    assert_eq!(s.get(PING).unwrap().state, "Error_Other", "results stay");
    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `icwmpd -c set` on bbfdm: the value goes to bbfdm and the request is noted for the daemon.
#[test]
fn the_cli_on_bbfdm_notes_the_request_for_the_daemon() {
    use crate::datamodel::bbfdm::{fake::FakeBbfdm, Api, BbfdmDataModel};
    use crate::ubus::{broker::Broker, UbusConfig, UbusThread};
    let dir = tmpdir("bbf-cli");
    let sock = dir.join("ubus.sock");
    let broker = Broker::start(&sock).expect("broker");
    let spawn = |objects| {
        let mut cfg = UbusConfig::new(Some(sock.clone()));
        cfg.objects = objects;
        UbusThread::spawn_with(cfg).expect("ubus")
    };
    let fake = FakeBbfdm::new(Api::BbfConfig);
    fake.state().params.insert(
        format!("{PING}DiagnosticsState"),
        ("None".into(), "xsd:string".into(), true),
    );
    let _server = spawn(fake.objects());
    let (client, _rx) = spawn(Vec::new());
    let bbf = BbfdmDataModel::connect(client, Duration::from_secs(5)).expect("bbfdm");
    let config_path = dir.join("cwmp");
    let text = "config cpe 'cpe'\n\toption enable '1'\n";
    std::fs::write(&config_path, text).expect("config");
    let (config, _) = Config::from_str(text, "cwmp").expect("config parses");
    let args: Vec<String> = ["set", &format!("{PING}DiagnosticsState"), "Requested"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let code = crate::cli::run(&args, Box::new(bbf), &dir, &config_path, &config);
    assert_eq!(code, 0);
    assert_eq!(
        fake.state().params[&format!("{PING}DiagnosticsState")].0,
        "Requested",
        "bbfdm has the value"
    );
    let s = DiagStore::load(&dir);
    assert_eq!(s.requested(), vec![(PING.to_string(), 1)]);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A test that overruns the watchdog is cancelled; one that then does not stop within the
/// grace ends in Error_Internal with its report, and its late end is dropped.
#[test]
fn the_watchdog_cancels_an_overrun_and_gives_up_on_a_stuck_test() {
    let dir = tmpdir("watchdog");
    let (url, informs) = acs();
    let mut agent = agent(&dir, &url);
    let cancelled = Arc::new(Mutex::new(false));
    let seen = cancelled.clone();
    // Notes the cancel, then carries on for a while (a stuck engine).
    agent.set_diag_runner(Arc::new(move |_: &str, _: &_, cancel: &Cancel| {
        let end = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < end {
            if cancel.is_cancelled() {
                *seen.lock().unwrap() = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Outcome {
            state: "Complete".into(),
            values: vec![],
        }
    }));
    agent.set_diag_limits(Duration::from_millis(100), Duration::from_millis(200));
    request(&dir, "stuck");
    let wait = agent.turn();
    assert!(wait <= Duration::from_secs(5), "the loop watches the test");
    let t = Instant::now();
    while DiagStore::load(&dir).get(PING).unwrap().state == "Requested" {
        assert!(t.elapsed() < Duration::from_secs(5), "never given up");
        std::thread::sleep(Duration::from_millis(20));
        agent.turn();
    }
    assert!(*cancelled.lock().unwrap(), "cancelled first");
    let s = DiagStore::load(&dir);
    assert_eq!(s.get(PING).unwrap().state, "Error_Internal");
    // The stuck worker's late Complete is dropped.
    next_done(&mut agent);
    assert_eq!(
        DiagStore::load(&dir).get(PING).unwrap().state,
        "Error_Internal"
    );
    agent.turn();
    let got = informs.lock().unwrap().clone();
    assert_eq!(got.iter().filter(|i| has_diag_event(i)).count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
