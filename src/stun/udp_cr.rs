//! The UDP connection-request message (TR-069 Annex G): one datagram in HTTP-request form,
//! `GET http://host:port?ts=..&id=..&un=..&cn=..&sig=.. HTTP/1.1`, where `sig` is the hex
//! HMAC-SHA1 of `ts‖id‖un‖cn` keyed with the ConnectionRequestPassword. Sans-IO: parse and
//! verify; the caller sends nothing back (the annex wants no reply).

use std::collections::VecDeque;

use crate::crypto::{ct_eq, hmac_sha1};

/// Largest datagram looked at; a real one is ~200 bytes.
pub const MAX_MESSAGE: usize = 2048;
/// How far `ts` may be from the CPE clock, seconds (when that clock is set).
pub const TS_WINDOW: i64 = 300;
/// Message ids remembered for replay protection.
pub const SEEN_IDS: usize = 64;
/// Clocks before this (2020-01-01) are taken as not set, and the window is not applied.
const CLOCK_SET: i64 = 1_577_836_800;

/// The five fields of a UDP connection request, percent-decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UdpCr {
    /// `ts`: Unix time in seconds.
    pub ts: i64,
    /// `id`: message id.
    pub id: String,
    /// `un`: username.
    pub un: String,
    /// `cn`: cnonce.
    pub cn: String,
    /// `sig`: hex HMAC-SHA1.
    pub sig: String,
}

/// Why a datagram is not an acceptable connection request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not `GET <uri> HTTP/1.x` with the five fields (or too long).
    Malformed,
    /// No ConnectionRequestUsername/Password configured.
    NotConfigured,
    /// `un` is not the configured username.
    BadUsername,
    /// `sig` does not match.
    BadSignature,
    /// `ts` too far from the CPE clock, or older than the last accepted message.
    Stale,
    /// `id` seen recently (the ACS repeats each message; an attacker may replay one).
    Replayed,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Malformed => "malformed",
            Refusal::NotConfigured => "no connection-request credentials configured",
            Refusal::BadUsername => "wrong username",
            Refusal::BadSignature => "bad signature",
            Refusal::Stale => "stale timestamp",
            Refusal::Replayed => "replayed id",
        })
    }
}

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `%XX` and `+` decoded; invalid escapes kept as they are.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (unhex(b[i + 1]), unhex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a datagram (linear time, never panics).
///
/// # Errors
/// [`Refusal::Malformed`].
pub fn parse(data: &[u8]) -> Result<UdpCr, Refusal> {
    if data.len() > MAX_MESSAGE {
        return Err(Refusal::Malformed);
    }
    let text = std::str::from_utf8(data).map_err(|_| Refusal::Malformed)?;
    let line = text.split("\r\n").next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some("GET"), Some(uri), Some(ver), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::Malformed);
    };
    if !ver.starts_with("HTTP/1.") {
        return Err(Refusal::Malformed);
    }
    let query = uri.split_once('?').ok_or(Refusal::Malformed)?.1;
    let mut cr = UdpCr::default();
    let mut got = [false; 5];
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        let slot = match k {
            "ts" => {
                cr.ts = v.parse().map_err(|_| Refusal::Malformed)?;
                0
            }
            "id" => {
                cr.id = v;
                1
            }
            "un" => {
                cr.un = v;
                2
            }
            "cn" => {
                cr.cn = v;
                3
            }
            "sig" => {
                cr.sig = v;
                4
            }
            _ => continue,
        };
        got[slot] = true;
    }
    if got.iter().all(|g| *g) && !cr.id.is_empty() {
        Ok(cr)
    } else {
        Err(Refusal::Malformed)
    }
}

/// Hex HMAC-SHA1 over `ts‖id‖un‖cn` with `password`: what the ACS puts in `sig`.
pub fn signature(ts: i64, id: &str, un: &str, cn: &str, password: &str) -> String {
    let text = format!("{ts}{id}{un}{cn}");
    hmac_sha1(password.as_bytes(), text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks connection requests against the credentials, the clock and what was seen before.
#[derive(Debug, Default)]
pub struct UdpCrAuth {
    last_ts: Option<i64>,
    seen: VecDeque<String>,
}

impl UdpCrAuth {
    /// A verifier that has seen nothing.
    pub fn new() -> UdpCrAuth {
        UdpCrAuth::default()
    }

    /// Verifies `data` received at Unix time `now` against the CR `username`/`password`;
    /// an accepted message's id and ts are remembered.
    ///
    /// # Errors
    /// Why it is refused.
    pub fn check(
        &mut self,
        data: &[u8],
        now: i64,
        username: &str,
        password: &str,
    ) -> Result<(), Refusal> {
        let cr = parse(data)?;
        if username.is_empty() || password.is_empty() {
            return Err(Refusal::NotConfigured);
        }
        if !ct_eq(cr.un.as_bytes(), username.as_bytes()) {
            return Err(Refusal::BadUsername);
        }
        let want = signature(cr.ts, &cr.id, &cr.un, &cr.cn, password);
        if !ct_eq(cr.sig.to_ascii_lowercase().as_bytes(), want.as_bytes()) {
            return Err(Refusal::BadSignature);
        }
        if self.seen.iter().any(|s| *s == cr.id) {
            return Err(Refusal::Replayed);
        }
        let off_clock = now >= CLOCK_SET && (cr.ts - now).abs() > TS_WINDOW;
        if off_clock || self.last_ts.is_some_and(|l| cr.ts < l) {
            return Err(Refusal::Stale);
        }
        self.last_ts = Some(cr.ts);
        if self.seen.len() >= SEEN_IDS {
            self.seen.pop_front();
        }
        self.seen.push_back(cr.id);
        Ok(())
    }
}

#[cfg(test)]
#[path = "udp_cr_tests.rs"]
mod tests;
