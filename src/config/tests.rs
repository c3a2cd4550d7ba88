use super::*;

const F: &str = "/etc/config/cwmp";

fn load(text: &str) -> (Config, Vec<String>) {
    Config::from_str(text, F).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> String {
    Config::from_str(text, F).unwrap_err().to_string()
}

#[test]
fn empty_file_gives_every_c_default() {
    let (c, w) = load("");
    assert!(w.is_empty());
    assert_eq!(c, Config::default());
    // The C daemon's effective defaults (icwmp-c.md section 3), spelled out.
    let a = &c.acs;
    assert_eq!(a.url, "");
    assert_eq!(a.effective_url(), "");
    assert!(!a.dhcp_discovery && !a.insecure_enable && !a.http_disable_100continue);
    assert_eq!(a.ssl_capath, "/etc/ssl/certs");
    assert_eq!(
        (a.retry_min_wait_interval, a.retry_interval_multiplier),
        (5, 2000)
    );
    assert_eq!(a.compression, Compression::None);
    assert!(a.get_rpc_methods);
    assert!(!a.periodic_inform_enable);
    assert_eq!(a.periodic_inform_interval, 86400);
    assert_eq!(a.periodic_inform_time, None);
    assert_eq!(
        (a.heartbeat_enable, a.heartbeat_interval, a.heartbeat_time),
        (false, 30, None)
    );
    let p = &c.cpe;
    assert!(p.enable);
    assert_eq!(p.default_wan_interface, "wan");
    assert_eq!((p.port, p.path.as_str(), p.cr_timeout), (7547, "/", 5));
    assert!(p.http_cr_enable && p.cr_host.is_empty());
    assert_eq!(p.incoming_rule, IncomingRule::PortOnly);
    assert_eq!(p.log_severity, LogSeverity::Info);
    assert_eq!(
        (p.log_to_console, p.log_to_file, p.log_to_syslog),
        (false, false, true)
    );
    assert_eq!(
        (p.log_file_name.as_str(), p.log_max_size),
        ("/var/log/icwmpd.log", 102400)
    );
    assert_eq!((p.amd_version, p.instance_mode), (5, InstanceMode::Number));
    assert_eq!((p.session_timeout, p.periodic_notify_interval), (60, 10));
    assert_eq!((p.active_notif_throttle, p.md_notif_limit), (0, 0));
    assert!(p.fw_upgrade_keep_settings && !p.force_ipv4 && !p.exec_download);
    assert_eq!((p.schedule_reboot, p.delay_reboot), (None, None));
    assert!(p.cr_allowed_sources.is_empty() && p.reboot_command.is_empty());
    assert_eq!(p.identity, Identity::default());
    assert_eq!(
        (c.lwn.enable, c.lwn.hostname.as_str(), c.lwn.port),
        (false, "", 7547)
    );
    assert!(c.inform_parameters.is_empty());
    assert_eq!((c.transfer_complete, c.du_state_change), (None, None));
    // Empty values mean "default" too, as in C.
    let (c2, _) = load("config acs 'acs'\n\toption ssl_capath ''\n\toption get_rpc_methods ''\nconfig cpe 'cpe'\n\toption port ''\n");
    assert_eq!(c2, Config::default());
}

#[test]
fn reads_every_option() {
    let text = "\
config acs 'acs'
\toption url 'https://acs.example/cwmp'
\toption dhcp_discovery 'enable'
\toption dhcp_url 'http://dhcp.example/'
\toption userid 'u'
\toption passwd 'p'
\toption ssl_capath '/ca'
\toption ssl_cafile '/ca.pem'
\toption ssl_clientcert '/c.pem'
\toption ssl_clientkey '/k.pem'
\toption insecure_enable 'yes'
\toption http_disable_100continue 'on'
\toption retry_min_wait_interval '7'
\toption dhcp_retry_min_wait_interval '9'
\toption retry_interval_multiplier '3000'
\toption compression 'GZIP'
\toption get_rpc_methods 'false'
\toption periodic_inform_enable 'true'
\toption periodic_inform_interval '600'
\toption periodic_inform_time '2024-01-02T03:04:05Z'
\toption heartbeat_enable '1'
\toption heartbeat_interval '120'
\toption heartbeat_time '1970-01-01T00:01:00'
\toption skip_dhcp_boot_options '1'

config cpe 'cpe'
\toption enable '0'
\toption default_wan_interface 'wan6'
\toption default_lan_interface 'lan'
\toption disable_gatewayinfo '1'
\toption userid 'cu'
\toption passwd 'cp'
\toption port '30005'
\toption path 'cr'
\toption cr_timeout '9'
\toption http_cr_enable '0'
\toption cr_host ' 2001:db8::1 '
\tlist cr_allowed_sources '10.0.0.1'
\tlist cr_allowed_sources '10.0.0.2 fe80::1'
\toption incoming_rule 'IP_Port'
\toption log_severity 'debug'
\toption log_to_console '1'
\toption log_to_file '1'
\toption log_to_syslog '0'
\toption log_file_name '/tmp/l'
\toption log_max_size '5000'
\toption amd_version '6'
\toption instance_mode 'InstanceAlias'
\toption session_timeout '300'
\toption periodic_notify_enable '1'
\toption periodic_notify_interval '20'
\toption active_notif_throttle '15'
\toption md_notif_limit '4'
\toption custom_notify_json '/etc/n.json'
\toption forced_inform_json '/etc/f.json'
\toption force_ipv4 '1'
\toption fw_upgrade_keep_settings '0'
\toption schedule_reboot '2030-01-01T00:00:00Z'
\toption delay_reboot '30'
\toption exec_download '1'
\toption ParameterKey 'pk'
\toption manufacturer 'M'
\toption manufacturer_oui '00AA00'
\toption product_class 'PC'
\toption serial_number 'SN'
\toption model_name 'MN'
\toption description 'D'
\toption software_version 'SV'
\toption hardware_version 'HV'
\toption provisioning_code 'PRV'
\toption reboot_command 'reboot'
\toption factory_reset_command 'firstboot -y && reboot'
\toption firmware_upgrade_command 'sysupgrade $FILE'
\toption config_import_command 'imp'
\toption config_export_command 'exp'
\toption log_export_command 'logread'

config lwn 'lwn'
\toption enable '1'
\toption hostname 'lw.example'
\toption port '7000'
\toption trigger_interval '60'
\toption trigger_time '2024-01-02T03:04:05Z'

config transfer_complete 'tc'
\toption enable '1'
\toption transfer_type 'Download'
\toption result_type 'Both'
\toption file_type '1 Firmware Upgrade Image'

config du_state_change 'du'
\toption enable '1'
\toption operation_type 'Install'
\toption result_type 'Failure'
\toption fault_code '9001'
";
    let (c, w) = load(text);
    assert!(w.is_empty(), "{w:?}");
    let a = &c.acs;
    assert_eq!(a.effective_url(), "http://dhcp.example/");
    assert_eq!(
        (a.userid.as_str(), a.passwd.as_str(), a.ssl_capath.as_str()),
        ("u", "p", "/ca")
    );
    assert_eq!(
        (
            a.ssl_cafile.as_str(),
            a.ssl_clientcert.as_str(),
            a.ssl_clientkey.as_str()
        ),
        ("/ca.pem", "/c.pem", "/k.pem")
    );
    assert!(a.insecure_enable && a.http_disable_100continue && a.skip_dhcp_boot_options);
    // dhcp_discovery: DHCP-provided min wait wins, the plain multiplier is used.
    assert_eq!(
        (a.retry_min_wait_interval, a.retry_interval_multiplier),
        (9, 3000)
    );
    assert_eq!(a.compression, Compression::Gzip);
    assert!(!a.get_rpc_methods && a.periodic_inform_enable && a.heartbeat_enable);
    assert_eq!(a.periodic_inform_interval, 600);
    assert_eq!(a.periodic_inform_time, Some(1_704_164_645));
    assert_eq!((a.heartbeat_interval, a.heartbeat_time), (120, Some(60)));
    let p = &c.cpe;
    assert!(!p.enable && p.disable_gatewayinfo && p.force_ipv4 && p.exec_download);
    assert_eq!(
        (
            p.default_wan_interface.as_str(),
            p.default_lan_interface.as_str()
        ),
        ("wan6", "lan")
    );
    assert_eq!(
        (
            p.userid.as_str(),
            p.passwd.as_str(),
            p.port,
            p.path.as_str()
        ),
        ("cu", "cp", 30005, "/cr")
    );
    assert_eq!(p.cr_timeout, 9);
    assert!(!p.http_cr_enable);
    assert_eq!(p.cr_host, "2001:db8::1");
    assert_eq!(p.cr_allowed_sources, ["10.0.0.1", "10.0.0.2", "fe80::1"]);
    assert_eq!(p.incoming_rule, IncomingRule::IpPort);
    assert_eq!(p.log_severity, LogSeverity::Debug);
    assert_eq!(
        (p.log_to_console, p.log_to_file, p.log_to_syslog),
        (true, true, false)
    );
    assert_eq!((p.log_file_name.as_str(), p.log_max_size), ("/tmp/l", 5000));
    assert_eq!(
        (p.amd_version, p.instance_mode, p.session_timeout),
        (6, InstanceMode::Alias, 300)
    );
    assert!(p.periodic_notify_enable && !p.fw_upgrade_keep_settings);
    assert_eq!(
        (
            p.periodic_notify_interval,
            p.active_notif_throttle,
            p.md_notif_limit
        ),
        (20, 15, 4)
    );
    assert_eq!(
        (p.custom_notify_json.as_str(), p.forced_inform_json.as_str()),
        ("/etc/n.json", "/etc/f.json")
    );
    assert_eq!(
        (p.schedule_reboot, p.delay_reboot),
        (Some(1_893_456_000), Some(30))
    );
    assert_eq!(p.parameter_key, "pk");
    let i = &p.identity;
    let got = [
        &i.manufacturer,
        &i.manufacturer_oui,
        &i.product_class,
        &i.serial_number,
        &i.model_name,
        &i.description,
        &i.software_version,
        &i.hardware_version,
        &i.provisioning_code,
    ];
    let want = ["M", "00AA00", "PC", "SN", "MN", "D", "SV", "HV", "PRV"];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.as_deref(), Some(w));
    }
    assert_eq!(p.reboot_command, "reboot");
    assert_eq!(p.factory_reset_command, "firstboot -y && reboot");
    assert_eq!(p.firmware_upgrade_command, "sysupgrade $FILE");
    assert_eq!(
        (
            p.config_import_command.as_str(),
            p.config_export_command.as_str(),
            p.log_export_command.as_str()
        ),
        ("imp", "exp", "logread")
    );
    assert_eq!(
        c.lwn,
        LwnConfig {
            enable: true,
            hostname: "lw.example".into(),
            port: 7000,
            trigger_interval: 60,
            trigger_time: Some(1704164645),
        }
    );
    let tc = c.transfer_complete.unwrap();
    assert_eq!(
        (
            tc.enable,
            tc.transfer_type.as_str(),
            tc.result_type.as_str(),
            tc.file_type.as_str()
        ),
        (true, "Download", "Both", "1 Firmware Upgrade Image")
    );
    let du = c.du_state_change.unwrap();
    assert_eq!(
        (
            du.enable,
            du.operation_type.as_str(),
            du.result_type.as_str(),
            du.fault_code.as_str()
        ),
        (true, "Install", "Failure", "9001")
    );
}

#[test]
fn out_of_range_values_fall_back_like_c_with_a_warning() {
    // (section, option, value, field reader, expected)
    type Get = fn(&Config) -> u64;
    let cases: &[(&str, &str, &str, Get, u64)] = &[
        (
            "acs",
            "retry_min_wait_interval",
            "0",
            |c| c.acs.retry_min_wait_interval.into(),
            5,
        ),
        (
            "acs",
            "retry_min_wait_interval",
            "65536",
            |c| c.acs.retry_min_wait_interval.into(),
            5,
        ),
        (
            "acs",
            "retry_interval_multiplier",
            "999",
            |c| c.acs.retry_interval_multiplier.into(),
            2000,
        ),
        (
            "acs",
            "retry_interval_multiplier",
            "70000",
            |c| c.acs.retry_interval_multiplier.into(),
            2000,
        ),
        (
            "acs",
            "periodic_inform_interval",
            "0",
            |c| c.acs.periodic_inform_interval.into(),
            86400,
        ),
        (
            "acs",
            "periodic_inform_interval",
            "-5",
            |c| c.acs.periodic_inform_interval.into(),
            86400,
        ),
        (
            "acs",
            "heartbeat_interval",
            "0",
            |c| c.acs.heartbeat_interval.into(),
            30,
        ),
        ("cpe", "amd_version", "0", |c| c.cpe.amd_version.into(), 5),
        ("cpe", "amd_version", "7", |c| c.cpe.amd_version.into(), 5),
        ("cpe", "port", "0", |c| c.cpe.port.into(), 7547),
        ("cpe", "port", "65536", |c| c.cpe.port.into(), 7547),
        (
            "cpe",
            "session_timeout",
            "0",
            |c| c.cpe.session_timeout.into(),
            60,
        ),
        ("cpe", "cr_timeout", "-1", |c| c.cpe.cr_timeout.into(), 5),
        (
            "cpe",
            "periodic_notify_interval",
            "0",
            |c| c.cpe.periodic_notify_interval.into(),
            10,
        ),
        (
            "cpe",
            "active_notif_throttle",
            "-3",
            |c| c.cpe.active_notif_throttle.into(),
            0,
        ),
        (
            "cpe",
            "md_notif_limit",
            "-3",
            |c| c.cpe.md_notif_limit.into(),
            0,
        ),
        ("cpe", "log_max_size", "-1", |c| c.cpe.log_max_size, 102400),
        (
            "cpe",
            "max_message_size",
            "100",
            |c| c.cpe.max_message_size.into(),
            4 << 20,
        ),
        (
            "cpe",
            "max_params_per_request",
            "0",
            |c| c.cpe.max_params_per_request.into(),
            1024,
        ),
        ("lwn", "port", "99999", |c| c.lwn.port.into(), 7547),
    ];
    for (sec, opt, val, get, want) in cases {
        let text = format!("config {sec} '{sec}'\n\toption {opt} '{val}'\n");
        let (c, w) = load(&text);
        assert_eq!(get(&c), *want, "{sec}.{opt}={val}");
        assert_eq!(w.len(), 1, "{sec}.{opt}={val}: {w:?}");
        assert!(
            w[0].starts_with(&format!("{F}:2: {sec}.{opt}: {val} is ")),
            "{}",
            w[0]
        );
    }
    // Any interval from 1 s runs as written (the C daemon turned < 60 into 86400).
    let (c, w) = load("config acs\n\toption periodic_inform_interval 30\n");
    assert_eq!((c.acs.periodic_inform_interval, w.len()), (30, 0), "{w:?}");
    let (_, w) = load("config acs\n\toption periodic_inform_interval 0\n");
    assert_eq!(
        w,
        ["/etc/config/cwmp:2: acs.periodic_inform_interval: 0 is below 1, using 86400"]
    );
    let (c, w) = load("config acs\n\toption heartbeat_interval 29\n");
    assert_eq!(c.acs.heartbeat_interval, 30);
    assert_eq!(
        w,
        ["/etc/config/cwmp:2: acs.heartbeat_interval: 29 is below 30, using 30"]
    );
    // Boundaries are accepted silently.
    let (c, w) = load("config acs\n\toption retry_min_wait_interval 65535\n\toption retry_interval_multiplier 1000\n\toption periodic_inform_interval 60\nconfig cpe\n\toption amd_version 1\n\toption delay_reboot -1\n");
    assert!(
        w.len() == 2 && w.iter().all(|w| w.contains("amd_version 1 (needs 3)")),
        "{w:?}"
    );
    assert_eq!(
        (
            c.acs.retry_min_wait_interval,
            c.acs.retry_interval_multiplier
        ),
        (5, 2000)
    );
    assert_eq!(
        (
            c.acs.periodic_inform_interval,
            c.cpe.amd_version,
            c.cpe.delay_reboot
        ),
        (60, 1, None)
    );
}

#[test]
fn amendment_gates_compression_and_unknown_enums_warn() {
    let (c, w) =
        load("config cpe\n\toption amd_version 4\nconfig acs\n\toption compression deflate\n");
    assert_eq!(c.acs.compression, Compression::None);
    assert_eq!(
        w,
        ["/etc/config/cwmp:4: acs.compression: ignored with amd_version 4 (needs 5)"]
    );
    let (c, w) = load("config acs\n\toption compression Disabled\n");
    assert_eq!((c.acs.compression, w.len()), (Compression::None, 0));
    let (c, w) = load("config acs\n\toption compression lz4\nconfig cpe\n\toption log_severity LOUD\n\toption instance_mode Foo\n\toption incoming_rule x\n");
    assert_eq!(c.acs.compression, Compression::None);
    assert_eq!(c.cpe.log_severity, LogSeverity::Info);
    assert_eq!(c.cpe.instance_mode, InstanceMode::Alias);
    assert_eq!(c.cpe.incoming_rule, IncomingRule::PortOnly);
    assert_eq!(w.len(), 4, "{w:?}");
    for (v, want) in [
        ("ERR", LogSeverity::Error),
        ("warn", LogSeverity::Warning),
        ("CRITICAL", LogSeverity::Critic),
        ("EMERG", LogSeverity::Emerg),
        ("notice", LogSeverity::Notice),
    ] {
        let (c, w) = load(&format!("config cpe\n\toption log_severity {v}\n"));
        assert_eq!((c.cpe.log_severity, w.len()), (want, 0), "{v}");
    }
    assert_eq!(LogSeverity::Warning.level_filter(), log::LevelFilter::Warn);
}

#[test]
fn booleans_accept_the_c_forms() {
    let truthy = ["1", "true", "TRUE", "on", "yes", "enable", "enabled", "Yes"];
    let falsy = ["0", "false", "off", "no", "disable", "disabled", "No"];
    for (vals, want) in [(&truthy[..], true), (&falsy[..], false)] {
        for v in vals {
            let (c, _) = load(&format!(
                "config cpe\n\toption force_ipv4 '{v}'\n\toption enable '{v}'\n"
            ));
            assert_eq!((c.cpe.force_ipv4, c.cpe.enable), (want, want), "{v}");
        }
    }
    for v in ["maybe", "y", "2x", "-"] {
        assert_eq!(
            err(&format!("config cpe\n\toption force_ipv4 '{v}'\n")),
            format!("{F}:2: cpe.force_ipv4: invalid boolean '{v}' (expected 1/true/on/yes/enable or 0/false/off/no/disable)")
        );
    }
}

#[test]
fn unparseable_values_are_errors_with_line_numbers() {
    let cases: &[(&str, &str)] = &[
        ("config cpe 'cpe'\n\n\toption port 'abc'\n", "/etc/config/cwmp:3: cpe.port: invalid number 'abc'"),
        ("config acs\n\toption periodic_inform_interval 1h\n", "/etc/config/cwmp:2: acs.periodic_inform_interval: invalid number '1h'"),
        ("config acs\n\toption periodic_inform_time 'tomorrow'\n", "/etc/config/cwmp:2: acs.periodic_inform_time: invalid date-time 'tomorrow' (expected YYYY-MM-DDTHH:MM:SS)"),
        ("config acs\n\toption heartbeat_time '2024-01-01T00:00:0é'\n", "/etc/config/cwmp:2: acs.heartbeat_time: invalid date-time '2024-01-01T00:00:0é' (expected YYYY-MM-DDTHH:MM:SS)"),
        ("config acs\n\tlist url 'a'\n", "/etc/config/cwmp:2: acs.url: must be an 'option', not a 'list'"),
        ("config lwn\n\n\n\toption enable maybe\n", "/etc/config/cwmp:4: lwn.enable: invalid boolean 'maybe' (expected 1/true/on/yes/enable or 0/false/off/no/disable)"),
        ("config inform_parameter\n\toption enable 'x'\n", "/etc/config/cwmp:2: inform_parameter.enable: invalid boolean 'x' (expected 1/true/on/yes/enable or 0/false/off/no/disable)"),
        ("config cpe\n\toption port '99999999999999999999'\n", "/etc/config/cwmp:2: cpe.port: invalid number '99999999999999999999'"),
        ("config cpe\n\toption port '1\n", "/etc/config/cwmp:2: unterminated quote in option 'port'"),
    ];
    for (text, want) in cases {
        assert_eq!(err(text), *want);
    }
}

#[test]
fn unknown_time_and_zero_mean_unset() {
    let (c, w) = load("config acs\n\toption periodic_inform_time '0001-01-01T00:00:00Z'\n\toption heartbeat_time 0\n");
    assert_eq!(
        (c.acs.periodic_inform_time, c.acs.heartbeat_time, w.len()),
        (None, None, 0)
    );
}

#[test]
fn sections_are_found_by_type_and_the_last_wins() {
    let (c, w) = load("config cpe 'whatever'\n\toption port 1000\nconfig acs\n\toption url 'http://x/'\nconfig cpe\n\toption port 2000\n");
    assert_eq!((c.cpe.port, c.acs.url.as_str()), (2000, "http://x/"));
    assert_eq!(
        w,
        ["/etc/config/cwmp:5: 2 sections of type 'cpe'; only the last one is used"]
    );
}

#[test]
fn inform_parameter_sections() {
    let text = "\
config inform_parameter 'ip1'
\toption enable '1'
\toption parameter_name 'Device.DeviceInfo.UpTime'
\toption events_list '1 BOOT, 2 PERIODIC'
\toption informparam_alias 'cpe-1'
config acs 'acs'
config inform_parameter
\toption enable 'false'
\toption parameter_name 'Device.X.'
\tlist events_list '6 CONNECTION REQUEST'
\tlist events_list 'M Reboot'
config inform_parameter
";
    let (c, w) = load(text);
    assert!(w.is_empty());
    let ip = &c.inform_parameters;
    assert_eq!(ip.len(), 3);
    assert_eq!(
        ip[0],
        InformParameter {
            section: "ip1".into(),
            enable: true,
            parameter_name: "Device.DeviceInfo.UpTime".into(),
            events_list: vec!["1 BOOT".into(), "2 PERIODIC".into()],
            alias: "cpe-1".into(),
        }
    );
    assert!(!ip[1].enable);
    assert!(ip[1].section.starts_with("cfg03") && ip[1].section.len() == 9);
    assert_eq!(ip[1].events_list, ["6 CONNECTION REQUEST", "M Reboot"]);
    assert_eq!(
        ip[2],
        InformParameter {
            section: ip[2].section.clone(),
            ..Default::default()
        }
    );
}

#[test]
fn decoding_budgets_come_from_cpe_options() {
    let (c, w) = load("config cpe 'cpe'\n\toption max_message_size '1048576'\n\toption max_params_per_request '5000'\n");
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c.cpe.limits(),
        crate::soap::Limits {
            max_message: 1 << 20,
            max_names: 5000
        }
    );
    assert_eq!(load("").0.cpe.limits(), crate::soap::Limits::default());
}

#[test]
fn operations_options_fallback_proxy_log_ms_metrics() {
    let (c, w) = load("");
    assert_eq!((c.ops, w.len()), (super::OpsConfig::default(), 0));
    let d = super::OpsConfig::default();
    assert_eq!(
        (d.fallback_enable, d.fallback_attempts, d.fallback_time),
        (true, 5, 600)
    );
    let (c, w) = load(
        "config acs\n\toption fallback_enable 0\n\toption fallback_attempts 2\n\
         \toption fallback_time 0\n\toption fallback_retry_interval 30\n\
         \toption http_proxy ' http://u:p@px:3128 '\n\toption http_proxy_env 1\n\
         config cpe\n\toption log_timestamp_ms 1\n\toption metrics_file '/tmp/m.json'\n",
    );
    assert!(w.is_empty(), "{w:?}");
    let o = c.ops;
    assert_eq!(
        (o.fallback_enable, o.fallback_attempts, o.fallback_time),
        (false, 2, 0)
    );
    assert_eq!(o.fallback_retry_interval, 30);
    assert_eq!(
        (o.http_proxy.as_str(), o.http_proxy_env),
        ("http://u:p@px:3128", true)
    );
    assert_eq!(
        (o.log_timestamp_ms, o.metrics_file.as_str()),
        (true, "/tmp/m.json")
    );
    // Out of range: the default and a warning; not a number: an error.
    let (c, w) = load("config acs\n\toption fallback_retry_interval 0\n");
    assert_eq!((c.ops.fallback_retry_interval, w.len()), (3600, 1));
    assert!(err("config acs\n\toption fallback_attempts x\n").contains("fallback_attempts"));
}
