//! How the STUN and XMPP threads sleep: in poll(2) on their stop socket and their one
//! network socket, so they wake for a stop, for data, or at their next deadline only.

use std::os::fd::RawFd;
use std::time::Duration;

/// Sleeps up to `wait` on `stop` and `sock` (when some); returns (stop requested, `sock`
/// readable). The wait is rounded up to whole milliseconds, so a wake-up is never early
/// (which would spin until the deadline).
pub fn stop_or_readable(stop: RawFd, sock: Option<RawFd>, wait: Duration) -> (bool, bool) {
    let mut fds = [
        libc::pollfd {
            fd: stop,
            events: libc::POLLIN,
            revents: 0,
        },
        // A negative fd is ignored by poll(2).
        libc::pollfd {
            fd: sock.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = wait.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: `fds` is a live array of two pollfd for the duration of the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if n <= 0 {
        return (false, false);
    }
    let hit = |p: &libc::pollfd| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
    (hit(&fds[0]), sock.is_some() && hit(&fds[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn reports_which_socket_woke_it_and_times_out() {
        let (stop_tx, stop_rx) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let (data_tx, data_rx) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let (s, d) = (stop_rx.as_raw_fd(), data_rx.as_raw_fd());
        let t = std::time::Instant::now();
        assert_eq!(
            stop_or_readable(s, Some(d), Duration::from_millis(30)),
            (false, false)
        );
        assert!(t.elapsed() >= Duration::from_millis(30), "woke early");
        data_tx.send(b"x").unwrap();
        assert_eq!(stop_or_readable(s, Some(d), Duration::ZERO), (false, true));
        assert_eq!(stop_or_readable(s, None, Duration::ZERO), (false, false));
        stop_tx.send(b"x").unwrap();
        assert_eq!(stop_or_readable(s, None, Duration::ZERO), (true, false));
    }
}
