//! When to send Binding Requests and what the answers mean: a sans-IO state machine fed with
//! times, transaction ids and decoded responses.
//!
//! Keep-alives go out every [`interval`] (30 s, lowered to STUNMaximumKeepAlivePeriod and
//! raised to STUNMinimumKeepAlivePeriod); an unanswered request is retried with exponential
//! back-off from 1 s up to that interval. A 401 switches to MESSAGE-INTEGRITY when a STUN
//! username is configured. A changed mapping is announced at once with BINDING-CHANGE.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::message::{BindingRequest, Response, TxId};

/// Keep-alive period when the limits leave the choice to us (NATs commonly drop idle UDP
/// mappings after 30-60 s).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// First retry delay of an unanswered request.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The keep-alive period for STUNMinimumKeepAlivePeriod `min` and
/// STUNMaximumKeepAlivePeriod `max` (seconds; `max` <= 0: none). The minimum wins a conflict.
pub fn interval(min: u32, max: i64) -> Duration {
    let mut secs = DEFAULT_INTERVAL.as_secs();
    if max > 0 {
        secs = secs.min(max as u64);
    }
    Duration::from_secs(secs.max(u64::from(min)).max(1))
}

/// What an answer changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report (stray, duplicate or error response, same mapping).
    Nothing,
    /// The mapped address is new (first answer, or the NAT changed it).
    Mapped(SocketAddr),
}

/// The Binding state of one socket toward one server.
#[derive(Debug)]
pub struct Keepalive {
    interval: Duration,
    has_credentials: bool,
    use_integrity: bool,
    next_send: Instant,
    retry: Duration,
    /// The request in flight and whether it carried BINDING-CHANGE.
    pending: Option<(TxId, bool)>,
    mapped: Option<SocketAddr>,
    change_pending: bool,
}

impl Keepalive {
    /// A client that sends its first request at `now`; `has_credentials`: a STUN username is
    /// configured (integrity may be used when the server asks).
    pub fn new(interval: Duration, has_credentials: bool, now: Instant) -> Keepalive {
        Keepalive {
            interval,
            has_credentials,
            use_integrity: false,
            next_send: now,
            retry: FIRST_RETRY,
            pending: None,
            mapped: None,
            change_pending: false,
        }
    }

    /// When [`Keepalive::poll`] next has something to send.
    pub fn next_wake(&self) -> Instant {
        self.next_send
    }

    /// The mapped address learnt last.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.mapped
    }

    /// The request to send at `now`, if one is due, with transaction id `txid`.
    pub fn poll(&mut self, now: Instant, txid: TxId) -> Option<BindingRequest<'static>> {
        if now < self.next_send {
            return None;
        }
        if self.pending.is_some() {
            // The last one went unanswered: back off.
            self.retry = (self.retry * 2).min(self.interval.max(FIRST_RETRY));
        }
        self.next_send = now + self.retry;
        self.pending = Some((txid, self.change_pending));
        Some(BindingRequest {
            txid,
            binding_change: self.change_pending,
            credentials: None,
        })
    }

    /// Whether requests must carry USERNAME and MESSAGE-INTEGRITY (the server said 401).
    pub fn use_integrity(&self) -> bool {
        self.use_integrity
    }

    /// Feeds the answer to transaction `txid` received at `now`.
    pub fn on_response(&mut self, txid: TxId, resp: &Response, now: Instant) -> Outcome {
        let Some((want, carried_change)) = self.pending else {
            return Outcome::Nothing;
        };
        if want != txid {
            return Outcome::Nothing;
        }
        self.pending = None;
        match *resp {
            Response::Mapped(addr) => {
                self.retry = FIRST_RETRY;
                if carried_change {
                    self.change_pending = false;
                }
                self.next_send = now + self.interval;
                if self.mapped == Some(addr) {
                    return Outcome::Nothing;
                }
                if self.mapped.is_some() {
                    // TR-111: tell the server at once that the binding changed.
                    self.change_pending = true;
                    self.next_send = now;
                }
                self.mapped = Some(addr);
                Outcome::Mapped(addr)
            }
            Response::Error(401) if self.has_credentials && !self.use_integrity => {
                self.use_integrity = true;
                self.next_send = now;
                Outcome::Nothing
            }
            Response::Error(_) => {
                // Treated like no answer: the back-off grows on the next send.
                self.pending = Some((txid, carried_change));
                Outcome::Nothing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn interval_honours_the_limits() {
        assert_eq!(interval(0, -1), Duration::from_secs(30));
        assert_eq!(interval(0, 10), Duration::from_secs(10));
        assert_eq!(interval(120, -1), Duration::from_secs(120));
        assert_eq!(interval(60, 20), Duration::from_secs(60));
        assert_eq!(interval(0, 0), Duration::from_secs(30));
    }

    #[test]
    fn keepalive_after_an_answer_backoff_without() {
        let t0 = Instant::now();
        let iv = Duration::from_secs(20);
        let mut k = Keepalive::new(iv, false, t0);
        assert!(k.poll(t0, [1; 12]).is_some());
        assert!(k.poll(t0, [2; 12]).is_none());
        // Unanswered: 1 s, then 2, 4, 8, 16, 20, 20.
        let mut t = t0;
        let mut gaps = vec![];
        for i in 0..7u8 {
            let next = k.next_wake();
            gaps.push((next - t).as_secs());
            t = next;
            assert!(k.poll(t, [i + 3; 12]).is_some());
        }
        assert_eq!(gaps, [1, 2, 4, 8, 16, 20, 20]);
        // An answer to the latest request resets to the keep-alive period.
        let out = k.on_response([9; 12], &Response::Mapped(addr("1.2.3.4:5")), t);
        assert_eq!(out, Outcome::Mapped(addr("1.2.3.4:5")));
        assert_eq!(k.next_wake(), t + iv);
        // The same mapping again reports nothing.
        let t2 = t + iv;
        assert!(k.poll(t2, [10; 12]).is_some());
        let out = k.on_response([10; 12], &Response::Mapped(addr("1.2.3.4:5")), t2);
        assert_eq!(out, Outcome::Nothing);
        assert_eq!(k.next_wake(), t2 + iv);
    }

    #[test]
    fn stray_answers_are_ignored() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(DEFAULT_INTERVAL, false, t0);
        let r = Response::Mapped(addr("1.2.3.4:5"));
        assert_eq!(k.on_response([1; 12], &r, t0), Outcome::Nothing);
        k.poll(t0, [1; 12]);
        assert_eq!(k.on_response([2; 12], &r, t0), Outcome::Nothing);
        assert_eq!(k.mapped(), None);
    }

    #[test]
    fn changed_mapping_is_announced_with_binding_change() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(DEFAULT_INTERVAL, false, t0);
        k.poll(t0, [1; 12]);
        k.on_response([1; 12], &Response::Mapped(addr("1.2.3.4:5")), t0);
        let t1 = t0 + DEFAULT_INTERVAL;
        let req = k.poll(t1, [2; 12]).unwrap();
        assert!(!req.binding_change);
        let out = k.on_response([2; 12], &Response::Mapped(addr("1.2.3.4:6")), t1);
        assert_eq!(out, Outcome::Mapped(addr("1.2.3.4:6")));
        // At once, carrying BINDING-CHANGE, until that one is answered.
        assert_eq!(k.next_wake(), t1);
        let req = k.poll(t1, [3; 12]).unwrap();
        assert!(req.binding_change);
        k.on_response([3; 12], &Response::Mapped(addr("1.2.3.4:6")), t1);
        let req = k.poll(t1 + DEFAULT_INTERVAL, [4; 12]).unwrap();
        assert!(!req.binding_change);
    }

    #[test]
    fn unauthorized_switches_to_integrity_only_with_credentials() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(DEFAULT_INTERVAL, true, t0);
        k.poll(t0, [1; 12]);
        k.on_response([1; 12], &Response::Error(401), t0);
        assert!(k.use_integrity());
        assert_eq!(k.next_wake(), t0);

        let mut anon = Keepalive::new(DEFAULT_INTERVAL, false, t0);
        anon.poll(t0, [1; 12]);
        anon.on_response([1; 12], &Response::Error(401), t0);
        assert!(!anon.use_integrity());
        assert_eq!(anon.next_wake(), t0 + FIRST_RETRY);
    }
}
