//! The main loop's side of ChangeDUState: the persisted job list, one DU worker at a time
//! (started between sessions), `11 DU STATE CHANGE COMPLETE` + `M ChangeDUState` raised once a
//! job is over, and DUStateChangeComplete carried in sessions until the ACS acknowledges it.
//!
//! Same ordering as transfers: results are on disk before their events are raised, and
//! removed before their events on acknowledgement; start-up re-raises events for
//! unacknowledged results and drops events without one.

use super::Agent;
use crate::du::exec::{self, DuCtx, DuHooks};
use crate::du::jobs::DuJobs;
use crate::du::DuEvent;
use crate::events::EventCode;
use crate::inbox::Inbox;
use crate::soap::{CpeRequest, DuOperation};

const METHOD: &str = "ChangeDUState";

/// DU state the agent owns.
pub(super) struct DuState {
    /// The jobs (mirrored in `du_jobs.json`).
    pub jobs: DuJobs,
    /// Where workers report.
    tx: Inbox<DuEvent>,
    /// This session's DUStateChangeComplete requests: (request index, job id).
    in_session: Vec<(usize, u64)>,
}

impl DuState {
    /// Loads the jobs from the state directory.
    pub fn load(state_dir: &std::path::Path, tx: Inbox<DuEvent>) -> DuState {
        DuState {
            jobs: DuJobs::load(state_dir),
            tx,
            in_session: Vec::new(),
        }
    }
}

fn method_event() -> EventCode {
    EventCode::Method(METHOD.into())
}

impl Agent {
    fn save_du(&self) {
        if let Err(e) = self.du.jobs.save(&self.opts.state_dir) {
            log::debug!(
                "not written (logged by the store): {}: {e}",
                crate::du::jobs::FILE_NAME
            );
        }
    }

    /// Start-up: interrupted jobs are queued again (or given up), then the events are made
    /// to match the unacknowledged results.
    pub(super) fn recover_du(&mut self) {
        self.du.jobs.recover(crate::time::now_unix());
        self.save_du();
        let done = self.du.jobs.completions();
        let stale: Vec<_> = self
            .state
            .events
            .events()
            .iter()
            .filter(|e| match &e.code {
                EventCode::DuStateChangeComplete => done.is_empty(),
                EventCode::Method(m) if m == METHOD => !done.iter().any(|d| d.1 == e.command_key),
                _ => false,
            })
            .cloned()
            .collect();
        for e in stale {
            self.state.events.remove(&e.code, &e.command_key);
        }
        self.raise_du_events();
        self.state.save();
    }

    fn raise_du_events(&mut self) {
        let done = self.du.jobs.completions();
        if done.is_empty() {
            return;
        }
        self.raise(EventCode::DuStateChangeComplete, "");
        for (_, key, _) in done {
            self.raise(method_event(), &key);
        }
    }

    /// BOOTSTRAP: jobs and results belong to the old ACS.
    pub(super) fn discard_du(&mut self) {
        if !self.du.jobs.jobs.is_empty() {
            log::info!("BOOTSTRAP: discarding pending ChangeDUState jobs");
            self.du.jobs = DuJobs::default();
            self.save_du();
        }
    }

    /// Queues a checked ChangeDUState. `Err` when it could not be persisted: the job is then
    /// not queued (the RPC answers 9002).
    pub(super) fn du_action(
        &mut self,
        command_key: &str,
        ops: Vec<DuOperation>,
    ) -> Result<(), String> {
        let Some(id) = self.du.jobs.add(command_key, ops) else {
            log::error!("ChangeDUState '{command_key}' dropped: too many jobs");
            return Ok(());
        };
        if let Err(e) = self.du.jobs.save(&self.opts.state_dir) {
            self.du.jobs.jobs.retain(|j| j.id != id);
            return Err(format!("cannot write {}: {e}", crate::du::jobs::FILE_NAME));
        }
        log::info!("ChangeDUState '{command_key}' queued as DU job {id}");
        Ok(())
    }

    fn du_ctx(&self) -> DuCtx {
        let cpe = &self.config.cpe;
        DuCtx {
            net: self.net_options(),
            hooks: DuHooks::resolve(
                &cpe.du_install_command,
                &cpe.du_update_command,
                &cpe.du_uninstall_command,
            ),
            state_dir: self.opts.state_dir.clone(),
            work_dir: std::env::temp_dir().join(format!("icwmpd-{}", std::process::id())),
            bbfdm: self.ubus.clone().filter(|_| self.dm.is_bbfdm()),
        }
    }

    /// Starts the next queued job (between sessions only).
    pub(super) fn start_du(&mut self) {
        let Some((id, todo)) = self.du.jobs.start_next() else {
            return;
        };
        self.save_du();
        log::info!("DU job {id} starting: {} operation(s)", todo.len());
        if let Err(e) = exec::spawn(id, todo, self.du_ctx(), self.du.tx.clone()) {
            log::error!("cannot start DU worker: {e}");
            self.du_done(id, "cannot start the DU worker");
        }
    }

    /// A worker's report.
    pub(super) fn on_du_event(&mut self, ev: DuEvent) {
        match ev {
            DuEvent::Op { id, index, result } => {
                if self.du.jobs.record(id, index, *result) {
                    self.save_du();
                }
            }
            DuEvent::Done { id } => self.du_done(id, "operation not run"),
        }
    }

    fn du_done(&mut self, id: u64, why: &str) {
        if self.du.jobs.finish(id, crate::time::now_unix(), why) {
            self.save_du();
            log::info!("DU job {id} complete");
            self.raise_du_events();
        }
    }

    /// Adds one DUStateChangeComplete per finished job to a session's requests.
    pub(super) fn add_du_requests(&mut self, requests: &mut Vec<CpeRequest>) {
        self.du.in_session.clear();
        for (id, command_key, results) in self.du.jobs.completions() {
            self.du.in_session.push((requests.len(), id));
            requests.push(CpeRequest::DuStateChangeComplete {
                results,
                command_key,
            });
        }
    }

    /// The ACS answered request `index`; true when it was a DUStateChangeComplete.
    pub(super) fn du_delivered(&mut self, index: usize) -> bool {
        let Some(&(_, id)) = self.du.in_session.iter().find(|(i, _)| *i == index) else {
            return false;
        };
        let Some(job) = self.du.jobs.acknowledge(id) else {
            return true;
        };
        self.save_du();
        let done = self.du.jobs.completions();
        if !done.iter().any(|d| d.1 == job.command_key) {
            self.state.events.remove(&method_event(), &job.command_key);
        }
        if done.is_empty() {
            self.state
                .events
                .remove(&EventCode::DuStateChangeComplete, "");
        }
        self.state.save();
        log::info!("DUStateChangeComplete of DU job {id} acknowledged");
        true
    }

    /// The ACS faulted request `index`; true when it was a DUStateChangeComplete (kept).
    pub(super) fn du_faulted(&self, index: usize) -> bool {
        self.du.in_session.iter().any(|(i, _)| *i == index)
    }

    /// After a session.
    pub(super) fn du_session_end(&mut self) {
        self.du.in_session.clear();
    }
}
