//! Bus events the daemon listens to, sent as an operator or a hotplug script would, with the
//! real `ubus send`: `network.interface` (WAN back up after a failed session: retry now) and
//! `bbf.config.change` (bbfdm applied changes: check the notified values now).
//! (`bbfdm.event` is sent the same way in the autonomous DU test.) The daemon itself emits
//! no event and no notification: nothing to `ubus listen` or `ubus subscribe` to.

use super::*;
use common::acs::Acs;
use common::daemon::{Cpe, CpeOpts};

#[test]
fn wan_ifup_after_a_failed_session_retries_at_once() {
    let bus = Bus::start("ubus-ifup");
    let acs = Acs::start(AcsOpts {
        unavailable: true,
        ..AcsOpts::default()
    });
    let mut o = CpeOpts::new(&acs.url());
    with_socket(&bus, "embedded")(&mut o);
    // Without the event, the next try is 10 minutes away.
    o.extra_acs
        .push_str("\toption retry_min_wait_interval '600'\n");
    let rig = Rig {
        acs,
        cpe: Cpe::start(o),
    };
    bus.wait_object("tr069");
    let deadline = Instant::now() + WAIT;
    while bus.call("tr069", "status", "{}")["last_session"]["status"] != "failure" {
        assert!(Instant::now() < deadline, "{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rig.acs.counters().2, 1, "one refused Inform");
    rig.acs.set_unavailable(false);
    // Another interface, or the WAN going down: no retry.
    bus.send(
        "network.interface",
        r#"{"action":"ifup","interface":"lan"}"#,
    );
    bus.send(
        "network.interface",
        r#"{"action":"ifdown","interface":"wan"}"#,
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rig.informs_with("1 BOOT"), 0, "{}", rig.cpe.logs());
    assert_eq!(rig.acs.counters().2, 1);
    let t = Instant::now();
    bus.send(
        "network.interface",
        r#"{"action":"ifup","interface":"wan"}"#,
    );
    rig.wait_inform("1 BOOT", 1);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    rig.wait_idle();
    assert!(rig
        .cpe
        .logs()
        .contains("WAN interface up after a failed session"));
}

#[test]
fn bbf_config_change_checks_notified_values_at_once() {
    const NAME: &str = "Device.Users.User.1.Username";
    let bus = Bus::start("ubus-bbfchange");
    let fake = FakeBbfdm::new(Api::BbfConfig);
    let _server = bus.client(fake.objects());
    bus.wait_object("bbfdm");
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(NAME, 2)])], |o| {
        with_socket(&bus, "bbfdm")(o);
        // No polling: only the event can reveal the change.
        o.extra_cpe
            .push_str("\toption periodic_notify_enable '0'\n");
    });
    rig.wait_answer("SetParameterAttributes", 1);
    rig.wait_idle();
    let (h, _rx) = bus.client(Vec::new());
    wait_not_running(&h);
    // The checks the session's end and the attributes file's watcher start are over: from
    // here on the count stays put unless something asks for a check.
    let checks = || rig.cpe.logs().matches("notification check:").count();
    let deadline = Instant::now() + WAIT;
    loop {
        let n = checks();
        std::thread::sleep(Duration::from_millis(500));
        if checks() == n {
            break;
        }
        assert!(Instant::now() < deadline, "checks never settle");
    }
    let settled = checks();
    {
        let mut guard = fake.state();
        let st = &mut *guard;
        for map in [&mut st.params, &mut st.committed] {
            map.get_mut(NAME).expect("in the fake").0 = "bob".into();
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rig.informs_with("4 VALUE CHANGE"),
        0,
        "polled after all\n{}",
        rig.cpe.logs()
    );
    assert_eq!(checks(), settled, "no check without the event");
    bus.send("bbf.config.change", "{}");
    let inform = rig.wait_inform("4 VALUE CHANGE", 1);
    assert!(
        inform
            .body
            .contains("<Name>Device.Users.User.1.Username</Name>")
            && inform.body.contains(">bob</Value>"),
        "{}",
        inform.body
    );
    rig.wait_idle();
    rig.assert_xsd_valid();
}
