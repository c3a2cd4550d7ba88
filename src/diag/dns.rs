//! A sans-IO DNS codec for NSLookupDiagnostics (A/AAAA) and the XMPP client's server
//! lookup (SRV, RFC 2782): queries out, replies in.
//!
//! Parsing is bounded whatever a server sends: names follow at most [`MAX_JUMPS`]
//! compression pointers and only backwards (no loops), are at most 255 bytes, and at most
//! [`MAX_ANSWERS`] answer records are read; every read is bounds-checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 address record.
pub(crate) const TYPE_A: u16 = 1;
/// Canonical name record.
pub(crate) const TYPE_CNAME: u16 = 5;
/// IPv6 address record.
pub(crate) const TYPE_AAAA: u16 = 28;
/// Service location record (RFC 2782).
pub(crate) const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
/// Compression pointers followed per name.
pub(crate) const MAX_JUMPS: usize = 16;
/// Answer records read per reply.
pub(crate) const MAX_ANSWERS: usize = 64;

/// Reply codes the lookup distinguishes.
pub(crate) const RCODE_NXDOMAIN: u8 = 3;

/// The query for `name` of type `qtype`, recursion desired; `None` for a name DNS cannot
/// carry (empty label, label over 63 bytes, name over 253).
pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(q)
}

/// The data of an answer record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Data {
    /// A or AAAA.
    Ip(IpAddr),
    /// CNAME target.
    Name(String),
    /// SRV: where a service is offered (RFC 2782); `target` without the trailing dot, empty
    /// for "." (the service is not offered).
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Relative share among the records of the same priority.
        weight: u16,
        /// The port of the service on `target`.
        port: u16,
        /// The host offering it.
        target: String,
    },
    /// Any other type.
    Other,
}

/// One answer record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Owner name, without the trailing dot.
    pub name: String,
    /// Its data.
    pub data: Data,
}

/// A reply to one of our queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    /// RCODE (0 no error, 3 NXDOMAIN...).
    pub rcode: u8,
    /// AA: the server is authoritative for the name.
    pub authoritative: bool,
    /// TC: the answer was cut (we do not retry over TCP).
    pub truncated: bool,
    /// The answer section (at most [`MAX_ANSWERS`]).
    pub answers: Vec<Answer>,
}

impl Reply {
    /// The addresses answered.
    pub(crate) fn addresses(&self) -> impl Iterator<Item = (&str, IpAddr)> {
        self.answers.iter().filter_map(|a| match a.data {
            Data::Ip(ip) => Some((a.name.as_str(), ip)),
            _ => None,
        })
    }

    /// The SRV records answered: (priority, weight, port, target).
    pub(crate) fn srv(&self) -> impl Iterator<Item = (u16, u16, u16, &str)> {
        self.answers.iter().filter_map(|a| match &a.data {
            Data::Srv {
                priority,
                weight,
                port,
                target,
            } => Some((*priority, *weight, *port, target.as_str())),
            _ => None,
        })
    }
}

/// Why a datagram is not a usable reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DnsError {
    /// Cut short, or a pointer/length outside the message.
    Truncated,
    /// A name that loops, points forwards, or is too long.
    BadName,
    /// Not the answer to our query (id, flags or question differ).
    NotOurs,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, DnsError> {
    b.get(at..at + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or(DnsError::Truncated)
}

/// Reads the name at `at`: (name without trailing dot, offset after it in place).
pub(crate) fn read_name(b: &[u8], mut at: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *b.get(at).ok_or(DnsError::Truncated)? as usize;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Ok((name, end.unwrap_or(at + 1)));
            }
            0x00 => {
                let label = b.get(at + 1..at + 1 + len).ok_or(DnsError::Truncated)?;
                if name.len() + len + 1 > 255 {
                    return Err(DnsError::BadName);
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    if !c.is_ascii_graphic() || c == b'.' {
                        return Err(DnsError::BadName);
                    }
                    name.push(c as char);
                }
                at += 1 + len;
            }
            0xc0 => {
                let target = (u16_at(b, at)? & 0x3fff) as usize;
                jumps += 1;
                // Only backwards, and few: no loop can form, the work stays bounded.
                if target >= at || jumps > MAX_JUMPS {
                    return Err(DnsError::BadName);
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return Err(DnsError::BadName),
        }
    }
}

/// Parses `b` as the reply to query `id` for `name`/`qtype`.
pub(crate) fn parse_reply(b: &[u8], id: u16, name: &str, qtype: u16) -> Result<Reply, DnsError> {
    if b.len() < 12 {
        return Err(DnsError::Truncated);
    }
    let flags = u16_at(b, 2)?;
    if u16_at(b, 0)? != id || flags & 0x8000 == 0 || (flags >> 11) & 0xf != 0 {
        return Err(DnsError::NotOurs);
    }
    let (qd, an) = (u16_at(b, 4)?, u16_at(b, 6)? as usize);
    let mut at = 12;
    if qd != 1 {
        return Err(DnsError::NotOurs);
    }
    let (qname, next) = read_name(b, at)?;
    let want = name.strip_suffix('.').unwrap_or(name);
    if !qname.eq_ignore_ascii_case(want) || u16_at(b, next)? != qtype {
        return Err(DnsError::NotOurs);
    }
    at = next + 4;
    let mut answers = Vec::new();
    for _ in 0..an.min(MAX_ANSWERS) {
        let (owner, next) = read_name(b, at)?;
        let rtype = u16_at(b, next)?;
        let class = u16_at(b, next + 2)?;
        let rdlen = u16_at(b, next + 8)? as usize;
        let start = next + 10;
        let rdata = b.get(start..start + rdlen).ok_or(DnsError::Truncated)?;
        let data = match (rtype, class, rdlen) {
            (TYPE_A, CLASS_IN, 4) => Data::Ip(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ))),
            (TYPE_AAAA, CLASS_IN, 16) => {
                let mut o = [0u8; 16];
                o.copy_from_slice(rdata);
                Data::Ip(IpAddr::V6(Ipv6Addr::from(o)))
            }
            (TYPE_CNAME, CLASS_IN, _) => Data::Name(read_name(b, start)?.0),
            (TYPE_SRV, CLASS_IN, 7..) => {
                let (target, end) = read_name(b, start + 6)?;
                // The target must lie inside the record (a compressed one may point back).
                if end > start + rdlen {
                    return Err(DnsError::Truncated);
                }
                Data::Srv {
                    priority: u16_at(rdata, 0)?,
                    weight: u16_at(rdata, 2)?,
                    port: u16_at(rdata, 4)?,
                    target,
                }
            }
            _ => Data::Other,
        };
        answers.push(Answer { name: owner, data });
        at = start + rdlen;
    }
    Ok(Reply {
        rcode: (flags & 0xf) as u8,
        authoritative: flags & 0x0400 != 0,
        truncated: flags & 0x0200 != 0,
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply to `q` with `answers` (already encoded records) and `flags`.
    pub(crate) fn reply(q: &[u8], flags: u16, answers: &[Vec<u8>]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2..4].copy_from_slice(&flags.to_be_bytes());
        r[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for a in answers {
            r.extend_from_slice(a);
        }
        r
    }

    /// A record owned by the question name (pointer to offset 12).
    fn rr(rtype: u16, data: &[u8]) -> Vec<u8> {
        let mut r = vec![0xc0, 12];
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(data);
        r
    }

    #[test]
    fn queries_are_well_formed() {
        let q = query(0xabcd, "www.example.com.", TYPE_AAAA).unwrap();
        assert_eq!(&q[..12], &[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03www\x07example\x03com\x00\x00\x1c\x00\x01");
        assert!(query(1, "", TYPE_A).is_none());
        assert!(query(1, "a..b", TYPE_A).is_none());
        assert!(query(1, &"a".repeat(64), TYPE_A).is_none());
        assert!(query(1, &["a"; 130].join("."), TYPE_A).is_none());
    }

    #[test]
    fn replies_with_addresses_and_cnames() {
        let q = query(7, "host.test", TYPE_A).unwrap();
        let mut cname = vec![4];
        cname.extend_from_slice(b"real\xc0\x11"); // "real" + pointer to "test"
        let r = reply(
            &q,
            0x8580,
            &[
                rr(TYPE_CNAME, &cname),
                rr(TYPE_A, &[10, 0, 0, 1]),
                rr(16, b"\x02hi"),
            ],
        );
        let p = parse_reply(&r, 7, "host.test.", TYPE_A).unwrap();
        assert!(p.authoritative && !p.truncated && p.rcode == 0);
        assert_eq!(p.answers[0].data, Data::Name("real.test".into()));
        assert_eq!(
            p.addresses().collect::<Vec<_>>(),
            vec![("host.test", "10.0.0.1".parse().unwrap())]
        );
        assert_eq!(p.answers[2].data, Data::Other);
        let q6 = query(8, "host.test", TYPE_AAAA).unwrap();
        let r = reply(
            &q6,
            0x8180,
            &[rr(
                TYPE_AAAA,
                &[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            )],
        );
        let p = parse_reply(&r, 8, "HOST.test", TYPE_AAAA).unwrap();
        assert!(!p.authoritative);
        assert_eq!(
            p.addresses().next().unwrap().1,
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let nx = reply(&q, 0x8183, &[]);
        assert_eq!(
            parse_reply(&nx, 7, "host.test", TYPE_A).unwrap().rcode,
            RCODE_NXDOMAIN
        );
    }

    /// SRV rdata: priority, weight, port, then the target's encoded name.
    fn srv(prio: u16, weight: u16, port: u16, target: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        for v in [prio, weight, port] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(target);
        d
    }

    #[test]
    fn replies_with_srv_records() {
        const NAME: &str = "_xmpp-client._tcp.x.test";
        let q = query(9, NAME, TYPE_SRV).unwrap();
        assert_eq!(&q[q.len() - 4..], &[0, 33, 0, 1]);
        // Offsets in the question: 12 "_xmpp-client", 25 "_tcp", 30 "x", 32 "test".
        let r = reply(
            &q,
            0x8580,
            &[
                rr(TYPE_SRV, &srv(10, 60, 5222, b"\x04srv1\x01x\x04test\x00")),
                // Compressed: "srv2" + pointer to "x.test" in the question.
                rr(TYPE_SRV, &srv(20, 0, 5223, b"\x04srv2\xc0\x1e")),
                // "." : the service is not offered there.
                rr(TYPE_SRV, &srv(0, 0, 0, b"\x00")),
                // Too short to be SRV: skipped, not an error.
                rr(TYPE_SRV, &[0, 1, 0]),
            ],
        );
        let p = parse_reply(&r, 9, NAME, TYPE_SRV).unwrap();
        assert_eq!(
            p.srv().collect::<Vec<_>>(),
            vec![
                (10, 60, 5222, "srv1.x.test"),
                (20, 0, 5223, "srv2.x.test"),
                (0, 0, 0, ""),
            ]
        );
        assert_eq!(p.answers[3].data, Data::Other);
        assert_eq!(p.addresses().count(), 0);
    }

    #[test]
    fn hostile_srv_records_are_errors() {
        const NAME: &str = "_xmpp-client._tcp.x.test";
        let q = query(9, NAME, TYPE_SRV).unwrap();
        let good = reply(&q, 0x8180, &[rr(TYPE_SRV, &srv(1, 2, 3, b"\x01a\xc0\x1e"))]);
        assert!(parse_reply(&good, 9, NAME, TYPE_SRV).is_ok());
        // Every cut of the record: an error, never a panic.
        for n in q.len()..good.len() {
            assert!(parse_reply(&good[..n], 9, NAME, TYPE_SRV).is_err(), "{n}");
        }
        // A target name running past its rdata (into the next record) is refused.
        let mut long = rr(TYPE_SRV, &srv(1, 2, 3, b"\x01a\xc0\x1e"));
        let l = long.len();
        long[l - 12..l - 10].copy_from_slice(&8u16.to_be_bytes());
        let r = reply(&q, 0x8180, &[long]);
        assert_eq!(parse_reply(&r, 9, NAME, TYPE_SRV), Err(DnsError::Truncated));
        // A looping or forward pointer in the target.
        let fwd = reply(&q, 0x8180, &[rr(TYPE_SRV, &srv(1, 2, 3, b"\xc0\xff"))]);
        assert_eq!(parse_reply(&fwd, 9, NAME, TYPE_SRV), Err(DnsError::BadName));
    }

    #[test]
    fn replies_to_something_else_are_not_ours() {
        let q = query(7, "host.test", TYPE_A).unwrap();
        let r = reply(&q, 0x8180, &[]);
        assert_eq!(
            parse_reply(&r, 8, "host.test", TYPE_A),
            Err(DnsError::NotOurs)
        );
        assert_eq!(
            parse_reply(&r, 7, "other.test", TYPE_A),
            Err(DnsError::NotOurs)
        );
        assert_eq!(
            parse_reply(&r, 7, "host.test", TYPE_AAAA),
            Err(DnsError::NotOurs)
        );
        assert_eq!(
            parse_reply(&q, 7, "host.test", TYPE_A),
            Err(DnsError::NotOurs)
        );
    }

    #[test]
    fn hostile_replies_fail_in_bounded_time() {
        let q = query(7, "host.test", TYPE_A).unwrap();
        // Every prefix of a good reply: an error or a shorter answer list, never a panic.
        let good = reply(
            &q,
            0x8180,
            &[rr(TYPE_A, &[1, 2, 3, 4]), rr(TYPE_A, &[5, 6, 7, 8])],
        );
        for n in 0..good.len() {
            assert!(
                parse_reply(&good[..n], 7, "host.test", TYPE_A).is_err(),
                "{n}"
            );
        }
        // A pointer to itself, a forward pointer, a two-pointer loop.
        let self_loop = reply(
            &q,
            0x8180,
            &[[
                vec![0xc0, q.len() as u8],
                rr(TYPE_A, &[1, 2, 3, 4])[2..].to_vec(),
            ]
            .concat()],
        );
        assert_eq!(
            parse_reply(&self_loop, 7, "host.test", TYPE_A),
            Err(DnsError::BadName)
        );
        let fwd = reply(
            &q,
            0x8180,
            &[[vec![0xc0, 200], rr(TYPE_A, &[1, 2, 3, 4])[2..].to_vec()].concat()],
        );
        assert_eq!(
            parse_reply(&fwd, 7, "host.test", TYPE_A),
            Err(DnsError::BadName)
        );
        let mut two = q.clone();
        let at = two.len() as u8;
        two.extend_from_slice(&[0xc0, at + 2, 0xc0, at]);
        assert_eq!(read_name(&two, at as usize + 2), Err(DnsError::BadName));
        // A long backwards chain of pointers stops at MAX_JUMPS.
        let mut chain = vec![0u8];
        for i in 0..40u8 {
            chain.extend_from_slice(&[0xc0, if i == 0 { 0 } else { 2 * i - 1 }]);
        }
        assert_eq!(read_name(&chain, chain.len() - 2), Err(DnsError::BadName));
        // Reserved label types, names over 255 bytes, rdata past the end.
        assert_eq!(read_name(&[0x40, 0], 0), Err(DnsError::BadName));
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(read_name(&long, 0), Err(DnsError::BadName));
        let mut cut = reply(&q, 0x8180, &[rr(TYPE_A, &[1, 2, 3, 4])]);
        let l = cut.len();
        cut[l - 5] = 0xff;
        assert_eq!(
            parse_reply(&cut, 7, "host.test", TYPE_A),
            Err(DnsError::Truncated)
        );
        // A count of 65535 with few records only reads what is there.
        let mut many = reply(&q, 0x8180, &[rr(TYPE_A, &[1, 2, 3, 4])]);
        many[6..8].copy_from_slice(&[0xff, 0xff]);
        assert_eq!(
            parse_reply(&many, 7, "host.test", TYPE_A),
            Err(DnsError::Truncated)
        );
    }
}
