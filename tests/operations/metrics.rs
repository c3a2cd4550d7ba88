//! Metrics: `icwmpd -c metrics` and ubus `tr069 metrics` on OpenWrt's real ubusd, and
//! `tr069 status` in the C daemon's shape.

use super::{common, poll, soap, AcsOpts, Rig};
use common::ubus as ubusd;

/// `icwmpd -c metrics` once its output satisfies `pred` (the file is written at most once a
/// second).
fn metrics_until(
    rig: &Rig,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let ok = poll(|| {
        let out = rig.cpe.cli(&["metrics"]);
        last = serde_json::from_slice(&out.stdout).unwrap_or_default();
        out.status.success() && pred(&last)
    });
    if !ok {
        rig.fail(&format!("metrics never showed {what}: {last:#}"), "");
    }
    last
}

fn metrics_file_opt(rig_dir: &std::path::Path) -> String {
    format!(
        "\toption metrics_file '{}'\n",
        rig_dir.join("metrics.json").display()
    )
}

/// Sessions, RPCs, faults, SOAP bytes, connection requests, failures by cause and the last
/// error, as `icwmpd -c metrics` prints them, against what the ACS saw on the wire.
#[test]
fn metrics_count_what_went_on_the_wire() {
    let dir = common::temp_dir("metrics");
    let rig = Rig::with(
        AcsOpts::default(),
        &[
            soap::gpv(&["Device.DeviceInfo.SerialNumber"]),
            soap::gpv(&["Device.No.Such.Thing"]),
        ],
        |o| o.extra_cpe = metrics_file_opt(&dir),
    );
    rig.wait_answer("GetParameterValues", 2);
    let msgs = rig.wait_idle();
    // A refused credential, then an accepted connection request and its session.
    let bad = rig.cpe.connection_request_as("cruser", "wrong").unwrap();
    assert_eq!(bad.second, 401);
    rig.kick();
    rig.wait_inform("6 CONNECTION REQUEST", 1);
    let msgs2 = rig.wait_idle();
    assert!(msgs2.len() > msgs.len());
    let out: usize = msgs2.iter().map(|m| m.body.len()).sum();
    let m = metrics_until(&rig, "two sessions", |m| m["sessions"]["ok"] == 2);
    assert_eq!(m["sessions"]["failed"], 0, "{m:#}");
    assert_eq!(
        m["rpcs"],
        serde_json::json!({"GetParameterValues": 2}),
        "{m:#}"
    );
    assert_eq!(m["faults"], serde_json::json!({"9005": 1}), "{m:#}");
    assert_eq!(m["bytes"]["out"], out as u64, "{m:#}");
    assert!(m["bytes"]["in"].as_u64().unwrap_or(0) > 0, "{m:#}");
    let http = &m["connection_requests"]["http"];
    assert_eq!(http["accepted"], 1, "{m:#}");
    assert_eq!(http["refused_by_reason"]["wrong_credentials"], 1, "{m:#}");
    assert!(m["last_error"].is_null(), "{m:#}");

    // The ACS goes down: a failed session by cause, the retry count, the last error.
    rig.acs.set_unavailable(true);
    rig.kick();
    let m = metrics_until(&rig, "a failed session", |m| m["sessions"]["failed"] == 1);
    assert_eq!(
        m["sessions"]["failed_by_cause"],
        serde_json::json!({"http_status": 1}),
        "{m:#}"
    );
    assert_eq!(m["retry_count"], 1, "{m:#}");
    assert!(m["retries"].as_u64() >= Some(1), "{m:#}");
    let err = m["last_error"]["message"].as_str().unwrap_or("");
    assert!(err.contains("503"), "{m:#}");
    assert!(
        m["last_error"]["time"]
            .as_str()
            .is_some_and(|t| t.len() == 25),
        "{m:#}"
    );
    // Back up: the retry completes, the daemon idles. A refusal alone (the main loop is not
    // woken by it) still reaches the file.
    rig.acs.set_unavailable(false);
    metrics_until(&rig, "the retry", |m| m["sessions"]["ok"] == 3);
    rig.wait_idle();
    let bad = rig.cpe.connection_request_as("intruder", "x").unwrap();
    assert_eq!(bad.second, 401);
    let m = metrics_until(&rig, "a second refusal", |m| {
        m["connection_requests"]["http"]["refused"] == 2
    });
    assert_eq!(m["connection_requests"]["http"]["accepted"], 2, "{m:#}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Without a running daemon (no metrics file), `-c metrics` says so and fails.
#[test]
fn metrics_without_a_daemon_is_an_error() {
    let dir = common::temp_dir("nometrics");
    let mut o = common::daemon::CpeOpts::new("http://127.0.0.1:1/acs");
    o.extra_cpe = metrics_file_opt(&dir);
    let cpe = common::daemon::Cpe::prepare(o);
    let out = cpe.cli(&["metrics"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no metrics at"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// On OpenWrt's real ubusd: `ubus call tr069 metrics` answers the counters (and `icwmpd -c
/// metrics` without a metrics file asks that), and `status` still has exactly the C daemon's
/// fields.
#[test]
fn metrics_and_status_through_the_real_ubus_cli() {
    let dir = common::temp_dir("ubus-metrics");
    let bus = ubusd::Ubusd::start(&dir.join("ubus.sock"));
    let sock = bus.socket().display().to_string();
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_args = vec!["--ubus-socket".into(), sock.clone()];
    });
    rig.wait_inform("1 BOOT", 1);
    rig.wait_idle();
    let ubus = ubusd::openwrt_tools().join("bin/ubus");
    let call = |method: &str, pred: &dyn Fn(&serde_json::Value) -> bool| -> serde_json::Value {
        let mut last = String::new();
        let mut v = serde_json::Value::Null;
        let ok = poll(|| {
            let out = std::process::Command::new(&ubus)
                .args(["-s", &sock, "call", "tr069", method])
                .output()
                .expect("run ubus");
            last = format!("{out:?}");
            v = serde_json::from_slice(&out.stdout).unwrap_or_default();
            out.status.success() && pred(&v)
        });
        assert!(ok, "ubus call tr069 {method}: {last}");
        v
    };
    // A refused connection request shows at once: ubus reads those counters live.
    let bad = rig.cpe.connection_request_as("cruser", "wrong").unwrap();
    assert_eq!(bad.second, 401);
    let m = call("metrics", &|m| m["sessions"]["ok"] == 1);
    assert_eq!(
        m["connection_requests"]["http"]["refused_by_reason"]["wrong_credentials"], 1,
        "{m:#}"
    );
    assert!(m["bytes"]["out"].as_u64().unwrap_or(0) > 0, "{m:#}");
    assert_eq!(m["sessions"]["failed"], 0, "{m:#}");
    for key in [
        "rpcs",
        "faults",
        "connection_requests",
        "transfers",
        "last_error",
        "retries",
    ] {
        assert!(m.get(key).is_some(), "{key}: {m:#}");
    }
    // The CLI without a metrics file goes through the bus.
    let mut args = vec!["--ubus-socket", sock.as_str(), "-c", "metrics"];
    let out = std::process::Command::new(common::daemon::bin())
        .arg("--config")
        .arg(&rig.cpe.config)
        .args(args.drain(..))
        .output()
        .expect("run icwmpd -c metrics");
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(cli["sessions"], m["sessions"], "{out:?}");

    let s = call("status", &|s| s["statistics"]["success_sessions"] == 1);
    // Byte for byte as the C daemon's: its members in its order, as the CLI prints them.
    let raw = std::process::Command::new(&ubus)
        .args(["-s", &sock, "call", "tr069", "status"])
        .output()
        .expect("run ubus");
    let raw = String::from_utf8_lossy(&raw.stdout).into_owned();
    let names: Vec<&str> = raw
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
        .collect();
    assert_eq!(
        names,
        [
            "cwmp",
            "status",
            "start_time",
            "acs_url",
            "last_session",
            "status",
            "start_time",
            "end_time",
            "next_session",
            "status",
            "start_time",
            "end_time",
            "statistics",
            "success_sessions",
            "failure_sessions",
            "total_sessions"
        ],
        "{raw}"
    );
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        keys(&s),
        ["cwmp", "last_session", "next_session", "statistics"]
    );
    assert_eq!(keys(&s["cwmp"]), ["acs_url", "start_time", "status"]);
    assert_eq!(
        keys(&s["statistics"]),
        ["failure_sessions", "success_sessions", "total_sessions"]
    );
    assert_eq!(s["last_session"]["status"], "success");
    assert_eq!(s["cwmp"]["acs_url"], rig.acs.url().as_str());
    drop(rig);
    drop(bus);
    let _ = std::fs::remove_dir_all(dir);
}

fn hmac_hex(key: &str, text: &str) -> String {
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let key = PKey::hmac(key.as_bytes()).expect("hmac key");
    let mut s = Signer::new(MessageDigest::sha1(), &key).expect("signer");
    s.update(text.as_bytes()).expect("update");
    s.sign_to_vec()
        .expect("sign")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A UDP connection request (TR-069 Annex G) signed with `pass`.
fn udp_cr(port: u16, id: u32, user: &str, pass: &str) -> String {
    let ts = icwmp::time::now_unix();
    let cn = format!("cn{id}x");
    let sig = hmac_hex(pass, &format!("{ts}{id}{user}{cn}"));
    format!(
        "GET http://127.0.0.1:{port}?ts={ts}&id={id}&un={user}&cn={cn}&sig={sig} HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\r\n"
    )
}

/// UDP connection requests are counted per reason too (the STUN server need not answer: the
/// UDP socket serves them anyway).
#[test]
fn metrics_count_udp_connection_requests_by_reason() {
    let dir = common::temp_dir("udp-metrics");
    let stun_port = common::free_port();
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe = format!(
            "{}\toption stun_enable '1'\n\toption stun_server_address '127.0.0.1'\n\
             \toption stun_server_port '{stun_port}'\n",
            metrics_file_opt(&dir)
        );
    });
    rig.wait_inform("1 BOOT", 1);
    rig.wait_idle();
    let port = rig.cpe.cr_port;
    let acs = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let send = |msg: String| {
        acs.send_to(msg.as_bytes(), ("127.0.0.1", port)).unwrap();
    };
    send(udp_cr(port, 1, "cruser", "crpass"));
    rig.wait_inform("6 CONNECTION REQUEST", 1);
    send(udp_cr(port, 1, "cruser", "crpass"));
    send(udp_cr(port, 2, "cruser", "wrong"));
    let m = metrics_until(&rig, "UDP counters", |m| {
        m["connection_requests"]["udp"]["refused"] == 2
    });
    let udp = &m["connection_requests"]["udp"];
    assert_eq!(udp["accepted"], 1, "{m:#}");
    assert_eq!(
        udp["refused_by_reason"],
        serde_json::json!({"replayed": 1, "wrong_credentials": 1}),
        "{m:#}"
    );
    assert_eq!(m["connection_requests"]["http"]["accepted"], 0, "{m:#}");
    let _ = std::fs::remove_dir_all(dir);
}

/// Completed transfers are counted by result: an Upload that works, a Download from a dead
/// server.
#[test]
fn metrics_count_transfers_by_result() {
    let dir = common::temp_dir("xfer-metrics");
    let files = common::files::serve(|_, _, w| common::files::ok(w, b""));
    let dead = format!("http://127.0.0.1:{}/cfg", common::free_port());
    let upload = format!(
        "<cwmp:Upload><CommandKey>up1</CommandKey><FileType>1 Vendor Configuration File\
         </FileType><URL>{files}/up</URL><Username></Username><Password></Password>\
         <DelaySeconds>0</DelaySeconds></cwmp:Upload>"
    );
    let download = format!(
        "<cwmp:Download><CommandKey>dl1</CommandKey><FileType>3 Vendor Configuration File\
         </FileType><URL>{dead}</URL><Username></Username><Password></Password>\
         <FileSize>0</FileSize><TargetFileName></TargetFileName><DelaySeconds>0</DelaySeconds>\
         <SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>"
    );
    let rig = Rig::with(AcsOpts::default(), &[upload, download], |o| {
        o.extra_cpe = metrics_file_opt(&dir)
    });
    rig.wait("two TransferCompletes", |m| {
        m.iter()
            .filter(|x| x.method() == "TransferComplete")
            .count()
            >= 2
    });
    let m = metrics_until(&rig, "two transfers", |m| {
        m["transfers"]["ok"] == 1 && m["transfers"]["failed"] == 1
    });
    assert_eq!(
        m["rpcs"],
        serde_json::json!({"Download": 1, "Upload": 1}),
        "{m:#}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
