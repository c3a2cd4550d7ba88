//! The `tr069` object through OpenWrt's real `ubus` CLI, as operators and the init script
//! call it: every method, and every failure as the CLI prints it and exits with it.

use super::*;

/// (exit code, stdout, stderr) of `ubus -s <socket> <args>`.
fn run(bus: &Bus, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bus.cli(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_method_and_error_through_the_ubus_cli() {
    let bus = Bus::start("ubus-cli");
    let mut rig = Rig::with(AcsOpts::default(), &[], with_socket(&bus, "embedded"));
    bus.wait_object("tr069");
    rig.wait_idle();

    // `ubus list -v`: the object's methods with the C daemon's argument types.
    let (code, list, _) = run(&bus, &["list", "-v", "tr069"]);
    assert_eq!(code, Some(0));
    assert!(list.starts_with("'tr069' @"), "{list}");
    for line in [
        "\t\"command\":{\"command\":\"String\"}",
        "\t\"status\":{}",
        "\t\"inform\":{\"GetRPCMethods\":\"Boolean\",\"event\":\"String\"}",
        "\t\"request_download\":{\"file_type\":\"String\",\"args\":\"Table\"}",
        "\t\"metrics\":{}",
    ] {
        assert!(list.lines().any(|l| l == line), "{line} not in\n{list}");
    }
    // Those five and nothing else.
    assert_eq!(list.lines().count(), 6, "{list}");
    let (_, all, _) = run(&bus, &["list"]);
    assert!(all.lines().any(|l| l == "tr069"), "{all}");

    // status (no argument at all, as the init script calls it). The ACS's 204 ends the
    // session on the wire a moment before the daemon records it: wait for that record.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let st = loop {
        let st = bus.call("tr069", "status", "{}");
        if st["last_session"]["status"] != "running" || std::time::Instant::now() > deadline {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(st["cwmp"]["status"], "up");
    assert_eq!(st["cwmp"]["acs_url"], rig.acs.url());
    assert_eq!(st["last_session"]["status"], "success");
    assert_eq!(st["statistics"]["success_sessions"], 1);
    assert_eq!(st["next_session"]["end_time"], "N/A");
    let (code, plain, _) = run(&bus, &["call", "tr069", "status"]);
    assert_eq!(code, Some(0));
    let plain: Json = serde_json::from_str(&plain).unwrap();
    assert_eq!(plain["cwmp"], st["cwmp"]);

    // command: help without (or with an ill-typed) argument, unknown, reload.
    for args in ["{}", r#"{"command":42}"#] {
        let help = bus.call("tr069", "command", args);
        let cmds: Vec<&str> = help["SupportedCommands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["command"].as_str().unwrap())
            .collect();
        assert_eq!(cmds, ["reload", "exit"], "{help}");
    }
    assert_eq!(
        bus.call("tr069", "command", r#"{"command":"foo"}"#),
        json!({"status": -1, "info": "'foo' is not supported. Check the supported commands."})
    );
    assert_eq!(
        bus.call("tr069", "command", r#"{"command":"reload"}"#),
        json!({"status": 0, "info": "icwmpd config reloaded"})
    );

    // inform: a bad code, an event, GetRPCMethods.
    assert_eq!(
        bus.call("tr069", "inform", r#"{"event":"99 WHATEVER"}"#),
        json!({"status": -1, "info": "not able to get the event code"})
    );
    assert_eq!(
        bus.call("tr069", "inform", r#"{"event":"2 periodic"}"#),
        json!({"status": 1, "info": "Session started"})
    );
    rig.wait_inform("2 PERIODIC", 1);
    rig.wait_idle();
    let (h, _rx) = bus.client(Vec::new());
    wait_not_running(&h);
    assert_eq!(
        bus.call("tr069", "inform", r#"{"GetRPCMethods":true}"#),
        json!({"status": 1, "info": "Session with GetRPCMethods will start"})
    );
    rig.wait("the CPE's GetRPCMethods", |m| {
        m.iter().any(|x| x.method() == "GetRPCMethods")
    });
    rig.wait_idle();
    wait_not_running(&h);

    // request_download: accepted, and refused without a file type.
    assert_eq!(
        bus.call(
            "tr069",
            "request_download",
            r#"{"file_type":"1 Firmware Upgrade Image","args":{"Version":"3"}}"#
        ),
        json!({"status": 1, "info": "RequestDownload will be sent"})
    );
    rig.wait_inform("9 REQUEST DOWNLOAD", 1);
    assert_eq!(
        bus.call("tr069", "request_download", r#"{"args":{}}"#)["status"],
        -1
    );
    rig.wait_idle();
    wait_not_running(&h);

    // Failures, as libubus's CLI reports them: a negated status from the call itself...
    assert_eq!(
        run(&bus, &["call", "tr069", "nosuch", "{}"]),
        (
            Some(256 - status::METHOD_NOT_FOUND as i32),
            String::new(),
            "Command failed: ubus call tr069 nosuch {} (Method not found)\n".into()
        )
    );
    assert_eq!(
        run(&bus, &["call", "tr069", "status", "{bad"]),
        (
            Some(256 - 12),
            String::new(),
            "Command failed: ubus call tr069 status {bad (Parsing message data failed)\n".into()
        )
    );
    // ...the plain status when the lookup fails.
    assert_eq!(
        run(&bus, &["call", "tr096", "status", "{}"]),
        (
            Some(status::NOT_FOUND as i32),
            String::new(),
            "Command failed: Not found\n".into()
        )
    );
    // A daemon that does not answer (stopped): the init script's `ubus -t 1` times out.
    rig.cpe.pause();
    let t = Instant::now();
    let timed_out = run(&bus, &["-t", "1", "call", "tr069", "status", "{}"]);
    rig.cpe.resume();
    assert_eq!(
        timed_out,
        (
            Some(256 - status::TIMEOUT as i32),
            String::new(),
            "Command failed: ubus call tr069 status {} (Request timed out)\n".into()
        )
    );
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // And it answers again at once.
    assert_eq!(bus.call("tr069", "status", "{}")["cwmp"]["status"], "up");

    // command exit: the daemon leaves and its object with it.
    assert_eq!(
        bus.call("tr069", "command", r#"{"command":"exit"}"#),
        json!({"status": 0, "info": "icwmpd daemon stopped"})
    );
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(st) = rig.cpe.exit_status() {
            break st.code();
        }
        assert!(Instant::now() < deadline, "{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    let (code, _, err) = run(&bus, &["call", "tr069", "status", "{}"]);
    assert_eq!(
        (code, err.as_str()),
        (Some(4), "Command failed: Not found\n")
    );
    assert_ne!(run(&bus, &["list", "tr069"]).0, Some(0));
    rig.assert_xsd_valid();

    // No ubusd at all.
    let out = common::ubus::cli_on(&bus.dir.join("none.sock"), &["call", "tr069", "status"]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Failed to connect to ubus\n"
    );
}
