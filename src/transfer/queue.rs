//! The transfer queue and scheduler: what is queued, running, being applied or finished but
//! not yet acknowledged by the ACS, and when each transfer may start. Pure: times come in as
//! arguments, persistence is [`TransferQueue::to_json`] / [`TransferQueue::from_json`].
//!
//! Life of a transfer: `Queued` → `Running` (worker fetching) → `Applying` (downloads: the
//! hook runs; persisted first so a reboot in the middle is recognised) → `Done` (result kept
//! until the TransferCompleteResponse) → removed by [`TransferQueue::acknowledge`].

use crate::fault::{Fault, FaultCode};
use crate::soap::{QueuedTransfer, TransferComplete, TransferFault};

/// Most transfers held at once (queued, running and unreported); one more is refused with
/// 9004. Also the XSD bound of GetQueuedTransfers' TransferList.
pub const MAX_TRANSFERS: usize = 16;

/// Retries a ScheduleDownload gets within its windows when MaxRetries is -1 ("CPE decides").
pub const DEFAULT_RETRIES: u32 = 2;

/// Seconds between two attempts of a windowed download.
pub const RETRY_DELAY: i64 = 60;

/// Which RPC asked for the transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Download.
    Download,
    /// Upload.
    Upload,
    /// ScheduleDownload.
    ScheduleDownload,
}

impl Kind {
    /// The RPC name, also the `M <name>` event.
    pub fn method(self) -> &'static str {
        match self {
            Kind::Download => "Download",
            Kind::Upload => "Upload",
            Kind::ScheduleDownload => "ScheduleDownload",
        }
    }

    /// The kind named by [`Kind::method`].
    pub fn from_method(s: &str) -> Option<Kind> {
        [Kind::Download, Kind::Upload, Kind::ScheduleDownload]
            .into_iter()
            .find(|k| k.method() == s)
    }

    /// False for uploads.
    pub fn is_download(self) -> bool {
        self != Kind::Upload
    }
}

/// The WindowModes we honour (4 and vendor modes are refused by the RPC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowMode {
    /// `1 At Any Time`.
    AtAnyTime,
    /// `2 Immediately`: as soon as the window opens.
    Immediately,
    /// `3 When Idle`: no session running and no other transfer running.
    WhenIdle,
}

impl WindowMode {
    fn number(self) -> u8 {
        match self {
            WindowMode::AtAnyTime => 1,
            WindowMode::Immediately => 2,
            WindowMode::WhenIdle => 3,
        }
    }

    fn from_number(n: u64) -> Option<WindowMode> {
        Some(match n {
            1 => WindowMode::AtAnyTime,
            2 => WindowMode::Immediately,
            3 => WindowMode::WhenIdle,
            _ => return None,
        })
    }
}

/// One time window, in absolute Unix seconds (`[start, end)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Opens at.
    pub start: i64,
    /// Closes at (nothing starts at or after it).
    pub end: i64,
    /// Its mode.
    pub mode: WindowMode,
    /// MaxRetries (-1: the CPE decides).
    pub max_retries: i32,
}

/// What the ACS asked for.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Request {
    /// Which RPC.
    pub kind: Option<Kind>,
    /// CommandKey.
    pub command_key: String,
    /// FileType.
    pub file_type: String,
    /// URL.
    pub url: String,
    /// Username for the file server.
    pub username: String,
    /// Password for the file server.
    pub password: String,
    /// FileSize (0: unknown).
    pub file_size: u64,
    /// TargetFileName (may be empty).
    pub target_file_name: String,
    /// Earliest start (receipt + DelaySeconds; for ScheduleDownload the receipt time).
    pub not_before: i64,
    /// ScheduleDownload windows (empty for Download and Upload).
    pub windows: Vec<Window>,
}

impl Request {
    /// The kind (Download when unset).
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Download)
    }
}

/// Result of one transfer as TransferComplete reports it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// 0 on success, else a 90xx code.
    pub fault: u32,
    /// FaultString (empty on success).
    pub message: String,
    /// StartTime (`None`: Unknown Time).
    pub start: Option<i64>,
    /// CompleteTime.
    pub complete: Option<i64>,
}

impl Outcome {
    /// A failure.
    pub fn failed(code: FaultCode, message: impl Into<String>) -> Outcome {
        Outcome {
            fault: code.0,
            message: message.into(),
            ..Outcome::default()
        }
    }
}

/// Where a transfer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its time.
    Queued,
    /// A worker is fetching (or exporting and sending).
    Running {
        /// When it started.
        started: i64,
    },
    /// The downloaded file is being applied.
    Applying {
        /// When the transfer started.
        started: i64,
        /// The software version before a firmware apply, to tell after a reboot whether the
        /// image was taken (`None`: no check, e.g. the embedded soft reboot).
        old_version: Option<String>,
    },
    /// Finished; waiting for the TransferCompleteResponse.
    Done(Outcome),
}

/// One transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Unique id (never reused, persisted).
    pub id: u64,
    /// What was asked.
    pub req: Request,
    /// Where it is.
    pub phase: Phase,
    /// Attempts started so far.
    pub attempts: u32,
    /// Counts starts: a worker's report is only taken for the attempt it ran.
    pub generation: u32,
}

impl Transfer {
    /// The earliest time it may start (possibly past: due now), or `None` when no window
    /// is left at `now` (9020).
    fn due(&self, now: i64) -> Option<i64> {
        let nb = self.req.not_before;
        if self.req.windows.is_empty() {
            return Some(nb);
        }
        self.req
            .windows
            .iter()
            .map(|w| (w.start.max(nb), w.end))
            .find(|(s, e)| (*s).max(now) < *e)
            .map(|(s, _)| s)
    }

    fn window_at(&self, t: i64) -> Option<&Window> {
        self.req.windows.iter().find(|w| w.start <= t && t < w.end)
    }

    /// State number of QueuedTransferStruct: 1 not started, 2 in progress, 3 completed.
    pub fn state(&self) -> u8 {
        match self.phase {
            Phase::Queued => 1,
            Phase::Running { .. } | Phase::Applying { .. } => 2,
            Phase::Done(_) => 3,
        }
    }

    /// The TransferComplete for a finished transfer.
    pub fn completion(&self) -> Option<TransferComplete> {
        let Phase::Done(o) = &self.phase else {
            return None;
        };
        Some(TransferComplete {
            command_key: self.req.command_key.clone(),
            fault: TransferFault {
                code: o.fault,
                message: o.message.clone(),
            },
            start_time: o.start,
            complete_time: o.complete,
        })
    }
}

/// All transfers, in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferQueue {
    items: Vec<Transfer>,
    next_id: u64,
}

impl TransferQueue {
    /// An empty queue.
    pub fn new() -> TransferQueue {
        TransferQueue {
            items: Vec::new(),
            next_id: 1,
        }
    }

    /// Every transfer, oldest first.
    pub fn items(&self) -> &[Transfer] {
        &self.items
    }

    /// One transfer.
    pub fn get(&self, id: u64) -> Option<&Transfer> {
        self.items.iter().find(|t| t.id == id)
    }

    /// Queues a request; 9004 when [`MAX_TRANSFERS`] are already held.
    pub fn add(&mut self, req: Request) -> Result<u64, Fault> {
        if self.items.len() >= MAX_TRANSFERS {
            return Err(Fault::with_message(
                FaultCode::RESOURCES_EXCEEDED,
                format!("already {MAX_TRANSFERS} transfers queued"),
            ));
        }
        let id = self.next_id.max(1);
        // Saturating: a hand-edited transfers.json may hold any id.
        self.next_id = id.saturating_add(1);
        self.items.push(Transfer {
            id,
            req,
            phase: Phase::Queued,
            attempts: 0,
            generation: 0,
        });
        Ok(id)
    }

    /// The TransferList of GetAllQueuedTransfers (GetQueuedTransfers uses the key and state).
    pub fn snapshot(&self) -> Vec<QueuedTransfer> {
        self.items
            .iter()
            .map(|t| QueuedTransfer {
                command_key: t.req.command_key.clone(),
                state: t.state(),
                is_download: t.req.kind().is_download(),
                file_type: t.req.file_type.clone(),
                file_size: t.req.file_size,
                target_file_name: t.req.target_file_name.clone(),
            })
            .collect()
    }

    /// Removes the not-yet-started transfers with `key` (no TransferComplete follows). The
    /// RPC checked with [`check_cancel`] that nothing else carries the key.
    pub fn cancel(&mut self, key: &str) -> usize {
        let before = self.items.len();
        self.items
            .retain(|t| !(t.req.command_key == key && t.phase == Phase::Queued));
        before - self.items.len()
    }

    /// Drops everything (BOOTSTRAP: a new ACS does not want the old one's results).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Queued transfers whose windows are all past end with 9020; true when any did.
    pub fn expire(&mut self, now: i64) -> bool {
        let mut changed = false;
        for t in &mut self.items {
            if t.phase == Phase::Queued && t.due(now).is_none() {
                t.phase = Phase::Done(Outcome {
                    fault: FaultCode::WINDOW_FAILURE.0,
                    message: "the time windows passed before the download could run".into(),
                    start: None,
                    complete: Some(now),
                });
                changed = true;
            }
        }
        changed
    }

    fn running(&self) -> usize {
        self.items.iter().filter(|t| t.state() == 2).count()
    }

    /// The transfers that may start now (called between sessions, so "no session" holds):
    /// due, inside a window when they have windows, and for `3 When Idle` with no other
    /// transfer running. At most one `When Idle` transfer is picked, and none beside others.
    pub fn startable(&self, now: i64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut busy = self.running() > 0;
        for t in self.items.iter().filter(|t| t.phase == Phase::Queued) {
            if t.due(now).is_none_or(|d| d > now) {
                continue;
            }
            let mode = match t.window_at(now) {
                Some(w) => w.mode,
                None if t.req.windows.is_empty() => WindowMode::AtAnyTime,
                None => continue,
            };
            if mode == WindowMode::WhenIdle {
                if busy || !out.is_empty() {
                    continue;
                }
                out.push(t.id);
                return out;
            }
            out.push(t.id);
            busy = true;
        }
        out
    }

    /// When the next queued transfer becomes due or its last window closes (for the main
    /// loop's sleep).
    pub fn next_due(&self, now: i64) -> Option<i64> {
        self.items
            .iter()
            .filter(|t| t.phase == Phase::Queued)
            .filter_map(|t| match t.due(now) {
                Some(d) if d > now => Some(d),
                // Due now but waiting (When Idle): wake up when its window closes.
                Some(_) => t
                    .req
                    .windows
                    .iter()
                    .map(|w| w.end)
                    .filter(|e| *e > now)
                    .min(),
                None => Some(now),
            })
            .min()
    }

    /// Marks a transfer running; returns the generation its worker must report with.
    pub fn start(&mut self, id: u64, now: i64) -> Option<u32> {
        let t = self.items.iter_mut().find(|t| t.id == id)?;
        if t.phase != Phase::Queued {
            return None;
        }
        t.attempts = t.attempts.saturating_add(1);
        t.generation = t.generation.wrapping_add(1);
        t.phase = Phase::Running { started: now };
        Some(t.generation)
    }

    fn current(&mut self, id: u64, generation: u32) -> Option<&mut Transfer> {
        self.items
            .iter_mut()
            .find(|t| t.id == id && t.generation == generation && t.state() == 2)
    }

    /// The download of `id` is complete and its file is about to be applied. False when the
    /// report is stale (the transfer was discarded or restarted): do not apply then.
    pub fn applying(&mut self, id: u64, generation: u32, old_version: Option<String>) -> bool {
        let Some(t) = self.current(id, generation) else {
            return false;
        };
        let started = match t.phase {
            Phase::Running { started } | Phase::Applying { started, .. } => started,
            _ => return false,
        };
        t.phase = Phase::Applying {
            started,
            old_version,
        };
        true
    }

    /// A worker's final report. A failed windowed download goes back to the queue while its
    /// retries and windows allow; otherwise the result is kept for TransferComplete. Returns
    /// true when the transfer is now `Done` (raise `7 TRANSFER COMPLETE`).
    pub fn finish(&mut self, id: u64, generation: u32, mut outcome: Outcome, now: i64) -> bool {
        let Some(t) = self.current(id, generation) else {
            return false;
        };
        let started = match t.phase {
            Phase::Running { started } | Phase::Applying { started, .. } => started,
            _ => now,
        };
        if outcome.fault != 0 && !t.req.windows.is_empty() {
            let retry_at = now + RETRY_DELAY;
            let allowed = t
                .window_at(started)
                .or_else(|| t.req.windows.first())
                .map_or(0, |w| match w.max_retries {
                    -1 => DEFAULT_RETRIES,
                    n => n.max(0) as u32,
                });
            let open = t.req.windows.iter().any(|w| retry_at.max(w.start) < w.end);
            if t.attempts <= allowed && open {
                log::info!(
                    "transfer {id} failed ({} {}); retrying within its window",
                    outcome.fault,
                    outcome.message
                );
                t.req.not_before = retry_at;
                t.phase = Phase::Queued;
                return false;
            }
        }
        outcome.start.get_or_insert(started);
        outcome.complete.get_or_insert(now);
        t.phase = Phase::Done(outcome);
        true
    }

    /// Finished transfers waiting for their TransferCompleteResponse, with their ids.
    pub fn completions(&self) -> Vec<(u64, Kind, TransferComplete)> {
        self.items
            .iter()
            .filter_map(|t| Some((t.id, t.req.kind(), t.completion()?)))
            .collect()
    }

    /// The ACS acknowledged the TransferComplete of `id`: forget it.
    pub fn acknowledge(&mut self, id: u64) -> Option<Transfer> {
        let i = self
            .items
            .iter()
            .position(|t| t.id == id && matches!(t.phase, Phase::Done(_)))?;
        Some(self.items.remove(i))
    }

    /// True when another unacknowledged result shares `kind` and `key` (its `M` event stays).
    pub fn has_result(&self, kind: Kind, key: &str) -> bool {
        self.items.iter().any(|t| {
            t.req.kind() == kind && t.req.command_key == key && matches!(t.phase, Phase::Done(_))
        })
    }

    /// Start-up after a restart or power cut: nothing can be running. A transfer caught
    /// `Running` is retried when its window still allows, else reported 9017 (download) or
    /// 9011 (upload). A firmware caught `Applying` is a success when `applied(old_version)`
    /// says the image was taken (the expected end of a firmware apply is a reboot), 9018
    /// otherwise; other files caught `Applying` are reported 9018. Then [`Self::expire`].
    pub fn recover(&mut self, now: i64, applied: &dyn Fn(Option<&str>) -> bool) {
        for t in &mut self.items {
            let (started, fault, msg) = match &t.phase {
                Phase::Running { started } => {
                    let retry = !t.req.windows.is_empty()
                        && t.req.windows.iter().any(|w| now.max(w.start) < w.end);
                    if retry {
                        t.phase = Phase::Queued;
                        continue;
                    }
                    let (code, what) = if t.req.kind().is_download() {
                        (FaultCode::COMPLETE_DOWNLOAD_FAILURE, "download")
                    } else {
                        (FaultCode::UPLOAD_FAILURE, "upload")
                    };
                    (*started, code.0, format!("{what} interrupted by a restart"))
                }
                Phase::Applying {
                    started,
                    old_version,
                } => {
                    let firmware = t.req.file_type.trim() == "1 Firmware Upgrade Image";
                    if firmware && applied(old_version.as_deref()) {
                        (*started, 0, String::new())
                    } else {
                        let m = if firmware {
                            "the firmware image was not taken (version unchanged)"
                        } else {
                            "applying the file was interrupted by a restart"
                        };
                        (*started, FaultCode::FILE_CORRUPTED.0, m.to_string())
                    }
                }
                _ => continue,
            };
            t.phase = Phase::Done(Outcome {
                fault,
                message: msg,
                start: Some(started),
                complete: Some(now),
            });
        }
        self.expire(now);
    }
}

/// The CancelTransfer check against a TransferList: 9003 when no transfer has `key`, 9021
/// when one with it is running, being applied or finished.
pub fn check_cancel(transfers: &[QueuedTransfer], key: &str) -> Result<(), Fault> {
    let mut found = false;
    for t in transfers.iter().filter(|t| t.command_key == key) {
        found = true;
        if t.state != 1 {
            return Err(Fault::with_message(
                FaultCode::CANCEL_NOT_PERMITTED,
                format!("transfer '{key}' is already in progress or complete"),
            ));
        }
    }
    if !found {
        return Err(Fault::invalid_args(format!(
            "no transfer with CommandKey '{key}'"
        )));
    }
    Ok(())
}

pub(super) fn mode_number(m: WindowMode) -> u8 {
    m.number()
}

pub(super) fn mode_from_number(n: u64) -> Option<WindowMode> {
    WindowMode::from_number(n)
}

pub(super) fn set_next_id(q: &mut TransferQueue, id: u64) {
    q.next_id = id.max(1);
}

pub(super) fn next_id(q: &TransferQueue) -> u64 {
    q.next_id
}

pub(super) fn push_raw(q: &mut TransferQueue, t: Transfer) {
    q.next_id = q.next_id.max(t.id.saturating_add(1));
    q.items.push(t);
}
