//! HTTP(S) client the CWMP session uses to POST to the ACS.
//!
//! One [`AcsClient`] per ACS: it keeps one keep-alive connection (ureq agent), answers 401
//! challenges (Digest preferred, Basic), follows redirects for the rest of the session,
//! carries session cookies and optionally compresses requests. [`AcsClient::end_session`]
//! forgets everything that belongs to one CWMP session.
//!
//! Blocking I/O on the calling thread (the main loop); the protocol pieces are pure:
//! [`digest`], [`cookies`], [`url`].

pub(crate) mod auth;
mod client;
pub mod cookies;
pub mod digest;
pub mod gzip;
pub mod proxy;
pub mod tls;
pub mod url;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

use std::fmt;
use std::time::Duration;

pub(crate) use client::new_agent;
pub use client::AcsClient;
pub use tls::DEFAULT_CA_PATH;

/// Request compression (`ManagementServer.HTTPCompression`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// Send bodies as they are.
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
    /// `Content-Encoding: deflate` (zlib format, as HTTP defines it).
    Deflate,
}

/// Default bound on a response body (after decompression).
pub const DEFAULT_MAX_BODY: usize = 8 << 20;

/// Settings of the ACS client.
#[derive(Clone)]
pub struct HttpOptions {
    /// ACS URL (`ManagementServer.URL`), http or https.
    pub url: String,
    /// `ManagementServer.Username` (empty: never answer a 401).
    pub username: String,
    /// `ManagementServer.Password`.
    pub password: String,
    /// CA certificates, client certificate, verification.
    pub tls: tls::TlsSettings,
    /// Request body compression.
    pub compression: Compression,
    /// Deadline for one whole HTTP exchange (connect, send, receive).
    pub timeout: Duration,
    /// `User-Agent` header value.
    pub user_agent: String,
    /// Largest response body accepted, in bytes (after decompression).
    pub max_body: usize,
    /// Resolve and connect over IPv4 only (`cpe.force_ipv4`).
    pub ipv4_only: bool,
    /// Send `Expect: 100-continue` with bodies over [`EXPECT_CONTINUE_MIN`] bytes (off with
    /// `acs.http_disable_100continue`).
    pub expect_continue: bool,
    /// HTTP proxy to the ACS.
    pub proxy: proxy::ProxyOptions,
}

/// Smallest request body sent with `Expect: 100-continue`: libcurl's threshold (1 MiB),
/// which the C daemon inherits. Below it the wait for `100 Continue` costs more than
/// sending the body to an ACS that turns it down.
pub const EXPECT_CONTINUE_MIN: usize = 1 << 20;

impl HttpOptions {
    /// Options for `url` with defaults: no credentials, CA from [`DEFAULT_CA_PATH`], no
    /// compression, 30 s timeout, 8 MiB body limit.
    pub fn new(url: impl Into<String>) -> HttpOptions {
        HttpOptions {
            url: url.into(),
            username: String::new(),
            password: String::new(),
            tls: tls::TlsSettings::default(),
            compression: Compression::None,
            timeout: Duration::from_secs(30),
            user_agent: concat!("icwmp/", env!("CARGO_PKG_VERSION")).to_string(),
            max_body: DEFAULT_MAX_BODY,
            ipv4_only: false,
            expect_continue: true,
            proxy: proxy::ProxyOptions::default(),
        }
    }
}

impl fmt::Debug for HttpOptions {
    /// Never prints the password (the C daemon logged it: bug 21).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("tls", &self.tls)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("max_body", &self.max_body)
            .field("ipv4_only", &self.ipv4_only)
            .field("expect_continue", &self.expect_continue)
            .field("proxy", &self.proxy.url.split('@').next_back())
            .field("proxy_env", &self.proxy.env)
            .finish()
    }
}

/// A final ACS answer (200 or 204), after authentication and redirects were handled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    /// 200 or 204.
    pub status: u16,
    /// Decoded body (empty for 204 or an empty 200).
    pub body: Vec<u8>,
}

/// Why an exchange with the ACS failed; every one of these fails the CWMP session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// DNS, TCP connect or connection-level failure.
    Connect(String),
    /// TLS handshake or certificate problem (also unreadable CA/client cert files).
    Tls(String),
    /// No answer within the configured timeout.
    Timeout,
    /// The ACS answered with a status other than 200/204 (after 401/3xx handling).
    Status(u16),
    /// A second 401, no usable challenge, no credentials, or a 401 from another origin.
    AuthFailed,
    /// More than 5 redirects in this session.
    TooManyRedirects,
    /// Other I/O or protocol error.
    Io(String),
    /// The response body is over the configured limit.
    BodyTooLarge,
    /// The ACS URL or a redirect `Location` is not a usable http(s) URL.
    BadUrl(String),
    /// The HTTP proxy could not be used (bad setting, unreachable, 407, CONNECT refused).
    Proxy(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Connect(e) => write!(f, "cannot connect to ACS: {e}"),
            HttpError::Tls(e) => write!(f, "TLS error: {e}"),
            HttpError::Timeout => f.write_str("ACS did not answer in time"),
            HttpError::Status(s) => write!(f, "ACS answered HTTP {s}"),
            HttpError::AuthFailed => f.write_str("authentication to the ACS failed"),
            HttpError::TooManyRedirects => f.write_str("too many redirects"),
            HttpError::Io(e) => write!(f, "HTTP I/O error: {e}"),
            HttpError::BodyTooLarge => f.write_str("ACS response body too large"),
            HttpError::BadUrl(e) => write!(f, "bad URL: {e}"),
            HttpError::Proxy(e) => write!(f, "HTTP proxy: {e}"),
        }
    }
}

impl std::error::Error for HttpError {}
