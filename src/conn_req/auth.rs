//! Connection-request authentication (TR-069 §3.2.2): Digest with server-side nonces,
//! nonce-count replay protection, rate limiting and an optional source allow-list.
//!
//! Pure: no sockets, no threads, never reads the clock (`now` is passed in). Nonces come
//! from the kernel's random generator.
//!
//! Decision order for each request: allow-list (403), rate limits per source then global
//! (503, every request costs a token, challenges included; see [`super::ratelimit`]),
//! credentials configured (503 when empty, like the C daemon), method GET (405), path (404),
//! then Digest (401 challenge or accept). A refused credential is reported in [`Checked`]
//! so the server can log it.

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ratelimit::{
    Limits, SharedLimiter, DEFAULT_CAPACITY, DEFAULT_REFILL_PER_SEC, DEFAULT_SOURCE_CAPACITY,
    DEFAULT_SOURCE_REFILL_PER_SEC,
};
use crate::http::digest::{self, parse_challenges, quote, random_hex, Algorithm, DigestInput};

/// Realm of the C daemon, kept so ACS-side configurations keep working.
pub const DEFAULT_REALM: &str = "authenticate@cwmp";
/// How long an issued nonce is valid.
pub const DEFAULT_NONCE_LIFETIME: Duration = Duration::from_secs(60);
/// Most nonces remembered at once; the oldest is forgotten first.
pub const MAX_NONCES: usize = 64;

/// Settings of the connection-request server, changeable at run time.
#[derive(Clone, PartialEq, Eq)]
pub struct CrSettings {
    /// `ManagementServer.ConnectionRequestUsername` (empty: every request gets 503).
    pub username: String,
    /// `ManagementServer.ConnectionRequestPassword` (empty: every request gets 503).
    pub password: String,
    /// Path of `ConnectionRequestURL`; `abc` and `/abc` mean the same.
    pub path: String,
    /// Digest realm.
    pub realm: String,
    /// Source addresses allowed to connect; empty means any.
    pub allow: Vec<IpAddr>,
    /// Nonce validity.
    pub nonce_lifetime: Duration,
    /// Global token-bucket burst size.
    pub rate_capacity: u32,
    /// Global token-bucket refill per second.
    pub rate_refill_per_sec: u32,
    /// Token-bucket burst size of one source address.
    pub source_capacity: u32,
    /// Token-bucket refill per second of one source address.
    pub source_refill_per_sec: u32,
    /// Time a client has to send its whole request head (`cpe.cr_timeout`, see
    /// [`super::conns::head_timeout`]).
    pub head_timeout: Duration,
}

impl Default for CrSettings {
    fn default() -> CrSettings {
        CrSettings {
            username: String::new(),
            password: String::new(),
            path: "/".into(),
            realm: DEFAULT_REALM.into(),
            allow: Vec::new(),
            nonce_lifetime: DEFAULT_NONCE_LIFETIME,
            rate_capacity: DEFAULT_CAPACITY,
            rate_refill_per_sec: DEFAULT_REFILL_PER_SEC,
            source_capacity: DEFAULT_SOURCE_CAPACITY,
            source_refill_per_sec: DEFAULT_SOURCE_REFILL_PER_SEC,
            head_timeout: super::conns::HEAD_DEADLINE,
        }
    }
}

impl fmt::Debug for CrSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrSettings")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("path", &self.path)
            .field("realm", &self.realm)
            .field("allow", &self.allow)
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("rate_capacity", &self.rate_capacity)
            .field("rate_refill_per_sec", &self.rate_refill_per_sec)
            .field("source_capacity", &self.source_capacity)
            .field("source_refill_per_sec", &self.source_refill_per_sec)
            .field("head_timeout", &self.head_timeout)
            .finish()
    }
}

/// The parts of an HTTP request that the decision needs.
#[derive(Clone, Copy, Debug)]
pub struct CrRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Request target as received (path and optional query).
    pub path_with_query: &'a str,
    /// `Authorization` header value, if any.
    pub authorization: Option<&'a str>,
    /// Source address.
    pub peer: IpAddr,
}

/// What to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrDecision {
    /// Authenticated: answer 200 and start a session.
    Accept,
    /// Answer 401 with one `WWW-Authenticate` header per value, most preferred first.
    Challenge {
        /// The header values: SHA-256 then MD5, with the same nonce (RFC 7616 §3.7).
        www_authenticate: Vec<String>,
    },
    /// Answer with this status (403, 404, 405, 400 or 503) and do nothing.
    Reject(u16),
}

/// A decision, and whose credential was refused if one was (wrong user name or password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// What to answer.
    pub decision: CrDecision,
    /// The user name of a refused credential, as the client sent it.
    pub refused_user: Option<String>,
}

impl From<CrDecision> for Checked {
    fn from(decision: CrDecision) -> Checked {
        Checked {
            decision,
            refused_user: None,
        }
    }
}

/// `path` without its query, with exactly one leading `/` (fixes C bug #2).
pub fn normalize_path(path: &str) -> String {
    let p = path.split(['?', '#']).next().unwrap_or("");
    format!("/{}", p.trim_start_matches('/'))
}

/// IPv4-mapped IPv6 addresses (dual-stack sockets) compare as IPv4.
pub(super) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

struct Nonce {
    value: String,
    issued: Instant,
    /// Highest nonce count accepted with this nonce (0: none yet).
    max_nc: u32,
}

/// Server-side connection-request authenticator. See the module docs.
pub struct CrAuth {
    settings: CrSettings,
    path: String,
    opaque: String,
    nonces: VecDeque<Nonce>,
    limiter: SharedLimiter,
}

fn limits(s: &CrSettings) -> Limits {
    Limits {
        capacity: s.rate_capacity,
        refill_per_sec: s.rate_refill_per_sec,
        source_capacity: s.source_capacity,
        source_refill_per_sec: s.source_refill_per_sec,
    }
}

impl CrAuth {
    /// A fresh authenticator with rate limits of its own.
    pub fn new(settings: CrSettings, now: Instant) -> CrAuth {
        let limiter = SharedLimiter::new(limits(&settings), now);
        CrAuth::sharing(settings, limiter, now)
    }

    /// A fresh authenticator drawing on `limiter`, which other channels share; its limits
    /// become `settings`' (the HTTP options set them for every channel).
    pub fn sharing(settings: CrSettings, limiter: SharedLimiter, now: Instant) -> CrAuth {
        limiter.set_limits(limits(&settings), now);
        CrAuth {
            path: normalize_path(&settings.path),
            limiter,
            settings,
            opaque: random_hex(16),
            nonces: VecDeque::new(),
        }
    }

    /// The rate limiter it draws on, for the other channels to share.
    pub fn limiter(&self) -> SharedLimiter {
        self.limiter.clone()
    }

    /// The settings in force.
    pub fn settings(&self) -> &CrSettings {
        &self.settings
    }

    /// Replaces the settings. Issued nonces are forgotten when credentials or realm change;
    /// the rate buckets restart when their parameters change.
    pub fn update(&mut self, settings: CrSettings, now: Instant) {
        let s = &self.settings;
        if s.username != settings.username
            || s.password != settings.password
            || s.realm != settings.realm
        {
            self.nonces.clear();
        }
        self.limiter.set_limits(limits(&settings), now);
        self.path = normalize_path(&settings.path);
        self.settings = settings;
    }

    /// Decides what to answer to `req` received at `now`.
    pub fn check(&mut self, req: &CrRequest<'_>, now: Instant) -> CrDecision {
        self.check_request(req, now).decision
    }

    /// [`CrAuth::check`], also telling whose credential was refused.
    pub fn check_request(&mut self, req: &CrRequest<'_>, now: Instant) -> Checked {
        let s = &self.settings;
        let peer = canonical(req.peer);
        if !s.allow.is_empty() && !s.allow.iter().any(|a| canonical(*a) == peer) {
            return CrDecision::Reject(403).into();
        }
        if self.limiter.admit(peer, now).is_err() {
            return CrDecision::Reject(503).into();
        }
        if s.username.is_empty() || s.password.is_empty() {
            return CrDecision::Reject(503).into();
        }
        if req.method != "GET" {
            return CrDecision::Reject(405).into();
        }
        if normalize_path(req.path_with_query) != self.path {
            return CrDecision::Reject(404).into();
        }
        let checked = self.verify(req.authorization, now);
        if checked.refused_user.is_some() {
            self.limiter.failed(peer, now);
        } else if checked.decision == CrDecision::Accept {
            self.limiter.succeeded(peer, now);
        }
        checked
    }

    fn verify(&mut self, authorization: Option<&str>, now: Instant) -> Checked {
        let Some(creds) = authorization
            .map(|h| parse_challenges([h]))
            .and_then(|mut v| (v.len() == 1).then(|| v.remove(0)))
            .filter(|c| c.is("Digest"))
        else {
            return self.challenge(now, false).into();
        };
        let s = &self.settings;
        let (Some(user), Some(nonce), Some(uri), Some(resp), Some(nc), Some(cnonce)) = (
            creds.get("username"),
            creds.get("nonce"),
            creds.get("uri"),
            creds.get("response"),
            creds.get("nc"),
            creds.get("cnonce"),
        ) else {
            return self.challenge(now, false).into();
        };
        let algorithm = match creds.get("algorithm") {
            None => Some(Algorithm::Md5),
            Some(a) => Algorithm::parse(a),
        };
        let nc_val = u32::from_str_radix(nc, 16).ok().filter(|_| nc.len() == 8);
        let (Some(algorithm), Some(nc_val)) = (algorithm, nc_val) else {
            return self.challenge(now, false).into();
        };
        let refused = |a: &mut CrAuth| Checked {
            decision: a.challenge(now, false),
            refused_user: Some(user.to_string()),
        };
        if user != s.username {
            return refused(self);
        }
        if creds.get("realm") != Some(s.realm.as_str())
            || !creds
                .get("qop")
                .is_some_and(|q| q.eq_ignore_ascii_case("auth"))
            || creds.get("opaque").is_some_and(|o| o != self.opaque)
        {
            return self.challenge(now, false).into();
        }
        // The uri may carry a query; only its path must name our path. The hash below uses
        // the uri exactly as the client sent it.
        if normalize_path(uri) != self.path {
            return CrDecision::Reject(400).into();
        }
        // An unknown nonce (ours from before a restart, or forgotten) is no guess: the
        // password is not even looked at.
        let Some(idx) = self.nonces.iter().position(|n| n.value == nonce) else {
            return self.challenge(now, false).into();
        };
        let want = digest::response(&DigestInput {
            algorithm,
            username: user,
            realm: &s.realm,
            password: &s.password,
            method: "GET",
            uri,
            nonce,
            nc,
            cnonce,
            qop: Some("auth"),
        });
        let got = resp.to_ascii_lowercase();
        // Constant-time, so the comparison does not tell how many leading characters match.
        if !crate::crypto::ct_eq(want.as_bytes(), got.as_bytes()) {
            return refused(self);
        }
        let entry = &mut self.nonces[idx];
        if now.saturating_duration_since(entry.issued) >= s.nonce_lifetime {
            // Right password, old nonce: tell the client to retry with a fresh one.
            self.nonces.remove(idx);
            return self.challenge(now, true).into();
        }
        if nc_val <= entry.max_nc {
            log::warn!(
                "connection request replayed (nc {nc_val} not above {})",
                entry.max_nc
            );
            return self.challenge(now, false).into();
        }
        entry.max_nc = nc_val;
        CrDecision::Accept.into()
    }

    /// Issues a new nonce and builds the 401 challenges: SHA-256 first (RFC 7616 §3.7: most
    /// preferred first), then MD5, which TR-069 (RFC 2617) peers know. Both carry the same
    /// nonce, so a client that merges the two headers into one list still answers a nonce we
    /// issued, and whichever algorithm it picks is verified against it.
    fn challenge(&mut self, now: Instant, stale: bool) -> CrDecision {
        // Expired nonces are kept a while so that their use can still be answered stale=true.
        let keep = self.settings.nonce_lifetime.saturating_mul(4);
        self.nonces
            .retain(|n| now.saturating_duration_since(n.issued) < keep);
        while self.nonces.len() >= MAX_NONCES {
            self.nonces.pop_front();
        }
        let value = random_hex(16);
        let www_authenticate = [Algorithm::Sha256, Algorithm::Md5]
            .into_iter()
            .map(|a| {
                let mut h = format!(
                    "Digest realm={}, qop=\"auth\", nonce={}, opaque={}, algorithm={}",
                    quote(&self.settings.realm),
                    quote(&value),
                    quote(&self.opaque),
                    a.name()
                );
                if stale {
                    h.push_str(", stale=true");
                }
                h
            })
            .collect();
        self.nonces.push_back(Nonce {
            value,
            issued: now,
            max_nc: 0,
        });
        CrDecision::Challenge { www_authenticate }
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
