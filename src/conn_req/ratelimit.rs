//! Token bucket for connection requests. Pure: time is passed in.

use std::time::Instant;

/// Default burst: 50 requests (the C daemon allowed 50 per 5 s window).
pub const DEFAULT_CAPACITY: u32 = 50;
/// Default refill: 10 tokens per second.
pub const DEFAULT_REFILL_PER_SEC: u32 = 10;

/// A token bucket: `capacity` requests in a burst, refilled at `refill_per_sec`.
/// Counted in thousandths of a token so slow refill rates stay exact without floats.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: u32,
    refill_per_sec: u32,
    milli_tokens: u64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(capacity: u32, refill_per_sec: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            capacity,
            refill_per_sec,
            milli_tokens: capacity as u64 * 1000,
            last: now,
        }
    }

    /// Takes one token if available (refilling for the time since the last call).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed_ms = now.saturating_duration_since(self.last).as_millis() as u64;
        if elapsed_ms > 0 {
            let add = elapsed_ms.saturating_mul(self.refill_per_sec as u64);
            self.milli_tokens = self
                .milli_tokens
                .saturating_add(add)
                .min(self.capacity as u64 * 1000);
            self.last = now;
        }
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 2, t0);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_millis(499)));
        assert!(b.try_take(t0 + Duration::from_millis(500)));
        assert!(!b.try_take(t0 + Duration::from_millis(500)));
        // A long pause refills only up to capacity.
        let t1 = t0 + Duration::from_secs(3600);
        assert!(b.try_take(t1) && b.try_take(t1) && b.try_take(t1));
        assert!(!b.try_take(t1));
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(1, 1, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - Duration::from_secs(5)));
    }
}
