//! ManagementServer values as the ACS sets them and the daemon runs them: HeartbeatPolicy on
//! the heartbeat options, dateTimes read back as written, out-of-range config values read as
//! the default the daemon uses.

use super::tests::{get1, mk, sv, tmpdir};
use super::*;
use crate::datamodel::MemConfigStore;

#[test]
fn heartbeat_policy_maps_to_the_heartbeat_options_both_ways() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    const HB: &str = "Device.ManagementServer.HeartbeatPolicy.";
    let names: Vec<String> = dm
        .get_names(HB, true)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        [
            "Device.ManagementServer.HeartbeatPolicy.Enable",
            "Device.ManagementServer.HeartbeatPolicy.ReportingInterval",
            "Device.ManagementServer.HeartbeatPolicy.InitiationTime",
        ]
    );
    // Defaults: off, 30 s, the Unknown Time.
    let got = |dm: &mut EmbeddedDataModel| -> Vec<String> {
        dm.get_values(HB)
            .unwrap()
            .into_iter()
            .map(|p| p.value)
            .collect()
    };
    assert_eq!(got(&mut dm), ["false", "30", crate::time::UNKNOWN_TIME]);
    let t = "2024-05-06T07:08:09.944Z";
    dm.set_values(&[
        sv(&format!("{HB}Enable"), "1"),
        sv(&format!("{HB}ReportingInterval"), "45"),
        sv(&format!("{HB}InitiationTime"), t),
    ])
    .unwrap();
    let c = dm.config();
    let opt = |o: &str| c.get("acs", o);
    assert_eq!(opt("heartbeat_enable").as_deref(), Some("1"));
    assert_eq!(opt("heartbeat_interval").as_deref(), Some("45"));
    assert_eq!(opt("heartbeat_time").as_deref(), Some(t));
    assert_eq!(got(&mut dm), ["true", "45", t]);
    // TR-181: ReportingInterval is 30 s at least.
    let e = dm
        .set_values(&[sv(&format!("{HB}ReportingInterval"), "29")])
        .unwrap_err();
    assert_eq!(e.param_faults[0].code.0, 9007);
}

#[test]
fn periodic_inform_values_read_back_as_written_or_as_they_run() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    const PIT: &str = "Device.ManagementServer.PeriodicInformTime";
    const PII: &str = "Device.ManagementServer.PeriodicInformInterval";
    for t in ["2025-03-04T10:11:43.944Z", "2025-03-04T10:11:43Z"] {
        dm.set_values(&[sv(PIT, t)]).unwrap();
        assert_eq!(get1(&mut dm, PIT), t);
    }
    dm.set_values(&[sv(PII, "30")]).unwrap();
    assert_eq!(get1(&mut dm, PII), "30");
    dm.set_values(&[sv(PII, "1")]).unwrap();
    assert_eq!(get1(&mut dm, PII), "1");
    // A hand-written value the daemon does not run with reads as what it runs with.
    let mut cfg = MemConfigStore::default();
    for (o, v) in [
        ("periodic_inform_interval", "0"),
        ("heartbeat_interval", "10"),
    ] {
        cfg.values.insert(("acs".into(), o.into()), v.into());
    }
    let mut dm = EmbeddedDataModel::new(&dir, Box::new(cfg));
    assert_eq!(get1(&mut dm, PII), "86400");
    assert_eq!(
        get1(
            &mut dm,
            "Device.ManagementServer.HeartbeatPolicy.ReportingInterval"
        ),
        "30"
    );
}

#[test]
fn stun_status_and_methods_follow_stun_enable() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    const MS: &str = "Device.ManagementServer.";
    let st = crate::stun::status::StunStatus {
        address: "198.51.100.7:40000".into(),
        nat_detected: true,
    };
    crate::stun::status::write(&dir, &st).unwrap();
    // Off: a stale status file is not shown.
    assert_eq!(
        get1(&mut dm, &format!("{MS}SupportedConnReqMethods")),
        "HTTP"
    );
    assert_eq!(
        get1(&mut dm, &format!("{MS}UDPConnectionRequestAddress")),
        ""
    );
    assert_eq!(get1(&mut dm, &format!("{MS}NATDetected")), "false");
    dm.set_values(&[sv(&format!("{MS}STUNEnable"), "true")])
        .unwrap();
    assert_eq!(
        get1(&mut dm, &format!("{MS}SupportedConnReqMethods")),
        "HTTP,STUN"
    );
    assert_eq!(
        get1(&mut dm, &format!("{MS}UDPConnectionRequestAddress")),
        "198.51.100.7:40000"
    );
    assert_eq!(get1(&mut dm, &format!("{MS}NATDetected")), "true");
    dm.set_values(&[sv(&format!("{MS}HTTPConnectionRequestEnable"), "false")])
        .unwrap();
    assert_eq!(
        get1(&mut dm, &format!("{MS}SupportedConnReqMethods")),
        "STUN"
    );
    dm.set_values(&[sv(&format!("{MS}HTTPConnectionRequestEnable"), "true")])
        .unwrap();
    // The client withdrew its status (no answer yet): unknown again.
    crate::stun::status::clear(&dir);
    assert_eq!(
        get1(&mut dm, &format!("{MS}UDPConnectionRequestAddress")),
        ""
    );
    assert_eq!(get1(&mut dm, &format!("{MS}NATDetected")), "false");
    // Read-only to the ACS.
    assert!(dm
        .set_values(&[sv(&format!("{MS}UDPConnectionRequestAddress"), "1.2.3.4:5")])
        .is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn xmpp_methods_and_jabber_id_follow_xmpp_enable() {
    let dir = tmpdir();
    const MS: &str = "Device.ManagementServer.";
    let jid_file = dir.join(crate::xmpp::client::JID_FILE);
    std::fs::write(&jid_file, "cpe@xmpp.example/cwmp\n").unwrap();
    // Off: a stale JID is not shown and XMPP is not offered.
    let mut dm = mk(&dir);
    assert_eq!(
        get1(&mut dm, &format!("{MS}SupportedConnReqMethods")),
        "HTTP"
    );
    assert_eq!(get1(&mut dm, &format!("{MS}ConnReqJabberID")), "");
    let mut cfg = MemConfigStore::default();
    cfg.values
        .insert(("cpe".into(), "xmpp_enable".into()), "1".into());
    let mut dm = EmbeddedDataModel::new(&dir, Box::new(cfg));
    assert_eq!(
        get1(&mut dm, &format!("{MS}SupportedConnReqMethods")),
        "HTTP,XMPP"
    );
    assert_eq!(
        get1(&mut dm, &format!("{MS}ConnReqJabberID")),
        "cpe@xmpp.example/cwmp"
    );
    // Not bound (yet, or any more): empty.
    std::fs::remove_file(&jid_file).unwrap();
    assert_eq!(get1(&mut dm, &format!("{MS}ConnReqJabberID")), "");
    dm.set_values(&[sv(
        &format!("{MS}ConnReqAllowedJabberIDs"),
        "acs@xmpp.example",
    )])
    .unwrap();
    assert_eq!(
        get1(&mut dm, &format!("{MS}ConnReqAllowedJabberIDs")),
        "acs@xmpp.example"
    );
}

#[test]
fn manageable_devices_file_lines_are_checked_deduplicated_and_bounded() {
    use super::manageable::parse_manageable_devices;
    let text = "00d09e\tSN1\tSTB\n\
                00D09E\tSN1\tagain\n\
                0011ZZ\tSN2\tbad OUI\n\
                001122\t\tno serial\n\
                001122\tSN3\n\
                garbage\n\
                \n\
                001122\tSN4\tPhone\tDevice.Hosts.Host.3\textra\n";
    let d = parse_manageable_devices(text);
    let got: Vec<(&str, &str, &str, &str)> = d
        .iter()
        .map(|d| (&*d.oui, &*d.serial, &*d.class, &*d.host))
        .collect();
    assert_eq!(
        got,
        [
            ("00D09E", "SN1", "STB", ""),
            ("001122", "SN3", "", ""),
            ("001122", "SN4", "Phone", "Device.Hosts.Host.3"),
        ]
    );
    // A flood of lines stays a bounded table.
    let many: String = (0..5000).map(|i| format!("001122\tS{i}\tX\n")).collect();
    assert_eq!(parse_manageable_devices(&many).len(), 1024);
    // A serial over TR-181's 64 characters is refused.
    let long = format!("001122\t{}\tX\n", "s".repeat(65));
    assert!(parse_manageable_devices(&long).is_empty());
}

#[test]
fn the_xmpp_connection_is_one_row_on_the_xmpp_options() {
    const C: &str = "Device.XMPP.Connection.1.";
    let dir = tmpdir();
    let mut cfg = MemConfigStore::default();
    for (k, v) in [
        ("xmpp_enable", "1"),
        ("xmpp_domain", "xmpp.example"),
        ("xmpp_username", "cpe"),
        ("xmpp_server", "10.0.0.7"),
    ] {
        cfg.values.insert(("cpe".into(), k.into()), v.into());
    }
    let mut dm = EmbeddedDataModel::new(&dir, Box::new(cfg));
    assert_eq!(get1(&mut dm, "Device.XMPP.ConnectionNumberOfEntries"), "1");
    assert_eq!(get1(&mut dm, &format!("{C}ServerNumberOfEntries")), "1");
    assert_eq!(get1(&mut dm, &format!("{C}Domain")), "xmpp.example");
    assert_eq!(get1(&mut dm, &format!("{C}Resource")), "cwmp");
    assert_eq!(
        get1(&mut dm, &format!("{C}Server.1.ServerAddress")),
        "10.0.0.7"
    );
    assert_eq!(get1(&mut dm, &format!("{C}Server.1.Port")), "5222");
    assert_eq!(
        get1(&mut dm, &format!("{C}ServerConnectAlgorithm")),
        "ServerTable"
    );
    // Not bound yet, then bound (the thread's published JID).
    assert_eq!(get1(&mut dm, &format!("{C}Status")), "Connecting");
    assert_eq!(get1(&mut dm, &format!("{C}TLSEstablished")), "false");
    let jid_file = dir.join(crate::xmpp::client::JID_FILE);
    std::fs::write(&jid_file, "cpe@xmpp.example/cwmp\n").unwrap();
    assert_eq!(get1(&mut dm, &format!("{C}Status")), "Enabled");
    assert_eq!(
        get1(&mut dm, &format!("{C}JabberID")),
        "cpe@xmpp.example/cwmp"
    );
    assert_eq!(get1(&mut dm, &format!("{C}TLSEstablished")), "true");
    // The ACS configures it through the options the thread follows.
    dm.set_values(&[sv(&format!("{C}Username"), "cpe2")])
        .unwrap();
    assert_eq!(get1(&mut dm, &format!("{C}Username")), "cpe2");
    dm.set_values(&[sv(&format!("{C}Enable"), "false")])
        .unwrap();
    assert_eq!(get1(&mut dm, &format!("{C}Status")), "Disabled");
    // One row: no second connection, no deleting it; no second instance either.
    assert!(dm.add_object("Device.XMPP.Connection.").is_err());
    assert!(dm.delete_object(C).is_err());
    assert!(dm.get_values("Device.XMPP.Connection.2.").is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn xmpp_servers_are_rows_of_the_server_option_and_the_algorithm_is_writable() {
    const C: &str = "Device.XMPP.Connection.1.";
    let dir = tmpdir();
    let mut cfg = MemConfigStore::default();
    for (k, v) in [
        ("xmpp_server", "a.example 10.0.0.2:5223"),
        ("xmpp_port", "5300"),
    ] {
        cfg.values.insert(("cpe".into(), k.into()), v.into());
    }
    let mut dm = EmbeddedDataModel::new(&dir, Box::new(cfg));
    let get = |dm: &mut EmbeddedDataModel, p: &str| get1(dm, &format!("{C}{p}"));
    let opt = |dm: &EmbeddedDataModel, o: &str| dm.config().get("cpe", o).unwrap_or_default();
    let code = |dm: &mut EmbeddedDataModel, p: &str, v: &str| {
        dm.set_values(&[sv(&format!("{C}{p}"), v)])
            .unwrap_err()
            .param_faults[0]
            .code
            .0
    };
    assert_eq!(
        get1(&mut dm, "Device.XMPP.SupportedServerConnectAlgorithms"),
        "DNS-SRV,DNS,ServerTable"
    );
    assert_eq!(get(&mut dm, "ServerNumberOfEntries"), "2");
    assert_eq!(get(&mut dm, "ServerConnectAlgorithm"), "ServerTable");
    let row = |dm: &mut EmbeddedDataModel, i: u32| -> Vec<String> {
        ["Alias", "Priority", "ServerAddress", "Port"]
            .iter()
            .map(|c| get(dm, &format!("Server.{i}.{c}")))
            .collect()
    };
    assert_eq!(row(&mut dm, 1), ["cpe-1", "0", "a.example", "5300"]);
    assert_eq!(row(&mut dm, 2), ["cpe-2", "1", "10.0.0.2", "5223"]);
    assert!(dm.get_values(&format!("{C}Server.3.")).is_err());
    // The algorithm: supported ones are stored, others are 9007 (WebSocket is in TR-181's
    // enumeration but not implemented).
    for bad in ["WebSocket", "dns", "", "DNS-SRV,DNS"] {
        assert_eq!(code(&mut dm, "ServerConnectAlgorithm", bad), 9007, "{bad}");
    }
    assert_eq!(opt(&dm, "xmpp_server_algorithm"), "");
    dm.set_values(&[sv(&format!("{C}ServerConnectAlgorithm"), "DNS-SRV")])
        .unwrap();
    assert_eq!(opt(&dm, "xmpp_server_algorithm"), "DNS-SRV");
    assert_eq!(get(&mut dm, "ServerConnectAlgorithm"), "DNS-SRV");
    // Rows edit their entry; the others are kept.
    dm.set_values(&[
        sv(&format!("{C}Server.2.Port"), "5224"),
        sv(&format!("{C}Server.1.ServerAddress"), "b.example"),
    ])
    .unwrap();
    assert_eq!(opt(&dm, "xmpp_server"), "b.example 10.0.0.2:5224");
    assert_eq!(opt(&dm, "xmpp_port"), "5300");
    // Read-only: Priority (the position), the Alias of rows after the first; bad values.
    assert_eq!(code(&mut dm, "Server.1.Priority", "5"), 9008);
    assert_eq!(code(&mut dm, "Server.2.Alias", "x"), 9008);
    assert_eq!(code(&mut dm, "Server.1.ServerAddress", "h:5222"), 9007);
    assert_eq!(code(&mut dm, "Server.1.ServerAddress", "a b"), 9007);
    assert_eq!(code(&mut dm, "Server.1.Port", "0"), 9007);
    assert_eq!(code(&mut dm, "Server.3.Port", "1"), 9005);
    assert!(dm.add_object(&format!("{C}Server.")).is_err());
    // An empty address removes its entry: the rows renumber.
    dm.set_values(&[sv(&format!("{C}Server.1.ServerAddress"), "")])
        .unwrap();
    assert_eq!(opt(&dm, "xmpp_server"), "10.0.0.2:5224");
    assert_eq!(get(&mut dm, "ServerNumberOfEntries"), "1");
    dm.set_values(&[sv(&format!("{C}Server.1.ServerAddress"), "")])
        .unwrap();
    // None left: one empty row, as before; writing it is the single-server option.
    assert_eq!(get(&mut dm, "ServerNumberOfEntries"), "1");
    assert_eq!(row(&mut dm, 1), ["cpe-1", "0", "", "5300"]);
    dm.set_values(&[
        sv(&format!("{C}Server.1.ServerAddress"), "2001:db8::7"),
        sv(&format!("{C}Server.1.Port"), "5333"),
    ])
    .unwrap();
    assert_eq!(opt(&dm, "xmpp_server"), "2001:db8::7");
    assert_eq!(opt(&dm, "xmpp_port"), "5333");
    assert_eq!(row(&mut dm, 1), ["cpe-1", "0", "2001:db8::7", "5333"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn xmpp_algorithm_defaults_to_dns_srv_without_servers() {
    let dir = tmpdir();
    let mut dm = mk(&dir);
    const C: &str = "Device.XMPP.Connection.1.";
    assert_eq!(
        get1(&mut dm, &format!("{C}ServerConnectAlgorithm")),
        "DNS-SRV"
    );
    assert_eq!(get1(&mut dm, &format!("{C}ServerNumberOfEntries")), "1");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn get_parameter_names_offers_for_writing_exactly_what_spv_takes() {
    // Every parameter of the model, with two XMPP servers (rows past the first have fewer
    // writable columns): a parameter GPN calls writable is not refused by SPV as read-only,
    // and one it calls read-only is (9008). The value written is the current one, so a
    // refusal for the value itself (9007: e.g. DiagnosticsState other than Requested) is
    // not what this checks.
    let dir = tmpdir();
    let mut cfg = MemConfigStore::default();
    cfg.values.insert(
        ("cpe".into(), "xmpp_server".into()),
        "a.example 10.0.0.2:5223".into(),
    );
    let mut dm = EmbeddedDataModel::new(&dir, Box::new(cfg));
    let names = dm.get_names("Device.", false).unwrap();
    let params: Vec<_> = names.iter().filter(|p| !p.name.ends_with('.')).collect();
    assert!(params.len() > 200, "{}", params.len());
    assert!(params.iter().any(|p| p.writable) && params.iter().any(|p| !p.writable));
    for p in params {
        let value = get1(&mut dm, &p.name);
        let refused_read_only = match dm.set_values(&[sv(&p.name, &value)]) {
            Ok(_) => false,
            Err(f) => f.param_faults.iter().any(|pf| pf.code.0 == 9008),
        };
        assert_eq!(
            refused_read_only,
            !p.writable,
            "{}: GPN writable={} but SPV {}",
            p.name,
            p.writable,
            if refused_read_only {
                "refused it as read-only"
            } else {
                "took it"
            }
        );
    }
}
