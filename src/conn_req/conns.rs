//! The open client connections of the connection-request server, all served by one thread.
//!
//! Every socket is non-blocking; the server thread polls them all at once, so a client that
//! sends nothing, or one byte a second, holds nothing but its slot. Each client has the head
//! timeout (`cpe.cr_timeout`, [`HEAD_DEADLINE`] by default) in all, not per read, to send its
//! request head, and [`WRITE_DEADLINE`]
//! to take the answer. At most [`MAX_CONNS`] are open: a new client pushes out an incomplete
//! one, from the source that holds the most slots, oldest first; so a source opening many
//! sockets only ever pushes out its own, and new clients are never refused.

use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::head::{HeadError, HeadReader, RequestHead};
use super::ratelimit::source_key;

/// Most clients served at once.
pub const MAX_CONNS: usize = 64;
/// Time a client has, from its connection, to send its whole request head, unless the
/// settings say otherwise (see [`head_timeout`]).
pub const HEAD_DEADLINE: Duration = Duration::from_secs(2);
/// Shortest and longest head timeout `cpe.cr_timeout` may set: below a second a slow ACS
/// link fails; above half a minute a silent client holds its slot for nothing (the slots
/// are shared, see [`Conns::add`]).
pub const HEAD_TIMEOUT_RANGE: (u32, u32) = (1, 30);

/// The head timeout for `cpe.cr_timeout` seconds, clamped to [`HEAD_TIMEOUT_RANGE`].
pub fn head_timeout(secs: u32) -> Duration {
    Duration::from_secs(
        secs.clamp(HEAD_TIMEOUT_RANGE.0, HEAD_TIMEOUT_RANGE.1)
            .into(),
    )
}
/// Time a client has to take the answer.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(2);

/// The answer to a request head (or to a refused one).
pub struct Answer {
    /// Status line and headers.
    pub bytes: Vec<u8>,
    /// It accepts a connection request: the main loop is told once it is sent.
    pub accepted: bool,
}

enum Phase {
    Reading(HeadReader),
    Writing { out: Vec<u8>, sent: usize },
}

struct Conn {
    stream: TcpStream,
    peer: IpAddr,
    opened: Instant,
    deadline: Instant,
    phase: Phase,
    accepted: bool,
    done: bool,
}

/// What a client sent, for the server to answer: its head, or why it is refused.
pub type Received = Result<RequestHead, HeadError>;

/// The open connections.
#[derive(Default)]
pub struct Conns {
    list: Vec<Conn>,
}

impl Conns {
    /// No connection.
    pub fn new() -> Conns {
        Conns::default()
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Takes a newly accepted client, which has `head_timeout` to send its request head;
    /// when all slots are taken, first closes the one [`Conns::victim`] names and returns
    /// its peer.
    pub fn add(
        &mut self,
        stream: TcpStream,
        peer: IpAddr,
        now: Instant,
        head_timeout: Duration,
    ) -> Option<IpAddr> {
        let evicted = if self.list.len() >= MAX_CONNS {
            self.victim().map(|i| self.list.swap_remove(i).peer)
        } else {
            None
        };
        self.list.push(Conn {
            stream,
            peer,
            opened: now,
            deadline: now + head_timeout,
            phase: Phase::Reading(HeadReader::new()),
            accepted: false,
            done: false,
        });
        evicted
    }

    /// The slot to free for a new client: an incomplete one from the source holding the
    /// most slots, its oldest; if every client is being answered, the oldest.
    fn victim(&self) -> Option<usize> {
        let held = |peer: IpAddr| {
            let key = source_key(peer);
            self.list
                .iter()
                .filter(|c| source_key(c.peer) == key)
                .count()
        };
        let reading = |c: &Conn| matches!(c.phase, Phase::Reading(_));
        let pick = self
            .list
            .iter()
            .enumerate()
            .filter(|(_, c)| reading(c))
            .max_by_key(|(_, c)| (held(c.peer), std::cmp::Reverse(c.opened)))
            .or_else(|| self.list.iter().enumerate().min_by_key(|(_, c)| c.opened));
        pick.map(|(i, _)| i)
    }

    /// Appends one `pollfd` per connection, in order, for [`Conns::service`].
    pub fn pollfds(&self, out: &mut Vec<libc::pollfd>) {
        out.extend(self.list.iter().map(|c| libc::pollfd {
            fd: c.stream.as_raw_fd(),
            events: match c.phase {
                Phase::Reading(_) => libc::POLLIN,
                Phase::Writing { .. } => libc::POLLOUT,
            },
            revents: 0,
        }));
    }

    /// The earliest deadline of an open connection.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.list.iter().map(|c| c.deadline).min()
    }

    /// Reads from and writes to the connections whose `revents` (in [`Conns::pollfds`]
    /// order) are set, answering each whole head with `decide`; closes the finished ones
    /// and the ones past their deadline. Returns the peers whose accepted request was
    /// answered (or could not be: the request stands all the same).
    pub fn service(
        &mut self,
        revents: &[libc::c_short],
        now: Instant,
        decide: &mut dyn FnMut(IpAddr, Received) -> Answer,
    ) -> Vec<IpAddr> {
        for (c, &ev) in self.list.iter_mut().zip(revents) {
            if ev != 0 {
                c.step(now, decide);
            }
        }
        let mut accepted = Vec::new();
        self.list.retain(|c| {
            let expired = !c.done && now >= c.deadline;
            if expired {
                let what = match c.phase {
                    Phase::Reading(ref r) => format!("no whole request head ({} bytes)", r.len()),
                    Phase::Writing { .. } => "answer not taken".into(),
                };
                log::debug!(
                    "connection request from {}: {what} within {:?}, closed",
                    c.peer,
                    now.saturating_duration_since(c.opened)
                );
            }
            let close = c.done || expired;
            if close && c.accepted {
                accepted.push(c.peer);
            }
            !close
        });
        accepted
    }
}

impl Conn {
    fn step(&mut self, now: Instant, decide: &mut dyn FnMut(IpAddr, Received) -> Answer) {
        if let Phase::Reading(reader) = &mut self.phase {
            let Some(received) = read_some(&mut self.stream, reader) else {
                return;
            };
            let Some(received) = received else {
                // Gone (or reset) before its head was whole: nothing to answer.
                self.done = true;
                return;
            };
            let answer = decide(self.peer, received);
            self.accepted = answer.accepted;
            self.deadline = now + WRITE_DEADLINE;
            self.phase = Phase::Writing {
                out: answer.bytes,
                sent: 0,
            };
        }
        if let Phase::Writing { out, sent } = &mut self.phase {
            loop {
                match self.stream.write(&out[*sent..]) {
                    Ok(n) if n > 0 => {
                        *sent += n;
                        if *sent == out.len() {
                            self.done = true;
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(_) | Err(_) => {
                        log::debug!("connection request answer to {} not sent", self.peer);
                        self.done = true;
                        return;
                    }
                }
            }
        }
    }
}

/// Reads what is there. `None`: nothing decisive yet; `Some(None)`: the client went away;
/// `Some(Some(_))`: its head, or why it is refused.
fn read_some(stream: &mut TcpStream, reader: &mut HeadReader) -> Option<Option<Received>> {
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(None),
            Ok(n) => match reader.feed(&chunk[..n]) {
                Ok(None) => {}
                Ok(Some(head)) => return Some(Some(Ok(head))),
                Err(e) => return Some(Some(Err(e))),
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(None),
        }
    }
}
