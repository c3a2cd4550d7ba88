//! Network namespaces for tests that need interfaces of their own (root only).

use std::process::Command;

/// Runs `f` on a thread in a network namespace of its own (with `lo` up); the daemon and
/// the ACS started there live in it. `None` when namespaces are not available (not root).
pub fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    std::thread::spawn(move || {
        // SAFETY: unshare(2) of this thread's network namespace only.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            eprintln!(
                "skipped: no network namespace ({})",
                std::io::Error::last_os_error()
            );
            return None;
        }
        ip(&["link", "set", "lo", "up"]);
        Some(f())
    })
    .join()
    .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Runs `ip ARGS` and asserts it succeeded.
pub fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
