//! TLS settings for the ACS client: OpenSSL (through ureq's native-tls) with root
//! certificates loaded explicitly from files, and an optional client certificate.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use openssl::pkey::PKey;
use openssl::x509::X509;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use super::{HttpError, HttpOptions};

/// Where root certificates come from when neither `ca_file` nor `ca_path` is set.
pub const DEFAULT_CA_PATH: &str = "/etc/ssl/certs";

/// Largest certificate file read (bundles included); larger files are skipped.
const MAX_CERT_FILE: u64 = 4 << 20;

fn tls_err(what: &str, path: &Path, e: impl std::fmt::Display) -> HttpError {
    HttpError::Tls(format!("{what} {}: {e}", path.display()))
}

/// Reads every PEM certificate in `path` (DER-encoded), skipping anything that is not one.
fn pem_certs(path: &Path) -> Result<Vec<Vec<u8>>, HttpError> {
    let meta = fs::metadata(path).map_err(|e| tls_err("cannot read", path, e))?;
    if meta.len() > MAX_CERT_FILE {
        return Err(tls_err("file too large", path, meta.len()));
    }
    let pem = fs::read(path).map_err(|e| tls_err("cannot read", path, e))?;
    let stack = X509::stack_from_pem(&pem).map_err(|e| tls_err("bad PEM in", path, e))?;
    Ok(stack.iter().filter_map(|c| c.to_der().ok()).collect())
}

/// Root certificates: `ca_file`, then every readable PEM file in `ca_path` (hashed links and
/// bundles alike; duplicates dropped). With neither set, [`DEFAULT_CA_PATH`] is used and its
/// absence is not an error (TLS will then fail to verify, as it should).
fn load_roots(opts: &HttpOptions) -> Result<Vec<Certificate<'static>>, HttpError> {
    let mut ders: Vec<Vec<u8>> = Vec::new();
    if let Some(f) = &opts.ca_file {
        ders.extend(pem_certs(f)?);
    }
    let (dir, required) = match (&opts.ca_path, &opts.ca_file) {
        (Some(d), _) => (Some(d.as_path()), true),
        (None, None) => (Some(Path::new(DEFAULT_CA_PATH)), false),
        (None, Some(_)) => (None, false),
    };
    if let Some(dir) = dir {
        match fs::read_dir(dir) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_file() {
                        // Non-certificate files in the directory are normal: skip them.
                        if let Ok(c) = pem_certs(&p) {
                            ders.extend(c);
                        }
                    }
                }
            }
            Err(e) if required => return Err(tls_err("cannot read directory", dir, e)),
            Err(e) => log::warn!("no CA certificates: {}: {e}", dir.display()),
        }
    }
    let mut seen = HashSet::new();
    ders.retain(|d| seen.insert(d.clone()));
    Ok(ders
        .iter()
        .map(|d| Certificate::from_der(d).to_owned())
        .collect())
}

/// Client certificate chain and key (any PEM key form, converted to PKCS#8 for native-tls).
fn load_client_cert(cert: &Path, key: &Path) -> Result<ClientCert, HttpError> {
    let chain: Vec<Certificate<'static>> = pem_certs(cert)?
        .iter()
        .map(|d| Certificate::from_der(d).to_owned())
        .collect();
    if chain.is_empty() {
        return Err(tls_err("no certificate in", cert, "empty"));
    }
    let pem = fs::read(key).map_err(|e| tls_err("cannot read", key, e))?;
    let pkey = PKey::private_key_from_pem(&pem).map_err(|e| tls_err("bad key in", key, e))?;
    // native-tls takes PKCS#8 only. ureq 3.5 does not export `KeyKind`, so the key goes
    // through PKCS#8 PEM, which `PrivateKey::from_pem` tags as PKCS#8.
    let pkcs8 = pkey
        .private_key_to_pem_pkcs8()
        .map_err(|e| tls_err("cannot convert key", key, e))?;
    let key = PrivateKey::from_pem(&pkcs8).map_err(|e| tls_err("bad key in", key, e))?;
    Ok(ClientCert::new_with_certs(&chain, key))
}

/// Builds ureq's TLS configuration from the options. For a plain `http://` ACS no certificate
/// is loaded: parsing a whole CA directory costs tens of milliseconds and about a megabyte that
/// a router would carry for nothing (a redirect from http to https then fails verification,
/// which is the safe way to fail).
pub(crate) fn tls_config(opts: &HttpOptions, https: bool) -> Result<TlsConfig, HttpError> {
    if !https {
        return Ok(TlsConfig::builder()
            .provider(TlsProvider::NativeTls)
            .root_certs(RootCerts::from(Vec::<Certificate<'static>>::new()))
            .build());
    }
    let client_cert = match (&opts.client_cert, &opts.client_key) {
        (Some(c), Some(k)) => Some(load_client_cert(c, k)?),
        (Some(c), None) => Some(load_client_cert(c, c)?), // key in the same PEM file
        (None, Some(_)) => {
            return Err(HttpError::Tls(
                "client_key given without client_cert".into(),
            ))
        }
        (None, None) => None,
    };
    let roots = if opts.insecure {
        Vec::new()
    } else {
        load_roots(opts)?
    };
    Ok(TlsConfig::builder()
        .provider(TlsProvider::NativeTls)
        .root_certs(RootCerts::from(roots))
        .client_cert(client_cert)
        .disable_verification(opts.insecure)
        .build())
}
