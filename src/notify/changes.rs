//! Value-change detection (digest section 8): compares what the notified parameters hold now
//! with what was last seen, and keeps the changes to report: through the Inform (levels 1, 2,
//! 4, 6) and through lightweight notifications (3-6, TR-069 Annex M). Pure: the agent feeds
//! it values.

use super::lwn::{is_active_lightweight, is_lightweight};
use crate::datamodel::ParamValue;
use std::collections::BTreeMap;

/// Whether a notification level reports through the Inform (1, 2, 4, 6).
fn via_inform(level: u8) -> bool {
    matches!(level, 1 | 2 | 4 | 6)
}

/// Whether a level asks for a session right away: 2 only. 6 is passive notification plus an
/// *active lightweight* one (TR-069 Table for SetParameterAttributes: "combines 1 and 5"), so
/// its Inform side waits for the next session like 1 and 4.
fn active(level: u8) -> bool {
    level == 2
}

/// The change tracker.
#[derive(Debug, Default)]
pub struct ChangeTracker {
    /// Last value seen per notified parameter.
    seen: BTreeMap<String, String>,
    /// Changes not yet delivered, latest value only.
    pending: BTreeMap<String, ParamValue>,
    /// Lightweight changes (levels 3-6) not yet sent, latest value only.
    lw_pending: BTreeMap<String, ParamValue>,
    /// An active lightweight change (5, 6) is among them: send them all now.
    lw_active: bool,
}

impl ChangeTracker {
    /// An empty tracker (the first [`ChangeTracker::rebase`] sets the baseline).
    pub fn new() -> ChangeTracker {
        ChangeTracker::default()
    }

    /// Takes `current` as the baseline without reporting anything: at start-up, and after a
    /// session (values the ACS set itself are not reported back to it).
    pub fn rebase(&mut self, current: Vec<(ParamValue, u8)>) {
        self.seen = current
            .into_iter()
            .map(|(v, _)| (v.name, v.value))
            .collect();
    }

    /// Compares `current` with the last values seen. Returns true when an *active* parameter
    /// changed (a session should open). Parameters that appear for the first time (new
    /// instance, new attribute) only become part of the baseline.
    pub fn poll(&mut self, current: Vec<(ParamValue, u8)>) -> bool {
        let mut any_active = false;
        let mut next = BTreeMap::new();
        for (v, level) in current {
            if let Some(old) = self.seen.get(&v.name) {
                if *old != v.value && via_inform(level) {
                    any_active |= active(level);
                    self.pending.insert(v.name.clone(), v.clone());
                }
                if *old != v.value && is_lightweight(level) {
                    self.lw_active |= is_active_lightweight(level);
                    self.lw_pending.insert(v.name.clone(), v.clone());
                }
            }
            next.insert(v.name, v.value);
        }
        // A deleted parameter's pending change is dropped (digest 8.2).
        self.pending.retain(|name, _| next.contains_key(name));
        self.lw_pending.retain(|name, _| next.contains_key(name));
        self.seen = next;
        any_active
    }

    /// The changes to put in the next Inform.
    pub fn pending(&self) -> Vec<ParamValue> {
        self.pending.values().cloned().collect()
    }

    /// True when changes wait for delivery.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// True when an active lightweight change waits: the lightweight notifications should go
    /// out now, the passive ones with it.
    pub fn lightweight_due(&self) -> bool {
        self.lw_active && !self.lw_pending.is_empty()
    }

    /// True when lightweight changes wait (for the trigger or an active one).
    pub fn has_lightweight(&self) -> bool {
        !self.lw_pending.is_empty()
    }

    /// Takes every waiting lightweight change, for sending (or dropping, when lightweight
    /// notifications are off).
    pub fn take_lightweight(&mut self) -> Vec<ParamValue> {
        self.lw_active = false;
        std::mem::take(&mut self.lw_pending).into_values().collect()
    }

    /// Puts back lightweight changes that could not be sent, unless a newer value of the
    /// same parameter arrived meanwhile; they go with the next flush.
    pub fn requeue_lightweight(&mut self, unsent: Vec<ParamValue>) {
        for v in unsent {
            self.lw_pending.entry(v.name.clone()).or_insert(v);
        }
    }

    /// The Inform carrying `delivered` was acknowledged: forget those (unless changed again).
    pub fn delivered(&mut self, delivered: &[ParamValue]) {
        for d in delivered {
            if self.pending.get(&d.name) == Some(d) {
                self.pending.remove(&d.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::ParamType;

    fn pv(name: &str, value: &str, level: u8) -> (ParamValue, u8) {
        (
            ParamValue {
                name: name.into(),
                value: value.into(),
                ty: ParamType::UnsignedInt,
            },
            level,
        )
    }

    #[test]
    fn reports_passive_and_active_changes_with_latest_value_and_type() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 1), pv("B", "1", 2), pv("C", "1", 0)]);
        assert!(!t.poll(vec![pv("A", "2", 1), pv("B", "1", 2)]));
        assert!(t.poll(vec![pv("A", "3", 1), pv("B", "5", 2)]));
        let p = t.pending();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].value, "3");
        assert_eq!(p[0].ty, ParamType::UnsignedInt, "type kept (C bug 17.3)");
    }

    #[test]
    fn lightweight_only_levels_and_new_parameters_do_not_report() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 3), pv("B", "1", 5)]);
        assert!(!t.poll(vec![pv("A", "2", 3), pv("B", "2", 5), pv("N", "x", 2)]));
        assert!(!t.has_pending());
    }

    fn names(v: &[ParamValue]) -> Vec<&str> {
        v.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn lightweight_levels_wait_until_an_active_one_changes() {
        let mut t = ChangeTracker::new();
        let all = |a: &str, b: &str, c: &str, d: &str| {
            vec![
                pv("L3", a, 3),
                pv("L4", b, 4),
                pv("L5", c, 5),
                pv("L6", d, 6),
            ]
        };
        t.rebase(all("1", "1", "1", "1"));
        // Passive lightweight only: kept, not due; 4 also reports through the Inform.
        assert!(!t.poll(all("2", "2", "1", "1")));
        assert!(t.has_lightweight() && !t.lightweight_due());
        assert_eq!(names(&t.pending()), ["L4"]);
        // 6 changes: due now, and carries the passive ones; its Inform side is passive.
        assert!(!t.poll(all("3", "2", "1", "2")), "level 6 opens no session");
        assert!(t.lightweight_due());
        let sent = t.take_lightweight();
        assert_eq!(names(&sent), ["L3", "L4", "L6"]);
        assert_eq!(sent[0].value, "3", "latest value");
        assert_eq!(names(&t.pending()), ["L4", "L6"]);
        assert!(!t.has_lightweight() && !t.lightweight_due());
        // 5 alone.
        t.poll(all("3", "2", "2", "2"));
        assert!(t.lightweight_due());
        assert_eq!(names(&t.take_lightweight()), ["L5"]);
    }

    #[test]
    fn unsent_lightweight_changes_come_back_unless_newer_and_deleted_ones_go() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 5), pv("B", "1", 3)]);
        t.poll(vec![pv("A", "2", 5), pv("B", "2", 3)]);
        let unsent = t.take_lightweight();
        t.poll(vec![pv("A", "3", 5), pv("B", "2", 3)]);
        t.requeue_lightweight(unsent);
        let now = t.take_lightweight();
        assert_eq!(names(&now), ["A", "B"]);
        assert_eq!(now[0].value, "3", "the newer value wins");
        t.poll(vec![pv("A", "4", 5), pv("B", "2", 3)]);
        t.poll(vec![pv("B", "2", 3)]);
        assert!(!t.has_lightweight(), "A was deleted");
    }

    #[test]
    fn delivery_clears_only_what_was_sent_and_deletion_drops_pending() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 1), pv("B", "1", 1)]);
        t.poll(vec![pv("A", "2", 1), pv("B", "2", 1)]);
        let sent = t.pending();
        t.poll(vec![pv("A", "3", 1), pv("B", "2", 1)]);
        t.delivered(&sent);
        assert_eq!(
            t.pending().len(),
            1,
            "A changed again after the Inform was built"
        );
        t.poll(vec![pv("B", "2", 1)]);
        assert!(!t.has_pending(), "A was deleted");
    }
}
