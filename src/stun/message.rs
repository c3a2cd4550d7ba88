//! STUN Binding messages as TR-069 Annex G uses them (RFC 5389 framing, which RFC 3489
//! servers also read: the magic cookie is then the first four bytes of their 16-byte
//! transaction id). Sans-IO: bytes in, bytes out.
//!
//! A request carries CONNECTION-REQUEST-BINDING, BINDING-CHANGE when the mapping changed,
//! and USERNAME + MESSAGE-INTEGRITY once the server asked for credentials (error 401).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::crypto::hmac_sha1;

/// RFC 5389 magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Binding Request message type.
pub const BINDING_REQUEST: u16 = 0x0001;
/// Binding success response.
pub const BINDING_RESPONSE: u16 = 0x0101;
/// Binding error response.
pub const BINDING_ERROR: u16 = 0x0111;
/// MAPPED-ADDRESS attribute.
pub const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
/// USERNAME attribute.
pub const ATTR_USERNAME: u16 = 0x0006;
/// MESSAGE-INTEGRITY attribute (HMAC-SHA1).
pub const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
/// ERROR-CODE attribute.
pub const ATTR_ERROR_CODE: u16 = 0x0009;
/// XOR-MAPPED-ADDRESS attribute (RFC 5389).
pub const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
/// CONNECTION-REQUEST-BINDING (TR-111 part 2).
pub const ATTR_CONNECTION_REQUEST_BINDING: u16 = 0xC001;
/// BINDING-CHANGE (TR-111 part 2).
pub const ATTR_BINDING_CHANGE: u16 = 0xC002;
/// The value of CONNECTION-REQUEST-BINDING: 20 bytes, with the trailing space.
pub const CR_BINDING_VALUE: &[u8; 20] = b"dslforum.org/TR-111 ";
/// Header length.
const HEADER: usize = 20;

/// A transaction id: the 12 bytes after the magic cookie.
pub type TxId = [u8; 12];

/// What goes into a Binding Request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindingRequest<'a> {
    /// Transaction id.
    pub txid: TxId,
    /// Add BINDING-CHANGE (the mapped address changed since the last report).
    pub binding_change: bool,
    /// USERNAME and the MESSAGE-INTEGRITY key (STUNUsername, STUNPassword).
    pub credentials: Option<(&'a str, &'a str)>,
}

fn put_attr(out: &mut Vec<u8>, ty: u16, value: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    // Attribute values we write are all short (username capped by the caller's config).
    out.extend_from_slice(&(value.len().min(0xffff) as u16).to_be_bytes());
    out.extend_from_slice(value);
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn set_length(msg: &mut [u8], len: usize) {
    let l = (len.min(0xffff) as u16).to_be_bytes();
    msg[2..4].copy_from_slice(&l);
}

/// Encodes a Binding Request.
pub fn encode_request(req: &BindingRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&req.txid);
    put_attr(&mut out, ATTR_CONNECTION_REQUEST_BINDING, CR_BINDING_VALUE);
    if req.binding_change {
        put_attr(&mut out, ATTR_BINDING_CHANGE, &[]);
    }
    if let Some((user, pass)) = req.credentials {
        let user = &user.as_bytes()[..user.len().min(508)];
        put_attr(&mut out, ATTR_USERNAME, user);
        // RFC 5389 §15.4: the length field counts the MESSAGE-INTEGRITY attribute while the
        // HMAC covers everything before it.
        let len = out.len() - HEADER + 24;
        set_length(&mut out, len);
        let mac = hmac_sha1(pass.as_bytes(), &out);
        put_attr(&mut out, ATTR_MESSAGE_INTEGRITY, &mac);
    }
    let len = out.len() - HEADER;
    set_length(&mut out, len);
    out
}

/// A decoded Binding response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Success, with the address the server saw the request from.
    Mapped(SocketAddr),
    /// Error response with its code (e.g. 401: credentials needed).
    Error(u16),
}

/// Why a datagram is not a usable Binding response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a STUN message (short, bad length, top bits set).
    NotStun,
    /// A STUN message but not a Binding response.
    Unexpected(u16),
    /// A success response without a (readable) mapped address.
    NoAddress,
}

/// True when `data` looks like a STUN message (first two bits zero and length consistent);
/// an HTTP-form UDP connection request starts with `G` and never does.
pub fn is_stun(data: &[u8]) -> bool {
    data.len() >= HEADER
        && data[0] & 0xc0 == 0
        && usize::from(u16::from_be_bytes([data[2], data[3]])) == data.len() - HEADER
        && data.len() % 4 == 0
}

/// The transaction id of a STUN message (caller checked [`is_stun`]).
pub fn txid(data: &[u8]) -> Option<TxId> {
    data.get(8..20)?.try_into().ok()
}

/// Decodes a Binding response (linear in the datagram, never panics).
///
/// # Errors
/// See [`DecodeError`].
pub fn decode_response(data: &[u8]) -> Result<Response, DecodeError> {
    if !is_stun(data) {
        return Err(DecodeError::NotStun);
    }
    let ty = u16::from_be_bytes([data[0], data[1]]);
    let cookie = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    let mut mapped = None;
    let mut xor_mapped = None;
    let mut error = None;
    let mut at = HEADER;
    while at + 4 <= data.len() {
        let aty = u16::from_be_bytes([data[at], data[at + 1]]);
        let alen = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let start = at + 4;
        let Some(value) = data.get(start..start + alen) else {
            return Err(DecodeError::NotStun);
        };
        match aty {
            ATTR_MAPPED_ADDRESS => mapped = address(value, None),
            ATTR_XOR_MAPPED_ADDRESS if cookie == MAGIC_COOKIE => {
                xor_mapped = address(value, Some(&data[4..20]))
            }
            ATTR_ERROR_CODE if value.len() >= 4 => {
                error = Some(u16::from(value[2] & 0x07) * 100 + u16::from(value[3]))
            }
            _ => {}
        }
        at = start + alen.div_ceil(4) * 4;
    }
    match ty {
        BINDING_RESPONSE => xor_mapped
            .or(mapped)
            .map(Response::Mapped)
            .ok_or(DecodeError::NoAddress),
        BINDING_ERROR => Ok(Response::Error(error.unwrap_or(0))),
        other => Err(DecodeError::Unexpected(other)),
    }
}

/// A (XOR-)MAPPED-ADDRESS value; `xor` is the cookie and transaction id to unmask with.
fn address(v: &[u8], xor: Option<&[u8]>) -> Option<SocketAddr> {
    let mask = |i: usize| xor.map_or(0, |x| x[i]);
    let port = u16::from_be_bytes([v.get(2)? ^ mask(0), v.get(3)? ^ mask(1)]);
    let ip = match (v.get(1)?, v.len()) {
        (1, 8) => {
            let b: [u8; 4] = std::array::from_fn(|i| v[4 + i] ^ mask(i));
            IpAddr::V4(Ipv4Addr::from(b))
        }
        (2, 20) => {
            let b: [u8; 16] = std::array::from_fn(|i| v[4 + i] ^ mask(i));
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
