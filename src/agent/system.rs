//! Process-level edges: signals, re-executing ourselves, running the configured reboot and
//! factory-reset commands, randomness.

use crate::inbox::Inbox;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// A signal the main loop acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGHUP: re-read the config.
    Reload,
    /// SIGTERM or SIGINT: exit.
    Terminate,
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset only write into the local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

/// Blocks SIGHUP, SIGTERM and SIGINT in the calling thread and every thread it starts later, so
/// that only the signal thread (which waits for them) receives them. Call first in `main`.
pub fn block_signals() {
    let set = signal_set();
    // SAFETY: pthread_sigmask with a valid set; the old mask is not needed.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Starts the thread that turns signals into [`Signal`] messages.
pub fn spawn_signal_thread(tx: Inbox<Signal>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let set = signal_set();
            let mut sig: libc::c_int = 0;
            // SAFETY: sigwait on a valid set, writing into a local.
            let rc = unsafe { libc::sigwait(&set, &mut sig) };
            if rc != 0 {
                continue;
            }
            let msg = if sig == libc::SIGHUP {
                Signal::Reload
            } else {
                Signal::Terminate
            };
            if !tx.send(msg) {
                return;
            }
        })?;
    Ok(())
}

/// A child process must not inherit our blocked signal mask.
fn unblock_in_child(cmd: &mut Command) {
    // SAFETY: only async-signal-safe calls (pthread_sigmask) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let set = signal_set();
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Runs `cmd` through `/bin/sh -c`; true when it exited with status 0.
pub fn run_shell(cmd: &str) -> bool {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(cmd);
    unblock_in_child(&mut c);
    match c.status() {
        Ok(s) => s.success(),
        Err(e) => {
            log::error!("cannot run '{cmd}': {e}");
            false
        }
    }
}

/// Replaces the process with a fresh copy of itself, adding `-b` so it reports `1 BOOT`: the
/// embedded data model's "reboot", which never reboots the host.
fn reexec(argv: &[String]) {
    let mut args: Vec<String> = argv.iter().skip(1).cloned().collect();
    if !args.iter().any(|a| a == "-b" || a == "--boot-event") {
        args.insert(0, "-b".into());
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    let err = Command::new(exe).args(&args).exec();
    log::error!("cannot re-execute icwmpd: {err}");
    std::process::exit(1);
}

/// Reboots: the configured command, or a re-exec of the daemon when none is set.
pub fn reboot(command: &str, argv: &[String]) {
    if command.trim().is_empty() {
        reexec(argv);
    } else if !run_shell(command) {
        log::error!("reboot command failed: {command}");
    }
}

/// Factory reset: the configured command, or (embedded) a re-exec after the caller cleared the
/// state directory.
pub fn factory_reset(command: &str, argv: &[String]) {
    if command.trim().is_empty() {
        reexec(argv);
    } else if !run_shell(command) {
        log::error!("factory reset command failed: {command}");
    }
}

/// Removes every file of the state directory (embedded factory reset).
pub fn clear_state_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let r = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if let Err(err) = r {
            log::error!("factory reset: cannot remove {}: {err}", p.display());
        }
    }
}

/// A random number from the kernel (retry jitter).
pub fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    if crate::crypto::random_bytes(&mut b).is_err() {
        // No entropy source: fall back to the clock's nanoseconds; jitter only.
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    }
    u32::from_ne_bytes(b)
}

/// Keeps glibc's allocator lean on a small device: one arena for all threads (each extra arena
/// holds its own free memory). No-op on musl, whose allocator has no arenas. Call first in
/// `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt with a documented parameter, before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Gives memory freed after a session (a large GetParameterValuesResponse...) back to the
/// system, so the idle daemon stays small. No-op where the allocator does that by itself.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Makes a panic in any thread end the whole process (after the default message on stderr,
/// which procd passes to the log), so that procd respawns the daemon. OpenWrt's package build
/// forces `panic=unwind` (rust-values.mk), where a panicking connection-request, ubus or
/// transfer thread would die alone and leave the daemon running without it. Call first in
/// `main`.
pub fn abort_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        std::process::abort();
    }));
}

#[cfg(test)]
mod panic_tests {
    /// Set in the child run of [`a_panic_in_any_thread_aborts_the_process`].
    const CHILD: &str = "ICWMP_PANIC_HOOK_CHILD";

    #[test]
    fn a_panic_in_any_thread_aborts_the_process() {
        if std::env::var_os(CHILD).is_some() {
            super::abort_on_panic();
            let _ = std::thread::spawn(|| panic!("worker thread panics")).join();
            // Unwinding would reach here: the process would live on without its thread.
            std::process::exit(0);
        }
        use std::os::unix::process::ExitStatusExt;
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "agent::system::panic_tests::a_panic_in_any_thread_aborts_the_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGABRT),
            "{:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("worker thread panics"));
    }
}
