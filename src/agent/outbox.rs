//! CPE requests the daemon raises on its own and must deliver exactly once: RequestDownload
//! (`9 REQUEST DOWNLOAD`), AutonomousTransferComplete (`10`) and
//! AutonomousDUStateChangeComplete (`12`). Kept in `<state_dir>/outbox.json` until the ACS
//! answers each one; their event stays pending as long as one of its kind is unanswered.

use super::Agent;
use crate::du::jobs::{result_from, result_json};
use crate::events::EventCode;
use crate::soap::{AutonomousTransferComplete, CpeRequest, TransferFault};
use crate::store;
use serde_json::{json, Value};
use std::path::Path;

/// The file name in the state directory.
pub const FILE_NAME: &str = "outbox.json";
/// Most requests kept (the oldest go first when full: a flood of local events must not fill
/// the flash).
const MAX_ENTRIES: usize = 64;

/// The event that announces a request; `None` for kinds the outbox does not carry.
fn event_of(r: &CpeRequest) -> Option<EventCode> {
    Some(match r {
        CpeRequest::RequestDownload { .. } => EventCode::RequestDownload,
        CpeRequest::AutonomousTransferComplete(_) => EventCode::AutonomousTransferComplete,
        CpeRequest::AutonomousDuStateChangeComplete { .. } => {
            EventCode::AutonomousDuStateChangeComplete
        }
        _ => return None,
    })
}

fn to_json(r: &CpeRequest) -> Value {
    match r {
        CpeRequest::RequestDownload { file_type, args } => json!({
            "kind": "RequestDownload", "file_type": file_type,
            "args": args.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>() }),
        CpeRequest::AutonomousTransferComplete(a) => json!({
            "kind": "AutonomousTransferComplete", "announce_url": a.announce_url,
            "transfer_url": a.transfer_url, "is_download": a.is_download,
            "file_type": a.file_type, "file_size": a.file_size,
            "target_file_name": a.target_file_name, "fault": a.fault.code,
            "fault_string": a.fault.message, "start": a.start_time, "complete": a.complete_time }),
        CpeRequest::AutonomousDuStateChangeComplete { results } => json!({
            "kind": "AutonomousDUStateChangeComplete",
            "results": results.iter().map(result_json).collect::<Vec<_>>() }),
        _ => Value::Null,
    }
}

fn from_json(v: &Value) -> Option<CpeRequest> {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Some(match v["kind"].as_str()? {
        "RequestDownload" => CpeRequest::RequestDownload {
            file_type: s("file_type"),
            args: v["args"]
                .as_array()?
                .iter()
                .filter_map(|p| Some((p[0].as_str()?.into(), p[1].as_str()?.into())))
                .collect(),
        },
        "AutonomousTransferComplete" => {
            CpeRequest::AutonomousTransferComplete(AutonomousTransferComplete {
                announce_url: s("announce_url"),
                transfer_url: s("transfer_url"),
                is_download: v["is_download"].as_bool().unwrap_or(true),
                file_type: s("file_type"),
                file_size: v["file_size"].as_u64().unwrap_or(0),
                target_file_name: s("target_file_name"),
                fault: TransferFault {
                    code: u32::try_from(v["fault"].as_u64().unwrap_or(0)).unwrap_or(9002),
                    message: s("fault_string"),
                },
                start_time: v["start"].as_i64(),
                complete_time: v["complete"].as_i64(),
            })
        }
        "AutonomousDUStateChangeComplete" => CpeRequest::AutonomousDuStateChangeComplete {
            results: v["results"]
                .as_array()?
                .iter()
                .filter_map(result_from)
                .collect(),
        },
        _ => return None,
    })
}

/// The pending requests, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outbox {
    next_id: u64,
    entries: Vec<(u64, CpeRequest)>,
    /// This session's requests from the outbox: (request index, entry id).
    in_session: Vec<(usize, u64)>,
}

impl Outbox {
    /// Loads `<dir>/outbox.json` (missing: empty; unusable: empty, logged and set aside).
    pub fn load(dir: &Path) -> Outbox {
        let path = dir.join(FILE_NAME);
        let v = store::load_json(&path, "requests owed to the ACS").value();
        let mut o = Outbox::default();
        for e in store::array_field(&v, "entries", &path) {
            match (e["id"].as_u64(), from_json(e)) {
                (Some(id), Some(r)) => {
                    o.next_id = o.next_id.max(id.saturating_add(1));
                    o.entries.push((id, r));
                }
                _ => log::error!("{FILE_NAME}: unreadable entry skipped: {e}"),
            }
        }
        o
    }

    /// Writes `<dir>/outbox.json` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|(id, r)| {
                let mut v = to_json(r);
                v["id"] = json!(id);
                v
            })
            .collect();
        let v = json!({"version": 1, "entries": entries});
        store::write_atomic(&dir.join(FILE_NAME), v.to_string().as_bytes())
    }

    /// Adds a request (dropping the oldest when full).
    pub fn push(&mut self, r: CpeRequest) {
        if self.entries.len() >= MAX_ENTRIES {
            let (_, old) = self.entries.remove(0);
            log::warn!("outbox full: {} dropped", old.method_name());
        }
        self.next_id = self.next_id.max(1);
        self.entries.push((self.next_id, r));
        // Saturating: a hand-edited outbox.json may hold any id.
        self.next_id = self.next_id.saturating_add(1);
    }

    /// The events the entries need.
    fn events(&self) -> Vec<EventCode> {
        let mut v: Vec<EventCode> = Vec::new();
        for c in self.entries.iter().filter_map(|(_, r)| event_of(r)) {
            if !v.contains(&c) {
                v.push(c);
            }
        }
        v
    }
}

const CODES: [EventCode; 3] = [
    EventCode::RequestDownload,
    EventCode::AutonomousTransferComplete,
    EventCode::AutonomousDuStateChangeComplete,
];

impl Agent {
    fn save_outbox(&self) {
        if let Err(e) = self.outbox.save(&self.opts.state_dir) {
            log::debug!("not written (logged by the store): {FILE_NAME}: {e}");
        }
    }

    /// Start-up: the events 9, 10 and 12 match what the outbox holds.
    pub(super) fn recover_outbox(&mut self) {
        let want = self.outbox.events();
        for c in CODES.iter().filter(|c| !want.contains(c)) {
            self.state.events.remove(c, "");
        }
        for c in want {
            self.raise(c, "");
        }
        self.state.save();
    }

    /// BOOTSTRAP: pending requests belong to the old ACS.
    pub(super) fn discard_outbox(&mut self) {
        if !self.outbox.entries.is_empty() {
            self.outbox.entries.clear();
            self.save_outbox();
        }
    }

    /// Queues `r` (on disk first) and raises its event.
    pub(super) fn send_later(&mut self, r: CpeRequest) {
        let Some(code) = event_of(&r) else {
            log::warn!("{} cannot be queued", r.method_name());
            return;
        };
        log::info!("{} queued ({code})", r.method_name());
        self.outbox.push(r);
        self.save_outbox();
        self.raise(code, "");
    }

    /// Adds the outbox's requests to a session's requests.
    pub(super) fn add_outbox_requests(&mut self, requests: &mut Vec<CpeRequest>) {
        self.outbox.in_session.clear();
        for (id, r) in &self.outbox.entries {
            self.outbox.in_session.push((requests.len(), *id));
            requests.push(r.clone());
        }
    }

    /// The ACS answered request `index`; true when it came from the outbox (now removed,
    /// with its event when it was the last of its kind).
    pub(super) fn outbox_delivered(&mut self, index: usize) -> bool {
        let Some(&(_, id)) = self.outbox.in_session.iter().find(|(i, _)| *i == index) else {
            return false;
        };
        let Some(pos) = self.outbox.entries.iter().position(|(i, _)| *i == id) else {
            return true;
        };
        let (_, r) = self.outbox.entries.remove(pos);
        self.save_outbox();
        if let Some(code) = event_of(&r).filter(|c| !self.outbox.events().contains(c)) {
            self.state.events.remove(&code, "");
            self.state.save();
        }
        log::info!("{} acknowledged", r.method_name());
        true
    }

    /// The ACS faulted request `index`; true when it came from the outbox (kept).
    pub(super) fn outbox_faulted(&self, index: usize) -> bool {
        self.outbox.in_session.iter().any(|(i, _)| *i == index)
    }

    /// After a session.
    pub(super) fn outbox_session_end(&mut self) {
        self.outbox.in_session.clear();
    }

    /// A `bbfdm.event`: autonomous completions the policies let through are queued.
    pub(super) fn on_bbfdm_event(&mut self, name: &str, input: &Value) {
        use crate::du::autonomous as auto;
        match name {
            auto::TRANSFER_EVENT => {
                let a = auto::transfer_from_event(input);
                if auto::transfer_allowed(self.config.transfer_complete.as_ref(), &a) {
                    self.send_later(CpeRequest::AutonomousTransferComplete(a));
                } else {
                    log::info!(
                        "autonomous transfer of {} filtered by policy",
                        a.transfer_url
                    );
                }
            }
            auto::DU_EVENT => {
                let r = auto::du_from_event(input);
                if auto::du_allowed(self.config.du_state_change.as_ref(), &r) {
                    let results = vec![r];
                    self.send_later(CpeRequest::AutonomousDuStateChangeComplete { results });
                } else {
                    log::info!("autonomous DU change of {} filtered by policy", r.uuid);
                }
            }
            _ => log::debug!("bbfdm event {name} ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::OpResult;

    #[test]
    fn entries_survive_a_restart_with_their_events() {
        let dir = std::env::temp_dir().join(format!("icwmp-outbox-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut o = Outbox::default();
        o.push(CpeRequest::RequestDownload {
            file_type: "1 Firmware Upgrade Image".into(),
            args: vec![("Version".into(), "2.0".into())],
        });
        o.push(CpeRequest::AutonomousTransferComplete(
            AutonomousTransferComplete {
                transfer_url: "http://h/f".into(),
                start_time: Some(7),
                ..Default::default()
            },
        ));
        let results = vec![OpResult {
            uuid: "u".into(),
            current_state: "Installed".into(),
            operation_performed: Some("Install".into()),
            ..Default::default()
        }];
        o.push(CpeRequest::AutonomousDuStateChangeComplete { results });
        o.save(&dir).unwrap();
        let back = Outbox::load(&dir);
        assert_eq!(back.entries, o.entries);
        assert_eq!(back.events(), CODES.to_vec());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
