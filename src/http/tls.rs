//! TLS for every client of the daemon (ACS, HTTP and FTP transfers): one OpenSSL context
//! built from the CA and client-certificate settings, and a ureq connector that wraps ureq's
//! TCP transport in it.
//!
//! The context is built on first use: a daemon that talks plain http to its ACS never
//! initialises OpenSSL, which saves about 2 MB of resident libcrypto pages on a router.
//!
//! The context is built from a bare `SSL_CTX` with the settings of the openssl crate's
//! `SslConnector` (options, ciphers, peer verification, SNI and host name checks per
//! connection, see [`TlsClient::connect`]) but without its `set_default_verify_paths`: that
//! parses OpenSSL's whole default CA bundle into every context, about 900 KB of heap each,
//! only for [`add_roots`] to throw the store away.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::ssl::{
    HandshakeError, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslStream,
    SslVerifyMode,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::X509;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

use super::HttpError;

/// Where root certificates come from when neither `ca_file` nor `ca_path` is set.
pub const DEFAULT_CA_PATH: &str = "/etc/ssl/certs";

/// Largest certificate file read (bundles included); larger files are skipped.
const MAX_CERT_FILE: u64 = 4 << 20;

/// Trust and identity settings (`cpe.ssl_capath`, `acs.ssl_cafile`, client certificate...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM file of CA certificates.
    pub ca_file: Option<PathBuf>,
    /// Directory of PEM CA certificates (hashed names or not).
    pub ca_path: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert` (default: read from `client_cert`).
    pub client_key: Option<PathBuf>,
    /// Skip server certificate and host name verification (testing only).
    pub insecure: bool,
}

fn tls_err(what: &str, path: &Path, e: impl fmt::Display) -> HttpError {
    HttpError::Tls(format!("{what} {}: {e}", path.display()))
}

/// Every PEM certificate in `path`.
fn pem_certs(path: &Path) -> Result<Vec<X509>, HttpError> {
    let meta = fs::metadata(path).map_err(|e| tls_err("cannot read", path, e))?;
    if meta.len() > MAX_CERT_FILE {
        return Err(tls_err("file too large", path, meta.len()));
    }
    let pem = fs::read(path).map_err(|e| tls_err("cannot read", path, e))?;
    X509::stack_from_pem(&pem).map_err(|e| tls_err("bad PEM in", path, e))
}

/// Whether `dir` holds OpenSSL's subject-hash links (`1a2b3c4d.0`), as `/etc/ssl/certs` does
/// on Debian and OpenWrt.
pub(crate) fn has_hash_links(dir: &Path) -> bool {
    let hashed = |name: &str| {
        name.split_once('.').is_some_and(|(h, n)| {
            h.len() == 8
                && h.bytes().all(|b| b.is_ascii_hexdigit())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        })
    };
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(hashed))
    })
}

/// Root certificates: `ca_file`, then `ca_path`. A directory with hash links is searched by
/// OpenSSL when a chain needs it (loading all of `/etc/ssl/certs` up front costs about 80 ms
/// and 3 MB); any other directory is read whole, every PEM file in it. With neither set,
/// [`DEFAULT_CA_PATH`] is used and its absence is not an error (verification then fails, as
/// it should).
fn add_roots(b: &mut SslContextBuilder, s: &TlsSettings) -> Result<(), HttpError> {
    // Only what the configuration names is trusted, never OpenSSL's compiled-in locations.
    let empty = X509StoreBuilder::new().map_err(|e| HttpError::Tls(format!("OpenSSL: {e}")))?;
    b.set_cert_store(empty.build());
    let mut roots = Vec::new();
    if let Some(f) = &s.ca_file {
        roots.extend(pem_certs(f)?);
    }
    let (dir, required) = match (&s.ca_path, &s.ca_file) {
        (Some(d), _) => (Some(d.as_path()), true),
        (None, None) => (Some(Path::new(DEFAULT_CA_PATH)), false),
        (None, Some(_)) => (None, false),
    };
    if let Some(dir) = dir.filter(|d| has_hash_links(d)) {
        b.load_verify_locations(None, Some(dir))
            .map_err(|e| tls_err("cannot use directory", dir, e))?;
    } else if let Some(dir) = dir {
        match fs::read_dir(dir) {
            // Non-certificate files in the directory are normal: skip them.
            Ok(entries) => entries
                .flatten()
                .filter(|e| e.path().is_file())
                .filter_map(|e| pem_certs(&e.path()).ok())
                .for_each(|c| roots.extend(c)),
            Err(e) if required => return Err(tls_err("cannot read directory", dir, e)),
            Err(e) => log::warn!("no CA certificates: {}: {e}", dir.display()),
        }
    }
    let store = b.cert_store_mut();
    for c in roots {
        // A duplicate (a bundle and its hashed links) is refused by the store: harmless.
        let _ = store.add_cert(c);
    }
    Ok(())
}

/// Client certificate chain and its key (any PEM key form).
fn add_identity(b: &mut SslContextBuilder, cert: &Path, key: &Path) -> Result<(), HttpError> {
    let chain = pem_certs(cert)?;
    let (leaf, rest) = chain
        .split_first()
        .ok_or_else(|| tls_err("no certificate in", cert, "empty"))?;
    let pem = fs::read(key).map_err(|e| tls_err("cannot read", key, e))?;
    let pkey = PKey::private_key_from_pem(&pem).map_err(|e| tls_err("bad key in", key, e))?;
    b.set_certificate(leaf)
        .map_err(|e| tls_err("cannot use", cert, e))?;
    for c in rest {
        b.add_extra_chain_cert(c.clone())
            .map_err(|e| tls_err("cannot use", cert, e))?;
    }
    b.set_private_key(&pkey)
        .and_then(|()| b.check_private_key())
        .map_err(|e| tls_err("key does not match the certificate", key, e))
}

/// A client TLS context: trust and identity from [`TlsSettings`], and what each connection
/// checks (the server's name, unless `insecure`).
#[derive(Clone)]
pub struct TlsClient {
    ctx: SslContext,
    verify_name: bool,
}

impl TlsClient {
    /// A session for `host`: SNI for a name (not an address), and the certificate checked
    /// against the name or address (no partial wildcards), as `SslConnector` does.
    ///
    /// # Errors
    /// OpenSSL's, for a host it cannot take (e.g. a NUL byte).
    pub fn ssl(&self, host: &str) -> Result<Ssl, ErrorStack> {
        let mut ssl = Ssl::new(&self.ctx)?;
        let ip = host.parse::<std::net::IpAddr>();
        if ip.is_err() {
            ssl.set_hostname(host)?;
        }
        if self.verify_name {
            let param = ssl.param_mut();
            param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
            match ip {
                Ok(ip) => param.set_ip(ip)?,
                Err(_) => param.set_host(host)?,
            }
        }
        Ok(ssl)
    }

    /// The TLS handshake with `host` over `stream`.
    ///
    /// # Errors
    /// The handshake's: refused certificate, protocol error, I/O.
    pub fn connect<S: Read + Write>(
        &self,
        host: &str,
        stream: S,
    ) -> Result<SslStream<S>, HandshakeError<S>> {
        self.ssl(host)?.connect(stream)
    }
}

/// Builds the OpenSSL client context of `s`.
///
/// # Errors
/// `Tls` for unreadable or malformed certificate and key files.
pub fn connector(s: &TlsSettings) -> Result<TlsClient, HttpError> {
    let openssl = |e: ErrorStack| HttpError::Tls(format!("OpenSSL: {e}"));
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(openssl)?;
    // The openssl crate's `SslConnector` settings (from Python's): no compression, no SSLv2/3,
    // the ALL workarounds but empty fragments; buffers released while a connection is idle
    // (an XMPP connection is idle nearly always).
    let options = (SslOptions::ALL
        | SslOptions::NO_COMPRESSION
        | SslOptions::NO_SSLV2
        | SslOptions::NO_SSLV3
        | SslOptions::SINGLE_DH_USE
        | SslOptions::SINGLE_ECDH_USE)
        & !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
    b.set_options(options);
    b.set_mode(
        SslMode::AUTO_RETRY
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::RELEASE_BUFFERS,
    );
    b.set_cipher_list("DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK")
        .map_err(openssl)?;
    match (&s.client_cert, &s.client_key) {
        (Some(c), Some(k)) => add_identity(&mut b, c, k)?,
        (Some(c), None) => add_identity(&mut b, c, c)?, // key in the same PEM file
        (None, Some(_)) => {
            return Err(HttpError::Tls(
                "client_key given without client_cert".into(),
            ))
        }
        (None, None) => {}
    }
    if s.insecure {
        b.set_verify(SslVerifyMode::NONE);
    } else {
        b.set_verify(SslVerifyMode::PEER);
        add_roots(&mut b, s)?;
    }
    Ok(TlsClient {
        ctx: b.build(),
        verify_name: !s.insecure,
    })
}

/// A TLS failure (handshake, verification) carried through ureq's `Error::Other`.
#[derive(Debug)]
pub struct TlsFailure(pub String);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsFailure {}

/// The `ureq::Error` message of a TLS failure, if `e` is one.
pub fn failure_of(e: &ureq::Error) -> Option<String> {
    match e {
        ureq::Error::Other(o) => o.downcast_ref::<TlsFailure>().map(|f| f.0.clone()),
        ureq::Error::Tls(m) => Some((*m).to_string()),
        _ => None,
    }
}

/// The context of one client, built on the first https connection (or on [`Tls::prepare`]).
#[derive(Clone)]
pub struct Tls {
    inner: Arc<(TlsSettings, OnceLock<Result<TlsClient, HttpError>>)>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Tls").field(&self.inner.0).finish()
    }
}

impl Tls {
    /// A context for `settings`, not built yet.
    pub fn new(settings: TlsSettings) -> Tls {
        Tls {
            inner: Arc::new((settings, OnceLock::new())),
        }
    }

    /// Builds the context now, so that bad certificate files are reported at once.
    ///
    /// # Errors
    /// As [`connector`].
    pub fn prepare(&self) -> Result<&TlsClient, HttpError> {
        let (settings, ctx) = &*self.inner;
        ctx.get_or_init(|| connector(settings))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// ureq's connector chain: TCP, then this TLS context for https URLs.
    pub fn ureq_connector(&self) -> impl Connector {
        use ureq::unversioned::transport::TcpConnector;
        ().chain(TcpConnector::default()).chain(self.clone())
    }

    fn handshake(
        &self,
        host: &str,
        io: TransportAdapter,
        buffers: LazyBuffers,
    ) -> Result<TlsTransport, ureq::Error> {
        let ctx = self
            .prepare()
            .map_err(|e| ureq::Error::Other(Box::new(TlsFailure(e.to_string()))))?;
        let stream = ctx.connect(host, io).map_err(|e| match e {
            HandshakeError::Failure(mid) => {
                let verify = mid.ssl().verify_result();
                match mid.into_error().into_io_error() {
                    // Timeouts and resets of the TCP transport keep their ureq meaning.
                    Ok(io) => ureq::Error::from(io),
                    Err(e) if verify.as_raw() != 0 => ureq::Error::Other(Box::new(TlsFailure(
                        format!("{e}: {}", verify.error_string()),
                    ))),
                    Err(e) => ureq::Error::Other(Box::new(TlsFailure(e.to_string()))),
                }
            }
            HandshakeError::SetupFailure(e) => {
                ureq::Error::Other(Box::new(TlsFailure(e.to_string())))
            }
            // A blocking transport never reports WouldBlock.
            HandshakeError::WouldBlock(_) => ureq::Error::Tls("TLS handshake would block"),
        })?;
        Ok(TlsTransport { buffers, stream })
    }
}

impl<In: Transport> Connector<In> for Tls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut io = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        io.set_timeout(details.timeout);
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(self.handshake(host, io, buffers)?)))
    }
}

/// An established TLS connection over ureq's TCP transport.
pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: SslStream<TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        // io errors that wrap a ureq error (a timeout) are unwrapped by `From`.
        self.stream.write_all(output).map_err(ureq::Error::from)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let n = self
            .stream
            .read(self.buffers.input_append_buf())
            .map_err(ureq::Error::from)?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
