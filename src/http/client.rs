//! [`AcsClient`]: blocking POSTs to the ACS over one ureq agent (keep-alive pool).

use std::borrow::Cow;
use std::io::{self, Write};

use flate2::write::ZlibEncoder;
use ureq::config::{Config, IpFamily};
use ureq::http::Response;
use ureq::{Agent, Body};

use super::auth::{drain, take_location, Auth};
use super::cookies::CookieJar;
use super::proxy::{self, Proxies};
use super::tls::{self, Tls};
use super::url::Url;
use super::{gzip, Compression, HttpError, HttpOptions, HttpReply};

/// Redirects followed per CWMP session (catawampus and RDK-B use 5 too).
pub const MAX_REDIRECTS: u32 = 5;

/// How long a body sent with `Expect: 100-continue` waits for `100 Continue` (libcurl's
/// default too).
const AWAIT_100: std::time::Duration = std::time::Duration::from_secs(1);

/// HTTP(S) client of one ACS. See the module docs.
pub struct AcsClient {
    opts: HttpOptions,
    /// The configured ACS URL: the only origin that ever gets credentials.
    base: Url,
    config: Config,
    tls: Tls,
    agent: Agent,
    /// URL learnt from a redirect, for the rest of this session.
    redirect: Option<Url>,
    redirects: u32,
    cookies: CookieJar,
    auth: Option<Auth>,
    /// Set after an HTTP 415: never compress again with this client.
    compression_refused: bool,
    /// Set when the ACS broke the `Expect: 100-continue` exchange (a `100 Continue` with
    /// header fields, which ureq refuses): never send `Expect` again with this client.
    expect_refused: bool,
    /// The HTTP proxies (src/http/proxy.rs); empty: direct connections.
    proxies: std::sync::Arc<Proxies>,
}

impl AcsClient {
    /// Builds a client: parses the URL, loads CA and client certificates.
    ///
    /// # Errors
    /// `BadUrl` for a URL that is not http(s); `Tls` for unreadable certificate files.
    pub fn new(opts: HttpOptions) -> Result<AcsClient, HttpError> {
        let tls = Tls::new(opts.tls.clone());
        AcsClient::with_tls(opts, tls)
    }

    fn with_tls(opts: HttpOptions, tls: Tls) -> Result<AcsClient, HttpError> {
        let base = Url::parse(&opts.url).map_err(HttpError::BadUrl)?;
        if base.is_https() {
            // Bad certificate files are a configuration error to report now. For an http
            // ACS the context is built only if a redirect leads to https.
            tls.prepare()?;
        }
        let config = Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .user_agent(opts.user_agent.as_str())
            // The connector chain has no proxy step: never pick one up from the environment.
            .proxy(None)
            .ip_family(if opts.ipv4_only {
                IpFamily::Ipv4Only
            } else {
                IpFamily::Any
            })
            // An ACS that ignores `Expect: 100-continue` gets the body after this wait.
            .timeout_await_100(Some(AWAIT_100))
            .build();
        let proxies = std::sync::Arc::new(Proxies::new(&opts.proxy).map_err(HttpError::Proxy)?);
        let agent = proxy::agent(&config, &tls, &proxies);
        Ok(AcsClient {
            opts,
            base,
            config,
            tls,
            agent,
            redirect: None,
            redirects: 0,
            cookies: CookieJar::default(),
            auth: None,
            compression_refused: false,
            expect_refused: false,
            proxies,
        })
    }

    /// Replaces the options (URL, credentials, certificates) and ends the session, keeping
    /// the process-long memory that the ACS refused compression.
    ///
    /// # Errors
    /// As [`AcsClient::new`]; on error the old client is kept unchanged.
    pub fn reconfigure(&mut self, opts: HttpOptions) -> Result<(), HttpError> {
        let refused = self.compression_refused;
        let expect_refused = self.expect_refused;
        // A session that changed, say, PeriodicInformInterval reloads the config: the TLS
        // context (CA store, client key) is kept unless its own settings changed.
        let tls = if opts.tls == self.opts.tls {
            self.tls.clone()
        } else {
            Tls::new(opts.tls.clone())
        };
        *self = AcsClient::with_tls(opts, tls)?;
        self.compression_refused = refused;
        self.expect_refused = expect_refused;
        Ok(())
    }

    /// The configured ACS URL (redirects aside).
    pub fn url(&self) -> &str {
        &self.opts.url
    }

    /// The URL the next POST goes to (the redirect target during a redirected session).
    pub fn current_url(&self) -> String {
        self.redirect.as_ref().unwrap_or(&self.base).to_string()
    }

    /// True once the ACS answered 415 to a compressed body.
    pub fn compression_refused(&self) -> bool {
        self.compression_refused
    }

    /// Ends the CWMP session: drops cookies, the redirect URL and count, the digest nonce,
    /// and the pooled connection (the next session opens a new one).
    pub fn end_session(&mut self) {
        self.cookies.clear();
        self.redirect = None;
        self.redirects = 0;
        self.auth = None;
        self.agent = proxy::agent(&self.config, &self.tls, &self.proxies);
    }

    /// POSTs `body` (SOAP envelope, or empty for the empty POST) and returns the ACS's 200/204.
    /// Handles 401 (one resend with credentials), redirects (at most 5 per session) and
    /// 415 (resend uncompressed).
    ///
    /// # Errors
    /// See [`HttpError`]; any error fails the CWMP session.
    pub fn post(&mut self, body: &[u8]) -> Result<HttpReply, HttpError> {
        let mut auth_retried = false;
        loop {
            let url = self.redirect.clone().unwrap_or_else(|| self.base.clone());
            let enc = match self.opts.compression {
                _ if body.is_empty() || self.compression_refused => Compression::None,
                c => c,
            };
            let payload = compress(body, enc)?;
            // Credentials go only to the configured origin, never to a redirect elsewhere.
            let trusted = url.same_origin(&self.base);
            let authz = if trusted {
                self.authorization(&url)
            } else {
                None
            };
            let mut resp = self.send(&url, &payload, enc, authz)?;
            let status = resp.status().as_u16();
            let now = crate::time::now_unix();
            for v in resp.headers().get_all("set-cookie") {
                if let Ok(v) = v.to_str() {
                    self.cookies.set(url.host(), v, now);
                }
            }
            match status {
                200 | 204 => {
                    let body = self.read_body(&mut resp)?;
                    return Ok(HttpReply { status, body });
                }
                401 => {
                    let auth = Auth::from_response(&resp, &self.opts.username, &self.opts.password);
                    drain(resp);
                    if auth_retried || !trusted || self.opts.username.is_empty() {
                        log::warn!("ACS {url} refused authentication");
                        return Err(HttpError::AuthFailed);
                    }
                    let Some(auth) = auth else {
                        log::warn!("ACS {url} sent no usable authentication challenge");
                        return Err(HttpError::AuthFailed);
                    };
                    if auth.is_basic() && !url.is_https() {
                        log::warn!("sending Basic credentials over plain HTTP to {url}");
                    }
                    self.auth = Some(auth);
                    auth_retried = true;
                }
                301 | 302 | 303 | 307 | 308 => {
                    let loc = take_location(resp).ok_or(HttpError::Status(status))?;
                    self.redirects += 1;
                    if self.redirects > MAX_REDIRECTS {
                        return Err(HttpError::TooManyRedirects);
                    }
                    let next = url.resolve(&loc).map_err(HttpError::BadUrl)?;
                    log::info!("ACS redirects ({status}) to {next} for this session");
                    self.redirect = Some(next);
                    auth_retried = false;
                }
                407 => {
                    drain(resp);
                    return Err(proxy::refused_407(&self.proxies, &url.to_string()));
                }
                415 if enc != Compression::None => {
                    drain(resp);
                    log::warn!("ACS refuses compressed requests: compression disabled");
                    self.compression_refused = true;
                }
                s => {
                    drain(resp);
                    return Err(HttpError::Status(s));
                }
            }
        }
    }

    /// Auth state from a 401's challenges: Digest if offered, else Basic.
    /// `Authorization` value for the next request, counting the digest nc upwards.
    fn authorization(&mut self, url: &Url) -> Option<String> {
        let (user, pass) = (&self.opts.username, &self.opts.password);
        Some(self.auth.as_mut()?.header(user, pass, "POST", url.target()))
    }

    fn send(
        &mut self,
        url: &Url,
        payload: &[u8],
        enc: Compression,
        authz: Option<String>,
    ) -> Result<Response<Body>, HttpError> {
        let mut req = self.agent.post(url.to_string());
        let expect = self.opts.expect_continue
            && !self.expect_refused
            && payload.len() >= super::EXPECT_CONTINUE_MIN;
        if !payload.is_empty() {
            // A large body waits for the ACS's go-ahead: a 401 or a redirect then costs no
            // upload (ureq sends the body after AWAIT_100 if no answer comes).
            if expect {
                req = req.header("Expect", "100-continue");
            }
            req = req
                .header("Content-Type", "text/xml; charset=\"utf-8\"")
                .header("SOAPAction", "");
            match enc {
                Compression::Gzip => req = req.header("Content-Encoding", "gzip"),
                Compression::Deflate => req = req.header("Content-Encoding", "deflate"),
                Compression::None => {}
            }
        }
        if let Some(c) = self.cookies.header(url.host()) {
            req = req.header("Cookie", c);
        }
        if let Some(a) = authz {
            req = req.header("Authorization", a);
        }
        req.send(payload).map_err(|e| {
            if expect && matches!(e, ureq::Error::Protocol(_)) {
                // This session fails; the next ones send without `Expect`.
                log::warn!("ACS mishandles Expect: 100-continue ({e}): not sent again");
                self.expect_refused = true;
            }
            map_err(e)
        })
    }

    /// Reads and decodes the body, bounded by `max_body` before and after decompression.
    fn read_body(&self, resp: &mut Response<Body>) -> Result<Vec<u8>, HttpError> {
        let limit = self.opts.max_body as u64;
        let enc = resp
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase());
        let raw = resp
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(map_err)?;
        let decoded = match enc.as_deref() {
            Some("gzip") | Some("x-gzip") => gzip::decompress(&raw, limit),
            Some("deflate") => gzip::inflate(&raw, limit),
            _ => return Ok(raw),
        };
        decoded.map_err(|e| {
            if e.kind() == io::ErrorKind::FileTooLarge {
                HttpError::BodyTooLarge
            } else {
                HttpError::Io(format!("cannot decode response body: {e}"))
            }
        })
    }
}

/// A ureq agent over our TCP and TLS connector, sharing the client's TLS context; no proxy
/// (the chain is the proxied one with none configured: one copy of ureq's generic connector
/// code in the binary).
pub(crate) fn new_agent(config: &Config, tls: &Tls) -> Agent {
    proxy::agent(config, tls, &std::sync::Arc::default())
}

/// Compresses `body` for `enc` (borrowed as is for `None`).
fn compress(body: &[u8], enc: Compression) -> Result<Cow<'_, [u8]>, HttpError> {
    let io = |e: io::Error| HttpError::Io(e.to_string());
    Ok(match enc {
        Compression::None => Cow::Borrowed(body),
        Compression::Gzip => Cow::Owned(gzip::compress(body).map_err(io)?),
        Compression::Deflate => {
            let mut e = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(body).map_err(io)?;
            Cow::Owned(e.finish().map_err(io)?)
        }
    })
}

fn map_err(e: ureq::Error) -> HttpError {
    use ureq::Error as E;
    if let Some(m) = tls::failure_of(&e) {
        return HttpError::Tls(m);
    }
    if let Some(m) = proxy::failure_of(&e) {
        return HttpError::Proxy(m);
    }
    match e {
        E::Timeout(_) => HttpError::Timeout,
        E::HostNotFound | E::ConnectionFailed => HttpError::Connect(e.to_string()),
        E::Io(io) => match io.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => HttpError::Timeout,
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::HostUnreachable
            | io::ErrorKind::NetworkUnreachable => HttpError::Connect(io.to_string()),
            _ => HttpError::Io(io.to_string()),
        },
        E::BodyExceedsLimit(_) => HttpError::BodyTooLarge,
        E::BadUri(_) | E::Http(_) => HttpError::BadUrl(e.to_string()),
        _ => HttpError::Io(e.to_string()),
    }
}
