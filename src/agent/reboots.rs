//! Reboots the ACS asks for by parameter rather than by RPC: `ManagementServer.DelayReboot`
//! (UCI `cpe.delay_reboot`) and `ManagementServer.ScheduleReboot` (`cpe.schedule_reboot`).
//!
//! TR-181: DelayReboot counts from the end of the session in which it was set and is reset to
//! -1 whenever the CPE reboots; ScheduleReboot is an absolute time, waits for a session in
//! progress to end, and a time already past does nothing. Both go through the same reboot
//! path as the Reboot RPC (rpc-sys or `cpe.reboot_command`, then the reboot grace wait) but
//! raise no `M Reboot`: the next session reports `1 BOOT` only. Both options are cleared
//! before the reboot so that it happens once.

use super::timers::Timer;
use super::Agent;
use std::time::Duration;

/// What the reboot timers were armed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct RebootPlan {
    /// The `delay_reboot` value [`Timer::DelayedReboot`] was armed for.
    delay: Option<u32>,
    /// The ScheduleReboot time (Unix), mirrored into [`Timer::ScheduledReboot`].
    pub(super) at_unix: Option<i64>,
}

/// `ManagementServer.DelayReboot`'s "no reboot pending" value.
const NO_DELAY: &str = "-1";

impl Agent {
    /// At start: a DelayReboot left from before is reset (TR-181: reset whenever the CPE
    /// reboots, and a start of the daemon is taken as one); a ScheduleReboot still ahead is
    /// armed.
    pub(super) fn start_reboot_plan(&mut self) {
        if self.config.cpe.delay_reboot.is_some() {
            log::info!("cpe.delay_reboot found at start: reset to -1 (TR-181 DelayReboot)");
            self.clear_reboot_options(true, false);
        }
        self.plan_reboots(self.clock.now().unix(), false);
    }

    /// Re-plans both reboot timers from the config. `since`: a ScheduleReboot at or before
    /// it is in the past and does nothing (the start of the session that set it, or now).
    /// `rearm`: the ACS wrote DelayReboot in the session that just ended, so its count starts
    /// again now even when the value is the same.
    pub(super) fn plan_reboots(&mut self, since: i64, rearm: bool) {
        let cpe = &self.config.cpe;
        // A time already planned stays planned: a reload at the very moment it falls due
        // must not drop it.
        let at = cpe
            .schedule_reboot
            .filter(|t| *t > since || Some(*t) == self.reboots.at_unix);
        if at != self.reboots.at_unix {
            if let Some(t) = at {
                log::info!("reboot scheduled at {}", crate::time::format_datetime(t));
            }
        }
        self.reboots.at_unix = at;
        match cpe.delay_reboot {
            None => {
                self.reboots.delay = None;
                self.timers.stop(Timer::DelayedReboot);
            }
            Some(d) => {
                let armed = self.timers.is_armed(Timer::DelayedReboot);
                if rearm || !armed || self.reboots.delay != Some(d) {
                    log::info!("reboot in {d} s (DelayReboot)");
                    let due = self.clock.now().after(Duration::from_secs(d.into()));
                    self.timers.set(Timer::DelayedReboot, due);
                    self.reboots.delay = Some(d);
                }
            }
        }
    }

    /// A reboot timer fired (between sessions: the loop fires timers only then).
    pub(super) fn reboot_timer_fired(&mut self, timer: Timer) {
        let scheduled = timer == Timer::ScheduledReboot;
        log::info!(
            "{} reboot due",
            if scheduled {
                "ScheduleReboot"
            } else {
                "DelayReboot"
            }
        );
        self.reboots = RebootPlan::default();
        self.timers.stop(Timer::DelayedReboot);
        self.clear_reboot_options(true, scheduled);
        self.reboot();
    }

    /// Clears `delay_reboot` (to -1) and/or `schedule_reboot` (to the Unknown Time) in the
    /// config file and in memory, so that a reboot they asked for happens once.
    pub(super) fn clear_reboot_options(&mut self, delay: bool, schedule: bool) {
        let mut changes = Vec::new();
        if delay && self.config.cpe.delay_reboot.is_some() {
            self.config.cpe.delay_reboot = None;
            changes.push(("cpe", "delay_reboot", NO_DELAY));
        }
        if schedule && self.config.cpe.schedule_reboot.is_some() {
            self.config.cpe.schedule_reboot = None;
            changes.push(("cpe", "schedule_reboot", crate::time::UNKNOWN_TIME));
        }
        if changes.is_empty() {
            return;
        }
        if let Err(e) = crate::config::set_options(&self.opts.config_path, &changes) {
            log::error!("cannot clear the reboot options: {e}");
        }
    }
}
