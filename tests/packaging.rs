//! Checks of the OpenWrt packaging in `openwrt/`: the shell files parse, every file the feed
//! Makefile installs exists, and the udhcpc option 43 hook and the uci-defaults scripts do
//! the right thing when run by `sh` against a fake `uci` that records its calls.

use std::collections::BTreeMap;
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

/// The applets OpenWrt's busybox builds by default (openwrt/openwrt master,
/// package/utils/busybox/Config-defaults.in: `BUSYBOX_DEFAULT_<APPLET>` `default y`), the ones
/// a package script may use. `od` is not among them.
const OPENWRT_APPLETS: &[&str] = &[
    "sh",
    "ash",
    "[",
    "test",
    "awk",
    "basename",
    "cat",
    "chmod",
    "cmp",
    "cp",
    "cut",
    "date",
    "dd",
    "dirname",
    "du",
    "echo",
    "env",
    "expr",
    "false",
    "find",
    "flock",
    "grep",
    "gunzip",
    "gzip",
    "head",
    "hexdump",
    "id",
    "kill",
    "ln",
    "logger",
    "ls",
    "md5sum",
    "mkdir",
    "mkfifo",
    "mktemp",
    "mv",
    "pidof",
    "printf",
    "ps",
    "pwd",
    "readlink",
    "rm",
    "rmdir",
    "sed",
    "seq",
    "sha256sum",
    "sleep",
    "sort",
    "sync",
    "tail",
    "tar",
    "tee",
    "touch",
    "tr",
    "true",
    "uname",
    "uniq",
    "wc",
    "which",
    "xargs",
    "zcat",
];

/// OpenWrt's real `uci` CLI, built by `make test-deps` from ../shared/vendor/openwrt into
/// target/openwrt-tools (or where ICWMP_OPENWRT_TOOLS points).
fn real_uci() -> Option<PathBuf> {
    let dir = std::env::var_os("ICWMP_OPENWRT_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/openwrt-tools"));
    let uci = dir.join("bin/uci");
    uci.is_file().then_some(uci)
}

/// Debian's busybox, whose applets stand in for OpenWrt's.
fn busybox() -> Option<PathBuf> {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A scratch directory running the package's scripts as on a router: `busybox sh` with a PATH
/// of busybox applets (OpenWrt's default set only, so a missing applet fails) plus the real
/// `uci` CLI on a config directory of its own, and fake `ubus`, `logger`, `init` recording
/// their calls in `calls`. Without busybox or the built uci (no `make test-deps`), the host's
/// sh and a shell look-alike of uci keeping `key=value` lines in `db`.
struct Fake {
    dir: PathBuf,
    real: bool,
}

impl Fake {
    fn new(name: &str, db: &[(&str, &str)]) -> Fake {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("icwmp-pkg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let real = match (real_uci(), busybox()) {
            (Some(uci), Some(bb)) => Some((uci, bb)),
            _ => {
                eprintln!("packaging: no busybox or built uci (make test-deps): host sh, fake uci");
                None
            }
        };
        let look_alike = r#"#!/bin/sh
echo "uci $*" >> "$FAKE_DIR/calls"
[ "$1" = -q ] && shift
db="$FAKE_DIR/db"
touch "$db"
case "$1" in
get)
	while IFS= read -r line; do
		case "$line" in "$2="*) printf '%s\n' "${line#*=}"; exit 0 ;; esac
	done < "$db"
	exit 1 ;;
set)
	k=${2%%=*}
	{ while IFS= read -r line; do
		case "$line" in "$k="*) ;; *) printf '%s\n' "$line" ;; esac
	done < "$db"; printf '%s\n' "$2"; } > "$db.new"
	mv "$db.new" "$db" ;;
commit) ;;
*) exit 1 ;;
esac
"#;
        let uci = match &real {
            Some((uci, _)) => format!(
                "#!/bin/sh\necho \"uci $*\" >> \"$FAKE_DIR/calls\"\n\
                 exec {} -c \"$FAKE_DIR/config\" -t \"$FAKE_DIR/delta\" \"$@\"\n",
                uci.display()
            ),
            None => look_alike.to_string(),
        };
        let ubus = "#!/bin/sh\necho \"ubus $*\" >> \"$FAKE_DIR/calls\"\nexit ${FAKE_UBUS_RC:-0}\n";
        let init = "#!/bin/sh\necho \"init $*\" >> \"$FAKE_DIR/calls\"\n";
        for (n, body) in [
            ("init", init),
            ("uci", uci.as_str()),
            ("ubus", ubus),
            (
                "logger",
                "#!/bin/sh\necho \"logger $*\" >> \"$FAKE_DIR/calls\"\n",
            ),
        ] {
            let p = dir.join("bin").join(n);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        if let Some((_, bb)) = &real {
            std::fs::create_dir_all(dir.join("applets")).unwrap();
            let list = Command::new(bb).arg("--list").output().unwrap().stdout;
            let has: Vec<&str> = std::str::from_utf8(&list).unwrap().lines().collect();
            for a in OPENWRT_APPLETS {
                if has.contains(a) {
                    std::os::unix::fs::symlink(bb, dir.join("applets").join(a)).unwrap();
                }
            }
            // The config files uci reads: the package's sections, then the case's options.
            std::fs::create_dir_all(dir.join("config")).unwrap();
            std::fs::create_dir_all(dir.join("delta")).unwrap();
            let mut cwmp = String::from("config acs 'acs'\nconfig cpe 'cpe'\n");
            let mut network = String::from("config interface 'wan'\n");
            for (k, v) in db {
                let parts: Vec<&str> = k.splitn(3, '.').collect();
                let line = format!("config {0} '{0}'\n\toption {1} '{v}'\n", parts[1], parts[2]);
                match parts[0] {
                    "cwmp" => cwmp.push_str(&line),
                    _ => network.push_str(&line.replace(
                        &format!("config {0} '{0}'", parts[1]),
                        &format!("config interface '{}'", parts[1]),
                    )),
                }
            }
            std::fs::write(dir.join("config/cwmp"), fix_sections(&cwmp)).unwrap();
            std::fs::write(dir.join("config/network"), fix_sections(&network)).unwrap();
        } else {
            let lines: String = db.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            std::fs::write(dir.join("db"), lines).unwrap();
        }
        Fake {
            dir,
            real: real.is_some(),
        }
    }

    fn run(&self, script: &Path, args: &[&str], env: &[(&str, &str)]) {
        let _ = std::fs::remove_file(self.dir.join("calls"));
        let (shell, path) = if self.real {
            (
                busybox().unwrap(),
                format!(
                    "{}:{}",
                    self.dir.join("bin").display(),
                    self.dir.join("applets").display()
                ),
            )
        } else {
            (
                PathBuf::from("sh"),
                format!(
                    "{}:{}",
                    self.dir.join("bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
        };
        let mut c = Command::new(&shell);
        if self.real {
            c.arg("sh");
        }
        c.arg(script)
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("FAKE_DIR", &self.dir)
            .env("ICWMP_INIT_SCRIPT", self.dir.join("bin/init"));
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success() && (!self.real || out.stderr.is_empty()),
            "{}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every option (`config.section.option` -> value), committed or not.
    fn db(&self) -> BTreeMap<String, String> {
        if !self.real {
            return std::fs::read_to_string(self.dir.join("db"))
                .unwrap()
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        }
        let mut m = BTreeMap::new();
        for config in ["cwmp", "network"] {
            let out = Command::new(real_uci().unwrap())
                .arg("-c")
                .arg(self.dir.join("config"))
                .arg("-t")
                .arg(self.dir.join("delta"))
                .args(["show", config])
                .output()
                .unwrap();
            for l in String::from_utf8(out.stdout).unwrap().lines() {
                if let Some((k, v)) = l.split_once('=') {
                    if k.matches('.').count() == 2 {
                        m.insert(k.to_owned(), v.trim_matches('\'').to_owned());
                    }
                }
            }
        }
        m
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn sets(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("uci -q set "))
            .collect()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Merges `config T 'T'` headers so each section is declared once with all its options.
fn fix_sections(text: &str) -> String {
    let mut order: Vec<String> = Vec::new();
    let mut opts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cur = String::new();
    for l in text.lines() {
        if l.starts_with("config ") {
            cur = l.to_string();
            if !order.contains(&cur) {
                order.push(cur.clone());
            }
        } else if !l.trim().is_empty() {
            opts.entry(cur.clone()).or_default().push(l.to_string());
        }
    }
    let mut out = String::new();
    for h in order {
        out.push_str(&h);
        out.push('\n');
        for o in opts.get(&h).into_iter().flatten() {
            out.push_str(o);
            out.push('\n');
        }
    }
    out
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
    let f = Fake::new("all", DISCOVERY_ON);
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
    assert!(
        !calls.iter().any(|c| c.contains("ubus call uci")),
        "{calls:?}"
    );

    // The same lease renewed: nothing changes, nothing is committed (no reload storm).
    f.run(&hook(), &["renew"], &[("opt43", &o), ("INTERFACE", "wan")]);
    assert!(f.sets().is_empty(), "{:?}", f.calls());
    assert!(!f.calls().iter().any(|c| c.contains("commit")));
}

#[test]
fn hook_keeps_a_provisioning_code_the_acs_set_until_dhcp_sends_a_new_one() {
    let f = Fake::new("pc", DISCOVERY_ON);
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
    let f = Fake::new("plain", DISCOVERY_ON);
    let o = hex("http://10.0.0.1/acs");
    f.run(
        &hook(),
        &["bound"],
        &[("opt43", &o), ("INTERFACE", "wan"), ("FAKE_UBUS_RC", "1")],
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
        let f = Fake::new(&format!("ign-{name}"), &db);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        f.run(&hook(), &["bound"], &env);
        assert!(f.sets().is_empty(), "{name}: {:?}", f.calls());
        assert!(!f.calls().iter().any(|c| c.contains("commit")), "{name}");
    }
    // Events other than bound/renew do nothing at all.
    let f = Fake::new("ign-deconfig", DISCOVERY_ON);
    f.run(&hook(), &["deconfig"], &[("opt43", &url)]);
    assert!(f.calls().is_empty(), "{:?}", f.calls());
}

#[test]
fn hook_applies_valid_sub_options_next_to_bad_ones() {
    let f = Fake::new("mixed", DISCOVERY_ON);
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
        let f = Fake::new(
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
    let f = Fake::new(
        "rnd-set",
        &[("cwmp.acs.periodic_inform_time", "2024-01-01T03:00:00Z")],
    );
    f.run(&script, &[], &[]);
    assert!(f.sets().is_empty());
}

/// Runs a transfer hook with fake platform tools that log their arguments; returns
/// (exit success, calls).
fn run_transfer_hook(hook: &str, file: &Path, env: &[(&str, &str)]) -> (bool, String) {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("icwmp-hook-{}-{hook}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    for tool in ["sysupgrade", "uci", "reload_config", "logread", "ubus"] {
        let body = format!(
            "#!/bin/sh\necho \"{tool} $*\" >> \"$FAKE_DIR/calls\"\n\
             [ \"$1\" = -b ] && echo backup > \"$2\"\n[ {tool} = logread ] && echo log\n\
             exit ${{FAKE_RC:-0}}\n"
        );
        let p = dir.join("bin").join(tool);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("sh");
    c.arg(files().join("usr/libexec/icwmpd").join(hook))
        .arg(file)
        .env("PATH", path)
        .env("FAKE_DIR", &dir);
    for (k, v) in env {
        c.env(k, v);
    }
    let ok = c.output().unwrap().status.success();
    // The firmware hook flashes from a detached child after 2 s.
    if hook == "firmware-upgrade" && ok {
        std::thread::sleep(std::time::Duration::from_millis(2600));
    }
    (
        ok,
        std::fs::read_to_string(dir.join("calls")).unwrap_or_default(),
    )
}

#[test]
fn transfer_hooks_drive_the_platform_tools() {
    let dir = std::env::temp_dir().join(format!("icwmp-hook-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("fw.bin");
    std::fs::write(&image, b"image").unwrap();
    let (ok, calls) =
        run_transfer_hook("firmware-upgrade", &image, &[("ICWMP_KEEP_SETTINGS", "0")]);
    assert!(ok, "{calls}");
    assert!(calls.contains("sysupgrade -T"), "{calls}");
    assert!(
        calls.contains(&format!("sysupgrade -n {}", image.display())),
        "{calls}"
    );
    let (ok, calls) = run_transfer_hook("firmware-upgrade", &image, &[("FAKE_RC", "1")]);
    assert!(!ok, "an image sysupgrade -T rejects is refused: {calls}");
    let stored = [("ICWMP_FILE_TYPE", "6 Stored Firmware Image")];
    let (ok, calls) = run_transfer_hook("firmware-upgrade", &image, &stored);
    assert!(ok && calls.contains("call fwbank upgrade"), "{calls}");
    assert!(calls.contains("\"auto_activate\":false"), "{calls}");
    assert!(
        !calls.contains("sysupgrade"),
        "a stored image is not flashed: {calls}"
    );

    let uci = dir.join("cfg");
    std::fs::write(&uci, "package network\nconfig interface 'lan'\n").unwrap();
    let (ok, calls) = run_transfer_hook("config-import", &uci, &[]);
    assert!(
        ok && calls.contains("uci import") && calls.contains("uci commit"),
        "{calls}"
    );
    let junk = dir.join("junk");
    std::fs::write(&junk, "not a config").unwrap();
    assert!(!run_transfer_hook("config-import", &junk, &[]).0);

    let out = dir.join("export");
    let (ok, calls) = run_transfer_hook("config-export", &out, &[]);
    assert!(ok && calls.contains("sysupgrade -b"), "{calls}");
    assert!(run_transfer_hook("log-export", &dir.join("log"), &[]).0);
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

/// Runs the init script's function `func` under busybox sh with procd's helpers replaced by
/// recorders: the instance procd would get is dumped as JSON (real jshn) to `instance.json`,
/// parameters and events go to `calls`. `uci_validate_section` checks values as ubox's
/// validator does for the types the script uses (`bool` takes 0/1/on/off/true/false/yes/no/
/// enabled/disabled only, not the C config's `enable`). None without the built tools.
const INIT_HARNESS: &str = r#"
. "$JSHN"
log() { echo "log $*" >> "$FAKE_DIR/calls"; }
procd_open_instance() { json_init; }
procd_set_param() { k=$1; shift; echo "param $k $*" >> "$FAKE_DIR/calls"; }
procd_open_data() { json_add_object data; }
procd_close_data() { json_close_object; }
procd_close_instance() { json_dump > "$FAKE_DIR/instance.json"; }
procd_set_config_changed() { echo "config_changed $1" >> "$FAKE_DIR/calls"; }
config_load() { :; }
config_get() {
	_v=$(uci -q get "cwmp.$2.$3") || _v=$4
	eval "$1=\$_v"
}
start() { echo "start" >> "$FAKE_DIR/calls"; }
uci_validate_section() {
	_p=$1 _s=$3
	shift 3
	_rc=0
	for _spec; do
		_n=${_spec%%:*} _r=${_spec#*:}
		_t=${_r%%:*} _d=
		[ "$_r" = "$_t" ] || _d=${_r#*:}
		_v=$(uci -q get "$_p.$_s.$_n") || _v=
		[ -n "$_v" ] || _v=$_d
		case "$_t" in
			bool) case "$_v" in 0|1|on|off|true|false|yes|no|enabled|disabled|"") ;; *) _rc=1 ;; esac ;;
			port|uinteger|range*) case "$_v" in *[!0-9]*) _rc=1 ;; esac ;;
		esac
		eval "$_n=\$_v"
	done
	return $_rc
}
. "$1"
$2
"#;

impl Fake {
    fn run_init(&self, func: &str) -> Option<serde_json::Value> {
        if !self.real {
            eprintln!("packaging: init script checks need busybox and the built tools");
            return None;
        }
        let tools = real_uci()
            .unwrap()
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        let jshn = self.dir.join("bin/jshn");
        if !jshn.exists() {
            std::os::unix::fs::symlink(tools.join("bin/jshn"), jshn).unwrap();
        }
        let harness = self.dir.join("harness");
        std::fs::write(&harness, INIT_HARNESS).unwrap();
        let init = files().join("etc/init.d/icwmpd");
        let jshn_sh = tools.join("share/libubox/jshn.sh");
        self.run(
            &harness,
            &[init.to_str().unwrap(), func],
            &[("JSHN", jshn_sh.to_str().unwrap())],
        );
        let json = std::fs::read_to_string(self.dir.join("instance.json")).ok()?;
        Some(serde_json::from_str(&json).unwrap())
    }
}

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
    let f = Fake::new("init-c", c_config);
    let Some(inst) = f.run_init("start_service") else {
        return;
    };
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

    f.run_init("boot");
    assert!(f.calls().contains(&"start".to_string()), "{:?}", f.calls());
    let db = f.db();
    // 43 for ACS discovery, 125 for GatewayInfo (TR-111; off with cpe.disable_gatewayinfo).
    assert_eq!(db["network.wan.reqopts"], "43 125");
    assert_eq!(db["network.wan.vendorid"], "acme,dslforum.org");
    // Our own vocabulary works the same; the vendor class is not appended twice.
    f.run_init("boot");
    assert_eq!(f.db()["network.wan.vendorid"], "acme,dslforum.org");
    let f = Fake::new(
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
fn firewall_rules(name: &str, db: &[(&str, &str)]) -> Option<Vec<serde_json::Value>> {
    let mut all = vec![("cwmp.acs.url", "http://198.51.100.7:8080/acs")];
    all.extend_from_slice(db);
    let f = Fake::new(name, &all);
    let inst = f.run_init("start_service")?;
    assert!(f.calls().contains(&"param stderr 1".to_string()));
    Some(
        inst["data"]["firewall"]
            .as_array()
            .expect("firewall data")
            .clone(),
    )
}

#[test]
fn init_script_opens_the_connection_request_port_as_incoming_rule_says() {
    let Some(rules) = firewall_rules("fw-port", &[("cwmp.cpe.port", "30005")]) else {
        return;
    };
    assert_eq!(rules.len(), 1, "{rules:?}");
    let r = &rules[0];
    assert_eq!(r["type"], "rule");
    assert_eq!(r["src"], "wan");
    assert_eq!(r["proto"], "tcp");
    assert_eq!(r["dest_port"], "30005");
    assert_eq!(r["target"], "ACCEPT");
    assert!(r.get("src_ip").is_none(), "Port_Only: from anywhere");

    // IP_Port: the port, from the ACS's address (the URL's host).
    let rules = firewall_rules("fw-ipport", &[("cwmp.cpe.incoming_rule", "IP_Port")]).unwrap();
    assert_eq!(rules[0]["src_ip"], "198.51.100.7");
    assert_eq!(rules[0]["dest_port"], "7547");
    let rules = firewall_rules(
        "fw-ipv6",
        &[
            ("cwmp.acs.url", "https://[2001:db8::7]:7547/acs"),
            ("cwmp.cpe.incoming_rule", "IP_Port"),
        ],
    )
    .unwrap();
    assert_eq!(rules[0]["src_ip"], "2001:db8::7");
    // IP_Only: anything from the allowed sources.
    let rules = firewall_rules(
        "fw-iponly",
        &[
            ("cwmp.cpe.incoming_rule", "IP_Only"),
            ("cwmp.cpe.cr_allowed_sources", "192.0.2.10 192.0.2.11"),
        ],
    )
    .unwrap();
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
    )
    .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["dest_port"], "7547");
    assert!(rules[0].get("src_ip").is_none());
}
