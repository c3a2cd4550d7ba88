//! Minimal http(s) URL handling for the ACS client: parsing, origin comparison and
//! resolution of redirect `Location` values. Pure.

use std::fmt;

/// A parsed `http://` or `https://` URL (userinfo and fragment dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    scheme: &'static str,
    /// Lower-cased host; IPv6 literals keep their brackets.
    host: String,
    port: u16,
    /// Path and query, always starting with `/`.
    target: String,
}

impl Url {
    /// Parses an absolute http(s) URL.
    pub fn parse(s: &str) -> Result<Url, String> {
        let bad = || format!("invalid URL {s:?}");
        if s.chars().any(|c| c.is_ascii_control() || c == ' ') {
            return Err(bad());
        }
        let s = s.split('#').next().unwrap_or(s);
        let (scheme, rest) = s.split_once("://").ok_or_else(bad)?;
        let (scheme, default_port) = if scheme.eq_ignore_ascii_case("http") {
            ("http", 80)
        } else if scheme.eq_ignore_ascii_case("https") {
            ("https", 443)
        } else {
            return Err(format!("unsupported URL scheme in {s:?}"));
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        let hostport = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            (format!("[{addr}]"), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            Some(p) if !p.is_empty() => p.parse::<u16>().map_err(|_| bad())?,
            _ => default_port,
        };
        if host.is_empty() || host == "[]" {
            return Err(bad());
        }
        let target = if target.starts_with('/') {
            target.to_string()
        } else {
            format!("/{target}")
        };
        Ok(Url {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            target,
        })
    }

    /// Resolves a redirect `Location` (absolute, scheme-relative, absolute-path or relative)
    /// against this URL.
    pub fn resolve(&self, location: &str) -> Result<Url, String> {
        let loc = location.trim();
        let scheme_end = loc.find("://");
        if scheme_end.is_some_and(|i| !loc[..i].contains(['/', '?'])) {
            return Url::parse(loc);
        }
        if loc.starts_with("//") {
            return Url::parse(&format!("{}:{loc}", self.scheme));
        }
        let path = self.target.split('?').next().unwrap_or("/");
        let target = if loc.starts_with('/') {
            loc.to_string()
        } else if loc.starts_with('?') {
            format!("{path}{loc}")
        } else {
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{loc}")
        };
        Url::parse(&format!("{}://{}{target}", self.scheme, self.authority()))
    }

    /// True when scheme, host and port are all equal (the same origin).
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// `host` or `host:port` (port only when not the scheme's default).
    pub fn authority(&self) -> String {
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The host (lower-case; IPv6 in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query: the request target, also the Digest `uri`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// True for `https`.
    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority(), self.target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let u = Url::parse("HTTPS://User:pw@ACS.Example.com/cwmp?x=1#frag").unwrap();
        assert_eq!(u.host(), "acs.example.com");
        assert_eq!(u.port(), 443);
        assert_eq!(u.target(), "/cwmp?x=1");
        assert_eq!(u.to_string(), "https://acs.example.com/cwmp?x=1");
        let u = Url::parse("http://[2001:db8::1]:7547").unwrap();
        assert_eq!(u.host(), "[2001:db8::1]");
        assert_eq!(u.port(), 7547);
        assert_eq!(u.target(), "/");
        assert_eq!(u.to_string(), "http://[2001:db8::1]:7547/");
        assert_eq!(Url::parse("http://h?q").unwrap().target(), "/?q");
    }

    #[test]
    fn rejects_bad() {
        for s in [
            "ftp://h/",
            "http://",
            "http://h:99999/",
            "http://h:x/",
            "h/path",
            "http://h/a b",
            "http://[::1/",
        ] {
            assert!(Url::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn origin() {
        let a = Url::parse("http://h/a").unwrap();
        assert!(a.same_origin(&Url::parse("http://H:80/b").unwrap()));
        assert!(!a.same_origin(&Url::parse("https://h/a").unwrap()));
        assert!(!a.same_origin(&Url::parse("http://h:81/a").unwrap()));
        assert!(!a.same_origin(&Url::parse("http://g/a").unwrap()));
    }

    #[test]
    fn resolves_locations() {
        let b = Url::parse("http://h:8080/acs/entry?x=1").unwrap();
        let r = |l: &str| b.resolve(l).unwrap().to_string();
        assert_eq!(r("https://o/p"), "https://o/p");
        assert_eq!(r("//o:1/p"), "http://o:1/p");
        assert_eq!(r("/root"), "http://h:8080/root");
        assert_eq!(r("next?y"), "http://h:8080/acs/next?y");
        assert_eq!(r("?z"), "http://h:8080/acs/entry?z");
        assert_eq!(r("a/b?u=http://x"), "http://h:8080/acs/a/b?u=http://x");
        assert!(b.resolve("http://bad host/").is_err());
    }
}
