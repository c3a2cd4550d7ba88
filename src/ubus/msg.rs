//! ubus messages: the 8-byte header, the typed `UBUS_ATTR_*` attributes, parse/emit, and
//! framing on a byte stream (read 12 bytes, then the rest).
//!
//! Pure except [`read_frame`], which only uses the `Read` it is given.

use super::blob::{self, BlobAttr, BlobIter, WireError};
use super::blobmsg::{self, Table};
use std::fmt;
use std::io::{self, Read};

/// Size of the ubus message header (version, type, seq, peer).
pub const HEADER_LEN: usize = 8;
/// The header plus the top-level blob header: what is read before the length is known.
pub const PREFIX_LEN: usize = 12;
/// Largest message payload ubusd accepts (`UBUS_MAX_MSGLEN`, 1 MiB).
pub const MAX_MSGLEN: usize = 1 << 20;

/// Message types (`enum ubus_msg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 0: ubusd's greeting; `peer` = our client id.
    Hello,
    /// 1: ends a request.
    Status,
    /// 2: a reply payload.
    Data,
    /// 3: echo request.
    Ping,
    /// 4: resolve object paths.
    Lookup,
    /// 5: call a method.
    Invoke,
    /// 6: register an object.
    AddObject,
    /// 7: unregister an object.
    RemoveObject,
    /// 8: subscribe to an object.
    Subscribe,
    /// 9: unsubscribe (or: the target went away).
    Unsubscribe,
    /// 10: notify subscribers (or: the subscriber set changed).
    Notify,
    /// 11: monitor copy.
    Monitor,
    /// Anything else.
    Unknown(u8),
}

impl MsgType {
    /// The type for a wire byte.
    pub fn from_u8(t: u8) -> Self {
        use MsgType::*;
        match t {
            0 => Hello,
            1 => Status,
            2 => Data,
            3 => Ping,
            4 => Lookup,
            5 => Invoke,
            6 => AddObject,
            7 => RemoveObject,
            8 => Subscribe,
            9 => Unsubscribe,
            10 => Notify,
            11 => Monitor,
            n => Unknown(n),
        }
    }

    /// The wire byte.
    pub fn to_u8(self) -> u8 {
        use MsgType::*;
        match self {
            Hello => 0,
            Status => 1,
            Data => 2,
            Ping => 3,
            Lookup => 4,
            Invoke => 5,
            AddObject => 6,
            RemoveObject => 7,
            Subscribe => 8,
            Unsubscribe => 9,
            Notify => 10,
            Monitor => 11,
            Unknown(n) => n,
        }
    }
}

/// Attribute ids (`enum ubus_msg_attr`).
mod id {
    pub(super) const STATUS: u8 = 1;
    pub(super) const OBJPATH: u8 = 2;
    pub(super) const OBJID: u8 = 3;
    pub(super) const METHOD: u8 = 4;
    pub(super) const OBJTYPE: u8 = 5;
    pub(super) const SIGNATURE: u8 = 6;
    pub(super) const DATA: u8 = 7;
    pub(super) const TARGET: u8 = 8;
    pub(super) const ACTIVE: u8 = 9;
    pub(super) const NO_REPLY: u8 = 10;
    pub(super) const SUBSCRIBERS: u8 = 11;
    pub(super) const USER: u8 = 12;
    pub(super) const GROUP: u8 = 13;
}

/// One top-level attribute of a ubus message (plain blob, not blobmsg).
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// Status code of a request.
    Status(u32),
    /// Object path.
    ObjPath(String),
    /// Object id.
    ObjId(u32),
    /// Method, event name or notification type.
    Method(String),
    /// Object type id.
    ObjType(u32),
    /// Method signatures: one table per method, each member an INT32 blobmsg type id.
    Signature(Table),
    /// Request or reply body.
    Data(Table),
    /// Subscription target object id.
    Target(u32),
    /// Subscriber set non-empty.
    Active(bool),
    /// Notify without a STATUS reply.
    NoReply(bool),
    /// Object ids of the subscribers a notification went to.
    Subscribers(Vec<u32>),
    /// Caller's user name (added by ubusd).
    User(String),
    /// Caller's group name (added by ubusd).
    Group(String),
    /// An attribute id this code does not know, kept for logs and re-emission.
    Unknown {
        /// The attribute id.
        id: u8,
        /// Its payload.
        data: Vec<u8>,
    },
}

fn u32_of(p: &[u8]) -> Result<u32, WireError> {
    let b: [u8; 4] = p
        .try_into()
        .map_err(|_| WireError("u32 attribute of wrong length"))?;
    Ok(u32::from_be_bytes(b))
}

fn bool_of(p: &[u8]) -> Result<bool, WireError> {
    match p {
        [b] => Ok(*b != 0),
        _ => Err(WireError("u8 attribute of wrong length")),
    }
}

fn str_of(p: &[u8]) -> Result<String, WireError> {
    match p.split_last() {
        Some((0, s)) => Ok(String::from_utf8_lossy(s).into_owned()),
        _ => Err(WireError("string attribute not NUL-terminated")),
    }
}

impl Attr {
    /// Decodes one top-level attribute.
    ///
    /// # Errors
    /// A payload of the wrong size or a malformed nested body.
    pub fn parse(a: &BlobAttr<&[u8]>) -> Result<Attr, WireError> {
        let p = a.payload();
        Ok(match a.id() {
            id::STATUS => Attr::Status(u32_of(p)?),
            id::OBJPATH => Attr::ObjPath(str_of(p)?),
            id::OBJID => Attr::ObjId(u32_of(p)?),
            id::METHOD => Attr::Method(str_of(p)?),
            id::OBJTYPE => Attr::ObjType(u32_of(p)?),
            id::SIGNATURE => Attr::Signature(blobmsg::parse_table(p)?),
            id::DATA => Attr::Data(blobmsg::parse_table(p)?),
            id::TARGET => Attr::Target(u32_of(p)?),
            id::ACTIVE => Attr::Active(bool_of(p)?),
            id::NO_REPLY => Attr::NoReply(bool_of(p)?),
            id::SUBSCRIBERS => Attr::Subscribers(
                BlobIter::new(p)
                    .map(|s| s.and_then(|s| u32_of(s.payload())))
                    .collect::<Result<_, _>>()?,
            ),
            id::USER => Attr::User(str_of(p)?),
            id::GROUP => Attr::Group(str_of(p)?),
            id => Attr::Unknown {
                id,
                data: p.to_vec(),
            },
        })
    }

    /// Appends this attribute.
    pub fn emit(&self, out: &mut Vec<u8>) {
        match self {
            Attr::Status(v) => blob::put_u32(out, id::STATUS, *v),
            Attr::ObjPath(s) => blob::put_str(out, id::OBJPATH, s),
            Attr::ObjId(v) => blob::put_u32(out, id::OBJID, *v),
            Attr::Method(s) => blob::put_str(out, id::METHOD, s),
            Attr::ObjType(v) => blob::put_u32(out, id::OBJTYPE, *v),
            Attr::Signature(t) | Attr::Data(t) => {
                let start = blob::begin(out);
                blobmsg::emit_table(t, out);
                let id = if matches!(self, Attr::Data(_)) {
                    id::DATA
                } else {
                    id::SIGNATURE
                };
                blob::finish(out, start, id, false);
            }
            Attr::Target(v) => blob::put_u32(out, id::TARGET, *v),
            Attr::Active(b) => blob::put_u8(out, id::ACTIVE, u8::from(*b)),
            Attr::NoReply(b) => blob::put_u8(out, id::NO_REPLY, u8::from(*b)),
            Attr::Subscribers(ids) => {
                let start = blob::begin(out);
                ids.iter().for_each(|v| blob::put_u32(out, 0, *v));
                blob::finish(out, start, id::SUBSCRIBERS, false);
            }
            Attr::User(s) => blob::put_str(out, id::USER, s),
            Attr::Group(s) => blob::put_str(out, id::GROUP, s),
            Attr::Unknown { id, data } => blob::put(out, *id, false, data),
        }
    }
}

/// A whole ubus message: header fields plus attributes in wire order (version is always 0).
#[derive(Clone, Debug, PartialEq)]
pub struct UbusMsg {
    /// Message type.
    pub typ: MsgType,
    /// Sequence number chosen by the request sender.
    pub seq: u16,
    /// Peer (client id or object id, depending on the flow).
    pub peer: u32,
    /// Top-level attributes.
    pub attrs: Vec<Attr>,
}

macro_rules! getter {
    ($(#[$doc:meta] $name:ident -> $ty:ty = $variant:ident;)*) => {$(
        #[$doc]
        pub fn $name(&self) -> Option<$ty> {
            self.attrs.iter().find_map(|a| match a { Attr::$variant(v) => Some(v.clone()), _ => None })
        }
    )*};
}

impl UbusMsg {
    /// Builds a message.
    pub fn new(typ: MsgType, seq: u16, peer: u32, attrs: Vec<Attr>) -> Self {
        UbusMsg {
            typ,
            seq,
            peer,
            attrs,
        }
    }

    /// Decodes one complete message (header + top-level blob, nothing more).
    ///
    /// # Errors
    /// Short input, version not 0, a length that disagrees with the input, or a malformed
    /// attribute.
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        if buf.len() < PREFIX_LEN {
            return Err(WireError("message shorter than 12 bytes"));
        }
        if buf[0] != 0 {
            return Err(WireError("message version is not 0"));
        }
        let top = BlobAttr::new_checked(&buf[HEADER_LEN..])?;
        if top.raw_len() != buf.len() - HEADER_LEN || top.raw_len() != top.padded_len() {
            return Err(WireError("message length disagrees with its blob"));
        }
        if top.id() != 0 || top.is_extended() {
            return Err(WireError("top-level blob id is not 0"));
        }
        let attrs = BlobIter::new(top.payload())
            .map(|a| a.and_then(|a| Attr::parse(&a)))
            .collect::<Result<_, _>>()?;
        Ok(UbusMsg {
            typ: MsgType::from_u8(buf[1]),
            seq: u16::from_be_bytes([buf[2], buf[3]]),
            peer: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            attrs,
        })
    }

    /// Encodes the message.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(0);
        out.push(self.typ.to_u8());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.peer.to_be_bytes());
        let start = blob::begin(&mut out);
        self.attrs.iter().for_each(|a| a.emit(&mut out));
        blob::finish(&mut out, start, 0, false);
        out
    }

    getter! {
        /// The STATUS attribute.
        status -> u32 = Status;
        /// The OBJPATH attribute.
        objpath -> String = ObjPath;
        /// The OBJID attribute.
        objid -> u32 = ObjId;
        /// The OBJTYPE attribute.
        objtype -> u32 = ObjType;
        /// The TARGET attribute.
        target -> u32 = Target;
        /// The ACTIVE attribute.
        active -> bool = Active;
        /// The NO_REPLY attribute.
        no_reply -> bool = NoReply;
    }

    /// The METHOD attribute.
    pub fn method(&self) -> Option<&str> {
        self.attrs.iter().find_map(|a| match a {
            Attr::Method(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// The DATA attribute.
    pub fn data(&self) -> Option<&Table> {
        self.attrs.iter().find_map(|a| match a {
            Attr::Data(t) => Some(t),
            _ => None,
        })
    }

    /// Moves the DATA attribute out.
    pub fn take_data(&mut self) -> Option<Table> {
        let i = self.attrs.iter().position(|a| matches!(a, Attr::Data(_)))?;
        match self.attrs.swap_remove(i) {
            Attr::Data(t) => Some(t),
            _ => None,
        }
    }

    /// The SIGNATURE attribute.
    pub fn signature(&self) -> Option<&Table> {
        self.attrs.iter().find_map(|a| match a {
            Attr::Signature(t) => Some(t),
            _ => None,
        })
    }

    /// The SUBSCRIBERS attribute.
    pub fn subscribers(&self) -> Option<&[u32]> {
        self.attrs.iter().find_map(|a| match a {
            Attr::Subscribers(v) => Some(v.as_slice()),
            _ => None,
        })
    }
}

impl fmt::Display for UbusMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}(seq {}, peer {:08x})",
            self.typ, self.seq, self.peer
        )?;
        if let Some(m) = self.method() {
            write!(f, " method {m}")?;
        }
        if let Some(s) = self.status() {
            write!(f, " status {s}")?;
        }
        Ok(())
    }
}

/// Why a frame could not be read from a stream.
#[derive(Debug)]
pub enum FrameError {
    /// The peer closed the stream between messages.
    Closed,
    /// Read error, or EOF inside a message.
    Io(io::Error),
    /// The length field is below 4 or over [`MAX_MSGLEN`]: the stream cannot be resynchronised.
    BadLength(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Closed => f.write_str("connection closed"),
            FrameError::Io(e) => write!(f, "read error: {e}"),
            FrameError::BadLength(n) => write!(f, "impossible message length {n}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The whole message length announced by the first 12 bytes.
///
/// # Errors
/// [`FrameError::BadLength`] when the blob length is below 4 or its padded size exceeds
/// [`MAX_MSGLEN`] (ubusd disconnects such clients).
pub fn frame_len(prefix: &[u8; PREFIX_LEN]) -> Result<usize, FrameError> {
    let raw = (u32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]])
        & blob::MAX_RAW_LEN as u32) as usize;
    if raw < blob::HDR_LEN || blob::pad4(raw) > MAX_MSGLEN {
        return Err(FrameError::BadLength(raw));
    }
    // Exactly what libubus reads: `raw - 4` more bytes (raw is a multiple of 4 when sane).
    Ok(HEADER_LEN + raw)
}

/// Reads one message's bytes: 12 bytes, then the rest announced by the length field. Never
/// allocates more than [`MAX_MSGLEN`] + 8 whatever the header says.
///
/// # Errors
/// See [`FrameError`].
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    let mut prefix = [0u8; PREFIX_LEN];
    let mut got = 0;
    while got < PREFIX_LEN {
        match r.read(&mut prefix[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = frame_len(&prefix)?;
    let mut buf = vec![0u8; len];
    buf[..PREFIX_LEN].copy_from_slice(&prefix);
    r.read_exact(&mut buf[PREFIX_LEN..])
        .map_err(FrameError::Io)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ubus::blobmsg::BlobmsgValue;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const LOOKUP: &str = "0004000100000000000000100200000a7472303639000000";

    #[test]
    fn test_parse_and_emit_lookup() {
        let m = UbusMsg::parse(&unhex(LOOKUP)).unwrap();
        assert_eq!(m.typ, MsgType::Lookup);
        assert_eq!((m.seq, m.peer), (1, 0));
        assert_eq!(m.objpath().as_deref(), Some("tr069"));
        let built = UbusMsg::new(MsgType::Lookup, 1, 0, vec![Attr::ObjPath("tr069".into())]);
        assert_eq!(built.to_bytes(), unhex(LOOKUP));
    }

    #[test]
    fn empty_data_is_four_bytes() {
        let m = UbusMsg::new(MsgType::Invoke, 2, 5, vec![Attr::Data(vec![])]);
        assert_eq!(&m.to_bytes()[12..], &[7, 0, 0, 4]);
    }

    #[test]
    fn rejects_inconsistent_messages() {
        let mut b = unhex(LOOKUP);
        b[0] = 1;
        assert_eq!(
            UbusMsg::parse(&b).err(),
            Some(WireError("message version is not 0"))
        );
        let b = unhex(LOOKUP);
        assert!(UbusMsg::parse(&b[..b.len() - 4]).is_err());
        let mut long = b.clone();
        long.extend_from_slice(&[0; 4]);
        assert!(UbusMsg::parse(&long).is_err());
        // OBJID with a 2-byte payload.
        let bad = unhex("00040001000000000000000c0300000600010000");
        assert_eq!(
            UbusMsg::parse(&bad).err(),
            Some(WireError("u32 attribute of wrong length"))
        );
    }

    #[test]
    fn keeps_unknown_types_and_attributes() {
        let m = UbusMsg::new(
            MsgType::Unknown(42),
            7,
            9,
            vec![
                Attr::Unknown {
                    id: 99,
                    data: vec![1, 2],
                },
                Attr::Data(vec![("x".into(), BlobmsgValue::Int8(1))]),
            ],
        );
        assert_eq!(UbusMsg::parse(&m.to_bytes()).unwrap(), m);
    }

    /// A reader that counts what it hands out.
    struct Counting<'a>(&'a [u8], usize);
    impl Read for Counting<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = (self.0.len() - self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn read_frame_rejects_2mb_length_after_12_bytes() {
        let mut bytes = unhex("000200010000000000200000");
        bytes.resize(3 << 20, 0xaa);
        let mut r = Counting(&bytes, 0);
        assert!(matches!(
            read_frame(&mut r),
            Err(FrameError::BadLength(0x200000))
        ));
        assert_eq!(r.1, 12, "nothing read past the prefix");
        let mut r = Counting(&[0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3], 0);
        assert!(matches!(read_frame(&mut r), Err(FrameError::BadLength(3))));
    }

    #[test]
    fn read_frame_reads_messages_back_to_back() {
        let mut bytes = unhex(LOOKUP);
        bytes.extend(unhex(LOOKUP));
        bytes.extend_from_slice(&[0, 1, 2]);
        let mut r = Counting(&bytes, 0);
        assert_eq!(read_frame(&mut r).unwrap(), unhex(LOOKUP));
        assert_eq!(read_frame(&mut r).unwrap(), unhex(LOOKUP));
        assert!(matches!(read_frame(&mut r), Err(FrameError::Io(_))));
        assert!(matches!(read_frame(&mut r), Err(FrameError::Closed)));
    }
}
