//! When to contact the ACS: the TR-069 session retry wait (section 3.2.1.1) and the periodic
//! Inform phase (TR-181 PeriodicInformTime). Pure functions over seconds.

/// The retry wait range `[m·k^(n−1), m·k^n]` in seconds for the `n`-th consecutive retry
/// (`n` ≥ 1, capped at 10), with `min_wait` = m seconds and `multiplier` = k×1000.
pub fn retry_window(n: u32, min_wait: u32, multiplier: u32) -> (u64, u64) {
    let n = n.clamp(1, 10) as i32;
    let m = min_wait.max(1) as f64;
    let k = multiplier.max(1000) as f64 / 1000.0;
    let lo = m * k.powi(n - 1);
    let hi = m * k.powi(n);
    (lo as u64, hi as u64)
}

/// A wait inside [`retry_window`], picked by `random` (any u32: uniformly spread over the range).
pub fn retry_wait(n: u32, min_wait: u32, multiplier: u32, random: u32) -> u64 {
    let (lo, hi) = retry_window(n, min_wait, multiplier);
    if hi <= lo {
        return lo;
    }
    lo + (random as u64) % (hi - lo + 1)
}

/// The next periodic Inform time strictly after `now` (Unix seconds).
///
/// With a reference time (`PeriodicInformTime`), contacts fall on `reference + n·interval` for
/// any integer n, even when the reference lies far in the past or future. Without one (or with
/// the Unknown Time), the phase is the daemon's start time `started`.
pub fn next_periodic(now: i64, interval: u32, reference: Option<i64>, started: i64) -> i64 {
    let interval = interval.max(1) as i64;
    let base = reference.unwrap_or(started);
    let k = (now - base).div_euclid(interval) + 1;
    base + k * interval
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_table_matches_tr069_defaults() {
        let expected = [
            (5, 10),
            (10, 20),
            (20, 40),
            (40, 80),
            (80, 160),
            (160, 320),
            (320, 640),
            (640, 1280),
            (1280, 2560),
            (2560, 5120),
        ];
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(retry_window(i as u32 + 1, 5, 2000), *e, "n={}", i + 1);
        }
        assert_eq!(retry_window(25, 5, 2000), (2560, 5120));
        assert_eq!(retry_window(0, 5, 2000), (5, 10));
    }

    #[test]
    fn retry_wait_stays_in_window() {
        for r in [0u32, 1, 7, 12345, u32::MAX] {
            let w = retry_wait(3, 5, 2000, r);
            assert!((20..=40).contains(&w), "{w}");
        }
        assert_eq!(retry_wait(1, 30, 1000, 99), 30);
    }

    #[test]
    fn periodic_follows_reference_phase() {
        // reference in the past: next multiple after now
        assert_eq!(next_periodic(1000, 300, Some(100), 0), 1300);
        // reference in the future
        assert_eq!(next_periodic(1000, 300, Some(5000), 0), 1100);
        // exactly on a boundary: strictly after now
        assert_eq!(next_periodic(1000, 100, Some(0), 0), 1100);
        // no reference: phase from start
        assert_eq!(next_periodic(1000, 600, None, 950), 1550);
    }
}
