//! `cargo bench --bench conn_req` (or `make bench`): how long a valid connection request
//! (GET, 401, GET with Digest, 200) takes on the release daemon while other clients try to
//! lock its connection-request server: quiet; 50 idle sockets; 50 idle and 50 trickling (one
//! byte a second); a request flood from another address; a password guesser from another
//! address. Hostile sockets come from 127.0.0.3/4, floods from 127.0.0.2, the ACS from
//! 127.0.0.1; whatever the server closes is opened again, so the load holds throughout.
//!
//! `ICWMPD_BIN` runs another binary (an older build, for comparison); `BENCH_CR_RUNS` sets
//! the number of connection requests per case (default 20). A request not answered within
//! 10 s counts as 10 s. Figures only: nothing here asserts a target.

#[path = "common/http.rs"]
mod http;
#[path = "common/port.rs"]
mod port;
use http::md5_hex;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const ACS: Ipv4Addr = Ipv4Addr::LOCALHOST;
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const PATIENCE: Duration = Duration::from_secs(10);

/// A socket bound to `src` (any 127/8 address on Linux loopback), connected to the port
/// within `patience` (a server that does not accept leaves connects waiting for SYN
/// retransmits for minutes).
fn connect_from(src: Ipv4Addr, port: u16, patience: Duration) -> io::Result<TcpStream> {
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
        let raw = libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        );
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let (local, remote) = (sockaddr(src, 0), sockaddr(Ipv4Addr::LOCALHOST, port));
        if libc::bind(raw, (&local as *const libc::sockaddr_in).cast(), len) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::connect(raw, (&remote as *const libc::sockaddr_in).cast(), len) < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(e);
            }
            let mut p = libc::pollfd {
                fd: raw,
                events: libc::POLLOUT,
                revents: 0,
            };
            if libc::poll(&mut p, 1, patience.as_millis() as libc::c_int) != 1 {
                return Err(io::ErrorKind::TimedOut.into());
            }
        }
        let s = TcpStream::from(fd);
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        s.set_nonblocking(false)?;
        Ok(s)
    }
}

/// One request from `src`; the whole answer ("" when none came within [`PATIENCE`]).
fn get(src: Ipv4Addr, port: u16, auth: &str) -> String {
    let Ok(mut s) = connect_from(src, port, PATIENCE) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(PATIENCE));
    let req = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n");
    let _ = s.write_all(req.as_bytes());
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    resp
}

/// The Authorization header line answering `challenge` with `password`.
fn authorization(challenge: &str, password: &str) -> String {
    let field = |name: &str| {
        let key = format!("{name}=\"");
        challenge
            .split(&key)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    let (realm, nonce, opaque) = (field("realm"), field("nonce"), field("opaque"));
    let ha1 = md5_hex(&format!("cr:{realm}:{password}"));
    let ha2 = md5_hex("GET:/");
    let resp = md5_hex(&format!("{ha1}:{nonce}:00000001:abcdef:auth:{ha2}"));
    format!(
        "Authorization: Digest username=\"cr\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"/\", qop=auth, nc=00000001, cnonce=\"abcdef\", response=\"{resp}\", opaque=\"{opaque}\"\r\n"
    )
}

/// A valid connection request from the ACS address: its time in ms, and whether it got 200.
fn timed_cr(port: u16) -> (f64, bool) {
    let t = Instant::now();
    let challenge = get(ACS, port, "");
    let ok = challenge.starts_with("HTTP/1.1 401")
        && get(ACS, port, &authorization(&challenge, "crpass")).starts_with("HTTP/1.1 200");
    (t.elapsed().as_secs_f64() * 1e3, ok)
}

/// `idle` silent sockets and `trickle` ones sending a byte a second, from `src`, reopened
/// whenever the server closes them, until `stop`.
fn hostile(
    src: Ipv4Addr,
    port: u16,
    idle: usize,
    trickle: usize,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let open = || {
            let s = connect_from(src, port, Duration::from_millis(300)).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        };
        let mut socks: Vec<Option<TcpStream>> = (0..idle + trickle).map(|_| open()).collect();
        let mut tick = 0usize;
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
            tick += 1;
            for (i, slot) in socks.iter_mut().enumerate() {
                let mut b = [0u8; 1];
                let closed = match slot {
                    None => true,
                    Some(s) => {
                        !matches!(s.read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                    }
                };
                if closed {
                    *slot = open();
                } else if i >= idle && tick % 10 == 0 {
                    if let Some(s) = slot {
                        let _ = s.write(b"G");
                    }
                }
            }
        }
    })
}

/// Two threads from [`FLOODER`] sending requests back to back (with a wrong password when
/// `guess`), until `stop`; counts answers 503 and others.
fn flood(
    port: u16,
    guess: bool,
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicUsize; 2]>,
) -> Vec<JoinHandle<()>> {
    (0..2)
        .map(|_| {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::spawn(move || {
                let auth = if guess {
                    authorization(&get(FLOODER, port, ""), "guess")
                } else {
                    String::new()
                };
                while !stop.load(Ordering::SeqCst) {
                    let r = get(FLOODER, port, &auth);
                    counts[usize::from(!r.starts_with("HTTP/1.1 503"))]
                        .fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect()
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let exe =
        std::env::var("ICWMPD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_icwmpd").to_string());
    let runs: usize = std::env::var("BENCH_CR_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("icwmp-bench-cr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
    };
    let (acs_port, port) = (free(), port::daemon_port());
    let config = dir.join("cwmp");
    // No ACS listens: the sessions the requests start fail and back off, which does not
    // concern the connection-request thread.
    std::fs::write(
        &config,
        format!(
            "config acs 'acs'\n\toption url 'http://127.0.0.1:{acs_port}/acs'\n\toption periodic_inform_enable '0'\n\n\
             config cpe 'cpe'\n\toption port '{port}'\n\toption userid 'cr'\n\toption passwd 'crpass'\n\toption cr_host '127.0.0.1'\n\toption log_severity 'ERROR'\n",
        ),
    )
    .expect("config");
    let _daemon = Daemon(
        Command::new(&exe)
            .args(["--config"])
            .arg(&config)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start icwmpd"),
    );
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < PATIENCE,
            "the daemon does not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("connection request (GET, 401, GET, 200) latency, {exe}, {runs} runs per case");

    let case = |name: &str, setup: &dyn Fn(Arc<AtomicBool>) -> Vec<JoinHandle<()>>| {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let load = setup(stop.clone());
        std::thread::sleep(Duration::from_millis(500));
        let mut ms = Vec::new();
        let mut failed = 0;
        for _ in 0..runs {
            let (t, ok) = timed_cr(port);
            ms.push(t);
            failed += usize::from(!ok);
            std::thread::sleep(Duration::from_millis(100));
        }
        stop.store(true, Ordering::SeqCst);
        let loaded = started.elapsed();
        load.into_iter().for_each(|h| {
            let _ = h.join();
        });
        ms.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {name}: median {:.2} ms, max {:.2} ms, {failed} of {runs} not accepted",
            ms[ms.len() / 2],
            ms[ms.len() - 1]
        );
        // The source buckets refill before the next case.
        std::thread::sleep(Duration::from_secs(2));
        loaded
    };
    case("quiet", &|_| Vec::new());
    case("50 idle sockets", &|stop| {
        vec![hostile(Ipv4Addr::new(127, 0, 0, 3), port, 50, 0, stop)]
    });
    case("50 idle + 50 trickling sockets", &|stop| {
        vec![
            hostile(Ipv4Addr::new(127, 0, 0, 3), port, 50, 0, stop.clone()),
            hostile(Ipv4Addr::new(127, 0, 0, 4), port, 0, 50, stop),
        ]
    });
    for (name, guess) in [
        ("request flood from 127.0.0.2", false),
        ("password guessing from 127.0.0.2", true),
    ] {
        let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let c = counts.clone();
        let secs = case(name, &move |stop| flood(port, guess, stop, c.clone())).as_secs_f64();
        let (refused, other) = (
            counts[0].load(Ordering::SeqCst),
            counts[1].load(Ordering::SeqCst),
        );
        println!(
            "    flooder: {} requests ({:.0}/s), {refused} answered 503, {other} otherwise",
            refused + other,
            (refused + other) as f64 / secs
        );
    }
}
