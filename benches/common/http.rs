//! The HTTP bits the bench ACSs and CR clients share (through `#[path]`; each bench uses
//! what it needs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};

/// Reads one request (head, then a `Content-Length` body); `None` when the peer closed or
/// sent garbage.
pub fn read_request(r: &mut BufReader<impl Read>) -> Option<Vec<u8>> {
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// MD5 in lower-case hex (Digest authentication).
pub fn md5_hex(s: &str) -> String {
    let d = openssl::hash::hash(openssl::hash::MessageDigest::md5(), s.as_bytes())
        .expect("md5 is always available");
    d.iter().map(|b| format!("{b:02x}")).collect()
}
