//! The connection-request listener thread.
//!
//! One thread accepts and answers one request at a time: a connection request is a single
//! small `GET`, and the rate limiter bounds how often one is accepted anyway. A client that
//! sends nothing is dropped after [`IO_TIMEOUT`], so it cannot hold the listener (a general
//! HTTP server library would give it a worker thread until it leaves). Every answer carries
//! `Content-Length: 0` and `Connection: close`.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::inbox::Inbox;

use super::auth::{CrAuth, CrDecision, CrRequest, CrSettings};
use super::head::{self, HeadError, RequestHead};

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

/// Longest time a client may take to send its request head, and to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

struct Shared {
    stop: AtomicBool,
    /// Settings waiting to be applied by the thread.
    pending: Mutex<Option<CrSettings>>,
}

/// A running connection-request server; stops and joins its thread on drop.
pub struct ConnReqServer {
    shared: Arc<Shared>,
    /// Written to on drop: wakes the thread out of `poll`.
    wake: UnixStream,
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
        events: Inbox<ConnReqEvent>,
    ) -> io::Result<ConnReqServer> {
        let listener = match bind {
            Bind::Any(port) => bind_any(port)?,
            Bind::Addr(a) => TcpListener::bind(a)?,
        };
        let local_addr = listener.local_addr()?;
        // Non-blocking: a connection reset between poll and accept must not block the
        // thread in accept (it could then miss a stop request).
        listener.set_nonblocking(true)?;
        let (wake, woken) = UnixStream::pair()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            pending: Mutex::new(None),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("conn-req".into())
            .spawn(move || run(&listener, &woken, &sh, settings, &events))?;
        log::info!("connection request server listening on {local_addr}");
        Ok(ConnReqServer {
            shared,
            wake,
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
        let _ = (&self.wake).write_all(b"x");
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("conn-req thread panicked");
            }
        }
    }
}

/// Waits until the listener has a connection (`true`) or the wake socket was written.
fn wait_readable(listener: &TcpListener, woken: &UnixStream) -> io::Result<bool> {
    let mut fds = [
        libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: woken.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a live array of two initialised pollfd structures.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(fds[0].revents != 0 && fds[1].revents == 0)
}

fn run(
    listener: &TcpListener,
    woken: &UnixStream,
    shared: &Shared,
    settings: CrSettings,
    events: &Inbox<ConnReqEvent>,
) {
    let mut auth = CrAuth::new(settings, Instant::now());
    while !shared.stop.load(Ordering::SeqCst) {
        match wait_readable(listener, woken)
            .and_then(|ready| ready.then(|| listener.accept()).transpose())
        {
            Ok(Some((stream, peer))) => {
                if let Some(s) = shared
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                {
                    auth.update(s, Instant::now());
                }
                serve(&mut auth, stream, peer.ip(), events);
            }
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                log::warn!("connection request server: {e}");
                // Accept errors (EMFILE...) must not spin.
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Reads a request head within [`IO_TIMEOUT`]; `Err(None)` when the client went silent or away.
fn read_head(s: &mut TcpStream) -> Result<RequestHead, Option<HeadError>> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return Err(None);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return Err(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        match head::parse(&buf) {
            Ok(Some(h)) => return Ok(h),
            Ok(None) => {}
            Err(e) => return Err(Some(e)),
        }
    }
}

fn serve(auth: &mut CrAuth, mut stream: TcpStream, peer: IpAddr, events: &Inbox<ConnReqEvent>) {
    let (decision, line) = match read_head(&mut stream) {
        Ok(req) => {
            let decision = auth.check(
                &CrRequest {
                    method: &req.method,
                    path_with_query: &req.target,
                    authorization: req.authorization.as_deref(),
                    peer,
                },
                Instant::now(),
            );
            (decision, format!("{} {}", req.method, req.target))
        }
        Err(Some(e)) => {
            let code = if e == HeadError::TooLarge { 431 } else { 400 };
            (CrDecision::Reject(code), format!("{e:?} request"))
        }
        Err(None) => {
            log::debug!("connection request from {peer}: no request within {IO_TIMEOUT:?}");
            return;
        }
    };
    let head = head::response(&decision);
    log::debug!(
        "connection request from {peer}: {line} => {}",
        head.lines().next().unwrap_or_default()
    );
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.write_all(head.as_bytes()));
    if let Err(e) = sent {
        log::debug!("connection request answer to {peer} not sent: {e}");
    }
    drop(stream);
    if decision == CrDecision::Accept {
        log::info!("connection request accepted from {peer}");
        if !events.send(ConnReqEvent::Accepted { peer }) {
            log::error!("main loop gone: connection request dropped");
        }
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
