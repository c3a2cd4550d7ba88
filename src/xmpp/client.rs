//! The `xmpp` thread: keeps one XMPP connection (TR-069 Annex K) to the configured server,
//! answers connection-request iqs through [`Session`] and sends [`ConnReqEvent::Accepted`] for
//! each accepted one (the same event the HTTP server sends). Reconnects with the TR-181
//! back-off (ServerRetryInitialInterval × ServerRetryIntervalMultiplier^n, capped at
//! ServerRetryMaxInterval, randomised up to one multiplier step).
//!
//! The servers tried, and their order, follow ServerConnectAlgorithm ([`super::servers`]):
//! every candidate (and each of its addresses) is tried in turn, and only when all fail does
//! the attempt count as one failure for the back-off; each new attempt starts again from
//! the top of the list. The TLS certificate is always checked against the Domain (RFC 6120
//! §13.7.2.1, RFC 6125), never against an SRV target or a table entry.
//!
//! Like the STUN thread it follows the config file itself (when nudged by the agent, and once
//! a minute), so the connection follows SPV and UCI changes without plumbing through the agent. The bound JID
//! (ManagementServer.ConnReqJabberID) is published in `<state_dir>/xmpp_jid`.

use crate::config::follow::ConfigFollower;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openssl::ssl::SslStream;

use super::connreq::ConnReqPolicy;
use super::servers::{self, Algorithm, ServerEntry};
use super::session::{Account, Action, Session};
use crate::config::Config;
use crate::conn_req::ConnReqEvent;
use crate::http::tls::{connector, TlsSettings};
use crate::inbox::Inbox;
use crate::wake::{Control, ControlHandle};

/// How often the config file is looked at without a nudge: the agent nudges the thread when
/// it reloads and when the file changes (inotify), so this is only a safety net.
const CONFIG_CHECK: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bounds a read or write that poll(2) said would not block but TLS needs more for.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// A login that takes longer than this is dropped and retried.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The file under the state dir holding the bound JID (ManagementServer.ConnReqJabberID).
pub const JID_FILE: &str = "xmpp_jid";

/// The published JID of the bound connection (empty when not connected).
pub fn read_jid(state_dir: &Path) -> String {
    std::fs::read_to_string(state_dir.join(JID_FILE))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Everything a connection depends on; a change reconnects.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Link {
    account: Account,
    algorithm: Algorithm,
    servers: Vec<ServerEntry>,
    port: u16,
    keepalive: u32,
    retry: (u32, u32, u32),
    tls: TlsSettings,
}

fn link_of(c: &Config) -> Option<Link> {
    let x = &c.xmpp;
    if !x.enable || x.domain.is_empty() || x.username.is_empty() {
        return None;
    }
    let path = |p: &str| (!p.is_empty()).then(|| PathBuf::from(p));
    Some(Link {
        account: Account {
            username: x.username.clone(),
            domain: x.domain.clone(),
            password: x.password.clone(),
            resource: x.resource.clone(),
            use_tls: x.use_tls,
        },
        algorithm: x.algorithm,
        servers: x.servers.clone(),
        port: x.port,
        keepalive: x.keepalive,
        retry: (x.retry_initial, x.retry_multiplier, x.retry_max),
        // The ACS's trust settings (as for file servers): no client certificate.
        tls: TlsSettings {
            ca_path: path(&c.acs.ssl_capath),
            ca_file: path(&c.acs.ssl_cafile),
            client_cert: None,
            client_key: None,
            insecure: c.acs.insecure_enable,
        },
    })
}

fn policy_of(c: &Config) -> ConnReqPolicy {
    ConnReqPolicy {
        username: c.cpe.userid.clone(),
        password: c.cpe.passwd.clone(),
        allowed_jids: c.xmpp.allowed_jids.clone(),
    }
}

/// The wait before reconnect attempt `n` (0-based): TR-181 XMPP.Connection.{i}.ServerRetry*.
pub fn retry_wait(n: u32, (initial, mult_milli, max): (u32, u32, u32), rand: u32) -> Duration {
    let m = f64::from(mult_milli) / 1000.0;
    let lo = (f64::from(initial) * m.powi(n.min(64) as i32)).min(f64::from(max));
    let hi = (lo * m).min(f64::from(max));
    // `rand` in 0..=u32::MAX picks a point in [lo, hi].
    let secs = lo + (hi - lo) * (f64::from(rand) / f64::from(u32::MAX));
    Duration::from_secs_f64(secs.max(1.0))
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
    fn pending(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.ssl().pending() > 0)
    }
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Tls(s) => s.read(b),
        }
    }
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(b),
            Stream::Tls(s) => s.write_all(b),
        }
    }
}

struct Conn {
    stream: Stream,
    session: Session,
    peer: IpAddr,
    started: Instant,
    last_write: Instant,
}

/// A running `xmpp` thread; stops and joins it on drop.
pub struct XmppClient {
    /// Dropped to stop the thread; nudged to make it look at the config.
    control: Option<ControlHandle>,
    thread: Option<JoinHandle<()>>,
}

impl XmppClient {
    /// Starts the thread following `config_path`, publishing the JID under `state_dir` and
    /// sending accepted connection requests to `events`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(
        config_path: &Path,
        state_dir: &Path,
        events: Inbox<ConnReqEvent>,
    ) -> io::Result<XmppClient> {
        let (control, control_rx) = crate::wake::control()?;
        let mut w = Worker {
            config: ConfigFollower::new(config_path),
            state_dir: state_dir.to_path_buf(),
            events,
            control: control_rx,
            link: None,
            policy: ConnReqPolicy::default(),
            conn: None,
            next_connect: Instant::now(),
            failures: 0,
        };
        w.publish("");
        let thread = std::thread::Builder::new()
            .name("xmpp".into())
            .stack_size(256 * 1024)
            .spawn(move || w.run())?;
        Ok(XmppClient {
            control: Some(control),
            thread: Some(thread),
        })
    }
}

impl XmppClient {
    /// Makes the thread look at the config file now (it re-reads it if it changed).
    pub fn nudge(&self) {
        if let Some(c) = &self.control {
            c.nudge();
        }
    }
}

impl Drop for XmppClient {
    fn drop(&mut self) {
        self.control = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Worker {
    config: ConfigFollower,
    state_dir: PathBuf,
    events: Inbox<ConnReqEvent>,
    control: Control,
    link: Option<Link>,
    policy: ConnReqPolicy,
    conn: Option<Conn>,
    next_connect: Instant,
    failures: u32,
}

impl Worker {
    fn run(&mut self) {
        let mut next_check = Instant::now();
        loop {
            if self.control.take_nudge() || Instant::now() >= next_check {
                next_check = Instant::now() + CONFIG_CHECK;
                self.check_config();
            }
            // Taken after the check, which may have made a connection due at once.
            let now = Instant::now();
            if self.conn.is_none() && self.link.is_some() && now >= self.next_connect {
                if let Err(e) = self.connect() {
                    self.fail(&format!("cannot connect: {e}"));
                }
            }
            let mut wake = next_check;
            if self.conn.is_none() && self.link.is_some() {
                wake = wake.min(self.next_connect);
            }
            if let (Some(c), Some(l)) = (&mut self.conn, &self.link) {
                if l.keepalive > 0 && c.session.ready() {
                    let due = c.last_write + Duration::from_secs(u64::from(l.keepalive));
                    if Instant::now() >= due {
                        c.session.keepalive();
                    }
                    wake = wake.min(due);
                }
                if !c.session.ready() && c.started.elapsed() > LOGIN_TIMEOUT {
                    self.fail("login timed out");
                }
            }
            if let Err(e) = self.flush() {
                self.fail(&format!("write failed: {e}"));
            }
            let (stop, readable) = self.wait(wake.saturating_duration_since(Instant::now()));
            if stop {
                break;
            }
            if readable {
                if let Err(e) = self.read() {
                    self.fail(&e);
                }
            }
        }
        self.publish("");
    }

    fn publish(&self, jid: &str) {
        let path = self.state_dir.join(JID_FILE);
        let r = if jid.is_empty() {
            std::fs::remove_file(&path).or_else(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
        } else {
            crate::store::write_atomic(&path, format!("{jid}\n").as_bytes())
        };
        if let Err(e) = r {
            log::warn!("XMPP: cannot publish the JID in {}: {e}", path.display());
        }
    }

    fn fail(&mut self, why: &str) {
        let was_up = self.conn.take().is_some_and(|c| c.session.ready());
        if was_up {
            self.failures = 0;
            self.publish("");
        }
        let Some(l) = &self.link else { return };
        let mut r = [0u8; 4];
        let _ = crate::crypto::random_bytes(&mut r);
        let wait = retry_wait(self.failures, l.retry, u32::from_ne_bytes(r));
        self.failures = self.failures.saturating_add(1);
        self.next_connect = Instant::now() + wait;
        log::warn!("XMPP: {why}; reconnecting in {} s", wait.as_secs());
    }

    fn check_config(&mut self) {
        let Some(config) = self.config.changed() else {
            return;
        };
        self.policy = policy_of(&config);
        let link = link_of(&config);
        if link != self.link {
            if self.conn.take().is_some() {
                log::info!("XMPP: settings changed, reconnecting");
                self.publish("");
            }
            self.failures = 0;
            self.next_connect = Instant::now();
            self.link = link;
        }
    }

    /// The servers to try now, in order (an SRV lookup first with DNS-SRV).
    fn candidates(&mut self, l: &Link) -> Vec<(String, u16)> {
        let srv = match l.algorithm {
            Algorithm::DnsSrv => {
                servers::lookup_srv(&l.account.domain, &servers::resolv_conf(), &mut || {
                    self.stopped()
                })
            }
            _ => None,
        };
        if l.algorithm == Algorithm::DnsSrv {
            match &srv {
                Some(r) => log::info!("XMPP: {} SRV records for {}", r.len(), l.account.domain),
                None => log::info!(
                    "XMPP: no SRV record for {}, using the domain",
                    l.account.domain
                ),
            }
        }
        let mut rand = |n: u32| {
            let mut r = [0u8; 4];
            let _ = crate::crypto::random_bytes(&mut r);
            let r = u32::from_ne_bytes(r);
            n.checked_add(1).map_or(r, |m| r % m)
        };
        servers::candidates(
            l.algorithm,
            &l.account.domain,
            &l.servers,
            l.port,
            srv.as_deref(),
            &mut rand,
        )
    }

    /// Tries the candidates in order; the first TCP connection made, and the server's name.
    fn open(&mut self, list: &[(String, u16)]) -> Result<(TcpStream, SocketAddr, String), String> {
        let mut errors = Vec::new();
        for (host, port) in list {
            let addrs = match (host.as_str(), *port).to_socket_addrs() {
                Ok(a) => a,
                Err(e) => {
                    log::info!("XMPP: {host}: {e}");
                    errors.push(format!("{host}: {e}"));
                    continue;
                }
            };
            for addr in addrs {
                if self.stopped() {
                    return Err("stopping".into());
                }
                match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                    Ok(tcp) => return Ok((tcp, addr, format!("{host}:{port}"))),
                    Err(e) => {
                        log::info!("XMPP: {host}:{port} ({addr}): {e}");
                        errors.push(format!("{addr}: {e}"));
                    }
                }
            }
        }
        // The first few say enough; the list is bounded anyway (16 entries, 64 SRV records).
        errors.truncate(4);
        Err(match (list.len(), errors.is_empty()) {
            (0, _) => "the domain offers no XMPP service (SRV target \".\")".into(),
            (_, true) => "no address for any server".into(),
            (n, false) => format!("none of {n} servers reachable ({})", errors.join("; ")),
        })
    }

    fn connect(&mut self) -> Result<(), String> {
        let Some(l) = self.link.clone() else {
            return Ok(());
        };
        let list = self.candidates(&l);
        let (tcp, addr, server) = self.open(&list)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|_| tcp.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let mut nonce = [0u8; 18];
        crate::crypto::random_bytes(&mut nonce).map_err(|e| e.to_string())?;
        let cnonce = crate::crypto::base64_encode(&nonce);
        log::info!(
            "XMPP: connected to {addr} ({server}, {}), logging in as {}@{}",
            l.algorithm.as_str(),
            l.account.username,
            l.account.domain
        );
        self.conn = Some(Conn {
            stream: Stream::Plain(tcp),
            session: Session::new(l.account.clone(), &cnonce),
            peer: addr.ip(),
            started: Instant::now(),
            last_write: Instant::now(),
        });
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(c) = &mut self.conn {
            let out = c.session.take_output();
            if !out.is_empty() {
                c.stream.write_all(&out)?;
                c.last_write = Instant::now();
            }
        }
        Ok(())
    }

    fn read(&mut self) -> Result<(), String> {
        let Some(c) = &mut self.conn else {
            return Ok(());
        };
        let mut buf = [0u8; 4096];
        let n = c
            .stream
            .read(&mut buf)
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        let actions = c
            .session
            .receive(&buf[..n], &self.policy)
            .map_err(|e| e.to_string())?;
        for a in actions {
            match a {
                Action::StartTls => self.start_tls()?,
                Action::Bound(jid) => {
                    log::info!("XMPP: connection requests accepted as {jid:?}");
                    self.failures = 0;
                    self.publish(&jid);
                }
                Action::ConnReq(from) => {
                    crate::metrics::cr_accepted(crate::metrics::Via::Xmpp);
                    // Debug-quoted: the JID is the peer's text (no log line injection).
                    log::info!("XMPP: connection request from {from:?} accepted");
                    let peer = self
                        .conn
                        .as_ref()
                        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.peer);
                    self.events.send(ConnReqEvent::Accepted { peer });
                }
                Action::Refused { from, reason } => {
                    let why = crate::metrics::xmpp_refusal(reason);
                    crate::metrics::cr_refused(crate::metrics::Via::Xmpp, why);
                    log::warn!("XMPP: connection request from {from:?} refused: {reason}");
                }
            }
        }
        Ok(())
    }

    fn start_tls(&mut self) -> Result<(), String> {
        let (Some(c), Some(l)) = (self.conn.take(), &self.link) else {
            return Ok(());
        };
        let Stream::Plain(tcp) = c.stream else {
            return Err("STARTTLS twice".into());
        };
        let ctx = connector(&l.tls).map_err(|e| e.to_string())?;
        let tls = ctx
            .connect(&l.account.domain, tcp)
            .map_err(|e| format!("TLS handshake with {} failed: {e}", l.account.domain))?;
        let mut session = c.session;
        session.tls_started();
        self.conn = Some(Conn {
            stream: Stream::Tls(Box::new(tls)),
            session,
            ..c
        });
        Ok(())
    }

    /// Sleeps up to `wait` on the stop socket and the connection; (stop, readable).
    fn wait(&mut self, wait: Duration) -> (bool, bool) {
        if self.conn.as_ref().is_some_and(|c| c.stream.pending()) {
            return (self.stopped(), true);
        }
        let sock = self.conn.as_ref().map(|c| c.stream.tcp().as_raw_fd());
        self.control.wait(sock, wait)
    }

    fn stopped(&mut self) -> bool {
        self.control.stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_wait_follows_tr181() {
        let r = (60, 2000, 30720);
        assert_eq!(retry_wait(0, r, 0), Duration::from_secs(60));
        assert_eq!(retry_wait(0, r, u32::MAX), Duration::from_secs(120));
        assert_eq!(retry_wait(3, r, 0), Duration::from_secs(480));
        assert_eq!(retry_wait(20, r, u32::MAX), Duration::from_secs(30720));
        assert_eq!(retry_wait(u32::MAX, r, 7), Duration::from_secs(30720));
        let w = retry_wait(1, r, u32::MAX / 2);
        assert!(
            w > Duration::from_secs(120) && w < Duration::from_secs(240),
            "{w:?}"
        );
    }

    #[test]
    fn config_maps_onto_the_link() {
        let mut c = Config::default();
        assert_eq!(link_of(&c), None, "off by default");
        c.xmpp.enable = true;
        c.xmpp.domain = "x.example".into();
        c.xmpp.username = "cpe".into();
        let l = link_of(&c).unwrap();
        assert_eq!((l.algorithm, l.port), (Algorithm::DnsSrv, 5222));
        assert!(l.servers.is_empty());
        assert!(l.account.use_tls);
        assert_eq!(l.account.resource, "cwmp");
        c.xmpp.servers = servers::parse_servers("10.0.0.1").0;
        c.xmpp.algorithm = Algorithm::ServerTable;
        let l = link_of(&c).unwrap();
        assert_eq!(l.servers[0].host, "10.0.0.1");
        assert_eq!(l.algorithm, Algorithm::ServerTable);
        c.cpe.userid = "u".into();
        c.xmpp.allowed_jids = vec!["acs@x.example".into()];
        let p = policy_of(&c);
        assert_eq!((p.username.as_str(), p.allowed_jids.len()), ("u", 1));
    }

    #[test]
    fn stops_promptly_and_clears_the_jid() {
        let dir = std::env::temp_dir().join(format!("xmpp-stop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(JID_FILE), "stale@x/cwmp\n").unwrap();
        let (inbox, _rx) = Inbox::channel();
        let c = XmppClient::start(&dir.join("none"), &dir, inbox).unwrap();
        assert_eq!(read_jid(&dir), "", "a stale JID is withdrawn at start");
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        drop(c);
        // Generous: the idle thread waits in poll(2) on the stop socket.
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
