//! HTTP Digest (RFC 7616, RFC 2617) and auth-header parsing, shared by the ACS client and the
//! connection-request server.
//!
//! Pure: no sockets, no clock. Random client nonces are passed in by the caller.

use crate::crypto;

/// A Digest hash algorithm, with or without the `-sess` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// `MD5` (the RFC 2617 default, what CWMP peers use).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Parses an `algorithm=` value (case-insensitive); `None` for unsupported ones.
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }

    /// The name as written in headers.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// True for the `-sess` variants (HA1 also covers nonce and cnonce).
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Preference when a server offers several challenges (higher is stronger).
    fn strength(self) -> u8 {
        match self {
            Algorithm::Md5 => 0,
            Algorithm::Md5Sess => 1,
            Algorithm::Sha256 => 2,
            Algorithm::Sha256Sess => 3,
        }
    }

    /// Lower-case hex of the algorithm's hash of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => to_hex(&crypto::md5(data)),
            Algorithm::Sha256 | Algorithm::Sha256Sess => to_hex(&crypto::sha256(data)),
        }
    }
}

/// Lower-case hex encoding.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// `n` random bytes from the kernel as hex (nonces, cnonces, opaque values).
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if crypto::random_bytes(&mut b).is_err() {
        // The kernel's random source failing is not recoverable in a useful way; fall back to the
        // clock so the value is still unique, which is what a cnonce must be.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = (t >> ((i % 16) * 8)) as u8);
    }
    to_hex(&b)
}

/// Everything that goes into one Digest `response` value.
#[derive(Clone, Copy, Debug)]
pub struct DigestInput<'a> {
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// User name.
    pub username: &'a str,
    /// Realm from the challenge.
    pub realm: &'a str,
    /// Password.
    pub password: &'a str,
    /// HTTP method (`POST`, `GET`).
    pub method: &'a str,
    /// The `uri` parameter as sent (request target, query included).
    pub uri: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// Nonce count as sent: 8 hex digits.
    pub nc: &'a str,
    /// Client nonce.
    pub cnonce: &'a str,
    /// `Some("auth")`, or `None` for the RFC 2069 form without qop.
    pub qop: Option<&'a str>,
}

/// HA1 = H(user:realm:password), and for `-sess` H(HA1:nonce:cnonce).
pub fn ha1(i: &DigestInput<'_>) -> String {
    let a = i.algorithm;
    let base = a.hex(format!("{}:{}:{}", i.username, i.realm, i.password).as_bytes());
    if a.is_sess() {
        a.hex(format!("{base}:{}:{}", i.nonce, i.cnonce).as_bytes())
    } else {
        base
    }
}

/// The `response` value for `i` (qop `auth` or none; `auth-int` is not supported).
pub fn response(i: &DigestInput<'_>) -> String {
    response_with_ha1(i, &ha1(i))
}

/// The `response` value from a precomputed HA1 (for `-sess`, HA1 is fixed per nonce).
pub fn response_with_ha1(i: &DigestInput<'_>, ha1: &str) -> String {
    let a = i.algorithm;
    let ha2 = a.hex(format!("{}:{}", i.method, i.uri).as_bytes());
    let data = match i.qop {
        Some(q) => format!("{ha1}:{}:{}:{}:{q}:{ha2}", i.nonce, i.nc, i.cnonce),
        None => format!("{ha1}:{}:{ha2}", i.nonce),
    };
    a.hex(data.as_bytes())
}

/// One challenge (`WWW-Authenticate`) or credentials (`Authorization`) value: scheme plus
/// its `name=value` parameters (names lower-cased, values unquoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthParams {
    /// Scheme as sent (`Digest`, `Basic`); compare case-insensitively.
    pub scheme: String,
    /// Parameters in order.
    pub params: Vec<(String, String)>,
}

impl AuthParams {
    /// The value of parameter `name` (lower-case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when the scheme is `s` (case-insensitive).
    pub fn is(&self, s: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(s)
    }
}

/// Splits a header value on commas that are outside quoted strings.
fn split_commas(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ',' && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// Parses `name=value` or `name="quoted \" value"`; `None` when there is no `=`.
fn parse_param(item: &str) -> Option<(String, String)> {
    let (k, v) = item.split_once('=')?;
    let k = k.trim().to_ascii_lowercase();
    let v = v.trim();
    let v = match v.strip_prefix('"') {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => break,
                    c => out.push(c),
                }
            }
            out
        }
        None => v.to_string(),
    };
    (!k.is_empty()).then_some((k, v))
}

/// Parses one or more header values into challenges. A challenge starts with a scheme token
/// followed by a space (or alone); following `name=value` items belong to it. Several
/// challenges may share one header value (`Basic realm="a", Digest realm="b", nonce="c"`).
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<AuthParams> {
    let mut out: Vec<AuthParams> = Vec::new();
    for value in values {
        for item in split_commas(value) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let tok_end = item
                .find(|c: char| c == '=' || c.is_ascii_whitespace())
                .unwrap_or(item.len());
            let rest = item[tok_end..].trim_start();
            if tok_end == item.len() || !rest.starts_with('=') {
                // "Scheme" or "Scheme name=value": a new challenge.
                out.push(AuthParams {
                    scheme: item[..tok_end].to_string(),
                    params: parse_param(rest).into_iter().collect(),
                });
            } else if let (Some(cur), Some(p)) = (out.last_mut(), parse_param(item)) {
                cur.params.push(p);
            }
        }
    }
    out
}

/// Quotes a value for a header parameter (escapes `"` and `\`).
pub fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Client-side Digest state for one server nonce: counts `nc` upwards so the nonce can be
/// reused pre-emptively on later requests of the same session.
#[derive(Clone, Debug)]
pub struct ClientDigest {
    realm: String,
    nonce: String,
    opaque: Option<String>,
    algorithm: Algorithm,
    /// Whether the server offered qop=auth (else the RFC 2069 form is used).
    qop_auth: bool,
    nc: u32,
    /// HA1 of a `-sess` algorithm, fixed by the first cnonce used with this nonce.
    sess_ha1: Option<String>,
}

impl ClientDigest {
    /// Picks the strongest supported Digest challenge among `challenges`.
    /// `None` when no usable Digest challenge is present (unknown algorithm, qop without `auth`).
    pub fn from_challenges(challenges: &[AuthParams]) -> Option<ClientDigest> {
        challenges
            .iter()
            .filter(|c| c.is("Digest"))
            .filter_map(ClientDigest::from_challenge)
            .max_by_key(|d| d.algorithm.strength())
    }

    fn from_challenge(c: &AuthParams) -> Option<ClientDigest> {
        let algorithm = match c.get("algorithm") {
            Some(a) => Algorithm::parse(a)?,
            None => Algorithm::Md5,
        };
        let qop_auth = match c.get("qop") {
            Some(q) => {
                if !q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    return None; // only auth-int offered
                }
                true
            }
            None => false,
        };
        Some(ClientDigest {
            realm: c.get("realm").unwrap_or("").to_string(),
            nonce: c.get("nonce")?.to_string(),
            opaque: c.get("opaque").map(str::to_string),
            algorithm,
            qop_auth,
            nc: 0,
            sess_ha1: None,
        })
    }

    /// The algorithm in use.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The nonce count of the last `authorization` call (0 before the first).
    pub fn nc(&self) -> u32 {
        self.nc
    }

    /// Builds the next `Authorization` header value, counting `nc` up by one.
    pub fn authorization(
        &mut self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        self.nc = self.nc.wrapping_add(1);
        let nc = format!("{:08x}", self.nc);
        let input = DigestInput {
            algorithm: self.algorithm,
            username,
            realm: &self.realm,
            password,
            method,
            uri,
            nonce: &self.nonce,
            nc: &nc,
            cnonce,
            qop: self.qop_auth.then_some("auth"),
        };
        let ha1 = if self.algorithm.is_sess() {
            self.sess_ha1.get_or_insert_with(|| ha1(&input)).clone()
        } else {
            ha1(&input)
        };
        let resp = response_with_ha1(&input, &ha1);
        let mut h = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, algorithm={}, response={}",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri),
            self.algorithm.name(),
            quote(&resp)
        );
        if self.qop_auth {
            h.push_str(&format!(", qop=auth, nc={nc}, cnonce={}", quote(cnonce)));
        }
        if let Some(o) = &self.opaque {
            h.push_str(&format!(", opaque={}", quote(o)));
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc2617() -> DigestInput<'static> {
        DigestInput {
            algorithm: Algorithm::Md5,
            username: "Mufasa",
            realm: "testrealm@host.com",
            password: "Circle Of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            nc: "00000001",
            cnonce: "0a4f113b",
            qop: Some("auth"),
        }
    }

    #[test]
    fn rfc2617_circle_of_life_vector() {
        assert_eq!(response(&rfc2617()), "6629fae49393a05397450978507c4ef1");
    }

    fn rfc7616(algorithm: Algorithm) -> DigestInput<'static> {
        DigestInput {
            algorithm,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            qop: Some("auth"),
        }
    }

    #[test]
    fn rfc7616_md5_vector() {
        assert_eq!(
            response(&rfc7616(Algorithm::Md5)),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn rfc7616_sha256_vector() {
        assert_eq!(
            response(&rfc7616(Algorithm::Sha256)),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn md5_sess_ha1_covers_nonce_and_cnonce() {
        let mut i = rfc2617();
        i.algorithm = Algorithm::Md5Sess;
        let base = Algorithm::Md5.hex(b"Mufasa:testrealm@host.com:Circle Of Life");
        let want = Algorithm::Md5.hex(format!("{base}:{}:{}", i.nonce, i.cnonce).as_bytes());
        assert_eq!(ha1(&i), want);
        assert_ne!(response(&i), response(&rfc2617()));
    }

    #[test]
    fn parses_several_challenges_in_one_value() {
        let c = parse_challenges([
            r#"Basic realm="a b", Digest realm="r,x", qop="auth,auth-int", nonce="n\"1", algorithm=SHA-256"#,
            "Negotiate",
        ]);
        assert_eq!(c.len(), 3);
        assert!(c[0].is("basic"));
        assert_eq!(c[0].get("realm"), Some("a b"));
        assert!(c[1].is("Digest"));
        assert_eq!(c[1].get("realm"), Some("r,x"));
        assert_eq!(c[1].get("nonce"), Some("n\"1"));
        assert_eq!(c[1].get("algorithm"), Some("SHA-256"));
        assert_eq!(c[2].scheme, "Negotiate");
        assert!(c[2].params.is_empty());
    }

    #[test]
    fn prefers_strongest_digest_challenge() {
        let c = parse_challenges([
            r#"Digest realm="r", nonce="a", qop="auth", algorithm=MD5"#,
            r#"Digest realm="r", nonce="b", qop="auth", algorithm=SHA-256"#,
            r#"Digest realm="r", nonce="c", qop="auth", algorithm=SHA-512-256"#,
        ]);
        let d = ClientDigest::from_challenges(&c).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.nonce, "b");
    }

    #[test]
    fn rejects_auth_int_only_and_missing_nonce() {
        let c = parse_challenges([r#"Digest realm="r", nonce="a", qop="auth-int""#]);
        assert!(ClientDigest::from_challenges(&c).is_none());
        let c = parse_challenges([r#"Digest realm="r", qop="auth""#]);
        assert!(ClientDigest::from_challenges(&c).is_none());
    }

    #[test]
    fn client_authorization_reproduces_rfc2617_and_counts_nc() {
        let c = parse_challenges([
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        ]);
        let mut d = ClientDigest::from_challenges(&c).unwrap();
        let h = d.authorization(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
        );
        let p = &parse_challenges([h.as_str()])[0];
        assert!(p.is("Digest"));
        assert_eq!(p.get("response"), Some("6629fae49393a05397450978507c4ef1"));
        assert_eq!(p.get("nc"), Some("00000001"));
        assert_eq!(p.get("qop"), Some("auth"));
        assert_eq!(p.get("opaque"), Some("5ccc069c403ebaf9f0171e9517f40e41"));
        let h2 = d.authorization("Mufasa", "Circle Of Life", "GET", "/", "x");
        assert_eq!(
            parse_challenges([h2.as_str()])[0].get("nc"),
            Some("00000002")
        );
    }

    #[test]
    fn rfc2069_form_without_qop() {
        let c = parse_challenges([r#"Digest realm="r", nonce="n""#]);
        let mut d = ClientDigest::from_challenges(&c).unwrap();
        let h = d.authorization("u", "p", "POST", "/acs", "c");
        let p = &parse_challenges([h.as_str()])[0];
        assert_eq!(p.get("qop"), None);
        assert_eq!(p.get("nc"), None);
        let ha1 = Algorithm::Md5.hex(b"u:r:p");
        let ha2 = Algorithm::Md5.hex(b"POST:/acs");
        let want = Algorithm::Md5.hex(format!("{ha1}:n:{ha2}").as_bytes());
        assert_eq!(p.get("response"), Some(want.as_str()));
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        let p = &parse_challenges([format!("X k={}", quote(r#"a"b\c"#)).as_str()])[0];
        assert_eq!(p.get("k"), Some(r#"a"b\c"#));
    }
}
