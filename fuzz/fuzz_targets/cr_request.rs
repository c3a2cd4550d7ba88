//! A connection request as its server reads it (src/conn_req/): the request-head reader on
//! any bytes, the Digest check of what it read, and the answer written back. `NONCE` and
//! `OPAQUE` in the input are replaced by the values the server issued, so the fuzzer gets
//! past the nonce lookup. Then, for the same method and target, credentials computed with
//! the right password must be accepted exactly once (a replay is refused), and no answer
//! may carry a line break from the request.
#![no_main]

use icwmp::conn_req::auth::normalize_path;
use icwmp::conn_req::head::{self, HeadError};
use icwmp::conn_req::{CrAuth, CrDecision, CrRequest, CrSettings};
use icwmp::http::digest::{parse_challenges, ClientDigest};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// The answer is one head: status line, headers, empty line, nothing else.
fn check_answer(decision: &CrDecision) {
    let answer = head::response(decision);
    assert!(
        answer.starts_with("HTTP/1.1 ") && answer.ends_with("\r\n\r\n"),
        "{answer:?}"
    );
    let body = &answer[..answer.len() - 4];
    assert!(
        !body.contains("\r\n\r\n") && !body.replace("\r\n", "").contains(['\r', '\n']),
        "{answer:?}"
    );
}

fn challenge_of(d: &CrDecision) -> Option<&str> {
    match d {
        CrDecision::Challenge { www_authenticate } => www_authenticate.first().map(String::as_str),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let settings = CrSettings {
        username: "cpe".into(),
        password: "secret".into(),
        path: "/cr".into(),
        ..CrSettings::default()
    };
    let mut auth = CrAuth::new(settings, now);
    let first = CrRequest {
        method: "GET",
        path_with_query: "/cr",
        authorization: None,
        peer: PEER,
    };
    let issued = auth.check(&first, now);
    let www = challenge_of(&issued)
        .expect("a request without credentials is challenged")
        .to_string();
    let offered = parse_challenges([www.as_str()]);
    let nonce = offered[0]
        .get("nonce")
        .expect("the challenge has a nonce")
        .to_string();
    let opaque = offered[0]
        .get("opaque")
        .expect("the challenge has an opaque")
        .to_string();

    let data = replace(data, b"NONCE", nonce.as_bytes());
    let data = replace(&data, b"OPAQUE", opaque.as_bytes());
    let req = match head::parse(&data) {
        Ok(Some(req)) => req,
        Ok(None) => return,
        Err(e) => {
            assert!(e != HeadError::TooLarge || data.len() > head::MAX_HEAD);
            return;
        }
    };
    let cr = CrRequest {
        method: &req.method,
        path_with_query: &req.target,
        authorization: req.authorization.as_deref(),
        peer: PEER,
    };
    let decision = auth.check(&cr, now);
    check_answer(&decision);

    // The same request with the right credentials, computed as an ACS would.
    let mut client = ClientDigest::from_challenges(&offered).expect("our own challenge is usable");
    let good = client.authorization("cpe", "secret", &req.method, &req.target, "c0ffee");
    let signed = CrRequest {
        authorization: Some(&good),
        ..cr
    };
    let decision = auth.check(&signed, now);
    check_answer(&decision);
    let right_request = req.method == "GET" && normalize_path(&req.target) == "/cr";
    assert_eq!(
        decision == CrDecision::Accept,
        right_request,
        "{req:?} answered {decision:?}"
    );
    if right_request {
        let replay = auth.check(&signed, now);
        assert_ne!(
            replay,
            CrDecision::Accept,
            "a replayed request was accepted"
        );
    }
});
