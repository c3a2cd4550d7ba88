use super::*;
use crate::config::{Config, UciConfigStore};
use crate::datamodel::ConfigStore;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("icwmp-stunlegacy-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const CWMP: &str = "config acs 'acs'\n\toption url 'http://acs.example/'\n\
                    config cpe 'cpe'\n\toption port '7600'\n";

#[test]
fn option_names_both_ways() {
    assert_eq!(Legacy::Stunc.option_for("stun_enable"), Some("enabled"));
    assert_eq!(
        Legacy::CwmpStun.option_for("stun_enable"),
        None,
        "init script"
    );
    for l in Legacy::ALL {
        assert_eq!(l.option_for("stun_server_port"), Some("server_port"));
        assert_eq!(l.option_for("stun_max_keepalive"), Some("max_keepalive"));
        assert_eq!(l.option_for("port"), None);
    }
    let p = Path::new("/etc/config/cwmp");
    assert_eq!(Legacy::Stunc.path(p), Path::new("/etc/config/stunc"));
    assert_eq!(Legacy::CwmpStun.path(p), Path::new("/etc/config/cwmp_stun"));
}

#[test]
fn stunc_feeds_the_stun_config_and_wins_over_cwmp() {
    let d = dir("load");
    let cwmp = d.join("cwmp");
    let text = format!(
        "{CWMP}\toption stun_server_address 'cwmp.example'\n\toption stun_username 'cu'\n\
         \toption stun_enable '0'\n\toption stun_server_port '3478'\n\
         \toption stun_max_keepalive '90'\n"
    );
    std::fs::write(&cwmp, text).unwrap();
    let (c, _) = Config::load(&cwmp).unwrap();
    assert_eq!(c.stun.legacy, None);
    assert_eq!(c.stun.server_address, "cwmp.example");
    std::fs::write(
        d.join("stunc"),
        "config stunc 'stunc'\n\toption enabled '1'\n\toption server_address 'stun.example'\n\
         \toption server_port '3479'\n\toption password 'lp'\n\toption min_keepalive '20'\n\
         \toption max_keepalive '60'\n\toption client_port '7601'\n\toption username ''\n",
    )
    .unwrap();
    let (c, w) = Config::load(&cwmp).unwrap();
    assert_eq!(c.stun.legacy, Some(Legacy::Stunc));
    assert!(c.stun.enable);
    assert_eq!(
        c.stun.server_address, "stun.example",
        "the legacy file wins"
    );
    assert_eq!(c.stun.username, "cu", "empty in the legacy file: cwmp's");
    assert_eq!(
        (
            c.stun.server_port,
            c.stun.min_keepalive,
            c.stun.max_keepalive
        ),
        (3479, 20, 60)
    );
    assert_eq!((c.stun.password.as_str(), c.stun.client_port), ("lp", 7601));
    assert_eq!(c.cpe.port, 7600, "the rest of cwmp untouched");
    // Warned: the values someone chose in cwmp, not the shipped defaults.
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("stunc.server_address 'stun.example' overrides"),
        "{w:?}"
    );
    let max = "stunc.max_keepalive '60' overrides cwmp cpe.stun_max_keepalive '90'";
    assert!(w[1].contains(max), "{w:?}");
    // stunc disabled: off whatever cwmp says.
    let text = format!("{CWMP}\toption stun_enable '1'\n");
    std::fs::write(&cwmp, text).unwrap();
    std::fs::write(
        d.join("stunc"),
        "config stunc 'stunc'\n\toption enabled '0'\n",
    )
    .unwrap();
    assert!(!Config::load(&cwmp).unwrap().0.stun.enable);
    // No `enabled` in stunc: cwmp decides.
    std::fs::write(d.join("stunc"), "config stunc\n\toption server_port '1'\n").unwrap();
    let (c, _) = Config::load(&cwmp).unwrap();
    assert!(c.stun.enable);
    assert_eq!(
        c.stun.server_port, 1,
        "an anonymous section of the type is found"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn icwmp_stund_file_and_no_cpe_section() {
    let d = dir("stund");
    let cwmp = d.join("cwmp");
    std::fs::write(&cwmp, "config acs 'acs'\n").unwrap();
    std::fs::write(
        d.join("cwmp_stun"),
        "config stun 'stun'\n\toption server_address '192.0.2.1'\n\toption log_level '3'\n",
    )
    .unwrap();
    let (c, w) = Config::load(&cwmp).unwrap();
    assert_eq!(c.stun.legacy, Some(Legacy::CwmpStun));
    assert_eq!(c.stun.server_address, "192.0.2.1");
    assert!(!c.stun.enable, "no enable option in cwmp_stun");
    assert!(w.is_empty(), "{w:?}");
    // stunc is preferred when both exist.
    std::fs::write(d.join("stunc"), "config stunc 'stunc'\n").unwrap();
    let (c, _) = Config::load(&cwmp).unwrap();
    assert_eq!(c.stun.legacy, Some(Legacy::Stunc));
    assert_eq!(c.stun.server_address, "");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_broken_legacy_file_is_ignored_with_a_warning() {
    let d = dir("broken");
    let cwmp = d.join("cwmp");
    std::fs::write(&cwmp, format!("{CWMP}\toption stun_server_port '4000'\n")).unwrap();
    std::fs::write(
        d.join("stunc"),
        "config stunc 'stunc'\n\toption server_port 'abc'\n",
    )
    .unwrap();
    let (c, w) = Config::load(&cwmp).unwrap();
    assert_eq!(c.stun.server_port, 4000);
    assert_eq!(
        c.stun.legacy,
        Some(Legacy::Stunc),
        "its state is still written"
    );
    assert!(
        w.iter().any(|w| w.contains("STUN options not used")),
        "{w:?}"
    );
    std::fs::write(d.join("stunc"), "config stunc 'stunc\n").unwrap();
    let (c, w) = Config::load(&cwmp).unwrap();
    assert_eq!(c.stun.server_port, 4000);
    assert!(w.iter().any(|w| w.contains("unterminated")), "{w:?}");
    // A broken cwmp is still an error.
    std::fs::write(&cwmp, "config cpe 'cpe'\n\toption port 'x'\n").unwrap();
    assert!(Config::load(&cwmp).is_err());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_store_reads_and_writes_both_files() {
    let d = dir("store");
    let cwmp = d.join("cwmp");
    std::fs::write(&cwmp, CWMP).unwrap();
    let mut store = UciConfigStore::new(&cwmp);
    let set = |store: &mut UciConfigStore, o: &str, v: &str| {
        store
            .set(&[("cpe".to_string(), o.to_string(), v.to_string())])
            .unwrap()
    };
    // No legacy file: cwmp only, none created.
    set(&mut store, "stun_server_port", "3480");
    assert!(!d.join("stunc").exists() && !d.join("cwmp_stun").exists());
    std::fs::write(
        d.join("stunc"),
        "config stunc 'stunc'\n\toption enabled '1'\n\toption server_address 'a.example'\n",
    )
    .unwrap();
    assert_eq!(store.get("cpe", "stun_enable").as_deref(), Some("1"));
    assert_eq!(
        store.get("cpe", "stun_server_address").as_deref(),
        Some("a.example")
    );
    assert_eq!(
        store.get("cpe", "stun_server_port").as_deref(),
        Some("3480"),
        "cwmp's"
    );
    assert_eq!(store.get("cpe", "port").as_deref(), Some("7600"));
    store
        .set(&[
            ("cpe".into(), "stun_server_port".into(), "3481".into()),
            ("cpe".into(), "stun_enable".into(), "0".into()),
            ("cpe".into(), "port".into(), "7602".into()),
        ])
        .unwrap();
    let legacy = std::fs::read_to_string(d.join("stunc")).unwrap();
    assert_eq!(
        legacy,
        "\nconfig stunc 'stunc'\n\toption enabled '0'\n\toption server_address 'a.example'\n\
         \toption server_port '3481'\n\n"
    );
    let (c, _) = Config::load(&cwmp).unwrap();
    assert_eq!(
        (c.stun.enable, c.stun.server_port, c.cpe.port),
        (false, 3481, 7602)
    );
    let text = std::fs::read_to_string(&cwmp).unwrap();
    assert!(text.contains("option stun_server_port '3481'"), "{text}");
    assert!(text.contains("option stun_enable '0'"), "{text}");
    // An edit of the legacy file (LuCI) is what the store reads next.
    std::fs::write(
        d.join("stunc"),
        "config stunc 'stunc'\n\toption server_port '9'\n",
    )
    .unwrap();
    assert_eq!(store.get("cpe", "stun_server_port").as_deref(), Some("9"));
    assert_eq!(
        store.get("cpe", "stun_enable").as_deref(),
        Some("0"),
        "cwmp's again"
    );
    // cwmp_stun: no enable option written there.
    std::fs::remove_file(d.join("stunc")).unwrap();
    std::fs::write(d.join("cwmp_stun"), "config stun 'stun'\n").unwrap();
    store
        .set(&[
            ("cpe".into(), "stun_enable".into(), "1".into()),
            ("cpe".into(), "stun_username".into(), "u".into()),
        ])
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(d.join("cwmp_stun")).unwrap(),
        "\nconfig stun 'stun'\n\toption username 'u'\n\n"
    );
    let _ = std::fs::remove_dir_all(&d);
}
