//! The change watcher: one thread that waits, with poll(2), on an inotify descriptor (the files
//! live values are read from) and an rtnetlink socket (interface addresses and link state),
//! and tells the main loop "something changed" so it checks the notified parameters at once
//! instead of at the next poll.
//!
//! A hint carries no values: the main loop re-reads what is notified and the change tracker
//! decides. Bursts are coalesced ([`Debounce`]): a hint goes out once events have been quiet
//! for [`QUIET`] (at most [`MAX_DELAY`] after the first), and never less than [`MIN_GAP`]
//! after the previous one, so a flood of events costs a bounded number of checks.
//!
//! Files are watched through their directory (filtered by name): the daemon and `uci` replace
//! files by rename, which a watch on the file itself would lose. `/proc` and `/sys` give no
//! inotify events; what the embedded model reads there about interfaces comes through
//! rtnetlink, the rest (uptime, memory, CPU) is left to the poll.

use crate::inbox::Inbox;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Events quiet for this long end a burst.
pub const QUIET: Duration = Duration::from_millis(20);
/// A burst is cut after this long, however busy.
pub const MAX_DELAY: Duration = Duration::from_millis(50);
/// Least time between two hints.
pub const MIN_GAP: Duration = Duration::from_millis(100);

/// What the values of a data model come from, as far as events can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sources {
    /// Files whose content some value shows.
    pub files: Vec<PathBuf>,
    /// Interface addresses and link state (rtnetlink).
    pub netlink: bool,
}

/// "Something the notified values come from changed": what the watcher sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hint {
    /// A watched file changed.
    pub files: bool,
    /// An interface or address changed.
    pub net: bool,
}

/// Coalesces events into hints (pure: fed with times).
#[derive(Clone, Debug, Default)]
pub struct Debounce {
    /// First and last event of the burst being gathered.
    burst: Option<(Instant, Instant)>,
    last_hint: Option<Instant>,
}

impl Debounce {
    /// An event at `now`.
    pub fn event(&mut self, now: Instant) {
        self.burst = Some(match self.burst {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// When the gathered burst should become a hint (`None`: nothing gathered).
    pub fn deadline(&self) -> Option<Instant> {
        let (first, last) = self.burst?;
        let at = (last + QUIET).min(first + MAX_DELAY);
        Some(match self.last_hint {
            Some(h) => at.max(h + MIN_GAP),
            None => at,
        })
    }

    /// True (once per burst) when the hint is due at `now`.
    pub fn fire(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(at) if at <= now => {
                self.burst = None;
                self.last_hint = Some(now);
                true
            }
            _ => false,
        }
    }
}

/// The running watcher; dropping it stops and joins the thread.
pub struct Watcher {
    /// Written to stop the thread (an eventfd).
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        unsafe {
            libc::write(
                self.stop.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            );
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Wraps a descriptor a successful syscall just returned.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    cvt(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What the inotify descriptor watches: (directory watch, file name in it) pairs. A few
/// files: a list, not maps (no BTreeMap/BTreeSet code for these types in the router binary).
struct FileWatches {
    fd: OwnedFd,
    dirs: Vec<(i32, Vec<u8>)>,
}

const DIR_MASK: u32 = libc::IN_CLOSE_WRITE
    | libc::IN_MODIFY
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_CREATE;

fn watch_files(files: &[PathBuf]) -> io::Result<Option<FileWatches>> {
    if files.is_empty() {
        return Ok(None);
    }
    // SAFETY: plain syscall.
    let fd = owned(unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) })?;
    let mut dirs = Vec::new();
    for f in files {
        let (Some(dir), Some(name)) = (f.parent(), f.file_name()) else {
            continue;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(c) = CString::new(dir.as_os_str().as_bytes()) else {
            continue;
        };
        // The kernel keeps one watch per directory: adding it again for a second file in it
        // gives the same descriptor back (same mask).
        // SAFETY: `c` is a NUL-terminated path; the descriptor is ours.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), DIR_MASK) };
        if wd < 0 {
            // A directory that does not exist (yet) holds nothing we show now.
            log::debug!(
                "not watching {}: {}",
                dir.display(),
                io::Error::last_os_error()
            );
            continue;
        }
        let name = name.as_bytes();
        if !dirs.iter().any(|(w, n)| *w == wd && n == name) {
            dirs.push((wd, name.to_vec()));
        }
    }
    Ok(Some(FileWatches { fd, dirs }))
}

/// Whether a buffer of inotify events names a watched file (or the queue overflowed).
pub fn inotify_relevant(buf: &[u8], dirs: &[(i32, Vec<u8>)]) -> bool {
    const HDR: usize = std::mem::size_of::<libc::inotify_event>();
    let mut at = 0;
    let mut relevant = false;
    while at + HDR <= buf.len() {
        let field = |off: usize| -> [u8; 4] {
            let mut b = [0; 4];
            b.copy_from_slice(&buf[at + off..at + off + 4]);
            b
        };
        // struct inotify_event { int wd; u32 mask; u32 cookie; u32 len; char name[]; }
        let wd = i32::from_ne_bytes(field(0));
        let mask = u32::from_ne_bytes(field(4));
        let len = u32::from_ne_bytes(field(12)) as usize;
        let end = (at + HDR).saturating_add(len).min(buf.len());
        let raw = &buf[at + HDR..end];
        let name = &raw[..raw.iter().position(|b| *b == 0).unwrap_or(raw.len())];
        if mask & libc::IN_Q_OVERFLOW != 0 {
            relevant = true;
        } else {
            relevant |= dirs.iter().any(|(w, n)| *w == wd && n == name);
        }
        at = end;
    }
    relevant
}

fn netlink_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall.
    let fd = owned(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: sockaddr_nl is plain old data; zero is a valid start.
    let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    sa.nl_groups = (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
    // SAFETY: binds our socket to a correctly sized sockaddr_nl.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Whether a datagram of rtnetlink messages tells of a link or address change.
pub fn netlink_relevant(buf: &[u8]) -> bool {
    const HDR: usize = std::mem::size_of::<libc::nlmsghdr>();
    let mut at = 0;
    while at + HDR <= buf.len() {
        let mut len = [0; 4];
        len.copy_from_slice(&buf[at..at + 4]);
        let len = u32::from_ne_bytes(len) as usize;
        let mut ty = [0; 2];
        ty.copy_from_slice(&buf[at + 4..at + 6]);
        if matches!(
            u16::from_ne_bytes(ty),
            libc::RTM_NEWLINK | libc::RTM_DELLINK | libc::RTM_NEWADDR | libc::RTM_DELADDR
        ) {
            return true;
        }
        if len < HDR {
            break;
        }
        // Messages are 4-byte aligned.
        at += (len + 3) & !3;
    }
    false
}

/// Reads everything waiting on a non-blocking descriptor; `relevant` judges each read.
/// True when something relevant came, or when the kernel dropped events (ENOBUFS).
fn drain(fd: RawFd, buf: &mut [u8], relevant: impl Fn(&[u8]) -> bool) -> bool {
    let mut any = false;
    loop {
        // SAFETY: reads into our own buffer, within its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            any |= relevant(&buf[..n as usize]);
            continue;
        }
        if n < 0 {
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                // Events were lost: what they said is unknown, so check.
                Some(libc::ENOBUFS) => {
                    any = true;
                    continue;
                }
                _ => {}
            }
        }
        return any;
    }
}

/// Starts the watcher thread over `sources`; its hints go to `inbox`. `Ok(None)` when there
/// is nothing to watch.
pub fn spawn(sources: &Sources, inbox: Inbox<Hint>) -> io::Result<Option<Watcher>> {
    let files = watch_files(&sources.files)?;
    let net = if sources.netlink {
        match netlink_socket() {
            Ok(fd) => Some(fd),
            Err(e) => {
                log::warn!("no rtnetlink events ({e}): interface changes are polled");
                None
            }
        }
    } else {
        None
    };
    if files.is_none() && net.is_none() {
        return Ok(None);
    }
    // SAFETY: plain syscall.
    let stop = owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    let stop_rx = stop.try_clone()?;
    let thread = std::thread::Builder::new()
        .name("watch".into())
        .stack_size(64 * 1024)
        .spawn(move || run(files, net, stop_rx, inbox))?;
    Ok(Some(Watcher {
        stop,
        thread: Some(thread),
    }))
}

fn run(files: Option<FileWatches>, net: Option<OwnedFd>, stop: OwnedFd, inbox: Inbox<Hint>) {
    let mut buf = vec![0u8; 8192];
    let mut debounce = Debounce::default();
    let mut hint = Hint::default();
    let fd_of = |o: Option<&OwnedFd>| o.map_or(-1, |f| f.as_raw_fd());
    let mut fds = [
        libc::pollfd {
            fd: stop.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: fd_of(files.as_ref().map(|f| &f.fd)),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: fd_of(net.as_ref()),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        let timeout = match debounce.deadline() {
            Some(at) => {
                let ms = at.saturating_duration_since(Instant::now()).as_millis();
                // Rounded up: waking before the deadline would only spin.
                (ms + 1).min(i32::MAX as u128) as i32
            }
            None => -1,
        };
        // SAFETY: polls our own array of three pollfd (negative fds are ignored).
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            log::error!("change watcher stopped: {}", io::Error::last_os_error());
            return;
        }
        if fds[0].revents != 0 {
            return;
        }
        let now = Instant::now();
        if let (Some(fw), true) = (&files, fds[1].revents != 0) {
            if drain(fw.fd.as_raw_fd(), &mut buf, |b| {
                inotify_relevant(b, &fw.dirs)
            }) {
                hint.files = true;
                debounce.event(now);
            }
        }
        if let (Some(fd), true) = (&net, fds[2].revents != 0) {
            if drain(fd.as_raw_fd(), &mut buf, netlink_relevant) {
                hint.net = true;
                debounce.event(now);
            }
        }
        if debounce.fire(Instant::now()) {
            log::debug!("change watcher: {hint:?}");
            if !inbox.send(std::mem::take(&mut hint)) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_coalesces_bursts_and_spaces_hints() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut d = Debounce::default();
        assert_eq!(d.deadline(), None);
        d.event(ms(0));
        d.event(ms(10));
        assert_eq!(d.deadline(), Some(ms(30)), "quiet after the last event");
        assert!(!d.fire(ms(29)));
        // A burst that goes on is cut at MAX_DELAY.
        for n in (10..100).step_by(10) {
            d.event(ms(n));
        }
        assert_eq!(d.deadline(), Some(ms(50)));
        assert!(d.fire(ms(50)));
        assert!(!d.fire(ms(51)), "once per burst");
        // The next hint waits for MIN_GAP after the previous one.
        d.event(ms(60));
        assert_eq!(d.deadline(), Some(ms(150)));
        assert!(!d.fire(ms(100)));
        assert!(d.fire(ms(150)));
    }

    fn inotify_event(wd: i32, mask: u32, name: &str) -> Vec<u8> {
        let mut padded = name.as_bytes().to_vec();
        padded.resize((name.len() + 1).next_multiple_of(4), 0);
        let mut b = Vec::new();
        b.extend_from_slice(&wd.to_ne_bytes());
        b.extend_from_slice(&mask.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&(padded.len() as u32).to_ne_bytes());
        b.extend_from_slice(&padded);
        b
    }

    #[test]
    fn inotify_events_count_only_for_watched_names() {
        let dirs = [(1, b"dm.json".to_vec()), (3, b"dm.json".to_vec())];
        let other = inotify_event(1, libc::IN_MOVED_TO, "state.json");
        assert!(!inotify_relevant(&other, &dirs));
        let mut both = other.clone();
        both.extend(inotify_event(1, libc::IN_MOVED_TO, "dm.json"));
        assert!(inotify_relevant(&both, &dirs));
        assert!(!inotify_relevant(
            &inotify_event(2, libc::IN_MODIFY, "dm.json"),
            &dirs
        ));
        assert!(inotify_relevant(
            &inotify_event(-1, libc::IN_Q_OVERFLOW, ""),
            &dirs
        ));
        // Truncated or garbage input neither panics nor loops.
        assert!(!inotify_relevant(&both[..20], &dirs));
        let mut huge = inotify_event(1, libc::IN_MODIFY, "x");
        huge[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(!inotify_relevant(&huge, &dirs));
    }

    fn nlmsg(ty: u16, len: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&len.to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.extend_from_slice(&[0; 10]);
        b.resize(len.max(16) as usize, 0);
        b
    }

    #[test]
    fn netlink_messages_about_links_and_addresses_count() {
        assert!(netlink_relevant(&nlmsg(libc::RTM_NEWADDR, 16)));
        let mut two = nlmsg(libc::RTM_NEWROUTE, 20);
        two.extend(nlmsg(libc::RTM_DELLINK, 16));
        assert!(netlink_relevant(&two), "the second message counts");
        assert!(!netlink_relevant(&nlmsg(libc::RTM_NEWROUTE, 16)));
        // A length below the header stops the walk instead of looping.
        assert!(!netlink_relevant(&nlmsg(libc::RTM_NEWROUTE, 0)));
        assert!(!netlink_relevant(&[1, 2, 3]));
    }

    #[test]
    fn a_rewritten_file_gives_one_hint_and_others_none() {
        let dir = std::env::temp_dir().join(format!("icwmp-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let watched = dir.join("dm.json");
        let sources = Sources {
            // Two files in one directory: one watch serves both.
            files: vec![
                watched.clone(),
                PathBuf::from("/nonexistent-dir/x"),
                dir.join("second.json"),
            ],
            netlink: false,
        };
        let (inbox, rx) = Inbox::channel();
        let w = spawn(&sources, inbox).unwrap().expect("a watcher");
        std::fs::write(dir.join("state.json"), "{}").unwrap();
        assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
        // Written through a rename, as the daemon and uci do.
        crate::store::write_atomic(&watched, b"{}").unwrap();
        let h = rx.recv_timeout(Duration::from_secs(2)).expect("a hint");
        assert_eq!(
            h,
            Hint {
                files: true,
                net: false
            }
        );
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "one write, one hint"
        );
        crate::store::write_atomic(&dir.join("second.json"), b"{}").unwrap();
        assert!(
            rx.recv_timeout(Duration::from_secs(2)).is_ok(),
            "second file"
        );
        drop(w);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nothing_to_watch_starts_no_thread() {
        let (inbox, _rx) = Inbox::channel();
        assert!(spawn(&Sources::default(), inbox).unwrap().is_none());
    }
}
