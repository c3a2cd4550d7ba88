//! The DU worker thread (named `du-<id>`): runs a job's operations in order, fetching
//! packages with the transfer code, and reports each result to the main loop.
//!
//! Backend: the package-manager hooks `cpe.du_install_command`, `du_update_command` and
//! `du_uninstall_command` (the package file, or for an uninstall the package name, is the
//! argument; exit status 0 means success), defaulting to opkg when it is installed; without
//! hooks and without opkg, the built-in store alone (so the flow runs on any host). Either
//! way `du.json` records the units (UUID to name, instance numbers).

use super::store::{package_identity, Du, DuStore};
use super::{failed, install_uuid, DuEvent, DUPLICATE_DU, UNKNOWN_DU, VERSION_EXISTS};
use crate::fault::FaultCode;
use crate::inbox::Inbox;
use crate::soap::{DuOperation, OpResult, TransferFault};
use crate::transfer::http::NetOptions;
use crate::transfer::{Failure, Kind, Request};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The package-manager commands (empty: none, the built-in store only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DuHooks {
    /// Install: gets the package file.
    pub install: String,
    /// Update: gets the package file.
    pub update: String,
    /// Uninstall: gets the package name.
    pub uninstall: String,
}

impl DuHooks {
    /// The configured commands; when none is configured, opkg's when `opkg` is on the PATH.
    pub fn resolve(install: &str, update: &str, uninstall: &str) -> DuHooks {
        let given = DuHooks {
            install: install.trim().into(),
            update: update.trim().into(),
            uninstall: uninstall.trim().into(),
        };
        if given != DuHooks::default() || !has_opkg() {
            return given;
        }
        DuHooks {
            install: "opkg install".into(),
            update: "opkg install --force-reinstall".into(),
            uninstall: "opkg remove".into(),
        }
    }
}

fn has_opkg() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("opkg").is_file()))
}

/// How long a bbfdm `get` may take.
const BBFDM_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a bbfdm DU `operate` may take (it answers when the package is installed).
const BBFDM_OPERATE_TIMEOUT: Duration = Duration::from_secs(600);

/// Everything a DU worker needs.
#[derive(Clone, Debug)]
pub struct DuCtx {
    /// Network settings for the package fetch.
    pub net: NetOptions,
    /// The hooks.
    pub hooks: DuHooks,
    /// Where `du.json` lives.
    pub state_dir: PathBuf,
    /// Where packages are fetched to.
    pub work_dir: PathBuf,
    /// When bbfdm is the data model: operations go through its `operate` instead.
    pub bbfdm: Option<crate::ubus::UbusHandle>,
}

/// Starts the worker of job `id` for the operations still to run (index, operation).
pub fn spawn(
    id: u64,
    ops: Vec<(usize, DuOperation)>,
    ctx: DuCtx,
    tx: Inbox<DuEvent>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("du-{id}"))
        .spawn(move || {
            for (index, op) in ops {
                let result = run_op(&op, &ctx);
                log::info!(
                    "DU job {id} op {index} ({}): {} fault {}",
                    super::op_name(&op),
                    result.current_state,
                    result.fault.code
                );
                if !tx.send(DuEvent::Op {
                    id,
                    index,
                    result: Box::new(result),
                }) {
                    return;
                }
            }
            let _ = tx.send(DuEvent::Done { id });
        })
        .map(|_| ())
}

/// Runs one operation to its result.
pub fn run_op(op: &DuOperation, ctx: &DuCtx) -> OpResult {
    if let Some(ubus) = &ctx.bbfdm {
        let call = |method: &str, args: serde_json::Value| {
            // InstallDU/Update answer when swmodd is done: allow for a download.
            let t = if method == "operate" {
                BBFDM_OPERATE_TIMEOUT
            } else {
                BBFDM_TIMEOUT
            };
            let object = crate::datamodel::bbfdm::OBJECT;
            ubus.call(object, method, &args, t)
                .map_err(|e| format!("bbfdm {method}: {e}"))
        };
        return super::bbfdm::run_op(op, &call);
    }
    let start = crate::time::now_unix();
    match try_op(op, ctx, start) {
        Ok(r) => r,
        Err(f) => {
            log::warn!("DU {}: {f}", super::op_name(op));
            failed(
                op,
                super::allowed_code(f.code),
                &f.message,
                start,
                crate::time::now_unix(),
            )
        }
    }
}

fn fetch(url: &str, user: &str, pass: &str, ctx: &DuCtx) -> Result<(PathBuf, Vec<u8>), Failure> {
    std::fs::create_dir_all(&ctx.work_dir).map_err(|e| {
        Failure::new(
            FaultCode::REQUEST_DENIED,
            format!("cannot create work dir: {e}"),
        )
    })?;
    let req = Request {
        kind: Some(Kind::Download),
        command_key: String::new(),
        file_type: String::new(),
        url: url.into(),
        username: user.into(),
        password: pass.into(),
        file_size: 0,
        target_file_name: String::new(),
        not_before: 0,
        windows: Vec::new(),
    };
    let file = ctx.work_dir.join(format!("du-{}", std::process::id()));
    crate::transfer::worker::fetch(&req, &ctx.net, &file)?;
    // Only the head is needed to identify a package.
    let head = std::fs::read(&file)
        .map(|mut d| {
            d.truncate(4096);
            d
        })
        .map_err(|e| {
            Failure::new(
                FaultCode::FILE_CORRUPTED,
                format!("cannot read package: {e}"),
            )
        })?;
    Ok((file, head))
}

fn hook(cmd: &str, arg: &Path, what: &str) -> Result<(), Failure> {
    if cmd.is_empty() {
        return Ok(());
    }
    crate::transfer::apply::run_hook(cmd, arg, what, false)
        .map_err(|e| Failure::new(FaultCode::FILE_CORRUPTED, e))
}

fn save(store: &DuStore, ctx: &DuCtx) -> Result<(), Failure> {
    store.save(&ctx.state_dir).map_err(|e| {
        Failure::new(
            FaultCode(9027),
            format!("cannot write {}: {e}", super::store::FILE_NAME),
        )
    })
}

fn ok(du: &Du, state: &str, start: i64, eu: bool) -> OpResult {
    OpResult {
        uuid: du.uuid.clone(),
        deployment_unit_ref: du.du_ref(),
        version: du.version.clone(),
        current_state: state.into(),
        resolved: true,
        execution_unit_ref_list: if eu { du.eu_ref() } else { String::new() },
        start_time: Some(start),
        complete_time: Some(crate::time::now_unix()),
        fault: TransferFault::default(),
        operation_performed: None,
    }
}

fn try_op(op: &DuOperation, ctx: &DuCtx, start: i64) -> Result<OpResult, Failure> {
    let mut store = DuStore::load(&ctx.state_dir);
    match op {
        DuOperation::Install {
            url,
            uuid,
            username,
            password,
            ..
        } => {
            let url = url.trim();
            let uuid = install_uuid(uuid, url);
            if store.by_uuid(&uuid).is_some() {
                return Err(Failure::new(
                    DUPLICATE_DU,
                    format!("DU {uuid} already installed"),
                ));
            }
            let (file, head) = fetch(url, username, password, ctx)?;
            let (name, version) = package_identity(&head, url);
            let r = hook(&ctx.hooks.install, &file, "install");
            let _ = std::fs::remove_file(&file);
            r?;
            let du = store.add(&uuid, &name, &version, url);
            save(&store, ctx)?;
            Ok(ok(&du, "Installed", start, true))
        }
        DuOperation::Update {
            uuid,
            version,
            url,
            username,
            password,
        } => {
            let old = match uuid.trim() {
                "" => store.by_url(url.trim()),
                u => store.by_uuid(u),
            };
            // A Version names which installed version to update (Uninstall does the same).
            let old = old.filter(|d| version.trim().is_empty() || d.version == version.trim());
            let Some(old) = old.cloned() else {
                return Err(Failure::new(UNKNOWN_DU, "no such deployment unit"));
            };
            let url = if url.trim().is_empty() {
                old.url.as_str()
            } else {
                url.trim()
            };
            let (file, head) = fetch(url, username, password, ctx)?;
            let (name, version) = package_identity(&head, url);
            if !version.is_empty() && version == old.version {
                let _ = std::fs::remove_file(&file);
                return Err(Failure::new(
                    VERSION_EXISTS,
                    format!("version {version} already installed"),
                ));
            }
            let r = hook(&ctx.hooks.update, &file, "update");
            let _ = std::fs::remove_file(&file);
            r?;
            let du = Du {
                name,
                version,
                url: url.to_string(),
                ..old
            };
            if let Some(slot) = store.units.iter_mut().find(|u| u.instance == du.instance) {
                *slot = du.clone();
            }
            save(&store, ctx)?;
            Ok(ok(&du, "Installed", start, true))
        }
        DuOperation::Uninstall { uuid, version, .. } => {
            let found = store
                .by_uuid(uuid.trim())
                .filter(|d| version.trim().is_empty() || d.version == version.trim());
            let Some(du) = found.cloned() else {
                return Err(Failure::new(
                    UNKNOWN_DU,
                    format!("unknown deployment unit {}", uuid.trim()),
                ));
            };
            hook(&ctx.hooks.uninstall, Path::new(&du.name), "uninstall")?;
            store.remove(&du.uuid);
            save(&store, ctx)?;
            Ok(ok(&du, "Uninstalled", start, false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// Serves `body` to every GET; returns the base URL.
    fn serve(body: &'static [u8]) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = c.write_all(h.as_bytes());
                let _ = c.write_all(body);
            }
        });
        format!("http://127.0.0.1:{port}")
    }

    #[test]
    fn hooks_get_the_package_file_and_the_name() {
        let dir = std::env::temp_dir().join(format!("icwmp-du-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("hook.log");
        let mut ctx = DuCtx {
            net: NetOptions::default(),
            hooks: DuHooks {
                install: "false".into(),
                update: String::new(),
                uninstall: format!("echo >> {}", log.display()),
            },
            state_dir: dir.clone(),
            work_dir: dir.join("work"),
            bbfdm: None,
        };
        let url = format!("{}/pkg_1.0_all.ipk", serve(b"Package: pkg\nVersion: 1.0\n"));
        let op = DuOperation::Install {
            url: url.clone(),
            uuid: String::new(),
            username: String::new(),
            password: String::new(),
            execution_env_ref: String::new(),
        };
        // A failing install hook: Failed, nothing recorded.
        let r = run_op(&op, &ctx);
        assert_eq!((r.fault.code, r.current_state.as_str()), (9018, "Failed"));
        assert_eq!(r.uuid, crate::du::uuid_for_url(&url));
        assert!(DuStore::load(&dir).units.is_empty());
        ctx.hooks.install = format!("cat >> {} <", log.display());
        let r = run_op(&op, &ctx);
        assert_eq!((r.fault.code, r.version.as_str()), (0, "1.0"));
        let un = DuOperation::Uninstall {
            uuid: r.uuid.clone(),
            version: String::new(),
            execution_env_ref: String::new(),
        };
        assert_eq!(run_op(&un, &ctx).current_state, "Uninstalled");
        let logged = std::fs::read_to_string(&log).unwrap();
        assert_eq!(logged, "Package: pkg\nVersion: 1.0\npkg\n");
        // Unreachable server: a download fault OpResult allows.
        let bad = DuOperation::Install {
            url: "http://127.0.0.1:1/x.ipk".into(),
            uuid: String::new(),
            username: String::new(),
            password: String::new(),
            execution_env_ref: String::new(),
        };
        let code = run_op(&bad, &ctx).fault.code;
        assert!(matches!(code, 9015..=9017), "{code}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
