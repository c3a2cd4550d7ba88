//! Value-change detection (digest section 8): compares what the notified parameters hold now
//! with what was last seen, and keeps the changes to report. Pure: the agent feeds it values.

use crate::datamodel::ParamValue;
use std::collections::BTreeMap;

/// Whether a notification level reports through the Inform (1, 2, 4, 6).
fn via_inform(level: u8) -> bool {
    matches!(level, 1 | 2 | 4 | 6)
}

/// Whether a level asks for a session right away (2 active, 6 active + lightweight passive).
fn active(level: u8) -> bool {
    matches!(level, 2 | 6)
}

/// The change tracker.
#[derive(Debug, Default)]
pub struct ChangeTracker {
    /// Last value seen per notified parameter.
    seen: BTreeMap<String, String>,
    /// Changes not yet delivered, latest value only.
    pending: BTreeMap<String, ParamValue>,
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
            }
            next.insert(v.name, v.value);
        }
        // A deleted parameter's pending change is dropped (digest 8.2).
        self.pending.retain(|name, _| next.contains_key(name));
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
