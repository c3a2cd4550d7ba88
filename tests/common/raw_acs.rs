//! An ACS on 127.0.0.1 that answers in raw bytes: for the hostile-peer tests, which need
//! what no HTTP library will send (truncated bodies, bogus chunking, bombs, trickles,
//! silence). Each POST takes the next scripted [`Step`]; once the script is empty it behaves
//! as a plain ACS (InformResponse to an Inform, 204 to anything else).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What the ACS does with one POST.
#[derive(Clone, Debug)]
pub enum Step {
    /// Writes these bytes (a whole HTTP response, or part of one) and keeps the connection.
    Send(Vec<u8>),
    /// Writes these bytes and closes the connection.
    SendClose(Vec<u8>),
    /// Writes the bytes one at a time, `Duration` apart, then closes (gives up once the
    /// peer is gone).
    Trickle(Vec<u8>, Duration),
    /// Answers nothing for this long, then closes.
    Hang(Duration),
}

/// One POST the ACS received.
#[derive(Clone, Debug)]
pub struct Post {
    /// Its body.
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

impl Post {
    /// Whether it is an Inform.
    pub fn is_inform(&self) -> bool {
        self.body.contains("<cwmp:Inform>")
    }

    /// The text of the first `<tag>` element (no attributes).
    pub fn tag(&self, tag: &str) -> Option<&str> {
        let open = format!("<{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find("</")? + start;
        Some(&self.body[start..end])
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Step>,
    posts: Vec<Post>,
}

struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    stop: AtomicBool,
}

/// The raw ACS; stops accepting when dropped.
pub struct RawAcs {
    shared: Arc<Shared>,
    port: u16,
}

/// The cwmp:ID of an ACS request in `body`, or "1".
fn cwmp_id(body: &str) -> String {
    body.find("<cwmp:ID")
        .and_then(|i| {
            let s = &body[i..];
            let start = s.find('>')? + 1;
            let end = s.find("</cwmp:ID>")?;
            Some(s[start..end].to_string())
        })
        .unwrap_or_else(|| "1".into())
}

/// An envelope holding `body_xml`, with cwmp:ID `id`.
pub fn envelope(id: &str, body_xml: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">{id}</cwmp:ID></soap-env:Header><soap-env:Body>{body_xml}</soap-env:Body></soap-env:Envelope>"#
    )
}

/// The InformResponse envelope.
pub fn inform_response(id: &str) -> String {
    envelope(
        id,
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    )
}

/// A whole `200 OK` response carrying `body`, with `extra` header lines (each ending in CRLF).
pub fn http_200(body: &[u8], extra: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=\"utf-8\"\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

impl RawAcs {
    /// Starts the ACS with `script`.
    pub fn start(script: Vec<Step>) -> RawAcs {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw ACS");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script: script.into(),
                posts: Vec::new(),
            }),
            cv: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve(stream, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        RawAcs { shared, port }
    }

    /// The URL to give the CPE.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/acs", self.port)
    }

    /// Appends `step` to the script.
    pub fn push(&self, step: Step) {
        self.shared.state.lock().unwrap().script.push_back(step);
    }

    /// Everything received so far.
    pub fn posts(&self) -> Vec<Post> {
        self.shared.state.lock().unwrap().posts.clone()
    }

    /// The Informs received so far.
    pub fn informs(&self) -> Vec<Post> {
        self.posts().into_iter().filter(Post::is_inform).collect()
    }

    /// Waits up to `timeout` for `n` Informs; returns them.
    pub fn wait_informs(&self, n: usize, timeout: Duration) -> Result<Vec<Post>, String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            let informs: Vec<Post> = st.posts.iter().filter(|p| p.is_inform()).cloned().collect();
            if informs.len() >= n {
                return Ok(informs);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "{} Informs of {n} after {timeout:?}",
                    informs.len()
                ));
            }
            st = self.shared.cv.wait_timeout(st, left).unwrap().0;
        }
    }
}

impl Drop for RawAcs {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one request; returns its body, or None when the peer closed or sent garbage.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut len = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(mut w) = stream.try_clone() else {
        return;
    };
    let mut r = BufReader::new(stream);
    while let Some(body) = read_request(&mut r) {
        let step = {
            let mut st = shared.state.lock().unwrap();
            let inform = body.contains("<cwmp:Inform>");
            let id = cwmp_id(&body);
            st.posts.push(Post {
                body,
                at: Instant::now(),
            });
            shared.cv.notify_all();
            st.script.pop_front().unwrap_or_else(|| {
                if inform {
                    Step::Send(http_200(inform_response(&id).as_bytes(), ""))
                } else {
                    Step::Send(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_vec())
                }
            })
        };
        match step {
            Step::Send(bytes) => {
                if w.write_all(&bytes).is_err() {
                    return;
                }
            }
            Step::SendClose(bytes) => {
                let _ = w.write_all(&bytes);
                return;
            }
            Step::Trickle(bytes, gap) => {
                for b in bytes {
                    if w.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(gap);
                }
                return;
            }
            Step::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
        }
    }
}
