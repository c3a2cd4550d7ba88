//! The init script's functions (`start_service`, `boot`, `reload_service`) run in the procd
//! harness of [`Router::run_init`], with the real uci, ubus and daemon.

use super::*;

/// The C icwmp's config says 'enable'/'disable': the service still starts, and boot() asks
/// DHCP for option 43, appending dslforum.org to the vendor class the WAN already sends.
#[test]
fn init_script_takes_the_c_config_vocabulary() {
    let c_config: &[(&str, &str)] = &[
        ("cwmp.acs.url", "http://acs.example:7547/"),
        ("cwmp.acs.dhcp_discovery", "enable"),
        ("cwmp.cpe.log_to_console", "disable"),
        ("cwmp.cpe.enable", "1"),
        ("network.wan.proto", "dhcp"),
        ("network.wan.vendorid", "acme"),
    ];
    let mut f = Router::new("init-c", c_config);
    let inst = f.run_init("start_service").expect("an instance");
    assert!(!inst.is_null());
    let calls = f.calls();
    assert!(!calls.iter().any(|c| c.contains("invalid")), "{calls:?}");
    // Start-up errors reach the log.
    assert!(calls.contains(&"param stderr 1".to_string()), "{calls:?}");
    // The daemon fills empty user names itself on its first start (no boot script).
    assert!(
        calls.contains(&"param command /usr/sbin/icwmpd -b --default-userid".to_string()),
        "{calls:?}"
    );

    // netifd's `network` object, on the router's bus: told to reload once the change is
    // committed.
    let netifd = f.serve("network", &["reload", "restart"], None);
    f.run_init("boot");
    assert!(f.calls().contains(&"start".to_string()), "{:?}", f.calls());
    let db = f.db();
    // 43 for ACS discovery, 125 for GatewayInfo (TR-111; off with cpe.disable_gatewayinfo).
    assert_eq!(db["network.wan.reqopts"], "43 125");
    assert_eq!(db["network.wan.vendorid"], "acme,dslforum.org");
    let saved = std::fs::read_to_string(f.dir.join("config/network")).unwrap();
    assert!(
        saved.contains("option reqopts '43 125'"),
        "committed: {saved}"
    );
    assert_eq!(
        *netifd.lock().unwrap(),
        vec![("reload".to_string(), serde_json::json!({}))]
    );
    // Our own vocabulary works the same; the vendor class is not appended twice, and
    // nothing changed means no reload.
    f.run_init("boot");
    assert_eq!(f.db()["network.wan.vendorid"], "acme,dslforum.org");
    assert_eq!(netifd.lock().unwrap().len(), 1);
    let f = Router::new(
        "init-off",
        &[
            ("cwmp.acs.dhcp_discovery", "disable"),
            ("cwmp.cpe.disable_gatewayinfo", "1"),
            ("network.wan.proto", "dhcp"),
        ],
    );
    f.run_init("boot");
    assert!(!f.db().contains_key("network.wan.reqopts"));
}

/// The firewall rules published with the instance for a config.
fn firewall_rules(name: &str, db: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut all = vec![("cwmp.acs.url", "http://198.51.100.7:8080/acs")];
    all.extend_from_slice(db);
    let f = Router::new(name, &all);
    let inst = f.run_init("start_service").expect("an instance");
    assert!(f.calls().contains(&"param stderr 1".to_string()));
    inst["data"]["firewall"]
        .as_array()
        .expect("firewall data")
        .clone()
}

#[test]
fn init_script_opens_the_connection_request_port_as_incoming_rule_says() {
    let rules = firewall_rules("fw-port", &[("cwmp.cpe.port", "30005")]);
    assert_eq!(rules.len(), 1, "{rules:?}");
    let r = &rules[0];
    assert_eq!(r["type"], "rule");
    assert_eq!(r["src"], "wan");
    assert_eq!(r["proto"], "tcp");
    assert_eq!(r["dest_port"], "30005");
    assert_eq!(r["target"], "ACCEPT");
    assert!(r.get("src_ip").is_none(), "Port_Only: from anywhere");

    // IP_Port: the port, from the ACS's address (the URL's host).
    let rules = firewall_rules("fw-ipport", &[("cwmp.cpe.incoming_rule", "IP_Port")]);
    assert_eq!(rules[0]["src_ip"], "198.51.100.7");
    assert_eq!(rules[0]["dest_port"], "7547");
    let rules = firewall_rules(
        "fw-ipv6",
        &[
            ("cwmp.acs.url", "https://[2001:db8::7]:7547/acs"),
            ("cwmp.cpe.incoming_rule", "IP_Port"),
        ],
    );
    assert_eq!(rules[0]["src_ip"], "2001:db8::7");
    // IP_Only: anything from the allowed sources.
    let rules = firewall_rules(
        "fw-iponly",
        &[
            ("cwmp.cpe.incoming_rule", "IP_Only"),
            ("cwmp.cpe.cr_allowed_sources", "192.0.2.10 192.0.2.11"),
        ],
    );
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[1]["src_ip"], "192.0.2.11");
    assert!(rules[0].get("dest_port").is_none());
    // No address known (a host name): Port_Only rather than no rule at all.
    let rules = firewall_rules(
        "fw-name",
        &[
            ("cwmp.acs.url", "https://acs.example.com/"),
            ("cwmp.cpe.incoming_rule", "IP_Only"),
        ],
    );
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["dest_port"], "7547");
    assert!(rules[0].get("src_ip").is_none());
}

/// `reload` (procd runs it when `cwmp` changes) meets the real daemon on the real bus: it is
/// asked through `tr069 command reload`; a daemon that does not answer within `ubus -t 1`
/// gets SIGHUP instead; a config that no longer wants the daemon restarts the service.
#[test]
fn init_script_reload_asks_the_running_daemon_over_ubus() {
    let r = Router::new(
        "reload",
        &[
            ("cwmp.acs.url", "http://acs.example/"),
            ("cwmp.cpe.enable", "1"),
        ],
    );
    let args = vec![
        "--ubus-socket".to_string(),
        r.bus.path().display().to_string(),
        "--datamodel".into(),
        "embedded".into(),
    ];
    let rig = common::Rig::with(common::acs::AcsOpts::default(), &[], move |o| {
        o.extra_args = args
    });
    r.bus.wait_object("tr069");
    rig.wait_idle();
    let reloads = || rig.cpe.logs().matches("triggered ubus reload").count();
    assert_eq!(reloads(), 0);

    r.run_init("reload_service");
    let calls = r.calls();
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("signal") || c == "restart"),
        "{calls:?}"
    );
    let deadline = std::time::Instant::now() + common::WAIT;
    while reloads() != 1 {
        assert!(std::time::Instant::now() < deadline, "{}", rig.cpe.logs());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A daemon stopped (busy, hung): SIGHUP rather than waiting on the bus.
    rig.cpe.pause();
    r.run_init("reload_service");
    rig.cpe.resume();
    let calls = r.calls();
    assert!(
        calls.contains(&"signal icwmpd icwmpd HUP".to_string()),
        "{calls:?}"
    );
    assert!(!calls.contains(&"restart".to_string()), "{calls:?}");
    assert_eq!(reloads(), 1, "the stopped daemon got no ubus reload");

    // Disabled: a restart, which start_service then refuses.
    r.run(&r.dir.join("bin/uci"), &["set", "cwmp.cpe.enable=0"], &[]);
    r.run_init("reload_service");
    let calls = r.calls();
    assert!(calls.contains(&"restart".to_string()), "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("signal")), "{calls:?}");
}

#[test]
fn init_script_opens_the_udp_connection_request_port_when_stun_is_on() {
    let rules = firewall_rules("fw-stun", &[("cwmp.cpe.stun_enable", "1")]);
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[0]["proto"], "tcp");
    let udp = &rules[1];
    assert_eq!(udp["name"], "Allow-CWMP-UDP-ConnReq");
    assert_eq!(udp["proto"], "udp");
    assert_eq!(udp["src"], "wan");
    assert_eq!(udp["dest_port"], "7547", "stun_client_port 0: the CR port");
    assert_eq!(udp["target"], "ACCEPT");
    // Its own port, and the ACS's address as for TCP.
    let rules = firewall_rules(
        "fw-stun-port",
        &[
            ("cwmp.cpe.stun_enable", "1"),
            ("cwmp.cpe.stun_client_port", "7600"),
            ("cwmp.cpe.incoming_rule", "IP_Port"),
        ],
    );
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[1]["dest_port"], "7600");
    assert_eq!(rules[1]["src_ip"], "198.51.100.7");
    // The C-era stunc config wins for what it sets, as in the daemon: on with cwmp's
    // `stun_enable '0'` (the shipped default), on its own client port.
    let rules = firewall_rules(
        "fw-stunc",
        &[
            ("cwmp.cpe.stun_enable", "0"),
            ("stunc.stunc.enabled", "1"),
            ("stunc.stunc.client_port", "7601"),
        ],
    );
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[1]["proto"], "udp");
    assert_eq!(rules[1]["dest_port"], "7601");
    // And off when it says so.
    let rules = firewall_rules(
        "fw-stunc-off",
        &[("cwmp.cpe.stun_enable", "1"), ("stunc.stunc.enabled", "0")],
    );
    assert_eq!(rules.len(), 1, "{rules:?}");
}
