//! OpenWrt's real `ubusd` on a private socket, for the tests and benches that meet the real bus
//! (shared through `#[path]`). The binaries come from `make test-deps`
//! (`../shared/vendor/openwrt/build.sh target/openwrt-tools`), or from `ICWMP_OPENWRT_TOOLS`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the built OpenWrt tools live (`bin/ubus`, `bin/uci`, `sbin/ubusd`).
pub fn openwrt_tools() -> PathBuf {
    std::env::var_os("ICWMP_OPENWRT_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openwrt-tools"))
}

/// A running ubusd, killed on drop.
pub struct Ubusd {
    child: Child,
    socket: PathBuf,
}

impl Ubusd {
    /// Starts ubusd on `socket` (never the system's default path) and waits until it accepts.
    /// Panics with the fix when the tools are not built: a test of the real bus must not pass
    /// without it.
    pub fn start(socket: &Path) -> Ubusd {
        let bin = openwrt_tools().join("sbin/ubusd");
        assert!(
            bin.is_file(),
            "{} missing: run `make test-deps` (builds OpenWrt's ubusd)",
            bin.display()
        );
        let child = Command::new(&bin)
            .arg("-s")
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ubusd");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::os::unix::net::UnixStream::connect(socket).is_err() {
            assert!(Instant::now() < deadline, "ubusd did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        Ubusd {
            child,
            socket: socket.to_path_buf(),
        }
    }

    /// The socket path clients connect to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Ubusd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
