//! Helpers of tests/options.rs: an ACS that speaks HTTP/1.1 by hand (Expect: 100-continue),
//! a dual-stack host name in a private mount namespace (force_ipv4), and the udhcpc
//! option-125 hook run on a daemon's config with the real `uci` (GatewayInfo).

use super::common::daemon::{Cpe, CpeOpts};
use super::common::raw_acs::http_200;
use super::common::{self, soap, WAIT};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the [`ContinueAcs`] does with `Expect: 100-continue`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum On100 {
    /// Answers `100 Continue`.
    Continue,
    /// Says nothing: the client must send the body after its wait.
    Silent,
    /// A `100 Continue` with a header field (as tiny_http sends), which ureq refuses.
    WithHeaders,
}

/// One POST the [`ContinueAcs`] read in full.
#[derive(Clone, Debug)]
pub struct ContinuePost {
    pub expect: bool,
    /// From the end of the request head to the end of the body.
    pub body_wait: Duration,
    pub body: String,
}

/// An ACS that speaks HTTP/1.1 by hand, to see `Expect` and answer it (or not) as told;
/// answers Informs, then pops `script` (body elements) one per POST, then 204.
pub struct ContinueAcs {
    port: u16,
    posts: std::sync::Arc<std::sync::Mutex<Vec<ContinuePost>>>,
}

impl ContinueAcs {
    pub fn start(on100: On100, script: Vec<String>) -> ContinueAcs {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let posts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = std::sync::Arc::new(std::sync::Mutex::new(
            script
                .into_iter()
                .collect::<std::collections::VecDeque<_>>(),
        ));
        let p = posts.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let (posts, script) = (p.clone(), script.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut w = conn.try_clone().expect("clone stream");
                    let mut r = BufReader::new(conn);
                    loop {
                        let (mut len, mut expect) = (0usize, false);
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            let l = line.trim().to_ascii_lowercase();
                            if l.is_empty() {
                                break;
                            }
                            if let Some(v) = l.strip_prefix("content-length:") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            expect |= l == "expect: 100-continue";
                        }
                        let head_end = Instant::now();
                        if expect && on100 != On100::Silent {
                            let extra = if on100 == On100::WithHeaders {
                                "Server: x\r\n"
                            } else {
                                ""
                            };
                            let _ = write!(w, "HTTP/1.1 100 Continue\r\n{extra}\r\n");
                        }
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        let body = String::from_utf8_lossy(&body).into_owned();
                        let reply = if body.contains("<cwmp:Inform>") {
                            Some(common::raw_acs::inform_response("1"))
                        } else {
                            let rpc = script.lock().unwrap().pop_front();
                            rpc.map(|b| soap::envelope(soap::CWMP_1_2, "acs-1", &b))
                        };
                        posts.lock().unwrap().push(ContinuePost {
                            expect,
                            body_wait: head_end.elapsed(),
                            body,
                        });
                        let out = match reply {
                            Some(b) => http_200(b.as_bytes(), ""),
                            None => {
                                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_vec()
                            }
                        };
                        if w.write_all(&out).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        ContinueAcs { port, posts }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/acs", self.port)
    }

    /// Waits for `n` POSTs over 1 MiB; returns every POST so far.
    pub fn wait_big(&self, n: usize, cpe: &Cpe) -> Vec<ContinuePost> {
        self.wait_big_where(n, cpe, |_| true)
    }

    /// Waits for `n` POSTs over 1 MiB that satisfy `pred`; returns every POST so far.
    pub fn wait_big_where(
        &self,
        n: usize,
        cpe: &Cpe,
        pred: impl Fn(&ContinuePost) -> bool,
    ) -> Vec<ContinuePost> {
        let deadline = Instant::now() + WAIT;
        loop {
            let posts = self.posts.lock().unwrap().clone();
            if posts
                .iter()
                .filter(|p| p.body.len() > 1 << 20 && pred(p))
                .count()
                >= n
            {
                return posts;
            }
            assert!(Instant::now() < deadline, "no large POST\n{}", cpe.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn continue_cpe(acs: &ContinueAcs, extra_acs: &str) -> Cpe {
    let mut o = CpeOpts::new(&acs.url());
    o.extra_acs.push_str("\toption get_rpc_methods '0'\n");
    o.extra_acs.push_str(extra_acs);
    Cpe::start(o)
}

/// Runs `f` on a thread in a mount namespace of its own where `/etc/hosts` names `acs.test`
/// as ::1 first, then 127.0.0.1; `None` when that cannot be set up (not root).
pub fn with_dual_stack_name<T: Send + 'static>(
    hosts: PathBuf,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    std::thread::spawn(move || {
        std::fs::write(&hosts, "::1 acs.test\n127.0.0.1 acs.test\n").ok()?;
        let c = |s: &str| std::ffi::CString::new(s).expect("no NUL");
        let (root, etc_hosts, src) = (c("/"), c("/etc/hosts"), c(&hosts.display().to_string()));
        // SAFETY: unshare(2) and mount(2) with valid C strings, affecting this thread (and
        // the processes it starts) only.
        let ok = unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    src.as_ptr(),
                    etc_hosts.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) == 0
        };
        if !ok {
            eprintln!(
                "skipped: no private /etc/hosts ({})",
                std::io::Error::last_os_error()
            );
            return None;
        }
        Some(f())
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Connections a listener on [::1]:`port` accepted (each closed at once).
pub fn ipv6_decoy(port: u16) -> Option<std::sync::Arc<std::sync::atomic::AtomicU32>> {
    use std::sync::atomic::{AtomicU32, Ordering};
    let l = std::net::TcpListener::bind(("::1", port)).ok()?;
    let n = std::sync::Arc::new(AtomicU32::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    Some(n)
}

/// OpenWrt's `uci` CLI built by `make test-deps` (target/openwrt-tools).
pub fn real_uci() -> Option<PathBuf> {
    let dir = std::env::var_os("ICWMP_OPENWRT_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/openwrt-tools"));
    let uci = dir.join("bin/uci");
    uci.is_file().then_some(uci)
}

/// DHCP option 125 as udhcpc exports it (hex): one enterprise block of `enterprise` with
/// the given sub-options.
pub fn opt125(enterprise: u32, subs: &[(u8, &str)]) -> String {
    let data: String = subs
        .iter()
        .map(|(c, v)| {
            let hex: String = v.bytes().map(|b| format!("{b:02x}")).collect();
            format!("{c:02x}{:02x}{hex}", v.len())
        })
        .collect();
    format!("{enterprise:08x}{:02x}{data}", data.len() / 2)
}

/// Runs the package's udhcpc option-125 hook on `cpe`'s config file with the real `uci`;
/// the init script's `reload` sends the daemon SIGHUP and is counted in `<dir>/reloads`.
pub fn run_opt125_hook(cpe: &Cpe, uci: &Path, event: &str, opt: &str) {
    use std::os::unix::fs::PermissionsExt;
    let bin = cpe.dir.join("hook-bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::create_dir_all(cpe.dir.join("uci-delta")).expect("mkdir");
    let scripts = [
        (
            "uci",
            format!(
                "#!/bin/sh\nexec {} -c {} -t {} \"$@\"\n",
                uci.display(),
                cpe.dir.display(),
                cpe.dir.join("uci-delta").display()
            ),
        ),
        (
            "init",
            format!(
                "#!/bin/sh\necho \"$1\" >> {}\nkill -HUP {}\n",
                cpe.dir.join("reloads").display(),
                cpe.pid().expect("running")
            ),
        ),
        ("logger", "#!/bin/sh\n".to_string()),
    ];
    for (name, body) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, body).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let hook = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("openwrt/files/etc/udhcpc.user.d/icwmpd-opt125");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new("sh")
        .arg(hook)
        .arg(event)
        .env("PATH", path)
        .env("opt125", opt)
        .env("INTERFACE", "wan")
        .env("ICWMP_INIT_SCRIPT", bin.join("init"))
        .output()
        .expect("run the hook");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn reloads(cpe: &Cpe) -> usize {
    std::fs::read_to_string(cpe.dir.join("reloads"))
        .unwrap_or_default()
        .lines()
        .count()
}
