//! HTTP Digest (RFC 2617 MD5 and RFC 7616 SHA-256, qop=auth) for both sides of the tests: the
//! ACS checks the CPE's answers, and the connection-request client answers the CPE's challenge.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Lower-case hex MD5 of `s`.
pub fn md5_hex(s: &str) -> String {
    let d = openssl::hash::hash(openssl::hash::MessageDigest::md5(), s.as_bytes())
        .expect("openssl md5");
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex SHA-256 of `s`.
pub fn sha256_hex(s: &str) -> String {
    let d = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), s.as_bytes())
        .expect("openssl sha256");
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Random lower-case hex string of `n` bytes.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    openssl::rand::rand_bytes(&mut b).expect("openssl rand");
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses the `k=v, k="v"` list after `Digest ` in a WWW-Authenticate or Authorization
/// header. Keys are lower-cased; returns None when the scheme is not Digest.
pub fn parse_params(header: &str) -> Option<Vec<(String, String)>> {
    let h = header.trim();
    let (scheme, rest) = h.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut out = Vec::new();
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((key, value));
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(out)
}

/// A parameter from [`parse_params`] output.
pub fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The expected `response` for MD5 + qop=auth.
#[allow(clippy::too_many_arguments)]
pub fn response(
    user: &str,
    realm: &str,
    pass: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    response_with(md5_hex, user, realm, pass, method, uri, nonce, nc, cnonce)
}

/// The expected `response` for qop=auth with hash `h` ([`md5_hex`] or [`sha256_hex`]).
#[allow(clippy::too_many_arguments)]
pub fn response_with(
    h: fn(&str) -> String,
    user: &str,
    realm: &str,
    pass: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let ha1 = h(&format!("{user}:{realm}:{pass}"));
    let ha2 = h(&format!("{method}:{uri}"));
    h(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

/// Builds an `Authorization: Digest ...` value answering `challenge` (a WWW-Authenticate
/// value) for request `nc` (1-based).
pub fn authorization(
    challenge: &str,
    user: &str,
    pass: &str,
    method: &str,
    uri: &str,
    nc: u32,
) -> Option<String> {
    let p = parse_params(challenge)?;
    let realm = param(&p, "realm").unwrap_or("");
    let nonce = param(&p, "nonce")?;
    // MD5 unless the challenge names SHA-256 (RFC 7616); other algorithms are not answered.
    let (alg, h): (&str, fn(&str) -> String) = match param(&p, "algorithm") {
        None => ("MD5", md5_hex),
        Some(a) if a.eq_ignore_ascii_case("MD5") => ("MD5", md5_hex),
        Some(a) if a.eq_ignore_ascii_case("SHA-256") => ("SHA-256", sha256_hex),
        Some(_) => return None,
    };
    let cnonce = random_hex(8);
    let nc = format!("{nc:08x}");
    let resp = response_with(h, user, realm, pass, method, uri, nonce, &nc, &cnonce);
    let mut h = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={alg}, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{resp}\""
    );
    if let Some(o) = param(&p, "opaque") {
        h.push_str(&format!(", opaque=\"{o}\""));
    }
    Some(h)
}

/// A raw HTTP response: status code and headers (lower-case names).
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl RawResponse {
    /// A header value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a (case-insensitive) header, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Sends `GET path` to `127.0.0.1:port` on a new connection with an optional Authorization
/// header; reads the status line and headers. Errors are returned as text.
pub fn http_get(port: u16, path: &str, auth: Option<&str>) -> Result<RawResponse, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    // Read until the end of the headers (or EOF): the body does not matter here.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(RawResponse { status, headers })
}

/// What a digest connection request got: the first (challenge) and second status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrOutcome {
    /// Status of the unauthenticated GET (expected 401).
    pub first: u16,
    /// Status of the authenticated GET (200 when accepted; 0 when there was no challenge).
    pub second: u16,
}

/// A connection request as an ACS makes it: GET, 401 challenge, GET with Digest credentials.
pub fn connection_request(
    port: u16,
    path: &str,
    user: &str,
    pass: &str,
) -> Result<CrOutcome, String> {
    connection_request_with(port, path, user, pass, "MD5")
}

/// [`connection_request`] answering the challenge that names `algorithm` (`MD5`, `SHA-256`);
/// when no challenge names it, the first one is answered.
pub fn connection_request_with(
    port: u16,
    path: &str,
    user: &str,
    pass: &str,
    algorithm: &str,
) -> Result<CrOutcome, String> {
    let first = http_get(port, path, None)?;
    let offered = first.all("www-authenticate");
    let named = offered.iter().find(|c| {
        parse_params(c)
            .and_then(|p| param(&p, "algorithm").map(|a| a.eq_ignore_ascii_case(algorithm)))
            .unwrap_or(false)
    });
    let Some(challenge) = named.or(offered.first()).map(|c| c.to_string()) else {
        return Ok(CrOutcome {
            first: first.status,
            second: 0,
        });
    };
    let auth = authorization(&challenge, user, pass, "GET", path, 1)
        .ok_or_else(|| format!("not a digest challenge: {challenge}"))?;
    let second = http_get(port, path, Some(&auth))?;
    Ok(CrOutcome {
        first: first.status,
        second: second.status,
    })
}
