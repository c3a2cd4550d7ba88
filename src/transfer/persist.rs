//! `<state_dir>/transfers.json`: the transfer queue as it must survive a power cut (queued,
//! running, being applied, and finished-but-unacknowledged transfers; digest section 10).
//!
//! The file holds the file-server passwords (needed to retry after a restart), so it is made
//! readable by its owner only.

use super::queue::{self, Kind, Outcome, Phase, Request, Transfer, TransferQueue, Window};
use crate::store::{self, Loaded};
use serde_json::{json, Value};
use std::path::Path;

/// Format version of `transfers.json`.
const VERSION: u64 = 1;

/// The file name in the state directory.
pub const FILE_NAME: &str = "transfers.json";

fn opt_time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, Value::from)
}

fn transfer_json(t: &Transfer) -> Value {
    let r = &t.req;
    let mut v = json!({
        "id": t.id,
        "kind": r.kind().method(),
        "command_key": r.command_key,
        "file_type": r.file_type,
        "url": r.url,
        "username": r.username,
        "password": r.password,
        "file_size": r.file_size,
        "target_file_name": r.target_file_name,
        "not_before": r.not_before,
        "windows": r.windows.iter().map(|w| json!({
            "start": w.start, "end": w.end,
            "mode": queue::mode_number(w.mode), "max_retries": w.max_retries,
        })).collect::<Vec<_>>(),
        "attempts": t.attempts,
        "generation": t.generation,
    });
    let phase = match &t.phase {
        Phase::Queued => json!({"phase": "queued"}),
        Phase::Running { started } => json!({"phase": "running", "started": started}),
        Phase::Applying {
            started,
            old_version,
        } => json!({"phase": "applying", "started": started, "old_version": old_version}),
        Phase::Done(o) => json!({
            "phase": "done", "fault": o.fault, "message": o.message,
            "start": opt_time(o.start), "complete": opt_time(o.complete),
        }),
    };
    if let (Some(m), Some(p)) = (v.as_object_mut(), phase.as_object()) {
        m.extend(p.clone());
    }
    v
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn transfer_from(v: &Value) -> Option<Transfer> {
    let kind = Kind::from_method(v["kind"].as_str()?)?;
    let mut windows = Vec::new();
    for w in v["windows"].as_array().into_iter().flatten() {
        windows.push(Window {
            start: w["start"].as_i64()?,
            end: w["end"].as_i64()?,
            mode: queue::mode_from_number(w["mode"].as_u64()?)?,
            max_retries: i32::try_from(w["max_retries"].as_i64().unwrap_or(-1)).unwrap_or(-1),
        });
    }
    let started = v["started"].as_i64().unwrap_or(0);
    let phase = match v["phase"].as_str()? {
        "queued" => Phase::Queued,
        "running" => Phase::Running { started },
        "applying" => Phase::Applying {
            started,
            old_version: v["old_version"].as_str().map(str::to_string),
        },
        "done" => Phase::Done(Outcome {
            fault: u32::try_from(v["fault"].as_u64()?).ok()?,
            message: s(v, "message"),
            start: v["start"].as_i64(),
            complete: v["complete"].as_i64(),
        }),
        _ => return None,
    };
    Some(Transfer {
        id: v["id"].as_u64()?,
        req: Request {
            kind: Some(kind),
            command_key: s(v, "command_key"),
            file_type: s(v, "file_type"),
            url: s(v, "url"),
            username: s(v, "username"),
            password: s(v, "password"),
            file_size: v["file_size"].as_u64().unwrap_or(0),
            target_file_name: s(v, "target_file_name"),
            not_before: v["not_before"].as_i64().unwrap_or(0),
            windows,
        },
        phase,
        attempts: u32::try_from(v["attempts"].as_u64().unwrap_or(0)).unwrap_or(u32::MAX),
        generation: u32::try_from(v["generation"].as_u64().unwrap_or(0)).unwrap_or(0),
    })
}

impl TransferQueue {
    /// The queue as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "version": VERSION,
            "next_id": queue::next_id(self),
            "transfers": self.items().iter().map(transfer_json).collect::<Vec<_>>(),
        })
    }

    /// Rebuilds a queue from [`TransferQueue::to_json`]; entries that cannot be read are
    /// logged and skipped (a half-understood transfer is not run).
    pub fn from_json(v: &Value) -> TransferQueue {
        let mut q = TransferQueue::new();
        queue::set_next_id(&mut q, v["next_id"].as_u64().unwrap_or(1));
        for t in v["transfers"].as_array().into_iter().flatten() {
            match transfer_from(t) {
                Some(t) if q.get(t.id).is_none() => queue::push_raw(&mut q, t),
                _ => log::error!("{FILE_NAME}: unreadable or duplicate transfer skipped: {t}"),
            }
        }
        q
    }

    /// Loads `<dir>/transfers.json`; missing gives an empty queue; unusable is logged, set
    /// aside and gives an empty queue (see [`store::load_json`]).
    pub fn load(dir: &Path) -> TransferQueue {
        let path = dir.join(FILE_NAME);
        match store::load_json(&path, "queued transfers") {
            Loaded::Object(v) => {
                // A wrong-typed list is logged here; from_json then reads it as empty.
                store::array_field(&v, "transfers", &path);
                TransferQueue::from_json(&v)
            }
            Loaded::Missing | Loaded::Unusable => TransferQueue::new(),
        }
    }

    /// Writes `<dir>/transfers.json` atomically; it holds passwords, so a new file is
    /// created owner-readable only (never readable by others, even briefly).
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        store::write_private(&dir.join(FILE_NAME), self.to_json().to_string().as_bytes())
    }
}
