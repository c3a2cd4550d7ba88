//! The `stun` thread: one UDP socket on the connection-request port that keeps the NAT
//! binding open toward the STUN server ([`Keepalive`]), publishes the mapped address
//! ([`status`]), and takes UDP connection requests ([`UdpCrAuth`]) on the same socket, sending
//! [`ConnReqEvent::Accepted`] for each valid one: the same event the HTTP server sends.
//!
//! The thread reads the config file itself when the agent nudges it (after a reload, and when
//! the file watcher saw the file change) and, as a safety net, once a minute; it re-reads only
//! a changed file. Enabling STUN or changing the server or the CR credentials by SPV, UCI or
//! `icwmpd -c set` thus needs no settings plumbed through the agent, and an idle thread wakes
//! for nothing else; with `stun_enable` off it holds no socket.

use crate::config::follow::ConfigFollower;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::keepalive::{interval, Keepalive, Outcome};
use super::message::{self, Response, TxId};
use super::status::{self, StunStatus};
use super::udp_cr::{Refusal, UdpCrAuth, MAX_MESSAGE};
use super::varstate;
use crate::config::stun_legacy::Legacy;
use crate::config::Config;
use crate::conn_req::ratelimit::{Limits, SharedLimiter};
use crate::conn_req::ConnReqEvent;
use crate::inbox::Inbox;
use crate::wake::{Control, ControlHandle};

/// How often the config file is looked at without a nudge: the agent nudges the thread when
/// it reloads and when the file changes (inotify), so this is only a safety net.
const CONFIG_CHECK: Duration = Duration::from_secs(60);
/// Pause before trying again to resolve the server or bind the port.
const OPEN_RETRY: Duration = Duration::from_secs(5);

/// What the socket depends on: a change rebinds.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Link {
    server: String,
    server_port: u16,
    username: String,
    password: String,
    interval: Duration,
    port: u16,
}

/// The settings of one config reading; `link` is `None` when STUN is off.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Settings {
    link: Option<Link>,
    cr_username: String,
    cr_password: String,
    /// Where the results also go as UCI state: the state directory and the C-era config
    /// whose plugins read them (`None`: no such config next to `cwmp`).
    varstate: Option<(PathBuf, Legacy)>,
}

impl Settings {
    fn from_config(c: &Config) -> Settings {
        let s = &c.stun;
        let server = if s.server_address.is_empty() {
            // TR-069: an empty STUNServerAddress means the ACS's host.
            crate::http::url::Url::parse(c.acs.effective_url())
                .map(|u| u.host().trim_matches(['[', ']']).to_string())
                .unwrap_or_default()
        } else {
            s.server_address.clone()
        };
        Settings {
            link: s.enable.then(|| Link {
                server,
                server_port: s.server_port,
                username: s.username.clone(),
                password: s.password.clone(),
                interval: interval(s.min_keepalive, s.max_keepalive),
                port: if s.client_port == 0 {
                    c.cpe.port
                } else {
                    s.client_port
                },
            }),
            cr_username: c.cpe.userid.clone(),
            cr_password: c.cpe.passwd.clone(),
            varstate: s.legacy.map(|l| (PathBuf::from(&s.varstate_dir), l)),
        }
    }
}

/// A running `stun` thread; stops and joins it on drop.
pub struct StunClient {
    /// Dropped to stop the thread (its end then polls readable, EOF, waking it at once);
    /// nudged to make it look at the config.
    control: Option<ControlHandle>,
    thread: Option<JoinHandle<()>>,
}

impl StunClient {
    /// Starts the thread following `config_path`, publishing under `state_dir` and sending
    /// accepted connection requests to `events`. UDP connection requests draw on `limiter`,
    /// the HTTP server's rate limits (its defaults when `None`: no HTTP server runs).
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(
        config_path: &Path,
        state_dir: &Path,
        events: Inbox<ConnReqEvent>,
        limiter: Option<SharedLimiter>,
    ) -> io::Result<StunClient> {
        let (control, control_rx) = crate::wake::control()?;
        let mut worker = Worker {
            config: ConfigFollower::new(config_path),
            config_path: config_path.to_path_buf(),
            published: None,
            state_dir: state_dir.to_path_buf(),
            events,
            control: control_rx,
            settings: None,
            bound: None,
            next_open: Instant::now(),
            auth: UdpCrAuth::new(),
            limiter: limiter.unwrap_or_else(|| SharedLimiter::new(LIMITS, Instant::now())),
        };
        status::clear(state_dir);
        let thread = std::thread::Builder::new()
            .name("stun".into())
            .stack_size(128 * 1024)
            .spawn(move || worker.run())?;
        Ok(StunClient {
            control: Some(control),
            thread: Some(thread),
        })
    }
}

impl StunClient {
    /// Makes the thread look at the config file now (it re-reads it if it changed).
    pub fn nudge(&self) {
        if let Some(c) = &self.control {
            c.nudge();
        }
    }
}

impl Drop for StunClient {
    fn drop(&mut self) {
        self.control = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Per-source and global limits on UDP connection requests when no HTTP server shares its
/// own (the HTTP server's defaults).
const LIMITS: Limits = Limits {
    capacity: crate::conn_req::ratelimit::DEFAULT_CAPACITY,
    refill_per_sec: crate::conn_req::ratelimit::DEFAULT_REFILL_PER_SEC,
    source_capacity: crate::conn_req::ratelimit::DEFAULT_SOURCE_CAPACITY,
    source_refill_per_sec: crate::conn_req::ratelimit::DEFAULT_SOURCE_REFILL_PER_SEC,
};

struct Bound {
    socket: UdpSocket,
    server: SocketAddr,
    local: Option<SocketAddr>,
    keepalive: Keepalive,
    link: Link,
}

struct Worker {
    config: ConfigFollower,
    /// The `cwmp` file (the C-era STUN configs are next to it).
    config_path: PathBuf,
    /// What the UCI state holds now, to write it only when it changes.
    published: Option<StunStatus>,
    state_dir: PathBuf,
    events: Inbox<ConnReqEvent>,
    control: Control,
    settings: Option<Settings>,
    bound: Option<Bound>,
    next_open: Instant,
    auth: UdpCrAuth,
    limiter: SharedLimiter,
}

fn new_txid() -> TxId {
    let mut t = [0u8; 12];
    if crate::crypto::random_bytes(&mut t).is_err() {
        // Only uniqueness matters for matching answers; the clock gives enough of it.
        let n = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        t.copy_from_slice(&n.to_be_bytes()[4..]);
    }
    t
}

impl Worker {
    fn run(&mut self) {
        let mut next_check = Instant::now();
        while !self.stopped() {
            if self.control.take_nudge() || Instant::now() >= next_check {
                next_check = Instant::now() + CONFIG_CHECK;
                self.check_config();
            }
            // Taken after the check, which may have made a new socket due at once.
            let now = Instant::now();
            if self.bound.is_none() && now >= self.next_open {
                self.open(now);
            }
            let mut wake = next_check;
            if self.bound.is_none() && self.settings.as_ref().is_some_and(|s| s.link.is_some()) {
                wake = wake.min(self.next_open);
            }
            if let Some(b) = &mut self.bound {
                if let Some(mut req) = b.keepalive.poll(now, new_txid()) {
                    if b.keepalive.use_integrity() {
                        req.credentials = Some((&b.link.username, &b.link.password));
                    }
                    let bytes = message::encode_request(&req);
                    if let Err(e) = b.socket.send_to(&bytes, b.server) {
                        log::debug!("STUN: binding request to {} not sent: {e}", b.server);
                    }
                }
                wake = wake.min(b.keepalive.next_wake());
            }
            self.receive(wake);
        }
        self.publish(None);
    }

    /// Publishes what was learnt (`None`: withdraws it): the status file the data model
    /// reads, and the UCI state the C-era plugins read when a C-era config is in use.
    fn publish(&mut self, st: Option<StunStatus>) {
        match &st {
            Some(st) => {
                if let Err(e) = status::write(&self.state_dir, st) {
                    log::warn!("STUN: status not saved: {e}");
                }
            }
            None => status::clear(&self.state_dir),
        }
        let target = self.settings.as_ref().and_then(|s| s.varstate.clone());
        if let Some((dir, legacy)) = target {
            if st != self.published || st.is_none() {
                if let Err(e) = varstate::write(&dir, &self.config_path, legacy, st.as_ref()) {
                    log::warn!("STUN: UCI state not saved in {}: {e}", dir.display());
                }
            }
        }
        self.published = st;
    }

    fn stopped(&mut self) -> bool {
        self.wait(Duration::ZERO).0
    }

    /// Sleeps up to `wait` on the stop socket and the UDP socket, if any; returns (stop
    /// requested, datagram waiting).
    fn wait(&mut self, wait: Duration) -> (bool, bool) {
        let sock = self.bound.as_ref().map(|b| b.socket.as_raw_fd());
        self.control.wait(sock, wait)
    }

    /// Re-reads the config when the file changed; rebinds when the STUN link changed.
    fn check_config(&mut self) {
        let Some(config) = self.config.changed() else {
            return;
        };
        let new = Settings::from_config(&config);
        let old_link = self.settings.as_ref().and_then(|s| s.link.clone());
        let old_varstate = self.settings.as_ref().and_then(|s| s.varstate.clone());
        if new.varstate != old_varstate && old_varstate.is_some() {
            // The C-era config went away or the state moved: withdraw what the old one holds.
            self.publish(None);
        }
        if new.link != old_link || new.varstate != old_varstate {
            if self.bound.take().is_some() {
                log::info!("STUN: settings changed, rebinding");
            }
            self.settings = Some(new);
            // Also what an earlier run left in a C-era config's state: nothing is known yet.
            self.publish(None);
            self.next_open = Instant::now();
        } else {
            self.settings = Some(new);
        }
    }

    fn open(&mut self, now: Instant) {
        let Some(link) = self.settings.as_ref().and_then(|s| s.link.clone()) else {
            self.next_open = now + Duration::from_secs(3600);
            return;
        };
        self.next_open = now + OPEN_RETRY;
        match bind(&link) {
            Ok((socket, server, local)) => {
                log::info!(
                    "STUN: UDP connection requests on port {}, binding toward {server}",
                    link.port
                );
                self.bound = Some(Bound {
                    socket,
                    server,
                    local,
                    keepalive: Keepalive::new(link.interval, !link.username.is_empty(), now),
                    link,
                });
            }
            Err(e) => log::warn!(
                "STUN: cannot use server {}:{} on local port {}: {e}",
                link.server,
                link.server_port,
                link.port
            ),
        }
    }

    /// Waits until `wake` for a datagram and handles it.
    fn receive(&mut self, wake: Instant) {
        let wait = wake.saturating_duration_since(Instant::now());
        if !self.wait(wait).1 {
            return;
        }
        let Some(b) = &mut self.bound else {
            return;
        };
        let mut buf = [0u8; MAX_MESSAGE + 1];
        let (n, from) = match b.socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(_) => return,
        };
        let data = &buf[..n];
        if message::is_stun(data) {
            if from != b.server {
                return;
            }
            let Some(txid) = message::txid(data) else {
                return;
            };
            match message::decode_response(data) {
                Ok(resp) => {
                    if let Response::Error(code) = resp {
                        log::warn!("STUN: server {from} answered error {code}");
                    }
                    if let Outcome::Mapped(addr) =
                        b.keepalive.on_response(txid, &resp, Instant::now())
                    {
                        let st = StunStatus::new(addr, b.local);
                        log::info!(
                            "STUN: UDPConnectionRequestAddress {} (NAT detected: {})",
                            st.address,
                            st.nat_detected
                        );
                        self.publish(Some(st));
                    }
                }
                Err(e) => log::debug!("STUN: unusable message from {from}: {e:?}"),
            }
            return;
        }
        self.on_conn_req(data, from.ip());
    }

    fn on_conn_req(&mut self, data: &[u8], peer: IpAddr) {
        let now = Instant::now();
        if self.limiter.admit(peer, now).is_err() {
            crate::metrics::cr_refused(crate::metrics::Via::Udp, "rate_limited");
            log::debug!("UDP connection request from {peer} dropped: rate limit");
            return;
        }
        let Some(s) = &self.settings else { return };
        match self.auth.check(
            data,
            crate::time::now_unix(),
            &s.cr_username,
            &s.cr_password,
        ) {
            Ok(()) => {
                crate::metrics::cr_accepted(crate::metrics::Via::Udp);
                self.limiter.succeeded(peer, now);
                log::info!("UDP connection request from {peer} accepted");
                self.events.send(ConnReqEvent::Accepted { peer });
            }
            // The ACS sends each message about three times: its copies are routine.
            Err(r @ Refusal::Replayed) => {
                crate::metrics::cr_refused(
                    crate::metrics::Via::Udp,
                    crate::metrics::udp_refusal(&r),
                );
                log::info!("UDP connection request from {peer} refused: {r}")
            }
            Err(r) => {
                crate::metrics::cr_refused(
                    crate::metrics::Via::Udp,
                    crate::metrics::udp_refusal(&r),
                );
                self.limiter.failed(peer, now);
                log::warn!("UDP connection request from {peer} refused: {r}");
            }
        }
    }
}

/// Resolves the server and binds the local port in its address family; also finds the
/// local address the server is reached from (for NAT detection).
fn bind(link: &Link) -> io::Result<(UdpSocket, SocketAddr, Option<SocketAddr>)> {
    if link.server.is_empty() {
        return Err(io::Error::other("no STUN server (and no ACS URL host)"));
    }
    let server = (link.server.as_str(), link.server_port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other("the server name has no address"))?;
    let any: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = UdpSocket::bind((any, link.port))?;
    // Read only after poll(2) said so; never block the thread on a spurious wake-up.
    socket.set_nonblocking(true)?;
    let local = UdpSocket::bind((any, 0))
        .and_then(|probe| {
            probe.connect(server)?;
            probe.local_addr()
        })
        .ok()
        .map(|a| SocketAddr::new(a.ip(), link.port));
    Ok((socket, server, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cpe: &str) -> Settings {
        let text = format!(
            "config acs 'acs'\n\toption url 'http://acs.example:7547/cwmp'\n\
             config cpe 'cpe'\n\toption port '7600'\n\toption userid 'u'\n\toption passwd 'p'\n{cpe}"
        );
        let (c, _) = Config::from_str(&text, "test").unwrap();
        Settings::from_config(&c)
    }

    #[test]
    fn settings_from_the_config() {
        assert_eq!(settings("").link, None, "off by default");
        let s = settings("\toption stun_enable '1'\n");
        let link = s.link.unwrap();
        assert_eq!(link.server, "acs.example", "empty address: the ACS host");
        assert_eq!(link.server_port, 3478);
        assert_eq!(link.port, 7600, "the CR port");
        assert_eq!(link.interval, DEFAULT_INTERVAL_FOR_TEST);
        assert_eq!((s.cr_username.as_str(), s.cr_password.as_str()), ("u", "p"));
        let s = settings(
            "\toption stun_enable '1'\n\toption stun_server_address ' 192.0.2.9 '\n\
             \toption stun_server_port '3479'\n\toption stun_client_port '7601'\n\
             \toption stun_max_keepalive '10'\n\toption stun_min_keepalive '5'\n",
        );
        let link = s.link.unwrap();
        assert_eq!(
            (link.server.as_str(), link.server_port, link.port),
            ("192.0.2.9", 3479, 7601)
        );
        assert_eq!(link.interval, Duration::from_secs(10));
        // Out of range values fall back to the defaults.
        let s = settings("\toption stun_enable '1'\n\toption stun_server_port '70000'\n");
        assert_eq!(s.link.unwrap().server_port, 3478);
    }

    const DEFAULT_INTERVAL_FOR_TEST: Duration = super::super::keepalive::DEFAULT_INTERVAL;

    #[test]
    fn stops_promptly_while_idle() {
        let dir = std::env::temp_dir().join(format!("icwmp-stun-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (inbox, _rx) = Inbox::channel();
        let c = StunClient::start(&dir.join("missing-config"), &dir, inbox, None).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        drop(c);
        // Generous: the idle thread waits in poll(2) on the stop socket, not on a timer.
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A STUN client started on a config pointing at a local "server" socket of the test.
    struct Bound {
        client: StunClient,
        rx: crossbeam_channel::Receiver<ConnReqEvent>,
        server: UdpSocket,
        /// The client's UDP port.
        port: u16,
        dir: PathBuf,
    }

    impl Bound {
        fn start(tag: &str, extra: &str, limiter: Option<SharedLimiter>) -> Bound {
            let dir = std::env::temp_dir().join(format!("icwmp-stun-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let server = UdpSocket::bind("127.0.0.1:0").unwrap();
            server
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let port = UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .unwrap()
                .port();
            let cfg = format!(
                "config cpe 'cpe'\n{extra}\toption stun_enable '1'\n\
                 \toption stun_server_address '127.0.0.1'\n\toption stun_server_port '{}'\n\
                 \toption stun_client_port '{port}'\n",
                server.local_addr().unwrap().port()
            );
            std::fs::write(dir.join("cwmp"), cfg).unwrap();
            let (inbox, rx) = Inbox::channel();
            let client = StunClient::start(&dir.join("cwmp"), &dir, inbox, limiter).unwrap();
            Bound {
                client,
                rx,
                server,
                port,
                dir,
            }
        }
    }

    #[test]
    fn binds_sends_and_stops_promptly_while_bound() {
        let b = Bound::start("bound", "", None);
        let (c, server, port, dir) = (b.client, b.server, b.port, b.dir);
        let mut buf = [0u8; 512];
        let (n, from) = server.recv_from(&mut buf).expect("a binding request");
        assert!(message::is_stun(&buf[..n]));
        assert_eq!(from.port(), port);
        let t = Instant::now();
        drop(c);
        // Generous: the bound thread also waits in poll(2) on the stop socket.
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
        // The port is free again.
        assert!(UdpSocket::bind(("0.0.0.0", port)).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A UDP connection request from the ACS for user `u`, password `p`.
    fn signed_cr(id: u32) -> Vec<u8> {
        let ts = crate::time::now_unix();
        let text = format!("{ts}{id}ucn{id}");
        let sig: String = crate::crypto::hmac_sha1(b"p", text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("GET http://127.0.0.1?ts={ts}&id={id}&un=u&cn=cn{id}&sig={sig} HTTP/1.1\r\n\r\n")
            .into_bytes()
    }

    #[test]
    fn udp_requests_draw_on_the_http_servers_limiter() {
        // The HTTP server refused a wrong password from 127.0.0.1: its budget is spent.
        let tight = Limits {
            source_capacity: 1,
            ..LIMITS
        };
        let limiter = SharedLimiter::new(tight, Instant::now());
        let local: IpAddr = Ipv4Addr::LOCALHOST.into();
        limiter.admit(local, Instant::now()).unwrap();
        limiter.failed(local, Instant::now());
        let creds = "\toption userid 'u'\n\toption passwd 'p'\n";
        let b = Bound::start("shared", creds, Some(limiter.clone()));
        let (c, rx, server, port, dir) = (b.client, b.rx, b.server, b.port, b.dir);
        let mut buf = [0u8; 512];
        server.recv_from(&mut buf).expect("a binding request");
        let acs = UdpSocket::bind("127.0.0.1:0").unwrap();
        acs.send_to(&signed_cr(1), ("127.0.0.1", port)).unwrap();
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "a valid UDP request from a source over its HTTP budget was let through"
        );
        // Fresh buckets (the limits changed): the same source is heard again.
        limiter.set_limits(LIMITS, Instant::now());
        acs.send_to(&signed_cr(2), ("127.0.0.1", port)).unwrap();
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(ConnReqEvent::Accepted { .. })
        ));
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
