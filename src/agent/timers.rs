//! Every deadline the agent owns, in one table (as quinn-proto's `TimerTable`), and the clock
//! it is read against.
//!
//! The table holds monotonic milliseconds, so a wall-clock step (NTP setting the time at boot)
//! cannot stall or rush the retry backoff or the notification poll. Timers whose phase is
//! wall-clock time (periodic inform, heartbeat, scheduled informs, transfer windows) keep their
//! Unix due time where they are owned and are mirrored into the table on every turn of the
//! loop ([`Now::at_unix`]), so a clock step moves them with it.
//!
//! [`TimerTable::expire`] removes every timer it reports: a timer fires once and is never due
//! again until re-armed, so the loop cannot spin on a deadline in the past.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A deadline of the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// End of the backoff after a failed session (TR-069 3.2.1.1).
    Retry,
    /// Next `2 PERIODIC` inform.
    Periodic,
    /// Next `14 HEARTBEAT`.
    Heartbeat,
    /// Next poll of the notified parameters.
    NotifyPoll,
    /// End of the DefaultActiveNotificationThrottle hold on an active change.
    Throttle,
    /// Earliest ScheduleInform due.
    Scheduled,
    /// Earliest transfer start or window end.
    Transfer,
    /// End of the wait for a reboot the system was asked for: no session until then (it
    /// would report `M Reboot` before the reboot).
    RebootGrace,
    /// Next LightweightNotificationTrigger: pending passive lightweight notifications go out.
    LwnTrigger,
    /// `ManagementServer.DelayReboot` seconds after the session that set it ended.
    DelayedReboot,
    /// `ManagementServer.ScheduleReboot` (wall-clock time).
    ScheduledReboot,
    /// While fallen back to the last good ACS: the next try of the new ACS URL.
    AcsProbe,
}

impl Timer {
    /// Every timer, in table order.
    pub const ALL: [Timer; 12] = [
        Timer::Retry,
        Timer::Periodic,
        Timer::Heartbeat,
        Timer::NotifyPoll,
        Timer::Throttle,
        Timer::Scheduled,
        Timer::Transfer,
        Timer::RebootGrace,
        Timer::LwnTrigger,
        Timer::DelayedReboot,
        Timer::ScheduledReboot,
        Timer::AcsProbe,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One reading of both clocks: monotonic milliseconds since the agent's clock started, and
/// wall-clock milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time (ms): what deadlines are compared with.
    pub mono: u64,
    /// Wall-clock time (Unix ms): what phases and the ACS's times are in.
    pub wall_ms: i64,
}

impl Now {
    /// Wall-clock Unix seconds.
    pub fn unix(&self) -> i64 {
        self.wall_ms.div_euclid(1000)
    }

    /// The monotonic deadline of the wall-clock second `t` (now when `t` has passed).
    pub fn at_unix(&self, t: i64) -> u64 {
        let ahead = t.saturating_mul(1000).saturating_sub(self.wall_ms).max(0);
        self.mono.saturating_add(ahead as u64)
    }

    /// The monotonic deadline `d` from now.
    pub fn after(&self, d: Duration) -> u64 {
        self.mono
            .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// Where the agent reads the time: the system clocks, or a virtual clock in tests.
pub enum Clock {
    /// `Instant` and `SystemTime`.
    System(Instant),
    /// A clock that moves only when told to (tests).
    Virtual(std::sync::Arc<std::sync::Mutex<Now>>),
}

impl Clock {
    /// The system clocks.
    pub fn system() -> Clock {
        Clock::System(Instant::now())
    }

    /// Reads the clock.
    pub fn now(&self) -> Now {
        match self {
            Clock::System(start) => Now {
                mono: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                wall_ms: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0),
            },
            Clock::Virtual(now) => *now.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}

/// The agent's deadlines (monotonic ms), one slot per [`Timer`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerTable {
    at: [Option<u64>; Timer::ALL.len()],
}

impl TimerTable {
    /// Arms `timer` for `at` (replacing any earlier deadline).
    pub fn set(&mut self, timer: Timer, at: u64) {
        self.at[timer.index()] = Some(at);
    }

    /// Arms `timer` when `at` is some, stops it otherwise.
    pub fn set_opt(&mut self, timer: Timer, at: Option<u64>) {
        self.at[timer.index()] = at;
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.at[timer.index()] = None;
    }

    /// The deadline of `timer`, when armed.
    pub fn get(&self, timer: Timer) -> Option<u64> {
        self.at[timer.index()]
    }

    /// Whether `timer` is armed.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<u64> {
        self.at.iter().flatten().min().copied()
    }

    /// Disarms and returns the timers due at `now`, in table order.
    pub fn expire(&mut self, now: u64) -> Vec<Timer> {
        let mut due = Vec::new();
        for t in Timer::ALL {
            if self.at[t.index()].is_some_and(|at| at <= now) {
                self.at[t.index()] = None;
                due.push(t);
            }
        }
        due
    }

    /// How long the loop may sleep at `now`: until the earliest deadline, at most `cap`.
    pub fn sleep(&self, now: u64, cap: Duration) -> Duration {
        match self.next() {
            Some(at) => Duration::from_millis(at.saturating_sub(now)).min(cap),
            None => cap,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_disarms_what_it_reports_and_nothing_else() {
        let mut t = TimerTable::default();
        t.set(Timer::Retry, 5_000);
        t.set(Timer::Periodic, 10_000);
        t.set(Timer::NotifyPoll, 5_000);
        assert_eq!(t.next(), Some(5_000));
        assert!(t.expire(4_999).is_empty());
        assert_eq!(t.expire(5_000), vec![Timer::Retry, Timer::NotifyPoll]);
        // Fired timers are gone: nothing is due again at the same instant.
        assert!(t.expire(5_000).is_empty());
        assert_eq!(t.next(), Some(10_000));
        assert_eq!(
            t.sleep(5_000, Duration::from_secs(3600)),
            Duration::from_secs(5)
        );
        t.stop(Timer::Periodic);
        assert_eq!(t.next(), None);
        assert_eq!(
            t.sleep(5_000, Duration::from_secs(3600)),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn wall_times_map_onto_the_monotonic_clock() {
        let now = Now {
            mono: 1_000,
            wall_ms: 1_700_000_000_500,
        };
        assert_eq!(now.unix(), 1_700_000_000);
        // Half a second to the next wall second.
        assert_eq!(now.at_unix(1_700_000_001), 1_500);
        // A time in the past is due now, never before the clock's start.
        assert_eq!(now.at_unix(1_600_000_000), 1_000);
        // Absurd times saturate instead of overflowing.
        assert!(now.at_unix(i64::MAX) > 1_000_000_000_000);
        assert_eq!(now.at_unix(i64::MIN), 1_000);
        assert_eq!(now.after(Duration::from_secs(2)), 3_000);
        let before_epoch = Now {
            mono: 0,
            wall_ms: -1,
        };
        assert_eq!(before_epoch.unix(), -1);
    }
}
