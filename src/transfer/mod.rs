//! File transfers (Download, Upload, ScheduleDownload): the pure queue and scheduler
//! ([`queue`], persisted by [`persist`]), argument checks ([`check`]), and the I/O edges run
//! by one worker thread per transfer ([`worker`]: HTTP(S) in [`http`], FTP/FTPS in [`ftp`],
//! the per-FileType hooks in [`apply`]). Workers report to the main loop over a channel as
//! [`TransferEvent`]s; the main loop alone changes the queue.

pub mod apply;
pub mod check;
pub mod ftp;
pub mod http;
#[cfg(test)]
mod net_tests;
mod persist;
pub mod queue;
#[cfg(test)]
mod queue_tests;
pub mod worker;

use crate::fault::FaultCode;
use crate::soap::{DownloadArgs, ScheduleDownloadArgs, UploadArgs};
use std::fmt;
use std::path::PathBuf;

pub use persist::FILE_NAME;
pub use queue::{Kind, Outcome, Phase, Request, Transfer, TransferQueue, Window, MAX_TRANSFERS};

/// Why a fetch, send, export or apply failed: the fault code TransferComplete reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// 9010-9020 (or 9001/9002).
    pub code: FaultCode,
    /// FaultString.
    pub message: String,
}

impl Failure {
    /// A failure with its reason.
    pub fn new(code: FaultCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl From<Failure> for Outcome {
    fn from(f: Failure) -> Outcome {
        Outcome::failed(f.code, f.message)
    }
}

/// What a worker tells the main loop.
#[derive(Debug)]
pub enum TransferEvent {
    /// A download is complete in `path`: may it be applied? Answer on `go` (true: apply;
    /// false: the transfer was discarded meanwhile, drop the file). The main loop persists
    /// the `Applying` phase before answering true.
    Fetched {
        /// Transfer id.
        id: u64,
        /// The attempt.
        generation: u32,
        /// Where the file is.
        path: PathBuf,
        /// The answer channel.
        go: crossbeam_channel::Sender<bool>,
    },
    /// The transfer is over.
    Done {
        /// Transfer id.
        id: u64,
        /// The attempt.
        generation: u32,
        /// Its result.
        outcome: Outcome,
        /// What the main loop must do next.
        then: After,
    },
}

/// Follow-up work only the main loop may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Nothing.
    Nothing,
    /// Re-read the config (a configuration file was imported into the daemon's UCI file).
    ReloadConfig,
    /// Soft-reboot to finish a firmware apply (the embedded default); the outcome is not
    /// final: the transfer stays `Applying` and the restart reports it.
    Reboot,
    /// A firmware hook accepted the image and the platform will reboot by itself
    /// (sysupgrade): the transfer stays `Applying` and the restart reports it; if no reboot
    /// comes within [`FIRMWARE_REBOOT_WAIT`] seconds the agent reports 9018.
    AwaitReboot,
}

/// How long a firmware hook's reboot may take before the upgrade counts as failed.
pub const FIRMWARE_REBOOT_WAIT: i64 = 300;

impl Request {
    /// A Download received at `now`.
    pub fn download(a: &DownloadArgs, now: i64) -> Request {
        Request {
            kind: Some(Kind::Download),
            command_key: a.command_key.clone(),
            file_type: a.file_type.trim().to_string(),
            url: a.url.trim().to_string(),
            username: a.username.clone(),
            password: a.password.clone(),
            file_size: a.file_size,
            target_file_name: a.target_file_name.clone(),
            not_before: now.saturating_add(i64::from(a.delay_seconds)),
            windows: Vec::new(),
        }
    }

    /// An Upload received at `now`.
    pub fn upload(a: &UploadArgs, now: i64) -> Request {
        Request {
            kind: Some(Kind::Upload),
            command_key: a.command_key.clone(),
            file_type: a.file_type.trim().to_string(),
            url: a.url.trim().to_string(),
            username: a.username.clone(),
            password: a.password.clone(),
            file_size: 0,
            target_file_name: String::new(),
            not_before: now.saturating_add(i64::from(a.delay_seconds)),
            windows: Vec::new(),
        }
    }

    /// A ScheduleDownload received at `now` (windows already checked; an unusable mode is
    /// skipped). Window times are counted from receipt, as the C icwmp does.
    pub fn schedule_download(a: &ScheduleDownloadArgs, now: i64) -> Request {
        let mut r = Request::download(&a.download, now);
        r.kind = Some(Kind::ScheduleDownload);
        r.not_before = now;
        r.windows = a
            .windows
            .iter()
            .filter_map(|w| {
                Some(Window {
                    start: now.saturating_add(i64::from(w.window_start)),
                    end: now.saturating_add(i64::from(w.window_end)),
                    mode: check::window_mode(w).ok()?,
                    max_retries: w.max_retries,
                })
            })
            .collect();
        r
    }
}
