//! Helpers of the engines' unit tests: inputs, results, loopback UDP servers and the
//! cancellation check every engine gets.

use super::{Cancel, Inputs, Outcome};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Inputs from (name, value) pairs.
pub fn inputs(pairs: &[(&str, &str)]) -> Inputs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Result `k` of `o`; panics naming what is there when it is missing.
pub fn get<'a>(o: &'a Outcome, k: &str) -> &'a str {
    o.get(k)
        .unwrap_or_else(|| panic!("{k} missing in {:?}", o.values))
}

/// A UDP server on loopback sending back to each datagram what `respond(index, datagram)`
/// gives (nothing for an empty list), `index` counting from 0; returns its address and how
/// many datagrams it saw.
pub fn udp_server(
    respond: impl Fn(usize, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        // Room for the largest datagram (65507 bytes over IPv4).
        let mut buf = vec![0u8; 70000];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let i = seen2.fetch_add(1, Ordering::SeqCst);
            for r in respond(i, &buf[..n]) {
                let _ = s.send_to(&r, from);
            }
        }
    });
    (addr, seen)
}

/// Runs `test` with a Cancel that another thread fires `after` it starts: the test must end
/// `Canceled` within 1.2 s.
pub fn assert_cancel_ends(after: Duration, test: impl FnOnce(&Cancel) -> Outcome) {
    let cancel = Cancel::new();
    let c2 = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        c2.cancel();
    });
    let t = Instant::now();
    assert_eq!(test(&cancel).state, "Canceled");
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
}
