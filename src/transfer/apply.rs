//! What a file does once downloaded, and where an uploaded file comes from, per FileType:
//! the UCI hooks `cpe.firmware_upgrade_command`, `config_import_command`,
//! `config_export_command` and `log_export_command` (the file's path is their last argument;
//! exit status 0 means success), with embedded defaults when a hook is empty: a firmware
//! image is kept in the state directory and the daemon soft-reboots; a configuration file
//! replaces the daemon's own UCI file (after validation); exports read the daemon's own
//! config and log.

use super::{After, Failure};
use crate::fault::FaultCode;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a hook may run before it is killed (a firmware test can take a while).
pub const HOOK_TIMEOUT: Duration = Duration::from_secs(1800);

/// Largest configuration file imported by the embedded default.
const MAX_CONFIG: u64 = 1 << 20;

/// Where the embedded default keeps a firmware image.
pub const FIRMWARE_FILE: &str = "firmware.bin";

/// Settings of the apply and export steps.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    /// The state directory (embedded firmware image, other downloaded files).
    pub state_dir: PathBuf,
    /// The daemon's UCI file.
    pub config_path: PathBuf,
    /// `cpe.firmware_upgrade_command`.
    pub firmware: String,
    /// `cpe.config_import_command`.
    pub config_import: String,
    /// `cpe.config_export_command`.
    pub config_export: String,
    /// `cpe.log_export_command`.
    pub log_export: String,
    /// The daemon's log file, when it writes one.
    pub log_file: Option<PathBuf>,
    /// `cpe.fw_upgrade_keep_settings`, passed to hooks as `ICWMP_KEEP_SETTINGS=0|1`.
    pub keep_settings: bool,
}

/// Runs `cmd` through `/bin/sh` with `file` as its last argument; Ok on exit status 0.
pub fn run_hook(cmd: &str, file: &Path, file_type: &str, keep: bool) -> Result<(), String> {
    let mut c = Command::new("/bin/sh");
    // The shell exports the hook's variables itself: `Command::env` would link std's whole
    // environment-editing machinery (about 5 KB of a router binary) for two variables.
    c.arg("-c")
        .arg(format!(
            "ICWMP_FILE_TYPE=\"$2\" ICWMP_KEEP_SETTINGS=\"$3\"; \
             export ICWMP_FILE_TYPE ICWMP_KEEP_SETTINGS; {cmd} \"$1\""
        ))
        .arg("icwmpd-hook")
        .arg(file)
        .arg(file_type)
        .arg(if keep { "1" } else { "0" })
        .stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec: the daemon blocks
    // SIGHUP/SIGTERM/SIGINT in all threads, the hook must not inherit that.
    unsafe {
        c.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    let mut child = c.spawn().map_err(|e| format!("cannot run '{cmd}': {e}"))?;
    let deadline = Instant::now() + HOOK_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("'{cmd}' failed ({st})")),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("'{cmd}' killed after {} s", HOOK_TIMEOUT.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("'{cmd}': {e}")),
        }
    }
}

/// Moves `from` to `to`, copying across filesystems (downloads land in /tmp).
fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let mut tmp = to.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::copy(from, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, to)?;
    let _ = std::fs::remove_file(from);
    Ok(())
}

fn corrupted(m: impl Into<String>) -> Failure {
    Failure::new(FaultCode::FILE_CORRUPTED, m)
}

/// Applies a downloaded file. A failing hook means the file was refused: 9018.
pub fn apply_download(h: &Hooks, file_type: &str, file: &Path) -> Result<After, Failure> {
    let keep = h.keep_settings;
    match file_type {
        "1 Firmware Upgrade Image" if !h.firmware.trim().is_empty() => {
            run_hook(&h.firmware, file, file_type, keep).map_err(corrupted)?;
            Ok(After::AwaitReboot)
        }
        "1 Firmware Upgrade Image" => {
            let dest = h.state_dir.join(FIRMWARE_FILE);
            move_file(file, &dest).map_err(|e| {
                Failure::new(FaultCode::INTERNAL_ERROR, format!("cannot keep image: {e}"))
            })?;
            log::info!("firmware image kept in {}", dest.display());
            Ok(After::Reboot)
        }
        "6 Stored Firmware Image" if !h.firmware.trim().is_empty() => {
            // The platform hook writes the image to the inactive bank without activating it
            // (ICWMP_FILE_TYPE tells it which kind of image it got): no reboot follows.
            run_hook(&h.firmware, file, file_type, keep).map_err(corrupted)?;
            Ok(After::Nothing)
        }
        "3 Vendor Configuration File" if !h.config_import.trim().is_empty() => {
            run_hook(&h.config_import, file, file_type, keep).map_err(corrupted)?;
            Ok(After::Nothing)
        }
        "3 Vendor Configuration File" => {
            import_config(&h.config_path, file)?;
            Ok(After::ReloadConfig)
        }
        other => {
            // Web content, tone, ringer and stored images: kept for whoever wants them.
            let name = match other {
                "2 Web Content" => "web-content",
                "4 Tone File" => "tone-file",
                "5 Ringer File" => "ringer-file",
                _ => "stored-firmware-image",
            };
            let dir = h.state_dir.join("downloads");
            std::fs::create_dir_all(&dir)
                .and_then(|_| move_file(file, &dir.join(name)))
                .map_err(|e| Failure::new(FaultCode::INTERNAL_ERROR, e.to_string()))?;
            Ok(After::Nothing)
        }
    }
}

/// The embedded config import: the file must parse as the daemon's UCI config (else 9018),
/// then replaces it atomically.
fn import_config(config_path: &Path, file: &Path) -> Result<(), Failure> {
    let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if len > MAX_CONFIG {
        return Err(corrupted("configuration file too large"));
    }
    let data = std::fs::read(file).map_err(|e| corrupted(e.to_string()))?;
    let text = String::from_utf8(data).map_err(|_| corrupted("configuration is not UTF-8"))?;
    crate::config::Config::from_str(&text, "downloaded configuration")
        .map_err(|e| corrupted(format!("invalid configuration: {e}")))?;
    crate::store::write_atomic(config_path, text.as_bytes()).map_err(|e| {
        Failure::new(
            FaultCode::INTERNAL_ERROR,
            format!("cannot write config: {e}"),
        )
    })
}

/// Produces the file an Upload sends into `dest`. `is_config` comes from
/// [`super::check::upload_type`].
pub fn export_upload(
    h: &Hooks,
    file_type: &str,
    is_config: bool,
    dest: &Path,
) -> Result<(), Failure> {
    let fail = |m: String| Failure::new(FaultCode::UPLOAD_FAILURE, m);
    let hook = if is_config {
        &h.config_export
    } else {
        &h.log_export
    };
    if !hook.trim().is_empty() {
        run_hook(hook, dest, file_type, h.keep_settings).map_err(fail)?;
        if !dest.is_file() {
            return Err(fail(format!("'{hook}' produced no file")));
        }
        return Ok(());
    }
    let copy = |src: &Path| {
        std::fs::copy(src, dest)
            .map(|_| ())
            .map_err(|e| fail(format!("cannot read {}: {e}", src.display())))
    };
    if is_config {
        return copy(&h.config_path);
    }
    match &h.log_file {
        Some(f) if f.is_file() => copy(f),
        _ => {
            // No log file (the daemon logs to syslog): a short status text instead.
            let text = format!(
                "icwmpd {}\ntime {}\nno log file is kept; logs go to syslog\n",
                env!("CARGO_PKG_VERSION"),
                crate::time::format_datetime(crate::time::now_unix()),
            );
            std::fs::write(dest, text).map_err(|e| fail(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("icwmp-apply-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn hooks_get_the_path_and_exit_status_decides() {
        let d = dir("hook");
        let f = d.join("in file");
        std::fs::write(&f, "x").unwrap();
        let out = d.join("seen");
        let cmd = format!(
            "echo \"$ICWMP_KEEP_SETTINGS\" > '{}'; test -f",
            out.display()
        );
        run_hook(&cmd, &f, "1 Firmware Upgrade Image", true).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "1\n");
        // A hook program (a child of the shell) sees the variables in its environment.
        let script = d.join("hook.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$ICWMP_FILE_TYPE|$ICWMP_KEEP_SETTINGS|$1\" > '{}'\n",
                out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        run_hook(
            &script.display().to_string(),
            &f,
            "3 Vendor Configuration File",
            false,
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("3 Vendor Configuration File|0|{}\n", f.display())
        );
        let h = Hooks {
            state_dir: d.clone(),
            firmware: "false".into(),
            ..Hooks::default()
        };
        let e = apply_download(&h, "1 Firmware Upgrade Image", &f).unwrap_err();
        assert_eq!(e.code, FaultCode::FILE_CORRUPTED);
        let h = Hooks {
            state_dir: d.clone(),
            firmware: "test -f".into(),
            ..Hooks::default()
        };
        // A platform hook: the upgrade waits for the platform's reboot; a stored image
        // (other bank, not activated) is done when the hook succeeds.
        let fw = apply_download(&h, "1 Firmware Upgrade Image", &f);
        assert_eq!(fw, Ok(After::AwaitReboot));
        let stored = apply_download(&h, "6 Stored Firmware Image", &f);
        assert_eq!(stored, Ok(After::Nothing));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn embedded_defaults() {
        let d = dir("embedded");
        let cfg = d.join("cwmp");
        std::fs::write(&cfg, "config acs 'acs'\n\toption url 'http://old/'\n").unwrap();
        let h = Hooks {
            state_dir: d.clone(),
            config_path: cfg.clone(),
            ..Hooks::default()
        };
        let f = d.join("dl");
        std::fs::write(&f, "config acs 'acs'\n\toption url 'http://new/'\n").unwrap();
        let t = "3 Vendor Configuration File";
        assert_eq!(apply_download(&h, t, &f), Ok(After::ReloadConfig));
        assert!(std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("http://new/"));
        std::fs::write(&f, "config acs 'acs\n\toption url\n").unwrap();
        assert_eq!(apply_download(&h, t, &f).unwrap_err().code.0, 9018);
        assert!(std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("http://new/"));

        std::fs::write(&f, "IMAGE").unwrap();
        let fw = apply_download(&h, "1 Firmware Upgrade Image", &f);
        assert_eq!(fw, Ok(After::Reboot));
        assert_eq!(std::fs::read(d.join(FIRMWARE_FILE)).unwrap(), b"IMAGE");

        let out = d.join("up");
        export_upload(&h, "1 Vendor Configuration File", true, &out).unwrap();
        assert!(std::fs::read_to_string(&out)
            .unwrap()
            .contains("http://new/"));
        export_upload(&h, "2 Vendor Log File", false, &out).unwrap();
        assert!(std::fs::read_to_string(&out)
            .unwrap()
            .starts_with("icwmpd "));
        std::fs::remove_dir_all(d).unwrap();
    }
}
