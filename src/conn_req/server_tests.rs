use super::*;
use crate::conn_req::conns::HEAD_DEADLINE;
use crate::http::digest::{parse_challenges, ClientDigest};
use crossbeam_channel::Receiver;
use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};

pub(super) fn settings() -> CrSettings {
    CrSettings {
        username: "cr".into(),
        password: "secret".into(),
        path: "/cr".into(),
        ..CrSettings::default()
    }
}

pub(super) fn start(s: CrSettings) -> (ConnReqServer, Receiver<ConnReqEvent>) {
    let (tx, rx) = Inbox::channel();
    let srv = ConnReqServer::spawn(Bind::Addr("127.0.0.1:0".parse().unwrap()), s, tx).unwrap();
    (srv, rx)
}

/// A client socket bound to `src` (any 127/8 address works on Linux loopback) and
/// connected to `addr`.
pub(super) fn connect_from(src: Ipv4Addr, addr: SocketAddr) -> io::Result<TcpStream> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let SocketAddr::V4(dst) = addr else {
        return Err(io::Error::other("IPv4 only"));
    };
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
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let (local, remote) = (sockaddr(src, 0), sockaddr(*dst.ip(), dst.port()));
        if libc::bind(raw, (&local as *const libc::sockaddr_in).cast(), len) < 0
            || libc::connect(raw, (&remote as *const libc::sockaddr_in).cast(), len) < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(TcpStream::from(fd))
    }
}

/// Sends one raw request and returns the whole answer (the server closes the connection).
pub(super) fn raw(addr: SocketAddr, method: &str, path: &str, auth: Option<&str>) -> String {
    request(TcpStream::connect(addr), method, path, auth)
}

/// [`raw`] from the client address `src`.
pub(super) fn raw_from(
    src: Ipv4Addr,
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> String {
    request(connect_from(src, addr), method, path, auth)
}

fn request(c: io::Result<TcpStream>, method: &str, path: &str, auth: Option<&str>) -> String {
    let Ok(mut c) = c else {
        return String::new();
    };
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: cpe\r\nConnection: close\r\n");
    if let Some(a) = auth {
        r.push_str(&format!("Authorization: {a}\r\n"));
    }
    r.push_str("\r\n");
    // The server may have answered and closed already (503 to a flood).
    let _ = c.write_all(r.as_bytes());
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// A whole Digest connection request from `src` (challenge, then answer): the final answer.
pub(super) fn valid_cr(src: Ipv4Addr, addr: SocketAddr) -> String {
    let r = raw_from(src, addr, "GET", "/cr", None);
    let Some(ch) = header(&r, "WWW-Authenticate") else {
        return r;
    };
    let mut d = ClientDigest::from_challenges(&parse_challenges([ch])).unwrap();
    let a = d.authorization("cr", "secret", "GET", "/cr", "abcd");
    raw_from(src, addr, "GET", "/cr", Some(&a))
}

pub(super) fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

#[test]
fn full_digest_exchange_over_raw_socket() {
    let (srv, rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    let r = raw(addr, "GET", "/cr", None);
    assert!(r.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{r}");
    assert_eq!(header(&r, "Content-Length"), Some("0"));
    assert_eq!(header(&r, "Connection"), Some("close"));
    let ch = header(&r, "WWW-Authenticate").unwrap();
    assert!(ch.starts_with("Digest realm=\"authenticate@cwmp\", qop=\"auth\", nonce=\""));
    assert!(rx.try_recv().is_err());

    let mut d = ClientDigest::from_challenges(&parse_challenges([ch])).unwrap();
    let a = d.authorization("cr", "secret", "GET", "/cr?ts=1", "abcd");
    let r = raw(addr, "GET", "/cr?ts=1", Some(&a));
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert_eq!(header(&r, "Content-Length"), Some("0"));
    assert_eq!(header(&r, "Connection"), Some("close"));
    let ev = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        ev,
        ConnReqEvent::Accepted {
            peer: "127.0.0.1".parse().unwrap()
        }
    );
    // The same credentials again are a replay.
    let r = raw(addr, "GET", "/cr?ts=1", Some(&a));
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    assert!(rx.try_recv().is_err());
}

#[test]
fn full_digest_exchange_with_ureq() {
    let (srv, rx) = start(settings());
    let url = format!("http://{}/cr", srv.local_addr().unwrap());
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let r = agent.get(&url).call().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let ch = r
        .headers()
        .get("www-authenticate")
        .unwrap()
        .to_str()
        .unwrap();
    let mut d = ClientDigest::from_challenges(&parse_challenges([ch])).unwrap();
    let a = d.authorization("cr", "secret", "GET", "/cr", "0123");
    let r = agent.get(&url).header("Authorization", a).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok(ConnReqEvent::Accepted { .. })
    ));
}

#[test]
fn rejections_on_the_wire() {
    let (srv, rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    let r = raw(addr, "POST", "/cr", None);
    assert!(r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{r}");
    assert_eq!(header(&r, "Allow"), Some("GET"));
    let r = raw(addr, "GET", "/other", None);
    assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
    srv.update(CrSettings {
        password: String::new(),
        ..settings()
    });
    let r = raw(addr, "GET", "/cr", None);
    assert!(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{r}");
    assert!(rx.try_recv().is_err());
}

#[test]
fn update_changes_path_at_run_time() {
    let (srv, _rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    assert!(raw(addr, "GET", "/new", None).starts_with("HTTP/1.1 404 "));
    srv.update(CrSettings {
        path: "new".into(),
        ..settings()
    });
    assert!(raw(addr, "GET", "/new", None).starts_with("HTTP/1.1 401 "));
}

#[test]
fn any_binds_dual_stack_and_drop_joins() {
    let (tx, _rx) = Inbox::channel();
    let srv = match ConnReqServer::spawn(Bind::Any(0), settings(), tx) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skip: cannot bind any address here: {e}");
            return;
        }
    };
    let port = srv.port().unwrap();
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    assert!(raw(v4, "GET", "/cr", None).starts_with("HTTP/1.1 401 "));
    if srv.local_addr().unwrap().is_ipv6() {
        let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
        if TcpStream::connect(v6).is_ok() {
            assert!(raw(v6, "GET", "/cr", None).starts_with("HTTP/1.1 401 "));
        }
    }
    let t = Instant::now();
    drop(srv);
    assert!(t.elapsed() < Duration::from_secs(2));
}

/// Sends `chunks` with pauses between them and returns the whole answer.
fn raw_chunks(addr: SocketAddr, chunks: &[&[u8]]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for ch in chunks {
        c.write_all(ch).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

#[test]
fn bad_heads_get_400_or_431_and_split_heads_are_reassembled() {
    let (srv, rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    let r = raw_chunks(addr, &[b"GET /cr HTTP/1.1\r\nno colon\r\n\r\n"]);
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");
    let big = format!("GET /cr HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    let r = raw_chunks(addr, &[big.as_bytes()]);
    assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
    let r = raw_chunks(
        addr,
        &[b"GET /c", b"r HTTP/1.1\r\nHo", b"st: x\r\n", b"\r\n"],
    );
    assert!(r.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{r}");
    assert!(rx.try_recv().is_err());
}

/// A client that connects and sends nothing (slowloris) does not delay the next one, and is
/// closed at its head deadline.
#[test]
fn a_silent_client_delays_no_one_and_is_dropped_at_its_deadline() {
    let (srv, _rx) = start(settings());
    let addr = srv.local_addr().unwrap();
    let mut silent = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = raw_chunks(addr, &[b"GET /cr HTTP/1.1\r\nHost: cpe\r\n\r\n"]);
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    let waited = t.elapsed();
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    // The silent one gets no answer, only the close, at its deadline.
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    assert_eq!(silent.read_to_end(&mut out).unwrap(), 0);
    let closed = t.elapsed();
    assert!(
        closed < HEAD_DEADLINE + Duration::from_secs(1),
        "{closed:?}"
    );
}

/// A client sending its head one byte every 300 ms is closed when its head deadline (for the
/// whole head, not for each read) is over.
#[test]
fn a_trickling_client_is_dropped_at_its_head_deadline() {
    let (srv, _rx) = start(settings());
    let mut c = TcpStream::connect(srv.local_addr().unwrap()).unwrap();
    let t = Instant::now();
    let mut answer = Vec::new();
    for b in b"GET /cr HTTP/1.1\r\nHost: a-long-host-name-that-takes-a-while\r\n\r\n" {
        if c.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        c.set_nonblocking(true).unwrap();
        let r = c.read_to_end(&mut answer);
        c.set_nonblocking(false).unwrap();
        if r.is_ok() || t.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    let closed = t.elapsed();
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    assert!(
        closed >= HEAD_DEADLINE && closed < HEAD_DEADLINE + Duration::from_secs(1),
        "{closed:?}"
    );
}

#[test]
fn cr_timeout_is_clamped_to_a_sane_range() {
    use crate::conn_req::conns::head_timeout;
    assert_eq!(head_timeout(0), Duration::from_secs(1));
    assert_eq!(head_timeout(1), Duration::from_secs(1));
    assert_eq!(head_timeout(5), Duration::from_secs(5));
    assert_eq!(head_timeout(30), Duration::from_secs(30));
    assert_eq!(head_timeout(u32::MAX), Duration::from_secs(30));
}

/// The head timeout of the settings, not a fixed one: a slow head within it is answered, a
/// silent client is closed at it; an update applies to the clients that come after it.
#[test]
fn the_head_timeout_comes_from_the_settings() {
    let (srv, _rx) = start(CrSettings {
        head_timeout: Duration::from_secs(4),
        ..settings()
    });
    let addr = srv.local_addr().unwrap();
    let mut slow = TcpStream::connect(addr).unwrap();
    std::thread::sleep(HEAD_DEADLINE + Duration::from_millis(700));
    slow.write_all(b"GET /cr HTTP/1.1\r\nHost: cpe\r\n\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    slow.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 401 "), "{out:?}");

    srv.update(CrSettings {
        head_timeout: Duration::from_secs(1),
        ..settings()
    });
    // A request makes sure the update is applied before the silent client comes.
    let r = raw_chunks(addr, &[b"GET /cr HTTP/1.1\r\n\r\n"]);
    assert!(r.starts_with("HTTP/1.1 401 "), "{r}");
    let mut silent = TcpStream::connect(addr).unwrap();
    let t = Instant::now();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(silent.read_to_end(&mut Vec::new()).unwrap(), 0);
    let closed = t.elapsed();
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_millis(1900),
        "{closed:?}"
    );
}
