//! End to end: the diagnostics cycle of the real `icwmpd` (embedded model) against the
//! scripted ACS. SPV of inputs + `DiagnosticsState=Requested` -> the session ends -> the test
//! runs -> an Inform with `8 DIAGNOSTICS COMPLETE` -> GPV of the results. Also: an input
//! resets a test to None, 9007 for a bad input or state, a second request cancels the first,
//! the owed event survives a restart, a restart during a test ends it in Error_Internal, and a
//! test requested with `icwmpd -c set`. Every message the ACS receives is checked against the
//! XSD.
//!
//! The result assertions (SuccessCount, TestBytesReceived) need the real test engines
//! (src/diag/ipping.rs, download.rs).

mod common;

use common::acs::Msg;
use common::soap::{gpv, spv, value_of};
use common::{files, Rig, GO_DOWN};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PING: &str = "Device.IP.Diagnostics.IPPing.";
const DL: &str = "Device.IP.Diagnostics.DownloadDiagnostics.";
const EVENT: &str = "8 DIAGNOSTICS COMPLETE";

fn p(obj: &str, name: &str) -> String {
    format!("{obj}{name}")
}

/// The SPV asking for IPPing of 127.0.0.1, `n` echoes.
fn ping_request(n: u32) -> String {
    let (host, reps, timeout, state) = (
        p(PING, "Host"),
        p(PING, "NumberOfRepetitions"),
        p(PING, "Timeout"),
        p(PING, "DiagnosticsState"),
    );
    let n = n.to_string();
    spv(
        &[
            (&host, "127.0.0.1", "xsd:string"),
            (&reps, &n, "xsd:unsignedInt"),
            (&timeout, "1000", "xsd:unsignedInt"),
            (&state, "Requested", "xsd:string"),
        ],
        "diag",
    )
}

/// The values of the GPV answer in `msgs`.
fn gpv_values(rig: &Rig, msgs: &[Msg]) -> Vec<(String, String)> {
    rig.answer(msgs, "GetParameterValues").values()
}

fn get(values: &[(String, String)], name: &str) -> String {
    value_of(values, name)
        .unwrap_or_else(|| panic!("{name} not in {values:?}"))
        .to_string()
}

/// A file server: GET /blob (`len` bytes), /slow (drips for a minute); reports each path.
fn file_server(len: usize) -> (String, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let url = files::serve(move |path, _, w| {
        let _ = tx.lock().unwrap().send(path.to_string());
        match path {
            "/blob" => files::ok(w, &vec![b'x'; len]),
            "/slow" => files::drip(w, 10_000_000, &[0u8; 100]),
            _ => files::ok(w, b""),
        }
    });
    (url, rx)
}

/// TestBytesReceived of a `len`-byte file from [`files::ok`]: TR-181 counts the HTTP headers
/// too (the status line and headers `files::ok` writes).
fn test_bytes(len: usize) -> String {
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    (head.len() + len).to_string()
}

fn wait_path(rx: &mpsc::Receiver<String>, path: &str) {
    let end = Instant::now() + common::WAIT;
    while let Ok(p) = rx.recv_timeout(end.saturating_duration_since(Instant::now())) {
        if p == path {
            return;
        }
    }
    panic!("the test never fetched {path}");
}

fn download_request(url: &str) -> String {
    let (u, s) = (p(DL, "DownloadURL"), p(DL, "DiagnosticsState"));
    spv(
        &[(&u, url, "xsd:string"), (&s, "Requested", "xsd:string")],
        "dl",
    )
}

#[test]
fn ipping_cycle_reports_diagnostics_complete_and_gpv_reads_the_results() {
    let rig = Rig::start(&[ping_request(3)]);
    let answer = rig.wait_answer("SetParameterValues", 1);
    assert_eq!(answer.method(), "SetParameterValuesResponse");
    let inform = rig.wait_inform(EVENT, 1);
    assert!(!inform.has_event("1 BOOT"), "a session of its own");
    let msgs = rig.session(&[gpv(&[PING])]);
    let v = gpv_values(&rig, &msgs);
    assert_eq!(get(&v, &p(PING, "DiagnosticsState")), "Complete");
    assert_eq!(get(&v, &p(PING, "SuccessCount")), "3");
    assert_eq!(get(&v, &p(PING, "FailureCount")), "0");
    assert_eq!(get(&v, &p(PING, "Host")), "127.0.0.1");
    // Delivered once.
    rig.wait_idle();
    assert_eq!(rig.informs_with(EVENT), 1);
    rig.assert_xsd_valid();
}

#[test]
fn download_diagnostics_counts_every_byte_of_a_local_server() {
    const LEN: usize = 300_000;
    let (url, _rx) = file_server(LEN);
    let per = p(DL, "EnablePerConnectionResults");
    let rig = Rig::start(&[
        spv(&[(&per, "true", "xsd:boolean")], "per"),
        download_request(&format!("{url}/blob")),
    ]);
    rig.wait_inform(EVENT, 1);
    let msgs = rig.session(&[gpv(&[DL])]);
    let v = gpv_values(&rig, &msgs);
    assert_eq!(get(&v, &p(DL, "DiagnosticsState")), "Complete");
    assert_eq!(get(&v, &p(DL, "TestBytesReceived")), test_bytes(LEN));
    // The results table, its count derived from its rows.
    assert_eq!(get(&v, &p(DL, "PerConnectionResultNumberOfEntries")), "1");
    assert_eq!(
        get(&v, &p(DL, "PerConnectionResult.1.TestBytesReceived")),
        test_bytes(LEN)
    );
    rig.assert_xsd_valid();
}

#[test]
fn an_input_resets_to_none_and_bad_values_are_9007() {
    let rig = Rig::start(&[ping_request(1)]);
    rig.wait_inform(EVENT, 1);
    let state = p(PING, "DiagnosticsState");
    let host = p(PING, "Host");
    let reps = p(PING, "NumberOfRepetitions");
    let msgs = rig.session(&[
        gpv(&[&state]),
        spv(&[(&host, "::1", "xsd:string")], "reset"),
        gpv(&[&state, &p(PING, "SuccessCount"), &host]),
        spv(&[(&state, "Complete", "xsd:string")], "bad"),
        spv(&[(&reps, "0", "xsd:unsignedInt")], "bad"),
        spv(&[(&p(PING, "SuccessCount"), "1", "xsd:unsignedInt")], "bad"),
    ]);
    let answers: Vec<&Msg> = msgs.iter().filter(|m| m.answer_to.is_some()).collect();
    assert_eq!(answers.len(), 6, "{msgs:?}");
    let first = answers[0].values();
    assert_ne!(get(&first, &state), "Requested", "the test ended");
    assert_ne!(get(&first, &state), "None");
    let after = answers[2].values();
    assert_eq!(get(&after, &state), "None");
    assert_eq!(get(&after, &p(PING, "SuccessCount")), "0");
    assert_eq!(get(&after, &host), "::1");
    assert_eq!(
        answers[3].fault(),
        Some((9003, vec![(state.clone(), 9007)]))
    );
    assert_eq!(answers[4].fault(), Some((9003, vec![(reps, 9007)])));
    let ro = answers[5].fault().expect("fault");
    assert_eq!(ro.1[0].1, 9008);
    rig.wait_idle();
    // No test ran after the reset: one report only.
    assert_eq!(rig.informs_with(EVENT), 1);
    rig.assert_xsd_valid();
}

#[test]
fn a_second_request_cancels_the_first() {
    const LEN: usize = 50_000;
    let (url, rx) = file_server(LEN);
    let rig = Rig::start(&[download_request(&format!("{url}/slow"))]);
    wait_path(&rx, "/slow");
    // The slow test runs; a new request (other URL) replaces it.
    rig.session(&[download_request(&format!("{url}/blob"))]);
    wait_path(&rx, "/blob");
    rig.wait_inform(EVENT, 1);
    let msgs = rig.session(&[gpv(&[
        &p(DL, "DiagnosticsState"),
        &p(DL, "TestBytesReceived"),
    ])]);
    let v = gpv_values(&rig, &msgs);
    assert_eq!(get(&v, &p(DL, "DiagnosticsState")), "Complete");
    assert_eq!(get(&v, &p(DL, "TestBytesReceived")), test_bytes(LEN));
    std::thread::sleep(Duration::from_millis(500));
    rig.wait_idle();
    assert_eq!(
        rig.informs_with(EVENT),
        1,
        "the cancelled test is not reported"
    );
    rig.assert_xsd_valid();
}

#[test]
fn the_owed_event_survives_a_restart_before_delivery() {
    // The ACS goes down right after the request: the report cannot be delivered.
    let mut rig = Rig::start(&[ping_request(1), GO_DOWN.to_string()]);
    rig.wait_answer("SetParameterValues", 1);
    let file = rig.cpe.state_dir.join("diagnostics.json");
    let end = Instant::now() + common::WAIT;
    loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if text.contains("\"report\":true") {
            break;
        }
        if Instant::now() > end {
            rig.fail("the test never ended", &text);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let before = rig.acs.msgs().len();
    rig.acs.set_unavailable(false);
    rig.restart_until_inform(before);
    let inform = rig.wait_inform(EVENT, 1);
    assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
    rig.wait_idle();
    assert_eq!(rig.informs_with(EVENT), 1);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(text.contains("\"report\":false"), "{text}");
    rig.assert_xsd_valid();
}

#[test]
fn a_restart_during_a_test_ends_it_in_error_internal_with_its_report() {
    let (url, rx) = file_server(0);
    let mut rig = Rig::start(&[download_request(&format!("{url}/slow"))]);
    wait_path(&rx, "/slow");
    let before = rig.wait_idle().len();
    rig.restart_until_inform(before);
    let inform = rig.wait_inform(EVENT, 1);
    assert!(inform.has_event("1 BOOT"), "{}", inform.summary());
    let msgs = rig.session(&[gpv(&[&p(DL, "DiagnosticsState")])]);
    let v = gpv_values(&rig, &msgs);
    assert_eq!(get(&v, &p(DL, "DiagnosticsState")), "Error_Internal");
    rig.assert_xsd_valid();
}

#[test]
fn a_test_requested_from_the_cli_runs_and_is_reported() {
    let rig = Rig::start(&[]);
    rig.wait_idle();
    for (name, value) in [
        ("Host", "127.0.0.1"),
        ("NumberOfRepetitions", "2"),
        ("DiagnosticsState", "Requested"),
    ] {
        let out = rig.cpe.cli(&["set", &p(PING, name), value]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    rig.wait_inform(EVENT, 1);
    assert_eq!(rig.cpe.cli_get(&p(PING, "DiagnosticsState")), "Complete");
    assert_eq!(rig.cpe.cli_get(&p(PING, "SuccessCount")), "2");
    let bad = rig.cpe.cli(&["set", &p(PING, "DiagnosticsState"), "None"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stdout).contains("9007"));
    rig.assert_xsd_valid();
}

#[test]
fn traceroute_to_loopback_fills_the_route_hops_table() {
    const TR: &str = "Device.IP.Diagnostics.TraceRoute.";
    let (host, state) = (p(TR, "Host"), p(TR, "DiagnosticsState"));
    let rig = Rig::start(&[spv(
        &[
            (&host, "127.0.0.1", "xsd:string"),
            (&state, "Requested", "xsd:string"),
        ],
        "tr",
    )]);
    rig.wait_inform(EVENT, 1);
    let msgs = rig.session(&[gpv(&[TR])]);
    let v = gpv_values(&rig, &msgs);
    assert_eq!(get(&v, &state), "Complete", "{v:?}");
    assert_eq!(get(&v, &p(TR, "RouteHopsNumberOfEntries")), "1");
    assert_eq!(get(&v, &p(TR, "RouteHops.1.HostAddress")), "127.0.0.1");
    rig.assert_xsd_valid();
}

/// `Interface` names a data-model interface (`Device.IP.Interface.N`): the test binds to that
/// Linux interface. In a network namespace of the test with `lo` and `d0`: IPPing of
/// 127.0.0.1 through `lo`'s path is answered, through `d0`'s (one end of a veth pair) it
/// cannot leave.
#[test]
fn an_interface_path_binds_the_test_to_that_linux_interface() {
    let ran = common::netns::in_netns(|| {
        common::netns::ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        common::netns::ip(&["link", "set", "d0", "up"]);
        common::netns::ip(&["link", "set", "d1", "up"]);
        let rig = Rig::start(&[]);
        rig.wait_inform("0 BOOTSTRAP", 1);
        rig.wait_idle();
        let msgs = rig.session(&[gpv(&["Device.IP.Interface."])]);
        let v = gpv_values(&rig, &msgs);
        let path_of = |name: &str| {
            v.iter()
                .find(|(n, val)| n.ends_with(".Name") && val == name)
                .map(|(n, _)| n.trim_end_matches("Name").to_string())
                .unwrap_or_else(|| panic!("no interface {name} in {v:?}"))
        };
        let (lo, d0) = (path_of("lo"), path_of("d0"));
        let ping_on = |iface: &str, key: &str| {
            let (host, reps, timeout, ifc, state) = (
                p(PING, "Host"),
                p(PING, "NumberOfRepetitions"),
                p(PING, "Timeout"),
                p(PING, "Interface"),
                p(PING, "DiagnosticsState"),
            );
            spv(
                &[
                    (&host, "127.0.0.1", "xsd:string"),
                    (&reps, "2", "xsd:unsignedInt"),
                    (&timeout, "300", "xsd:unsignedInt"),
                    (&ifc, iface, "xsd:string"),
                    (&state, "Requested", "xsd:string"),
                ],
                key,
            )
        };
        rig.session(&[ping_on(&lo, "lo")]);
        rig.wait_inform(EVENT, 1);
        let v = gpv_values(&rig, &rig.session(&[gpv(&[PING])]));
        assert_eq!(get(&v, &p(PING, "DiagnosticsState")), "Complete");
        assert_eq!(get(&v, &p(PING, "SuccessCount")), "2");
        rig.session(&[ping_on(&d0, "d0")]);
        rig.wait_inform(EVENT, 2);
        let v = gpv_values(&rig, &rig.session(&[gpv(&[PING])]));
        assert_eq!(get(&v, &p(PING, "SuccessCount")), "0", "{v:?}");
        rig.assert_xsd_valid();
    });
    if ran.is_none() {
        eprintln!("skipped: needs a network namespace (root)");
    }
}
