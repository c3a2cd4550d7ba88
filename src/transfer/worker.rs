//! One thread per transfer (named `transfer-<id>`): fetch or export, apply or send, report
//! to the main loop as [`TransferEvent`]s. The worker never touches the queue: a download
//! asks the main loop before applying (so the `Applying` phase is on disk first).

use super::apply::{self, Hooks};
use super::http::{NetOptions, SizeLimit};
use super::{After, Failure, Kind, Outcome, Request, TransferEvent};
use crate::fault::FaultCode;
use crate::inbox::Inbox;
use std::path::{Path, PathBuf};

/// Everything a worker needs besides its request.
#[derive(Clone, Debug)]
pub struct WorkerCtx {
    /// Network settings.
    pub net: NetOptions,
    /// Apply/export hooks.
    pub hooks: Hooks,
    /// Where files are fetched to and exported into (RAM on a router: /tmp).
    pub work_dir: PathBuf,
}

/// Starts the worker of transfer `id` (attempt `generation`).
pub fn spawn(
    id: u64,
    generation: u32,
    req: Request,
    ctx: WorkerCtx,
    tx: Inbox<TransferEvent>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("transfer-{id}"))
        .spawn(move || {
            let (outcome, then) = match run(id, generation, &req, &ctx, &tx) {
                Some(Ok(then)) => (Outcome::default(), then),
                Some(Err(f)) => {
                    log::warn!("transfer {id} ({}) failed: {f}", req.kind().method());
                    (f.into(), After::Nothing)
                }
                None => return, // discarded meanwhile
            };
            let _ = tx.send(TransferEvent::Done {
                id,
                generation,
                outcome,
                then,
            });
        })
        .map(|_| ())
}

fn is_ftp(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    l.starts_with("ftp://") || l.starts_with("ftps://")
}

/// Fetches `url` into `dest` with the right client.
pub fn fetch(req: &Request, net: &NetOptions, dest: &Path) -> Result<u64, Failure> {
    let limit = SizeLimit::for_dir(dest.parent().unwrap_or(Path::new("/")), req.file_size);
    let (u, p) = (&req.username, &req.password);
    if is_ftp(&req.url) {
        super::ftp::download(&req.url, u, p, net, dest, limit)
    } else {
        super::http::download(&req.url, u, p, net, dest, limit)
    }
}

/// Sends `src` to `url` with the right client.
pub fn send(req: &Request, net: &NetOptions, src: &Path) -> Result<(), Failure> {
    let (u, p) = (&req.username, &req.password);
    if is_ftp(&req.url) {
        super::ftp::upload(&req.url, u, p, net, src)
    } else {
        super::http::upload(&req.url, u, p, net, src)
    }
}

/// The whole transfer; `None` when the main loop said the download must not be applied.
fn run(
    id: u64,
    generation: u32,
    req: &Request,
    ctx: &WorkerCtx,
    tx: &Inbox<TransferEvent>,
) -> Option<Result<After, Failure>> {
    if let Err(e) = std::fs::create_dir_all(&ctx.work_dir) {
        let m = format!("cannot create {}: {e}", ctx.work_dir.display());
        return Some(Err(Failure::new(FaultCode::INTERNAL_ERROR, m)));
    }
    if req.kind() == Kind::Upload {
        let file = ctx.work_dir.join(format!("upload-{id}"));
        let is_config = super::check::upload_type(&req.file_type).unwrap_or(false);
        let r = apply::export_upload(&ctx.hooks, &req.file_type, is_config, &file)
            .and_then(|_| send(req, &ctx.net, &file));
        let _ = std::fs::remove_file(&file);
        return Some(r.map(|_| After::Nothing));
    }
    let file = ctx.work_dir.join(format!("download-{id}"));
    let r = fetch(req, &ctx.net, &file);
    let r = match r {
        Ok(n) => {
            log::info!("transfer {id}: {n} bytes from {}", req.url);
            let (go, answer) = crossbeam_channel::bounded(1);
            let asked = tx.send(TransferEvent::Fetched {
                id,
                generation,
                path: file.clone(),
                go,
            });
            if !asked || !answer.recv().unwrap_or(false) {
                let _ = std::fs::remove_file(&file);
                return None;
            }
            apply::apply_download(&ctx.hooks, &req.file_type, &file)
        }
        Err(f) => Err(f),
    };
    let _ = std::fs::remove_file(&file);
    Some(r)
}
