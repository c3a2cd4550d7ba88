//! The agent's side of the last-good-ACS fallback (the rules are in agent/fallback.rs): which
//! events a session with the chosen ACS carries, what a session's outcome changes, the
//! retry timer of the new URL.

use super::fallback::{Fallback, Verdict};
use super::timers::Timer;
use super::Agent;
use crate::events::{EventCode, PendingEvent};
use std::time::Duration;

impl Agent {
    /// Reads the last good URL from the state; a state written before the fallback existed
    /// counts a bootstrapped URL whose `0 BOOTSTRAP` was delivered as good.
    pub(super) fn init_fallback(&mut self) {
        let st = &mut self.state;
        if st.last_good_url.is_empty()
            && !st.bootstrapped_url.is_empty()
            && !st
                .events
                .events()
                .iter()
                .any(|e| e.code == EventCode::Bootstrap)
        {
            st.last_good_url = st.bootstrapped_url.clone();
        }
        self.fallback = Fallback::new(st.last_good_url.clone());
    }

    /// The pending events a session with the chosen ACS delivers: all of them, but for the
    /// `0 BOOTSTRAP` of a new URL while fallen back to the last good one (it stays owed to the
    /// new one).
    pub(super) fn deliverable_events(&self) -> Vec<PendingEvent> {
        let fallen = self.fallback.fallen_back();
        self.state
            .events
            .events()
            .iter()
            .filter(|e| !(fallen && e.code == EventCode::Bootstrap))
            .cloned()
            .collect()
    }

    /// The retry interval of the new URL is over: the next session tries it.
    pub(super) fn probe_new_acs(&mut self) {
        if let Some(url) = self.fallback.trial_url() {
            log::info!("trying the new ACS {url} again");
        }
        self.fallback.probe_now();
    }

    /// A session with `url` completed: it becomes the last good URL (persisted).
    pub(super) fn fallback_session_ok(&mut self, url: &str) {
        let was_active = self.fallback.active();
        if self.fallback.session_ok(url) {
            if was_active && !self.fallback.active() {
                log::info!("the new ACS {url} completed a session: fallback over");
            }
            self.state.last_good_url = url.to_string();
            self.state.save();
        }
        if !self.fallback.active() {
            self.timers.stop(Timer::AcsProbe);
        }
    }

    /// A session with `url` started at `started` failed: true when the fallback took it
    /// over (no ordinary retry is owed: the next session goes to the last good ACS now, or
    /// the new URL waits for its retry interval).
    pub(super) fn fallback_session_failed(&mut self, url: &str, started: i64) -> bool {
        let now = self.clock.now();
        let ops = &self.config.ops;
        let interval = Duration::from_secs(u64::from(ops.fallback_retry_interval));
        match self.fallback.session_failed(url, started, now.unix(), ops) {
            Verdict::Retry => false,
            Verdict::FellBack(why) => {
                log::warn!("{why}");
                self.timers.set(Timer::AcsProbe, now.after(interval));
                // The last good ACS is contacted at once, a session owed to it.
                self.timers.stop(Timer::Retry);
                self.retry_count = 0;
                self.retry_owed = true;
                true
            }
            Verdict::ProbeFailed => {
                log::warn!(
                    "the new ACS {url} still fails; staying with {} and trying again in {} s",
                    self.fallback.last_good(),
                    interval.as_secs()
                );
                self.timers.set(Timer::AcsProbe, now.after(interval));
                self.timers.stop(Timer::Retry);
                self.retry_owed = false;
                true
            }
        }
    }
}
