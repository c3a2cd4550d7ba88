//! The diagnostics objects on the embedded backend: inputs written and persisted, only
//! `Requested` accepted, results and their tables read from the diagnostics store.

use super::tests::{get1, mk, sv, tmpdir};
use super::*;
use crate::diag::store::{DiagStore, FILE_NAME};
use crate::diag::{Kind, Outcome};

const PING: &str = "Device.IP.Diagnostics.IPPing.";
const TRACE: &str = "Device.IP.Diagnostics.TraceRoute.";

fn fault_codes(f: &Fault) -> Vec<(String, u32)> {
    f.param_faults
        .iter()
        .map(|p| (p.name.clone(), p.code.0))
        .collect()
}

#[test]
fn every_diagnostics_object_answers_gpn_and_gpv() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    for k in Kind::ALL {
        let names = dm.get_names(k.object(), false).unwrap();
        let state = format!("{}DiagnosticsState", k.object());
        assert!(names.iter().any(|n| n.name == state && n.writable), "{k:?}");
        assert_eq!(get1(&mut dm, &state), "None");
        assert!(dm.get_values(k.object()).unwrap().len() > 3, "{k:?}");
    }
    let top = dm.get_names("Device.IP.Diagnostics.", true).unwrap();
    assert!(top.iter().any(|n| n.name == TRACE && !n.writable));
    assert_eq!(
        get1(&mut dm, "Device.IP.Diagnostics.IPv4PingSupported"),
        "true"
    );
    // Results read their zero value before any test; tables are empty.
    assert_eq!(get1(&mut dm, &format!("{PING}SuccessCount")), "0");
    assert_eq!(
        get1(&mut dm, &format!("{TRACE}RouteHopsNumberOfEntries")),
        "0"
    );
    let r = dm.set_values(&[sv(&format!("{PING}SuccessCount"), "3")]);
    assert_eq!(
        fault_codes(&r.unwrap_err()),
        vec![(format!("{PING}SuccessCount"), 9008)]
    );
}

#[test]
fn requested_and_inputs_are_persisted_and_only_requested_may_be_written() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    dm.set_values(&[
        sv(&format!("{PING}Host"), "127.0.0.1"),
        sv(&format!("{PING}NumberOfRepetitions"), "3"),
        sv(&format!("{PING}DiagnosticsState"), "Requested"),
    ])
    .unwrap();
    let s = DiagStore::load(&dir);
    let e = s.get(PING).unwrap();
    assert_eq!(e.state, "Requested");
    assert_eq!(e.inputs["Host"], "127.0.0.1");
    assert_eq!(get1(&mut mk(&dir), &format!("{PING}Host")), "127.0.0.1");
    assert_eq!(
        get1(&mut dm, &format!("{PING}DiagnosticsState")),
        "Requested"
    );
    for bad in ["Complete", "None", "Canceled", "requested"] {
        let name = format!("{PING}DiagnosticsState");
        let f = dm.set_values(&[sv(&name, bad)]).unwrap_err();
        assert_eq!(fault_codes(&f), vec![(name, 9007)], "{bad}");
    }
    // A value out of the TR-181 range is 9007 too, and nothing changed.
    let name = format!("{PING}NumberOfRepetitions");
    let f = dm.set_values(&[sv(&name, "0")]).unwrap_err();
    assert_eq!(fault_codes(&f), vec![(name, 9007)]);
    assert_eq!(DiagStore::load(&dir), s);
}

#[test]
fn results_and_tables_come_from_the_store_and_an_input_clears_them() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    dm.set_values(&[sv(&format!("{TRACE}DiagnosticsState"), "Requested")])
        .unwrap();
    let mut s = DiagStore::load(&dir);
    let outcome = Outcome {
        state: "Complete".into(),
        values: vec![
            ("ResponseTime".into(), "12".into()),
            ("RouteHops.1.Host".into(), "gw".into()),
            ("RouteHops.1.RTTimes".into(), "1,2,3".into()),
            ("RouteHops.2.Host".into(), "dst".into()),
        ],
    };
    assert!(s.finish(TRACE, 1, outcome));
    std::fs::write(dir.join(FILE_NAME), s.to_json()).unwrap();
    assert_eq!(
        get1(&mut dm, &format!("{TRACE}DiagnosticsState")),
        "Complete"
    );
    assert_eq!(get1(&mut dm, &format!("{TRACE}ResponseTime")), "12");
    assert_eq!(
        get1(&mut dm, &format!("{TRACE}RouteHopsNumberOfEntries")),
        "2"
    );
    assert_eq!(get1(&mut dm, &format!("{TRACE}RouteHops.2.Host")), "dst");
    assert_eq!(
        get1(&mut dm, &format!("{TRACE}RouteHops.1.RTTimes")),
        "1,2,3"
    );
    assert_eq!(get1(&mut dm, &format!("{TRACE}RouteHops.2.ErrorCode")), "0");
    let hops = dm.get_names(&format!("{TRACE}RouteHops."), true).unwrap();
    assert_eq!(hops.len(), 2);
    assert!(dm.get_values(&format!("{TRACE}RouteHops.3.Host")).is_err());

    dm.set_values(&[sv(&format!("{TRACE}MaxHopCount"), "5")])
        .unwrap();
    assert_eq!(get1(&mut dm, &format!("{TRACE}DiagnosticsState")), "None");
    assert_eq!(
        get1(&mut dm, &format!("{TRACE}RouteHopsNumberOfEntries")),
        "0"
    );
    assert_eq!(get1(&mut dm, &format!("{TRACE}ResponseTime")), "0");
    assert_eq!(get1(&mut dm, &format!("{TRACE}MaxHopCount")), "5");
}

#[test]
fn capabilities_are_the_engines() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    const DL: &str = "Device.IP.Diagnostics.DownloadDiagnostics.";
    const UL: &str = "Device.IP.Diagnostics.UploadDiagnostics.";
    const UE: &str = "Device.IP.Diagnostics.UDPEchoDiagnostics.";
    let max_conn = crate::diag::download::MAX_CONNECTIONS.to_string();
    let max_inc = crate::diag::download::MAX_INCREMENTAL.to_string();
    for (path, want) in [
        (format!("{DL}DownloadDiagnosticMaxConnections"), &max_conn),
        (format!("{UL}UploadDiagnosticsMaxConnections"), &max_conn),
        (
            format!("{DL}DownloadDiagnosticsMaxIncrementalResult"),
            &max_inc,
        ),
        (
            format!("{UL}UploadDiagnosticsMaxIncrementalResult"),
            &max_inc,
        ),
        (
            format!("{UE}UDPEchoDiagnosticsMaxResults"),
            &crate::diag::udpecho::MAX_RESULTS.to_string(),
        ),
        (
            format!("{DL}DownloadTransports"),
            &crate::diag::download::TRANSPORTS.to_string(),
        ),
        (
            format!("{UL}UploadTransports"),
            &crate::diag::upload::TRANSPORTS.to_string(),
        ),
    ] {
        assert_eq!(&get1(&mut dm, &path), want, "{path}");
    }
}
