//! The connection-request server of the real daemon against clients that try to lock it:
//! idle and trickling sockets, a flood and a password guesser from another address; and its
//! listener across a busy port and a port change (SIGHUP); refused credentials in the log.
//! Each test is bounded to a few seconds (plus the daemon's start).

mod common;

use common::acs::{Acs, AcsOpts};
use common::daemon::{Cpe, CpeOpts};
use common::digest::{self, CrOutcome};
use common::Rig;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A socket bound to `src` (any 127/8 address works on Linux loopback), connected to
/// `127.0.0.1:port`.
fn connect_from(src: Ipv4Addr, port: u16) -> std::io::Result<TcpStream> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let sockaddr = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: socket syscalls on a descriptor owned by `fd` (closed on error); the address
    // pointers point at live locals of `len` bytes.
    unsafe {
        let raw = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let (local, remote) = (sockaddr(src, 0), sockaddr(Ipv4Addr::LOCALHOST, port));
        if libc::bind(raw, (&local as *const libc::sockaddr_in).cast(), len) < 0
            || libc::connect(raw, (&remote as *const libc::sockaddr_in).cast(), len) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        Ok(TcpStream::from(fd))
    }
}

/// A valid connection request; asserts it is accepted within 1 s.
fn prompt_cr(rig: &Rig, what: &str) {
    let t = Instant::now();
    let out = digest::connection_request(rig.cpe.cr_port, "/", "cruser", "crpass");
    let took = t.elapsed();
    if out
        != Ok(CrOutcome {
            first: 401,
            second: 200,
        })
        || took >= Duration::from_secs(1)
    {
        rig.fail(&format!("{what}: {out:?} after {took:?}"), "");
    }
}

#[test]
fn idle_and_trickling_sockets_do_not_delay_a_valid_request() {
    let rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, rig.cpe.cr_port));
    // 50 sockets that send nothing, 50 that send a head one byte a second. Bounded connects:
    // a server that does not accept must not stall the test for the kernel's SYN retries.
    let open = || TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok();
    let idle: Vec<_> = (0..50).filter_map(|_| open()).collect();
    let mut trickle: Vec<_> = (0..50).filter_map(|_| open()).collect();
    for (i, s) in trickle.iter_mut().enumerate() {
        let _ = s.write_all(&b"GET / HTTP/1.1\r\n"[i % 16..][..1]);
    }
    std::thread::sleep(Duration::from_millis(300));
    prompt_cr(&rig, "with 100 hostile sockets open");
    rig.wait_inform("6 CONNECTION REQUEST", 1);
    drop((idle, trickle));
}

#[test]
fn a_flood_from_another_address_does_not_lock_out_the_acs() {
    let rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let port = rig.cpe.cr_port;
    let stop = Arc::new(AtomicBool::new(false));
    let (refused, other) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let flooder = {
        let (stop, refused, other) = (stop.clone(), refused.clone(), other.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && n < 10_000 {
                n += 1;
                let Ok(mut s) = connect_from(Ipv4Addr::new(127, 0, 0, 2), port) else {
                    continue;
                };
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
                let mut r = String::new();
                let _ = s.read_to_string(&mut r);
                let count = if r.starts_with("HTTP/1.1 503 ") {
                    &refused
                } else {
                    &other
                };
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..3 {
        prompt_cr(&rig, &format!("CR {i} during a flood from 127.0.0.2"));
        std::thread::sleep(Duration::from_millis(300));
    }
    stop.store(true, Ordering::SeqCst);
    let _ = flooder.join();
    let (refused, other) = (refused.load(Ordering::SeqCst), other.load(Ordering::SeqCst));
    assert!(
        refused > 50 && other < 40,
        "flooder: {refused} answered 503, {other} otherwise"
    );
    rig.wait_inform("6 CONNECTION REQUEST", 1);
}

#[test]
fn wrong_credentials_are_logged_once_per_source_without_the_password() {
    let rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let guess = || {
        rig.cpe
            .connection_request_as("cruser", "Zq7-not-it")
            .unwrap()
    };
    for _ in 0..3 {
        let out = guess();
        assert_eq!((out.first, out.second), (401, 401));
    }
    // A guess costs its source 5 tokens of 20 (and its challenge 1): the guesser is soon
    // refused before it can guess.
    assert!((0..3).any(|_| guess().first == 503), "{}", rig.cpe.logs());
    let line = "connection request from 127.0.0.1: wrong credentials for user \"cruser\"";
    let deadline = Instant::now() + Duration::from_secs(5);
    while !rig.cpe.logs().contains(line) {
        assert!(Instant::now() < deadline, "no line\n{}", rig.cpe.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = rig.cpe.logs();
    assert_eq!(logs.matches("wrong credentials").count(), 1, "{logs}");
    assert!(!logs.contains("Zq7-not-it"));
}

/// Waits (up to `within`) until a Digest connection request on `port` is accepted.
fn cr_accepted_within(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let out = digest::connection_request(port, "/", "cruser", "crpass");
        if matches!(out, Ok(CrOutcome { second: 200, .. })) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn a_port_busy_at_start_up_is_bound_once_free() {
    let acs = Acs::start(AcsOpts::default());
    let mut cpe = Cpe::prepare(CpeOpts::new(&acs.url()));
    let blocker = TcpListener::bind((Ipv4Addr::UNSPECIFIED, cpe.cr_port)).unwrap();
    cpe.spawn();
    // The server is set up before the first session: once the Inform is in, it met the
    // busy port.
    acs.wait_for(common::WAIT, |m| m.iter().any(|x| x.method() == "Inform"))
        .unwrap_or_else(|r| panic!("no Inform: {r}\n{}", cpe.logs()));
    drop(blocker);
    // Retried every 3 s.
    assert!(
        cr_accepted_within(cpe.cr_port, Duration::from_secs(8)),
        "{}",
        cpe.logs()
    );
}

#[test]
fn a_port_change_and_sighup_move_the_listener() {
    let mut rig = Rig::start(&[]);
    rig.wait_inform("0 BOOTSTRAP", 1);
    rig.wait_idle();
    let old = rig.cpe.cr_port;
    let new = common::free_port();
    let text = rig.cpe.config_text().replace(
        &format!("option port '{old}'"),
        &format!("option port '{new}'"),
    );
    std::fs::write(&rig.cpe.config, text).unwrap();
    let pid = rig.cpe.pid().expect("daemon running") as i32;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert!(
        cr_accepted_within(new, Duration::from_secs(5)),
        "{}",
        rig.cpe.logs()
    );
    assert!(
        TcpStream::connect(("127.0.0.1", old)).is_err(),
        "the old port still listens"
    );
    rig.cpe.cr_port = new;
    rig.wait_inform("6 CONNECTION REQUEST", 1);
}
