//! Download/Upload diagnostics against real HTTP servers on loopback, written here so the
//! engine's time budgets can be shortened ([`Limits`]).

use super::http1::{self, Body, Framing};
use super::testing::{assert_cancel_ends, get, inputs};
use super::tr143::{run, Limits};
use super::tr143_results::Dir;
use super::{Cancel, Inputs, Outcome};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const FAST: Limits = Limits {
    connect: Duration::from_secs(2),
    idle: Duration::from_millis(400),
    max: Duration::from_secs(20),
};

/// Reads a request head; returns it (bounded: the engine's heads are small).
fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if s.read(&mut b).unwrap_or(0) == 0 {
            break;
        }
        head.push(b[0]);
    }
    head
}

/// A server that answers `conns` connections with `respond`, reporting each request head.
fn server(
    conns: usize,
    respond: impl Fn(&mut TcpStream, &[u8]) + Send + Sync + 'static,
) -> (String, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    let respond = std::sync::Arc::new(respond);
    thread::spawn(move || {
        for _ in 0..conns {
            let Ok((mut s, _)) = l.accept() else { return };
            let (tx, respond) = (tx.clone(), respond.clone());
            thread::spawn(move || {
                let head = read_head(&mut s);
                respond(&mut s, &head);
                let _ = tx.send(head);
            });
        }
    });
    (addr, rx)
}

fn send_body(s: &mut TcpStream, len: usize) {
    let chunk = [b'x'; 8192];
    let mut left = len;
    while left > 0 {
        let k = left.min(chunk.len());
        if s.write_all(&chunk[..k]).is_err() {
            return;
        }
        left -= k;
    }
}

const CHUNKED_HEAD: &str = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
const OK_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";

/// Answers with a 1 MiB body of known length.
fn send_mib(s: &mut TcpStream) {
    s.write_all(OK_HEAD.as_bytes()).unwrap();
    send_body(s, 1 << 20);
}

/// Runs a test of `dir` against `http://{addr}/` with the fast limits, not cancelled.
fn run_at(dir: Dir, addr: impl std::fmt::Display, i: &Inputs) -> Outcome {
    run(dir, &format!("http://{addr}/"), i, &Cancel::new(), FAST)
}

/// Fails unless less than `limit` has passed since `t`.
fn assert_quick(t: Instant, limit: Duration) {
    assert!(t.elapsed() < limit, "{:?}", t.elapsed());
}

/// Downloads from `addr` with `limits`, cancelled 150 ms in by another thread: the test must
/// end `Canceled` within 1.2 s.
fn assert_cancel_is_prompt(addr: &str, limits: Limits) {
    let url = format!("http://{addr}/");
    assert_cancel_ends(Duration::from_millis(150), |c| {
        run(Dir::Download, &url, &inputs(&[]), c, limits)
    });
}

#[test]
fn download_counts_bytes_exactly_and_orders_its_timestamps() {
    let (addr, heads) = server(1, |s, _| send_mib(s));
    let url = format!("http://{addr}/file");
    let o = run(Dir::Download, &url, &inputs(&[]), &Cancel::new(), FAST);
    assert_eq!(o.state, "Complete", "{o:?}");
    let head = heads.recv().unwrap();
    assert!(head.starts_with(b"GET /file HTTP/1.1\r\n"));
    let expect = OK_HEAD.len() + (1 << 20);
    assert_eq!(get(&o, "TestBytesReceived"), expect.to_string());
    assert_eq!(get(&o, "TotalBytesReceived"), expect.to_string());
    assert_eq!(get(&o, "TotalBytesSent"), head.len().to_string());
    let (req, resp) = (
        get(&o, "TCPOpenRequestTime"),
        get(&o, "TCPOpenResponseTime"),
    );
    let (rom, bom, eom) = (get(&o, "ROMTime"), get(&o, "BOMTime"), get(&o, "EOMTime"));
    assert!(
        req <= resp && resp <= rom && rom <= bom && bom <= eom,
        "{req} {resp} {rom} {bom} {eom}"
    );
    assert_eq!(rom.len(), "2008-04-09T15:01:05.123456Z".len());
    assert_eq!(get(&o, "IPAddressUsed"), "127.0.0.1");
    assert_eq!(get(&o, "PerConnectionResultNumberOfEntries"), "0");
}

#[test]
fn download_over_parallel_chunked_connections_with_per_connection_results() {
    let (addr, _heads) = server(3, |s, _| {
        s.write_all(CHUNKED_HEAD.as_bytes()).unwrap();
        for _ in 0..10 {
            s.write_all(b"1000\r\n").unwrap();
            send_body(s, 0x1000);
            s.write_all(b"\r\n").unwrap();
        }
        s.write_all(b"0\r\n\r\n").unwrap();
    });
    let url = format!("http://{addr}/");
    let i = inputs(&[
        ("NumberOfConnections", "3"),
        ("EnablePerConnectionResults", "true"),
    ]);
    let o = run(Dir::Download, &url, &i, &Cancel::new(), FAST);
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(get(&o, "PerConnectionResultNumberOfEntries"), "3");
    let per: u64 = (1..=3)
        .map(|k| {
            get(&o, &format!("PerConnectionResult.{k}.TestBytesReceived"))
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(get(&o, "TestBytesReceived"), per.to_string());
    let wire = CHUNKED_HEAD.len() + 10 * (6 + 0x1000 + 2) + 5;
    assert_eq!(per, 3 * wire as u64);
    for k in 1..=3 {
        let p = format!("PerConnectionResult.{k}.");
        assert!(get(&o, &format!("{p}ROMTime")) <= get(&o, &format!("{p}EOMTime")));
        assert!(get(&o, "ROMTime") <= get(&o, &format!("{p}ROMTime")));
        assert!(get(&o, "EOMTime") >= get(&o, &format!("{p}EOMTime")));
    }
}

/// A canned server behaviour.
type Respond = fn(&mut TcpStream);

#[test]
fn download_error_states() {
    let cases: [(&str, Respond); 4] = [
        ("Error_TransferFailed", |s| {
            s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap()
        }),
        ("Error_IncorrectSize", |s| {
            s.write_all(OK_HEAD.as_bytes()).unwrap();
            send_body(s, 1000);
        }),
        ("Error_TransferFailed", |s| {
            s.write_all(b"SSH-2.0-x\r\n\r\n").unwrap()
        }),
        ("Error_NoResponse", |_| {}),
    ];
    for (want, respond) in cases {
        let (addr, _h) = server(1, move |s, _| respond(s));
        let o = run_at(Dir::Download, addr, &inputs(&[]));
        assert_eq!(o.state, want);
        assert!(o.values.is_empty());
    }
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = run_at(Dir::Download, closed, &inputs(&[]));
    assert_eq!(o.state, "Error_InitConnectionFailed");
    let o = run(
        Dir::Download,
        "http://no-such-host.invalid/",
        &inputs(&[]),
        &Cancel::new(),
        FAST,
    );
    assert_eq!(o.state, "Error_CannotResolveHostName");
    let i = inputs(&[("ProtocolVersion", "IPv6")]);
    let o = run(Dir::Download, "http://127.0.0.1/", &i, &Cancel::new(), FAST);
    assert_eq!(o.state, "Error_CannotResolveHostName");
}

#[test]
fn stalls_end_in_timeout_or_no_response_within_the_idle_budget() {
    let stall = |body: bool| {
        move |s: &mut TcpStream, _: &[u8]| {
            if body {
                s.write_all(OK_HEAD.as_bytes()).unwrap();
                send_body(s, 5000);
            }
            thread::sleep(Duration::from_secs(3));
        }
    };
    for (body, want) in [(true, "Error_Timeout"), (false, "Error_NoResponse")] {
        let (addr, _h) = server(1, stall(body));
        let t = Instant::now();
        let o = run_at(Dir::Download, addr, &inputs(&[]));
        assert_eq!(o.state, want);
        assert_quick(t, FAST.idle + Duration::from_millis(1500));
        assert!(t.elapsed() >= FAST.idle);
    }
}

#[test]
fn cancel_stops_a_download_promptly() {
    let (addr, _h) = server(1, |s, _| {
        s.write_all(OK_HEAD.as_bytes()).unwrap();
        send_body(s, 10);
        thread::sleep(Duration::from_secs(3));
    });
    let slow = Limits {
        idle: Duration::from_secs(5),
        ..FAST
    };
    assert_cancel_is_prompt(&addr, slow);
}

#[test]
fn time_based_download_stops_at_its_duration_with_incremental_results() {
    let (addr, _h) = server(1, |s, _| {
        s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            send_body(s, 4096);
            thread::sleep(Duration::from_millis(5));
        }
    });
    let i = inputs(&[
        ("TimeBasedTestDuration", "2"),
        ("TimeBasedTestMeasurementInterval", "1"),
    ]);
    let t = Instant::now();
    let o = run_at(Dir::Download, addr, &i);
    let took = t.elapsed();
    assert_eq!(o.state, "Complete", "{o:?}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(3500),
        "{took:?}"
    );
    assert_eq!(get(&o, "IncrementalResultNumberOfEntries"), "2");
    let rows: u64 = (1..=2)
        .map(|k| {
            get(&o, &format!("IncrementalResult.{k}.TestBytesReceived"))
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    let total: u64 = get(&o, "TestBytesReceived").parse().unwrap();
    assert!(rows > 0 && rows <= total, "{rows} {total}");
    assert!(get(&o, "IncrementalResult.1.EndTime") == get(&o, "IncrementalResult.2.StartTime"));
}

/// An upload sink: counts the body bytes of each PUT and reports them.
fn sink(conns: usize, status: &'static str) -> (String, mpsc::Receiver<u64>) {
    let (tx, rx) = mpsc::channel();
    let (addr, _heads) = server(conns, move |s, head| {
        let h = http1::parse_head(
            &[
                b"HTTP/1.1 200 X\r\n".as_slice(),
                &head[head.iter().position(|&b| b == b'\n').unwrap() + 1..],
            ]
            .concat(),
        )
        .unwrap()
        .unwrap();
        let mut body = Body::new(h.framing);
        let mut buf = [0u8; 16384];
        if status.starts_with("200") {
            while !body.done() {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        body.feed(&buf[..n]).unwrap();
                    }
                }
            }
        }
        let _ = tx.send(if body.done() { body.payload } else { u64::MAX });
        let _ = s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        assert_ne!(h.framing, Framing::Close);
    });
    (addr, rx)
}

#[test]
fn upload_sends_exactly_the_test_file_length_on_each_connection() {
    let (addr, seen) = sink(2, "200 OK");
    let i = inputs(&[
        ("TestFileLength", "300000"),
        ("NumberOfConnections", "2"),
        ("EnablePerConnectionResults", "1"),
    ]);
    let o = run(
        Dir::Upload,
        &format!("http://{addr}/up"),
        &i,
        &Cancel::new(),
        FAST,
    );
    assert_eq!(o.state, "Complete", "{o:?}");
    assert_eq!(
        [seen.recv().unwrap(), seen.recv().unwrap()],
        [300000, 300000]
    );
    let head = http1::put_request(
        &http1::parse_url(&format!("http://{addr}/up")).unwrap(),
        Some(300000),
    );
    assert_eq!(
        get(&o, "TestBytesSent"),
        (2 * (head.len() + 300000)).to_string()
    );
    assert_eq!(
        get(&o, "PerConnectionResult.1.TestBytesSent"),
        (head.len() + 300000).to_string()
    );
    let (rom, bom, eom) = (get(&o, "ROMTime"), get(&o, "BOMTime"), get(&o, "EOMTime"));
    assert!(rom <= bom && bom <= eom);
}

#[test]
fn refused_upload_and_time_based_chunked_upload() {
    let (addr, _seen) = sink(1, "403 Forbidden");
    let i = inputs(&[("TestFileLength", "1000")]);
    let o = run_at(Dir::Upload, addr, &i);
    assert_eq!(o.state, "Error_NoTransferComplete");

    let (addr, seen) = sink(1, "200 OK");
    let i = inputs(&[("TimeBasedTestDuration", "1")]);
    let o = run_at(Dir::Upload, addr, &i);
    assert_eq!(o.state, "Complete", "{o:?}");
    let payload = seen.recv().unwrap();
    let sent: u64 = get(&o, "TestBytesSent").parse().unwrap();
    assert!(payload > 0 && payload < sent, "{payload} {sent}");
}

/// Streams a body for 5 s (never ends on the test's time scale).
fn endless(s: &mut TcpStream) {
    let _ = s.write_all(OK_HEAD.as_bytes());
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        send_body(s, 1024);
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn cancel_and_a_failing_connection_stop_flowing_transfers() {
    let (addr, _h) = server(1, |s, _| endless(s));
    assert_cancel_is_prompt(&addr, FAST);

    let nth = std::sync::atomic::AtomicUsize::new(0);
    let (addr, _h) = server(2, move |s, _| {
        if nth.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        } else {
            endless(s);
        }
    });
    let t = Instant::now();
    let i = inputs(&[("NumberOfConnections", "2")]);
    let o = run_at(Dir::Download, addr, &i);
    assert_eq!(o.state, "Error_TransferFailed");
    assert_quick(t, Duration::from_millis(1500));
}

#[test]
fn ipv6_download_and_an_upload_nobody_answers() {
    if let Ok(l) = TcpListener::bind("[::1]:0") {
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            read_head(&mut s);
            send_mib(&mut s);
        });
        let i = inputs(&[("ProtocolVersion", "IPv6")]);
        let o = run_at(Dir::Download, addr, &i);
        assert_eq!(o.state, "Complete", "{o:?}");
        assert_eq!(get(&o, "IPAddressUsed"), "::1");
        let o = run_at(Dir::Download, addr, &inputs(&[("ProtocolVersion", "IPv4")]));
        assert_eq!(o.state, "Error_CannotResolveHostName");
    }
    // The server takes the body, then never answers: no response within the idle budget.
    let (addr, _h) = server(1, |s, _| {
        let mut b = [0u8; 4096];
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(2) {
            if s.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
        }
    });
    let t = Instant::now();
    let o = run_at(Dir::Upload, addr, &inputs(&[("TestFileLength", "1000")]));
    assert_eq!(o.state, "Error_NoResponse");
    assert_quick(t, FAST.idle + Duration::from_millis(1500));
}

#[test]
fn endless_or_broken_heads_and_bodies_end_in_transfer_failed() {
    let cases: [Respond; 2] = [
        // A head that never ends: refused at its budget, not buffered.
        |s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
            for _ in 0..1000 {
                if s.write_all(
                    b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
                )
                .is_err()
                {
                    return;
                }
            }
            // Then stall: without the budget the engine would wait into Error_Timeout.
            thread::sleep(Duration::from_secs(2));
        },
        // A chunked body with a bad chunk size.
        |s| {
            let _ = s.write_all(CHUNKED_HEAD.as_bytes());
            let _ = s.write_all(b"5\r\nhello\r\nzz\r\n");
        },
    ];
    for respond in cases {
        let (addr, _h) = server(1, move |s, _| respond(s));
        let o = run_at(Dir::Download, addr, &inputs(&[]));
        assert_eq!(o.state, "Error_TransferFailed");
    }
}

#[test]
fn a_linux_interface_gives_its_counters_and_dscp_is_accepted() {
    let (addr, _h) = server(1, |s, _| send_mib(s));
    let i = inputs(&[
        ("Interface", "lo"),
        ("DSCP", "46"),
        ("EthernetPriority", "5"),
    ]);
    let o = run_at(Dir::Download, addr, &i);
    assert_eq!(o.state, "Complete", "{o:?}");
    let n = |k| get(&o, k).parse::<u64>().unwrap();
    // lo counts the IP layer (headers too) of everything on loopback: at least our bytes.
    assert!(n("TotalBytesReceived") >= n("TestBytesReceived"), "{o:?}");
    assert!(n("TotalBytesSent") >= n("TestBytesReceived"), "{o:?}");
}
