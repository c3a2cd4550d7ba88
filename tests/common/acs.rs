//! A scripted ACS on 127.0.0.1 (HTTP or HTTPS, no auth, Basic or Digest) that records every
//! message the CPE sends.
//!
//! Per session: the Inform gets an InformResponse (ID echoed, `Set-Cookie: session=<n>`);
//! CPE requests (GetRPCMethods, TransferComplete...) get their response; every other POST
//! (empty POST, a response or fault to our last request) gets the next scripted request, or
//! 204 when the script is empty, which ends the session.

use super::digest;
pub use super::msg::Msg;
use super::pki::Pki;
use super::soap;
use super::xml;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tiny_http::{Header, Response, Server};

/// How the ACS authenticates the CPE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// Every POST accepted.
    None,
    /// `Authorization: Basic` required on every POST.
    Basic,
    /// Digest MD5 qop=auth required on every POST; nc must grow per nonce.
    Digest,
}

/// Credentials and transport of an ACS.
#[derive(Clone, Debug)]
pub struct AcsOpts {
    /// Authentication scheme.
    pub auth: Auth,
    /// Expected username.
    pub user: String,
    /// Expected password.
    pub pass: String,
    /// Serve HTTPS with this certificate.
    pub tls: Option<Pki>,
    /// Start answering 503 (see [`Acs::set_unavailable`]).
    pub unavailable: bool,
}

impl Default for AcsOpts {
    fn default() -> Self {
        AcsOpts {
            auth: Auth::None,
            user: "acsuser".into(),
            pass: "acspass".into(),
            tls: None,
            unavailable: false,
        }
    }
}

/// One entry of the ACS script.
#[derive(Clone, Debug)]
enum Script {
    /// A body element, wrapped in an envelope with a fresh ID.
    Rpc(String),
    /// A whole envelope sent as is.
    Raw(String),
    /// End the session (204) and answer 503 from then on.
    GoDown,
    /// Hold the CPE's POST this long before answering it with what comes next.
    Pause(Duration),
}

#[derive(Default)]
struct State {
    unavailable: bool,
    script: VecDeque<Script>,
    msgs: Vec<Msg>,
    session: u32,
    ns: String,
    next_id: u32,
    /// The scripted request in flight: (cwmp:ID, method).
    pending: Option<(String, String)>,
    /// Digest nonces we issued and the last nc seen for each.
    nonces: HashMap<String, u32>,
    /// 401 answers sent.
    challenges: u32,
    /// Authorization headers that were present but wrong (bad password, replayed nc...).
    auth_failures: u32,
    /// POSTs answered 503 while unavailable.
    refused: u32,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    opts: AcsOpts,
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The scripted ACS. Dropping it stops the server.
pub struct Acs {
    shared: Arc<Shared>,
    port: u16,
    running: Mutex<Option<Running>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A test that panicked while holding the lock leaves consistent data behind.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Acs {
    /// Starts an ACS on a free port of 127.0.0.1.
    pub fn start(opts: AcsOpts) -> Acs {
        let state = State {
            unavailable: opts.unavailable,
            ..State::default()
        };
        let acs = Acs {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                cv: Condvar::new(),
                opts,
            }),
            port: 0,
            running: Mutex::new(None),
        };
        acs.listen(0)
    }

    fn listen(mut self, port: u16) -> Acs {
        let p = self.bind(port);
        self.port = p;
        self
    }

    /// Binds the listener (port 0: any) and starts the serving thread; returns the port.
    fn bind(&self, port: u16) -> u16 {
        let addr = format!("127.0.0.1:{port}");
        let server = match &self.shared.opts.tls {
            Some(pki) => Server::https(
                &addr,
                tiny_http::SslConfig {
                    certificate: pki.cert.clone(),
                    private_key: pki.key.clone(),
                },
            ),
            None => Server::http(&addr),
        }
        .unwrap_or_else(|e| panic!("ACS cannot listen on {addr}: {e}"));
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .expect("ACS listens on an IP address");
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stop2) = (self.shared.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match server.recv_timeout(Duration::from_millis(50)) {
                    Ok(Some(rq)) => serve(&shared, rq),
                    Ok(None) => {}
                    Err(_) => break,
                }
            }
        });
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(Running { stop, thread });
        port
    }

    /// The ACS URL (`http[s]://127.0.0.1:<port>/acs`).
    pub fn url(&self) -> String {
        let scheme = if self.shared.opts.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/acs", self.port)
    }

    /// The port the ACS listens on (kept across `close`/`open`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Queues a request body element (from [`soap`] builders) for the CPE.
    pub fn push(&self, rpc: String) {
        lock(&self.shared.state).script.push_back(Script::Rpc(rpc));
    }

    /// Queues a whole envelope, sent unchanged.
    pub fn push_raw(&self, envelope: String) {
        lock(&self.shared.state)
            .script
            .push_back(Script::Raw(envelope));
    }

    /// Queues the end of the session after which the ACS answers 503 (until
    /// `set_unavailable(false)`).
    pub fn push_go_down(&self) {
        lock(&self.shared.state).script.push_back(Script::GoDown);
    }

    /// Queues a pause: the ACS holds the CPE's next POST for `d` before answering it.
    pub fn push_pause(&self, d: Duration) {
        lock(&self.shared.state).script.push_back(Script::Pause(d));
    }

    /// Scripted requests not sent yet.
    pub fn script_len(&self) -> usize {
        lock(&self.shared.state).script.len()
    }

    /// Answers every POST with 503 (true) or serves normally (false).
    pub fn set_unavailable(&self, down: bool) {
        lock(&self.shared.state).unavailable = down;
    }

    /// Closes the listener: connections are refused until [`Acs::open`].
    pub fn close(&self) {
        let r = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(r) = r {
            r.stop.store(true, Ordering::Relaxed);
            let _ = r.thread.join();
            // tiny_http's accept thread drops the listener a moment after the server is
            // dropped; wait until connections are really refused.
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Listens again on the same port after [`Acs::close`].
    pub fn open(&self) {
        self.close();
        self.bind(self.port);
    }

    /// Every accepted message so far.
    pub fn msgs(&self) -> Vec<Msg> {
        lock(&self.shared.state).msgs.clone()
    }

    /// Counters: (401 challenges sent, wrong credentials seen, POSTs refused with 503).
    pub fn counters(&self) -> (u32, u32, u32) {
        let s = lock(&self.shared.state);
        (s.challenges, s.auth_failures, s.refused)
    }

    /// Waits until `pred` holds over the message log; Err(report) after `timeout`.
    pub fn wait_for<F: Fn(&[Msg]) -> bool>(
        &self,
        timeout: Duration,
        pred: F,
    ) -> Result<Vec<Msg>, String> {
        self.wait_state(timeout, |s| pred(&s.msgs))
    }

    /// Waits until the script is used up and the last message got 204 (its session ended).
    pub fn wait_idle(&self, timeout: Duration) -> Result<Vec<Msg>, String> {
        self.wait_state(timeout, |s| {
            s.script.is_empty()
                && s.pending.is_none()
                && s.msgs.last().is_some_and(|m| m.reply == 204)
        })
    }

    fn wait_state<F: Fn(&State) -> bool>(
        &self,
        timeout: Duration,
        pred: F,
    ) -> Result<Vec<Msg>, String> {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.shared.state);
        loop {
            if pred(&s) {
                return Ok(s.msgs.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.report(&s));
            }
            s = self
                .shared
                .cv
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn report(&self, s: &State) -> String {
        let mut r = format!(
            "ACS log ({} messages, {} challenges, {} auth failures, {} refused, {} scripted left):\n",
            s.msgs.len(),
            s.challenges,
            s.auth_failures,
            s.refused,
            s.script.len()
        );
        for (i, m) in s.msgs.iter().enumerate() {
            r.push_str(&format!("  #{i} {}\n", m.summary()));
        }
        r
    }
}

impl Drop for Acs {
    fn drop(&mut self) {
        self.close();
    }
}

/// Methods the CPE may call on the ACS.
const CPE_REQUESTS: [&str; 7] = [
    "GetRPCMethods",
    "TransferComplete",
    "AutonomousTransferComplete",
    "DUStateChangeComplete",
    "AutonomousDUStateChangeComplete",
    "RequestDownload",
    "Kicked",
];

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn read_body(rq: &mut tiny_http::Request, headers: &[(String, String)]) -> String {
    let mut raw = Vec::new();
    let _ = rq.as_reader().read_to_end(&mut raw);
    let enc = headers
        .iter()
        .find(|(k, _)| k == "content-encoding")
        .map(|(_, v)| v.to_ascii_lowercase());
    let mut out = Vec::new();
    let decoded = match enc.as_deref() {
        Some("gzip") => flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .is_ok(),
        Some("deflate") => flate2::read::ZlibDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .is_ok(),
        _ => false,
    };
    String::from_utf8_lossy(if decoded { &out } else { &raw }).into_owned()
}

/// Checks the Authorization header; Err(true) when credentials were present but wrong.
fn check_auth(s: &mut State, opts: &AcsOpts, uri: &str, auth: Option<&str>) -> Result<(), bool> {
    match opts.auth {
        Auth::None => Ok(()),
        Auth::Basic => {
            let want =
                openssl::base64::encode_block(format!("{}:{}", opts.user, opts.pass).as_bytes());
            match auth {
                Some(a) if a.trim() == format!("Basic {want}") => Ok(()),
                Some(_) => Err(true),
                None => Err(false),
            }
        }
        Auth::Digest => {
            let Some(p) = auth.and_then(digest::parse_params) else {
                return Err(auth.is_some());
            };
            let get = |k: &str| digest::param(&p, k).unwrap_or("").to_string();
            let nonce = get("nonce");
            let nc = u32::from_str_radix(&get("nc"), 16).unwrap_or(0);
            let Some(last) = s.nonces.get(&nonce).copied() else {
                return Err(false); // unknown or stale nonce: challenge again
            };
            let want = digest::response(
                &opts.user,
                "acs@icwmp-test",
                &opts.pass,
                "POST",
                &get("uri"),
                &nonce,
                &get("nc"),
                &get("cnonce"),
            );
            let ok = get("username") == opts.user
                && get("realm") == "acs@icwmp-test"
                && get("qop") == "auth"
                && get("uri") == uri
                && nc > last
                && get("response") == want;
            if ok {
                s.nonces.insert(nonce, nc);
                Ok(())
            } else {
                Err(true)
            }
        }
    }
}

fn challenge(s: &mut State, opts: &AcsOpts) -> Header {
    match opts.auth {
        Auth::Digest => {
            let nonce = digest::random_hex(16);
            s.nonces.insert(nonce.clone(), 0);
            header(
                "WWW-Authenticate",
                &format!(
                    "Digest realm=\"acs@icwmp-test\", qop=\"auth\", algorithm=MD5, \
                     nonce=\"{nonce}\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
                ),
            )
        }
        _ => header("WWW-Authenticate", "Basic realm=\"acs@icwmp-test\""),
    }
}

/// Serves one request (runs on the ACS thread).
fn serve(shared: &Shared, mut rq: tiny_http::Request) {
    let headers: Vec<(String, String)> = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let body = read_body(&mut rq, &headers);
    let url = rq.url().to_string();
    let auth = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    let mut s = lock(&shared.state);
    if s.unavailable {
        s.refused += 1;
        drop(s);
        let _ = rq.respond(Response::from_string("down").with_status_code(503));
        return;
    }
    if let Err(bad) = check_auth(&mut s, &shared.opts, &url, auth.as_deref()) {
        s.challenges += 1;
        s.auth_failures += u32::from(bad);
        let h = challenge(&mut s, &shared.opts);
        drop(s);
        let _ = rq.respond(
            Response::from_string("")
                .with_status_code(401)
                .with_header(h),
        );
        return;
    }
    let parsed = xml::parse(&body).ok();
    let rpc_name = parsed
        .as_ref()
        .and_then(xml::body_child)
        .map(|e| e.name.clone())
        .unwrap_or_default();
    if rpc_name != "Inform" && !CPE_REQUESTS.contains(&rpc_name.as_str()) {
        // The ACS "thinks" before its next request: the session stays open meanwhile.
        while let Some(Script::Pause(d)) = s.script.front().cloned() {
            s.script.pop_front();
            drop(s);
            std::thread::sleep(d);
            s = lock(&shared.state);
        }
    }
    let rpc = parsed.as_ref().and_then(xml::body_child);
    let method = rpc.map(|e| e.name.clone()).unwrap_or_default();
    let id = parsed
        .as_ref()
        .and_then(|d| d.child("Header"))
        .and_then(|h| h.child("ID"))
        .map(|e| e.text.trim().to_string())
        .unwrap_or_default();
    let mut msg = Msg {
        at: Instant::now(),
        wall: std::time::SystemTime::now(),
        session: s.session,
        headers,
        body,
        cookie_ok: false,
        answer_to: None,
        answer_id: None,
        id_echoed: false,
        reply: 200,
    };
    let mut extra = Vec::new();
    let reply: Option<String> = if method == "Inform" {
        s.session += 1;
        s.pending = None;
        s.ns = rpc
            .map(|e| e.ns.clone())
            .unwrap_or_else(|| soap::CWMP_1_2.into());
        msg.session = s.session;
        msg.cookie_ok = true;
        extra.push(header(
            "Set-Cookie",
            &format!("session={}; Path=/", s.session),
        ));
        Some(soap::envelope(&s.ns, &id, &soap::response_to("Inform")))
    } else {
        let want = format!("session={}", s.session);
        msg.cookie_ok = msg
            .header("cookie")
            .is_some_and(|c| c.split(';').any(|kv| kv.trim() == want));
        if !msg.is_empty() && CPE_REQUESTS.contains(&method.as_str()) {
            Some(soap::envelope(&s.ns, &id, &soap::response_to(&method)))
        } else {
            if let Some((pid, pmethod)) = s.pending.take() {
                if !msg.is_empty() {
                    msg.id_echoed = id == pid;
                    msg.answer_to = Some(pmethod);
                    msg.answer_id = Some(pid);
                }
            }
            next_scripted(&mut s)
        }
    };
    msg.reply = if reply.is_some() { 200 } else { 204 };
    s.msgs.push(msg);
    shared.cv.notify_all();
    drop(s);
    let resp = match reply {
        Some(b) => {
            let mut r = Response::from_string(b)
                .with_header(header("Content-Type", "text/xml; charset=\"utf-8\""));
            for h in extra {
                r = r.with_header(h);
            }
            r
        }
        None => Response::from_string("").with_status_code(204),
    };
    let _ = rq.respond(resp);
}

/// Pops the next scripted request as an envelope and remembers what it was.
fn next_scripted(s: &mut State) -> Option<String> {
    let item = s.script.pop_front()?;
    let env = match item {
        Script::Rpc(body) => {
            s.next_id += 1;
            let id = format!("acs-{}", s.next_id);
            let ns = if s.ns.is_empty() {
                soap::CWMP_1_2.to_string()
            } else {
                s.ns.clone()
            };
            soap::envelope(&ns, &id, &body)
        }
        Script::Raw(env) => env,
        Script::GoDown => {
            s.unavailable = true;
            return None;
        }
        // Consumed in `serve` before we get here; a stray one just ends the turn.
        Script::Pause(_) => return None,
    };
    let doc = xml::parse(&env).ok();
    let method = doc
        .as_ref()
        .and_then(xml::body_child)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| "?".into());
    let id = doc
        .as_ref()
        .and_then(|d| d.child("Header"))
        .and_then(|h| h.child("ID"))
        .map(|e| e.text.trim().to_string())
        .unwrap_or_default();
    s.pending = Some((id, method));
    Some(env)
}
