//! The head of an HTTP/1.x request, as far as a connection request needs it: method,
//! request target and `Authorization`; and the answer to it. Pure: fed with the bytes
//! received so far, and with the decision taken on them.

use super::auth::CrDecision;

/// Largest request head accepted; a connection request is a few hundred bytes.
pub const MAX_HEAD: usize = 8 << 10;

/// What the connection-request server reads of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, ... (case kept: methods are case-sensitive).
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    /// The `Authorization` header value, if any.
    pub authorization: Option<String>,
}

/// Why a head is refused (answered 400, or 431 for [`HeadError::TooLarge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Not an HTTP/1.x request head.
    Malformed,
    /// No end of head within [`MAX_HEAD`] bytes.
    TooLarge,
}

/// Parses `buf` once it holds a whole head (up to the empty line; bare LF line ends are
/// accepted too). `Ok(None)`: more bytes are needed.
///
/// # Errors
/// See [`HeadError`].
pub fn parse(buf: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    let end = buf
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2)
        .into_iter()
        .chain(buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4))
        .min();
    let Some(end) = end else {
        return if buf.len() > MAX_HEAD {
            Err(HeadError::TooLarge)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| HeadError::Malformed)?;
    let mut lines = text.lines();
    let mut request = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request.next(),
        request.next(),
        request.next(),
        request.next(),
    ) else {
        return Err(HeadError::Malformed);
    };
    let token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !token(method) || target.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(HeadError::Malformed);
    }
    let mut authorization = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').ok_or(HeadError::Malformed)?;
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.trim().to_string());
        }
    }
    Ok(Some(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        authorization,
    }))
}

/// Collects the bytes of one request head as they arrive and parses it once it is whole.
/// Each byte is looked at a bounded number of times, however the client splits its head.
#[derive(Debug, Default)]
pub struct HeadReader {
    buf: Vec<u8>,
}

impl HeadReader {
    /// An empty reader.
    pub fn new() -> HeadReader {
        HeadReader::default()
    }

    /// How many bytes were fed so far (at most one more than [`MAX_HEAD`]).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Adds `bytes` (past [`MAX_HEAD`] they are dropped: the head is too large anyway).
    /// `Ok(None)`: more bytes are needed.
    ///
    /// # Errors
    /// See [`HeadError`]; once an error or a head was returned, the reader is spent.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<RequestHead>, HeadError> {
        let from = self.buf.len();
        let room = (MAX_HEAD + 1).saturating_sub(from);
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if self.buf.len() > MAX_HEAD || ends_head(&self.buf, from) {
            parse(&self.buf)
        } else {
            Ok(None)
        }
    }
}

/// Whether a head terminator (`\n\n` or `\r\n\r\n`, as [`parse`] looks for) ends at or
/// after `from`: earlier bytes were looked at by an earlier call.
fn ends_head(buf: &[u8], from: usize) -> bool {
    (from.max(1)..buf.len()).any(|i| {
        buf[i] == b'\n' && (buf[i - 1] == b'\n' || (i >= 3 && &buf[i - 3..i] == b"\r\n\r"))
    })
}

/// The whole answer to a connection request: status line and headers, no body, and the
/// connection closed after it.
pub fn response(decision: &CrDecision) -> String {
    let (status, extra) = match decision {
        CrDecision::Accept => ("200 OK", String::new()),
        CrDecision::Challenge { www_authenticate } => (
            "401 Unauthorized",
            www_authenticate
                .iter()
                .map(|v| format!("WWW-Authenticate: {v}\r\n"))
                .collect(),
        ),
        CrDecision::Reject(400) => ("400 Bad Request", String::new()),
        CrDecision::Reject(403) => ("403 Forbidden", String::new()),
        CrDecision::Reject(404) => ("404 Not Found", String::new()),
        CrDecision::Reject(405) => ("405 Method Not Allowed", "Allow: GET\r\n".into()),
        CrDecision::Reject(431) => ("431 Request Header Fields Too Large", String::new()),
        CrDecision::Reject(_) => ("503 Service Unavailable", String::new()),
    };
    format!("HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_no_body_and_close() {
        assert_eq!(
            response(&CrDecision::Accept),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let r = response(&CrDecision::Challenge {
            www_authenticate: vec!["Digest a=1".into(), "Digest a=2".into()],
        });
        assert!(r.starts_with(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest a=1\r\nWWW-Authenticate: Digest a=2\r\n"
        ));
        assert!(response(&CrDecision::Reject(405)).contains("\r\nAllow: GET\r\n"));
        assert!(response(&CrDecision::Reject(431)).starts_with("HTTP/1.1 431 "));
        assert!(response(&CrDecision::Reject(503)).starts_with("HTTP/1.1 503 "));
    }

    #[test]
    fn parses_a_digest_request() {
        let h = parse(
            b"GET /cr?ts=1&id=2 HTTP/1.1\r\nHost: cpe:7547\r\nauthorization:  Digest username=\"u\", nc=00000001 \r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/cr?ts=1&id=2");
        assert_eq!(
            h.authorization.as_deref(),
            Some("Digest username=\"u\", nc=00000001")
        );
        let h = parse(b"HEAD / HTTP/1.0\n\n").unwrap().unwrap();
        assert_eq!((h.method.as_str(), h.authorization), ("HEAD", None));
    }

    #[test]
    fn waits_for_the_whole_head() {
        let full = b"GET /cr HTTP/1.1\r\nHost: x\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(parse(&full[..n]), Ok(None), "{n} bytes");
        }
        assert!(parse(full).unwrap().is_some());
    }

    #[test]
    fn the_reader_gives_what_parse_gives_however_the_bytes_are_split() {
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD + 10, b'a');
        let cases: [&[u8]; 6] = [
            b"GET /cr HTTP/1.1\r\nHost: x\r\nAuthorization: Digest a=b\r\n\r\n",
            b"GET /cr HTTP/1.0\n\nrest",
            b"GET /cr HTTP/1.1\r\n\n\r\r\n",
            b"GET /cr HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET /cr HTTP/1.1\r\nX: y\n\r\n\r\n",
            &long,
        ];
        for case in cases {
            let want = parse(case);
            for step in [1, 2, 3, 7, 1000, case.len()] {
                let mut r = HeadReader::new();
                let mut got = Ok(None);
                for chunk in case.chunks(step) {
                    got = r.feed(chunk);
                    if got != Ok(None) {
                        break;
                    }
                }
                assert_eq!(
                    got,
                    want,
                    "{step}-byte chunks of {:?}",
                    &case[..case.len().min(40)]
                );
                assert!(r.len() <= MAX_HEAD + 1);
            }
        }
        // Nothing before the terminator is whole.
        let mut r = HeadReader::new();
        assert!(r.is_empty());
        assert_eq!(r.feed(b"GET / HTTP/1.1\r\n\r"), Ok(None));
        assert!(r.feed(b"\n").unwrap().is_some());
    }

    #[test]
    fn refuses_malformed_and_oversized_heads() {
        for bad in [
            &b"GET /cr\r\n\r\n"[..],
            b"GET /cr HTTP/2\r\n\r\n",
            b"GET  /cr HTTP/1.1\r\n\r\n",
            b"G=T /cr HTTP/1.1\r\n\r\n",
            b"GET /cr HTTP/1.1 extra\r\n\r\n",
            b"GET /cr HTTP/1.1\r\nno colon here\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Err(HeadError::Malformed), "{bad:?}");
        }
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD + 1, b'a');
        assert_eq!(parse(&long), Err(HeadError::TooLarge));
        long.extend(b"\r\n\r\n");
        assert_eq!(parse(&long), Err(HeadError::TooLarge));
    }
}
