//! A small FTP client for file transfers: USER/PASS, TYPE I, EPSV with PASV fallback, RETR,
//! STOR, and explicit FTPS (`ftps://`: AUTH TLS, PBSZ 0, PROT P, data channels in TLS
//! reusing the control session) over OpenSSL with certificate verification. Only the subset a
//! CPE needs: the `ftp` crate is unmaintained and suppaftp costs about a megabyte.
//!
//! The data connection always goes to the control connection's peer address: the address a
//! PASV reply names is ignored (NAT'd servers get it wrong, and it would let a hostile server
//! point us elsewhere).

use super::http::{save_limited, NetOptions, SizeLimit};
use super::Failure;
use crate::fault::FaultCode;
use openssl::ssl::SslStream;

use crate::http::tls::TlsClient;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;

/// Longest reply line we accept (anything longer is not FTP).
const MAX_LINE: usize = 8192;

/// A parsed `ftp://` or `ftps://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FtpUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (21 by default).
    pub port: u16,
    /// The file path, percent-decoded, relative to the login directory (RFC 1738).
    pub path: String,
    /// Explicit FTPS.
    pub tls: bool,
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("bad percent escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent escape")?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "path is not UTF-8".to_string())
}

impl FtpUrl {
    /// Parses the URL; userinfo was already refused by the RPC checks.
    pub fn parse(url: &str) -> Result<FtpUrl, String> {
        let (scheme, rest) = url.split_once("://").ok_or("not a URL")?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ftp" => false,
            "ftps" => true,
            _ => return Err(format!("not an FTP URL: {url}")),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let hostport = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("bad IPv6 host")?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            Some(p) if !p.is_empty() => p.parse().map_err(|_| "bad port")?,
            _ => 21,
        };
        // `;type=i` and the like: we always transfer binary.
        let path = path.split(';').next().unwrap_or("");
        let path = percent_decode(path)?;
        if host.is_empty() || path.is_empty() || path.contains(['\r', '\n']) {
            return Err(format!("unusable FTP URL: {url}"));
        }
        Ok(FtpUrl {
            host,
            port,
            path,
            tls,
        })
    }
}

/// Most lines of one multi-line reply: each line is bounded and within the read timeout,
/// so only this stops a server that trickles continuation lines for ever.
const MAX_REPLY_LINES: usize = 1000;

/// Assembles one reply from control-connection lines (multi-line `123-` ... `123 `).
/// Sans-IO, so the reply grammar is tested and fuzzed without a server.
#[derive(Debug, Default)]
pub struct ReplyReader {
    first: Option<u16>,
    text: String,
    lines: usize,
}

/// The reply code that starts `line`: exactly three ASCII digits.
fn reply_code(line: &str) -> Option<u16> {
    let code = line.get(..3)?;
    code.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| code.parse().ok())
        .flatten()
}

impl ReplyReader {
    /// Takes one line (without its line end); returns code and first-line text once the
    /// reply is complete.
    ///
    /// # Errors
    /// A reply that starts with something other than a code, or has too many lines.
    pub fn line(&mut self, line: &str) -> Result<Option<(u16, String)>, String> {
        self.lines += 1;
        if self.lines > MAX_REPLY_LINES {
            return Err("FTP reply too long".into());
        }
        let code = reply_code(line);
        let sep = line.as_bytes().get(3).copied();
        match (self.first, code) {
            (None, Some(c)) => {
                self.text = line.get(4..).unwrap_or("").to_string();
                if sep != Some(b'-') {
                    return Ok(Some((c, std::mem::take(&mut self.text))));
                }
                self.first = Some(c);
            }
            (Some(f), Some(c)) if c == f && sep == Some(b' ') => {
                return Ok(Some((f, std::mem::take(&mut self.text))));
            }
            (Some(_), _) => {}
            (None, None) => return Err(format!("not an FTP reply: {line:?}")),
        }
        Ok(None)
    }
}

/// Takes the next whole line out of `buf`, without its CR LF (or bare LF); `Ok(None)` when
/// more bytes are needed.
///
/// # Errors
/// No line end within [`MAX_LINE`] bytes.
pub fn take_line(buf: &mut Vec<u8>) -> Result<Option<String>, String> {
    if let Some(i) = buf.iter().position(|b| *b == b'\n') {
        let raw: Vec<u8> = buf.drain(..=i).collect();
        let s = String::from_utf8_lossy(&raw);
        return Ok(Some(s.trim_end_matches(['\r', '\n']).to_string()));
    }
    if buf.len() > MAX_LINE {
        return Err("FTP reply line too long".into());
    }
    Ok(None)
}

/// The port of an EPSV reply's text: "Entering Extended Passive Mode (|||port|)".
pub fn epsv_port(text: &str) -> Option<u16> {
    text.split('|').nth(3).and_then(|p| p.parse().ok())
}

/// The port of a PASV reply's text: the last two of "(h1,h2,h3,h4,p1,p2)"; the address is
/// ignored (see the module comment).
pub fn pasv_port(text: &str) -> Option<u16> {
    let nums: Vec<u16> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    let n = nums.len();
    if n < 6 || nums[n - 1] > 255 || nums[n - 2] > 255 {
        return None;
    }
    Some(nums[n - 2] * 256 + nums[n - 1])
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => match s.ssl_read(buf) {
                Ok(n) => Ok(n),
                Err(e) if e.code() == openssl::ssl::ErrorCode::ZERO_RETURN => Ok(0),
                // A peer closing TCP without close_notify: end of data; the 226 reply on the
                // control connection is what confirms the transfer.
                Err(e)
                    if e.code() == openssl::ssl::ErrorCode::SYSCALL && e.io_error().is_none() =>
                {
                    Ok(0)
                }
                Err(e) => Err(e
                    .into_io_error()
                    .unwrap_or_else(|e| io::Error::other(e.to_string()))),
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One logged-in FTP control connection.
struct Session {
    ctl: Option<Stream>,
    buf: Vec<u8>,
    peer: IpAddr,
    url: FtpUrl,
    tls: Option<TlsClient>,
    opts: NetOptions,
}

fn contact(m: impl Into<String>) -> Failure {
    Failure::new(FaultCode::CONTACT_SERVER_FAILURE, m)
}

fn connect(addrs: &[SocketAddr], o: &NetOptions) -> Result<TcpStream, Failure> {
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect_timeout(a, o.connect_timeout) {
            Ok(s) => {
                s.set_read_timeout(Some(o.idle_timeout))
                    .and_then(|_| s.set_write_timeout(Some(o.idle_timeout)))
                    .map_err(|e| contact(e.to_string()))?;
                return Ok(s);
            }
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(contact(format!(
        "cannot connect to the file server ({last})"
    )))
}

impl Session {
    fn stream(&mut self) -> Result<&mut Stream, Failure> {
        self.ctl
            .as_mut()
            .ok_or_else(|| contact("control connection lost"))
    }

    /// Reads one complete reply (multi-line `123-` ... `123 `).
    fn reply(&mut self) -> Result<(u16, String), Failure> {
        let mut reader = ReplyReader::default();
        loop {
            let line = self.line()?;
            if let Some(r) = reader.line(&line).map_err(contact)? {
                return Ok(r);
            }
        }
    }

    fn line(&mut self) -> Result<String, Failure> {
        loop {
            if let Some(line) = take_line(&mut self.buf).map_err(contact)? {
                return Ok(line);
            }
            let mut chunk = [0u8; 1024];
            let n = self
                .stream()?
                .read(&mut chunk)
                .map_err(|e| contact(format!("FTP control connection: {e}")))?;
            if n == 0 {
                return Err(contact("FTP server closed the control connection"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, c: &str) -> Result<(u16, String), Failure> {
        let shown = if c.starts_with("PASS ") {
            "PASS ****"
        } else {
            c
        };
        log::debug!("FTP >> {shown}");
        let line = format!("{c}\r\n");
        self.stream()?
            .write_all(line.as_bytes())
            .map_err(|e| contact(format!("FTP control connection: {e}")))?;
        let r = self.reply()?;
        log::debug!("FTP << {} {}", r.0, r.1);
        Ok(r)
    }

    fn expect(&mut self, c: &str, ok: &[u16], fail: FaultCode) -> Result<String, Failure> {
        let (code, text) = self.cmd(c)?;
        if ok.contains(&code) {
            return Ok(text);
        }
        let verb = c.split(' ').next().unwrap_or(c);
        Err(Failure::new(fail, format!("FTP {verb}: {code} {text}")))
    }

    fn open(url: FtpUrl, user: &str, pass: &str, opts: &NetOptions) -> Result<Session, Failure> {
        let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| contact(format!("cannot resolve {}: {e}", url.host)))?
            .collect();
        let tcp = connect(&addrs, opts)?;
        let peer = tcp.peer_addr().map_err(|e| contact(e.to_string()))?.ip();
        let tls = if url.tls {
            Some(
                crate::http::tls::connector(&opts.tls)
                    .map_err(|e| contact(format!("TLS setup: {e}")))?,
            )
        } else {
            None
        };
        let mut s = Session {
            ctl: Some(Stream::Plain(tcp)),
            buf: Vec::new(),
            peer,
            url,
            tls,
            opts: opts.clone(),
        };
        let (code, text) = s.reply()?;
        if code != 220 {
            return Err(contact(format!("FTP greeting: {code} {text}")));
        }
        if let Some(conn) = s.tls.clone() {
            s.expect("AUTH TLS", &[234], FaultCode::CONTACT_SERVER_FAILURE)?;
            let Some(Stream::Plain(tcp)) = s.ctl.take() else {
                return Err(contact("control connection lost"));
            };
            let tls = conn
                .connect(&s.url.host, tcp)
                .map_err(|e| contact(format!("TLS: {e}")))?;
            s.ctl = Some(Stream::Tls(Box::new(tls)));
        }
        let user = if user.is_empty() { "anonymous" } else { user };
        let auth = FaultCode::TRANSFER_AUTH_FAILURE;
        let (code, text) = s.cmd(&format!("USER {user}"))?;
        match code {
            230 => {}
            331 => {
                s.expect(&format!("PASS {pass}"), &[230, 202], auth)?;
            }
            _ => return Err(Failure::new(auth, format!("FTP USER: {code} {text}"))),
        }
        if s.tls.is_some() {
            s.expect("PBSZ 0", &[200], FaultCode::CONTACT_SERVER_FAILURE)?;
            s.expect("PROT P", &[200], FaultCode::CONTACT_SERVER_FAILURE)?;
        }
        s.expect("TYPE I", &[200], FaultCode::DOWNLOAD_FAILURE)?;
        Ok(s)
    }

    /// Opens the passive data connection (EPSV, then PASV if refused).
    fn data(&mut self) -> Result<TcpStream, Failure> {
        let (code, text) = self.cmd("EPSV")?;
        let port = if code == 229 {
            epsv_port(&text).ok_or_else(|| contact(format!("bad EPSV reply: {text}")))?
        } else {
            let (code, text) = self.cmd("PASV")?;
            if code != 227 {
                return Err(contact(format!("FTP PASV: {code} {text}")));
            }
            pasv_port(&text).ok_or_else(|| contact(format!("bad PASV reply: {text}")))?
        };
        connect(&[SocketAddr::new(self.peer, port)], &self.opts)
    }

    /// Wraps a data connection in TLS after the 1xx reply, reusing the control session.
    fn secure(&self, tcp: TcpStream) -> Result<Stream, Failure> {
        let Some(conn) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let mut ssl = conn
            .ssl(&self.url.host)
            .map_err(|e| contact(format!("TLS: {e}")))?;
        if let Some(Stream::Tls(ctl)) = &self.ctl {
            if let Some(sess) = ctl.ssl().session() {
                // SAFETY: the session comes from a connection made with the same context.
                unsafe {
                    let _ = ssl.set_session(sess);
                }
            }
        }
        let mut s = SslStream::new(ssl, tcp).map_err(|e| contact(format!("TLS: {e}")))?;
        s.connect()
            .map_err(|e| contact(format!("TLS on the data connection: {e}")))?;
        Ok(Stream::Tls(Box::new(s)))
    }

    /// Sends `verb path` on a fresh data connection and returns it once the server accepted.
    fn transfer(&mut self, verb: &str, fail: FaultCode) -> Result<Stream, Failure> {
        let tcp = self.data()?;
        let path = self.url.path.clone();
        let (code, text) = self.cmd(&format!("{verb} {path}"))?;
        if code != 150 && code != 125 {
            let code = match code {
                550 | 553 | 450 => FaultCode::ACCESS_FILE_FAILURE,
                530 | 532 => FaultCode::TRANSFER_AUTH_FAILURE,
                _ => fail,
            };
            return Err(Failure::new(code, format!("FTP {verb} {path}: {text}")));
        }
        self.secure(tcp)
    }

    fn finish(&mut self, fail: FaultCode) -> Result<(), Failure> {
        let (code, text) = self.reply()?;
        if code != 226 && code != 250 {
            return Err(Failure::new(fail, format!("FTP transfer: {code} {text}")));
        }
        let _ = self.cmd("QUIT");
        Ok(())
    }
}

/// Downloads an `ftp://` / `ftps://` URL into `dest`; returns the bytes written.
pub fn download(
    url: &str,
    user: &str,
    pass: &str,
    opts: &NetOptions,
    dest: &Path,
    limit: SizeLimit,
) -> Result<u64, Failure> {
    let u = FtpUrl::parse(url).map_err(|e| Failure::new(FaultCode::DOWNLOAD_FAILURE, e))?;
    let mut s = Session::open(u, user, pass, opts)?;
    let path = s.url.path.clone();
    if let Ok((213, size)) = s.cmd(&format!("SIZE {path}")) {
        if let Ok(n) = size.trim().parse::<u64>() {
            limit.check(n)?;
        }
    }
    let data = s.transfer("RETR", FaultCode::DOWNLOAD_FAILURE)?;
    save_limited(data, dest, &limit, |data| {
        drop(data);
        s.finish(FaultCode::COMPLETE_DOWNLOAD_FAILURE)
    })
}

/// Uploads `src` to an `ftp://` / `ftps://` URL with STOR.
pub fn upload(
    url: &str,
    user: &str,
    pass: &str,
    opts: &NetOptions,
    src: &Path,
) -> Result<(), Failure> {
    let fail = FaultCode::UPLOAD_FAILURE;
    let u = FtpUrl::parse(url).map_err(|e| Failure::new(fail, e))?;
    let mut file = File::open(src)
        .map_err(|e| Failure::new(fail, format!("cannot read {}: {e}", src.display())))?;
    let mut s = Session::open(u, user, pass, opts)?;
    let mut data = s.transfer("STOR", fail)?;
    io::copy(&mut file, &mut data)
        .map_err(|e| Failure::new(fail, format!("FTP upload interrupted: {e}")))?;
    if let Stream::Tls(t) = &mut data {
        // close_notify tells the server the file is complete.
        let _ = t.shutdown();
    }
    drop(data);
    s.finish(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ftp_urls() {
        let u = FtpUrl::parse("ftp://h.example:2121/dir/a%20b.bin;type=i").unwrap();
        assert_eq!(
            u,
            FtpUrl {
                host: "h.example".into(),
                port: 2121,
                path: "dir/a b.bin".into(),
                tls: false
            }
        );
        let u = FtpUrl::parse("FTPS://[::1]/f").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.tls), ("::1", 21, true));
        assert!(FtpUrl::parse("ftp://h/").is_err());
        assert!(FtpUrl::parse("ftp://h/a%0d%0aDELE x").is_err());
        assert!(FtpUrl::parse("http://h/f").is_err());
        assert!(FtpUrl::parse("ftp://h/%zz").is_err());
    }

    #[test]
    fn assembles_single_and_multi_line_replies() {
        let mut r = ReplyReader::default();
        assert_eq!(r.line("220 ready"), Ok(Some((220, "ready".into()))));
        let mut r = ReplyReader::default();
        assert_eq!(r.line("230-Welcome"), Ok(None));
        assert_eq!(r.line(" any text"), Ok(None));
        // Another code, or the same code without a space, does not end the reply.
        assert_eq!(r.line("231 other"), Ok(None));
        assert_eq!(r.line("230-more"), Ok(None));
        assert_eq!(r.line("230 done"), Ok(Some((230, "Welcome".into()))));
        // A code is three digits: u16's parser alone would take "+12" as 12.
        assert!(ReplyReader::default().line("+12 x").is_err());
        assert!(ReplyReader::default().line("hello").is_err());
        assert_eq!(
            ReplyReader::default().line("200"),
            Ok(Some((200, "".into())))
        );
    }

    #[test]
    fn endless_multi_line_reply_is_refused() {
        let mut r = ReplyReader::default();
        assert_eq!(r.line("220-hi"), Ok(None));
        let mut last = Ok(None);
        for _ in 0..MAX_REPLY_LINES {
            last = r.line("220-again");
            if last.is_err() {
                break;
            }
        }
        assert_eq!(last, Err("FTP reply too long".into()));
    }

    #[test]
    fn splits_lines_and_bounds_them() {
        let mut buf = b"220 a\r\n230 b\npartial".to_vec();
        assert_eq!(take_line(&mut buf), Ok(Some("220 a".into())));
        assert_eq!(take_line(&mut buf), Ok(Some("230 b".into())));
        assert_eq!(take_line(&mut buf), Ok(None));
        assert_eq!(buf, b"partial");
        let mut long = vec![b'x'; MAX_LINE + 1];
        assert!(take_line(&mut long).is_err());
    }

    #[test]
    fn reads_passive_ports() {
        assert_eq!(
            epsv_port("Entering Extended Passive Mode (|||50123|)"),
            Some(50123)
        );
        assert_eq!(epsv_port("(|||99999|)"), None);
        assert_eq!(epsv_port("no port"), None);
        assert_eq!(
            pasv_port("Entering Passive Mode (10,0,0,1,195,80)."),
            Some(50000)
        );
        assert_eq!(pasv_port("(10,0,0,1,256,80)"), None);
        assert_eq!(pasv_port("(1,2,3)"), None);
        assert_eq!(pasv_port("(1,2,3,4,255,255)"), Some(65535));
    }
}
