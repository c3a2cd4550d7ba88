//! OpenWrt's real bus for the tests: `ubusd` on a private socket in a temp dir (never the
//! system's default path), the real `ubus` CLI pointed at it, and in-process clients
//! ([`UbusThread`]) for objects a test serves itself (the fake bbfdm, recorders).
//!
//! The tools come from `make test-deps` (target/openwrt-tools, or `ICWMP_OPENWRT_TOOLS`);
//! without them a test fails with that hint rather than passing on a look-alike.

#[path = "../../benches/common/ubusd.rs"]
mod ubusd;

pub use ubusd::{openwrt_tools, Ubusd};

use icwmp::ubus::{UbusConfig, UbusEvent, UbusHandle, UbusObject, UbusThread};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `ubus` CLI; panics with the fix when it is not built.
pub fn ubus_bin() -> PathBuf {
    let bin = openwrt_tools().join("bin/ubus");
    assert!(
        bin.is_file(),
        "{} missing: run `make test-deps` (builds OpenWrt's ubus CLI)",
        bin.display()
    );
    bin
}

/// A real ubusd on `<temp dir>/ubus.sock`; killed (before its directory goes) on drop.
pub struct Bus {
    ubusd: Option<Ubusd>,
    /// The test's directory (holds the socket).
    pub dir: PathBuf,
}

impl Bus {
    /// Starts ubusd in a fresh temp dir named after `tag`.
    pub fn start(tag: &str) -> Bus {
        let dir = super::temp_dir(tag);
        let ubusd = Ubusd::start(&dir.join("ubus.sock"));
        Bus {
            ubusd: Some(ubusd),
            dir,
        }
    }

    /// The socket path.
    pub fn path(&self) -> PathBuf {
        self.dir.join("ubus.sock")
    }

    /// Runs `ubus -s <socket> <args>` and returns its output (stderr is not a tty, so
    /// failures are printed as `Command failed: ubus call ... (<reason>)`).
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_on(&self.path(), args)
    }

    /// `ubus call <object> <method> <json>` that must succeed; its printed reply.
    pub fn call(&self, object: &str, method: &str, args: &str) -> Json {
        let out = self.cli(&["call", object, method, args]);
        assert!(out.status.success(), "ubus call {object} {method}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        if text.trim().is_empty() {
            return Json::Null;
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// `ubus send <name> <json>` that must succeed (delivery to listeners is asynchronous).
    pub fn send(&self, name: &str, data: &str) {
        let out = self.cli(&["send", name, data]);
        assert!(out.status.success(), "ubus send {name} {data}: {out:?}");
    }

    /// An in-process client registering `objects`.
    pub fn client(
        &self,
        objects: Vec<UbusObject>,
    ) -> (UbusHandle, crossbeam_channel::Receiver<UbusEvent>) {
        client(&self.path(), objects)
    }

    /// Waits until `name` is on the bus (as `ubus list` sees it).
    pub fn wait_object(&self, name: &str) {
        wait_object_on(&self.path(), name, super::WAIT);
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.ubusd = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `ubus -s <socket> <args>`.
pub fn cli_on(socket: &Path, args: &[&str]) -> Output {
    Command::new(ubus_bin())
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ubus")
}

/// Waits up to `limit` until `ubus list <name>` finds the object.
pub fn wait_object_on(socket: &Path, name: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !cli_on(socket, &["list", name]).status.success() {
        assert!(Instant::now() < deadline, "object {name} never registered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An in-process ubus client on `socket` registering `objects`.
pub fn client(
    socket: &Path,
    objects: Vec<UbusObject>,
) -> (UbusHandle, crossbeam_channel::Receiver<UbusEvent>) {
    let mut cfg = UbusConfig::new(Some(socket.to_path_buf()));
    cfg.objects = objects;
    cfg.backoff_min = Duration::from_millis(20);
    UbusThread::spawn_with(cfg).expect("spawn ubus thread")
}

/// Calls made to a [`recorder`] object: (method, arguments).
pub type Calls = Arc<Mutex<Vec<(String, Json)>>>;

/// An object named `name` with `methods` (no argument policy) that records every call and
/// answers `reply(method)` (status 0, or the status given).
pub fn recorder(
    name: &str,
    methods: &[&str],
    reply: impl Fn(&str) -> (u32, Option<Json>) + Send + 'static,
) -> (UbusObject, Calls) {
    let calls: Calls = Arc::default();
    let log = calls.clone();
    let methods = methods
        .iter()
        .map(|m| icwmp::ubus::UbusMethod::new(m, &[]))
        .collect();
    let obj = UbusObject::new(name, methods, move |method, args| {
        log.lock().unwrap().push((method.to_string(), args));
        reply(method)
    });
    (obj, calls)
}
