//! What the agent keeps across restarts, in `<state_dir>/state.json`: the ACS URL last
//! bootstrapped, the undelivered events and the pending ScheduleInforms.
//!
//! Written with [`crate::store::write_atomic`] before the agent acts on a change, so a power cut
//! at any instant neither loses an undelivered event nor repeats a delivered one.
//!
//! The bootstrap record: the URL bootstrapped and whether its `0 BOOTSTRAP` is still owed are
//! also kept in `<state_dir>/bootstrap.json`, a small file rewritten only when they change
//! (a few times in a device's life). When `state.json` is lost or corrupt, the record says
//! whether the device was bootstrapped and by which ACS, so a corrupt `state.json` costs the
//! events and ScheduleInforms it held but never a false `0 BOOTSTRAP` (which would make the
//! ACS treat a provisioned device as new and drop the transfers and DU jobs kept elsewhere).
//! `state.json` is written first and stays authoritative when readable. To force a
//! BOOTSTRAP, clear the state directory (or point the daemon at another URL).

use crate::events::{EventCode, EventQueue};
use crate::store::{self, Loaded};
use serde_json::{json, Value};
use std::io;
use std::path::{Path, PathBuf};

/// Format version of `state.json`.
const VERSION: u64 = 1;
/// The state file.
pub const FILE_NAME: &str = "state.json";
/// The bootstrap record.
pub const BOOTSTRAP_FILE: &str = "bootstrap.json";

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
    record_path: PathBuf,
    /// What `bootstrap.json` holds (URL, BOOTSTRAP still owed), as last read or written.
    record: Option<(String, bool)>,
    /// The ACS URL a BOOTSTRAP was raised for (empty: never bootstrapped).
    pub bootstrapped_url: String,
    /// Undelivered events.
    pub events: EventQueue,
    /// Pending ScheduleInforms.
    pub scheduled: Vec<ScheduledInform>,
    /// The last ACS URL that completed a session (the fallback's target; agent/fallback.rs).
    pub last_good_url: String,
}

fn read_record(path: &Path) -> Option<(String, bool)> {
    let v = store::load_json(path, "the bootstrap record").value();
    let url = v["acs_url"].as_str().filter(|u| !u.is_empty())?;
    Some((
        url.to_string(),
        v["bootstrap_pending"].as_bool().unwrap_or(false),
    ))
}

impl AgentState {
    /// Loads `<dir>/state.json`. A missing or unusable file (logged and set aside by
    /// [`store::load_json`]) gives no events and no ScheduleInforms, and the bootstrapped URL
    /// from the bootstrap record when there is one (a fresh state, hence a BOOTSTRAP, only
    /// when there is none).
    pub fn load(dir: &Path) -> AgentState {
        let path = dir.join(FILE_NAME);
        let record_path = dir.join(BOOTSTRAP_FILE);
        let record = read_record(&record_path);
        let mut st = AgentState {
            path: path.clone(),
            record_path,
            record: record.clone(),
            bootstrapped_url: String::new(),
            events: EventQueue::new(),
            scheduled: Vec::new(),
            last_good_url: String::new(),
        };
        let v = match store::load_json(&path, "pending events and ScheduleInforms") {
            Loaded::Object(v) => v,
            lost => {
                if let Some((url, pending)) = record {
                    log::warn!(
                        "{} {}: bootstrapped ACS {url} recovered from {BOOTSTRAP_FILE}{}",
                        path.display(),
                        if lost == Loaded::Missing {
                            "is missing"
                        } else {
                            "was unusable"
                        },
                        if pending {
                            " (BOOTSTRAP still owed)"
                        } else {
                            ""
                        }
                    );
                    st.bootstrapped_url = url;
                    if pending {
                        st.events.add(EventCode::Bootstrap, "");
                    }
                }
                return st;
            }
        };
        st.bootstrapped_url = v["acs_url"].as_str().unwrap_or_default().to_string();
        st.last_good_url = v["last_good_acs_url"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let events = store::array_field(&v, "events", &path);
        st.events = EventQueue::from_json(&Value::Array(events.to_vec()));
        for s in store::array_field(&v, "scheduled_informs", &path) {
            if let Some(due) = s["due"].as_i64() {
                st.scheduled.push(ScheduledInform {
                    due,
                    command_key: s["command_key"].as_str().unwrap_or_default().to_string(),
                });
            }
        }
        st
    }

    /// Writes the state durably; on failure (logged by the store) the daemon goes on with
    /// what it has in memory rather than stop managing the device. Changes an RPC answer
    /// depends on use [`AgentState::try_save`] instead.
    pub fn save(&mut self) {
        let _ = self.try_save();
    }

    /// Writes the state durably, then the bootstrap record if it changed.
    pub fn try_save(&mut self) -> io::Result<()> {
        let v = json!({
            "version": VERSION,
            "acs_url": self.bootstrapped_url,
            "last_good_acs_url": self.last_good_url,
            "events": self.events.to_json(),
            "scheduled_informs": self.scheduled.iter()
                .map(|s| json!({"due": s.due, "command_key": s.command_key}))
                .collect::<Vec<_>>(),
        });
        store::write_atomic(&self.path, v.to_string().as_bytes())?;
        self.save_record();
        Ok(())
    }

    /// Rewrites `bootstrap.json` when the URL or the owed BOOTSTRAP changed. Its failure only
    /// costs redundancy (retried at the next save).
    fn save_record(&mut self) {
        if self.bootstrapped_url.is_empty() {
            return;
        }
        let pending = self
            .events
            .events()
            .iter()
            .any(|e| e.code == EventCode::Bootstrap);
        let now = (self.bootstrapped_url.clone(), pending);
        if self.record.as_ref() == Some(&now) {
            return;
        }
        let v = json!({"version": 1, "acs_url": now.0, "bootstrap_pending": now.1});
        // A failure is logged by the store; retried at the next save.
        if store::write_atomic(&self.record_path, v.to_string().as_bytes()).is_ok() {
            self.record = Some(now);
        }
    }
}

/// Start-up: removes the temporaries of writes a crash interrupted, in the state directory
/// and next to the UCI config, before anything reads or writes there; sets the space aside
/// that acknowledgements may use on a full disk ([`store::ensure_reserve`]).
pub fn clean_stale_files(state_dir: &Path, config_path: &Path) {
    store::clean_stale_tmp(state_dir);
    store::clean_stale_tmp_of(config_path);
    if std::fs::create_dir_all(state_dir).is_ok() {
        store::ensure_reserve(state_dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventCode;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("icwmp-state-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn round_trips_through_the_state_file() {
        let dir = temp("rt");
        let mut st = AgentState::load(&dir);
        assert!(st.events.is_empty() && st.bootstrapped_url.is_empty());
        st.bootstrapped_url = "http://acs/".into();
        st.last_good_url = "http://old/".into();
        st.events.add(EventCode::Method("Reboot".into()), "");
        st.scheduled.push(ScheduledInform {
            due: 42,
            command_key: "k".into(),
        });
        st.save();
        let back = AgentState::load(&dir);
        assert_eq!(back.bootstrapped_url, "http://acs/");
        assert_eq!(back.last_good_url, "http://old/");
        assert_eq!(back.events, st.events);
        assert_eq!(back.scheduled, st.scheduled);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_state_file_keeps_the_bootstrapped_url() {
        let dir = temp("corrupt");
        let mut st = AgentState::load(&dir);
        st.bootstrapped_url = "http://acs/".into();
        st.events.add(EventCode::Bootstrap, "");
        st.save();
        let owed = std::fs::read_to_string(dir.join(BOOTSTRAP_FILE)).unwrap();
        assert!(owed.contains("\"bootstrap_pending\":true"), "{owed}");
        // The BOOTSTRAP delivered; a reboot owed.
        st.events = EventQueue::new();
        st.events.add(EventCode::Method("Reboot".into()), "rk");
        st.save();
        for bad in [
            "",
            "{\"acs_url\":\"http",
            "\u{0}garbage",
            "[1]",
            "\"x\"",
            "null",
        ] {
            std::fs::write(dir.join(FILE_NAME), bad).unwrap();
            let back = AgentState::load(&dir);
            assert_eq!(back.bootstrapped_url, "http://acs/", "{bad:?}");
            assert!(back.events.is_empty(), "{bad:?}: no BOOTSTRAP");
            assert!(dir.join("state.json.corrupt").exists());
        }
        // Lost before its BOOTSTRAP was delivered: still owed.
        let mut st = AgentState::load(&dir);
        st.events.add(EventCode::Bootstrap, "");
        st.save();
        std::fs::write(dir.join(FILE_NAME), "{").unwrap();
        let back = AgentState::load(&dir);
        assert_eq!(back.events.events()[0].code, EventCode::Bootstrap);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn try_save_reports_a_failed_write() {
        let dir = temp("fail");
        let mut st = AgentState::load(&dir);
        st.bootstrapped_url = "http://acs/".into();
        st.save();
        store::faults::fail_writes(FILE_NAME);
        assert!(st.try_save().is_err());
        store::faults::clear();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
