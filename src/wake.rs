//! How the STUN and XMPP threads sleep: in poll(2) on their control socket and their one
//! network socket, so they wake for a stop, a nudge (re-read the config), data, or at their
//! next deadline only.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The owner's end of a thread's control socket: dropping it stops the thread;
/// [`ControlHandle::nudge`] asks it to look at its config again.
#[derive(Debug)]
pub struct ControlHandle(UnixStream);

impl ControlHandle {
    /// Wakes the thread to re-read its config (if the file changed). Never blocks: a nudge
    /// already pending is as good as a second one.
    pub fn nudge(&self) {
        let _ = (&self.0).write(&[1]);
    }
}

/// The thread's end of its control socket.
#[derive(Debug)]
pub struct Control {
    sock: UnixStream,
    stopped: bool,
    nudged: bool,
}

/// A connected control pair: the owner keeps the handle, the thread the [`Control`].
///
/// # Errors
/// The socket pair cannot be made.
pub fn control() -> io::Result<(ControlHandle, Control)> {
    let (owner, thread) = UnixStream::pair()?;
    owner.set_nonblocking(true)?;
    thread.set_nonblocking(true)?;
    Ok((
        ControlHandle(owner),
        Control {
            sock: thread,
            stopped: false,
            nudged: false,
        },
    ))
}

impl Control {
    /// Sleeps up to `wait` on the control socket and `sock` (when some); returns (stop
    /// requested, `sock` readable). A nudge is kept for [`Control::take_nudge`].
    pub fn wait(&mut self, sock: Option<RawFd>, wait: Duration) -> (bool, bool) {
        if self.stopped {
            return (true, false);
        }
        let (control, readable) = stop_or_readable(self.sock.as_raw_fd(), sock, wait);
        if control {
            self.drain();
        }
        (self.stopped, readable)
    }

    /// Whether the owner is gone (checked now, without sleeping).
    pub fn stopped(&mut self) -> bool {
        self.wait(None, Duration::ZERO).0
    }

    /// Whether a nudge came since the last call.
    pub fn take_nudge(&mut self) -> bool {
        std::mem::take(&mut self.nudged)
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match self.sock.read(&mut buf) {
                Ok(0) => self.stopped = true,
                Ok(_) => {
                    self.nudged = true;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => self.stopped = true,
            }
            return;
        }
    }
}

/// Sleeps up to `wait` on `stop` and `sock` (when some); returns (`stop` readable, `sock`
/// readable). The wait is rounded up to whole milliseconds, so a wake-up is never early
/// (which would spin until the deadline).
fn stop_or_readable(stop: RawFd, sock: Option<RawFd>, wait: Duration) -> (bool, bool) {
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

    #[test]
    fn a_nudge_wakes_the_thread_and_a_drop_stops_it() {
        let (owner, mut ctl) = control().unwrap();
        assert_eq!(ctl.wait(None, Duration::ZERO), (false, false));
        assert!(!ctl.take_nudge());
        owner.nudge();
        owner.nudge();
        let t = std::time::Instant::now();
        assert_eq!(ctl.wait(None, Duration::from_secs(5)), (false, false));
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a nudge did not wake it"
        );
        assert!(ctl.take_nudge());
        assert!(!ctl.take_nudge(), "two nudges are one");
        drop(owner);
        assert!(ctl.stopped());
        assert_eq!(ctl.wait(None, Duration::from_secs(5)), (true, false));
    }
}
