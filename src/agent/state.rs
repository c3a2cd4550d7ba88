//! What the agent keeps across restarts, in `<state_dir>/state.json`: the ACS URL last
//! bootstrapped, the undelivered events and the pending ScheduleInforms.
//!
//! Written with [`crate::store::write_atomic`] before the agent acts on a change, so a power cut
//! at any instant neither loses an undelivered event nor repeats a delivered one.

use crate::events::EventQueue;
use crate::store;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Format version of `state.json`.
const VERSION: u64 = 1;

/// A ScheduleInform waiting for its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledInform {
    /// Unix time when it is due.
    pub due: i64,
    /// Its CommandKey.
    pub command_key: String,
}

/// The persistent agent state.
#[derive(Debug)]
pub struct AgentState {
    path: PathBuf,
    /// The ACS URL a BOOTSTRAP was raised for (empty: never bootstrapped).
    pub bootstrapped_url: String,
    /// Undelivered events.
    pub events: EventQueue,
    /// Pending ScheduleInforms.
    pub scheduled: Vec<ScheduledInform>,
}

impl AgentState {
    /// Loads `<dir>/state.json`; a missing or corrupt file gives a fresh state (the corrupt
    /// case is logged: it means a BOOTSTRAP, which is the safe recovery).
    pub fn load(dir: &Path) -> AgentState {
        let path = dir.join("state.json");
        let mut st = AgentState {
            path: path.clone(),
            bootstrapped_url: String::new(),
            events: EventQueue::new(),
            scheduled: Vec::new(),
        };
        let data = match store::read_optional(&path) {
            Ok(Some(d)) => d,
            Ok(None) => return st,
            Err(e) => {
                log::warn!("cannot read {}: {e}; starting fresh", path.display());
                return st;
            }
        };
        let v: Value = match serde_json::from_slice(&data) {
            Ok(v) => v,
            Err(e) => {
                log::warn!("{} is corrupt ({e}); starting fresh", path.display());
                return st;
            }
        };
        st.bootstrapped_url = v["acs_url"].as_str().unwrap_or_default().to_string();
        st.events = EventQueue::from_json(&v["events"]);
        for s in v["scheduled_informs"].as_array().into_iter().flatten() {
            if let Some(due) = s["due"].as_i64() {
                st.scheduled.push(ScheduledInform {
                    due,
                    command_key: s["command_key"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        st
    }

    /// Writes the state durably. Failure is logged: the daemon goes on with what it has in
    /// memory rather than stop managing the device.
    pub fn save(&self) {
        let v = json!({
            "version": VERSION,
            "acs_url": self.bootstrapped_url,
            "events": self.events.to_json(),
            "scheduled_informs": self.scheduled.iter()
                .map(|s| json!({"due": s.due, "command_key": s.command_key}))
                .collect::<Vec<_>>(),
        });
        if let Err(e) = store::write_atomic(&self.path, v.to_string().as_bytes()) {
            log::error!("cannot write {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventCode;

    #[test]
    fn round_trips_through_the_state_file() {
        let dir = std::env::temp_dir().join(format!("icwmp-state-{}", std::process::id()));
        let mut st = AgentState::load(&dir);
        assert!(st.events.is_empty() && st.bootstrapped_url.is_empty());
        st.bootstrapped_url = "http://acs/".into();
        st.events.add(EventCode::Method("Reboot".into()), "");
        st.scheduled.push(ScheduledInform {
            due: 42,
            command_key: "k".into(),
        });
        st.save();
        let back = AgentState::load(&dir);
        assert_eq!(back.bootstrapped_url, "http://acs/");
        assert_eq!(back.events, st.events);
        assert_eq!(back.scheduled, st.scheduled);
        std::fs::write(dir.join("state.json"), b"{garbage").unwrap();
        assert!(AgentState::load(&dir).events.is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
