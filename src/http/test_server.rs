//! In-test HTTP server (tiny_http on 127.0.0.1:0) that records what it receives.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{unbounded, Receiver};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the handler answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Reply {
        self.body = b.into();
        self
    }
}

/// A running test server; stops on drop.
pub struct TestServer {
    pub base: String,
    pub seen: Receiver<Seen>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serves with `handler(request, index)` where index counts requests from 0.
    pub fn start(mut handler: impl FnMut(&Seen, usize) -> Reply + Send + 'static) -> TestServer {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let (tx, seen) = unbounded();
        let srv = server.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while let Ok(mut rq) = srv.recv() {
                let mut body = Vec::new();
                rq.as_reader().read_to_end(&mut body).unwrap();
                let s = Seen {
                    method: rq.method().as_str().into(),
                    url: rq.url().into(),
                    headers: rq
                        .headers()
                        .iter()
                        .map(|h| (h.field.as_str().as_str().into(), h.value.as_str().into()))
                        .collect(),
                    body,
                };
                let r = handler(&s, n);
                n += 1;
                let _ = tx.send(s);
                let headers = r
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap()
                    })
                    .collect();
                let len = r.body.len();
                let resp = tiny_http::Response::new(
                    tiny_http::StatusCode(r.status),
                    headers,
                    &r.body[..],
                    Some(len),
                    None,
                );
                let _ = rq.respond(resp);
            }
        });
        TestServer {
            base: format!("http://127.0.0.1:{port}"),
            seen,
            server,
            thread: Some(thread),
        }
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Seen> {
        self.seen.try_iter().collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
