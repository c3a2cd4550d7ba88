//! HTTPS: certificates made with the openssl crate, a one-shot OpenSSL TLS server per test.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509Name, X509};

use super::*;

fn key() -> (PKey<Private>, EcKey<Private>) {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let ec = EcKey::generate(&g).unwrap();
    (PKey::from_ec_key(ec.clone()).unwrap(), ec)
}

fn cert(
    cn: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    serial: u32,
) -> X509 {
    let mut name = X509Name::builder().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    match issuer {
        None => {
            b.set_issuer_name(&name).unwrap();
            b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
                .unwrap();
            b.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ica, ikey)) => {
            b.set_issuer_name(ica.subject_name()).unwrap();
            let mut san = SubjectAlternativeName::new();
            // "elsewhere" is a certificate issued for another host.
            if cn == "elsewhere" {
                san.dns("elsewhere.example");
            } else {
                san.ip("127.0.0.1").dns("localhost");
            }
            let san = san.build(&b.x509v3_context(Some(ica), None)).unwrap();
            b.append_extension(san).unwrap();
            b.sign(ikey, MessageDigest::sha256()).unwrap();
        }
    }
    b.build()
}

struct Pki {
    dir: PathBuf,
    ca: X509,
    server: (X509, PKey<Private>),
    elsewhere: (X509, PKey<Private>),
}

impl Pki {
    fn new() -> Pki {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "icwmp-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("cadir")).unwrap();
        std::fs::create_dir_all(dir.join("empty")).unwrap();
        let (ca_key, _) = key();
        let ca = cert("Test CA", &ca_key, None, 1);
        let (skey, _) = key();
        let scert = cert("localhost", &skey, Some((&ca, &ca_key)), 2);
        let (ekey, _) = key();
        let ecert = cert("elsewhere", &ekey, Some((&ca, &ca_key)), 4);
        let (ckey, cec) = key();
        let ccert = cert("cpe", &ckey, Some((&ca, &ca_key)), 3);
        std::fs::write(dir.join("ca.pem"), ca.to_pem().unwrap()).unwrap();
        std::fs::write(dir.join("cadir/acs-ca.pem"), ca.to_pem().unwrap()).unwrap();
        std::fs::write(dir.join("cadir/README"), "not a certificate").unwrap();
        std::fs::write(dir.join("client.pem"), ccert.to_pem().unwrap()).unwrap();
        // SEC1 "EC PRIVATE KEY" form: the client must convert it to PKCS#8 itself.
        std::fs::write(dir.join("client.key"), cec.private_key_to_pem().unwrap()).unwrap();
        Pki {
            dir,
            ca,
            server: (scert, skey),
            elsewhere: (ecert, ekey),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.join(p)
    }

    /// Serves one TLS connection; returns the client certificate CN seen (if any), or the
    /// handshake error.
    fn serve_once(
        &self,
        require_client_cert: bool,
    ) -> (u16, JoinHandle<Result<Option<String>, String>>) {
        self.serve_once_as(&self.server, require_client_cert)
    }

    /// As [`Pki::serve_once`], presenting `id` as the server's certificate.
    fn serve_once_as(
        &self,
        id: &(X509, PKey<Private>),
        require_client_cert: bool,
    ) -> (u16, JoinHandle<Result<Option<String>, String>>) {
        let mut acc = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acc.set_certificate(&id.0).unwrap();
        acc.set_private_key(&id.1).unwrap();
        if require_client_cert {
            let mut store = X509StoreBuilder::new().unwrap();
            store.add_cert(self.ca.clone()).unwrap();
            acc.set_verify_cert_store(store.build()).unwrap();
            acc.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
        }
        let acc = acc.build();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (tcp, _) = l.accept().map_err(|e| e.to_string())?;
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut s = acc.accept(tcp).map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the whole request (head and body): closing with unread bytes would
            // reset the connection before the client reads the answer.
            let complete = |b: &[u8]| {
                let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return false;
                };
                let head = String::from_utf8_lossy(&b[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                b.len() >= end + 4 + len
            };
            while !complete(&buf) {
                let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("eof".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                .map_err(|e| e.to_string())?;
            let _ = s.shutdown();
            Ok(s.ssl().peer_certificate().and_then(|c| {
                c.subject_name()
                    .entries_by_nid(Nid::COMMONNAME)
                    .next()
                    .and_then(|e| e.data().to_string().ok())
            }))
        });
        (port, t)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn https_opts(port: u16) -> HttpOptions {
    let mut o = HttpOptions::new(format!("https://localhost:{port}/acs"));
    o.timeout = Duration::from_secs(5);
    o
}

fn post(o: HttpOptions) -> Result<HttpReply, HttpError> {
    AcsClient::new(o)?.post(b"<x/>")
}

#[test]
fn verifies_with_ca_file() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.tls.ca_file = Some(pki.path("ca.pem"));
    assert_eq!(post(o).unwrap().body, b"ok");
    assert_eq!(t.join().unwrap(), Ok(None));
}

#[test]
fn verifies_with_ca_path() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.tls.ca_path = Some(pki.path("cadir"));
    assert_eq!(post(o).unwrap().body, b"ok");
    t.join().unwrap().unwrap();
}

#[test]
fn fails_without_the_ca() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.tls.ca_path = Some(pki.path("empty"));
    match post(o) {
        Err(HttpError::Tls(m)) => assert!(m.contains("local issuer certificate"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(t.join().unwrap().is_err());
}

#[test]
fn verifies_an_ip_address_url() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.url = format!("https://127.0.0.1:{port}/acs");
    o.tls.ca_file = Some(pki.path("ca.pem"));
    assert_eq!(post(o).unwrap().body, b"ok");
    t.join().unwrap().unwrap();
}

#[test]
fn refuses_a_certificate_for_another_host() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once_as(&pki.elsewhere, false);
    let mut o = https_opts(port);
    o.tls.ca_file = Some(pki.path("ca.pem"));
    match post(o.clone()) {
        Err(HttpError::Tls(m)) => assert!(m.contains("mismatch"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(t.join().unwrap().is_err());
    // Without verification (insecure_enable) the name is not checked either.
    let (port, t) = pki.serve_once_as(&pki.elsewhere, false);
    o.url = format!("https://localhost:{port}/acs");
    o.tls.insecure = true;
    assert_eq!(post(o).unwrap().body, b"ok");
    t.join().unwrap().unwrap();
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let pki = Pki::new();
    let (_, other) = key();
    std::fs::write(pki.path("other.key"), other.private_key_to_pem().unwrap()).unwrap();
    let mut o = https_opts(1);
    o.tls.client_cert = Some(pki.path("client.pem"));
    o.tls.client_key = Some(pki.path("other.key"));
    match AcsClient::new(o) {
        Err(HttpError::Tls(m)) => assert!(m.contains("does not match"), "{m}"),
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("accepted a key of another certificate"),
    }
}

#[test]
fn insecure_skips_verification() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.tls.ca_path = Some(pki.path("empty"));
    o.tls.insecure = true;
    assert_eq!(post(o).unwrap().body, b"ok");
    t.join().unwrap().unwrap();
}

#[test]
fn mutual_tls_presents_client_certificate() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once(true);
    let mut o = https_opts(port);
    o.tls.ca_file = Some(pki.path("ca.pem"));
    o.tls.client_cert = Some(pki.path("client.pem"));
    o.tls.client_key = Some(pki.path("client.key"));
    assert_eq!(post(o).unwrap().body, b"ok");
    assert_eq!(t.join().unwrap(), Ok(Some("cpe".to_string())));
}

#[test]
fn mutual_tls_without_client_certificate_fails() {
    let pki = Pki::new();
    let (port, t) = pki.serve_once(true);
    let mut o = https_opts(port);
    o.tls.ca_file = Some(pki.path("ca.pem"));
    assert!(post(o).is_err());
    assert!(t.join().unwrap().is_err());
}

#[test]
fn unreadable_certificate_files_are_tls_errors() {
    let pki = Pki::new();
    let mut o = https_opts(1);
    o.tls.ca_file = Some(pki.path("missing.pem"));
    assert!(matches!(AcsClient::new(o), Err(HttpError::Tls(_))));
    let mut o = https_opts(1);
    o.tls.ca_path = Some(pki.path("missing-dir"));
    assert!(matches!(AcsClient::new(o), Err(HttpError::Tls(_))));
    let mut o = https_opts(1);
    o.tls.client_key = Some(pki.path("client.key"));
    assert!(matches!(AcsClient::new(o), Err(HttpError::Tls(_))));
    let mut o = https_opts(1);
    o.tls.client_cert = Some(pki.path("client.pem"));
    o.tls.client_key = Some(Path::new("/nonexistent/key").into());
    assert!(matches!(AcsClient::new(o), Err(HttpError::Tls(_))));
}

#[test]
fn a_hashed_ca_directory_is_searched_by_subject_hash() {
    let pki = Pki::new();
    let hashed = pki.path("hashed");
    std::fs::create_dir_all(&hashed).unwrap();
    let link = format!("{:08x}.0", pki.ca.subject_name_hash());
    std::fs::write(hashed.join(&link), pki.ca.to_pem().unwrap()).unwrap();
    std::fs::write(hashed.join("README"), "not a certificate").unwrap();
    assert!(super::tls::has_hash_links(&hashed));
    assert!(!super::tls::has_hash_links(&pki.path("cadir")));
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.tls.ca_path = Some(hashed.clone());
    assert_eq!(post(o).unwrap().body, b"ok");
    t.join().unwrap().unwrap();
    // The same name holding another CA: the chain does not verify.
    let other = Pki::new();
    std::fs::write(hashed.join(&link), other.ca.to_pem().unwrap()).unwrap();
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.tls.ca_path = Some(hashed);
    assert!(matches!(post(o), Err(HttpError::Tls(_))));
    assert!(t.join().unwrap().is_err());
}

#[test]
fn reconfigure_keeps_the_tls_context_unless_its_settings_change() {
    let pki = Pki::new();
    let ca = pki.path("copy-ca.pem");
    std::fs::copy(pki.path("ca.pem"), &ca).unwrap();
    let (port, t) = pki.serve_once(false);
    let mut o = https_opts(port);
    o.tls.ca_file = Some(ca.clone());
    let mut c = AcsClient::new(o.clone()).unwrap();
    // The CA file is gone, but only the interval changed: the loaded context serves on.
    std::fs::remove_file(&ca).unwrap();
    o.timeout = Duration::from_secs(6);
    c.reconfigure(o.clone()).unwrap();
    assert_eq!(c.post(b"<x/>").unwrap().body, b"ok");
    t.join().unwrap().unwrap();
    // New TLS settings are loaded anew (and here fail, keeping the old client).
    o.tls.ca_file = Some(pki.path("missing.pem"));
    assert!(matches!(c.reconfigure(o), Err(HttpError::Tls(_))));
}
