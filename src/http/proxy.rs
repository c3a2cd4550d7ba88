//! HTTP proxy to the ACS (`acs.http_proxy`, or the `http_proxy` / `https_proxy` / `no_proxy`
//! environment variables when `acs.http_proxy_env` says so).
//!
//! Plain HTTP goes through the proxy with the absolute-form request target
//! (`POST http://acs:7547/path HTTP/1.1`, RFC 9112 3.2.2); HTTPS through a `CONNECT` tunnel,
//! TLS to the ACS inside it. Proxy credentials from the proxy URL go as `Proxy-Authorization:
//! Basic`. ureq's own proxy support tunnels plain HTTP too and is not in our connector chain:
//! this module is a connector step before TCP and TLS, and a resolver that leaves the ACS's
//! name to the proxy.

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, TcpConnector, Transport, TransportAdapter,
};
use ureq::Agent;

use super::tls::Tls;
use super::HttpError;

/// Largest CONNECT answer head read from a proxy.
const MAX_CONNECT_HEAD: usize = 8192;

/// The proxy options of [`super::HttpOptions`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyOptions {
    /// `acs.http_proxy`: `http://[user:pass@]host:port` (empty: none).
    pub url: String,
    /// `acs.http_proxy_env`: with no `url`, follow the standard environment variables.
    pub env: bool,
}

/// One proxy server.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    port: u16,
    /// `Proxy-Authorization` value, when the URL had credentials.
    auth: Option<String>,
}

impl fmt::Debug for Proxy {
    /// Never prints the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{self}{}",
            if self.auth.is_some() { " (auth)" } else { "" }
        )
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "http://{}:{}", self.host, self.port)
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Proxy {
    /// Parses `http://[user:pass@]host[:port][/]` (the scheme may be left out, as in the
    /// environment variables; the port defaults to 1080, as curl's).
    ///
    /// # Errors
    /// A description for another scheme, an empty host or a bad port.
    pub fn parse(s: &str) -> Result<Proxy, String> {
        let s = s.trim();
        let rest = match s.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "proxy {s:?}: only http:// proxies are supported, not {scheme}"
                ))
            }
            None => s,
        };
        let rest = rest.split('/').next().unwrap_or("");
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("proxy {s:?}: unclosed '['"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(format!("proxy {s:?}: no host"));
        }
        let port = match port {
            None => 1080,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("proxy {s:?}: bad port {p:?}"))?,
        };
        let auth = creds.map(|c| {
            let (u, p) = c.split_once(':').unwrap_or((c, ""));
            let pair = format!("{}:{}", percent_decode(u), percent_decode(p));
            format!("Basic {}", crate::crypto::base64_encode(pair.as_bytes()))
        });
        Ok(Proxy {
            host: host.to_string(),
            port,
            auth,
        })
    }
}

/// The proxies of one client: which one (if any) carries a request to a given ACS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proxies {
    /// `acs.http_proxy`: every request.
    explicit: Option<Proxy>,
    /// From `http_proxy` / `https_proxy`.
    http: Option<Proxy>,
    https: Option<Proxy>,
    /// From `no_proxy`: host suffixes, or `*`.
    no_proxy: Vec<String>,
}

fn env(names: [&str; 2]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok())
        .filter(|v| !v.trim().is_empty())
}

impl Proxies {
    /// The proxies `o` asks for (environment read now).
    ///
    /// # Errors
    /// A proxy URL that does not parse.
    pub fn new(o: &ProxyOptions) -> Result<Proxies, String> {
        if !o.url.trim().is_empty() {
            return Ok(Proxies {
                explicit: Some(Proxy::parse(&o.url)?),
                ..Proxies::default()
            });
        }
        if !o.env {
            return Ok(Proxies::default());
        }
        Proxies::from_vars(
            env(["http_proxy", "HTTP_PROXY"]).as_deref(),
            env(["https_proxy", "HTTPS_PROXY"]).as_deref(),
            env(["no_proxy", "NO_PROXY"]).as_deref(),
        )
    }

    /// The proxies of the environment variables' values.
    ///
    /// # Errors
    /// A proxy URL that does not parse.
    pub fn from_vars(
        http: Option<&str>,
        https: Option<&str>,
        no_proxy: Option<&str>,
    ) -> Result<Proxies, String> {
        Ok(Proxies {
            explicit: None,
            http: http.map(Proxy::parse).transpose()?,
            https: https.map(Proxy::parse).transpose()?,
            no_proxy: no_proxy
                .unwrap_or("")
                .split(',')
                .map(|h| h.trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        })
    }

    /// Whether no request ever goes through a proxy.
    pub fn is_empty(&self) -> bool {
        self.explicit.is_none() && self.http.is_none() && self.https.is_none()
    }

    /// The proxy for a request to `host` over https or not.
    pub fn for_target(&self, https: bool, host: &str) -> Option<&Proxy> {
        if let Some(p) = &self.explicit {
            return Some(p);
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let bypass = self.no_proxy.iter().any(|n| {
            n == "*"
                || host == *n
                || host
                    .strip_suffix(n.as_str())
                    .is_some_and(|h| h.ends_with('.'))
        });
        if bypass {
            return None;
        }
        if https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }
    }

    fn for_uri(&self, uri: &Uri) -> Option<&Proxy> {
        let https = uri.scheme_str() == Some("https");
        self.for_target(https, uri.host().unwrap_or(""))
    }
}

/// Why the proxy failed a request: becomes [`HttpError::Proxy`].
#[derive(Debug)]
struct ProxyFailure(String);

impl fmt::Display for ProxyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProxyFailure {}

/// The proxy failure behind a ureq error, if it is one.
pub(crate) fn failure_of(e: &ureq::Error) -> Option<String> {
    match e {
        ureq::Error::Other(b) => b.downcast_ref::<ProxyFailure>().map(|f| f.0.clone()),
        _ => None,
    }
}

/// The error of a `407 Proxy Authentication Required` from `proxy`, logged.
pub(crate) fn auth_refused(proxy: &Proxy) -> String {
    let m = if proxy.auth.is_some() {
        format!("proxy {proxy} refused our credentials (407 Proxy Authentication Required)")
    } else {
        format!(
            "proxy {proxy} requires authentication (407); set acs.http_proxy to \
             http://user:pass@host:port"
        )
    };
    log::error!("{m}");
    m
}

/// The error of an HTTP 407 the client got for a plain-HTTP request to `uri`.
pub(crate) fn refused_407(proxies: &Proxies, uri: &str) -> HttpError {
    let p = Uri::try_from(uri).ok();
    match p.as_ref().and_then(|u| proxies.for_uri(u)) {
        Some(proxy) => HttpError::Proxy(auth_refused(proxy)),
        None => HttpError::Status(407),
    }
}

/// A ureq agent over the proxies, then TCP, then TLS (with no proxy the first step passes and
/// the resolver resolves everything: the same chain type serves every agent, so ureq's generic
/// connector code is in the binary once).
pub(crate) fn agent(config: &Config, tls: &Tls, proxies: &Arc<Proxies>) -> Agent {
    let chain =
        ().chain(ProxyConnector(proxies.clone()))
            .chain(TcpConnector::default())
            .chain(tls.clone());
    let resolver = ProxyResolver {
        proxies: proxies.clone(),
        inner: DefaultResolver::default(),
    };
    Agent::with_parts(config.clone(), chain, resolver)
}

/// Leaves the names of proxied hosts to the proxy (the device may have no DNS for them).
struct ProxyResolver {
    proxies: Arc<Proxies>,
    inner: DefaultResolver,
}

impl fmt::Debug for ProxyResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProxyResolver")
    }
}

impl Resolver for ProxyResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if self.proxies.for_uri(uri).is_some() {
            return Ok(self.empty());
        }
        self.inner.resolve(uri, config, timeout)
    }
}

/// The connector step: a connection to the proxy (a CONNECT tunnel for https), or nothing
/// for a host the proxy does not carry.
#[derive(Debug)]
struct ProxyConnector(Arc<Proxies>);

impl Connector<()> for ProxyConnector {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let uri = details.uri;
        let Some(proxy) = self.0.for_uri(uri) else {
            return Ok(None);
        };
        let https = uri.scheme_str() == Some("https");
        let host = uri.host().unwrap_or_default();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let proxy_uri: Uri = proxy.to_string().parse().map_err(|_| {
            ureq::Error::Other(Box::new(ProxyFailure(format!("bad proxy {proxy}"))))
        })?;
        let addrs =
            DefaultResolver::default().resolve(&proxy_uri, details.config, details.timeout)?;
        let to_proxy = ConnectionDetails {
            uri: &proxy_uri,
            addrs,
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: details.register_shutdown.clone(),
        };
        let tcp =
            Connector::<Box<dyn Transport>>::connect(&TcpConnector::default(), &to_proxy, None)
                .map_err(|e| {
                    ureq::Error::Other(Box::new(ProxyFailure(format!(
                        "cannot connect to proxy {proxy}: {e}"
                    ))))
                })?
                .ok_or_else(|| {
                    ureq::Error::Other(Box::new(ProxyFailure(format!("no route to proxy {proxy}"))))
                })?
                .boxed();
        if !https {
            let authority = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            return Ok(Some(
                AbsoluteForm {
                    inner: tcp,
                    prefix: format!("http://{authority}"),
                    auth: proxy.auth.clone(),
                    head_pending: true,
                }
                .boxed(),
            ));
        }
        connect_tunnel(tcp, proxy, host, port, details).map(Some)
    }
}

/// Opens a `CONNECT host:port` tunnel over `tcp`.
fn connect_tunnel(
    tcp: Box<dyn Transport>,
    proxy: &Proxy,
    host: &str,
    port: u16,
    details: &ConnectionDetails,
) -> Result<Box<dyn Transport>, ureq::Error> {
    let fail = |m: String| ureq::Error::Other(Box::new(ProxyFailure(m)));
    let mut w = TransportAdapter::new(tcp, details.current_time.clone());
    w.set_timeout(details.timeout);
    let target = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(a) = &proxy.auth {
        head.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.flush()?;
    // Byte by byte up to the blank line: nothing of the tunnel may be read here (TLS speaks
    // first from our side anyway).
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_CONNECT_HEAD {
            return Err(fail(format!("proxy {proxy}: CONNECT answer head too long")));
        }
        match w.read(&mut byte)? {
            0 => {
                return Err(fail(format!(
                    "proxy {proxy} closed the connection on CONNECT"
                )))
            }
            _ => answer.push(byte[0]),
        }
    }
    let status = connect_status(&answer);
    match status {
        Some(200..=299) => Ok(w.into_inner()),
        Some(407) => Err(fail(auth_refused(proxy))),
        Some(s) => Err(fail(format!(
            "proxy {proxy} answered {s} to CONNECT {target}"
        ))),
        None => Err(fail(format!("proxy {proxy}: unreadable CONNECT answer"))),
    }
}

/// The status code of an HTTP answer head.
fn connect_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// Plain HTTP through the proxy: rewrites each request head to the absolute-form target and
/// adds `Proxy-Authorization`; everything else passes unchanged.
struct AbsoluteForm {
    inner: Box<dyn Transport>,
    /// `http://host:port` of the ACS.
    prefix: String,
    auth: Option<String>,
    /// The next output starts a request (nothing sent since the last answer began).
    head_pending: bool,
}

impl fmt::Debug for AbsoluteForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AbsoluteForm({})", self.prefix)
    }
}

/// `head` with its origin-form target made absolute and `auth` added, when `head` starts
/// with a request line (`METHOD /target HTTP/1.x`).
pub(crate) fn absolute_head(head: &[u8], prefix: &str, auth: Option<&str>) -> Option<Vec<u8>> {
    let eol = head.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&head[..eol]).ok()?;
    let (method, rest) = line.split_once(' ')?;
    let (target, version) = rest.rsplit_once(' ')?;
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
        || !version.starts_with("HTTP/1.")
    {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + prefix.len() + 64);
    out.extend_from_slice(format!("{method} {prefix}{target} {version}\r\n").as_bytes());
    if let Some(a) = auth {
        out.extend_from_slice(format!("Proxy-Authorization: {a}\r\n").as_bytes());
    }
    out.extend_from_slice(&head[eol + 2..]);
    Some(out)
}

impl Transport for AbsoluteForm {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let rewritten = if self.head_pending {
            let out = &self.inner.buffers().output()[..amount];
            absolute_head(out, &self.prefix, self.auth.as_deref())
        } else {
            None
        };
        let Some(bytes) = rewritten else {
            return self.inner.transmit_output(amount, timeout);
        };
        self.head_pending = false;
        let cap = self.inner.buffers().output().len().max(1);
        for chunk in bytes.chunks(cap) {
            self.inner.buffers().output()[..chunk.len()].copy_from_slice(chunk);
            self.inner.transmit_output(chunk.len(), timeout)?;
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        // An answer (or a 100 Continue) begins: what is sent next may be a new request.
        self.head_pending = true;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
