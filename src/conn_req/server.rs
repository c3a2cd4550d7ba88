//! The connection-request listener thread.
//!
//! One thread serves every client at once: it polls the listener and all client sockets
//! (see [`super::conns`] for the slots and deadlines that keep idle and trickling clients
//! from holding it), answers each request head with [`CrAuth`], and tells the main loop
//! about accepted requests. Every answer carries `Content-Length: 0` and `Connection: close`.
//!
//! When its port cannot be bound (busy at start-up, or after a port change), the server
//! keeps running and tries again every [`BIND_RETRY`]; [`ConnReqServer::rebind`] moves it to
//! another port, closing the old one.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::inbox::Inbox;

use super::auth::{canonical, CrAuth, CrDecision, CrRequest, CrSettings};
use super::bind::listen;
pub use super::bind::Bind;
use super::conns::{Answer, Conns, Received, MAX_CONNS};
use super::head::{self, HeadError};
use super::ratelimit::SharedLimiter;
use super::refusals::Refusals;

/// What the server tells the main loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnReqEvent {
    /// An authenticated connection request: start a session (`6 CONNECTION REQUEST`).
    Accepted {
        /// Who asked.
        peer: IpAddr,
    },
}

/// How often a port that could not be bound is tried again.
pub const BIND_RETRY: Duration = Duration::from_secs(3);
/// Pause after an accept error other than "nothing to accept" (out of descriptors...), so
/// that a listener that stays readable does not make the thread spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(500);

struct Shared {
    stop: AtomicBool,
    /// Settings waiting to be applied by the thread.
    pending: Mutex<Option<CrSettings>>,
    /// Address waiting to be bound by the thread.
    rebind: Mutex<Option<Bind>>,
    /// The bound address, while bound.
    local: Mutex<Option<SocketAddr>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data, still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running connection-request server; stops and joins its thread on drop.
pub struct ConnReqServer {
    shared: Arc<Shared>,
    /// The rate limits of the HTTP server, shared with the UDP connection requests.
    limiter: SharedLimiter,
    /// Written to for each request to the thread: wakes it out of `poll`.
    wake: UnixStream,
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
        let listener = listen(bind)?;
        ConnReqServer::launch(bind, Ok(listener), settings, events)
    }

    /// Starts the `conn-req` thread and binds; when the address cannot be bound now, logs
    /// it and keeps trying every [`BIND_RETRY`].
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(
        bind: Bind,
        settings: CrSettings,
        events: Inbox<ConnReqEvent>,
    ) -> io::Result<ConnReqServer> {
        ConnReqServer::launch(bind, listen(bind), settings, events)
    }

    fn launch(
        bind: Bind,
        first: io::Result<TcpListener>,
        settings: CrSettings,
        events: Inbox<ConnReqEvent>,
    ) -> io::Result<ConnReqServer> {
        let (wake, woken) = UnixStream::pair()?;
        // Neither end may block: a wake-up already pending is as good as a second one.
        wake.set_nonblocking(true)?;
        woken.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            pending: Mutex::new(None),
            rebind: Mutex::new(None),
            local: Mutex::new(None),
        });
        let now = Instant::now();
        let auth = CrAuth::new(settings, now);
        let limiter = auth.limiter();
        let mut worker = Worker {
            shared: shared.clone(),
            woken,
            events,
            auth,
            refusals: Refusals::new(),
            conns: Conns::new(),
            bind,
            listener: None,
            retry_at: None,
            failures: 0,
            accept_paused: None,
        };
        worker.bound(first, now);
        let thread = std::thread::Builder::new()
            .name("conn-req".into())
            .spawn(move || worker.run())?;
        Ok(ConnReqServer {
            shared,
            limiter,
            wake,
            thread: Some(thread),
        })
    }

    /// The rate limiter of its connection requests, for the UDP ones to share.
    pub fn limiter(&self) -> SharedLimiter {
        self.limiter.clone()
    }

    /// The bound address (its port is the real one when 0 was asked); `None` while the
    /// address cannot be bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *locked(&self.shared.local)
    }

    /// The bound port, while bound.
    pub fn port(&self) -> Option<u16> {
        self.local_addr().map(|a| a.port())
    }

    /// Changes credentials, path, allow-list or limits; applied before the next request.
    pub fn update(&self, settings: CrSettings) {
        *locked(&self.shared.pending) = Some(settings);
        self.poke();
    }

    /// Listens on `bind` instead, closing the old listener (clients already connected are
    /// still answered); nothing changes when it is the address in use. A busy address is
    /// retried every [`BIND_RETRY`].
    pub fn rebind(&self, bind: Bind) {
        *locked(&self.shared.rebind) = Some(bind);
        self.poke();
    }

    fn poke(&self) {
        // WouldBlock: the socket is full of wake-ups the thread has not read yet.
        let _ = (&self.wake).write(b"x");
    }
}

impl Drop for ConnReqServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.poke();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::error!("conn-req thread panicked");
            }
        }
    }
}

/// The `conn-req` thread's state.
struct Worker {
    shared: Arc<Shared>,
    woken: UnixStream,
    events: Inbox<ConnReqEvent>,
    auth: CrAuth,
    refusals: Refusals,
    conns: Conns,
    bind: Bind,
    listener: Option<TcpListener>,
    /// Next bind attempt, while not bound.
    retry_at: Option<Instant>,
    /// Failed bind attempts in a row.
    failures: u32,
    accept_paused: Option<Instant>,
}

fn show(bind: Bind) -> String {
    match bind {
        Bind::Any(port) => format!("port {port}"),
        Bind::Addr(a) => a.to_string(),
        Bind::Off => "no port (disabled)".into(),
    }
}

impl Worker {
    /// Takes the outcome of a bind attempt at `now`.
    fn bound(&mut self, r: io::Result<TcpListener>, now: Instant) {
        let r = r.and_then(|l| Ok((l.local_addr()?, l)));
        match r {
            Ok((addr, l)) => {
                if self.failures > 0 {
                    log::info!(
                        "connection request server listening on {addr} (after {} failed attempts)",
                        self.failures
                    );
                } else {
                    log::info!("connection request server listening on {addr}");
                }
                *locked(&self.shared.local) = Some(addr);
                self.listener = Some(l);
                self.retry_at = None;
                self.failures = 0;
            }
            Err(_) if self.bind == Bind::Off => {
                log::info!(
                    "HTTP connection requests disabled (HTTPConnectionRequestEnable): port closed"
                );
                self.retry_at = None;
                self.failures = 0;
            }
            Err(e) => {
                self.failures += 1;
                if self.failures == 1 {
                    log::error!(
                        "connection request server cannot listen on {} ({e}); trying again every {}s",
                        show(self.bind),
                        BIND_RETRY.as_secs()
                    );
                } else {
                    log::debug!(
                        "connection request server: {} still busy ({e})",
                        show(self.bind)
                    );
                }
                self.retry_at = Some(now + BIND_RETRY);
            }
        }
    }

    /// Applies settings and an address change the owner asked for.
    fn apply_pending(&mut self, now: Instant) {
        if let Some(s) = locked(&self.shared.pending).take() {
            self.auth.update(s, now);
        }
        let Some(bind) = locked(&self.shared.rebind).take() else {
            return;
        };
        if bind == self.bind && (self.listener.is_some() || bind == Bind::Off) {
            return;
        }
        if let Some(old) = self.listener.take() {
            log::info!(
                "connection request server: closing {}, moving to {}",
                old.local_addr()
                    .map_or_else(|_| show(self.bind), |a| a.to_string()),
                show(bind)
            );
        }
        *locked(&self.shared.local) = None;
        self.bind = bind;
        self.failures = 0;
        self.bound(listen(bind), now);
    }

    fn run(mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(MAX_CONNS + 2);
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            self.apply_pending(now);
            if self.retry_at.is_some_and(|t| now >= t) {
                self.bound(listen(self.bind), now);
            }
            if self.accept_paused.is_some_and(|t| now >= t) {
                self.accept_paused = None;
            }
            for line in self.refusals.flush(now) {
                log::warn!("{line}");
            }

            fds.clear();
            fds.push(pollin(self.woken.as_raw_fd()));
            let listening = match &self.listener {
                Some(l) if self.accept_paused.is_none() => {
                    fds.push(pollin(l.as_raw_fd()));
                    true
                }
                _ => false,
            };
            let first_conn = fds.len();
            self.conns.pollfds(&mut fds);
            let wake_at = [
                self.conns.next_deadline(),
                self.retry_at,
                self.accept_paused,
                self.refusals.next_flush(),
            ]
            .into_iter()
            .flatten()
            .min();
            if let Err(e) = poll(&mut fds, wake_at) {
                log::warn!("connection request server: poll: {e}");
                std::thread::sleep(ACCEPT_PAUSE);
                continue;
            }
            let now = Instant::now();
            if fds[0].revents != 0 {
                let mut sink = [0u8; 64];
                while matches!((&self.woken).read(&mut sink), Ok(n) if n > 0) {}
            }
            // Connections first: the pollfds are in their order, which accepting changes.
            let revents: Vec<libc::c_short> = fds[first_conn..].iter().map(|f| f.revents).collect();
            let (auth, refusals) = (&mut self.auth, &mut self.refusals);
            let accepted = self.conns.service(&revents, now, &mut |peer, r| {
                decide(auth, refusals, peer, r)
            });
            for peer in accepted {
                log::info!("connection request accepted from {peer}");
                if !self.events.send(ConnReqEvent::Accepted { peer }) {
                    log::error!("main loop gone: connection request dropped");
                }
            }
            if listening && fds[1].revents != 0 {
                self.accept_all(now);
            }
        }
    }

    /// Accepts what is waiting, at most one slot table's worth per turn so the clients
    /// already in get served in between.
    fn accept_all(&mut self, now: Instant) {
        let Some(l) = &self.listener else {
            return;
        };
        for _ in 0..MAX_CONNS {
            match l.accept() {
                Ok((stream, peer)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    // As IPv4 when it is (dual-stack socket): for the logs and the limits.
                    let peer = canonical(peer.ip());
                    let timeout = self.auth.settings().head_timeout;
                    if let Some(out) = self.conns.add(stream, peer, now, timeout) {
                        log::debug!("connection request server full: closed a client of {out}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    log::warn!("connection request server: accept: {e}");
                    self.accept_paused = Some(now + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }
}

/// The answer to what a client sent; logs refused credentials (rate-limited).
fn decide(auth: &mut CrAuth, refusals: &mut Refusals, peer: IpAddr, r: Received) -> Answer {
    let now = Instant::now();
    let (checked, line) = match r {
        Ok(req) => (
            auth.check_request(
                &CrRequest {
                    method: &req.method,
                    path_with_query: &req.target,
                    authorization: req.authorization.as_deref(),
                    peer,
                },
                now,
            ),
            format!("{} {}", req.method, req.target),
        ),
        Err(e) => {
            let code = if e == HeadError::TooLarge { 431 } else { 400 };
            (CrDecision::Reject(code).into(), format!("{e:?} request"))
        }
    };
    if let Some(user) = &checked.refused_user {
        for l in refusals.refused(peer, user, now) {
            log::warn!("{l}");
        }
    }
    {
        use crate::metrics::{cr_accepted, cr_refused, http_refusal, Via};
        match &checked.decision {
            CrDecision::Accept => cr_accepted(Via::Http),
            CrDecision::Reject(code) => cr_refused(Via::Http, http_refusal(*code)),
            // A first 401 is the normal start of Digest; a refused credential is a refusal.
            CrDecision::Challenge { .. } if checked.refused_user.is_some() => {
                cr_refused(Via::Http, http_refusal(401))
            }
            CrDecision::Challenge { .. } => {}
        }
    }
    let head = head::response(&checked.decision);
    log::debug!(
        "connection request from {peer}: {line} => {}",
        head.lines().next().unwrap_or_default()
    );
    Answer {
        bytes: head.into_bytes(),
        accepted: checked.decision == CrDecision::Accept,
    }
}

fn pollin(fd: libc::c_int) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Waits until a descriptor is ready or `until` (forever when `None`). An interrupted wait
/// counts as a wake-up with nothing ready.
fn poll(fds: &mut [libc::pollfd], until: Option<Instant>) -> io::Result<()> {
    let timeout = until.map_or(-1, |t| {
        // Rounded up: waking a little early would only loop back to wait the rest.
        let d = t.saturating_duration_since(Instant::now());
        d.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
    });
    // SAFETY: `fds` is a live slice of initialised pollfd structures, and its length is
    // passed with it.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
        fds.iter_mut().for_each(|f| f.revents = 0);
    }
    Ok(())
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "server_load_tests.rs"]
mod load_tests;
