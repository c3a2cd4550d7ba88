//! A raw HTTP/1.1 file server for transfer tests: one thread per connection, the request
//! parsed here, the answer written by the test's handler (so it can drip, truncate or stall).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// Serves on 127.0.0.1 until the test ends; `handler(path, body, stream)` answers each
/// request. Returns the base URL (`http://127.0.0.1:<port>`).
pub fn serve(handler: impl Fn(&str, Vec<u8>, &mut TcpStream) + Send + Sync + 'static) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || {
                let Ok(mut w) = conn.try_clone() else {
                    return;
                };
                let mut r = BufReader::new(conn);
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                let path = first.split(' ').nth(1).unwrap_or("").to_string();
                let mut len = 0;
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                handler(&path, body, &mut w);
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// Writes a complete `200 OK` answer carrying `body`.
pub fn ok(w: &mut TcpStream, body: &[u8]) {
    let h = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = w.write_all(h.as_bytes());
    let _ = w.write_all(body);
}

/// Sends a header announcing `len` bytes, then drips `chunk` every 100 ms for a minute
/// (a transfer that is still running when the test kills the daemon).
pub fn drip(w: &mut TcpStream, len: usize, chunk: &[u8]) {
    let h = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
    let _ = w.write_all(h.as_bytes());
    for _ in 0..600 {
        if w.write_all(chunk).is_err() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
