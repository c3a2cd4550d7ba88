//! The agent's side of value-change detection: the baseline across restarts, checks on
//! events (the change watcher, a config reload, a bus event) and the budgeted poll.
//!
//! Events make a change reach the ACS at once; the poll (`periodic_notify_*`) remains for what
//! gives no event (uptime, counters, bbfdm values). `periodic_notify_enable 0` stops the poll
//! only: event-driven checks go on.
//!
//! What the ACS was last told persists in [`FILE_NAME`] (see [`ChangeTracker`]): written when
//! it changes (an acknowledged Inform, a rebase, a parameter appearing), so a kill -9 between
//! a change and its InformResponse reports the change after the restart, and a restart with
//! nothing changed reports nothing.

use super::timers::{Now, Timer};
use super::{Agent, Input};
use crate::datamodel::ParamValue;
use crate::events::EventCode;
use crate::notify::watch::{self, Hint};
use crate::notify::ChangeTracker;
use crate::store;
use std::time::{Duration, Instant};

/// The values last reported, in the state directory.
pub const FILE_NAME: &str = "notify_values.json";

/// The poll may take at most 1/POLL_DUTY of the time: a cycle that costs more (a huge
/// notified set, a slow backend) pushes the next one out.
const POLL_DUTY: u32 = 50;

/// The wait before the next poll: the configured interval, stretched so the poll's share of
/// the time stays within 1/[`POLL_DUTY`] of a cycle that cost `cost`.
pub fn poll_interval(interval: Duration, cost: Duration) -> Duration {
    interval.max(cost.saturating_mul(POLL_DUTY))
}

/// CPU time this thread has used (the poll's cost, whatever else the machine runs).
pub fn thread_cpu_time() -> Duration {
    // SAFETY: timespec is plain old data; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid clock id and a pointer to our timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

impl Agent {
    /// Start-up: the baseline is what the ACS was last told (so changes made while the daemon
    /// was down, or killed before an InformResponse, are reported); the current values when
    /// nothing usable was saved, or when a `0 BOOTSTRAP` is owed (a new ACS was told
    /// nothing: it starts from the values as they are). Checks at once.
    pub(super) fn load_changes(&mut self) {
        let path = self.opts.state_dir.join(FILE_NAME);
        let saved = match store::load_json(&path, "reported notification values") {
            store::Loaded::Object(v) => ChangeTracker::from_reported(&v),
            _ => None,
        };
        let saved = saved.filter(|_| !self.state.events.contains(&EventCode::Bootstrap));
        match saved {
            Some(tracker) => {
                self.changes = tracker;
                let now = self.clock.now();
                self.check_changes(now);
            }
            None => self.rebase_changes(),
        }
    }

    /// Starts the change watcher on what the data model's values come from, plus the UCI
    /// file (the daemon's, `uci` and `icwmpd -c set` write there) and the attributes file
    /// (`icwmpd -c set_notif`: the turn after the hint reloads it).
    pub(super) fn start_watch(&mut self) {
        let mut sources = self.dm.change_sources();
        sources.files.push(self.opts.config_path.clone());
        // The C-era STUN configs merged into it (LuCI edits them): STUN follows them too.
        sources
            .files
            .extend(crate::config::stun_legacy::files(&self.opts.config_path));
        sources
            .files
            .push(self.opts.state_dir.join(crate::notify::FILE_NAME));
        // Tests the CLI requests (`icwmpd -c set ...DiagnosticsState Requested`).
        let diag = self.opts.state_dir.join(crate::diag::store::FILE_NAME);
        if !sources.files.contains(&diag) {
            sources.files.push(diag);
        }
        self.watched = sources.files.clone();
        match watch::spawn(&sources, self.inputs.inbox(Input::Changed)) {
            Ok(w) => self.watch = w,
            Err(e) => log::warn!("no change watcher ({e}): value changes are polled"),
        }
    }

    /// Something values come from changed (the watcher, a reload, a bus event): check now.
    /// A watcher hint about files only, when none of the watched files changed since the
    /// last check, was about the daemon's own writes that check already saw: no read.
    pub(super) fn on_change_hint(&mut self, hint: Hint) {
        if hint.files {
            // Perhaps the config file (`icwmpd -c set`, an editor): STUN and XMPP follow it.
            self.nudge_followers();
            if !hint.net && !self.watched.is_empty() && self.stamps() == self.checked_stamps {
                log::debug!("no watched file changed since the last check ({hint:?})");
                return;
            }
        }
        log::debug!("checking notified values ({hint:?})");
        let now = self.clock.now();
        self.check_changes(now);
    }

    /// The identity of each watched file now (None: missing).
    fn stamps(&self) -> Vec<Option<crate::config::follow::Stamp>> {
        self.watched
            .iter()
            .map(|p| crate::config::follow::stamp(p))
            .collect()
    }

    /// Compares the notified values with the last ones seen; an active change opens a
    /// session, after the DefaultActiveNotificationThrottle when one is set. Returns the
    /// wall time the check took.
    pub(super) fn check_changes(&mut self, now: Now) -> Duration {
        self.check_changes_after(now, &Default::default())
    }

    /// [`Agent::check_changes`] after the ACS wrote `acs_written` itself: their values join
    /// the baseline unreported and any change of theirs still owed is dropped (what the
    /// ACS changed itself is not reported back to it), in the same read.
    pub(super) fn check_changes_after(
        &mut self,
        now: Now,
        acs_written: &std::collections::BTreeSet<String>,
    ) -> Duration {
        let start = Instant::now();
        let cpu = thread_cpu_time();
        // Taken before the read: a file written after it is seen as changed by the next hint.
        self.checked_stamps = self.stamps();
        let current = self.attrs.notified(self.dm.as_mut());
        let count = current.len();
        if !acs_written.is_empty() {
            self.changes.acs_wrote(current.clone(), acs_written);
        }
        let active = self.changes.poll(current);
        self.save_changes();
        // `make bench` reads this line (benches/notify.rs).
        log::debug!(
            "notification check: {count} parameters, {} us CPU, {} us",
            thread_cpu_time().saturating_sub(cpu).as_micros(),
            start.elapsed().as_micros()
        );
        if active {
            // Throttles: agent/md_limit.rs.
            self.active_change(now);
        }
        start.elapsed()
    }

    /// One poll cycle (`periodic_notify_enable`): a check, and the next cycle planned after
    /// `periodic_notify_interval`, stretched when the check was costly.
    pub(super) fn poll_cycle(&mut self, now: Now) {
        let cost = self.check_changes(now);
        let interval = Duration::from_secs(self.config.cpe.periodic_notify_interval.max(1) as u64);
        let wait = poll_interval(interval, cost);
        if wait > interval {
            log::warn!(
                "notification poll took {} ms: next one in {} s",
                cost.as_millis(),
                wait.as_secs()
            );
        }
        self.timers.set(Timer::NotifyPoll, now.after(wait));
    }

    /// The Inform carrying `changed` was acknowledged: the ACS knows these values now.
    pub(super) fn changes_delivered(&mut self, changed: &[ParamValue]) {
        self.changes.delivered(changed);
        self.save_changes();
    }

    /// Takes the current values as the baseline (values the ACS set are not reported back).
    pub(super) fn rebase_changes(&mut self) {
        let current = self.attrs.notified(self.dm.as_mut());
        self.changes.rebase(current);
        self.save_changes();
    }

    /// Persists the reported values when they changed. A failed write (logged by the store)
    /// costs at most a change reported twice after a restart; retried at the next change.
    fn save_changes(&mut self) {
        if !self.changes.take_dirty() {
            return;
        }
        let path = self.opts.state_dir.join(FILE_NAME);
        let text = self.changes.reported_json().to_string();
        // Values may be secrets (a notified password reads empty, but a custom one may not).
        if store::write_private(&path, text.as_bytes()).is_err() {
            self.changes.mark_dirty();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Inputs, Options};
    use crate::config::Config;
    use crate::datamodel::SetValue;

    const PII: &str = "Device.ManagementServer.PeriodicInformInterval";

    /// An agent on a fake data model (PII = 60, active) in `dir`, without an ACS URL (no
    /// session starts) and without the poll.
    fn agent(dir: &std::path::Path) -> Agent {
        let text = "config acs 'acs'\n\toption periodic_inform_enable '0'\n\
                    \nconfig cpe 'cpe'\n\toption periodic_notify_enable '0'\n";
        let (config, _) = Config::from_str(text, "cwmp").expect("config parses");
        let opts = Options {
            config_path: dir.join("cwmp"),
            state_dir: dir.to_path_buf(),
            boot_event: false,
            get_rpc_methods: false,
            argv: Vec::new(),
        };
        let mut attrs = crate::notify::NotifyAttributes::new();
        attrs.set_notification(PII, 2);
        attrs.save(dir).expect("attributes saved");
        let dm = Box::new(crate::rpc::fake::FakeDm::new());
        Agent::new(opts, config, dm, Inputs::default())
    }

    fn set(agent: &mut Agent, value: &str) {
        let v = SetValue {
            name: PII.into(),
            value: value.into(),
            type_hint: None,
        };
        agent.dm.set_values(&[v]).expect("set");
    }

    fn value_change(agent: &Agent) -> bool {
        agent.state.events.contains(&EventCode::ValueChange)
    }

    #[test]
    fn a_bbf_config_change_event_checks_at_once_without_the_poll() {
        let dir = std::env::temp_dir().join(format!("icwmp-chg-bbf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = agent(&dir);
        assert!(!a.timers.is_armed(Timer::NotifyPoll));
        set(&mut a, "120");
        a.on_bus_event("bbfdm.event", &serde_json::json!({"name": "Device.X!"}));
        assert!(!value_change(&a), "not a configuration change");
        a.on_bus_event("bbf.config.change", &serde_json::json!({}));
        assert!(value_change(&a));
        assert_eq!(a.changes.pending()[0].value, "120");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_baseline_persists_so_a_restart_reports_what_changed_and_only_that() {
        let dir = std::env::temp_dir().join(format!("icwmp-chg-restart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // First start: the baseline (PII = 60) is saved.
        let a = agent(&dir);
        assert!(!value_change(&a));
        assert!(dir.join(FILE_NAME).exists());
        drop(a);
        // Same values: nothing to report.
        let a = agent(&dir);
        assert!(!value_change(&a));
        // The ACS was told 120, then the value went back to 60 while the daemon was down.
        let mut a = agent(&dir);
        set(&mut a, "120");
        a.on_change_hint(Hint::default());
        let sent = a.changes.pending();
        a.changes_delivered(&sent);
        drop(a);
        let a = agent(&dir);
        assert!(value_change(&a), "60 differs from the 120 the ACS got");
        assert_eq!(a.changes.pending()[0].value, "60");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_new_acs_starts_from_the_current_values() {
        let dir = std::env::temp_dir().join(format!("icwmp-chg-boot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = agent(&dir);
        set(&mut a, "120");
        a.on_change_hint(Hint::default());
        let sent = a.changes.pending();
        a.changes_delivered(&sent);
        drop(a);
        // Restarted with a BOOTSTRAP owed (and PII back at 60, which the old ACS never got): the saved baseline is not used.
        let mut st = crate::agent::state::AgentState::load(&dir);
        st.events.add(EventCode::Bootstrap, "");
        st.save();
        let a = agent(&dir);
        assert!(!value_change(&a), "{:?}", a.state.events);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_costly_poll_is_spaced_out() {
        let ten = Duration::from_secs(10);
        assert_eq!(poll_interval(ten, Duration::from_millis(3)), ten);
        assert_eq!(
            poll_interval(ten, Duration::from_secs(1)),
            Duration::from_secs(50)
        );
        assert_eq!(poll_interval(ten, Duration::MAX), Duration::MAX);
    }

    #[test]
    fn thread_cpu_time_moves_forward() {
        let a = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        assert!(thread_cpu_time() > a);
    }
}
