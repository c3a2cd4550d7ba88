//! Checks of the OpenWrt packaging in `openwrt/`: the shell files parse, every file the feed
//! Makefile installs exists, and the udhcpc option 43 hook, the uci-defaults script, the
//! transfer hooks and the init script's functions do the right thing when run by busybox sh
//! against OpenWrt's real `uci` (a temp config dir) and real ubusd/`ubus` (a private socket),
//! built by `make test-deps` ([`router::Router`]).

mod common;
#[path = "packaging/init.rs"]
mod init;
#[path = "packaging/router.rs"]
mod router;

use router::Router;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files() -> PathBuf {
    root().join("openwrt/files")
}

/// The shell files shipped in the package (run by OpenWrt's ash).
fn shell_files() -> Vec<PathBuf> {
    let f = files();
    let mut v = vec![
        f.join("etc/init.d/icwmpd"),
        f.join("etc/udhcpc.user.d/icwmpd-opt43"),
        f.join("etc/udhcpc.user.d/icwmpd-opt125"),
    ];
    let mut defaults: Vec<PathBuf> = std::fs::read_dir(f.join("etc/uci-defaults"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    defaults.sort();
    assert_eq!(defaults.len(), 1, "{defaults:?}");
    v.extend(defaults);
    for hook in [
        "firmware-upgrade",
        "config-import",
        "config-export",
        "log-export",
    ] {
        v.push(f.join("usr/libexec/icwmpd").join(hook));
    }
    v
}

#[test]
fn shell_files_parse_with_sh_n() {
    for f in shell_files() {
        let out = Command::new("sh").arg("-n").arg(&f).output().unwrap();
        assert!(
            out.status.success(),
            "sh -n {}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.starts_with("#!/bin/sh"), "{}", f.display());
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        // Bashisms that ash or dash would not run.
        for bad in [
            "[[",
            "function ",
            "${RANDOM",
            "$RANDOM",
            "<<<",
            "${!",
            "declare ",
        ] {
            assert!(!code.contains(bad), "{} uses {bad:?}", f.display());
        }
    }
    // cross.sh is bash; only check it when bash is there.
    if Command::new("bash").arg("-c").arg("true").status().is_ok() {
        let out = Command::new("bash")
            .arg("-n")
            .arg(root().join("cross/cross.sh"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `./files/...` sources of the Makefile's install commands.
fn installed_sources(makefile: &str) -> Vec<String> {
    makefile
        .split_whitespace()
        .filter(|w| w.starts_with("./files/"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn makefile_installs_files_that_exist_and_all_of_them() {
    let mk = std::fs::read_to_string(root().join("openwrt/Makefile")).unwrap();
    let srcs = installed_sources(&mk);
    for s in &srcs {
        assert!(root().join("openwrt").join(s).is_file(), "missing {s}");
    }
    for need in [
        "./files/etc/config/cwmp",
        "./files/etc/init.d/icwmpd",
        "./files/etc/udhcpc.user.d/icwmpd-opt43",
        "./files/etc/udhcpc.user.d/icwmpd-opt125",
        "./files/lib/upgrade/keep.d/icwmpd",
    ] {
        assert!(srcs.iter().any(|s| s == need), "{need} not installed");
    }
    // Nothing under files/ is left out of the package.
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut all = Vec::new();
    walk(&files(), &mut all);
    for p in all {
        let rel = format!(
            "./{}",
            p.strip_prefix(root().join("openwrt")).unwrap().display()
        );
        assert!(
            srcs.contains(&rel),
            "{rel} is not installed by the Makefile"
        );
    }
    // What the package promises.
    assert!(mk.contains("include $(TOPDIR)/feeds/packages/lang/rust/rust-package.mk"));
    // The OpenSSL package is `libopenssl` (libopenssl3 is only the .ipk's file name): an
    // unknown name is dropped by the scanner and the build fails on libssl.so.3.
    assert!(mk.contains("+libopenssl\n"), "DEPENDS names libopenssl");
    assert!(!mk.contains("+libopenssl3"));
    assert!(mk.contains("$(PKG_INSTALL_DIR)/bin/icwmpd $(1)/usr/sbin/icwmpd"));
    // The sources Build/Prepare copies exist.
    for p in ["Cargo.toml", "Cargo.lock", "src", "benches", ".cargo"] {
        assert!(root().join(p).exists(), "{p}");
    }
    let keep = std::fs::read_to_string(files().join("lib/upgrade/keep.d/icwmpd")).unwrap();
    // The state, not the downloads/ directory (Web Content, Tone, Ringer files).
    let keep: Vec<&str> = keep.lines().collect();
    assert_eq!(keep, ["/etc/config/cwmp", "/etc/icwmpd/*.json"]);
}

#[test]
fn init_script_matches_the_c_one() {
    let s = std::fs::read_to_string(files().join("etc/init.d/icwmpd")).unwrap();
    for need in [
        "START=99",
        "STOP=00",
        "USE_PROCD=1",
        "procd_set_param command \"$PROG\" -b",
        "procd_set_param respawn 5 10 3",
        "ubus -t 1 call tr069 status",
        r#"call tr069 command '{"command":"reload"}'"#,
        "procd_send_signal icwmpd icwmpd HUP",
        "procd_add_reload_trigger cwmp",
        "uci_validate_section cwmp acs",
        "uci_validate_section cwmp cpe",
        "dslforum.org",
        "procd_set_param stderr 1",
        "43",
    ] {
        assert!(s.contains(need), "init script lacks {need:?}");
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Option 43 encapsulated sub-options, hex encoded as udhcpc exports them.
fn opt43(subs: &[(u8, &str)]) -> String {
    subs.iter()
        .map(|(code, v)| format!("{code:02x}{:02x}{}", v.len(), hex(v)))
        .collect()
}

fn hook() -> PathBuf {
    files().join("etc/udhcpc.user.d/icwmpd-opt43")
}

/// Initial uci options of a case, and the hook's environment.
type Db = Vec<(&'static str, &'static str)>;
type Env = Vec<(&'static str, String)>;

const DISCOVERY_ON: &[(&str, &str)] = &[("cwmp.acs.dhcp_discovery", "1")];

#[test]
fn hook_writes_all_four_sub_options_commits_and_reloads() {
    let mut f = Router::new("all", DISCOVERY_ON);
    // rpcd's `uci` object, on the router's bus: the hook must not need it.
    let rpcd_uci = f.serve("uci", &["commit", "set", "apply"], None);
    let o = opt43(&[
        (1, "https://acs.example.com:7547/cwmp?x=1&y=2"),
        (2, "PC-42"),
        (3, "30"),
        (4, "2500"),
    ]);
    f.run(&hook(), &["bound"], &[("opt43", &o), ("INTERFACE", "wan")]);
    let db = f.db();
    assert_eq!(
        db["cwmp.acs.dhcp_url"],
        "https://acs.example.com:7547/cwmp?x=1&y=2"
    );
    assert_eq!(db["cwmp.cpe.dhcp_provisioning_code"], "PC-42");
    assert_eq!(db["cwmp.cpe.provisioning_code"], "PC-42");
    assert_eq!(db["cwmp.acs.dhcp_retry_min_wait_interval"], "30");
    assert_eq!(db["cwmp.acs.dhcp_retry_interval_multiplier"], "2500");
    let calls = f.calls();
    // Committed and the daemon reloaded without rpcd (no `ubus call uci commit`).
    assert!(
        calls.contains(&"uci -q commit cwmp".to_string()),
        "{calls:?}"
    );
    assert!(calls.contains(&"init reload".to_string()), "{calls:?}");
    assert!(rpcd_uci.lock().unwrap().is_empty(), "{rpcd_uci:?}");
    // Committed for real: in the config file, nothing left in the delta.
    let saved = std::fs::read_to_string(f.dir.join("config/cwmp")).unwrap();
    assert!(
        saved.contains("option dhcp_url 'https://acs.example.com:7547/cwmp?x=1&y=2'"),
        "{saved}"
    );
    let delta = std::fs::read_to_string(f.dir.join("delta/cwmp")).unwrap_or_default();
    assert!(delta.is_empty(), "{delta}");

    // The same lease renewed: nothing changes, nothing is committed (no reload storm).
    f.run(&hook(), &["renew"], &[("opt43", &o), ("INTERFACE", "wan")]);
    assert!(f.sets().is_empty(), "{:?}", f.calls());
    assert!(!f.calls().iter().any(|c| c.contains("commit")));
}

#[test]
fn hook_keeps_a_provisioning_code_the_acs_set_until_dhcp_sends_a_new_one() {
    let f = Router::new("pc", DISCOVERY_ON);
    let env = |o: String| vec![("opt43".to_string(), o), ("INTERFACE".into(), "wan".into())];
    let run = |o: String| {
        let e = env(o);
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        f.run(&hook(), &["bound"], &e);
    };
    run(opt43(&[(2, "DHCP-1")]));
    assert_eq!(f.db()["cwmp.cpe.provisioning_code"], "DHCP-1");
    // The ACS sets Device.DeviceInfo.ProvisioningCode.
    f.run(
        &f.dir.join("bin/uci"),
        &["set", "cwmp.cpe.provisioning_code=ACS-7"],
        &[],
    );
    run(opt43(&[(2, "DHCP-1")]));
    assert_eq!(f.db()["cwmp.cpe.provisioning_code"], "ACS-7");
    run(opt43(&[(2, "DHCP-2")]));
    assert_eq!(f.db()["cwmp.cpe.provisioning_code"], "DHCP-2");
    assert_eq!(f.db()["cwmp.cpe.dhcp_provisioning_code"], "DHCP-2");
}

#[test]
fn hook_takes_a_plain_url_and_reloads_without_rpcd() {
    let f = Router::new("plain", DISCOVERY_ON);
    let o = hex("http://10.0.0.1/acs");
    f.run(
        &hook(),
        &["bound"],
        // The router's ubusd has no rpcd (no `uci` object).
        &[("opt43", &o), ("INTERFACE", "wan")],
    );
    assert_eq!(f.db()["cwmp.acs.dhcp_url"], "http://10.0.0.1/acs");
    assert!(
        f.calls().contains(&"uci -q commit cwmp".to_string()),
        "{:?}",
        f.calls()
    );
    assert!(f.calls().contains(&"init reload".to_string()));
}

#[test]
fn hook_ignores_what_it_must_not_use() {
    let url = opt43(&[(1, "http://acs/")]);
    let cases: Vec<(&str, Db, Env)> = vec![
        // DHCP discovery off.
        (
            "off",
            vec![("cwmp.acs.dhcp_discovery", "0")],
            vec![("opt43", url.clone())],
        ),
        // Another interface than the WAN.
        (
            "lan",
            DISCOVERY_ON.to_vec(),
            vec![("opt43", url.clone()), ("INTERFACE", "lan".into())],
        ),
        // A custom WAN name that is not this interface.
        (
            "wan2",
            vec![
                ("cwmp.acs.dhcp_discovery", "on"),
                ("cwmp.cpe.default_wan_interface", "wwan"),
            ],
            vec![("opt43", url.clone()), ("INTERFACE", "wan".into())],
        ),
        // Truncated TLV whose bytes are not a URL either.
        (
            "trunc",
            DISCOVERY_ON.to_vec(),
            vec![("opt43", "0120687474".into())],
        ),
        // Not hex, odd length, empty.
        (
            "nothex",
            DISCOVERY_ON.to_vec(),
            vec![("opt43", "zz01".into())],
        ),
        ("odd", DISCOVERY_ON.to_vec(), vec![("opt43", "010".into())]),
        ("empty", DISCOVERY_ON.to_vec(), vec![]),
        // A URL that is not http(s), and one with a control character.
        (
            "ftp",
            DISCOVERY_ON.to_vec(),
            vec![("opt43", opt43(&[(1, "ftp://acs/")]))],
        ),
        (
            "ctl",
            DISCOVERY_ON.to_vec(),
            vec![("opt43", opt43(&[(1, "http://a\ncs/")]))],
        ),
        // Retry values out of range or not numbers.
        (
            "range",
            DISCOVERY_ON.to_vec(),
            vec![(
                "opt43",
                opt43(&[(3, "0"), (4, "999"), (3, "70000"), (4, "12a4")]),
            )],
        ),
    ];
    for (name, db, env) in cases {
        let f = Router::new(&format!("ign-{name}"), &db);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        f.run(&hook(), &["bound"], &env);
        assert!(f.sets().is_empty(), "{name}: {:?}", f.calls());
        assert!(!f.calls().iter().any(|c| c.contains("commit")), "{name}");
    }
    // Events other than bound/renew do nothing at all.
    let f = Router::new("ign-deconfig", DISCOVERY_ON);
    f.run(&hook(), &["deconfig"], &[("opt43", &url)]);
    assert!(f.calls().is_empty(), "{:?}", f.calls());
}

#[test]
fn hook_applies_valid_sub_options_next_to_bad_ones() {
    let f = Router::new("mixed", DISCOVERY_ON);
    // Sub-option 5 is unknown, 2 has a non-ASCII byte; URL and multiplier still apply.
    let o = format!(
        "{}0502abcd0202c3a9{}",
        opt43(&[(1, "https://acs.example/")]),
        opt43(&[(4, "1000")])
    )
    .to_uppercase();
    f.run(&hook(), &["renew"], &[("opt43", &o)]);
    let db = f.db();
    assert_eq!(db["cwmp.acs.dhcp_url"], "https://acs.example/");
    assert_eq!(db["cwmp.acs.dhcp_retry_interval_multiplier"], "1000");
    assert!(!db.contains_key("cwmp.cpe.dhcp_provisioning_code"));
}

#[test]
fn uci_default_sets_a_random_time_of_day_once() {
    let script = files().join("etc/uci-defaults/95-icwmpd-set-random-inform-time");
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..4 {
        let f = Router::new(
            &format!("rnd{i}"),
            &[("cwmp.acs.periodic_inform_time", "0")],
        );
        f.run(&script, &[], &[]);
        let v = f.db()["cwmp.acs.periodic_inform_time"].clone();
        let t = icwmp::time::parse_datetime(&v).unwrap_or_else(|| panic!("bad time {v}"));
        assert!((0..86400).contains(&t), "{v}");
        seen.insert(v);
    }
    assert!(seen.len() > 1, "not random: {seen:?}");
    // Not from od (not in OpenWrt's busybox) nor the PID (the same on every first boot).
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(!text.contains("od -") && !text.contains("$$"), "{text}");
    let f = Router::new(
        "rnd-set",
        &[("cwmp.acs.periodic_inform_time", "2024-01-01T03:00:00Z")],
    );
    f.run(&script, &[], &[]);
    assert!(f.sets().is_empty());
}

fn transfer_hook(name: &str) -> PathBuf {
    files().join("usr/libexec/icwmpd").join(name)
}

/// Runs a transfer hook on `router` (recorders for sysupgrade, reload_config, logread);
/// returns (exit success, what the recorders and uci logged).
fn run_transfer_hook(
    router: &Router,
    hook: &str,
    file: &Path,
    env: &[(&str, &str)],
) -> (bool, String) {
    let out = router.try_run(&transfer_hook(hook), &[file.to_str().unwrap()], env);
    let ok = out.status.success();
    // The firmware hook flashes from a detached child after 2 s.
    if hook == "firmware-upgrade" && ok && !env.iter().any(|(_, v)| v.starts_with("6 ")) {
        std::thread::sleep(std::time::Duration::from_millis(2600));
    }
    (ok, router.calls().join("\n"))
}

#[test]
fn transfer_hooks_drive_the_platform_tools() {
    let mut r = Router::new("hooks", &[]);
    let dir = r.dir.join("files");
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("fw.bin");
    std::fs::write(&image, b"image").unwrap();
    let (ok, calls) = run_transfer_hook(
        &r,
        "firmware-upgrade",
        &image,
        &[("ICWMP_KEEP_SETTINGS", "0")],
    );
    assert!(ok, "{calls}");
    assert!(calls.contains("sysupgrade -T"), "{calls}");
    assert!(
        calls.contains(&format!("sysupgrade -n {}", image.display())),
        "{calls}"
    );
    let (ok, calls) = run_transfer_hook(&r, "firmware-upgrade", &image, &[("FAKE_RC", "1")]);
    assert!(!ok, "an image sysupgrade -T rejects is refused: {calls}");

    // A stored image goes to IOPSYS's fwbank object on the bus, not to sysupgrade...
    let stored = [("ICWMP_FILE_TYPE", "6 Stored Firmware Image")];
    let (ok, calls) = run_transfer_hook(&r, "firmware-upgrade", &image, &stored);
    assert!(!ok, "no fwbank on this bus: refused ({calls})");
    let fwbank = r.serve(
        "fwbank",
        &["dump", "upgrade"],
        Some(serde_json::json!({"result": "ok"})),
    );
    let (ok, calls) = run_transfer_hook(&r, "firmware-upgrade", &image, &stored);
    assert!(ok, "{calls}");
    assert!(
        !calls.contains("sysupgrade"),
        "a stored image is not flashed: {calls}"
    );
    assert_eq!(
        *fwbank.lock().unwrap(),
        vec![(
            "upgrade".to_string(),
            serde_json::json!({"path": image.display().to_string(),
                "auto_activate": false, "keep_settings": true})
        )]
    );

    // A UCI export is imported into the real uci config (the package replaced) and committed.
    let uci = dir.join("cfg");
    std::fs::write(
        &uci,
        "package network\nconfig interface 'lan'\n\toption proto 'static'\n",
    )
    .unwrap();
    let (ok, calls) = run_transfer_hook(&r, "config-import", &uci, &[]);
    assert!(
        ok && calls.contains("uci import") && calls.contains("uci commit"),
        "{calls}"
    );
    assert!(calls.contains("reload_config"), "{calls}");
    let db = r.db();
    assert_eq!(
        db.get("network.lan.proto").map(String::as_str),
        Some("static")
    );
    assert!(!db.keys().any(|k| k.starts_with("network.wan.")), "{db:?}");
    let junk = dir.join("junk");
    std::fs::write(&junk, "not a config").unwrap();
    assert!(!run_transfer_hook(&r, "config-import", &junk, &[]).0);
    assert_eq!(r.db(), db, "a refused file changes nothing");

    let out = dir.join("export");
    let (ok, calls) = run_transfer_hook(&r, "config-export", &out, &[]);
    assert!(ok && calls.contains("sysupgrade -b"), "{calls}");
    let log = dir.join("log");
    assert!(run_transfer_hook(&r, "log-export", &log, &[]).0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "log\n");
}

#[test]
fn makefile_builds_what_openwrt_builds() {
    let mk = std::fs::read_to_string(root().join("openwrt/Makefile")).unwrap();
    // rust-values.mk exports RUSTFLAGS="$(CARGO_RUSTFLAGS)"; cargo then ignores
    // CARGO_TARGET_<triple>_RUSTFLAGS, so the MIPS non-PIE flag must join CARGO_RUSTFLAGS.
    assert!(mk.contains("CARGO_RUSTFLAGS += -Crelocation-model=static"));
    assert!(
        !mk.contains("_RUSTFLAGS=\""),
        "a per-target RUSTFLAGS never reaches rustc"
    );
    // Build/Prepare copies the sources from outside openwrt/: their edits must rebuild.
    let deps = mk
        .split("PKG_FILE_DEPENDS:=")
        .nth(1)
        .expect("PKG_FILE_DEPENDS")
        .split("\n\n")
        .next()
        .unwrap();
    for p in ["/src", "/Cargo.toml", "/Cargo.lock", "/.cargo"] {
        assert!(
            deps.contains(&format!("$(ICWMP_SRC_DIR){p}")),
            "{p} in {deps}"
        );
    }
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("rust-version = \"1.85\""),
        "OpenWrt 23.05 ships Rust 1.85"
    );
}

/// OpenWrt builds with `cargo install --locked`: a locked crate needing a newer Rust than
/// rust-version breaks the oldest supported release.
#[test]
fn locked_crates_build_with_the_msrv() {
    let out = Command::new(root().join("scripts/msrv-check.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
