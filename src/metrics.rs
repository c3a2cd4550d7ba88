//! Counters an operator can graph: sessions ok/failed by cause, RPCs by name, faults sent by
//! code, SOAP bytes in/out, connection requests accepted/refused by channel and reason,
//! transfers, retries, the last error and its time.
//!
//! [`Metrics`] is one plain struct the main loop updates (a recorder: no I/O) and renders as
//! JSON for ubus `tr069 metrics` and the file `icwmpd -c metrics` prints. Connection requests
//! are decided on other threads (HTTP server, STUN/UDP, XMPP): they count into a small
//! process-wide tally ([`cr_accepted`], [`cr_refused`]) that the main loop copies in; a message
//! per refusal would let a flood of refused requests queue memory in the main loop's channel.
//!
//! Every map is keyed by names from fixed sets (RPC method names the parser knows, fault
//! codes we send, reasons below), so memory stays bounded whatever a peer sends.

use crate::http::HttpError;
use crate::session::SessionError;
use serde_json::{json, Map, Value as Json};
use std::sync::Mutex;

/// Where a connection request arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The HTTP connection-request server.
    Http,
    /// UDP (TR-069 Annex G, through STUN).
    Udp,
    /// XMPP (Annex K).
    Xmpp,
}

impl Via {
    const ALL: [Via; 3] = [Via::Http, Via::Udp, Via::Xmpp];

    fn name(self) -> &'static str {
        match self {
            Via::Http => "http",
            Via::Udp => "udp",
            Via::Xmpp => "xmpp",
        }
    }
}

/// Accepted and refused (by reason) connection requests of one channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CrCounts {
    /// Accepted (a session follows).
    pub accepted: u64,
    /// Refused, by reason (sorted by reason).
    pub refused: Counts<&'static str>,
}

static CR: Mutex<[CrCounts; 3]> = Mutex::new([
    CrCounts {
        accepted: 0,
        refused: Vec::new(),
    },
    CrCounts {
        accepted: 0,
        refused: Vec::new(),
    },
    CrCounts {
        accepted: 0,
        refused: Vec::new(),
    },
]);

fn cr_lock() -> std::sync::MutexGuard<'static, [CrCounts; 3]> {
    // Plain counters: still usable after a panic elsewhere.
    CR.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts an accepted connection request (any thread).
pub fn cr_accepted(via: Via) {
    let mut g = cr_lock();
    let c = &mut g[via as usize];
    c.accepted = c.accepted.saturating_add(1);
}

/// Counts a refused connection request (any thread); `reason` is one of a fixed set.
pub fn cr_refused(via: Via, reason: &'static str) {
    let mut g = cr_lock();
    bump(&mut g[via as usize].refused, reason);
}

/// The reason name of an HTTP connection-request answer status that refuses it.
pub fn http_refusal(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "wrong_credentials",
        403 => "source_not_allowed",
        404 => "wrong_path",
        405 => "bad_method",
        431 => "head_too_large",
        503 => "rate_limited",
        _ => "other",
    }
}

/// The reason name of a refused UDP connection request.
pub fn udp_refusal(r: &crate::stun::udp_cr::Refusal) -> &'static str {
    use crate::stun::udp_cr::Refusal as R;
    match r {
        R::Malformed => "malformed",
        R::NotConfigured => "not_configured",
        R::BadUsername => "wrong_credentials",
        R::BadSignature => "wrong_credentials",
        R::Stale => "stale",
        R::Replayed => "replayed",
    }
}

/// The reason name of a refused XMPP connection request (from the handler's log reason).
pub fn xmpp_refusal(reason: &str) -> &'static str {
    if reason.contains("credentials") {
        "wrong_credentials"
    } else if reason.contains("AllowedJabberIDs") {
        "sender_not_allowed"
    } else {
        "other"
    }
}

/// The cause name of an HTTP failure.
pub fn http_cause(e: &HttpError) -> &'static str {
    match e {
        HttpError::Connect(_) => "connect",
        HttpError::Tls(_) => "tls",
        HttpError::Timeout => "timeout",
        HttpError::Status(_) => "http_status",
        HttpError::AuthFailed => "auth",
        HttpError::TooManyRedirects => "redirects",
        HttpError::Io(_) => "io",
        HttpError::BodyTooLarge => "body_too_large",
        HttpError::BadUrl(_) => "bad_url",
        HttpError::Proxy(_) => "proxy",
    }
}

/// The `connection_requests` member of the metrics.
fn cr_json(counts: &[CrCounts; 3]) -> Json {
    let mut cr = Map::new();
    for via in Via::ALL {
        let c = &counts[via as usize];
        cr.insert(
            via.name().into(),
            json!({
                "accepted": c.accepted,
                "refused": total(&c.refused),
                "refused_by_reason": counts_json(&c.refused),
            }),
        );
    }
    Json::Object(cr)
}

/// `metrics` (a [`Metrics::to_json`] snapshot) with the connection-request counters as they
/// are now: the other threads count those without waking the main loop.
pub fn with_live_connection_requests(metrics: &Json) -> Json {
    let mut m = metrics.clone();
    if let Some(o) = m.as_object_mut() {
        o.insert("connection_requests".into(), cr_json(&cr_lock()));
    }
    m
}

/// The counters (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Daemon start (Unix time).
    pub start_time: i64,
    sessions_ok: u64,
    sessions_failed: Counts<&'static str>,
    /// Failed sessions followed by a retry.
    retries: u64,
    rpcs: Counts<&'static str>,
    faults: Counts<u32>,
    bytes_in: u64,
    bytes_out: u64,
    transfers_ok: u64,
    transfers_failed: u64,
    /// The cause of the current session's last transport error.
    transport_cause: Option<&'static str>,
    last_error: Option<(String, i64)>,
    cr: [CrCounts; 3],
}

/// Counters by key, sorted by key: a few entries each, so a vector (a map would add kilobytes
/// of generic code to the router binary).
pub type Counts<K> = Vec<(K, u64)>;

fn bump<K: Ord>(m: &mut Counts<K>, k: K) {
    match m.binary_search_by(|(x, _)| x.cmp(&k)) {
        Ok(i) => m[i].1 = m[i].1.saturating_add(1),
        Err(i) => m.insert(i, (k, 1)),
    }
}

/// A JSON object of counters. Built by insertion: collecting into a map would add a stable
/// sort per call site to the router binary.
fn counts_json<K: ToString>(m: &Counts<K>) -> Json {
    let mut o = Map::new();
    for (k, n) in m {
        o.insert(k.to_string(), json!(n));
    }
    Json::Object(o)
}

fn total<K>(m: &Counts<K>) -> u64 {
    m.iter().map(|(_, n)| n).sum()
}

impl Metrics {
    /// Counters of a daemon started at `start_time`.
    pub fn new(start_time: i64) -> Metrics {
        Metrics {
            start_time,
            ..Metrics::default()
        }
    }

    /// A session starts.
    pub fn session_start(&mut self) {
        self.transport_cause = None;
    }

    /// A POST of `n` SOAP bytes went out.
    pub fn sent(&mut self, n: usize) {
        self.bytes_out = self.bytes_out.saturating_add(n as u64);
    }

    /// `n` SOAP bytes came in.
    pub fn received(&mut self, n: usize) {
        self.bytes_in = self.bytes_in.saturating_add(n as u64);
    }

    /// An HTTP exchange (or the client's creation) failed.
    pub fn transport_error(&mut self, e: &HttpError) {
        self.transport_cause = Some(http_cause(e));
    }

    /// The ACS sent a `method` request.
    pub fn rpc(&mut self, method: &'static str) {
        bump(&mut self.rpcs, method);
    }

    /// We answered a request with fault `code`.
    pub fn fault(&mut self, code: u32) {
        bump(&mut self.faults, code);
    }

    /// A session completed.
    pub fn session_ok(&mut self) {
        self.sessions_ok = self.sessions_ok.saturating_add(1);
    }

    /// A session failed at `now` with `err` (the session's error when it has one, else
    /// `message` alone: a stall, a client that could not be built).
    pub fn session_failed(&mut self, err: Option<&SessionError>, message: &str, now: i64) {
        let cause = match err {
            Some(SessionError::Transport(_)) | None => self.transport_cause.unwrap_or("protocol"),
            Some(SessionError::HttpStatus(_)) => "http_status",
            Some(SessionError::Malformed(_)) => "malformed",
            Some(SessionError::InformFault(..)) => "inform_fault",
            Some(SessionError::Unexpected { .. }) => "protocol",
        };
        bump(&mut self.sessions_failed, cause);
        self.retries = self.retries.saturating_add(1);
        self.error(message, now);
    }

    /// Records `message` as the last error, at `now`.
    pub fn error(&mut self, message: &str, now: i64) {
        // Bounded: a message quotes at most a little of what a peer sent.
        let m: String = message.chars().take(512).collect();
        self.last_error = Some((m, now));
    }

    /// A transfer completed with `fault` (0: success).
    pub fn transfer(&mut self, fault: u32) {
        if fault == 0 {
            self.transfers_ok = self.transfers_ok.saturating_add(1);
        } else {
            self.transfers_failed = self.transfers_failed.saturating_add(1);
        }
    }

    /// Copies the connection-request tally of the other threads in.
    pub fn sync_connection_requests(&mut self) {
        self.cr = cr_lock().clone();
    }

    /// The counters as JSON; `retry_count` is the current RetryCount, `now` the time of the
    /// snapshot.
    pub fn to_json(&self, retry_count: u32, now: i64) -> Json {
        let t = crate::time::format_datetime_offset;
        let by_name = counts_json::<&'static str>;
        let failed = total(&self.sessions_failed);
        json!({
            "start_time": t(self.start_time),
            "time": t(now),
            "sessions": {
                "ok": self.sessions_ok,
                "failed": failed,
                "failed_by_cause": by_name(&self.sessions_failed),
            },
            "retries": self.retries,
            "retry_count": retry_count,
            "rpcs": by_name(&self.rpcs),
            "faults": counts_json(&self.faults),
            "bytes": {"in": self.bytes_in, "out": self.bytes_out},
            "connection_requests": cr_json(&self.cr),
            "transfers": {"ok": self.transfers_ok, "failed": self.transfers_failed},
            "last_error": match &self.last_error {
                Some((m, at)) => json!({"message": m, "time": t(*at)}),
                None => Json::Null,
            },
        })
    }
}

/// `icwmpd -c metrics`: prints the running daemon's metrics file; 1 when there is none.
pub fn print_file(path: &std::path::Path) -> u8 {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            println!("{}", text.trim_end());
            0
        }
        Err(e) => {
            eprintln!(
                "icwmpd: no metrics at {} ({e}): is icwmpd running?",
                path.display()
            );
            1
        }
    }
}

/// `icwmpd -c metrics` with no metrics file: asks the daemon's `tr069 metrics` over ubus.
pub fn print_over_ubus(ubus: Option<&crate::ubus::UbusHandle>) -> u8 {
    let Some(ubus) = ubus else {
        eprintln!(
            "icwmpd -c metrics: no ubus connection (and no cpe.metrics_file): is ubusd running?"
        );
        return 1;
    };
    let t = std::time::Duration::from_secs(5);
    match ubus.call(crate::agent::tr069::OBJECT, "metrics", &json!({}), t) {
        Ok(r) => {
            println!("{}", r.into_iter().next().unwrap_or_default());
            0
        }
        Err(e) => {
            eprintln!("icwmpd -c metrics: cannot reach icwmpd over ubus: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_cause_name_and_code_into_the_json() {
        let mut m = Metrics::new(0);
        m.session_start();
        m.sent(100);
        m.received(40);
        m.rpc("GetParameterValues");
        m.rpc("GetParameterValues");
        m.fault(9005);
        m.session_ok();
        m.session_start();
        m.transport_error(&HttpError::Connect("refused".into()));
        m.session_failed(
            Some(&SessionError::Transport("x".into())),
            "cannot connect",
            60,
        );
        m.session_start();
        m.session_failed(Some(&SessionError::HttpStatus(500)), "ACS answered 500", 61);
        m.session_start();
        // A stall with no transport error is a protocol failure.
        m.session_failed(None, "session stalled", 62);
        m.transfer(0);
        m.transfer(9010);
        let j = m.to_json(3, 120);
        assert_eq!(j["sessions"]["ok"], 1);
        assert_eq!(j["sessions"]["failed"], 3);
        assert_eq!(
            j["sessions"]["failed_by_cause"],
            json!({"connect": 1, "http_status": 1, "protocol": 1})
        );
        assert_eq!(
            (j["retries"].as_u64(), j["retry_count"].as_u64()),
            (Some(3), Some(3))
        );
        assert_eq!(j["rpcs"], json!({"GetParameterValues": 2}));
        assert_eq!(j["faults"], json!({"9005": 1}));
        assert_eq!(j["bytes"], json!({"in": 40, "out": 100}));
        assert_eq!(j["transfers"], json!({"ok": 1, "failed": 1}));
        assert_eq!(j["last_error"]["message"], "session stalled");
        assert_eq!(j["last_error"]["time"], "1970-01-01T00:01:02+00:00");
        assert_eq!(j["start_time"], "1970-01-01T00:00:00+00:00");
        for via in ["http", "udp", "xmpp"] {
            assert!(j["connection_requests"][via]["accepted"].is_u64(), "{j}");
        }
    }

    #[test]
    fn the_connection_request_tally_is_copied_in() {
        // The tally is process-wide: compare before and after.
        let mut m = Metrics::new(0);
        m.sync_connection_requests();
        let before = m.to_json(0, 0)["connection_requests"].clone();
        cr_accepted(Via::Udp);
        cr_refused(Via::Xmpp, "bad_sender");
        cr_refused(Via::Xmpp, "bad_sender");
        m.sync_connection_requests();
        let after = m.to_json(0, 0)["connection_requests"].clone();
        let n = |j: &Json, p: &[&str]| p.iter().fold(j, |j, k| &j[*k]).as_u64().unwrap_or(0);
        assert_eq!(
            n(&after, &["udp", "accepted"]),
            n(&before, &["udp", "accepted"]) + 1
        );
        assert_eq!(
            n(&after, &["xmpp", "refused_by_reason", "bad_sender"]),
            n(&before, &["xmpp", "refused_by_reason", "bad_sender"]) + 2
        );
        assert_eq!(http_refusal(401), "wrong_credentials");
        assert_eq!(
            xmpp_refusal("wrong connection request credentials"),
            "wrong_credentials"
        );
        assert_eq!(
            xmpp_refusal("sender not in ConnReqAllowedJabberIDs"),
            "sender_not_allowed"
        );
        assert_eq!(http_refusal(999), "other");
    }

    #[test]
    fn long_errors_are_cut() {
        let mut m = Metrics::new(0);
        m.error(&"x".repeat(10_000), 1);
        let j = m.to_json(0, 0);
        assert_eq!(j["last_error"]["message"].as_str().map(str::len), Some(512));
    }
}
