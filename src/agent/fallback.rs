//! Last-good-ACS fallback: when a new ACS URL (an SPV of ManagementServer.URL, DHCP option 43,
//! a config edit) has not completed a session after `acs.fallback_attempts` failed sessions or
//! `acs.fallback_time` seconds, sessions go back to the last URL that completed one, and the
//! new URL is tried again every `acs.fallback_retry_interval` seconds until it works (then it
//! becomes the last good one). An operator's typo in a URL no longer orphans a fleet.
//!
//! Pure: the agent reports configured URLs, session outcomes and times; this says where the
//! next session goes. The last good URL is persisted by the agent in `state.json`.
//!
//! While fallen back, the `0 BOOTSTRAP` raised for the new URL stays owed to it: sessions
//! with the last good ACS carry the other pending events only.

use crate::config::OpsConfig;

/// A new URL on trial: not yet completed a session.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Trial {
    url: String,
    /// Start of its first failed session (Unix seconds).
    since: Option<i64>,
    /// Failed sessions so far.
    failures: u32,
}

/// The fallback state of the agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fallback {
    last_good: String,
    trial: Option<Trial>,
    /// Sessions go to `last_good` (unless a probe of the new URL is due).
    fallen: bool,
    /// The new URL's next try is due: the next session goes to it.
    probe_due: bool,
}

/// What a failed session means for the fallback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing: the ordinary retry applies.
    Retry,
    /// The new URL used up its attempts or time: sessions now go to the last good URL (the
    /// log line says why); the new URL is tried again after the retry interval.
    FellBack(String),
    /// A try of the new URL while fallen back failed: stay with the last good URL, try again
    /// after the retry interval.
    ProbeFailed,
}

impl Fallback {
    /// The state at start-up, with the last good URL from `state.json`.
    pub fn new(last_good: String) -> Fallback {
        Fallback {
            last_good,
            ..Fallback::default()
        }
    }

    /// The last URL that completed a session ("" when none did).
    pub fn last_good(&self) -> &str {
        &self.last_good
    }

    /// Whether sessions go to the last good URL instead of the configured one now.
    pub fn fallen_back(&self) -> bool {
        self.fallen && !self.probe_due
    }

    /// Whether the fallback is active, probing or not (the retry timer runs).
    pub fn active(&self) -> bool {
        self.fallen
    }

    /// The new URL on trial, if any.
    pub fn trial_url(&self) -> Option<&str> {
        self.trial.as_ref().map(|t| t.url.as_str())
    }

    /// Where the next session goes when `configured` is the configured URL.
    pub fn target<'a>(&'a self, configured: &'a str) -> &'a str {
        if self.fallen_back() {
            &self.last_good
        } else {
            configured
        }
    }

    /// The configured URL is `url` (start-up, reload): a URL other than the last good one is
    /// on trial; going back to the last good one (or to a third one) ends the fallback.
    pub fn configured(&mut self, url: &str) {
        if self.trial.as_ref().is_some_and(|t| t.url == url) {
            return;
        }
        self.fallen = false;
        self.probe_due = false;
        self.trial = (!self.last_good.is_empty() && url != self.last_good).then(|| Trial {
            url: url.to_string(),
            since: None,
            failures: 0,
        });
    }

    /// A session with `url` completed: it is the last good URL from now on. True when that
    /// changed (the agent persists it).
    pub fn session_ok(&mut self, url: &str) -> bool {
        if self.trial.as_ref().is_some_and(|t| t.url == url) {
            self.trial = None;
            self.fallen = false;
        }
        self.probe_due = false;
        if self.last_good == url {
            return false;
        }
        self.last_good = url.to_string();
        true
    }

    /// A session with `url`, started at `started` (Unix seconds), failed at `now`.
    pub fn session_failed(&mut self, url: &str, started: i64, now: i64, o: &OpsConfig) -> Verdict {
        let Some(t) = self.trial.as_mut().filter(|t| t.url == url) else {
            return Verdict::Retry;
        };
        if self.fallen {
            self.probe_due = false;
            return Verdict::ProbeFailed;
        }
        t.failures = t.failures.saturating_add(1);
        let since = *t.since.get_or_insert(started);
        let elapsed = now.saturating_sub(since).max(0);
        let by_count = o.fallback_attempts > 0 && t.failures >= o.fallback_attempts;
        let by_time = o.fallback_time > 0 && elapsed >= i64::from(o.fallback_time);
        if !o.fallback_enable || !(by_count || by_time) {
            return Verdict::Retry;
        }
        self.fallen = true;
        Verdict::FellBack(format!(
            "ACS {url} has not completed a session after {} attempt(s) in {elapsed} s: \
             going back to the last good ACS {}; {url} is tried again every {} s",
            t.failures, self.last_good, o.fallback_retry_interval
        ))
    }

    /// The retry interval is over: the next session tries the new URL.
    pub fn probe_now(&mut self) {
        if self.fallen {
            self.probe_due = true;
        }
    }

    /// A try of the new URL is due and not yet made.
    pub fn probe_due(&self) -> bool {
        self.fallen && self.probe_due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "http://old/acs";
    const NEW: &str = "http://new/acs";

    fn opts(attempts: u32, time: u32) -> OpsConfig {
        OpsConfig {
            fallback_attempts: attempts,
            fallback_time: time,
            fallback_retry_interval: 60,
            ..OpsConfig::default()
        }
    }

    #[test]
    fn falls_back_after_the_attempts_and_probes_until_the_new_url_works() {
        let o = opts(3, 0);
        let mut f = Fallback::new(OLD.into());
        f.configured(NEW);
        assert_eq!(f.target(NEW), NEW);
        assert_eq!(f.session_failed(NEW, 100, 101, &o), Verdict::Retry);
        assert_eq!(f.session_failed(NEW, 110, 111, &o), Verdict::Retry);
        let v = f.session_failed(NEW, 130, 131, &o);
        let Verdict::FellBack(why) = v else {
            panic!("{v:?}")
        };
        assert!(
            why.contains("3 attempt(s) in 31 s") && why.contains(OLD),
            "{why}"
        );
        assert_eq!(f.target(NEW), OLD);
        // The old ACS failing is an ordinary retry, still with the old one.
        assert_eq!(f.session_failed(OLD, 140, 141, &o), Verdict::Retry);
        assert_eq!(f.target(NEW), OLD);
        assert!(!f.session_ok(OLD));
        f.probe_now();
        assert_eq!(f.target(NEW), NEW);
        assert_eq!(f.session_failed(NEW, 200, 201, &o), Verdict::ProbeFailed);
        assert_eq!(f.target(NEW), OLD);
        f.probe_now();
        assert!(f.session_ok(NEW));
        assert_eq!((f.target(NEW), f.last_good()), (NEW, NEW));
        assert!(!f.active() && f.trial_url().is_none());
    }

    #[test]
    fn falls_back_after_the_time_and_not_when_disabled() {
        let mut f = Fallback::new(OLD.into());
        f.configured(NEW);
        assert_eq!(f.session_failed(NEW, 0, 5, &opts(0, 60)), Verdict::Retry);
        assert!(matches!(
            f.session_failed(NEW, 50, 61, &opts(0, 60)),
            Verdict::FellBack(_)
        ));
        let off = OpsConfig {
            fallback_enable: false,
            ..opts(1, 1)
        };
        let mut f = Fallback::new(OLD.into());
        f.configured(NEW);
        for i in 0..10 {
            assert_eq!(f.session_failed(NEW, i, i + 100, &off), Verdict::Retry);
        }
        assert_eq!(f.target(NEW), NEW);
    }

    #[test]
    fn no_fallback_without_a_last_good_url_and_a_new_config_resets() {
        let o = opts(1, 0);
        let mut f = Fallback::default();
        f.configured(NEW);
        assert_eq!(f.session_failed(NEW, 0, 1, &o), Verdict::Retry);
        let mut f = Fallback::new(OLD.into());
        f.configured(NEW);
        assert!(matches!(
            f.session_failed(NEW, 0, 1, &o),
            Verdict::FellBack(_)
        ));
        // The operator fixes the URL: a new trial, no fallback yet.
        f.configured("http://fixed/acs");
        assert_eq!(f.target("http://fixed/acs"), "http://fixed/acs");
        // Or goes back to the old one: nothing on trial.
        f.configured(OLD);
        assert!(f.trial_url().is_none());
        assert_eq!(f.session_failed(OLD, 0, 1, &o), Verdict::Retry);
    }
}
