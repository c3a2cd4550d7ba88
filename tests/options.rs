//! The C daemon's UCI options and what they do, black-box: the daemon started with a config,
//! a scripted ACS, and assertions on what the ACS receives and when (see docs-opts.md).

mod common;
#[path = "options/support.rs"]
mod support;

use common::acs::{Acs, AcsOpts};
use common::daemon::{Cpe, CpeOpts};
use common::raw_acs::{http_200, inform_response, RawAcs, Step};
use common::{soap, Rig, WAIT};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{
    continue_cpe, ipv6_decoy, opt125, real_uci, reloads, run_opt125_hook, with_dual_stack_name,
    ContinueAcs, On100,
};

/// A daemon whose "reboot" writes the time (Unix seconds with fractions) into `marker`.
fn reboot_marker_opts(o: &mut CpeOpts, marker: &Path) {
    o.extra_cpe.push_str(&format!(
        "\toption reboot_command 'date +%s.%N > {}'\n",
        marker.display()
    ));
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Waits up to `limit` for the reboot marker; returns the Unix time it holds.
fn wait_reboot(marker: &Path, limit: Duration) -> Option<f64> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(t) = std::fs::read_to_string(marker)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
        {
            return Some(t);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The Unix time `t` as an xsd:dateTime in UTC.
fn datetime(t: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{t}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn uci_option(cpe: &Cpe, name: &str) -> Option<String> {
    cpe.config_text().lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix(&format!("option {name} "))?;
        Some(rest.trim_matches('\'').to_string())
    })
}

#[test]
fn delay_reboot_reboots_that_many_seconds_after_the_session_and_is_reset() {
    let dir = common::temp_dir("delay-reboot");
    let marker = dir.join("rebooted");
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::spv(
            &[("Device.ManagementServer.DelayReboot", "3", "xsd:int")],
            "dr-1",
        )],
        |o| reboot_marker_opts(o, &marker),
    );
    let a = rig.wait_answer("SetParameterValues", 1);
    assert!(a.fault().is_none(), "{}", a.summary());
    let msgs = rig.wait_idle();
    // The session ends with the ACS's 204 to the CPE's last POST.
    let end = unix_now() - msgs.last().expect("messages").at.elapsed().as_secs_f64();
    let Some(at) = wait_reboot(&marker, Duration::from_secs(10)) else {
        rig.fail("no reboot within 10 s of DelayReboot=3", "")
    };
    let after = at - end;
    assert!(
        (2.8..6.0).contains(&after),
        "rebooted {after:.2} s after the session ended, DelayReboot was 3\n{}",
        rig.cpe.logs()
    );
    // Reset to -1 so that the reboot happens once (TR-181).
    assert_eq!(
        uci_option(&rig.cpe, "delay_reboot").as_deref(),
        Some("-1"),
        "{}",
        rig.cpe.config_text()
    );
    // The reboot is not an RPC: no `M Reboot` is owed, and no session ran before it.
    assert!(!rig.cpe.logs().contains("M Reboot"), "{}", rig.cpe.logs());
    assert_eq!(
        rig.acs.msgs().len(),
        msgs.len(),
        "a session before the reboot"
    );
}

#[test]
fn delay_reboot_set_back_to_minus_one_cancels_the_reboot() {
    let dir = common::temp_dir("delay-cancel");
    let marker = dir.join("rebooted");
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::spv(
            &[("Device.ManagementServer.DelayReboot", "3", "xsd:int")],
            "dr-2",
        )],
        |o| reboot_marker_opts(o, &marker),
    );
    rig.wait_idle();
    rig.session(&[soap::spv(
        &[("Device.ManagementServer.DelayReboot", "-1", "xsd:int")],
        "dr-3",
    )]);
    assert_eq!(
        wait_reboot(&marker, Duration::from_secs(5)),
        None,
        "rebooted although DelayReboot went back to -1\n{}",
        rig.cpe.logs()
    );
}

#[test]
fn schedule_reboot_reboots_at_its_time_and_a_past_time_does_nothing() {
    let dir = common::temp_dir("sched-reboot");
    let marker = dir.join("rebooted");
    let now = unix_now() as i64;
    let past = datetime(now - 3600);
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::spv(
            &[(
                "Device.ManagementServer.ScheduleReboot",
                &past,
                "xsd:dateTime",
            )],
            "sr-past",
        )],
        |o| reboot_marker_opts(o, &marker),
    );
    let a = rig.wait_answer("SetParameterValues", 1);
    assert!(a.fault().is_none(), "{}", a.summary());
    rig.wait_idle();
    assert_eq!(
        wait_reboot(&marker, Duration::from_secs(2)),
        None,
        "a ScheduleReboot in the past rebooted"
    );
    let due = unix_now() as i64 + 4;
    let msgs = rig.session(&[soap::spv(
        &[(
            "Device.ManagementServer.ScheduleReboot",
            &datetime(due),
            "xsd:dateTime",
        )],
        "sr-1",
    )]);
    assert!(rig.answer(&msgs, "SetParameterValues").fault().is_none());
    let Some(at) = wait_reboot(&marker, Duration::from_secs(10)) else {
        rig.fail("no reboot at the ScheduleReboot time", "")
    };
    assert!(
        (due as f64 - 0.2..due as f64 + 3.0).contains(&at),
        "rebooted at {at:.2}, scheduled for {due}\n{}",
        rig.cpe.logs()
    );
    assert_eq!(
        uci_option(&rig.cpe, "schedule_reboot").as_deref(),
        Some("0001-01-01T00:00:00Z"),
        "{}",
        rig.cpe.config_text()
    );
}

#[test]
fn the_wait_for_the_acs_is_the_announced_session_timeout() {
    // The ACS takes the Inform, then never answers the CPE's next POST.
    let acs = RawAcs::start(vec![
        Step::Send(http_200(inform_response("1").as_bytes(), "")),
        Step::Hang(Duration::from_secs(15)),
    ]);
    let mut o = CpeOpts::new(&acs.url());
    o.extra_cpe.push_str("\toption session_timeout '3'\n");
    let cpe = Cpe::start(o);
    let informs = acs
        .wait_informs(2, WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", cpe.logs()));
    assert!(
        informs[0].body.contains(">3</cwmp:SessionTimeout>"),
        "{}",
        informs[0].body
    );
    let posts = acs.posts();
    let hung = posts
        .iter()
        .find(|p| !p.is_inform())
        .expect("the POST after the InformResponse");
    // Given up after the 3 s announced (plus the 1 s retry wait), not the hang's 15 s.
    let gap = informs[1].at.duration_since(hung.at);
    assert!(
        gap >= Duration::from_millis(2800) && gap < Duration::from_secs(8),
        "retry Inform {gap:?} after the unanswered POST\n{}",
        cpe.logs()
    );
}

/// Requests that make the CPE's next answer (a GetParameterValuesResponse) over 1 MiB: a
/// user whose Shell (a string without a size limit) holds 1 MiB and some.
fn big_answer_script() -> Vec<String> {
    let shell = "x".repeat((1 << 20) + 4096);
    vec![
        soap::add_object("Device.Users.User.", "big-1"),
        soap::spv(
            &[("Device.Users.User.1.Shell", &shell, "xsd:string")],
            "big-2",
        ),
        soap::gpv(&["Device.Users.User.1.Shell"]),
    ]
}

#[test]
fn large_bodies_are_sent_with_expect_100_continue_unless_disabled() {
    for disabled in [false, true] {
        let acs = ContinueAcs::start(On100::Continue, big_answer_script());
        let extra = if disabled {
            "\toption http_disable_100continue '1'\n"
        } else {
            ""
        };
        let cpe = continue_cpe(&acs, extra);
        let posts = acs.wait_big(1, &cpe);
        for p in &posts {
            let big = p.body.len() > 1 << 20;
            assert_eq!(
                p.expect,
                big && !disabled,
                "disabled={disabled}, {} bytes",
                p.body.len()
            );
            if big {
                // (How soon the body follows the ACS's go-ahead is not asserted: on a loaded
                // machine the ACS's `100 Continue` may come after the client's 1 s wait.)
                assert!(p.body.contains("GetParameterValuesResponse"));
            }
        }
    }
}

#[test]
fn an_acs_that_ignores_expect_100_continue_gets_the_body_after_a_second() {
    let acs = ContinueAcs::start(On100::Silent, big_answer_script());
    let cpe = continue_cpe(&acs, "");
    let posts = acs.wait_big(1, &cpe);
    let big = posts
        .iter()
        .find(|p| p.body.len() > 1 << 20)
        .expect("waited");
    assert!(big.expect);
    assert!(
        big.body_wait >= Duration::from_millis(900) && big.body_wait < Duration::from_secs(5),
        "body after {:?}",
        big.body_wait
    );
}

#[test]
fn an_acs_that_breaks_100_continue_gets_large_bodies_without_it_from_then_on() {
    // The first large answer dies with the malformed 100; the retried session gets the
    // same request again and answers it without `Expect`.
    let mut script = big_answer_script();
    // Twice: on a loaded machine the first failed session may use one up.
    script.push(soap::gpv(&["Device.Users.User.1.Shell"]));
    script.push(soap::gpv(&["Device.Users.User.1.Shell"]));
    let acs = ContinueAcs::start(On100::WithHeaders, script);
    let cpe = continue_cpe(&acs, "");
    // (On a loaded machine the client's 1 s wait may end before the malformed 100 comes: the
    // ACS then reads that first body too, with `Expect`.)
    acs.wait_big_where(1, &cpe, |p| !p.expect);
    assert!(cpe.logs().contains("mishandles Expect"), "{}", cpe.logs());
}

#[test]
fn force_ipv4_connects_to_the_acs_over_ipv4_only() {
    use std::sync::atomic::Ordering;
    for force in [true, false] {
        let acs = Acs::start(AcsOpts::default());
        let Some(decoy) = ipv6_decoy(acs.port()) else {
            eprintln!("skipped: no IPv6 loopback");
            return;
        };
        let url = format!("http://acs.test:{}/acs", acs.port());
        let hosts = common::temp_dir("hosts").join("hosts");
        let cpe = with_dual_stack_name(hosts, move || {
            let mut o = CpeOpts::new(&url);
            if force {
                o.extra_cpe.push_str("\toption force_ipv4 '1'\n");
            }
            Cpe::start(o)
        });
        let Some(cpe) = cpe else { return };
        if force {
            let r = acs.wait_for(WAIT, |m| m.iter().any(|x| x.method() == "Inform"));
            assert!(r.is_ok(), "no Inform over IPv4\n{}", cpe.logs());
            assert_eq!(decoy.load(Ordering::SeqCst), 0, "an IPv6 connection");
        } else {
            // The control: without the option the name's IPv6 address is tried (first),
            // so the test above can tell the difference.
            let deadline = Instant::now() + WAIT;
            while decoy.load(Ordering::SeqCst) == 0 {
                assert!(
                    Instant::now() < deadline,
                    "never tried IPv6\n{}",
                    cpe.logs()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn use_cwmp_version_sets_the_namespace_of_the_rest_of_the_session() {
    for (version, ns) in [(Some("1.0"), "cwmp-1-0"), (None, "cwmp-1-2")] {
        let header = version
            .map(|v| {
                format!(
                    "<cwmp:UseCWMPVersion soap-env:mustUnderstand=\"1\">{v}</cwmp:UseCWMPVersion>"
                )
            })
            .unwrap_or_default();
        let resp = format!(
            r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID>{header}</soap-env:Header><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>"#
        );
        let acs = RawAcs::start(vec![Step::Send(http_200(resp.as_bytes(), ""))]);
        let mut o = CpeOpts::new(&acs.url());
        o.extra_acs.push_str("\toption get_rpc_methods '1'\n");
        let cpe = Cpe::start(o);
        let deadline = Instant::now() + WAIT;
        let grm = loop {
            if let Some(p) = acs
                .posts()
                .into_iter()
                .find(|p| p.body.contains("GetRPCMethods"))
            {
                break p;
            }
            assert!(
                Instant::now() < deadline,
                "no GetRPCMethods\n{}",
                cpe.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            grm.body.contains(&format!("urn:dslforum-org:{ns}\"")),
            "UseCWMPVersion {version:?}: {}",
            grm.body
        );
        // The Inform itself went out before the ACS chose.
        assert!(acs.informs()[0]
            .body
            .contains("urn:dslforum-org:cwmp-1-2\""));
    }
}

#[test]
fn cli_help_lists_every_command() {
    let out = std::process::Command::new(common::daemon::bin())
        .args(["--config", "/nonexistent/cwmp", "-c", "help"])
        .output()
        .expect("run icwmpd -c help");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "help",
        "get ",
        "get_names",
        "set ",
        "add ",
        "del ",
        "get_notif",
        "set_notif",
        "request_download",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing:\n{text}"
        );
    }
    // And -h points at it.
    let out = std::process::Command::new(common::daemon::bin())
        .arg("-h")
        .output()
        .expect("run icwmpd -h");
    let usage = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(usage.contains("| help ("), "{usage}");
}

#[test]
fn gateway_option_125_fills_gateway_info_and_notifies_the_acs() {
    let Some(uci) = real_uci() else {
        eprintln!("skipped: no built uci (make test-deps)");
        return;
    };
    let rig = Rig::start(&[]);
    rig.wait_idle();
    let before = rig.acs.msgs().len();
    // A block longer than the option, and text that is not hex: ignored.
    run_opt125_hook(&rig.cpe, &uci, "bound", "00000de9ff0406303044");
    run_opt125_hook(&rig.cpe, &uci, "bound", "00000de9zz");
    assert_eq!(reloads(&rig.cpe), 0);
    // Another vendor's block first: skipped; then the Broadband Forum's.
    let opt = format!(
        "{}{}",
        opt125(4413, &[(4, "ZZZZZZ")]),
        opt125(3561, &[(4, "00d09e"), (5, "GW-0001"), (6, "HGW")])
    );
    run_opt125_hook(&rig.cpe, &uci, "bound", &opt);
    assert_eq!(reloads(&rig.cpe), 1);
    let inform = rig.wait_inform("4 VALUE CHANGE", 1);
    let values = inform.values();
    let get = |n: &str| soap::value_of(&values, n).map(str::to_string);
    assert_eq!(
        get("Device.GatewayInfo.ManufacturerOUI").as_deref(),
        Some("00D09E")
    );
    assert_eq!(
        get("Device.GatewayInfo.SerialNumber").as_deref(),
        Some("GW-0001")
    );
    assert_eq!(
        get("Device.GatewayInfo.ProductClass").as_deref(),
        Some("HGW")
    );
    assert!(rig.acs.msgs().len() > before);
    // A renewal with the same gateway writes nothing and reloads nothing.
    rig.wait_idle();
    run_opt125_hook(&rig.cpe, &uci, "renew", &opt);
    assert_eq!(reloads(&rig.cpe), 1);
    assert_eq!(
        rig.cpe.cli_get("Device.GatewayInfo.SerialNumber"),
        "GW-0001"
    );
}

#[test]
fn disable_gatewayinfo_ignores_option_125() {
    let Some(uci) = real_uci() else {
        eprintln!("skipped: no built uci (make test-deps)");
        return;
    };
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_cpe.push_str("\toption disable_gatewayinfo '1'\n");
    });
    rig.wait_idle();
    let opt = opt125(3561, &[(4, "00D09E"), (5, "GW-0002"), (6, "HGW")]);
    run_opt125_hook(&rig.cpe, &uci, "bound", &opt);
    assert_eq!(reloads(&rig.cpe), 0);
    assert_eq!(rig.cpe.cli_get("Device.GatewayInfo.SerialNumber"), "");
    // Nor are the GatewayInfo parameters made active.
    let out = rig
        .cpe
        .cli(&["get_notif", "Device.GatewayInfo.SerialNumber"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("=> 0"),
        "{out:?}"
    );
}

#[test]
fn md_notif_limit_spaces_the_notifications_of_the_manageable_device_count() {
    const COUNT: &str = "Device.ManagementServer.ManageableDeviceNumberOfEntries";
    for limit in [0u64, 5] {
        let dir = common::temp_dir("md");
        let file = dir.join("manageable_devices");
        let f = file.clone();
        let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(COUNT, 2)])], move |o| {
            o.extra_cpe.push_str(&format!(
                "\toption manageable_devices_file '{}'\n\toption md_notif_limit '{limit}'\n\
                 \toption periodic_notify_interval '1'\n",
                f.display()
            ));
        });
        rig.wait_idle();
        // The session's end takes the count's baseline (the ACS just made it notified).
        std::thread::sleep(Duration::from_millis(500));
        let device = |n: u32| format!("00D09E\tSN-{n}\tSTB\n");
        std::fs::write(&file, device(1)).expect("write devices");
        let first = rig.wait_inform("4 VALUE CHANGE", 1);
        assert_eq!(soap::value_of(&first.values(), COUNT), Some("1"));
        rig.wait_idle();
        std::thread::sleep(Duration::from_millis(200));
        std::fs::write(&file, device(1) + &device(2)).expect("write devices");
        let second = rig.wait_inform("4 VALUE CHANGE", 2);
        assert_eq!(soap::value_of(&second.values(), COUNT), Some("2"));
        let gap = second.at.duration_since(first.at);
        if limit == 0 {
            assert!(gap < Duration::from_secs(3), "no limit, yet {gap:?}");
        } else {
            // Whole seconds: at least limit - 1 after the first notification.
            assert!(
                gap >= Duration::from_secs(limit - 1) && gap < Duration::from_secs(limit + 3),
                "md_notif_limit {limit}: {gap:?}\n{}",
                rig.cpe.logs()
            );
        }
        // The table itself.
        assert_eq!(
            rig.cpe
                .cli_get("Device.ManagementServer.ManageableDevice.2.SerialNumber"),
            "SN-2"
        );
    }
}
