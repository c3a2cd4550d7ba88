//! A scratch router for the package's shell parts: `busybox sh` with OpenWrt's default applets
//! only, the real `uci` CLI on a config directory of its own, the real `ubus` CLI on a real
//! ubusd of its own (objects the scripts call are recorders served by the test), and recorders
//! only for what cannot exist here (`sysupgrade`, `reload_config`, `logread`, `logger`, the
//! init script the udhcpc hook reloads). Without the tools (`make test-deps`) it panics with
//! that hint: no look-alike stands in.

use super::common::ubus::{openwrt_tools, recorder, Bus, Calls};
use icwmp::ubus::{UbusEvent, UbusHandle};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Debian's busybox, whose applets stand in for OpenWrt's.
fn busybox() -> PathBuf {
    ["/usr/bin/busybox", "/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("busybox missing: run `make test-deps`")
}

/// One of the OpenWrt tools `make test-deps` builds (`bin/uci`, `bin/ubus`, `bin/jshn`).
fn tool(rel: &str) -> PathBuf {
    let p = openwrt_tools().join(rel);
    assert!(
        p.is_file(),
        "{} missing: run `make test-deps` (builds OpenWrt's uci, ubus and jshn)",
        p.display()
    );
    p
}

/// Platform tools that cannot run here: each logs `<tool> <args>` to `calls`; `sysupgrade
/// -b FILE` writes a backup, `logread` prints a line, and all exit `$FAKE_RC` (0).
const PLATFORM: [&str; 5] = ["init", "logger", "sysupgrade", "reload_config", "logread"];

/// A scratch router (see the module doc); its bus and directory go on drop.
pub struct Router {
    /// The router's directory: `bin/` (wrappers, recorders), `applets/`, `config/`, `calls`.
    pub dir: PathBuf,
    /// Its ubusd; `ubus` in the scripts' PATH talks to it.
    pub bus: Bus,
    clients: Vec<(UbusHandle, crossbeam_channel::Receiver<UbusEvent>)>,
}

impl Router {
    /// A router whose uci configs `cwmp` (sections `acs`, `cpe`) and `network` (section
    /// `wan`) hold the options `db` (`config.section.option`, value).
    pub fn new(name: &str, db: &[(&str, &str)]) -> Router {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("icwmp-pkg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        let bus = Bus::start(&format!("pkg-{name}"));
        let (uci, ubus, bb) = (tool("bin/uci"), tool("bin/ubus"), busybox());
        // The real CLIs, on this router's config dir and bus; uci calls are logged too.
        let uci = format!(
            "#!/bin/sh\necho \"uci $*\" >> \"$FAKE_DIR/calls\"\n\
             exec {} -c \"$FAKE_DIR/config\" -t \"$FAKE_DIR/delta\" \"$@\"\n",
            uci.display()
        );
        let ubus = format!(
            "#!/bin/sh\nexec {} -s {} \"$@\"\n",
            ubus.display(),
            bus.path().display()
        );
        let recorder = |tool: &str| {
            format!(
                "#!/bin/sh\necho \"{tool} $*\" >> \"$FAKE_DIR/calls\"\n\
                 [ \"$1\" = -b ] && echo backup > \"$2\"\n[ {tool} = logread ] && echo log\n\
                 exit ${{FAKE_RC:-0}}\n"
            )
        };
        let mut bins = vec![("uci".to_string(), uci), ("ubus".to_string(), ubus)];
        bins.extend(PLATFORM.iter().map(|t| (t.to_string(), recorder(t))));
        for (n, body) in bins {
            let p = dir.join("bin").join(n);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::os::unix::fs::symlink(tool("bin/jshn"), dir.join("bin/jshn")).unwrap();
        std::fs::create_dir_all(dir.join("applets")).unwrap();
        let list = Command::new(&bb).arg("--list").output().unwrap().stdout;
        let has: Vec<&str> = std::str::from_utf8(&list).unwrap().lines().collect();
        for a in OPENWRT_APPLETS {
            if has.contains(a) {
                std::os::unix::fs::symlink(&bb, dir.join("applets").join(a)).unwrap();
            }
        }
        // The config files uci reads: the package's sections, then the case's options.
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::create_dir_all(dir.join("delta")).unwrap();
        let mut cwmp = String::from("config acs 'acs'\nconfig cpe 'cpe'\n");
        let mut network = String::from("config interface 'wan'\n");
        let mut stunc = String::new();
        for (k, v) in db {
            let parts: Vec<&str> = k.splitn(3, '.').collect();
            let line = format!("config {0} '{0}'\n\toption {1} '{v}'\n", parts[1], parts[2]);
            match parts[0] {
                "cwmp" => cwmp.push_str(&line),
                "stunc" => stunc.push_str(&line),
                _ => network.push_str(&line.replace(
                    &format!("config {0} '{0}'", parts[1]),
                    &format!("config interface '{}'", parts[1]),
                )),
            }
        }
        std::fs::write(dir.join("config/cwmp"), fix_sections(&cwmp)).unwrap();
        std::fs::write(dir.join("config/network"), fix_sections(&network)).unwrap();
        if !stunc.is_empty() {
            std::fs::write(dir.join("config/stunc"), fix_sections(&stunc)).unwrap();
        }
        Router {
            dir,
            bus,
            clients: Vec::new(),
        }
    }

    /// Serves `object` with `methods` on the router's bus, answering status 0 and `reply`;
    /// returns its call log.
    pub fn serve(&mut self, object: &str, methods: &[&str], reply: Option<Json>) -> Calls {
        let (obj, calls) = recorder(object, methods, move |_| (0, reply.clone()));
        self.clients.push(self.bus.client(vec![obj]));
        self.bus.wait_object(object);
        calls
    }

    /// Runs `script` under busybox sh; its output (`calls` is emptied first).
    pub fn try_run(&self, script: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let _ = std::fs::remove_file(self.dir.join("calls"));
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            self.dir.join("applets").display()
        );
        let mut c = Command::new(busybox());
        c.arg("sh")
            .arg(script)
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("FAKE_DIR", &self.dir)
            .env("ICWMP_INIT_SCRIPT", self.dir.join("bin/init"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Runs `script`, which must succeed without a word on stderr.
    pub fn run(&self, script: &Path, args: &[&str], env: &[(&str, &str)]) {
        let out = self.try_run(script, args, env);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Every option (`config.section.option` -> value), committed or not, as the real uci
    /// shows it.
    pub fn db(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for config in ["cwmp", "network"] {
            let out = Command::new(tool("bin/uci"))
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

    /// What the uci wrapper and the recorders logged during the last run.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The `uci -q set` calls of the last run.
    pub fn sets(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("uci -q set "))
            .collect()
    }

    /// Runs the init script's function `func` in [`INIT_HARNESS`]; the procd instance it
    /// built, if it built one.
    pub fn run_init(&self, func: &str) -> Option<Json> {
        let _ = std::fs::remove_file(self.dir.join("instance.json"));
        let harness = self.dir.join("harness");
        std::fs::write(&harness, INIT_HARNESS).unwrap();
        let init = super::files().join("etc/init.d/icwmpd");
        let jshn_sh = openwrt_tools().join("share/libubox/jshn.sh");
        self.run(
            &harness,
            &[init.to_str().unwrap(), func],
            &[("JSHN", jshn_sh.to_str().unwrap())],
        );
        let json = std::fs::read_to_string(self.dir.join("instance.json")).ok()?;
        Some(serde_json::from_str(&json).unwrap())
    }
}

impl Drop for Router {
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

/// Runs the init script's function `func` under busybox sh with procd's helpers replaced by
/// recorders: the instance procd would get is dumped as JSON (real jshn) to `instance.json`,
/// parameters, signals, restarts and events go to `calls`. `uci_validate_section` checks values as ubox's
/// validator does for the types the script uses (`bool` takes 0/1/on/off/true/false/yes/no/
/// enabled/disabled only, not the C config's `enable`).
const INIT_HARNESS: &str = r#"
. "$JSHN"
log() { echo "log $*" >> "$FAKE_DIR/calls"; }
procd_open_instance() { json_init; }
procd_set_param() { k=$1; shift; echo "param $k $*" >> "$FAKE_DIR/calls"; }
procd_open_data() { json_add_object data; }
procd_close_data() { json_close_object; }
procd_close_instance() { json_dump > "$FAKE_DIR/instance.json"; }
procd_set_config_changed() { echo "config_changed $1" >> "$FAKE_DIR/calls"; }
procd_send_signal() { echo "signal $*" >> "$FAKE_DIR/calls"; }
restart() { echo "restart" >> "$FAKE_DIR/calls"; }
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
