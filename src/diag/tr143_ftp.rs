//! TR-143 over FTP: the control connection (login, TYPE I, passive mode) and the data
//! connection, whose TCP open times, ROM/BOM/EOM and byte counts are the test's (the
//! control connection's bytes are not counted). Passive mode only: PASV over IPv4, EPSV
//! over IPv6; the data connection goes to the control connection's address whatever PASV
//! names (no bounce to a third host).

use super::super::ftp::{self, Replies};
use super::super::tcp_connect as sock;
use super::{Conn, Fail, Job, Link, BUF, POLL};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// The control connection.
struct Ctl<'a> {
    job: &'a Job<'a>,
    sock: TcpStream,
    replies: Replies,
    pending: Vec<u8>,
}

impl<'a> Ctl<'a> {
    /// Connects, reads the greeting, logs in, sets binary mode.
    fn login(job: &'a Job<'a>) -> Result<Ctl<'a>, Fail> {
        let sock =
            sock::connect(job.addr, job.opts, job.limits.connect, job.cancel).map_err(|e| {
                if e.kind() == ErrorKind::Interrupted {
                    Fail::Canceled
                } else {
                    Fail::Init
                }
            })?;
        sock.set_read_timeout(Some(POLL))
            .map_err(|_| Fail::Internal)?;
        let mut c = Ctl {
            job,
            sock,
            replies: Replies::default(),
            pending: Vec::new(),
        };
        if !(200..300).contains(&c.reply()?.0) {
            return Err(Fail::Init);
        }
        let (user, pass) = job.url.ftp.clone().unwrap_or_default();
        match c.cmd(&format!("USER {user}"))?.0 {
            230 => {}
            331 | 332 => {
                if c.cmd(&format!("PASS {pass}"))?.0 != 230 {
                    return Err(Fail::Login);
                }
            }
            _ => return Err(Fail::PasswordRequest),
        }
        if c.cmd("TYPE I")?.0 != 200 {
            return Err(Fail::NoTransferMode);
        }
        Ok(c)
    }

    /// The next reply (code, text).
    fn reply(&mut self) -> Result<(u16, String), Fail> {
        let start = Instant::now();
        let mut buf = [0u8; 1024];
        loop {
            if !self.pending.is_empty() {
                let (r, used) = self
                    .replies
                    .feed(&self.pending)
                    .map_err(|_| Fail::Transfer)?;
                self.pending.drain(..used);
                if let Some(r) = r {
                    return Ok(r);
                }
            }
            if self.job.cancel.is_cancelled() {
                return Err(Fail::Canceled);
            }
            if start.elapsed() >= self.job.limits.idle {
                return Err(Fail::NoResponse);
            }
            match self.sock.read(&mut buf) {
                Ok(0) => return Err(Fail::NoResponse),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(Fail::NoResponse),
            }
        }
    }

    /// Sends one command line and reads its reply.
    fn cmd(&mut self, line: &str) -> Result<(u16, String), Fail> {
        self.send(line)?;
        self.reply()
    }

    fn send(&mut self, line: &str) -> Result<(), Fail> {
        self.sock
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|_| Fail::NoResponse)
    }

    /// Enters passive mode: the data connection's address.
    fn passive(&mut self) -> Result<SocketAddr, Fail> {
        let ctl = self.job.addr;
        if ctl.is_ipv6() {
            let (code, text) = self.cmd("EPSV")?;
            let port = (code == 229).then(|| ftp::parse_epsv(&text)).flatten();
            port.map(|p| SocketAddr::new(ctl.ip(), p))
                .ok_or(Fail::NoPasv)
        } else {
            let (code, text) = self.cmd("PASV")?;
            let a = (code == 227).then(|| ftp::parse_pasv(&text)).flatten();
            a.map(|a| SocketAddr::new(ctl.ip(), a.port()))
                .ok_or(Fail::NoPasv)
        }
    }
}

/// The path as FTP names it (relative to the login directory).
fn ftp_path(path: &str) -> &str {
    path.trim_start_matches('/')
}

impl Job<'_> {
    /// RETR the file over a passive data connection.
    pub(super) fn ftp_download(&self) -> Result<Conn, Fail> {
        let mut c = Ctl::login(self)?;
        let data = c.passive()?;
        let mut l = self.open_to(data)?;
        l.conn.rom = Instant::now();
        c.send(&format!("RETR {}", ftp_path(&self.url.path)))?;
        if !matches!(c.reply()?.0, 125 | 150) {
            return Err(Fail::Transfer);
        }
        let mut buf = vec![0u8; BUF];
        while l.recv(&mut buf)?.is_some() {
            if self.deadline.is_some_and(|d| l.last >= d) {
                break;
            }
        }
        let timed_out = self.deadline.is_some_and(|d| Instant::now() >= d);
        let conn = l.finish();
        // A time-based test closes the data connection early: the server's 426 is expected.
        let code = c.reply()?.0;
        if !(matches!(code, 226 | 250) || timed_out) {
            return Err(Fail::Transfer);
        }
        let _ = c.send("QUIT");
        Ok(conn)
    }

    /// STOR `length` bytes (or for the test duration) over a passive data connection.
    pub(super) fn ftp_upload(&self, length: Option<u64>) -> Result<Conn, Fail> {
        let mut c = Ctl::login(self)?;
        let path = ftp_path(&self.url.path);
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        if !dir.is_empty() && !(200..300).contains(&c.cmd(&format!("CWD {dir}"))?.0) {
            return Err(Fail::NoCwd);
        }
        let data = c.passive()?;
        let mut l: Link = self.open_to(data)?;
        l.conn.rom = Instant::now();
        c.send(&format!("STOR {name}"))?;
        if !matches!(c.reply()?.0, 125 | 150) {
            return Err(Fail::NoStor);
        }
        let zeros = vec![0u8; BUF];
        match length {
            Some(len) => l.send_zeros(&zeros, len)?,
            None => {
                while self.deadline.is_none_or(|d| Instant::now() < d) {
                    l.send(&zeros, true)?;
                }
            }
        }
        // End of the file: the server answers 226 once it has it all.
        let _ = l.sock.shutdown(std::net::Shutdown::Write);
        if !matches!(c.reply()?.0, 226 | 250) {
            return Err(Fail::Status);
        }
        l.last = Instant::now();
        let _ = c.send("QUIT");
        Ok(l.finish())
    }
}
