//! The connection-request listener thread (tiny_http).
//!
//! Every answer carries `Content-Length: 0` and `Connection: close`. tiny_http refuses a
//! user `Connection` header, so responses are written raw through the request's writer.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::auth::{CrAuth, CrDecision, CrRequest, CrSettings};

/// What the server tells the main loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnReqEvent {
    /// An authenticated connection request: start a session (`6 CONNECTION REQUEST`).
    Accepted {
        /// Who asked.
        peer: IpAddr,
    },
}

/// Where to listen.
#[derive(Clone, Copy, Debug)]
pub enum Bind {
    /// All interfaces on this port: IPv6 dual-stack `[::]` (IPV6_V6ONLY off), or
    /// `0.0.0.0` when IPv6 is unavailable.
    Any(u16),
    /// One address (tests use `127.0.0.1:0`).
    Addr(SocketAddr),
}

/// How often the thread wakes up without traffic to notice a stop request.
const POLL: Duration = Duration::from_millis(500);

struct Shared {
    stop: AtomicBool,
    /// Settings waiting to be applied by the thread.
    pending: Mutex<Option<CrSettings>>,
}

/// A running connection-request server; stops and joins its thread on drop.
pub struct ConnReqServer {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    local_addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl ConnReqServer {
    /// Binds and starts the `conn-req` thread. Accepted requests are sent on `events`.
    ///
    /// # Errors
    /// The socket cannot be bound (port in use, no permission) or the thread not started.
    pub fn spawn(
        bind: Bind,
        settings: CrSettings,
        events: Sender<ConnReqEvent>,
    ) -> io::Result<ConnReqServer> {
        let listener = match bind {
            Bind::Any(port) => bind_any(port)?,
            Bind::Addr(a) => TcpListener::bind(a)?,
        };
        let local_addr = listener.local_addr()?;
        let server = tiny_http::Server::from_listener(listener, None)
            .map(Arc::new)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            pending: Mutex::new(None),
        });
        let (sh, srv) = (shared.clone(), server.clone());
        let thread = std::thread::Builder::new()
            .name("conn-req".into())
            .spawn(move || run(&srv, &sh, settings, &events))?;
        log::info!("connection request server listening on {local_addr}");
        Ok(ConnReqServer {
            shared,
            server,
            local_addr,
            thread: Some(thread),
        })
    }

    /// The bound address (its port is the real one when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Changes credentials, path, allow-list or limits; applied before the next request.
    pub fn update(&self, settings: CrSettings) {
        *self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(settings);
    }
}

impl Drop for ConnReqServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("conn-req thread panicked");
            }
        }
    }
}

fn run(
    server: &tiny_http::Server,
    shared: &Shared,
    settings: CrSettings,
    events: &Sender<ConnReqEvent>,
) {
    let mut auth = CrAuth::new(settings, Instant::now());
    while !shared.stop.load(Ordering::SeqCst) {
        match server.recv_timeout(POLL) {
            Ok(Some(req)) => {
                let now = Instant::now();
                if let Some(s) = shared
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                {
                    auth.update(s, now);
                }
                handle(&mut auth, req, now, events);
            }
            Ok(None) => {}
            Err(e) => {
                log::warn!("connection request server: {e}");
                std::thread::sleep(POLL); // accept errors (EMFILE...) must not spin
            }
        }
    }
}

fn handle(auth: &mut CrAuth, req: tiny_http::Request, now: Instant, events: &Sender<ConnReqEvent>) {
    let peer = req
        .remote_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let authorization = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let method = req.method().as_str().to_string();
    let decision = auth.check(
        &CrRequest {
            method: &method,
            path_with_query: req.url(),
            authorization: authorization.as_deref(),
            peer,
        },
        now,
    );
    let (status, extra) = match &decision {
        CrDecision::Accept => ("200 OK", String::new()),
        CrDecision::Challenge { www_authenticate } => (
            "401 Unauthorized",
            format!("WWW-Authenticate: {www_authenticate}\r\n"),
        ),
        CrDecision::Reject(code) => (
            reason(*code),
            match code {
                405 => "Allow: GET\r\n".to_string(),
                _ => String::new(),
            },
        ),
    };
    log::debug!(
        "connection request from {peer}: {method} {} => {status}",
        req.url()
    );
    let head =
        format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
    let mut w = req.into_writer();
    if let Err(e) = w.write_all(head.as_bytes()).and_then(|_| w.flush()) {
        log::debug!("connection request answer to {peer} not sent: {e}");
    }
    drop(w);
    if decision == CrDecision::Accept {
        log::info!("connection request accepted from {peer}");
        if events.send(ConnReqEvent::Accepted { peer }).is_err() {
            log::error!("main loop gone: connection request dropped");
        }
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        400 => "400 Bad Request",
        403 => "403 Forbidden",
        404 => "404 Not Found",
        405 => "405 Method Not Allowed",
        _ => "503 Service Unavailable",
    }
}

/// `[::]:port` with IPV6_V6ONLY cleared (IPv4 too, whatever the sysctl says), or
/// `0.0.0.0:port` when the host has no IPv6.
fn bind_any(port: u16) -> io::Result<TcpListener> {
    match bind_dual_stack(port) {
        Ok(l) => Ok(l),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
            ) =>
        {
            Err(e)
        }
        Err(e) => {
            log::info!("no IPv6 listener ({e}): IPv4 only");
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
        }
    }
}

fn bind_dual_stack(port: u16) -> io::Result<TcpListener> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let check = |r: libc::c_int| {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    };
    // SAFETY: plain socket syscalls on a descriptor we own (closed by OwnedFd on error);
    // the pointers passed point at live locals of the stated sizes.
    unsafe {
        let fd = check(libc::socket(
            libc::AF_INET6,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let fd = OwnedFd::from_raw_fd(fd);
        let raw = fd.as_raw_fd();
        let int_len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let (zero, one): (libc::c_int, libc::c_int) = (0, 1);
        check(libc::setsockopt(
            raw,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&zero as *const libc::c_int).cast(),
            int_len,
        ))?;
        check(libc::setsockopt(
            raw,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            int_len,
        ))?;
        let mut addr: libc::sockaddr_in6 = std::mem::zeroed(); // zero = in6addr_any
        addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        addr.sin6_port = port.to_be();
        check(libc::bind(
            raw,
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        ))?;
        check(libc::listen(raw, 16))?;
        Ok(TcpListener::from(fd))
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
