//! Shared black-box test harness: a scripted ACS, the daemon under test, XSD validation.
//!
//! Each integration test file pulls this in with `mod common;`; not every file uses every
//! helper, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod acs;
pub mod daemon;
pub mod digest;
pub mod files;
pub mod msg;
pub mod netns;
pub mod pki;
pub mod raw_acs;
pub mod soap;
pub mod ubus;
pub mod xml;
pub mod xsd;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Generous upper bound for anything the daemon must do "soon".
pub const WAIT: Duration = Duration::from_secs(20);

/// A fresh, unique directory under the system temp dir (`/tmp/icwmp-it-<pid>-<n>-<tag>`).
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("icwmp-it-{}-{n}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

#[path = "../../benches/common/port.rs"]
mod port;

/// A TCP port that was free a moment ago, for a daemon to listen on: below the ephemeral
/// range, so no client socket of another test can hold it (see [`port::daemon_port`]).
pub fn free_port() -> u16 {
    port::daemon_port()
}

/// The project's shared reference tree (`../shared`), when present.
pub fn shared_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    p.join("spec").is_dir().then_some(p)
}

/// A script entry for [`Rig::with`] and [`Rig::session`]: end the session there, and answer
/// 503 from then on (see [`acs::Acs::push_go_down`]).
pub const GO_DOWN: &str = "\u{0}go-down";

/// A script entry for [`Rig::with`] and [`Rig::session`]: the ACS holds the CPE's POST for
/// `ms` milliseconds before answering it with what follows.
pub fn pause(ms: u64) -> String {
    format!("\u{0}pause:{ms}")
}

fn push_all(acs: &acs::Acs, script: &[String]) {
    for r in script {
        if r == GO_DOWN {
            acs.push_go_down();
        } else if let Some(ms) = r.strip_prefix("\u{0}pause:") {
            acs.push_pause(Duration::from_millis(ms.parse().unwrap_or(0)));
        } else {
            acs.push(r.clone());
        }
    }
}

/// A scripted ACS and a daemon pointed at it.
pub struct Rig {
    /// The ACS.
    pub acs: acs::Acs,
    /// The daemon.
    pub cpe: daemon::Cpe,
}

impl Rig {
    /// Plain HTTP ACS without authentication whose script holds `script` (served from the
    /// first session on), and a daemon started with `-b`.
    pub fn start(script: &[String]) -> Rig {
        Rig::with(acs::AcsOpts::default(), script, |_| {})
    }

    /// An ACS with `opts` and `script`, and a daemon whose options `tweak` may adjust before
    /// it starts.
    pub fn with(
        opts: acs::AcsOpts,
        script: &[String],
        tweak: impl FnOnce(&mut daemon::CpeOpts),
    ) -> Rig {
        let ca = opts.tls.as_ref().map(|p| p.ca_file.clone());
        let acs = acs::Acs::start(opts);
        push_all(&acs, script);
        let mut o = daemon::CpeOpts::new(&acs.url());
        o.ca_file = ca;
        tweak(&mut o);
        let cpe = daemon::Cpe::start(o);
        Rig { acs, cpe }
    }

    /// Fails the test with the ACS log and the daemon's logs.
    pub fn fail(&self, what: &str, acs_report: &str) -> ! {
        panic!("{what}\n{acs_report}\n{}", self.cpe.logs())
    }

    /// Waits (up to [`WAIT`]) until `pred` holds over the ACS log.
    pub fn wait(&self, what: &str, pred: impl Fn(&[acs::Msg]) -> bool) -> Vec<acs::Msg> {
        self.acs
            .wait_for(WAIT, pred)
            .unwrap_or_else(|r| self.fail(&format!("timed out waiting for {what}"), &r))
    }

    /// Waits for the `n`th (1-based) Inform carrying event `code`.
    pub fn wait_inform(&self, code: &str, n: usize) -> acs::Msg {
        let msgs = self.wait(&format!("Inform #{n} with {code}"), |m| {
            m.iter().filter(|x| x.has_event(code)).count() >= n
        });
        msgs.into_iter()
            .filter(|x| x.has_event(code))
            .nth(n - 1)
            .expect("counted above")
    }

    /// Waits for the `n`th (1-based) CPE message answering a scripted `method`.
    pub fn wait_answer(&self, method: &str, n: usize) -> acs::Msg {
        let is = |x: &acs::Msg| x.answer_to.as_deref() == Some(method);
        let msgs = self.wait(&format!("answer #{n} to {method}"), |m| {
            m.iter().filter(|x| is(x)).count() >= n
        });
        msgs.into_iter()
            .filter(is)
            .nth(n - 1)
            .expect("counted above")
    }

    /// Restarts the daemon and waits for an Inform after the first `before` messages the
    /// ACS saw (`before`: the log length taken when the daemon was idle).
    pub fn restart_until_inform(&mut self, before: usize) {
        self.cpe.restart();
        self.wait("an Inform after the restart", |m| {
            m[before.min(m.len())..]
                .iter()
                .any(|x| x.method() == "Inform")
        });
    }

    /// Waits until the script is used up and the session that used it ended (204 sent).
    pub fn wait_idle(&self) -> Vec<acs::Msg> {
        self.acs
            .wait_idle(WAIT)
            .unwrap_or_else(|r| self.fail("timed out waiting for the script to be used up", &r))
    }

    /// [`Rig::wait_idle`], then the moment the CPE needs after the 204 to take what the
    /// session left (new notification attributes, the ACS's own writes) as its baseline: a
    /// local change made before that is part of the baseline, not a change to report.
    pub fn wait_settled(&self) -> Vec<acs::Msg> {
        let msgs = self.wait_idle();
        std::thread::sleep(Duration::from_millis(500));
        msgs
    }

    /// Sends a Digest connection request and asserts it was accepted (401 then 200).
    pub fn kick(&self) {
        match self.cpe.connection_request() {
            Ok(o) if o.first == 401 && o.second == 200 => {}
            other => self.fail(&format!("connection request failed: {other:?}"), ""),
        }
    }

    /// Runs `requests` in a new session opened by a connection request (after the current
    /// one is over); returns that session's messages.
    pub fn session(&self, requests: &[String]) -> Vec<acs::Msg> {
        let before = self.wait_idle().len();
        push_all(&self.acs, requests);
        self.kick();
        let msgs = self.wait_idle();
        msgs[before..].to_vec()
    }

    /// The message in `msgs` that answers a scripted `method` (the first one).
    pub fn answer(&self, msgs: &[acs::Msg], method: &str) -> acs::Msg {
        msgs.iter()
            .find(|m| m.answer_to.as_deref() == Some(method))
            .cloned()
            .unwrap_or_else(|| {
                let list: Vec<String> = msgs.iter().map(acs::Msg::summary).collect();
                self.fail(&format!("no answer to {method}"), &list.join("\n"))
            })
    }

    /// How many Informs carrying `code` the ACS received.
    pub fn informs_with(&self, code: &str) -> usize {
        self.acs.msgs().iter().filter(|m| m.has_event(code)).count()
    }

    /// Asserts that every message the ACS received validates against the CWMP XSD.
    pub fn assert_xsd_valid(&self) {
        let failures = xsd::validate_all(&self.acs.msgs());
        if !failures.is_empty() {
            panic!(
                "{} message(s) fail XSD validation:\n{}",
                failures.len(),
                failures.join("\n\n")
            );
        }
    }
}
