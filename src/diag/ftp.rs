//! The sans-IO half of the TR-143 FTP client: control-connection replies (multi-line,
//! budgeted) and the passive-mode answers.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Longest control line accepted.
const MAX_LINE: usize = 1024;
/// Most lines in one (multi-line) reply.
const MAX_LINES: usize = 100;

/// A control reply that breaks RFC 959, or is over the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadReply;

/// Accumulates control-connection bytes and yields complete replies.
#[derive(Debug, Default)]
pub(crate) struct Replies {
    line: Vec<u8>,
    /// The code of a multi-line reply in progress, and its lines so far.
    open: Option<(u16, usize)>,
}

impl Replies {
    /// Feeds bytes; returns the first complete reply (code, text of its last line) and how
    /// many bytes were used (feed the rest again after handling it).
    pub(crate) fn feed(&mut self, data: &[u8]) -> Result<(Option<(u16, String)>, usize), BadReply> {
        for (i, &b) in data.iter().enumerate() {
            if b != b'\n' {
                if self.line.len() >= MAX_LINE {
                    return Err(BadReply);
                }
                self.line.push(b);
                continue;
            }
            let line = String::from_utf8_lossy(&self.line)
                .trim_end_matches('\r')
                .to_string();
            self.line.clear();
            let code = line
                .get(..3)
                .filter(|c| c.bytes().all(|d| d.is_ascii_digit()))
                .and_then(|c| c.parse::<u16>().ok());
            let sep = line.as_bytes().get(3).copied();
            match (self.open, code) {
                (None, Some(c)) if sep == Some(b'-') => self.open = Some((c, 1)),
                (None, Some(c)) if matches!(sep, None | Some(b' ')) => {
                    return Ok((Some((c, line[3..].trim().to_string())), i + 1));
                }
                (None, _) => return Err(BadReply),
                (Some((c, _)), Some(c2)) if c == c2 && sep != Some(b'-') => {
                    self.open = None;
                    return Ok((Some((c, line[3..].trim().to_string())), i + 1));
                }
                (Some((c, n)), _) if n < MAX_LINES => self.open = Some((c, n + 1)),
                (Some(_), _) => return Err(BadReply),
            }
        }
        Ok((None, data.len()))
    }
}

/// The data address of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
pub(crate) fn parse_pasv(text: &str) -> Option<SocketAddrV4> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let nums: Vec<u8> = text[start..]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(6)
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 6 {
        return None;
    }
    let ip = Ipv4Addr::new(nums[0], nums[1], nums[2], nums[3]);
    Some(SocketAddrV4::new(
        ip,
        u16::from(nums[4]) << 8 | u16::from(nums[5]),
    ))
}

/// The data port of a `229 Entering Extended Passive Mode (|||port|)` reply.
pub(crate) fn parse_epsv(text: &str) -> Option<u16> {
    let inner = &text[text.find('(')? + 1..text.rfind(')')?];
    let d = inner.chars().next()?;
    let parts: Vec<&str> = inner.split(d).collect();
    match parts.as_slice() {
        ["", "", "", port, ""] => port.parse().ok().filter(|p| *p != 0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line_replies_in_any_split() {
        let wire = b"220 hi\r\n230-Welcome\r\n  lots\r\n230 done\r\n";
        for split in 1..wire.len() {
            let mut r = Replies::default();
            let mut got = Vec::new();
            for part in wire.chunks(split) {
                let mut rest = part;
                while !rest.is_empty() {
                    let (reply, used) = r.feed(rest).unwrap();
                    got.extend(reply);
                    rest = &rest[used..];
                }
            }
            assert_eq!(
                got,
                vec![(220, "hi".to_string()), (230, "done".to_string())],
                "{split}"
            );
        }
    }

    #[test]
    fn hostile_replies_are_refused() {
        assert_eq!(Replies::default().feed(b"hello\r\n"), Err(BadReply));
        assert_eq!(
            Replies::default().feed(&[b'2'; MAX_LINE + 1]),
            Err(BadReply)
        );
        let mut r = Replies::default();
        r.feed(b"230-x\r\n").unwrap();
        let mut err = None;
        for _ in 0..=MAX_LINES {
            if let Err(e) = r.feed(b"more\r\n") {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(BadReply));
    }

    #[test]
    fn passive_answers() {
        assert_eq!(
            parse_pasv("Entering Passive Mode (127,0,0,1,200,10)."),
            Some("127.0.0.1:51210".parse().unwrap())
        );
        assert_eq!(
            parse_pasv("=10,0,0,1,0,21"),
            Some("10.0.0.1:21".parse().unwrap())
        );
        assert_eq!(parse_pasv("(1,2,3,4,5)"), None);
        assert_eq!(parse_pasv("(1,2,3,4,5,256)"), None);
        assert_eq!(
            parse_epsv("Entering Extended Passive Mode (|||6446|)"),
            Some(6446)
        );
        assert_eq!(parse_epsv("(!!!21!)"), Some(21));
        assert_eq!(parse_epsv("(|||0|)"), None);
        assert_eq!(parse_epsv("(||1|2|)"), None);
        assert_eq!(parse_epsv("no parens"), None);
    }
}
