//! A small HTTP proxy for the tests: forwards absolute-form requests (rewritten to
//! origin-form, one by one, so each request line is recorded) and tunnels CONNECT; checks
//! `Proxy-Authorization` when given one (407 otherwise).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the proxy saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The request line as received (`POST http://... HTTP/1.1`, `CONNECT h:p HTTP/1.1`).
    pub line: String,
    /// Its `Proxy-Authorization` value.
    pub auth: Option<String>,
    /// Answered 407.
    pub refused: bool,
}

/// The running proxy (stopped on drop).
pub struct TestProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl TestProxy {
    /// Starts a proxy that wants `Proxy-Authorization: Basic base64(user:pass)` when `creds`.
    pub fn start(creds: Option<(&str, &str)>) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let want = creds.map(|(u, p)| format!("Basic {}", b64(format!("{u}:{p}").as_bytes())));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (seen, want) = (seen2.clone(), want.clone());
                        let _ = s.set_nonblocking(false);
                        thread::spawn(move || {
                            let _ = client(s, &seen, want.as_deref());
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        TestProxy { port, seen, stop }
    }

    /// `http://[user:pass@]127.0.0.1:port`.
    pub fn url(&self, creds: Option<(&str, &str)>) -> String {
        match creds {
            Some((u, p)) => format!("http://{u}:{p}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reads a head (request or response): its lines without the CRLFs.
fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 {
            return Ok(None);
        }
        let l = l.trim_end_matches(['\r', '\n']).to_string();
        if l.is_empty() {
            return Ok(Some(lines));
        }
        lines.push(l);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// Copies a body framed by `head` (Content-Length or chunked) from `r` to `w`.
fn relay_body(head: &[String], r: &mut impl BufRead, w: &mut impl Write) -> std::io::Result<()> {
    if let Some(n) = header(head, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        std::io::copy(&mut r.take(n), w)?;
    } else if header(head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            w.write_all(size.as_bytes())?;
            let n =
                u64::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            std::io::copy(&mut r.take(n + 2), w)?;
            if n == 0 {
                break;
            }
        }
    }
    Ok(())
}

fn client(s: TcpStream, seen: &Mutex<Vec<Seen>>, want: Option<&str>) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    while let Some(head) = read_head(&mut r)? {
        let line = head.first().cloned().unwrap_or_default();
        let auth = header(&head, "proxy-authorization").map(String::from);
        let refused = want.is_some_and(|w| auth.as_deref() != Some(w));
        seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
            line: line.clone(),
            auth: auth.clone(),
            refused,
        });
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if refused {
            relay_body(&head, &mut r, &mut std::io::sink())?;
            w.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
            )?;
            continue;
        }
        if method == "CONNECT" {
            let up = TcpStream::connect(target)?;
            w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
            let (mut up_r, mut up_w) = (up.try_clone()?, up);
            let mut down_w = w.try_clone()?;
            // What the client sent after the head is in the BufReader.
            let t = thread::spawn(move || {
                let _ = std::io::copy(&mut r, &mut up_w);
                let _ = up_w.shutdown(Shutdown::Write);
            });
            let _ = std::io::copy(&mut up_r, &mut down_w);
            let _ = down_w.shutdown(Shutdown::Both);
            let _ = t.join();
            return Ok(());
        }
        // Absolute-form only: an origin-form request to a proxy is an error.
        let Some(rest) = target.strip_prefix("http://") else {
            w.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
            return Ok(());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        // A connection per request: simple, and each one is framed on its own.
        let up = TcpStream::connect(authority)?;
        up.set_read_timeout(Some(Duration::from_secs(30)))?;
        let (mut up_r, mut up_w) = (BufReader::new(up.try_clone()?), up);
        let version = parts.next().unwrap_or("HTTP/1.1");
        let mut out = format!("{method} {path} {version}\r\n");
        for h in head.iter().skip(1) {
            if !h.to_ascii_lowercase().starts_with("proxy-") {
                out.push_str(h);
                out.push_str("\r\n");
            }
        }
        out.push_str("\r\n");
        up_w.write_all(out.as_bytes())?;
        relay_body(&head, &mut r, &mut up_w)?;
        let Some(resp) = read_head(&mut up_r)? else {
            return Ok(());
        };
        let mut back = String::new();
        for h in &resp {
            back.push_str(h);
            back.push_str("\r\n");
        }
        back.push_str("\r\n");
        w.write_all(back.as_bytes())?;
        relay_body(&resp, &mut up_r, &mut w)?;
    }
    Ok(())
}
