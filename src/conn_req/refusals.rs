//! When to log a refused connection-request credential: the first refusal from a source is
//! logged at once, later ones from the same source are counted and summed up in one line per
//! [`WINDOW`], so a password guesser cannot flood the log. Pure: time is passed in, and the
//! lines to write are returned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ratelimit::source_key;

/// At most one line per source per window.
pub const WINDOW: Duration = Duration::from_secs(30);
/// Most sources remembered; beyond, the one whose window started first is summed up early.
pub const MAX_TRACKED: usize = 64;
/// Longest user name quoted in a line (the rest is cut).
const MAX_USER: usize = 64;

struct Window {
    started: Instant,
    /// Refusals since the line that opened this window.
    more: u32,
}

/// Refused credentials, per source, waiting to be summed up.
#[derive(Default)]
pub struct Refusals {
    open: HashMap<IpAddr, Window>,
}

/// `user` quoted for a log line: control characters escaped, at most [`MAX_USER`] chars.
fn quoted(user: &str) -> String {
    let cut: String = user.chars().take(MAX_USER).collect();
    let more = if cut.len() < user.len() { "..." } else { "" };
    format!("{:?}{more}", cut)
}

fn summary(peer: IpAddr, more: u32) -> String {
    format!(
        "connection request: {more} more wrong credential(s) from {peer} in the last {}s",
        WINDOW.as_secs()
    )
}

impl Refusals {
    /// An empty record.
    pub fn new() -> Refusals {
        Refusals::default()
    }

    /// A credential for `user` from `peer` was refused at `now`: the lines to log (none when
    /// this source was already logged in the current window). Never the password.
    pub fn refused(&mut self, peer: IpAddr, user: &str, now: Instant) -> Vec<String> {
        let mut lines = self.flush(now);
        let key = source_key(peer);
        if let Some(w) = self.open.get_mut(&key) {
            w.more = w.more.saturating_add(1);
            return lines;
        }
        if self.open.len() >= MAX_TRACKED {
            if let Some((&k, _)) = self.open.iter().min_by_key(|(_, w)| w.started) {
                if let Some(w) = self.open.remove(&k) {
                    if w.more > 0 {
                        lines.push(summary(k, w.more));
                    }
                }
            }
        }
        self.open.insert(
            key,
            Window {
                started: now,
                more: 0,
            },
        );
        lines.push(format!(
            "connection request from {peer}: wrong credentials for user {}",
            quoted(user)
        ));
        lines
    }

    /// Closes the windows that ended by `now`: one summary line for each that counted more.
    pub fn flush(&mut self, now: Instant) -> Vec<String> {
        let mut lines = Vec::new();
        self.open.retain(|peer, w| {
            if now.saturating_duration_since(w.started) < WINDOW {
                return true;
            }
            if w.more > 0 {
                lines.push(summary(*peer, w.more));
            }
            false
        });
        lines
    }

    /// When [`Refusals::flush`] has something to do next.
    pub fn next_flush(&self) -> Option<Instant> {
        self.open.values().map(|w| w.started + WINDOW).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, d))
    }

    #[test]
    fn one_line_per_source_per_window_then_a_count() {
        let t0 = Instant::now();
        let mut r = Refusals::new();
        let first = r.refused(ip(1), "admin", t0);
        assert_eq!(
            first,
            ["connection request from 192.0.2.1: wrong credentials for user \"admin\""]
        );
        for i in 1..1000u64 {
            assert!(r
                .refused(ip(1), "admin", t0 + Duration::from_millis(i))
                .is_empty());
        }
        // Another source is logged at once.
        assert_eq!(r.refused(ip(2), "root", t0).len(), 1);
        assert_eq!(r.next_flush(), Some(t0 + WINDOW));
        assert!(r.flush(t0 + WINDOW - Duration::from_millis(1)).is_empty());
        let lines = r.flush(t0 + WINDOW);
        assert_eq!(
            lines,
            ["connection request: 999 more wrong credential(s) from 192.0.2.1 in the last 30s"]
        );
        assert_eq!(r.next_flush(), None);
        // A new window opens with a line again.
        assert_eq!(r.refused(ip(1), "admin", t0 + WINDOW).len(), 1);
    }

    #[test]
    fn user_names_are_escaped_and_cut() {
        let t0 = Instant::now();
        let mut r = Refusals::new();
        let line = r.refused(ip(1), "a\r\nFAKE LOG LINE", t0).remove(0);
        assert!(line.ends_with("user \"a\\r\\nFAKE LOG LINE\""), "{line}");
        let line = r.refused(ip(2), &"x".repeat(10_000), t0).remove(0);
        assert!(line.len() < 200 && line.ends_with("\"..."), "{line}");
    }

    #[test]
    fn the_record_is_bounded() {
        let t0 = Instant::now();
        let mut r = Refusals::new();
        r.refused(ip(0), "u", t0);
        r.refused(ip(0), "u", t0);
        let mut summed = 0;
        for d in 1..=200u8 {
            let lines = r.refused(ip(d), "u", t0 + Duration::from_millis(d as u64));
            summed += lines.iter().filter(|l| l.contains("1 more")).count();
            assert!(r.open.len() <= MAX_TRACKED);
        }
        // The oldest source's count was not lost when it was pushed out.
        assert_eq!(summed, 1);
    }
}
