//! Rate limits for connection requests: a token bucket per source address and one for all
//! sources together. Pure: time is passed in.
//!
//! A request is first charged to its source, and only then to the global bucket, so a source
//! over its own limit does not use up the global cap that the ACS also draws from. A refused
//! credential costs its source [`FAILURE_COST`] tokens, and an accepted one gives back what
//! its exchange cost, so an ACS that knows the password is never held back by its own
//! connection requests, while a password guesser is slowed to about a dozen guesses a
//! minute (after a burst of four), and an ACS that mistyped twice is not locked out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Default global burst: 50 requests (the C daemon allowed 50 per 5 s window).
pub const DEFAULT_CAPACITY: u32 = 50;
/// Default global refill: 10 tokens per second.
pub const DEFAULT_REFILL_PER_SEC: u32 = 10;
/// Default burst of one source.
pub const DEFAULT_SOURCE_CAPACITY: u32 = 20;
/// Default refill of one source, tokens per second.
pub const DEFAULT_SOURCE_REFILL_PER_SEC: u32 = 1;
/// Tokens a refused credential costs its source (a request costs 1).
pub const FAILURE_COST: u32 = 5;
/// Tokens an accepted request gives back to its source and to the global bucket: its own
/// and the challenge's that came before it.
pub const SUCCESS_REFUND: u32 = 2;
/// Most sources tracked at once; beyond, a full (idle) or else the least recently seen
/// source is forgotten.
pub const MAX_SOURCES: usize = 256;

/// A token bucket: `capacity` requests in a burst, refilled at `refill_per_sec`.
/// Counted in thousandths of a token so slow refill rates stay exact without floats. A
/// [`TokenBucket::drain`] may leave it in debt, down to minus its capacity.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: u32,
    refill_per_sec: u32,
    milli_tokens: i64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(capacity: u32, refill_per_sec: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            capacity,
            refill_per_sec,
            milli_tokens: capacity as i64 * 1000,
            last: now,
        }
    }

    fn max(&self) -> i64 {
        self.capacity as i64 * 1000
    }

    fn refill(&mut self, now: Instant) {
        let elapsed_ms = now.saturating_duration_since(self.last).as_millis();
        if elapsed_ms > 0 {
            let elapsed_ms = i64::try_from(elapsed_ms).unwrap_or(i64::MAX);
            let add = elapsed_ms.saturating_mul(self.refill_per_sec as i64);
            self.milli_tokens = self.milli_tokens.saturating_add(add).min(self.max());
            self.last = now;
        }
    }

    /// Takes one token if available (refilling for the time since the last call).
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens, going into debt if need be (no deeper than the capacity).
    pub fn drain(&mut self, n: u32, now: Instant) {
        self.refill(now);
        self.milli_tokens = (self.milli_tokens - n as i64 * 1000).max(-self.max());
    }

    /// Gives back `n` tokens, up to the capacity.
    pub fn refund(&mut self, n: u32, now: Instant) {
        self.refill(now);
        self.milli_tokens = (self.milli_tokens + n as i64 * 1000).min(self.max());
    }

    /// Whether the bucket is full at `now` (its source could as well be forgotten).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.milli_tokens >= self.max()
    }
}

/// Limits of a [`SourceLimiter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Global burst.
    pub capacity: u32,
    /// Global refill per second.
    pub refill_per_sec: u32,
    /// Burst of one source.
    pub source_capacity: u32,
    /// Refill of one source per second.
    pub source_refill_per_sec: u32,
}

/// Why a request was refused by [`SourceLimiter::admit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its source is over its own limit.
    Source,
    /// All sources together are over the global cap.
    Global,
}

struct Source {
    bucket: TokenBucket,
    last_seen: Instant,
}

/// A token bucket per source address (IPv6 by /64, since one host owns a whole /64), at
/// most [`MAX_SOURCES`] of them, and a global one.
pub struct SourceLimiter {
    limits: Limits,
    global: TokenBucket,
    sources: HashMap<IpAddr, Source>,
}

/// The key a source is counted under: IPv4 (also when mapped in IPv6) as is, IPv6 by /64.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

impl SourceLimiter {
    /// Full buckets at `now`.
    pub fn new(limits: Limits, now: Instant) -> SourceLimiter {
        SourceLimiter {
            global: TokenBucket::new(limits.capacity, limits.refill_per_sec, now),
            limits,
            sources: HashMap::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Charges one request from `peer`: to its source first, then to the global bucket.
    ///
    /// # Errors
    /// Which limit refused it; a request refused by its source costs the global bucket nothing.
    pub fn admit(&mut self, peer: IpAddr, now: Instant) -> Result<(), Refused> {
        if !self.source(peer, now).bucket.try_take(now) {
            return Err(Refused::Source);
        }
        if !self.global.try_take(now) {
            return Err(Refused::Global);
        }
        Ok(())
    }

    /// A credential from `peer` was refused: it costs [`FAILURE_COST`] in all.
    pub fn failed(&mut self, peer: IpAddr, now: Instant) {
        self.source(peer, now)
            .bucket
            .drain(FAILURE_COST.saturating_sub(1), now);
    }

    /// A credential from `peer` was accepted: gives back [`SUCCESS_REFUND`].
    pub fn succeeded(&mut self, peer: IpAddr, now: Instant) {
        self.source(peer, now).bucket.refund(SUCCESS_REFUND, now);
        self.global.refund(SUCCESS_REFUND, now);
    }

    /// How many sources are tracked.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    fn source(&mut self, peer: IpAddr, now: Instant) -> &mut Source {
        let key = source_key(peer);
        if !self.sources.contains_key(&key) && self.sources.len() >= MAX_SOURCES {
            // A full bucket carries no information; else the least recently seen goes.
            let victim = self
                .sources
                .iter_mut()
                .map(|(k, s)| (!s.bucket.is_full(now), s.last_seen, *k))
                .min()
                .map(|(_, _, k)| k);
            if let Some(k) = victim {
                self.sources.remove(&k);
            }
        }
        let limits = self.limits;
        let s = self.sources.entry(key).or_insert_with(|| Source {
            bucket: TokenBucket::new(limits.source_capacity, limits.source_refill_per_sec, now),
            last_seen: now,
        });
        s.last_seen = now;
        s
    }
}

#[cfg(test)]
#[path = "ratelimit_tests.rs"]
mod tests;

/// One [`SourceLimiter`] for every connection-request channel (HTTP and UDP): a source
/// gets one budget, not one per channel, and a guesser refused over HTTP is slowed over UDP
/// too. Cheap to clone; each channel's thread holds a clone.
#[derive(Clone)]
pub struct SharedLimiter(Arc<Mutex<SourceLimiter>>);

impl SharedLimiter {
    /// Full buckets at `now`.
    pub fn new(limits: Limits, now: Instant) -> SharedLimiter {
        SharedLimiter(Arc::new(Mutex::new(SourceLimiter::new(limits, now))))
    }

    fn lock(&self) -> MutexGuard<'_, SourceLimiter> {
        // A panic elsewhere while holding it cannot leave the buckets inconsistent in a way
        // that matters (they are refilled from the clock): keep using them.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.lock().limits()
    }

    /// Starts over with `limits` (full buckets) unless they are the ones in force.
    pub fn set_limits(&self, limits: Limits, now: Instant) {
        let mut l = self.lock();
        if l.limits() != limits {
            *l = SourceLimiter::new(limits, now);
        }
    }

    /// [`SourceLimiter::admit`].
    ///
    /// # Errors
    /// Which limit refused the request.
    pub fn admit(&self, peer: IpAddr, now: Instant) -> Result<(), Refused> {
        self.lock().admit(peer, now)
    }

    /// [`SourceLimiter::failed`].
    pub fn failed(&self, peer: IpAddr, now: Instant) {
        self.lock().failed(peer, now)
    }

    /// [`SourceLimiter::succeeded`].
    pub fn succeeded(&self, peer: IpAddr, now: Instant) {
        self.lock().succeeded(peer, now)
    }
}
