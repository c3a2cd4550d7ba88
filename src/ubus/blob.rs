//! libubox `blob` TLV attributes: a checked view over bytes ([`BlobAttr`]), an iterator over
//! a run of attributes ([`BlobIter`]) and append-only emit helpers.
//!
//! Pure: no I/O. Contract (smoltcp's): once [`BlobAttr::check_len`] has passed, no accessor
//! panics; always use [`BlobAttr::new_checked`] on bytes that come from outside.
//!
//! Header (`u32` big-endian): bit 31 = EXTENDED (blobmsg attribute), bits 30..24 = id,
//! bits 23..0 = raw length (4-byte header + payload, without the trailing padding).

use std::fmt;

/// A malformed blob; the static text says what was wrong (no content, as in smoltcp).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireError(pub &'static str);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed ubus message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

/// Size of a blob attribute header.
pub const HDR_LEN: usize = 4;
/// The EXTENDED flag of the header (set on blobmsg attributes).
const EXTENDED: u32 = 0x8000_0000;
/// Largest raw length the 24-bit field can hold.
pub const MAX_RAW_LEN: usize = 0x00ff_ffff;

/// Rounds `n` up to the next multiple of 4 (blob padding).
pub const fn pad4(n: usize) -> usize {
    (n + 3) & !3
}

/// A view over one blob attribute at the start of a buffer.
#[derive(Clone, Copy, Debug)]
pub struct BlobAttr<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> BlobAttr<T> {
    /// Wraps a buffer without checking it (for emitting, or after [`check_len`](Self::check_len)).
    pub const fn new_unchecked(buffer: T) -> Self {
        BlobAttr { buffer }
    }

    /// Wraps a buffer after checking that the header and the padded attribute fit in it.
    ///
    /// # Errors
    /// See [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let a = Self::new_unchecked(buffer);
        a.check_len()?;
        Ok(a)
    }

    /// Checks the header is present, `len >= 4`, and `pad4(len)` fits in the buffer (the
    /// rule of libubox's `__blob_for_each_attr`).
    ///
    /// # Errors
    /// A short buffer or an impossible length.
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < HDR_LEN {
            return Err(WireError("blob header truncated"));
        }
        let len = self.raw_len();
        if len < HDR_LEN {
            return Err(WireError("blob length below 4"));
        }
        if pad4(len) > b.len() {
            return Err(WireError("blob length beyond buffer"));
        }
        Ok(())
    }

    fn word(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Returns the attribute id (7 bits: a `UBUS_ATTR_*` or a blobmsg type).
    pub fn id(&self) -> u8 {
        ((self.word() >> 24) & 0x7f) as u8
    }

    /// Returns whether the EXTENDED flag (blobmsg name header) is set.
    pub fn is_extended(&self) -> bool {
        self.word() & EXTENDED != 0
    }

    /// Returns the raw length field (header + payload, no padding).
    pub fn raw_len(&self) -> usize {
        (self.word() & MAX_RAW_LEN as u32) as usize
    }

    /// Returns the length including the trailing padding: where the next attribute starts.
    pub fn padded_len(&self) -> usize {
        pad4(self.raw_len())
    }

    /// Returns the payload (after the header, without padding).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HDR_LEN..self.raw_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> BlobAttr<T> {
    /// Writes the header word.
    ///
    /// # Panics
    /// If the buffer is shorter than 4 bytes (emit side only: the caller sized it).
    pub fn set_header(&mut self, id: u8, extended: bool, raw_len: usize) {
        let w = header_word(id, extended, raw_len);
        self.buffer.as_mut()[..HDR_LEN].copy_from_slice(&w.to_be_bytes());
    }
}

fn header_word(id: u8, extended: bool, raw_len: usize) -> u32 {
    let ext = if extended { EXTENDED } else { 0 };
    ext | (u32::from(id & 0x7f) << 24) | (raw_len.min(MAX_RAW_LEN) as u32)
}

/// Iterates over a run of attributes (a container's payload). Yields one `Err` on a
/// malformed attribute and then stops.
#[derive(Clone, Debug)]
pub struct BlobIter<'a> {
    rest: &'a [u8],
}

impl<'a> BlobIter<'a> {
    /// Iterates over `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        BlobIter { rest: payload }
    }
}

impl<'a> Iterator for BlobIter<'a> {
    type Item = Result<BlobAttr<&'a [u8]>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match BlobAttr::new_checked(self.rest) {
            Ok(a) => {
                let (this, rest) = self.rest.split_at(a.padded_len());
                self.rest = rest;
                Some(Ok(BlobAttr::new_unchecked(this)))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Appends an attribute with `payload`, zero-padded to 4 bytes.
pub fn put(out: &mut Vec<u8>, id: u8, extended: bool, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&[0; HDR_LEN]);
    out.extend_from_slice(payload);
    finish(out, start, id, extended);
}

/// Appends a `u32` attribute.
pub fn put_u32(out: &mut Vec<u8>, id: u8, v: u32) {
    put(out, id, false, &v.to_be_bytes());
}

/// Appends a `u8` attribute.
pub fn put_u8(out: &mut Vec<u8>, id: u8, v: u8) {
    put(out, id, false, &[v]);
}

/// Appends a NUL-terminated string attribute.
pub fn put_str(out: &mut Vec<u8>, id: u8, s: &str) {
    let start = out.len();
    out.extend_from_slice(&[0; HDR_LEN]);
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    finish(out, start, id, false);
}

/// Starts a nested attribute: reserves its header and returns its offset for [`finish`].
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HDR_LEN]);
    start
}

/// Ends the attribute started at `start`: writes its header (raw length = everything
/// appended since, which includes the children's padding) and pads it.
pub fn finish(out: &mut Vec<u8>, start: usize, id: u8, extended: bool) {
    let raw_len = out.len() - start;
    BlobAttr::new_unchecked(&mut out[start..]).set_header(id, extended, raw_len);
    out.resize(start + pad4(raw_len), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    static ATTR_BYTES: [u8; 12] = [0x02, 0, 0, 0x0a, b't', b'r', b'0', b'6', b'9', 0, 0, 0];

    #[test]
    fn test_deconstruct() {
        let a = BlobAttr::new_checked(&ATTR_BYTES[..]).unwrap();
        assert_eq!(a.id(), 2);
        assert!(!a.is_extended());
        assert_eq!(a.raw_len(), 10);
        assert_eq!(a.padded_len(), 12);
        assert_eq!(a.payload(), b"tr069\0");
    }

    #[test]
    fn test_construct() {
        let mut out = Vec::new();
        put_str(&mut out, 2, "tr069");
        assert_eq!(out, ATTR_BYTES);
        let mut out = Vec::new();
        let s = begin(&mut out);
        put_u8(&mut out, 9, 1);
        finish(&mut out, s, 0, false);
        assert_eq!(out, [0, 0, 0, 12, 0x09, 0, 0, 5, 1, 0, 0, 0]);
    }

    #[test]
    fn test_impossible_len() {
        assert!(BlobAttr::new_checked(&[0u8, 0, 0][..]).is_err());
        assert!(BlobAttr::new_checked(&[0u8, 0, 0, 3][..]).is_err());
        // raw length 10 needs 12 bytes with padding.
        assert!(BlobAttr::new_checked(&ATTR_BYTES[..10]).is_err());
        assert_eq!(
            BlobAttr::new_checked(&[0x7fu8, 0xff, 0xff, 0xff][..]).err(),
            Some(WireError("blob length beyond buffer"))
        );
    }

    #[test]
    fn iter_stops_after_error() {
        let mut buf = ATTR_BYTES.to_vec();
        buf.extend_from_slice(&[0, 0, 0, 2]);
        buf.extend_from_slice(&ATTR_BYTES);
        let items: Vec<_> = BlobIter::new(&buf).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert!(items[1].is_err());
    }
}
