//! AcsClient against in-test tiny_http servers.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::read::{GzDecoder, ZlibDecoder};

use super::digest::{self, parse_challenges, Algorithm, DigestInput};
use super::test_server::{Reply, Seen, TestServer};
use super::*;

const SOAP: &[u8] = b"<soap-env:Envelope>inform</soap-env:Envelope>";

fn opts(url: &str) -> HttpOptions {
    let mut o = HttpOptions::new(url);
    o.username = "cpe".into();
    o.password = "pw".into();
    o.timeout = Duration::from_secs(5);
    o
}

fn client(url: &str) -> AcsClient {
    AcsClient::new(opts(url)).unwrap()
}

#[test]
fn soap_post_and_empty_post_headers() {
    let srv = TestServer::start(|_, i| match i {
        0 => Reply::new(200).body("<resp/>"),
        _ => Reply::new(204),
    });
    let mut c = client(&format!("{}/acs?x=1", srv.base));
    let r = c.post(SOAP).unwrap();
    assert_eq!(
        r,
        HttpReply {
            status: 200,
            body: b"<resp/>".to_vec()
        }
    );
    let r = c.post(b"").unwrap();
    assert_eq!(
        r,
        HttpReply {
            status: 204,
            body: vec![]
        }
    );
    let seen = srv.all();
    assert_eq!(seen.len(), 2);
    let s = &seen[0];
    assert_eq!((s.method.as_str(), s.url.as_str()), ("POST", "/acs?x=1"));
    assert_eq!(
        s.header("Content-Type"),
        Some("text/xml; charset=\"utf-8\"")
    );
    assert_eq!(s.header("SOAPAction"), Some(""));
    assert_eq!(
        s.header("Content-Length"),
        Some(SOAP.len().to_string().as_str())
    );
    assert_eq!(s.header("Expect"), None);
    assert_eq!(s.header("Authorization"), None);
    assert!(s.header("User-Agent").unwrap().starts_with("icwmp/"));
    assert_eq!(s.body, SOAP);
    let e = &seen[1];
    assert_eq!(e.header("Content-Length"), Some("0"));
    assert_eq!(e.header("Content-Type"), None);
    assert_eq!(e.header("SOAPAction"), None);
    assert!(e.body.is_empty());
}

#[test]
fn basic_challenge_then_preemptive() {
    let srv = TestServer::start(|s, _| match s.header("Authorization") {
        None => Reply::new(401).header("WWW-Authenticate", "Basic realm=\"acs\""),
        Some(_) => Reply::new(200),
    });
    let mut c = client(&srv.base);
    c.post(SOAP).unwrap();
    c.post(b"").unwrap();
    let seen = srv.all();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].header("Authorization"), None);
    // base64("cpe:pw")
    assert_eq!(seen[1].header("Authorization"), Some("Basic Y3BlOnB3"));
    assert_eq!(seen[1].body, SOAP);
    assert_eq!(seen[2].header("Authorization"), Some("Basic Y3BlOnB3"));
}

/// A Digest-protected ACS: checks every response hash, remembers the nc values seen.
fn digest_acs(algorithm: &'static str) -> (TestServer, Arc<Mutex<Vec<String>>>) {
    let ncs = Arc::new(Mutex::new(Vec::new()));
    let ncs2 = ncs.clone();
    let challenge = format!(
        "Basic realm=\"acs\", Digest realm=\"acs\", qop=\"auth\", nonce=\"n0nce\", opaque=\"op\", algorithm={algorithm}"
    );
    let srv = TestServer::start(move |s: &Seen, _| {
        let Some(a) = s.header("Authorization") else {
            return Reply::new(401).header("WWW-Authenticate", &challenge);
        };
        let p = &parse_challenges([a])[0];
        assert!(p.is("Digest"), "{a}");
        assert_eq!(p.get("uri"), Some(s.url.as_str()));
        assert_eq!(p.get("opaque"), Some("op"));
        let want = digest::response(&DigestInput {
            algorithm: Algorithm::parse(p.get("algorithm").unwrap()).unwrap(),
            username: "cpe",
            realm: "acs",
            password: "pw",
            method: "POST",
            uri: p.get("uri").unwrap(),
            nonce: "n0nce",
            nc: p.get("nc").unwrap(),
            cnonce: p.get("cnonce").unwrap(),
            qop: Some("auth"),
        });
        if p.get("response") != Some(want.as_str()) {
            return Reply::new(401).header("WWW-Authenticate", &challenge);
        }
        ncs2.lock().unwrap().push(p.get("nc").unwrap().to_string());
        Reply::new(200)
    });
    (srv, ncs)
}

#[test]
fn digest_challenge_then_nc_counts_up() {
    let (srv, ncs) = digest_acs("MD5");
    let mut c = client(&format!("{}/cwmp", srv.base));
    c.post(SOAP).unwrap();
    c.post(SOAP).unwrap();
    c.post(b"").unwrap();
    assert_eq!(*ncs.lock().unwrap(), ["00000001", "00000002", "00000003"]);
    assert_eq!(srv.all().len(), 4); // one 401, then pre-emptive credentials
}

#[test]
fn digest_sha256_challenge() {
    let (srv, ncs) = digest_acs("SHA-256");
    let mut c = client(&srv.base);
    c.post(SOAP).unwrap();
    assert_eq!(ncs.lock().unwrap().len(), 1);
    let seen = srv.all();
    assert!(seen[1]
        .header("Authorization")
        .unwrap()
        .contains("algorithm=SHA-256"));
}

#[test]
fn wrong_password_fails_after_one_resend() {
    let (srv, _) = digest_acs("MD5");
    let mut o = opts(&srv.base);
    o.password = "bad".into();
    let mut c = AcsClient::new(o).unwrap();
    assert_eq!(c.post(SOAP), Err(HttpError::AuthFailed));
    assert_eq!(srv.all().len(), 2);
}

#[test]
fn no_username_or_no_usable_challenge_fails() {
    let srv = TestServer::start(|_, _| Reply::new(401).header("WWW-Authenticate", "Negotiate"));
    let mut c = client(&srv.base);
    assert_eq!(c.post(SOAP), Err(HttpError::AuthFailed));
    let mut o = opts(&srv.base);
    o.username.clear();
    let mut c = AcsClient::new(o).unwrap();
    assert_eq!(c.post(SOAP), Err(HttpError::AuthFailed));
    assert_eq!(srv.all().len(), 2);
}

#[test]
fn end_session_drops_digest_state() {
    let (srv, ncs) = digest_acs("MD5");
    let mut c = client(&srv.base);
    c.post(SOAP).unwrap();
    c.end_session();
    c.post(SOAP).unwrap();
    assert_eq!(*ncs.lock().unwrap(), ["00000001", "00000001"]);
    let seen = srv.all();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2].header("Authorization"), None);
}

#[test]
fn cookies_returned_then_dropped_after_end_session() {
    let srv = TestServer::start(|_, i| match i {
        0 => Reply::new(200)
            .header("Set-Cookie", "session=abc; Path=/; HttpOnly")
            .header("Set-Cookie", "lb=7"),
        2 => Reply::new(200).header("Set-Cookie", "lb=; Max-Age=0"),
        _ => Reply::new(200),
    });
    let mut c = client(&srv.base);
    for _ in 0..4 {
        c.post(SOAP).unwrap();
    }
    c.end_session();
    c.post(SOAP).unwrap();
    let seen = srv.all();
    assert_eq!(seen[0].header("Cookie"), None);
    assert_eq!(seen[1].header("Cookie"), Some("session=abc; lb=7"));
    assert_eq!(seen[2].header("Cookie"), Some("session=abc; lb=7"));
    assert_eq!(seen[3].header("Cookie"), Some("session=abc"));
    assert_eq!(seen[4].header("Cookie"), None);
}

#[test]
fn redirect_to_other_port_keeps_post_without_credentials() {
    let other = TestServer::start(|_, _| Reply::new(200).body("from-b"));
    let loc = format!("{}/acs2?k=v", other.base);
    let main = TestServer::start(move |s, _| match s.header("Authorization") {
        None => Reply::new(401).header("WWW-Authenticate", "Basic realm=\"a\""),
        Some(_) => Reply::new(307).header("Location", &loc),
    });
    let mut c = client(&format!("{}/acs", main.base));
    let r = c.post(SOAP).unwrap();
    assert_eq!(r.body, b"from-b");
    assert_eq!(c.current_url(), format!("{}/acs2?k=v", other.base));
    c.post(b"").unwrap(); // rest of the session goes to the new URL
    let b = other.all();
    assert_eq!(b.len(), 2);
    assert_eq!(
        (b[0].method.as_str(), b[0].url.as_str()),
        ("POST", "/acs2?k=v")
    );
    assert_eq!(b[0].body, SOAP);
    assert_eq!(b[0].header("Authorization"), None);
    assert_eq!(b[1].header("Authorization"), None);
    assert_eq!(main.all().len(), 2);
    c.end_session();
    assert_eq!(c.current_url(), format!("{}/acs", main.base));
    c.post(SOAP).unwrap();
    assert_eq!(main.all().len(), 2); // 401 + 307 again
}

#[test]
fn relative_redirect_on_same_origin_keeps_credentials() {
    let srv = TestServer::start(|s, _| match (s.url.as_str(), s.header("Authorization")) {
        (_, None) => Reply::new(401).header("WWW-Authenticate", "Basic realm=\"a\""),
        ("/a/start", Some(_)) => Reply::new(302).header("Location", "next"),
        (_, Some(_)) => Reply::new(200),
    });
    let mut c = client(&format!("{}/a/start", srv.base));
    c.post(SOAP).unwrap();
    let seen = srv.all();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].url, "/a/next");
    assert!(seen[2].header("Authorization").is_some());
    assert_eq!(seen[2].body, SOAP);
}

#[test]
fn redirect_limit_is_five_per_session() {
    let srv = TestServer::start(|_, i| Reply::new(302).header("Location", &format!("/r{i}")));
    let mut c = client(&srv.base);
    assert_eq!(c.post(SOAP), Err(HttpError::TooManyRedirects));
    assert_eq!(srv.all().len(), 6);
    c.end_session();
    assert_eq!(c.post(SOAP), Err(HttpError::TooManyRedirects));
    assert_eq!(srv.all().len(), 6);
}

#[test]
fn http_415_resends_uncompressed_and_disables_compression() {
    let srv = TestServer::start(|s, _| match s.header("Content-Encoding") {
        Some(_) => Reply::new(415),
        None => Reply::new(200),
    });
    let mut o = opts(&srv.base);
    o.compression = Compression::Gzip;
    let mut c = AcsClient::new(o.clone()).unwrap();
    c.post(SOAP).unwrap();
    assert!(c.compression_refused());
    c.post(SOAP).unwrap();
    c.reconfigure(o).unwrap();
    c.post(SOAP).unwrap();
    let seen = srv.all();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].header("Content-Encoding"), Some("gzip"));
    for s in &seen[1..] {
        assert_eq!(s.header("Content-Encoding"), None);
        assert_eq!(s.body, SOAP);
    }
}

#[test]
fn gzip_and_deflate_bodies_decompress_to_the_original() {
    let big: Vec<u8> = SOAP.iter().cycle().take(20_000).copied().collect();
    for (comp, name) in [
        (Compression::Gzip, "gzip"),
        (Compression::Deflate, "deflate"),
    ] {
        let srv = TestServer::start(|_, _| Reply::new(200));
        let mut o = opts(&srv.base);
        o.compression = comp;
        let mut c = AcsClient::new(o).unwrap();
        c.post(&big).unwrap();
        c.post(b"").unwrap();
        let seen = srv.all();
        assert_eq!(seen[0].header("Content-Encoding"), Some(name));
        assert!(seen[0].body.len() < big.len() / 10);
        let mut out = Vec::new();
        match comp {
            Compression::Gzip => GzDecoder::new(&seen[0].body[..]).read_to_end(&mut out),
            _ => ZlibDecoder::new(&seen[0].body[..]).read_to_end(&mut out),
        }
        .unwrap();
        assert_eq!(out, big);
        // The empty POST is never compressed.
        assert_eq!(seen[1].header("Content-Encoding"), None);
        assert_eq!(seen[1].header("Content-Length"), Some("0"));
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn compressed_responses_are_decoded_and_bounded() {
    let body = gzip(b"<ok/>");
    let bomb = gzip(&vec![b'a'; 100_000]);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&vec![b'a'; 100_000]).unwrap();
    let zlib_bomb = z.finish().unwrap();
    let srv = TestServer::start(move |_, i| match i {
        0 => Reply::new(200)
            .header("Content-Encoding", "gzip")
            .body(body.clone()),
        1 => Reply::new(200)
            .header("Content-Encoding", "gzip")
            .body(bomb.clone()),
        2 => Reply::new(200)
            .header("Content-Encoding", "deflate")
            .body(zlib_bomb.clone()),
        _ => Reply::new(200).body(vec![b'x'; 5000]),
    });
    let mut o = opts(&srv.base);
    o.max_body = 4096;
    let mut c = AcsClient::new(o).unwrap();
    assert_eq!(c.post(SOAP).unwrap().body, b"<ok/>");
    assert_eq!(c.post(SOAP), Err(HttpError::BodyTooLarge));
    // A zlib bomb is too large too (it was "corrupt deflate stream").
    assert_eq!(c.post(SOAP), Err(HttpError::BodyTooLarge));
    assert_eq!(c.post(SOAP), Err(HttpError::BodyTooLarge));
}

#[test]
fn other_statuses_are_errors() {
    let srv = TestServer::start(|_, i| Reply::new(if i == 0 { 500 } else { 415 }));
    let mut c = client(&srv.base);
    assert_eq!(c.post(SOAP), Err(HttpError::Status(500)));
    // 415 without compression is just a failure.
    assert_eq!(c.post(SOAP), Err(HttpError::Status(415)));
    let srv = TestServer::start(|_, _| Reply::new(302));
    let mut c = client(&srv.base);
    assert_eq!(c.post(SOAP), Err(HttpError::Status(302))); // no Location
}

#[test]
fn connect_timeout_and_url_errors() {
    // A port with nobody listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut c = client(&format!("http://127.0.0.1:{port}/"));
    assert!(
        matches!(c.post(SOAP), Err(HttpError::Connect(_))),
        "{:?}",
        c.post(SOAP)
    );
    // A server that accepts but never answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = opts(&format!("http://{}/", l.local_addr().unwrap()));
    o.timeout = Duration::from_millis(300);
    let mut c = AcsClient::new(o).unwrap();
    assert_eq!(c.post(SOAP), Err(HttpError::Timeout));
    drop(l);
    assert!(matches!(
        AcsClient::new(opts("ftp://x/")),
        Err(HttpError::BadUrl(_))
    ));
    let e = AcsClient::new(opts("http://x/")).err();
    assert!(e.is_none());
    assert!(format!("{:?}", opts("http://x/")).contains("<hidden>"));
    assert!(!format!("{:?}", opts("http://x/")).contains("\"pw\""));
}

/// The request head exactly as written on the socket.
fn raw_head(body: &[u8]) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/acs", l.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut b).unwrap();
            buf.push(b[0]);
        }
        let head = String::from_utf8(buf).unwrap();
        let len = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().to_string())
            })
            .map_or(0, |v| v.parse::<usize>().unwrap());
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        head
    });
    client(&url).post(body).unwrap();
    t.join().unwrap()
}

#[test]
fn request_heads_on_the_wire() {
    // ureq (the `http` crate) writes header names in lower case; HTTP says case-insensitive.
    let h = raw_head(SOAP).to_ascii_lowercase();
    assert!(h.starts_with("post /acs http/1.1\r\n"), "{h}");
    assert!(
        h.contains("\r\nsoapaction: \r\n") || h.contains("\r\nsoapaction:\r\n"),
        "{h}"
    );
    assert!(
        h.contains("\r\ncontent-type: text/xml; charset=\"utf-8\"\r\n"),
        "{h}"
    );
    assert!(
        h.contains(&format!("\r\ncontent-length: {}\r\n", SOAP.len())),
        "{h}"
    );
    assert!(!h.contains("expect"), "{h}");
    assert!(!h.contains("transfer-encoding"), "{h}");
    let h = raw_head(b"").to_ascii_lowercase();
    assert!(h.contains("\r\ncontent-length: 0\r\n"), "{h}");
    assert!(
        !h.contains("soapaction") && !h.contains("content-type"),
        "{h}"
    );
}
