//! The server under hostile load: idle and trickling sockets, a flood and a password guesser
//! from another address, a busy port, a port change. Bounded: a few seconds each.

use super::tests::{connect_from, header, raw, raw_from, settings, start, valid_cr};
use super::*;
use crate::http::digest::{parse_challenges, ClientDigest};
use crossbeam_channel::Receiver;
use std::net::{Ipv4Addr, TcpStream};
use std::sync::atomic::AtomicUsize;
use std::thread::JoinHandle;

const ACS: Ipv4Addr = Ipv4Addr::LOCALHOST;
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// `n` sockets from `src` that send nothing, and `n` that send a request head one byte a
/// second; whichever the server closes is opened again, until `stop`.
fn hostile_clients(
    src: Ipv4Addr,
    addr: SocketAddr,
    n: usize,
    stop: Arc<AtomicBool>,
) -> JoinHandle<usize> {
    std::thread::spawn(move || {
        let open = || {
            let s = connect_from(src, addr).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        };
        let mut idle: Vec<Option<TcpStream>> = (0..n).map(|_| open()).collect();
        let mut trickle: Vec<Option<TcpStream>> = (0..n).map(|_| open()).collect();
        let head = b"GET /cr HTTP/1.1\r\nHost: slow\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let (mut reopened, mut tick) = (0, 0usize);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            tick += 1;
            for (i, slot) in idle.iter_mut().chain(trickle.iter_mut()).enumerate() {
                let mut byte = [0u8; 1];
                let closed = match slot {
                    None => true,
                    Some(s) => match s.read(&mut byte) {
                        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                        Ok(_) => true,
                    },
                };
                if closed {
                    *slot = open();
                    reopened += 1;
                } else if i >= n && tick % 10 == 0 {
                    if let Some(s) = slot {
                        let _ = s.write(&head[(tick / 10) % head.len()..][..1]);
                    }
                }
            }
        }
        reopened
    })
}

/// Runs `count` valid connection requests from the ACS address, `gap` apart; asserts each
/// is answered 200 within 1 s and reported to the main loop.
fn valid_crs_are_prompt(
    addr: SocketAddr,
    rx: &Receiver<ConnReqEvent>,
    count: usize,
    gap: Duration,
) {
    for i in 0..count {
        std::thread::sleep(gap);
        let t = Instant::now();
        let r = valid_cr(ACS, addr);
        let took = t.elapsed();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "CR {i}: {r:?}");
        assert!(took < Duration::from_secs(1), "CR {i} took {took:?}");
        assert!(rx.recv_timeout(Duration::from_secs(1)).is_ok(), "CR {i}");
    }
}

#[test]
fn idle_and_trickling_sockets_do_not_delay_a_valid_request() {
    let (srv, rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // 50 idle and 50 trickling sockets from two other addresses, kept open throughout.
    let a = hostile_clients(Ipv4Addr::new(127, 0, 0, 3), addr, 25, stop.clone());
    let b = hostile_clients(Ipv4Addr::new(127, 0, 0, 4), addr, 25, stop.clone());
    valid_crs_are_prompt(addr, &rx, 5, Duration::from_millis(600));
    stop.store(true, Ordering::SeqCst);
    let reopened = a.join().unwrap() + b.join().unwrap();
    // The server kept closing them (slots, deadlines): the test did load it.
    assert!(reopened > 0);
}

#[test]
fn a_valid_request_pushes_out_idle_sockets_of_its_own_address() {
    let (srv, rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    // More than the server has slots, from the ACS's own address, never renewed.
    let hold: Vec<TcpStream> = (0..100)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    assert_eq!(hold.len(), 100);
    std::thread::sleep(Duration::from_millis(200));
    valid_crs_are_prompt(addr, &rx, 2, Duration::ZERO);
}

#[test]
fn a_flood_and_a_guesser_from_another_address_do_not_lock_out_the_acs() {
    let (srv, rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok503, other) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let flooders: Vec<_> = (0..2)
        .map(|k| {
            let (stop, ok503, other) = (stop.clone(), ok503.clone(), other.clone());
            std::thread::spawn(move || {
                // One thread guesses passwords on a nonce it was given, the other just asks.
                let r = raw_from(FLOODER, addr, "GET", "/cr", None);
                let ch = header(&r, "WWW-Authenticate")
                    .unwrap_or_default()
                    .to_string();
                let guess = ClientDigest::from_challenges(&parse_challenges([ch.as_str()]))
                    .map(|mut d| d.authorization("cr", "guess", "GET", "/cr", "ff"));
                let mut sent = 0;
                while !stop.load(Ordering::SeqCst) && sent < 20_000 {
                    let auth = if k == 0 { guess.as_deref() } else { None };
                    let r = raw_from(FLOODER, addr, "GET", "/cr", auth);
                    let n = if r.starts_with("HTTP/1.1 503 ") {
                        &ok503
                    } else {
                        &other
                    };
                    n.fetch_add(1, Ordering::SeqCst);
                    sent += 1;
                }
            })
        })
        .collect();
    valid_crs_are_prompt(addr, &rx, 5, Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    flooders.into_iter().for_each(|t| t.join().unwrap());
    let (refused, answered) = (ok503.load(Ordering::SeqCst), other.load(Ordering::SeqCst));
    assert!(
        refused > 100,
        "{refused} answered 503, {answered} otherwise"
    );
    // 20 tokens, 1 a second, a guess costing 5: a handful got an answer in ~2 s.
    assert!(
        answered < 40,
        "{refused} answered 503, {answered} otherwise"
    );
}

#[test]
fn a_busy_port_is_bound_once_free() {
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let want = blocker.local_addr().unwrap();
    let (tx, rx) = Inbox::channel();
    let srv = ConnReqServer::start(Bind::Addr(want), settings(), tx).unwrap();
    assert_eq!(srv.local_addr(), None);
    assert!(ConnReqServer::spawn(Bind::Addr(want), settings(), Inbox::channel().0).is_err());
    std::thread::sleep(Duration::from_millis(500));
    drop(blocker);
    let t = Instant::now();
    while srv.local_addr().is_none() {
        assert!(
            t.elapsed() < BIND_RETRY + Duration::from_secs(2),
            "never bound"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(srv.local_addr(), Some(want));
    valid_crs_are_prompt(want, &rx, 1, Duration::ZERO);
}

#[test]
fn rebind_moves_to_the_new_port_and_closes_the_old_one() {
    let (srv, rx) = start(settings());
    let old = srv.local_addr().unwrap();
    // A client connected before the move is still answered.
    let mut early = TcpStream::connect(old).unwrap();
    // Accepted by the server before the move (it is not in the old listener's queue).
    std::thread::sleep(Duration::from_millis(200));
    let new = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    srv.rebind(Bind::Addr(new));
    let t = Instant::now();
    while srv.local_addr() != Some(new) {
        assert!(t.elapsed() < Duration::from_secs(2), "not moved");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        TcpStream::connect(old).is_err(),
        "the old port still listens"
    );
    valid_crs_are_prompt(new, &rx, 1, Duration::ZERO);
    early
        .write_all(b"GET /cr HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .unwrap();
    let mut r = String::new();
    early.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    // The same address again changes nothing.
    srv.rebind(Bind::Addr(new));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(srv.local_addr(), Some(new));
    assert!(raw(new, "GET", "/cr", None).starts_with("HTTP/1.1 401 "));
}

/// Disabled (`HTTPConnectionRequestEnable` false): the port is closed, and nothing retries
/// it; enabled again: it listens again.
#[test]
fn off_closes_the_port_and_on_opens_it_again() {
    let (srv, rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    srv.rebind(Bind::Off);
    let t = Instant::now();
    while srv.local_addr().is_some() {
        assert!(t.elapsed() < Duration::from_secs(2), "still bound");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(TcpStream::connect(addr).is_err(), "the port still listens");
    // Past a bind retry, still closed.
    std::thread::sleep(BIND_RETRY + Duration::from_millis(300));
    assert_eq!(srv.local_addr(), None);
    assert!(TcpStream::connect(addr).is_err(), "the port was reopened");
    srv.rebind(Bind::Addr(addr));
    let t = Instant::now();
    while srv.local_addr() != Some(addr) {
        assert!(t.elapsed() < Duration::from_secs(2), "not reopened");
        std::thread::sleep(Duration::from_millis(20));
    }
    valid_crs_are_prompt(addr, &rx, 1, Duration::ZERO);
    // Started disabled: no listener from the start.
    let off = ConnReqServer::start(Bind::Off, settings(), Inbox::channel().0).unwrap();
    assert_eq!(off.local_addr(), None);
}
