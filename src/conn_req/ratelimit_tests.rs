use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};
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

#[test]
fn drain_and_refund_stay_within_bounds() {
    let t0 = Instant::now();
    let mut b = TokenBucket::new(5, 1, t0);
    b.drain(100, t0);
    assert!(!b.try_take(t0));
    // In debt by the capacity at most: 10 s to get one token back, not 100.
    assert!(!b.try_take(t0 + Duration::from_millis(5_999)));
    assert!(b.try_take(t0 + Duration::from_secs(6)));
    b.refund(100, t0);
    assert!(b.is_full(t0));
    for _ in 0..5 {
        assert!(b.try_take(t0));
    }
    assert!(!b.try_take(t0));
}

fn limits() -> Limits {
    Limits {
        capacity: 50,
        refill_per_sec: 10,
        source_capacity: 20,
        source_refill_per_sec: 2,
    }
}

fn v4(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, d))
}

#[test]
fn a_flooding_source_does_not_use_up_the_global_cap() {
    let t0 = Instant::now();
    let mut l = SourceLimiter::new(limits(), t0);
    let admitted = (0..10_000).filter(|_| l.admit(v4(2), t0).is_ok()).count();
    assert_eq!(admitted, 20);
    assert_eq!(l.admit(v4(2), t0), Err(Refused::Source));
    // Another source still has its whole burst, and the global bucket its other 30.
    for _ in 0..20 {
        assert_eq!(l.admit(v4(1), t0), Ok(()));
    }
    for d in 3..13 {
        assert_eq!(l.admit(v4(d), t0), Ok(()));
    }
    assert_eq!(l.admit(v4(14), t0), Err(Refused::Global));
}

#[test]
fn failures_cost_more_and_successes_give_back() {
    let t0 = Instant::now();
    let mut l = SourceLimiter::new(limits(), t0);
    // A guesser: one request and one refusal each time, 5 tokens a guess.
    let mut guesses = 0;
    while l.admit(v4(2), t0).is_ok() {
        l.failed(v4(2), t0);
        guesses += 1;
    }
    assert_eq!(guesses, 4);
    // 2 tokens a second: one more guess after 0.5 s, and the next one 2.5 s later.
    let at = |ms| t0 + Duration::from_millis(ms);
    assert!(l.admit(v4(2), at(499)).is_err());
    assert!(l.admit(v4(2), at(500)).is_ok());
    l.failed(v4(2), at(500));
    assert!(l.admit(v4(2), at(2_999)).is_err());
    assert!(l.admit(v4(2), at(3_000)).is_ok());
    // The ACS: challenge then accepted, over and over, never runs out.
    for _ in 0..1000 {
        assert_eq!(l.admit(v4(1), t0), Ok(()));
        assert_eq!(l.admit(v4(1), t0), Ok(()));
        l.succeeded(v4(1), t0);
    }
}

#[test]
fn the_source_table_is_bounded_and_forgets_idle_sources_first() {
    let t0 = Instant::now();
    let mut l = SourceLimiter::new(
        Limits {
            capacity: u32::MAX / 2000,
            ..limits()
        },
        t0,
    );
    // Many sources, each seen once: the table never grows past its bound.
    let t1 = t0 + Duration::from_millis(10);
    for i in 0..(MAX_SOURCES as u32 * 4) {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        assert!(l.admit(ip, t1).is_ok());
        assert!(l.tracked() <= MAX_SOURCES);
    }
    assert_eq!(l.tracked(), MAX_SOURCES);
}

#[test]
fn idle_sources_are_evicted_before_busy_ones() {
    let t0 = Instant::now();
    let mut l = SourceLimiter::new(
        Limits {
            capacity: u32::MAX / 2000,
            ..limits()
        },
        t0,
    );
    while l.admit(v4(2), t0).is_ok() {}
    l.failed(v4(2), t0);
    // Sources seen once, then idle long enough to be full again.
    let t1 = t0 + Duration::from_millis(1);
    for i in 0..(MAX_SOURCES as u32 - 1) {
        assert!(l
            .admit(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), t1)
            .is_ok());
    }
    // Later, new sources evict the refilled ones, not the guesser (older, but empty).
    let t2 = t1 + Duration::from_secs(1);
    for i in 0..100u32 {
        assert!(l
            .admit(IpAddr::V4(Ipv4Addr::from(0x0b00_0000 + i)), t2)
            .is_ok());
    }
    assert_eq!(l.admit(v4(2), t2), Err(Refused::Source));
}

#[test]
fn ipv6_sources_are_counted_by_slash_64_and_mapped_v4_as_v4() {
    let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: Ipv6Addr = "2001:db8:1:2:bbbb::2".parse().unwrap();
    let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
    assert_eq!(source_key(a.into()), source_key(b.into()));
    assert_ne!(source_key(a.into()), source_key(c.into()));
    assert_eq!(
        source_key(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().into()),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
    );
    let t0 = Instant::now();
    let mut l = SourceLimiter::new(limits(), t0);
    while l.admit(a.into(), t0).is_ok() {}
    assert_eq!(l.admit(b.into(), t0), Err(Refused::Source));
    assert_eq!(l.admit(c.into(), t0), Ok(()));
}
