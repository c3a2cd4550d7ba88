//! ManageableDeviceNotificationLimit (`cpe.md_notif_limit`, TR-181): the minimum time
//! between active notifications caused by changes of `ManageableDeviceNumberOfEntries`, so a
//! LAN where devices come and go cannot open a session per lease.
//!
//! The limit holds the `4 VALUE CHANGE` only when that parameter is the sole active change
//! pending; another active change opens its session at once and the count rides along.

use super::timers::{Now, Timer};
use super::Agent;
use crate::events::EventCode;

/// The rate-limited parameter (TR-181 names it under ManagementServer).
const MD_COUNT: &str = "ManagementServer.ManageableDeviceNumberOfEntries";

impl Agent {
    /// Whether every pending active change is ManageableDeviceNumberOfEntries (and there
    /// is one).
    fn only_md_count_pending(&mut self) -> bool {
        let mut md = false;
        for p in self.changes.pending() {
            if !crate::notify::is_active(self.attrs.effective(&p.name, self.dm.as_mut())) {
                continue;
            }
            if !p.name.ends_with(MD_COUNT) {
                return false;
            }
            md = true;
        }
        md
    }

    /// An active change was found at `now`: raises `4 VALUE CHANGE` now, or arms the
    /// throttle for when DefaultActiveNotificationThrottle and, for a change of the
    /// manageable device count alone, the ManageableDeviceNotificationLimit allow it.
    pub(super) fn active_change(&mut self, now: Now) {
        let mut not_before = self.last_success_end + self.config.cpe.active_notif_throttle as i64;
        let limit = self.config.cpe.md_notif_limit;
        if limit > 0 && self.only_md_count_pending() {
            not_before = not_before.max(self.last_md_notify + i64::from(limit));
        }
        if now.unix() >= not_before {
            self.raise_value_change(now);
        } else {
            // Never earlier than a throttle already armed; later if this change needs it.
            let at = now.at_unix(not_before);
            let armed = self.timers.get(Timer::Throttle);
            self.timers
                .set(Timer::Throttle, armed.map_or(at, |a| a.max(at)));
        }
    }

    /// Raises `4 VALUE CHANGE`, noting when a manageable device count change went out.
    pub(super) fn raise_value_change(&mut self, now: Now) {
        if self
            .changes
            .pending()
            .iter()
            .any(|p| p.name.ends_with(MD_COUNT))
        {
            self.last_md_notify = now.unix();
        }
        self.raise(EventCode::ValueChange, "");
    }
}
