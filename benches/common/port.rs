//! A port for the daemon under bench to listen on (shared by the bench binaries through
//! `#[path]`).

/// A TCP port free a moment ago, below the kernel's ephemeral range (32768 and up): no client
/// socket (the daemon's own connections to the bench's ACS included) can be holding it as its
/// local port by the time the daemon binds it, as one picked from that range sometimes was.
pub fn daemon_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(2_654_435_761);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(7919)) % 12_000) as u16;
        let v4 = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
        let any = std::net::TcpListener::bind(("::", port))
            .or_else(|_| std::net::TcpListener::bind(("0.0.0.0", port)))
            .is_ok();
        if v4 && any {
            return port;
        }
    }
}
