//! The daemon under test: writes its UCI config and state dir under a unique temp dir, runs
//! the real `icwmpd` binary, captures its stderr, kills it on drop.

use super::digest::{self, CrOutcome};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How to configure the daemon.
#[derive(Clone, Debug)]
pub struct CpeOpts {
    /// ACS URL (`acs.url`).
    pub acs_url: String,
    /// ACS credentials (`acs.userid` / `acs.passwd`).
    pub acs_user: String,
    /// ACS password.
    pub acs_pass: String,
    /// CA certificate file for an HTTPS ACS (`acs.ssl_cafile`).
    pub ca_file: Option<PathBuf>,
    /// Connection-request credentials (`cpe.userid` / `cpe.passwd`).
    pub cr_user: String,
    /// Connection-request password.
    pub cr_pass: String,
    /// Pass `-b` (report `1 BOOT`).
    pub boot: bool,
    /// Extra UCI lines appended inside the `cpe` section (tab-indented `option` lines).
    pub extra_cpe: String,
    /// Extra UCI lines appended inside the `acs` section.
    pub extra_acs: String,
    /// Extra command-line arguments (`--ubus-socket PATH`...).
    pub extra_args: Vec<String>,
    /// Extra environment variables of the daemon.
    pub env: Vec<(String, String)>,
}

impl CpeOpts {
    /// Defaults for an ACS at `acs_url` with the ACS's default credentials.
    pub fn new(acs_url: &str) -> CpeOpts {
        CpeOpts {
            acs_url: acs_url.to_string(),
            acs_user: "acsuser".into(),
            acs_pass: "acspass".into(),
            ca_file: None,
            cr_user: "cruser".into(),
            cr_pass: "crpass".into(),
            boot: true,
            extra_cpe: String::new(),
            extra_acs: String::new(),
            extra_args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A running (or stopped) daemon with its files.
pub struct Cpe {
    /// The test's directory.
    pub dir: PathBuf,
    /// The UCI config file.
    pub config: PathBuf,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The connection-request port (`cpe.port`).
    pub cr_port: u16,
    /// Options it was started with.
    pub opts: CpeOpts,
    child: Option<Child>,
    starts: u32,
}

/// The binary under test: `$ICWMPD_BIN` when set (`make router-test` points it at the
/// size-optimised router build), else the one cargo built for these tests.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("ICWMPD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_icwmpd").to_string())
    })
}

fn uci_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

impl Cpe {
    /// Writes the config and starts the daemon.
    pub fn start(opts: CpeOpts) -> Cpe {
        let mut cpe = Cpe::prepare(opts);
        cpe.spawn();
        cpe
    }

    /// Writes the config without starting (for CLI runs or a later [`Cpe::spawn`]).
    pub fn prepare(opts: CpeOpts) -> Cpe {
        let dir = super::temp_dir("cpe");
        let config = dir.join("cwmp");
        let state_dir = dir.join("state");
        let cr_port = super::free_port();
        let q = uci_quote;
        let mut text = format!(
            "config acs 'acs'\n\
             \toption url {}\n\
             \toption userid {}\n\
             \toption passwd {}\n\
             \toption periodic_inform_enable '0'\n\
             \toption periodic_inform_interval '86400'\n\
             \toption retry_min_wait_interval '1'\n\
             \toption retry_interval_multiplier '1000'\n",
            q(&opts.acs_url),
            q(&opts.acs_user),
            q(&opts.acs_pass)
        );
        if let Some(ca) = &opts.ca_file {
            text.push_str(&format!(
                "\toption ssl_cafile {}\n",
                q(&ca.display().to_string())
            ));
        }
        text.push_str(&opts.extra_acs);
        text.push_str(&format!(
            "\nconfig cpe 'cpe'\n\
             \toption enable '1'\n\
             \toption port '{cr_port}'\n\
             \toption cr_host '127.0.0.1'\n\
             \toption userid {}\n\
             \toption passwd {}\n\
             \toption log_severity 'DEBUG'\n",
            q(&opts.cr_user),
            q(&opts.cr_pass)
        ));
        text.push_str(&opts.extra_cpe);
        std::fs::write(&config, text).expect("write UCI config");
        Cpe {
            dir,
            config,
            state_dir,
            cr_port,
            opts,
            child: None,
            starts: 0,
        }
    }

    /// The stderr log file of the current (or last) run.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("icwmpd-{}.log", self.starts))
    }

    /// Starts the daemon process (stderr to a new log file per start).
    pub fn spawn(&mut self) {
        self.starts += 1;
        let log = File::create(self.log_path()).expect("create log file");
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--log-level")
            .arg("debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log fd"))
            .stderr(log);
        if self.opts.boot {
            cmd.arg("-b");
        }
        cmd.args(&self.opts.extra_args);
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k, v)));
        self.child = Some(cmd.spawn().expect("spawn icwmpd"));
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within 5 s; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok().and_then(|s| s.code())
    }

    /// SIGSTOP, and waits until every thread is stopped (a daemon that can no longer
    /// answer anything, as a hung one); [`Cpe::resume`] continues it.
    pub fn pause(&self) {
        let pid = self.pid().expect("running");
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGSTOP);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let stopped = || {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                return false;
            };
            tasks.flatten().all(|t| {
                let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                // The state follows the command name, which is in parentheses.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T'))
            })
        };
        while !stopped() {
            assert!(Instant::now() < deadline, "icwmpd did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGCONT after [`Cpe::pause`].
    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            // SAFETY: as in `pause`.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGCONT);
            }
        }
    }

    /// Kills the daemon (if running) and starts it again with the same files.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Whether the process is still alive (None: never started or already reaped).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The value `icwmpd -c get NAME` prints for `name` ("" when it prints none).
    pub fn cli_get(&self, name: &str) -> String {
        let out = self.cli(&["get", name]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} => ")))
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Every log file of this daemon, concatenated (for failure reports).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for i in 1..=self.starts {
            let p = self.dir.join(format!("icwmpd-{i}.log"));
            s.push_str(&format!("---- {} ----\n", p.display()));
            s.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
        s
    }

    /// The UCI config file's current text.
    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap_or_default()
    }

    /// Waits until the connection-request port accepts connections.
    pub fn wait_cr_port(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.cr_port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// A Digest connection request with the configured credentials.
    pub fn connection_request(&self) -> Result<CrOutcome, String> {
        self.connection_request_as(&self.opts.cr_user, &self.opts.cr_pass)
    }

    /// A Digest connection request with the given credentials.
    pub fn connection_request_as(&self, user: &str, pass: &str) -> Result<CrOutcome, String> {
        if !self.wait_cr_port(super::WAIT) {
            return Err(format!("nothing listens on port {}", self.cr_port));
        }
        digest::connection_request(self.cr_port, "/", user, pass)
    }

    /// Runs `icwmpd --config .. --state-dir .. -c <args>` and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_with(&self.config, &self.state_dir, args)
    }
}

/// Runs the CLI against the given files.
pub fn cli_with(config: &Path, state_dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state_dir)
        .arg("-c")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run icwmpd -c")
}

impl Drop for Cpe {
    fn drop(&mut self) {
        self.kill9();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
