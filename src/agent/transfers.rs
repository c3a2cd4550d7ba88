//! The main loop's side of file transfers: the persisted queue, starting workers when
//! transfers are due (only between sessions), taking their reports, raising
//! `7 TRANSFER COMPLETE` + `M <Method>`, and carrying TransferComplete in sessions until the
//! ACS acknowledges each one, exactly once.
//!
//! Ordering that keeps "never silence, never two": a result is written to `transfers.json`
//! before its events are raised; on acknowledgement the result is removed before its events.
//! At start-up, events without a result are dropped and results without events re-raise
//! them.

use super::Agent;
use crate::events::EventCode;
use crate::fault::FaultCode;
use crate::inbox::Inbox;
use crate::rpc::Action;
use crate::soap::CpeRequest;
use crate::transfer::apply::Hooks;
use crate::transfer::worker::{self, WorkerCtx};
use crate::transfer::{After, Kind, Outcome, Request, TransferEvent, TransferQueue};
use std::path::PathBuf;

const SOFTWARE_VERSION: &str = "Device.DeviceInfo.SoftwareVersion";

/// Transfer state the agent owns.
pub(super) struct Transfers {
    /// The queue (mirrored in `transfers.json`).
    pub queue: TransferQueue,
    /// Where workers report.
    tx: Inbox<TransferEvent>,
    /// This session's TransferComplete requests: (request index, transfer id).
    in_session: Vec<(usize, u64)>,
    /// A firmware handed to the platform's upgrade hook: (id, generation, outcome so far,
    /// deadline for the reboot).
    await_reboot: Option<(u64, u32, Outcome, i64)>,
}

impl Transfers {
    /// Loads the queue from the state directory.
    pub fn load(state_dir: &std::path::Path, tx: Inbox<TransferEvent>) -> Transfers {
        Transfers {
            queue: TransferQueue::load(state_dir),
            tx,
            in_session: Vec::new(),
            await_reboot: None,
        }
    }
}

fn method_event(kind: Kind) -> EventCode {
    EventCode::Method(kind.method().into())
}

fn is_transfer_event(code: &EventCode) -> bool {
    match code {
        EventCode::TransferComplete => true,
        EventCode::Method(m) => Kind::from_method(m).is_some(),
        _ => false,
    }
}

impl Agent {
    fn save_transfers(&self) {
        if let Err(e) = self.xfer.queue.save(&self.opts.state_dir) {
            log::debug!(
                "not written (logged by the store): {}: {e}",
                crate::transfer::FILE_NAME
            );
        }
    }

    fn software_version(&mut self) -> Option<String> {
        let v = self.dm.get_values(SOFTWARE_VERSION).ok()?;
        v.into_iter().next().map(|p| p.value)
    }

    /// Start-up: settles transfers a restart interrupted, then makes the events match the
    /// unacknowledged results.
    pub(super) fn recover_transfers(&mut self) {
        let current = self.software_version();
        let embedded_fw = self.config.cpe.firmware_upgrade_command.trim().is_empty();
        let now = crate::time::now_unix();
        self.xfer.queue.recover(now, &|old| match old {
            // No version recorded (embedded soft reboot): the restart is the apply.
            None => embedded_fw || current.is_none(),
            Some(v) => current.as_deref() != Some(v),
        });
        self.save_transfers();
        let stale: Vec<_> = self
            .state
            .events
            .events()
            .iter()
            .filter(|e| is_transfer_event(&e.code))
            .cloned()
            .collect();
        for e in stale {
            let keep = match &e.code {
                EventCode::Method(m) => Kind::from_method(m)
                    .is_some_and(|k| self.xfer.queue.has_result(k, &e.command_key)),
                _ => !self.xfer.queue.completions().is_empty(),
            };
            if !keep {
                self.state.events.remove(&e.code, &e.command_key);
            }
        }
        self.raise_result_events();
        self.state.save();
    }

    /// Makes sure every unacknowledged result has its events pending.
    fn raise_result_events(&mut self) {
        let results = self.xfer.queue.completions();
        if results.is_empty() {
            return;
        }
        self.raise(EventCode::TransferComplete, "");
        for (_, kind, tc) in results {
            self.raise(method_event(kind), &tc.command_key);
        }
    }

    /// BOOTSTRAP: pending transfers and results belong to the old ACS (digest 1.6). Running
    /// workers finish into the void: their reports no longer match anything.
    pub(super) fn discard_transfers(&mut self) {
        if !self.xfer.queue.items().is_empty() {
            log::info!("BOOTSTRAP: discarding pending transfers and results");
            self.xfer.queue.clear();
            self.save_transfers();
        }
    }

    /// Queues what a transfer RPC asked for (arguments already checked by the handler).
    /// `Err` when the change could not be persisted: the queue is then left as it was (the
    /// RPC answers 9002 and the ACS may try again).
    pub(super) fn transfer_action(&mut self, action: Action) -> Result<(), String> {
        let before = self.xfer.queue.clone();
        self.queue_transfer(action);
        if let Err(e) = self.xfer.queue.save(&self.opts.state_dir) {
            self.xfer.queue = before;
            return Err(format!("cannot write {}: {e}", crate::transfer::FILE_NAME));
        }
        Ok(())
    }

    fn queue_transfer(&mut self, action: Action) {
        let now = crate::time::now_unix();
        let req = match action {
            Action::Download(a) => Request::download(&a, now),
            Action::Upload(a) => Request::upload(&a, now),
            Action::ScheduleDownload(a) => Request::schedule_download(&a, now),
            Action::CancelTransfer { command_key } => {
                let n = self.xfer.queue.cancel(&command_key);
                log::info!("CancelTransfer '{command_key}': {n} transfer(s) removed");
                return;
            }
            other => {
                log::warn!("not a transfer action: {other:?}");
                return;
            }
        };
        let (kind, key, url) = (req.kind(), req.command_key.clone(), req.url.clone());
        match self.xfer.queue.add(req) {
            Ok(id) => log::info!("{} '{key}' queued as transfer {id}: {url}", kind.method()),
            Err(f) => log::error!("transfer not queued: {f}"),
        }
    }

    /// When the next transfer is due (for the loop's sleep).
    pub(super) fn transfer_wakeup(&self) -> Option<i64> {
        let due = self.xfer.queue.next_due(crate::time::now_unix());
        match (due, self.xfer.await_reboot.as_ref().map(|a| a.3)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn worker_ctx(&self) -> WorkerCtx {
        let cpe = &self.config.cpe;
        WorkerCtx {
            net: self.net_options(),
            hooks: Hooks {
                state_dir: self.opts.state_dir.clone(),
                config_path: self.opts.config_path.clone(),
                firmware: cpe.firmware_upgrade_command.clone(),
                config_import: cpe.config_import_command.clone(),
                config_export: cpe.config_export_command.clone(),
                log_export: cpe.log_export_command.clone(),
                log_file: cpe.log_to_file.then(|| PathBuf::from(&cpe.log_file_name)),
                keep_settings: cpe.fw_upgrade_keep_settings,
            },
            // RAM on a router; unique per daemon (a re-exec keeps the pid and reuses it).
            work_dir: std::env::temp_dir().join(format!("icwmpd-{}", std::process::id())),
        }
    }

    /// Expires transfers whose windows passed and starts the due ones. Called only when no
    /// session is running or wanted.
    pub(super) fn start_transfers(&mut self) {
        let now = crate::time::now_unix();
        if self.xfer.await_reboot.as_ref().is_some_and(|a| a.3 <= now) {
            if let Some((id, generation, mut outcome, _)) = self.xfer.await_reboot.take() {
                log::error!("transfer {id}: firmware accepted but the device did not reboot");
                outcome.fault = FaultCode::FILE_CORRUPTED.0;
                outcome.message = "image could not be applied: no reboot followed".into();
                outcome.complete = Some(now);
                self.transfer_done(id, generation, outcome, After::Nothing);
            }
        }
        if self.xfer.queue.expire(now) {
            self.save_transfers();
            self.raise_result_events();
        }
        for id in self.xfer.queue.startable(now) {
            let Some(generation) = self.xfer.queue.start(id, now) else {
                continue;
            };
            let Some(req) = self.xfer.queue.get(id).map(|t| t.req.clone()) else {
                continue;
            };
            self.save_transfers();
            log::info!(
                "transfer {id} starting: {} {}",
                req.kind().method(),
                req.url
            );
            let r = worker::spawn(id, generation, req, self.worker_ctx(), self.xfer.tx.clone());
            if let Err(e) = r {
                let o = Outcome::failed(crate::fault::FaultCode::INTERNAL_ERROR, e.to_string());
                self.transfer_done(id, generation, o, After::Nothing);
            }
        }
    }

    /// A worker's report.
    pub(super) fn on_transfer_event(&mut self, ev: TransferEvent) {
        match ev {
            TransferEvent::Fetched {
                id,
                generation,
                path,
                go,
            } => {
                let firmware = self
                    .xfer
                    .queue
                    .get(id)
                    .is_some_and(|t| t.req.file_type == "1 Firmware Upgrade Image");
                let hook = !self.config.cpe.firmware_upgrade_command.trim().is_empty();
                let old = if firmware && hook {
                    self.software_version()
                } else {
                    None
                };
                let ok = self.xfer.queue.applying(id, generation, old);
                if ok {
                    self.save_transfers();
                    log::info!("transfer {id}: applying {}", path.display());
                }
                let _ = go.send(ok);
            }
            TransferEvent::Done {
                id,
                generation,
                outcome,
                then,
            } => self.transfer_done(id, generation, outcome, then),
        }
    }

    fn transfer_done(&mut self, id: u64, generation: u32, outcome: Outcome, then: After) {
        if then == After::AwaitReboot {
            // Stays `Applying` on disk: the BOOT after the upgrade reports it.
            log::info!(
                "transfer {id}: firmware handed to the upgrade hook; waiting for the reboot"
            );
            let deadline = crate::time::now_unix() + crate::transfer::FIRMWARE_REBOOT_WAIT;
            self.xfer.await_reboot = Some((id, generation, outcome, deadline));
            return;
        }
        if then == After::Reboot {
            // The transfer stays `Applying` on disk: the restart reports it.
            log::info!("transfer {id}: firmware kept; rebooting to apply it");
            self.reboot();
            return;
        }
        let fault = outcome.fault;
        if self
            .xfer
            .queue
            .finish(id, generation, outcome, crate::time::now_unix())
        {
            self.save_transfers();
            log::info!("transfer {id} complete (fault {fault})");
            self.metrics.transfer(fault);
            self.raise_result_events();
        } else {
            self.save_transfers();
        }
        if then == After::ReloadConfig && fault == 0 {
            self.reload();
        }
    }

    /// Adds one TransferComplete per unacknowledged result to a session's requests.
    pub(super) fn add_transfer_requests(&mut self, requests: &mut Vec<CpeRequest>) {
        self.xfer.in_session.clear();
        for (id, _, tc) in self.xfer.queue.completions() {
            self.xfer.in_session.push((requests.len(), id));
            requests.push(CpeRequest::TransferComplete(tc));
        }
    }

    /// The ACS answered request `index`; true when it was a TransferComplete (now removed
    /// with its events).
    pub(super) fn transfer_delivered(&mut self, index: usize) -> bool {
        let Some(&(_, id)) = self.xfer.in_session.iter().find(|(i, _)| *i == index) else {
            return false;
        };
        let Some(t) = self.xfer.queue.acknowledge(id) else {
            return true;
        };
        self.save_transfers();
        let (kind, key) = (t.req.kind(), t.req.command_key);
        if !self.xfer.queue.has_result(kind, &key) {
            self.state.events.remove(&method_event(kind), &key);
        }
        if self.xfer.queue.completions().is_empty() {
            self.state.events.remove(&EventCode::TransferComplete, "");
        }
        self.state.save();
        log::info!("TransferComplete of transfer {id} acknowledged");
        true
    }

    /// The ACS faulted request `index`; true when it was a TransferComplete. It stays for a
    /// later session: its events stay pending, and the main loop's "stalled" rule waits for
    /// something new rather than loop on a refusing ACS.
    pub(super) fn transfer_faulted(&self, index: usize) -> bool {
        self.xfer.in_session.iter().any(|(i, _)| *i == index)
    }

    /// After a session.
    pub(super) fn transfer_session_end(&mut self) {
        self.xfer.in_session.clear();
    }
}
