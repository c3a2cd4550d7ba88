//! What the ACS client and the file-transfer client share about answers: authentication
//! challenges (pick Digest, preferred, or Basic from a 401, then produce the `Authorization`
//! header for each later request, counting the digest nonce count upwards), redirect
//! targets, and draining unwanted bodies.

use super::digest::{parse_challenges, random_hex, ClientDigest};
use ureq::http::Response;
use ureq::Body;

/// Bytes read from an error or redirect body so the connection can be reused.
const DRAIN_LIMIT: u64 = 64 << 10;

/// What a 401 taught: the scheme to answer with from now on.
pub(crate) enum Auth {
    /// Ready-made `Basic ...` header value.
    Basic(String),
    /// Digest state (nonce, nc).
    Digest(ClientDigest),
}

impl Auth {
    /// The scheme to use after the challenges of a 401; `None` when none is usable.
    pub(crate) fn from_response(resp: &Response<Body>, user: &str, pass: &str) -> Option<Auth> {
        let challenges = parse_challenges(
            resp.headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        if let Some(d) = ClientDigest::from_challenges(&challenges) {
            return Some(Auth::Digest(d));
        }
        challenges.iter().any(|c| c.is("Basic")).then(|| {
            let raw = format!("{user}:{pass}");
            Auth::Basic(format!(
                "Basic {}",
                crate::crypto::base64_encode(raw.as_bytes())
            ))
        })
    }

    /// True for Basic (the caller warns when it goes over plain HTTP).
    pub(crate) fn is_basic(&self) -> bool {
        matches!(self, Auth::Basic(_))
    }

    /// The `Authorization` value for one request of `method` on `target` (path and query).
    pub(crate) fn header(&mut self, user: &str, pass: &str, method: &str, target: &str) -> String {
        match self {
            Auth::Basic(h) => h.clone(),
            Auth::Digest(d) => d.authorization(user, pass, method, target, &random_hex(16)),
        }
    }
}

/// The `Location` of a redirect (`None` when absent or not text); the body is drained.
pub(crate) fn take_location(resp: Response<Body>) -> Option<String> {
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    drain(resp);
    loc
}

/// Reads (a bounded part of) a body we do not want, so the connection can be reused.
pub(crate) fn drain(mut resp: Response<Body>) {
    let _ = resp
        .body_mut()
        .with_config()
        .limit(DRAIN_LIMIT)
        .read_to_vec();
}
