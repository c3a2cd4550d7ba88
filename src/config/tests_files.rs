//! Config files on disk: atomic rewrites and the shipped default file.

use super::*;

#[test]
fn set_options_rewrites_atomically_preserving_the_rest() {
    let dir = std::env::temp_dir().join(format!("icwmp-config-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("cwmp");
    let missing = Config::load(&path).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with(&format!("cannot read {}: ", path.display())),
        "{missing}"
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &path,
        "config foo 'bar'\n\tlist x 'a b'\n# c\nconfig cpe 'cpe'\n\toption port '7547'\n",
    )
    .unwrap();
    set_options(
        &path,
        &[("cpe", "port", "7548"), ("acs", "url", "http://n/")],
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "\nconfig foo 'bar'\n\tlist x 'a b'\n\nconfig cpe 'cpe'\n\toption port '7548'\n\nconfig acs 'acs'\n\toption url 'http://n/'\n\n"
    );
    let (c, _) = Config::load(&path).unwrap();
    assert_eq!((c.cpe.port, c.acs.url.as_str()), (7548, "http://n/"));
    // Writing back the values already there leaves the file alone (same inode, no rename).
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&path).unwrap().ino();
    set_options(&path, &[("cpe", "port", "7548")]).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino, "rewritten");
    set_options(&path, &[("cpe", "port", "7549")]).unwrap();
    assert_ne!(std::fs::metadata(&path).unwrap().ino(), ino, "not written");
    // A file that does not parse is left alone.
    std::fs::write(&path, "config cpe\n\toption x 'y\n").unwrap();
    let e = set_options(&path, &[("cpe", "port", "1")]).unwrap_err();
    assert_eq!(e.line, 2);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "config cpe\n\toption x 'y\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shipped_default_config_parses_to_the_documented_values() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openwrt/files/etc/config/cwmp");
    let (c, w) = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.xmpp, XmppConfig::default());
    assert_eq!(c.acs.url, "");
    assert!(c.acs.periodic_inform_enable);
    assert_eq!(c.acs.periodic_inform_interval, 86400);
    assert_eq!(
        (
            c.acs.retry_min_wait_interval,
            c.acs.retry_interval_multiplier
        ),
        (5, 2000)
    );
    assert!(c.acs.get_rpc_methods);
    assert_eq!(c.acs.ssl_capath, "/etc/ssl/certs");
    assert!(c.cpe.enable);
    assert_eq!((c.cpe.port, c.cpe.path.as_str()), (7547, "/"));
    assert_eq!(
        (
            c.cpe.amd_version,
            c.cpe.instance_mode,
            c.cpe.session_timeout
        ),
        (5, InstanceMode::Number, 60)
    );
    assert_eq!(c.cpe.log_severity, LogSeverity::Info);
    assert_eq!((c.lwn.enable, c.lwn.port), (false, 7547));
    // Everything the file does not mention explicitly equals the built-in default.
    let mut d = Config::default();
    d.acs.periodic_inform_enable = true;
    d.cpe.periodic_notify_enable = true;
    // On OpenWrt the transfer hooks drive sysupgrade, uci and logread.
    let hook = |n: &str| format!("/usr/libexec/icwmpd/{n}");
    d.cpe.firmware_upgrade_command = hook("firmware-upgrade");
    d.cpe.config_import_command = hook("config-import");
    d.cpe.config_export_command = hook("config-export");
    d.cpe.log_export_command = hook("log-export");
    assert_eq!(c, d);
}

#[test]
fn xmpp_options_map_with_fallbacks() {
    let text = "config cpe 'cpe'\n\toption xmpp_enable '1'\n\toption xmpp_domain ' x.example '\n\
\toption xmpp_port '70000'\n\toption xmpp_resource ''\n\toption xmpp_use_tls '0'\n\
\toption xmpp_retry_multiplier '999'\n\toption xmpp_allowed_jids 'a@x, b@x/r c@x'\n";
    let (c, w) = Config::from_str(text, "cwmp").unwrap();
    let x = &c.xmpp;
    assert!(x.enable && !x.use_tls);
    assert_eq!(x.domain, "x.example");
    assert_eq!(
        (x.port, x.retry_multiplier),
        (5222, 2000),
        "out of range: defaults"
    );
    assert_eq!(x.resource, "cwmp");
    assert_eq!(x.allowed_jids, ["a@x", "b@x/r", "c@x"]);
    assert_eq!(w.len(), 2, "{w:?}");
}

#[test]
fn xmpp_servers_and_algorithm() {
    use crate::xmpp::servers::Algorithm;
    let parse = |extra: &str| {
        let text = format!("config cpe 'cpe'\n\toption xmpp_enable '1'\n{extra}");
        Config::from_str(&text, "cwmp").unwrap()
    };
    // Nothing set: DNS-SRV (RFC 6120 §3.2.1), no table.
    let (c, w) = parse("");
    assert_eq!(
        (c.xmpp.algorithm, c.xmpp.servers.len()),
        (Algorithm::DnsSrv, 0)
    );
    assert!(w.is_empty(), "{w:?}");
    // Today's single server keeps working: ServerTable by default.
    let (c, _) = parse("\toption xmpp_server ' 10.0.0.1 '\n");
    assert_eq!(c.xmpp.algorithm, Algorithm::ServerTable);
    assert_eq!(c.xmpp.servers[0].host, "10.0.0.1");
    assert_eq!(c.xmpp.servers[0].port, None);
    // Several, in one option or a list; a bad entry is skipped with a warning.
    let (c, w) = parse("\toption xmpp_server 'a:5223 b,[::1]:5224 bad:0'\n");
    let hosts: Vec<_> = c
        .xmpp
        .servers
        .iter()
        .map(|s| (s.host.as_str(), s.port))
        .collect();
    assert_eq!(hosts, [("a", Some(5223)), ("b", None), ("::1", Some(5224))]);
    assert_eq!(w.len(), 1, "{w:?}");
    let (c, _) = parse("\tlist xmpp_server 'a'\n\tlist xmpp_server 'b:1'\n");
    assert_eq!(c.xmpp.servers.len(), 2);
    // The option wins over the default; an unsupported one warns and falls back.
    let (c, _) = parse("\toption xmpp_server 'a'\n\toption xmpp_server_algorithm 'DNS'\n");
    assert_eq!(c.xmpp.algorithm, Algorithm::Dns);
    let (c, w) = parse("\toption xmpp_server_algorithm 'WebSocket'\n");
    assert_eq!(c.xmpp.algorithm, Algorithm::DnsSrv);
    assert!(w[0].contains("WebSocket"), "{w:?}");
}
