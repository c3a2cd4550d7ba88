//! Transfers against real servers: tiny_http and raw TCP/TLS servers in-test, and a real FTP
//! server (pyftpdlib, skipped with a note when it is not installed:
//! `python3 -m pip install pyftpdlib pyopenssl`).

use super::http::{download, upload, NetOptions, SizeLimit};
use super::Failure;
use crate::http::digest::{parse_challenges, response, Algorithm, DigestInput};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

fn tmp(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "icwmp-net-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn opts() -> NetOptions {
    NetOptions {
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_millis(800),
        ..NetOptions::default()
    }
}

fn limit(announced: u64) -> SizeLimit {
    SizeLimit {
        announced,
        free: u64::MAX,
    }
}

fn code(r: Result<impl std::fmt::Debug, Failure>) -> u32 {
    match r {
        Err(f) => f.code.0,
        Ok(v) => panic!("expected a failure, got {v:?}"),
    }
}

/// A tiny_http server answering with `f(method, url, authorization, body)`.
fn serve(
    f: impl Fn(&str, &str, Option<&str>, &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>)
        + Send
        + 'static,
) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for mut rq in server.incoming_requests() {
            let mut body = Vec::new();
            let _ = rq.as_reader().read_to_end(&mut body);
            let authz = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.to_string());
            let (status, headers, out) = f(rq.method().as_str(), rq.url(), authz.as_deref(), &body);
            let mut resp = tiny_http::Response::from_data(out).with_status_code(status);
            for (k, v) in headers {
                resp.add_header(tiny_http::Header::from_bytes(k, v).unwrap());
            }
            let _ = rq.respond(resp);
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn ok(body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    (200, vec![], body.to_vec())
}

#[test]
fn http_download_streams_to_file_and_enforces_file_size() {
    let data: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let d2 = data.clone();
    let base = serve(move |_, url, _, _| match url {
        "/f" => ok(&d2),
        "/small" => ok(b"0123456789"),
        "/gone" => (404, vec![], vec![]),
        "/boom" => (500, vec![], vec![]),
        "/forbidden" => (403, vec![], vec![]),
        "/moved" => (302, vec![("Location".into(), "/f".into())], vec![]),
        "/loop" => (302, vec![("Location".into(), "/loop".into())], vec![]),
        "/ftp" => (302, vec![("Location".into(), "gopher://x/".into())], vec![]),
        _ => (400, vec![], vec![]),
    });
    let dir = tmp("http");
    let dest = dir.join("out");
    let get = |path: &str, announced| {
        download(
            &format!("{base}{path}"),
            "",
            "",
            &opts(),
            &dest,
            limit(announced),
        )
    };
    assert_eq!(get("/f", 0).unwrap(), data.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert_eq!(get("/f", data.len() as u64).unwrap(), data.len() as u64);
    assert_eq!(get("/moved", 0).unwrap(), data.len() as u64);
    // Larger than announced: refused from Content-Length before any byte is written, or
    // (chunked) as soon as the count passes it.
    std::fs::remove_file(&dest).unwrap();
    assert_eq!(code(get("/small", 5)), 9010);
    assert!(!dest.exists(), "refused before writing");
    assert_eq!(code(get("/f", 1000)), 9010);
    assert_eq!(code(get("/f", data.len() as u64 + 1)), 9017);
    assert_eq!(code(get("/gone", 0)), 9016);
    assert_eq!(code(get("/boom", 0)), 9010);
    assert_eq!(code(get("/forbidden", 0)), 9012);
    assert_eq!(code(get("/loop", 0)), 9010);
    assert_eq!(code(get("/ftp", 0)), 9010);
    // Not enough space on the target filesystem.
    let small = SizeLimit {
        announced: 0,
        free: 1000,
    };
    let r = download(&format!("{base}/f"), "", "", &opts(), &dest, small);
    assert_eq!(code(r), 9010);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn http_basic_and_digest_auth() {
    let base = serve(|method, url, authz, _| {
        let want_basic = format!("Basic {}", openssl::base64::encode_block(b"u:p"));
        match (url, authz) {
            ("/basic", Some(a)) if a == want_basic => ok(b"basic-ok"),
            ("/basic", _) => (
                401,
                vec![("WWW-Authenticate".into(), "Basic realm=\"f\"".into())],
                vec![],
            ),
            ("/digest", Some(a)) if a.starts_with("Digest ") => {
                let p = &parse_challenges([a])[0];
                let expected = response(&DigestInput {
                    algorithm: Algorithm::Md5,
                    username: "u",
                    realm: "files",
                    password: "p",
                    method,
                    uri: "/digest",
                    nonce: "n0nce",
                    nc: p.get("nc").unwrap_or(""),
                    cnonce: p.get("cnonce").unwrap_or(""),
                    qop: Some("auth"),
                });
                if p.get("response") == Some(expected.as_str()) {
                    ok(b"digest-ok")
                } else {
                    (403, vec![], vec![])
                }
            }
            ("/digest", _) => (
                401,
                vec![(
                    "WWW-Authenticate".into(),
                    "Digest realm=\"files\", nonce=\"n0nce\", qop=\"auth\"".into(),
                )],
                vec![],
            ),
            _ => (400, vec![], vec![]),
        }
    });
    let dir = tmp("auth");
    let dest = dir.join("out");
    let get = |p: &str, u: &str, pw: &str| {
        download(&format!("{base}{p}"), u, pw, &opts(), &dest, limit(0))
    };
    get("/basic", "u", "p").unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"basic-ok");
    get("/digest", "u", "p").unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"digest-ok");
    assert_eq!(code(get("/basic", "u", "wrong")), 9012);
    assert_eq!(code(get("/basic", "", "")), 9012);
    assert_eq!(code(get("/digest", "u", "wrong")), 9012);
    // PUT with digest: the method is part of the hash.
    let src = dir.join("up");
    std::fs::write(&src, b"payload").unwrap();
    assert_eq!(
        code(upload(&format!("{base}/digest"), "u", "bad", &opts(), &src)),
        9012
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn http_upload_puts_the_file() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let base = serve(move |method, url, _, body| {
        tx.send((method.to_string(), url.to_string(), body.to_vec()))
            .unwrap();
        match url {
            "/up" => (201, vec![], vec![]),
            "/moved" => (307, vec![("Location".into(), "/up".into())], vec![]),
            _ => (500, vec![], vec![]),
        }
    });
    let dir = tmp("put");
    let src = dir.join("f");
    std::fs::write(&src, b"config data").unwrap();
    upload(&format!("{base}/up"), "", "", &opts(), &src).unwrap();
    assert_eq!(
        rx.recv().unwrap(),
        ("PUT".into(), "/up".into(), b"config data".to_vec())
    );
    upload(&format!("{base}/moved"), "", "", &opts(), &src).unwrap();
    assert_eq!(rx.recv().unwrap().1, "/moved");
    assert_eq!(rx.recv().unwrap().2, b"config data");
    assert_eq!(
        code(upload(&format!("{base}/err"), "", "", &opts(), &src)),
        9011
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A raw server: reads the request head, then runs `f` on the socket.
fn raw(f: impl Fn(&mut TcpStream) + Send + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            f(&mut s);
        }
    });
    format!("http://127.0.0.1:{port}/f")
}

#[test]
fn truncated_slow_silent_and_unreachable_servers() {
    let dir = tmp("raw");
    let dest = dir.join("out");
    let get = |url: &str| download(url, "", "", &opts(), &dest, limit(0));
    let truncated = raw(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    });
    assert_eq!(code(get(&truncated)), 9017);
    // Bytes keep coming, each gap shorter than the idle timeout: the download succeeds.
    let slow = raw(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        for b in b"slow!" {
            std::thread::sleep(Duration::from_millis(300));
            let _ = s.write_all(&[*b]);
        }
    });
    assert_eq!(get(&slow).unwrap(), 5);
    let stalls = raw(|s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab");
        std::thread::sleep(Duration::from_secs(3));
    });
    assert_eq!(code(get(&stalls)), 9017);
    let silent = raw(|_| std::thread::sleep(Duration::from_secs(3)));
    let t = std::time::Instant::now();
    assert_eq!(code(get(&silent)), 9015);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "gave up on the idle timeout"
    );
    let garbage = raw(|s| {
        let _ = s.write_all(b"\x00\x01garbage that is not HTTP\r\n\r\n");
    });
    let c = code(get(&garbage));
    assert!(c == 9010 || c == 9015, "{c}");
    // Refused: a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(code(get(&format!("http://127.0.0.1:{port}/f"))), 9015);
    assert_eq!(code(get("http://no-such-host.invalid/f")), 9015);
    std::fs::remove_dir_all(dir).unwrap();
}

// --- TLS ------------------------------------------------------------------------------------

mod pki {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
    use openssl::x509::{X509Name, X509};

    pub fn key() -> PKey<Private> {
        let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
    }

    /// A CA and a server certificate for 127.0.0.1/localhost signed by it.
    pub fn make() -> (X509, X509, PKey<Private>) {
        let name = |cn: &str| {
            let mut n = X509Name::builder().unwrap();
            n.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
            n.build()
        };
        let base = |subject: &X509Name, k: &PKey<Private>, serial| {
            let mut b = X509::builder().unwrap();
            b.set_version(2).unwrap();
            let sn = BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap();
            b.set_serial_number(&sn).unwrap();
            b.set_subject_name(subject).unwrap();
            b.set_pubkey(k).unwrap();
            b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
                .unwrap();
            b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
                .unwrap();
            b
        };
        let ca_key = key();
        let ca_name = name("Transfer Test CA");
        let mut b = base(&ca_name, &ca_key, 1);
        b.set_issuer_name(&ca_name).unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = b.build();
        let skey = key();
        let mut b = base(&name("localhost"), &skey, 2);
        b.set_issuer_name(ca.subject_name()).unwrap();
        let san = SubjectAlternativeName::new()
            .ip("127.0.0.1")
            .dns("localhost")
            .build(&b.x509v3_context(Some(&ca), None))
            .unwrap();
        b.append_extension(san).unwrap();
        b.sign(&ca_key, MessageDigest::sha256()).unwrap();
        (ca, b.build(), skey)
    }
}

#[test]
fn https_download_verifies_the_server() {
    use openssl::ssl::{SslAcceptor, SslMethod};
    let (ca, cert, key) = pki::make();
    let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    acc.set_certificate(&cert).unwrap();
    acc.set_private_key(&key).unwrap();
    let acc = acc.build();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let Ok(mut s) = acc.accept(tcp) else { continue };
            let mut buf = [0u8; 4096];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret",
            );
            let _ = s.shutdown();
        }
    });
    let dir = tmp("https");
    std::fs::write(dir.join("ca.pem"), ca.to_pem().unwrap()).unwrap();
    let dest = dir.join("out");
    let url = format!("https://127.0.0.1:{port}/f");
    let mut o = opts();
    o.tls.ca_file = Some(dir.join("ca.pem"));
    assert_eq!(download(&url, "", "", &o, &dest, limit(6)).unwrap(), 6);
    assert_eq!(std::fs::read(&dest).unwrap(), b"secret");
    // Verification is on by default: an unknown CA is refused.
    let mut o = opts();
    o.tls.ca_path = Some(dir.join("nothing-here"));
    std::fs::create_dir_all(dir.join("nothing-here")).unwrap();
    assert_eq!(code(download(&url, "", "", &o, &dest, limit(0))), 9015);
    std::fs::remove_dir_all(dir).unwrap();
}

// --- FTP ------------------------------------------------------------------------------------

const FTP_SERVER: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
root, cert = sys.argv[1], sys.argv[2]
auth = DummyAuthorizer()
auth.add_user("user", "pass", root, perm="elradfmw")
if cert != "-":
    from pyftpdlib.handlers import TLS_FTPHandler as H
    H.certfile = cert
    H.tls_control_required = True
    H.tls_data_required = True
else:
    H = FTPHandler
H.authorizer = auth
H.auth_failed_timeout = 0
H.permit_foreign_addresses = False
import logging
logging.basicConfig(level=logging.ERROR)
s = FTPServer(("127.0.0.1", 0), H)
print(s.address[1], flush=True)
s.serve_forever()
"#;

struct Ftpd(std::process::Child, u16);

impl Drop for Ftpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts pyftpdlib on `root`; `None` (with a note) when it is not installed.
fn ftpd(root: &Path, cert: Option<&Path>, tls: bool) -> Option<Ftpd> {
    let module = if tls {
        "import pyftpdlib, OpenSSL"
    } else {
        "import pyftpdlib"
    };
    let have = std::process::Command::new("python3")
        .args(["-c", module])
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("note: FTP test skipped: python3 -m pip install pyftpdlib pyopenssl");
        return None;
    }
    let cert = cert.map_or("-".to_string(), |c| c.display().to_string());
    let mut child = std::process::Command::new("python3")
        .args(["-c", FTP_SERVER])
        .arg(root)
        .arg(cert)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let port = line.trim().parse().ok()?;
    Some(Ftpd(child, port))
}

#[test]
fn ftp_download_and_upload_through_pyftpdlib() {
    let dir = tmp("ftp");
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("sub/fw.bin"), &data).unwrap();
    let Some(srv) = ftpd(&root, None, false) else {
        return;
    };
    let base = format!("ftp://127.0.0.1:{}", srv.1);
    let dest = dir.join("out");
    let ftp = super::ftp::download;
    let n = ftp(
        &format!("{base}/sub/fw.bin"),
        "user",
        "pass",
        &opts(),
        &dest,
        limit(data.len() as u64),
    )
    .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    let get = |p: &str, u: &str, pw: &str, l| ftp(&format!("{base}{p}"), u, pw, &opts(), &dest, l);
    assert_eq!(code(get("/sub/fw.bin", "user", "wrong", limit(0))), 9012);
    assert_eq!(code(get("/sub/none.bin", "user", "pass", limit(0))), 9016);
    assert_eq!(code(get("/sub/fw.bin", "user", "pass", limit(10))), 9010);
    let src = dir.join("up");
    std::fs::write(&src, b"log lines\n").unwrap();
    super::ftp::upload(
        &format!("{base}/sub/log.txt"),
        "user",
        "pass",
        &opts(),
        &src,
    )
    .unwrap();
    assert_eq!(
        std::fs::read(root.join("sub/log.txt")).unwrap(),
        b"log lines\n"
    );
    let port = srv.1;
    drop(srv);
    let r = ftp(
        &format!("ftp://127.0.0.1:{port}/x"),
        "user",
        "pass",
        &opts(),
        &dest,
        limit(0),
    );
    assert_eq!(code(r), 9015);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ftps_explicit_tls_through_pyftpdlib() {
    let dir = tmp("ftps");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("cfg.txt"), b"tls file").unwrap();
    let (ca, cert, key) = pki::make();
    let mut pem = cert.to_pem().unwrap();
    pem.extend(key.private_key_to_pem_pkcs8().unwrap());
    std::fs::write(dir.join("server.pem"), pem).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.to_pem().unwrap()).unwrap();
    let Some(srv) = ftpd(&root, Some(&dir.join("server.pem")), true) else {
        return;
    };
    let base = format!("ftps://127.0.0.1:{}", srv.1);
    let mut o = opts();
    o.idle_timeout = Duration::from_secs(5);
    o.tls.ca_file = Some(dir.join("ca.pem"));
    let dest = dir.join("out");
    super::ftp::download(
        &format!("{base}/cfg.txt"),
        "user",
        "pass",
        &o,
        &dest,
        limit(0),
    )
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"tls file");
    super::ftp::upload(&format!("{base}/back.txt"), "user", "pass", &o, &dest).unwrap();
    assert_eq!(std::fs::read(root.join("back.txt")).unwrap(), b"tls file");
    // Plain FTP to a server that requires TLS: the login is refused.
    let plain = format!("ftp://127.0.0.1:{}/cfg.txt", srv.1);
    let c = code(super::ftp::download(
        &plain,
        "user",
        "pass",
        &o,
        &dest,
        limit(0),
    ));
    assert_eq!(c, 9012);
    // An untrusted certificate is refused.
    let mut o2 = opts();
    o2.tls.ca_file = None;
    o2.tls.ca_path = Some(dir.join("root"));
    let c = code(super::ftp::download(
        &format!("{base}/cfg.txt"),
        "user",
        "pass",
        &o2,
        &dest,
        limit(0),
    ));
    assert_eq!(c, 9015);
    std::fs::remove_dir_all(dir).unwrap();
}
