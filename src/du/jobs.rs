//! The ChangeDUState jobs the main loop owns, mirrored in `<state_dir>/du_jobs.json` so a
//! restart ends every job in exactly one DUStateChangeComplete: queued and interrupted jobs
//! run (again) for the operations without a result, finished ones are sent until the ACS
//! acknowledges them. The file holds package-server passwords: owner-readable only.

use crate::fault::FaultCode;
use crate::soap::{DuOperation, OpResult, TransferFault};
use crate::store;
use serde_json::{json, Value};
use std::path::Path;

/// The file name in the state directory.
pub const FILE_NAME: &str = "du_jobs.json";
/// Most jobs waiting at once (more: 9004).
pub const MAX_JOBS: usize = 16;
/// Runs of one job before an interrupted operation is reported failed (a package that
/// crashes the device must not loop forever).
const MAX_ATTEMPTS: u32 = 2;

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobPhase {
    /// Waiting for the end of the session.
    Queued,
    /// A worker runs it.
    Running,
    /// Every operation has a result; DUStateChangeComplete not yet acknowledged.
    Done,
}

/// One ChangeDUState.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuJob {
    /// Id (unique in this state dir).
    pub id: u64,
    /// CommandKey.
    pub command_key: String,
    /// The operations, in order.
    pub ops: Vec<DuOperation>,
    /// One slot per operation.
    pub results: Vec<Option<OpResult>>,
    /// Phase.
    pub phase: JobPhase,
    /// Worker runs so far.
    pub attempts: u32,
}

/// The job list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DuJobs {
    next_id: u64,
    /// Jobs, oldest first.
    pub jobs: Vec<DuJob>,
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn op_json(op: &DuOperation) -> Value {
    match op {
        DuOperation::Install {
            url,
            uuid,
            username,
            password,
            execution_env_ref,
        } => json!({
            "op": "Install", "url": url, "uuid": uuid, "username": username,
            "password": password, "ee": execution_env_ref }),
        DuOperation::Update {
            uuid,
            version,
            url,
            username,
            password,
        } => json!({
            "op": "Update", "uuid": uuid, "version": version, "url": url,
            "username": username, "password": password }),
        DuOperation::Uninstall {
            uuid,
            version,
            execution_env_ref,
        } => json!({
            "op": "Uninstall", "uuid": uuid, "version": version, "ee": execution_env_ref }),
    }
}

fn op_from(v: &Value) -> Option<DuOperation> {
    Some(match v["op"].as_str()? {
        "Install" => DuOperation::Install {
            url: s(v, "url"),
            uuid: s(v, "uuid"),
            username: s(v, "username"),
            password: s(v, "password"),
            execution_env_ref: s(v, "ee"),
        },
        "Update" => DuOperation::Update {
            uuid: s(v, "uuid"),
            version: s(v, "version"),
            url: s(v, "url"),
            username: s(v, "username"),
            password: s(v, "password"),
        },
        "Uninstall" => DuOperation::Uninstall {
            uuid: s(v, "uuid"),
            version: s(v, "version"),
            execution_env_ref: s(v, "ee"),
        },
        _ => return None,
    })
}

/// An OpResult as JSON (also used for autonomous results).
pub fn result_json(r: &OpResult) -> Value {
    json!({
        "uuid": r.uuid, "du_ref": r.deployment_unit_ref, "version": r.version,
        "state": r.current_state, "resolved": r.resolved, "eu_refs": r.execution_unit_ref_list,
        "start": r.start_time, "complete": r.complete_time, "fault": r.fault.code,
        "fault_string": r.fault.message, "op": r.operation_performed,
    })
}

/// Reads [`result_json`].
pub fn result_from(v: &Value) -> Option<OpResult> {
    Some(OpResult {
        uuid: s(v, "uuid"),
        deployment_unit_ref: s(v, "du_ref"),
        version: s(v, "version"),
        current_state: v["state"].as_str()?.to_string(),
        resolved: v["resolved"].as_bool().unwrap_or(false),
        execution_unit_ref_list: s(v, "eu_refs"),
        start_time: v["start"].as_i64(),
        complete_time: v["complete"].as_i64(),
        fault: TransferFault {
            code: u32::try_from(v["fault"].as_u64().unwrap_or(0)).unwrap_or(9001),
            message: s(v, "fault_string"),
        },
        operation_performed: v["op"].as_str().map(str::to_string),
    })
}

fn job_from(v: &Value) -> Option<DuJob> {
    let ops = v["ops"]
        .as_array()?
        .iter()
        .map(op_from)
        .collect::<Option<Vec<_>>>()?;
    let mut results: Vec<Option<OpResult>> = v["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(result_from)
        .collect();
    results.resize(ops.len(), None);
    let phase = match v["phase"].as_str()? {
        "queued" => JobPhase::Queued,
        "running" => JobPhase::Running,
        "done" => JobPhase::Done,
        _ => return None,
    };
    Some(DuJob {
        id: v["id"].as_u64()?,
        command_key: s(v, "command_key"),
        ops,
        results,
        phase,
        attempts: u32::try_from(v["attempts"].as_u64().unwrap_or(0)).unwrap_or(u32::MAX),
    })
}

impl DuJobs {
    /// Queues a checked ChangeDUState; `None` when [`MAX_JOBS`] are waiting.
    pub fn add(&mut self, command_key: &str, ops: Vec<DuOperation>) -> Option<u64> {
        if self.jobs.len() >= MAX_JOBS {
            return None;
        }
        self.next_id = self.next_id.max(1);
        let id = self.next_id;
        // Saturating: a hand-edited du_jobs.json may hold any id.
        self.next_id = self.next_id.saturating_add(1);
        let results = vec![None; ops.len()];
        self.jobs.push(DuJob {
            id,
            command_key: command_key.into(),
            ops,
            results,
            phase: JobPhase::Queued,
            attempts: 0,
        });
        Some(id)
    }

    /// The next job to start (one at a time: package managers hold a lock), with the
    /// operations still without a result; marks it running.
    pub fn start_next(&mut self) -> Option<(u64, Vec<(usize, DuOperation)>)> {
        if self.jobs.iter().any(|j| j.phase == JobPhase::Running) {
            return None;
        }
        let j = self.jobs.iter_mut().find(|j| j.phase == JobPhase::Queued)?;
        j.phase = JobPhase::Running;
        j.attempts = j.attempts.saturating_add(1);
        let todo = j
            .ops
            .iter()
            .enumerate()
            .filter(|(i, _)| j.results.get(*i).is_some_and(Option::is_none))
            .map(|(i, op)| (i, op.clone()))
            .collect();
        Some((j.id, todo))
    }

    /// Records one operation's result.
    pub fn record(&mut self, id: u64, index: usize, result: OpResult) -> bool {
        let slot = self
            .jobs
            .iter_mut()
            .find(|j| j.id == id && j.phase == JobPhase::Running)
            .and_then(|j| j.results.get_mut(index));
        match slot {
            Some(s) => {
                *s = Some(result);
                true
            }
            None => false,
        }
    }

    /// Ends job `id`: operations without a result (the worker died) fail with `why`.
    pub fn finish(&mut self, id: u64, now: i64, why: &str) -> bool {
        let Some(j) = self
            .jobs
            .iter_mut()
            .find(|j| j.id == id && j.phase != JobPhase::Done)
        else {
            return false;
        };
        for (op, r) in j.ops.iter().zip(j.results.iter_mut()) {
            if r.is_none() {
                *r = Some(super::failed(op, FaultCode::REQUEST_DENIED, why, now, now));
            }
        }
        j.phase = JobPhase::Done;
        true
    }

    /// Start-up: an interrupted job runs again for its missing operations, unless it was
    /// already interrupted [`MAX_ATTEMPTS`] times (then they fail).
    pub fn recover(&mut self, now: i64) {
        let mut give_up = Vec::new();
        for j in self
            .jobs
            .iter_mut()
            .filter(|j| j.phase == JobPhase::Running)
        {
            if j.attempts >= MAX_ATTEMPTS {
                give_up.push(j.id);
            } else {
                j.phase = JobPhase::Queued;
            }
        }
        for id in give_up {
            self.finish(id, now, "interrupted by a restart of the CPE");
        }
    }

    /// Finished jobs: (id, CommandKey, results).
    pub fn completions(&self) -> Vec<(u64, String, Vec<OpResult>)> {
        self.jobs
            .iter()
            .filter(|j| j.phase == JobPhase::Done)
            .map(|j| {
                (
                    j.id,
                    j.command_key.clone(),
                    j.results.iter().flatten().cloned().collect(),
                )
            })
            .collect()
    }

    /// The ACS acknowledged job `id`'s DUStateChangeComplete: drop it.
    pub fn acknowledge(&mut self, id: u64) -> Option<DuJob> {
        let i = self
            .jobs
            .iter()
            .position(|j| j.id == id && j.phase == JobPhase::Done)?;
        Some(self.jobs.remove(i))
    }

    /// As JSON.
    pub fn to_json(&self) -> Value {
        let jobs: Vec<Value> = self
            .jobs
            .iter()
            .map(|j| {
                json!({
                    "id": j.id, "command_key": j.command_key,
                    "ops": j.ops.iter().map(op_json).collect::<Vec<_>>(),
                    "results": j.results.iter().map(|r| r.as_ref().map_or(Value::Null, result_json)).collect::<Vec<_>>(),
                    "phase": match j.phase { JobPhase::Queued => "queued", JobPhase::Running => "running", JobPhase::Done => "done" },
                    "attempts": j.attempts,
                })
            })
            .collect();
        json!({"version": 1, "next_id": self.next_id, "jobs": jobs})
    }

    /// Reads [`DuJobs::to_json`]; unreadable jobs are logged and skipped.
    pub fn from_json(v: &Value) -> DuJobs {
        let mut d = DuJobs {
            next_id: v["next_id"].as_u64().unwrap_or(1),
            jobs: Vec::new(),
        };
        for j in v["jobs"].as_array().into_iter().flatten() {
            match job_from(j) {
                Some(job) => {
                    d.next_id = d.next_id.max(job.id.saturating_add(1));
                    d.jobs.push(job);
                }
                None => log::error!("{FILE_NAME}: unreadable job skipped: {j}"),
            }
        }
        d
    }

    /// Loads `<dir>/du_jobs.json` (missing: empty; unusable: empty, logged and set aside).
    pub fn load(dir: &Path) -> DuJobs {
        let path = dir.join(FILE_NAME);
        match store::load_json(&path, "ChangeDUState jobs") {
            store::Loaded::Object(v) => {
                // A wrong-typed list is logged here; from_json then reads it as empty.
                store::array_field(&v, "jobs", &path);
                DuJobs::from_json(&v)
            }
            store::Loaded::Missing | store::Loaded::Unusable => DuJobs::default(),
        }
    }

    /// Writes `<dir>/du_jobs.json` atomically; it holds passwords, so a new file is created
    /// owner-readable only.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        store::write_private(&dir.join(FILE_NAME), self.to_json().to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> Vec<DuOperation> {
        vec![
            DuOperation::Install {
                url: "http://h/a.ipk".into(),
                uuid: String::new(),
                username: "u".into(),
                password: "p".into(),
                execution_env_ref: String::new(),
            },
            DuOperation::Uninstall {
                uuid: "x".into(),
                version: String::new(),
                execution_env_ref: String::new(),
            },
        ]
    }

    fn ok() -> OpResult {
        OpResult {
            uuid: "u".into(),
            current_state: "Installed".into(),
            start_time: Some(5),
            ..OpResult::default()
        }
    }

    #[test]
    fn restart_resumes_then_gives_up_and_persists_results() {
        let mut d = DuJobs::default();
        let id = d.add("k", ops()).unwrap();
        let (sid, todo) = d.start_next().unwrap();
        assert_eq!((sid, todo.len()), (id, 2));
        assert!(d.start_next().is_none(), "one job at a time");
        assert!(d.record(id, 0, ok()));
        // kill -9: reload from JSON, recover: only the second operation runs again.
        let mut back = DuJobs::from_json(&d.to_json());
        assert_eq!(back, d);
        back.recover(100);
        let (_, todo) = back.start_next().unwrap();
        assert_eq!(todo.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1]);
        // Interrupted again: the second attempt gives up with 9001.
        let mut again = DuJobs::from_json(&back.to_json());
        again.recover(200);
        let c = again.completions();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].2[0], ok());
        assert_eq!(
            (c[0].2[1].fault.code, c[0].2[1].current_state.as_str()),
            (9001, "Failed")
        );
        assert!(again.acknowledge(id).is_some() && again.completions().is_empty());
        assert_eq!(again.add("k2", ops()), Some(id + 1));
    }

    #[test]
    fn file_round_trip_is_private() {
        let dir = std::env::temp_dir().join(format!("icwmp-du-jobs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = DuJobs::default();
        d.add("k", ops()).unwrap();
        d.save(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(DuJobs::load(&dir), d);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
