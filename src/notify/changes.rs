//! Value-change detection (digest section 8): compares what the notified parameters hold now
//! with what was last seen, and keeps the changes to report: through the Inform (levels 1, 2,
//! 4, 6) and through lightweight notifications (3-6, TR-069 Annex M). Pure: the agent feeds
//! it values.
//!
//! Besides the last values seen, the tracker keeps what the ACS was last told (`reported`:
//! delivered in an acknowledged Inform, or taken as the baseline when nothing was owed). That
//! map is what persists ([`ChangeTracker::reported_json`]): a daemon killed between a change
//! and the InformResponse finds the change again at start-up against it (reported once, or
//! sent again, never lost), and a restart with nothing changed reports nothing.

use super::lwn::{is_active_lightweight, is_lightweight};
use crate::datamodel::ParamValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Format version of the persisted reported values.
const VERSION: u64 = 1;

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
    /// The value the ACS last got (or is taken to know) per notified parameter.
    reported: BTreeMap<String, String>,
    /// `reported` changed since [`ChangeTracker::take_dirty`] was last called.
    dirty: bool,
}

impl ChangeTracker {
    /// An empty tracker (the first [`ChangeTracker::rebase`] sets the baseline).
    pub fn new() -> ChangeTracker {
        ChangeTracker::default()
    }

    /// A tracker whose baseline is what [`ChangeTracker::reported_json`] saved: the first
    /// [`ChangeTracker::poll`] reports what changed since the ACS was last told. `None` (no
    /// file, or one that cannot be used) gives an empty tracker, to be rebased.
    pub fn from_reported(v: &Value) -> Option<ChangeTracker> {
        if v.get("version").and_then(Value::as_u64) != Some(VERSION) {
            return None;
        }
        let values = v.get("values")?.as_object()?;
        let reported: BTreeMap<String, String> = values
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        Some(ChangeTracker {
            seen: reported.clone(),
            pending: BTreeMap::new(),
            lw_pending: BTreeMap::new(),
            lw_active: false,
            reported,
            dirty: false,
        })
    }

    /// The reported values, as persisted.
    pub fn reported_json(&self) -> Value {
        let values: Map<String, Value> = self
            .reported
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        serde_json::json!({"version": VERSION, "values": values})
    }

    /// Marks the reported values as still to be persisted (a write failed).
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// True once after the reported values changed (they should be persisted).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Takes `current` as the baseline without reporting anything: at first start, and after
    /// a session (values the ACS set itself are not reported back to it). Changes still
    /// pending (either way) keep their last reported value, so they are not lost if the
    /// daemon dies before delivering them.
    pub fn rebase(&mut self, current: Vec<(ParamValue, u8)>) {
        self.seen = current
            .into_iter()
            .map(|(v, _)| (v.name, v.value))
            .collect();
        let mut reported = BTreeMap::new();
        for (name, value) in &self.seen {
            let owed = self.pending.contains_key(name) || self.lw_pending.contains_key(name);
            let kept = match (owed, self.reported.get(name)) {
                (true, Some(old)) => old.clone(),
                _ => value.clone(),
            };
            reported.insert(name.clone(), kept);
        }
        if reported != self.reported {
            self.reported = reported;
            self.dirty = true;
        }
    }

    /// The ACS wrote `written` itself (SetParameterValues, the ParameterKey): those values
    /// join the baseline and count as known to the ACS, and any change of theirs still owed
    /// is dropped, since the ACS's value replaced it. Every other parameter keeps its
    /// baseline: a local change made meanwhile is still reported by the next poll.
    pub fn acs_wrote(
        &mut self,
        current: Vec<(ParamValue, u8)>,
        written: &std::collections::BTreeSet<String>,
    ) {
        for (v, _) in current {
            if !written.contains(&v.name) {
                continue;
            }
            self.pending.remove(&v.name);
            self.lw_pending.remove(&v.name);
            if self.reported.get(&v.name) != Some(&v.value) {
                self.reported.insert(v.name.clone(), v.value.clone());
                self.dirty = true;
            }
            self.seen.insert(v.name, v.value);
        }
    }

    /// Compares `current` with the last values seen. Returns true when an *active* parameter
    /// changed (a session should open). Parameters that appear for the first time (new
    /// instance, new attribute) only become part of the baseline.
    pub fn poll(&mut self, current: Vec<(ParamValue, u8)>) -> bool {
        let mut any_active = false;
        let mut next = BTreeMap::new();
        for (v, level) in current {
            match self.seen.get(&v.name) {
                Some(old) => {
                    if *old != v.value && via_inform(level) {
                        any_active |= active(level);
                        self.pending.insert(v.name.clone(), v.clone());
                    }
                    if *old != v.value && is_lightweight(level) {
                        self.lw_active |= is_active_lightweight(level);
                        self.lw_pending.insert(v.name.clone(), v.clone());
                    }
                }
                None => {
                    // Part of the baseline from now on, across restarts too.
                    if self.reported.get(&v.name) != Some(&v.value) {
                        self.reported.insert(v.name.clone(), v.value.clone());
                        self.dirty = true;
                    }
                }
            }
            next.insert(v.name, v.value);
        }
        // A deleted parameter's pending change is dropped (digest 8.2).
        self.pending.retain(|name, _| next.contains_key(name));
        self.lw_pending.retain(|name, _| next.contains_key(name));
        let before = self.reported.len();
        self.reported.retain(|name, _| next.contains_key(name));
        self.dirty |= before != self.reported.len();
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
    /// notifications are off). UDP has no acknowledgement: a value taken counts as known
    /// to the ACS unless the Inform still owes it (levels 4 and 6), so a restart does not
    /// send it again.
    pub fn take_lightweight(&mut self) -> Vec<ParamValue> {
        self.lw_active = false;
        let taken: Vec<ParamValue> = std::mem::take(&mut self.lw_pending).into_values().collect();
        for v in &taken {
            if !self.pending.contains_key(&v.name)
                && self.seen.contains_key(&v.name)
                && self.reported.get(&v.name) != Some(&v.value)
            {
                self.reported.insert(v.name.clone(), v.value.clone());
                self.dirty = true;
            }
        }
        taken
    }

    /// Puts back lightweight changes that could not be sent, unless a newer value of the
    /// same parameter arrived meanwhile; they go with the next flush.
    pub fn requeue_lightweight(&mut self, unsent: Vec<ParamValue>) {
        for v in unsent {
            self.lw_pending.entry(v.name.clone()).or_insert(v);
        }
    }

    /// The Inform carrying `delivered` was acknowledged: forget those (unless changed again),
    /// and remember their values as what the ACS knows.
    pub fn delivered(&mut self, delivered: &[ParamValue]) {
        for d in delivered {
            if self.pending.get(&d.name) == Some(d) {
                self.pending.remove(&d.name);
            }
            if self.seen.contains_key(&d.name) && self.reported.get(&d.name) != Some(&d.value) {
                self.reported.insert(d.name.clone(), d.value.clone());
                self.dirty = true;
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

    /// What a restarted daemon would start from.
    fn restarted(t: &ChangeTracker) -> ChangeTracker {
        let saved = serde_json::to_string(&t.reported_json()).unwrap();
        ChangeTracker::from_reported(&serde_json::from_str(&saved).unwrap()).unwrap()
    }

    #[test]
    fn a_change_not_yet_acknowledged_is_found_again_after_a_restart() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 2), pv("B", "1", 1)]);
        assert!(t.take_dirty(), "the first baseline is persisted");
        assert!(t.poll(vec![pv("A", "2", 2), pv("B", "1", 1)]));
        assert!(!t.take_dirty(), "a change alone is not persisted");
        // Killed before the InformResponse: the change is reported after the restart.
        let mut back = restarted(&t);
        assert!(back.poll(vec![pv("A", "2", 2), pv("B", "1", 1)]));
        assert_eq!(back.pending(), vec![pv("A", "2", 2).0]);
        // Acknowledged: a restart reports nothing.
        let sent = t.pending();
        t.delivered(&sent);
        assert!(t.take_dirty());
        let mut back = restarted(&t);
        assert!(!back.poll(vec![pv("A", "2", 2), pv("B", "1", 1)]));
        assert!(!back.has_pending());
    }

    #[test]
    fn what_the_acs_wrote_is_not_reported_but_a_local_change_meanwhile_is() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 2), pv("B", "1", 2)]);
        // During a session the ACS writes A and B changes locally; A also had a local
        // change owed, which the ACS's value replaces.
        t.poll(vec![pv("A", "0", 2), pv("B", "1", 2)]);
        assert!(t.has_pending());
        let written = ["A".to_string()].into_iter().collect();
        t.acs_wrote(vec![pv("A", "9", 2), pv("B", "2", 2)], &written);
        assert!(
            !t.has_pending(),
            "the ACS's value replaced A's local change"
        );
        assert!(
            t.poll(vec![pv("A", "9", 2), pv("B", "2", 2)]),
            "B's change is found"
        );
        let names: Vec<String> = t.pending().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["B"]);
        assert_eq!(t.reported_json()["values"]["A"], "9");
    }

    #[test]
    fn a_restart_sees_changes_made_while_down_and_keeps_pending_through_a_rebase() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 1), pv("B", "1", 2)]);
        t.poll(vec![pv("A", "2", 1), pv("B", "1", 2)]);
        // A session rebases (the ACS set something): A's change is still owed.
        t.rebase(vec![pv("A", "2", 1), pv("B", "1", 2)]);
        assert!(t.has_pending());
        let mut back = restarted(&t);
        // B changed while the daemon was down.
        assert!(back.poll(vec![pv("A", "2", 1), pv("B", "9", 2)]));
        let names: Vec<String> = back.pending().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["A", "B"]);
    }

    #[test]
    fn new_parameters_join_the_persisted_baseline_and_deleted_ones_leave_it() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("A", "1", 2)]);
        t.take_dirty();
        assert!(!t.poll(vec![pv("A", "1", 2), pv("N", "x", 2)]));
        assert!(t.take_dirty(), "a new parameter's first value is persisted");
        // N changes, then the daemon dies: the change is not lost.
        assert!(t.poll(vec![pv("A", "1", 2), pv("N", "y", 2)]));
        let mut back = restarted(&t);
        assert!(back.poll(vec![pv("A", "1", 2), pv("N", "y", 2)]));
        t.poll(vec![pv("N", "y", 2)]);
        assert!(t.take_dirty(), "A was deleted");
        assert!(!t.reported_json()["values"]
            .as_object()
            .unwrap()
            .contains_key("A"));
    }

    #[test]
    fn a_lightweight_change_sent_is_not_sent_again_after_a_restart() {
        let mut t = ChangeTracker::new();
        t.rebase(vec![pv("L", "1", 3), pv("B", "1", 4)]);
        t.take_dirty();
        t.poll(vec![pv("L", "2", 3), pv("B", "2", 4)]);
        // Killed before the trigger: both are found again.
        let mut back = restarted(&t);
        back.poll(vec![pv("L", "2", 3), pv("B", "2", 4)]);
        assert_eq!(names(&back.take_lightweight()), ["B", "L"]);
        // Sent: L is known; B still owes its Inform side.
        assert_eq!(names(&t.take_lightweight()), ["B", "L"]);
        assert!(t.take_dirty());
        let mut back = restarted(&t);
        back.poll(vec![pv("L", "2", 3), pv("B", "2", 4)]);
        assert_eq!(names(&back.pending()), ["B"]);
        assert_eq!(names(&back.take_lightweight()), ["B"]);
    }

    #[test]
    fn an_unusable_saved_baseline_is_refused() {
        for bad in [
            serde_json::json!(null),
            serde_json::json!({"version": 2, "values": {}}),
            serde_json::json!({"version": 1, "values": []}),
        ] {
            assert!(ChangeTracker::from_reported(&bad).is_none(), "{bad}");
        }
        let odd = serde_json::json!({"version": 1, "values": {"A": "1", "B": 5}});
        let t = ChangeTracker::from_reported(&odd).unwrap();
        assert_eq!(t.reported.len(), 1, "a non-string value is skipped");
    }
}
