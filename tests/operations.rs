//! Operations features, black-box: the last-good-ACS fallback, the HTTP proxy to the ACS, the
//! metrics (`icwmpd -c metrics`, ubus `tr069 metrics`) and millisecond log timestamps.

mod common;

use common::acs::{Acs, AcsOpts};
use common::{soap, Rig, WAIT};
use std::time::{Duration, Instant};

#[path = "operations/proxy.rs"]
mod proxy;
use proxy::TestProxy;

fn poll(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn informs(acs: &Acs) -> Vec<common::acs::Msg> {
    acs.msgs()
        .into_iter()
        .filter(|m| m.method() == "Inform")
        .collect()
}

fn state_json(rig: &Rig) -> serde_json::Value {
    let text = std::fs::read_to_string(rig.cpe.state_dir.join("state.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_default()
}

/// A rig with `extra_acs` options whose ACS moves the device (SPV of ManagementServer.URL) to
/// a new ACS that is closed: the new ACS (`open` brings it alive), its URL and the rig.
fn moved_to_a_dead_acs(extra_acs: &str) -> (Acs, String, Rig) {
    let new = Acs::start(AcsOpts::default());
    new.close();
    let new_url = new.url();
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::spv(
            &[("Device.ManagementServer.URL", &new_url, "xsd:string")],
            "typo",
        )],
        |o| o.extra_acs = extra_acs.into(),
    );
    (new, new_url, rig)
}

/// Waits for the old ACS's second Inform (the device came back to it) and returns it.
fn inform_back(rig: &Rig) -> common::acs::Msg {
    let back = rig.wait("an Inform back at the old ACS", |m| {
        m.iter().filter(|x| x.method() == "Inform").count() >= 2
    });
    back.into_iter()
        .filter(|x| x.method() == "Inform")
        .nth(1)
        .unwrap()
}

/// An SPV moves the device to a dead URL: after `fallback_attempts` failed sessions the old,
/// live ACS gets an Inform again (without the new URL's BOOTSTRAP), and once the new URL comes
/// alive the slow retry takes it, with its BOOTSTRAP, and it becomes the last good one.
#[test]
fn a_dead_new_acs_url_falls_back_to_the_last_good_one_then_is_taken_when_alive() {
    let (new, new_url, rig) = moved_to_a_dead_acs(
        "\toption fallback_attempts '3'\n\toption fallback_time '0'\n\
         \toption fallback_retry_interval '4'\n",
    );
    rig.wait_answer("SetParameterValues", 1);
    rig.wait_idle();
    let old_url = rig.acs.url();
    // Persisted once the session completed.
    assert!(poll(
        || state_json(&rig)["last_good_acs_url"] == old_url.as_str()
    ));
    // The old ACS hears from the device again, after exactly three failures.
    let inform = inform_back(&rig);
    assert!(
        !inform.has_event("0 BOOTSTRAP"),
        "the new URL's BOOTSTRAP went to the old ACS: {}",
        inform.body
    );
    // Only the new URL's BOOTSTRAP was pending: the Inform carries no event, and is valid.
    assert!(inform.events().is_empty(), "{}", inform.body);
    rig.assert_xsd_valid();
    let logs = rig.cpe.logs();
    let failed = logs.matches("session failed").count();
    assert_eq!(failed, 3, "{logs}");
    assert!(
        logs.contains(&format!(
            "ACS {new_url} has not completed a session after 3 attempt(s)"
        )) && logs.contains(&format!("going back to the last good ACS {old_url}")),
        "{logs}"
    );
    // The operator's URL stays configured; the old one is still the last good one.
    assert!(rig.cpe.config_text().contains(&new_url));
    assert_eq!(state_json(&rig)["last_good_acs_url"], old_url.as_str());

    // The new ACS comes alive: the next slow retry (4 s) takes it, with its BOOTSTRAP.
    let alive = Instant::now();
    new.open();
    let msgs = new
        .wait_for(WAIT, |m| m.iter().any(|x| x.has_event("0 BOOTSTRAP")))
        .unwrap_or_else(|r| rig.fail("no BOOTSTRAP at the new ACS", &r));
    assert!(
        alive.elapsed() <= Duration::from_secs(10),
        "{:?}",
        alive.elapsed()
    );
    let first = msgs.iter().find(|m| m.method() == "Inform").unwrap();
    assert!(first.has_event("0 BOOTSTRAP"), "{}", first.body);
    new.wait_idle(WAIT)
        .unwrap_or_else(|r| rig.fail("the new ACS's session did not end", &r));
    assert!(
        poll(|| state_json(&rig)["last_good_acs_url"] == new_url.as_str()),
        "{}",
        rig.cpe.logs()
    );
    // From now on sessions go to the new ACS only.
    let old_informs = informs(&rig.acs).len();
    rig.cpe
        .connection_request()
        .unwrap_or_else(|e| rig.fail(&e, ""));
    new.wait_for(WAIT, |m| {
        m.iter().any(|x| x.has_event("6 CONNECTION REQUEST"))
    })
    .unwrap_or_else(|r| rig.fail("no CONNECTION REQUEST at the new ACS", &r));
    assert_eq!(informs(&rig.acs).len(), old_informs);
}

/// A config edit + reload to a dead URL, with the limit by time: the old ACS hears again once
/// `fallback_time` has passed since the first failure, not before.
#[test]
fn a_config_edit_to_a_dead_url_falls_back_after_the_fallback_time() {
    let new = Acs::start(AcsOpts::default());
    new.close();
    let new_url = new.url();
    let rig = Rig::with(AcsOpts::default(), &[], |o| {
        o.extra_acs = "\toption fallback_attempts '0'\n\toption fallback_time '3'\n".into();
    });
    rig.wait_inform("1 BOOT", 1);
    rig.wait_idle();
    let old_url = rig.acs.url();
    assert!(poll(
        || state_json(&rig)["last_good_acs_url"] == old_url.as_str()
    ));
    let text = rig.cpe.config_text().replace(&old_url, &new_url);
    std::fs::write(&rig.cpe.config, text).unwrap();
    let edited = Instant::now();
    // SAFETY: kill(2) on the daemon's pid: SIGHUP reloads the config.
    unsafe {
        libc::kill(rig.cpe.pid().unwrap() as libc::pid_t, libc::SIGHUP);
    }
    let at = inform_back(&rig).at;
    let after = at.duration_since(edited);
    assert!(
        after >= Duration::from_secs(3) && after <= Duration::from_secs(12),
        "fell back after {after:?}\n{}",
        rig.cpe.logs()
    );
    let logs = rig.cpe.logs();
    assert!(
        logs.contains(&format!("ACS {new_url} has not completed a session after")),
        "{logs}"
    );
    assert!(logs.matches("session failed").count() >= 2, "{logs}");
}

/// `fallback_enable 0`: a dead new URL is retried for ever, the old ACS never hears again.
#[test]
fn without_the_fallback_a_dead_url_is_retried_and_the_old_acs_left_alone() {
    let (_new, _, rig) =
        moved_to_a_dead_acs("\toption fallback_enable '0'\n\toption fallback_attempts '1'\n");
    rig.wait_idle();
    assert!(
        poll(|| rig.cpe.logs().matches("session failed").count() >= 3),
        "{}",
        rig.cpe.logs()
    );
    assert_eq!(informs(&rig.acs).len(), 1);
    assert!(!rig.cpe.logs().contains("going back"));
}

/// `cpe.log_timestamp_ms 1`: every line of the log file has `HH:MM:SS.mmm`; the default is
/// the C format, whole seconds.
#[test]
fn log_file_lines_carry_milliseconds_when_asked() {
    for ms in [true, false] {
        let dir = common::temp_dir("logms");
        let file = dir.join("icwmpd.log");
        let rig = Rig::with(AcsOpts::default(), &[], |o| {
            o.extra_cpe = format!(
                "\toption log_to_file '1'\n\toption log_file_name '{}'\n{}",
                file.display(),
                if ms {
                    "\toption log_timestamp_ms '1'\n"
                } else {
                    ""
                }
            );
        });
        rig.wait_inform("1 BOOT", 1);
        rig.wait_idle();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(" [")).collect();
        assert!(lines.len() >= 3, "{text}");
        let mut fractions = std::collections::BTreeSet::new();
        for l in &lines {
            // DD-MM-YYYY, HH:MM:SS[.mmm] [LEVEL]
            let (time, _) = l.split_once(" [").unwrap();
            let b = time.as_bytes();
            let c_format = b.len() >= 20
                && b[2] == b'-'
                && b[5] == b'-'
                && &time[10..12] == ", "
                && b[14] == b':'
                && b[17] == b':';
            assert!(c_format, "{l}");
            if ms {
                assert_eq!(time.len(), 24, "{l}");
                assert_eq!(b[20], b'.', "{l}");
                assert!(time[21..].bytes().all(|c| c.is_ascii_digit()), "{l}");
                fractions.insert(time[21..].to_string());
            } else {
                assert_eq!(time.len(), 20, "{l}");
            }
        }
        if ms {
            // Real milliseconds, not a constant.
            assert!(fractions.len() >= 2, "{text}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn proxied(proxy_url: &str) -> String {
    format!("\toption http_proxy '{proxy_url}'\n")
}

/// Plain HTTP through `acs.http_proxy`: every request in absolute form with the proxy's Basic
/// credentials, which never reach the ACS.
#[test]
fn a_plain_http_acs_is_reached_through_the_proxy_in_absolute_form() {
    let creds = Some(("pu", "p:w"));
    let px = TestProxy::start(creds);
    let rig = Rig::with(
        AcsOpts::default(),
        &[soap::gpv(&["Device.DeviceInfo.SerialNumber"])],
        |o| {
            o.extra_acs = proxied(&px.url(creds));
        },
    );
    rig.wait_inform("1 BOOT", 1);
    rig.wait_answer("GetParameterValues", 1);
    let msgs = rig.wait_idle();
    let seen = px.seen();
    let target = format!("POST {} HTTP/1.1", rig.acs.url());
    assert!(seen.len() >= 3, "{seen:?}");
    for s in &seen {
        assert_eq!(s.line, target);
        assert_eq!(s.auth.as_deref(), Some("Basic cHU6cDp3"), "{s:?}");
        assert!(!s.refused);
    }
    // As many requests through the proxy as the ACS got; no proxy header went on.
    assert_eq!(seen.len(), msgs.len());
    for m in &msgs {
        assert!(m.header("proxy-authorization").is_none(), "{m:?}");
    }
}

/// An https ACS through a CONNECT tunnel: TLS to the ACS inside it (the ACS's certificate is
/// checked as without a proxy).
#[test]
fn an_https_acs_is_reached_through_a_connect_tunnel() {
    let Some(pki) = common::pki::make_pki(&common::temp_dir("pki")) else {
        return;
    };
    let creds = Some(("u", "p"));
    let px = TestProxy::start(creds);
    let opts = AcsOpts {
        tls: Some(pki),
        ..AcsOpts::default()
    };
    let rig = Rig::with(opts, &[], |o| o.extra_acs = proxied(&px.url(creds)));
    assert!(rig.acs.url().starts_with("https://"));
    rig.wait_inform("1 BOOT", 1);
    rig.wait_idle();
    let seen = px.seen();
    let port = rig.acs.port();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!(s.line, format!("CONNECT 127.0.0.1:{port} HTTP/1.1"));
        assert_eq!(s.auth.as_deref(), Some("Basic dTpw"));
    }
}

/// A 407 (wrong or missing proxy credentials) fails the session with a clear error, and the
/// session is retried; fixed credentials (config edit + reload) get through.
#[test]
fn a_407_from_the_proxy_is_logged_and_retried_for_http_and_https() {
    for https in [false, true] {
        let pki = if https {
            match common::pki::make_pki(&common::temp_dir("pki")) {
                Some(p) => Some(p),
                None => continue,
            }
        } else {
            None
        };
        let px = TestProxy::start(Some(("u", "right")));
        let opts = AcsOpts {
            tls: pki,
            ..AcsOpts::default()
        };
        let wrong = px.url(Some(("u", "wrong")));
        let rig = Rig::with(opts, &[], |o| o.extra_acs = proxied(&wrong));
        assert!(
            poll(|| px.seen().iter().filter(|s| s.refused).count() >= 2),
            "{}",
            rig.cpe.logs()
        );
        let logs = rig.cpe.logs();
        let line = format!(
            "proxy http://127.0.0.1:{} refused our credentials (407 Proxy Authentication Required)",
            px.port
        );
        assert!(logs.contains(&line), "https {https}: {logs}");
        assert!(
            logs.contains("session failed: transport error: HTTP proxy: "),
            "{logs}"
        );
        assert!(rig.acs.msgs().is_empty());
        let text = rig
            .cpe
            .config_text()
            .replace(&wrong, &px.url(Some(("u", "right"))));
        std::fs::write(&rig.cpe.config, text).unwrap();
        // SAFETY: kill(2) on the daemon's pid: SIGHUP reloads the config.
        unsafe {
            libc::kill(rig.cpe.pid().unwrap() as libc::pid_t, libc::SIGHUP);
        }
        let inform = rig.wait_inform("1 BOOT", 1);
        let retries: u32 = inform
            .rpc()
            .unwrap()
            .child_text("RetryCount")
            .parse()
            .unwrap();
        assert!(retries >= 2, "{}", inform.body);
    }
}

/// The environment's proxy is used only with `acs.http_proxy_env 1`, and `no_proxy` wins.
#[test]
fn the_environment_proxy_is_followed_only_when_asked() {
    for (env_on, no_proxy, via_proxy) in [
        (false, "", false),
        (true, "", true),
        (true, "127.0.0.1", false),
    ] {
        let px = TestProxy::start(None);
        let rig = Rig::with(AcsOpts::default(), &[], |o| {
            if env_on {
                o.extra_acs = "\toption http_proxy_env '1'\n".into();
            }
            o.env = vec![
                ("http_proxy".into(), px.url(None)),
                ("no_proxy".into(), no_proxy.into()),
            ];
        });
        rig.wait_inform("1 BOOT", 1);
        rig.wait_idle();
        assert_eq!(
            !px.seen().is_empty(),
            via_proxy,
            "env {env_on}, no_proxy {no_proxy:?}: {:?}",
            px.seen()
        );
    }
}

#[path = "operations/metrics.rs"]
mod metrics;
