//! The sans-IO half of the TR-143 HTTP client: test URLs (HTTP and FTP), request heads, the response head
//! parser (with budgets) and body framing that counts bytes without keeping them.

/// A `http://host[:port]/path` or `ftp://[user[:password]@]host[:port]/path` test URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url {
    /// The FTP login (`anonymous` when the URL has none); `None` for HTTP.
    pub ftp: Option<(String, String)>,
    /// Host name or address literal (v6 without its brackets).
    pub host: String,
    /// TCP port (80 when not given).
    pub port: u16,
    /// Path and query, `/` at least.
    pub path: String,
    /// The `Host:` header value as the URL spells it.
    pub authority: String,
}

/// Longest URL accepted (TR-106 URL strings are at most 2048).
pub(crate) const MAX_URL: usize = 2048;

/// Parses a test URL; `None` for anything but `http://` and `ftp://` (no HTTPS/FTPS).
pub(crate) fn parse_url(url: &str) -> Option<Url> {
    if url.len() > MAX_URL || url.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let ftp = scheme.eq_ignore_ascii_case("ftp");
    if !ftp && !scheme.eq_ignore_ascii_case("http") {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (login, authority) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) if ftp => {
            let (u, p) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            ((percent_decode(u)?, percent_decode(p)?), hostport)
        }
        Some(_) => return None,
        None => (("anonymous".to_string(), "icwmpd@".to_string()), authority),
    };
    let (host, port) = super::net::split_host_port(authority, if ftp { 21 } else { 80 })?;
    if host.is_empty() || port == 0 {
        return None;
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let path = path.split('#').next().unwrap_or("/").to_string();
    let path = if ftp { percent_decode(&path)? } else { path };
    Some(Url {
        ftp: ftp.then_some(login),
        host: host.to_string(),
        port,
        path,
        authority: authority.to_string(),
    })
}

/// `%XX` escapes decoded (FTP user, password and path go on the wire decoded); `None` for
/// a bad escape or a CR/LF/NUL that would break the FTP command line.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    if out.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0)) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// The GET request head of a download test.
pub(crate) fn get_request(url: &Url) -> String {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: icwmpd-tr143\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    )
}

/// The PUT request head of an upload test: a `Content-Length` body, or a chunked one when
/// the length is not known in advance (time-based tests).
pub(crate) fn put_request(url: &Url, length: Option<u64>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_string(),
    };
    format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: icwmpd-tr143\r\nContent-Type: application/octet-stream\r\n{framing}\r\nConnection: close\r\n\r\n",
        url.path, url.authority
    )
}

/// Largest response head accepted.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 100;

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the server closes.
    Close,
}

/// A parsed response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// Status code.
    pub status: u16,
    /// Body framing.
    pub framing: Framing,
    /// Bytes of the head, blank line included.
    pub len: usize,
}

/// Why a response head is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Over [`MAX_HEAD`] bytes or [`MAX_HEADERS`] lines.
    TooLarge,
    /// Not HTTP/1.x, or a malformed line or length.
    Malformed,
}

/// Parses the response head at the start of `buf`: `Ok(None)` while it is incomplete (feed
/// more bytes). Linear in `buf`; refuses heads over the budget.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD {
            Err(HeadError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or(HeadError::Malformed)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HeadError::Malformed);
    }
    let status: u16 = parts
        .next()
        .filter(|s| s.len() == 3)
        .and_then(|s| s.parse().ok())
        .ok_or(HeadError::Malformed)?;
    let mut length = None;
    let mut chunked = false;
    for (i, line) in lines.enumerate() {
        if i >= MAX_HEADERS {
            return Err(HeadError::TooLarge);
        }
        let (k, v) = line.split_once(':').ok_or(HeadError::Malformed)?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            let n: u64 = v.parse().map_err(|_| HeadError::Malformed)?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Malformed);
            }
            length = Some(n);
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    let framing = if chunked {
        Framing::Chunked
    } else if matches!(status, 204 | 304) || (100..200).contains(&status) {
        Framing::Length(0)
    } else {
        length.map_or(Framing::Close, Framing::Length)
    };
    Ok(Some(Head {
        status,
        framing,
        len: end + 4,
    }))
}

/// Longest chunk-size line or trailer line accepted.
const MAX_CHUNK_LINE: u32 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Reading the hex size (value so far, digits so far).
    Size(u64, u8),
    /// Skipping a chunk extension up to LF (chunk size, bytes so far).
    Ext(u64, u32),
    /// Inside chunk data (bytes left).
    Data(u64),
    /// The CRLF after chunk data (bytes of it seen).
    DataEnd(u8),
    /// Trailer lines after the last chunk (bytes of this line so far).
    Trailer(u32),
}

/// Counts the body bytes of a response as they arrive, and says when it has ended; never
/// keeps them (constant memory whatever the size).
#[derive(Clone, Debug)]
pub(crate) struct Body {
    framing: Framing,
    chunk: Chunk,
    /// Payload bytes (chunk framing excluded) so far.
    pub payload: u64,
    done: bool,
}

/// A body that breaks its framing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BodyError;

impl Body {
    /// A body framed as `framing`.
    pub(crate) fn new(framing: Framing) -> Body {
        Body {
            framing,
            chunk: Chunk::Size(0, 0),
            payload: 0,
            done: framing == Framing::Length(0),
        }
    }

    /// Whether the body is complete.
    pub(crate) fn done(&self) -> bool {
        self.done
    }

    /// Whether the server closing now ends the body properly.
    pub(crate) fn close_ok(&self) -> bool {
        self.done || self.framing == Framing::Close
    }

    /// Accounts `data`; returns how many bytes belong to the body (the rest follows its end).
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<usize, BodyError> {
        if self.done {
            return Ok(0);
        }
        match self.framing {
            Framing::Close => {
                self.payload += data.len() as u64;
                Ok(data.len())
            }
            Framing::Length(n) => {
                let take = (n - self.payload).min(data.len() as u64);
                self.payload += take;
                self.done = self.payload == n;
                Ok(take as usize)
            }
            Framing::Chunked => self.feed_chunked(data),
        }
    }

    fn feed_chunked(&mut self, data: &[u8]) -> Result<usize, BodyError> {
        let mut i = 0;
        while i < data.len() && !self.done {
            let b = data[i];
            self.chunk = match self.chunk {
                Chunk::Data(left) => {
                    let take = left.min((data.len() - i) as u64);
                    self.payload += take;
                    i += take as usize;
                    self.chunk = if left == take {
                        Chunk::DataEnd(0)
                    } else {
                        Chunk::Data(left - take)
                    };
                    continue;
                }
                Chunk::Size(v, n) => match (b as char).to_digit(16) {
                    Some(d) if n < 16 => Chunk::Size(v << 4 | d as u64, n + 1),
                    Some(_) => return Err(BodyError),
                    None if n == 0 => return Err(BodyError),
                    None if b == b'\n' => size_done(v),
                    None => Chunk::Ext(v, 0),
                },
                Chunk::Ext(v, _) if b == b'\n' => size_done(v),
                Chunk::Ext(v, n) if n < MAX_CHUNK_LINE => Chunk::Ext(v, n + 1),
                Chunk::Ext(..) => return Err(BodyError),
                Chunk::DataEnd(0) if b == b'\r' => Chunk::DataEnd(1),
                Chunk::DataEnd(_) if b == b'\n' => Chunk::Size(0, 0),
                Chunk::DataEnd(_) => return Err(BodyError),
                Chunk::Trailer(n) if b == b'\n' => {
                    if n == 0 {
                        self.done = true;
                    }
                    Chunk::Trailer(0)
                }
                Chunk::Trailer(n) if b == b'\r' => Chunk::Trailer(n),
                Chunk::Trailer(n) if n < MAX_CHUNK_LINE => Chunk::Trailer(n + 1),
                Chunk::Trailer(_) => return Err(BodyError),
            };
            i += 1;
        }
        Ok(i)
    }
}

/// After a chunk-size line: its data, or the trailer after the last (zero) chunk.
fn size_done(size: u64) -> Chunk {
    if size == 0 {
        Chunk::Trailer(0)
    } else {
        Chunk::Data(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://example.com:8080/f?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("example.com", 8080, "/f?x=1")
        );
        assert_eq!(u.authority, "example.com:8080");
        let u = parse_url("HTTP://[::1]/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 80));
        assert_eq!(parse_url("http://h").unwrap().path, "/");
        assert_eq!(parse_url("http://h?q").unwrap().path, "/?q");
        let f = parse_url("ftp://u%40x:p%3A@h/dir/f%20g").unwrap();
        assert_eq!(f.ftp, Some(("u@x".into(), "p:".into())));
        assert_eq!(
            (f.host.as_str(), f.port, f.path.as_str()),
            ("h", 21, "/dir/f g")
        );
        let f = parse_url("ftp://[::1]:2121/f").unwrap();
        assert_eq!((f.ftp.unwrap().0.as_str(), f.port), ("anonymous", 2121));
        assert!(parse_url("http://h/").unwrap().ftp.is_none());
        for bad in [
            "ftp://h/a%0d%0aDELE%20x",
            "ftp://h/%zz",
            "https://h/",
            "http:///x",
            "http://u:p@h/",
            "http://h:0/",
            "http://h:x/",
            "http://h/a b",
            "h/x",
        ] {
            assert!(parse_url(bad).is_none(), "{bad}");
        }
        assert!(parse_url(&format!("http://h/{}", "a".repeat(MAX_URL))).is_none());
    }

    #[test]
    fn request_heads() {
        let u = parse_url("http://h:81/up").unwrap();
        assert!(get_request(&u).starts_with("GET /up HTTP/1.1\r\nHost: h:81\r\n"));
        assert!(put_request(&u, Some(5)).contains("\r\nContent-Length: 5\r\n"));
        assert!(put_request(&u, None).contains("\r\nTransfer-Encoding: chunked\r\n"));
        assert!(put_request(&u, None).ends_with("\r\n\r\n"));
    }

    #[test]
    fn heads() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nbody")
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Head {
                status: 200,
                framing: Framing::Length(12),
                len: 39
            }
        );
        let h = parse_head(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let h = parse_head(b"HTTP/1.1 404 Not Found\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.framing), (404, Framing::Close));
        let h = parse_head(b"HTTP/1.1 204 No\r\nContent-Length: 9\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(0));
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert_eq!(parse_head(b"SSH-2.0\r\n\r\n"), Err(HeadError::Malformed));
        assert_eq!(
            parse_head(b"HTTP/1.1 2000 OK\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HeadError::Malformed)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nnocolon\r\n\r\n"),
            Err(HeadError::Malformed)
        );
    }

    #[test]
    fn heads_over_budget_are_refused() {
        let mut big = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        big.resize(MAX_HEAD, b'a');
        assert_eq!(parse_head(&big), Err(HeadError::TooLarge));
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many), Err(HeadError::TooLarge));
    }

    #[test]
    fn length_bodies_count_and_stop() {
        let mut b = Body::new(Framing::Length(5));
        assert_eq!(b.feed(b"abc"), Ok(3));
        assert!(!b.done() && !b.close_ok());
        assert_eq!(b.feed(b"defg"), Ok(2));
        assert!(b.done() && b.payload == 5);
        assert!(Body::new(Framing::Length(0)).done());
        let mut c = Body::new(Framing::Close);
        c.feed(b"xyz").unwrap();
        assert!(c.close_ok() && !c.done() && c.payload == 3);
    }

    #[test]
    fn chunked_bodies_in_any_split() {
        let wire = b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nextra";
        for split in 1..wire.len() {
            let mut b = Body::new(Framing::Chunked);
            let mut used = 0;
            for part in wire.chunks(split) {
                used += b.feed(part).unwrap();
            }
            assert!(b.done(), "split {split}");
            assert_eq!(b.payload, 15);
            assert_eq!(used, wire.len() - 5);
        }
    }

    #[test]
    fn hostile_chunked_bodies_fail_in_bounded_time() {
        let mut b = Body::new(Framing::Chunked);
        assert_eq!(b.feed(b"11111111111111111\r\n"), Err(BodyError));
        let mut b = Body::new(Framing::Chunked);
        assert_eq!(b.feed(b"zz\r\n"), Err(BodyError));
        let mut b = Body::new(Framing::Chunked);
        assert_eq!(b.feed(b"1\r\nab"), Err(BodyError));
        let mut b = Body::new(Framing::Chunked);
        let long = [b'a'; 5000];
        assert_eq!(b.feed(b"1;"), Ok(2));
        assert_eq!(b.feed(&long), Err(BodyError));
        // A huge declared chunk is only counted, never allocated.
        let mut b = Body::new(Framing::Chunked);
        b.feed(b"ffffffffffffffff\r\n").unwrap();
        b.feed(&[0; 1000]).unwrap();
        assert_eq!(b.payload, 1000);
        assert!(!b.done());
    }
}
