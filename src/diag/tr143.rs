//! TR-143 HTTP throughput tests (DownloadDiagnostics, UploadDiagnostics): the I/O half.
//!
//! One thread per connection (`NumberOfConnections`), each a `TcpStream` (opened by
//! [`super::tcp_connect`], options set before the SYN) with a
//! 100 ms read/write timeout so it looks at the [`Cancel`] and its idle budget between
//! syscalls; bytes are counted as they pass through one fixed buffer, never kept. The
//! coordinating thread samples shared counters for the `IncrementalResult` table. The
//! results are computed from the recorded instants by [`super::tr143_results`].

use super::http1::{self, Body, Url};
use super::net::{self, Clock, Family, POLL};
use super::tcp_connect as sock;
use super::tr143_results::{self as results, Conn, Dir, Fail, Report, Sample};
use super::{Cancel, Inputs, Outcome};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[path = "tr143_ftp.rs"]
mod ftp_io;

/// Most parallel connections (`DownloadDiagnosticMaxConnections`,
/// `UploadDiagnosticsMaxConnections`).
pub const MAX_CONNECTIONS: u64 = 8;
/// Most `IncrementalResult` rows kept.
pub const MAX_INCREMENTAL: usize = 999;
/// The transfer buffer of each connection: the engine's memory is this per connection.
const BUF: usize = 128 * 1024;

/// Time budgets of a test (tests of the engine shorten them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// TCP connect.
    pub connect: Duration,
    /// No byte moving for this long ends the test (`Error_NoResponse` before the first
    /// byte of the response, `Error_Timeout` after).
    pub idle: Duration,
    /// Cap on a whole test that is not time based.
    pub max: Duration,
}

/// The budgets the daemon uses.
pub(crate) const LIMITS: Limits = Limits {
    connect: Duration::from_secs(10),
    idle: Duration::from_secs(10),
    max: Duration::from_secs(3600),
};

/// A byte count the connections' threads add to: 64 bits on every target (32-bit MIPS has no
/// 64-bit atomics), behind a lock taken once per buffer of data.
#[derive(Default)]
struct ByteCount(Mutex<u64>);

impl ByteCount {
    fn add(&self, n: u64) {
        // A poisoned lock still holds a valid count.
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += n;
    }

    fn get(&self) -> u64 {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What every connection of one test shares.
struct Shared {
    rx: ByteCount,
    tx: ByteCount,
    boms: AtomicUsize,
    /// Raised by the first connection that fails, so the others stop too.
    abort: AtomicBool,
    n: usize,
    iface: Option<String>,
    full_start: Mutex<Option<Sample>>,
    full_end: Mutex<Option<Sample>>,
}

impl Shared {
    /// The counters now: interface counters when `Interface` names a Linux interface, the
    /// test's own TCP byte counts otherwise.
    fn sample(&self, at: Instant) -> Sample {
        let (rx, tx) = (self.rx.get(), self.tx.get());
        let (total_rx, total_tx) = self
            .iface
            .as_deref()
            .and_then(net::if_counters)
            .unwrap_or((rx, tx));
        Sample {
            at,
            rx,
            tx,
            total_rx,
            total_tx,
        }
    }

    fn note_bom(&self, at: Instant) {
        if self.boms.fetch_add(1, Ordering::Relaxed) + 1 == self.n {
            *self.full_start.lock().unwrap_or_else(|e| e.into_inner()) = Some(self.sample(at));
        }
    }

    fn note_eom(&self, at: Instant) {
        let mut end = self.full_end.lock().unwrap_or_else(|e| e.into_inner());
        if end.is_none() {
            *end = Some(self.sample(at));
        }
    }
}

/// Runs a Download or Upload test from its inputs (URL already named by `dir`).
pub(crate) fn run(
    dir: Dir,
    url: &str,
    inputs: &Inputs,
    cancel: &Cancel,
    limits: Limits,
) -> Outcome {
    let Some(url) = http1::parse_url(url) else {
        return Outcome::error(results::state(dir, Fail::Init));
    };
    let Some(addr) = net::resolve(&url.host, url.port, Family::of(inputs)) else {
        return Outcome::error("Error_CannotResolveHostName");
    };
    let n = net::uint(inputs, "NumberOfConnections", 1).clamp(1, MAX_CONNECTIONS) as usize;
    let duration = net::uint(inputs, "TimeBasedTestDuration", 0).min(999);
    let interval = net::uint(inputs, "TimeBasedTestMeasurementInterval", 0).min(999);
    let offset = net::uint(inputs, "TimeBasedTestMeasurementOffset", 0).min(255);
    let opts = sock::Opts {
        dscp: net::uint(inputs, "DSCP", 0).min(63) as u8,
        prio: net::uint(inputs, "EthernetPriority", 0).min(7) as u8,
        iface: net::linux_interface(inputs),
    };
    let length = net::uint(inputs, "TestFileLength", 0);
    let clock = Clock::start();
    let start = Instant::now();
    let deadline = (duration > 0).then(|| start + Duration::from_secs(duration));
    let cap = start + deadline.map_or(limits.max, |d| d - start + limits.idle);
    let shared = Shared {
        rx: ByteCount::default(),
        tx: ByteCount::default(),
        boms: AtomicUsize::new(0),
        abort: AtomicBool::new(false),
        n,
        iface: net::linux_interface(inputs),
        full_start: Mutex::new(None),
        full_end: Mutex::new(None),
    };
    let first = shared.sample(start);
    let mut marks = Vec::new();
    let conns: Vec<Result<Conn, Fail>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let job = Job {
                    dir,
                    addr,
                    url: &url,
                    opts: &opts,
                    limits,
                    cancel,
                    shared: &shared,
                    deadline,
                    cap,
                };
                s.spawn(move || {
                    let length = (duration == 0).then_some(length);
                    let r = match (dir, job.url.ftp.is_some()) {
                        (Dir::Download, false) => job.download(),
                        (Dir::Upload, false) => job.upload(length),
                        (Dir::Download, true) => job.ftp_download(),
                        (Dir::Upload, true) => job.ftp_upload(length),
                    };
                    if r.is_err() {
                        job.shared.abort.store(true, Ordering::Relaxed);
                    }
                    r
                })
            })
            .collect();
        let mut next = (duration > 0 && interval > 0).then(|| start + Duration::from_secs(offset));
        // Without marks to take the connections poll the Cancel themselves: join them
        // right away (a polling sleep here would add its latency to short tests).
        while next.is_some() && !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            let now = Instant::now();
            if let Some(t) = next.filter(|t| now >= *t && marks.len() <= MAX_INCREMENTAL) {
                marks.push(shared.sample(now));
                let step = Duration::from_secs(interval);
                next = deadline.filter(|d| t + step <= *d).map(|_| t + step);
            }
        }
        // The connections stop at the duration, possibly just before its last mark was taken.
        if next.is_some_and(|t| Instant::now() + Duration::from_millis(100) >= t) {
            marks.push(shared.sample(Instant::now()));
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Fail::Internal)))
            .collect()
    });
    // The first connection that failed says why; the others were only stopped by it.
    let mut ok = Vec::with_capacity(n);
    let mut failed = None;
    for c in conns {
        match c {
            Ok(c) => ok.push(c),
            Err(Fail::Canceled) if !cancel.is_cancelled() => {}
            Err(f) => failed = failed.or(Some(f)),
        }
    }
    if let Some(f) = failed.or((ok.len() < n).then_some(Fail::Internal)) {
        return Outcome::error(results::state(dir, f));
    }
    let last = shared.sample(ok.iter().filter_map(|c| c.eom).max().unwrap_or(start));
    let full = |m: &Mutex<Option<Sample>>| *m.lock().unwrap_or_else(|e| e.into_inner());
    let report = Report {
        dir,
        conns: &ok,
        first,
        last,
        full: full(&shared.full_start).zip(full(&shared.full_end)),
        marks: &marks,
        per_connection: net::flag(inputs, "EnablePerConnectionResults"),
    };
    Outcome {
        state: "Complete".into(),
        values: results::values(&report, &clock),
    }
}

/// One connection of a test.
struct Job<'a> {
    dir: Dir,
    addr: SocketAddr,
    url: &'a Url,
    opts: &'a sock::Opts,
    limits: Limits,
    cancel: &'a Cancel,
    shared: &'a Shared,
    deadline: Option<Instant>,
    cap: Instant,
}

/// A connected test socket and what passed through it.
struct Link<'a> {
    job: &'a Job<'a>,
    sock: TcpStream,
    conn: Conn,
    last: Instant,
}

impl Job<'_> {
    fn open(&self) -> Result<Link<'_>, Fail> {
        self.open_to(self.addr)
    }

    /// Opens a test connection to `addr` (the server, or an FTP data port).
    fn open_to(&self, addr: SocketAddr) -> Result<Link<'_>, Fail> {
        let open_req = Instant::now();
        let sock =
            sock::connect(addr, self.opts, self.limits.connect, self.cancel).map_err(|e| {
                if e.kind() == ErrorKind::Interrupted {
                    Fail::Canceled
                } else {
                    Fail::Init
                }
            })?;
        let open_resp = Instant::now();
        let _ = sock.set_nodelay(true);
        sock.set_read_timeout(Some(POLL))
            .map_err(|_| Fail::Internal)?;
        sock.set_write_timeout(Some(POLL))
            .map_err(|_| Fail::Internal)?;
        let local = sock.local_addr().ok().map(|a| a.ip());
        Ok(Link {
            job: self,
            sock,
            conn: Conn {
                open_req,
                open_resp,
                rom: open_resp,
                bom: None,
                eom: None,
                rx: 0,
                tx: 0,
                local,
            },
            last: open_resp,
        })
    }

    /// GET the file, counting every byte received, until its end (or the test duration).
    fn download(&self) -> Result<Conn, Fail> {
        let mut l = self.open()?;
        l.conn.rom = Instant::now();
        l.send(http1::get_request(self.url).as_bytes(), false)?;
        let mut buf = vec![0u8; BUF];
        let mut head = Vec::new();
        let mut body: Option<Body> = None;
        loop {
            let Some(n) = l.recv(&mut buf)? else {
                if body.is_some() && self.deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(l.finish());
                }
                // The server closed.
                return match &body {
                    Some(b) if b.close_ok() => Ok(l.finish()),
                    Some(_) => Err(Fail::Size),
                    None if l.conn.rx == 0 => Err(Fail::NoResponse),
                    None => Err(Fail::Transfer),
                };
            };
            let mut data = &buf[..n];
            if body.is_none() {
                let take = n.min(http1::MAX_HEAD - head.len());
                head.extend_from_slice(&data[..take]);
                let Some(h) = http1::parse_head(&head).map_err(|_| Fail::Transfer)? else {
                    continue;
                };
                if !(200..300).contains(&h.status) {
                    return Err(Fail::Status);
                }
                let mut b = Body::new(h.framing);
                b.feed(&head[h.len..]).map_err(|_| Fail::Transfer)?;
                data = &data[take..];
                head = Vec::new();
                body = Some(b);
            }
            if let Some(b) = body.as_mut() {
                b.feed(data).map_err(|_| Fail::Transfer)?;
                if b.done() || self.deadline.is_some_and(|d| l.last >= d) {
                    return Ok(l.finish());
                }
            }
        }
    }

    /// PUT `length` bytes (or a chunked body for the test duration), then read the
    /// server's answer.
    fn upload(&self, length: Option<u64>) -> Result<Conn, Fail> {
        let mut l = self.open()?;
        l.conn.rom = Instant::now();
        l.send(http1::put_request(self.url, length).as_bytes(), false)?;
        let zeros = vec![0u8; BUF];
        match length {
            Some(len) => l.send_zeros(&zeros, len)?,
            None => {
                let size = format!("{BUF:x}\r\n");
                while self.deadline.is_none_or(|d| Instant::now() < d) {
                    l.send(size.as_bytes(), true)?;
                    l.send(&zeros, true)?;
                    l.send(b"\r\n", true)?;
                }
                l.send(b"0\r\n\r\n", true)?;
            }
        }
        let mut head = Vec::new();
        loop {
            let mut buf = [0u8; 2048];
            let Some(n) = l.recv(&mut buf)? else {
                return Err(if head.is_empty() {
                    Fail::NoResponse
                } else {
                    Fail::Transfer
                });
            };
            let take = n.min(http1::MAX_HEAD - head.len());
            head.extend_from_slice(&buf[..take]);
            match http1::parse_head(&head) {
                Ok(Some(h)) if h.status < 200 => {
                    // An interim 100 Continue: drop it, wait for the final answer.
                    head.drain(..h.len);
                }
                Ok(Some(h)) if h.status < 300 => return Ok(l.finish()),
                Ok(Some(_)) => return Err(Fail::Status),
                Ok(None) => {}
                Err(_) => return Err(Fail::Transfer),
            }
        }
    }
}

impl Link<'_> {
    /// Why the test must stop now, if it must: cancelled, idle too long, over its cap.
    fn budget(&self, received_any: bool) -> Result<(), Fail> {
        let now = Instant::now();
        if self.job.cancel.is_cancelled() || self.job.shared.abort.load(Ordering::Relaxed) {
            return Err(Fail::Canceled);
        }
        if now >= self.job.cap {
            return Err(Fail::Timeout);
        }
        if now.duration_since(self.last) >= self.job.limits.idle {
            return Err(if received_any {
                Fail::Timeout
            } else {
                Fail::NoResponse
            });
        }
        Ok(())
    }

    /// Sends `len` bytes of upload body from `zeros`, one buffer at a time.
    fn send_zeros(&mut self, zeros: &[u8], mut len: u64) -> Result<(), Fail> {
        while len > 0 {
            let k = len.min(zeros.len() as u64) as usize;
            self.send(&zeros[..k], true)?;
            len -= k as u64;
        }
        Ok(())
    }

    /// Writes all of `data`; `body` bytes mark the beginning of an upload.
    fn send(&mut self, mut data: &[u8], body: bool) -> Result<(), Fail> {
        while !data.is_empty() {
            match self.sock.write(data) {
                Ok(0) => return Err(Fail::Transfer),
                Ok(n) => {
                    let now = Instant::now();
                    if body && self.conn.bom.is_none() {
                        self.conn.bom = Some(now);
                        self.job.shared.note_bom(now);
                    }
                    self.last = now;
                    self.conn.tx += n as u64;
                    self.job.shared.tx.add(n as u64);
                    data = &data[n..];
                    // Polled while bytes flow too: cancel, another connection's failure, the cap.
                    self.budget(true)?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    self.budget(true)?
                }
                Err(_) => return Err(Fail::Transfer),
            }
        }
        Ok(())
    }

    /// Reads into `buf`: `Some(n)` bytes, `None` when the server closed.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, Fail> {
        loop {
            match self.sock.read(buf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    let now = Instant::now();
                    if self.job.dir == Dir::Download && self.conn.bom.is_none() {
                        self.conn.bom = Some(now);
                        self.job.shared.note_bom(now);
                    }
                    self.last = now;
                    self.conn.rx += n as u64;
                    self.job.shared.rx.add(n as u64);
                    self.budget(true)?;
                    return Ok(Some(n));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) =>
                {
                    if self.job.deadline.is_some_and(|d| Instant::now() >= d) && self.conn.rx > 0 {
                        // A time-based download ends at its duration even mid-stall.
                        return Ok(None);
                    }
                    self.budget(self.conn.rx > 0)?
                }
                Err(_) => {
                    return Err(if self.conn.rx == 0 {
                        Fail::NoResponse
                    } else {
                        Fail::Transfer
                    })
                }
            }
        }
    }

    /// The connection's record, its end of transmission being its last byte.
    fn finish(mut self) -> Conn {
        self.conn.eom = Some(self.last);
        self.job.shared.note_eom(self.last);
        self.conn
    }
}
