//! UDP Lightweight Notifications (TR-069 Annex M, CWMP 1.4): the message, its signature, how
//! changes are packed into datagrams, and when passive ones are flushed. Pure: the caller
//! supplies the time, the cnonces and the credentials, and sends the bytes.
//!
//! One datagram is an HTTP-like request whose body is a `Notification` document of
//! `cwmp-UDPLightweightNotification-1-0.xsd`:
//!
//! ```text
//! POST / HTTP/1.1
//! Host: <host>:<port>
//! Content-Type: text/xml; charset=utf-8
//! Content-Length: <body length>
//! Signature: <HMAC-SHA1(ManagementServer.Password, body), 40 upper-case hex digits>
//!
//! <?xml version="1.0" encoding="UTF-8"?>
//! <lwn:Notification xmlns:lwn="urn:broadband-forum-org:cwmp:lwnotif-1-0" ...>
//!   <lwn:TS>…</lwn:TS><lwn:UN>…</lwn:UN><lwn:CN>…</lwn:CN><lwn:OUI>…</lwn:OUI>
//!   <lwn:ProductClass>…</lwn:ProductClass><lwn:SerialNumber>…</lwn:SerialNumber>
//!   <lwn:Param><lwn:Name>…</lwn:Name><lwn:Value xsi:type="xsd:…">…</lwn:Value></lwn:Param>…
//! </lwn:Notification>
//! ```
//!
//! Every child is namespace-qualified: the XSD declares them all as global elements and
//! refers to them with `ref=`, so `elementFormDefault="unqualified"` does not apply to them
//! (an unqualified `<TS>` fails validation). The signature covers the body exactly as sent;
//! TS (Unix seconds) and CN (a fresh random cnonce) make every signed body unique, so a
//! receiver can refuse replays. The framing follows the C icwmp daemon, the only peer
//! implementation at hand, without its typos (`POST /HTTPS/1.1`, `Content-Lenght`,
//! `test/xml`).

use crate::crypto;
use crate::datamodel::{ParamType, ParamValue};

/// The message's namespace.
pub const NAMESPACE: &str = "urn:broadband-forum-org:cwmp:lwnotif-1-0";
/// Destination port when none is configured (TR-181 UDPLightweightNotificationPort).
pub const DEFAULT_PORT: u16 = 7547;
/// Size a datagram is kept under when it can be (Ethernet MTU minus IPv4 and UDP headers), so
/// that it is not fragmented: more changes than fit go out in several messages.
pub const TARGET_DATAGRAM: usize = 1472;
/// The largest UDP payload (IPv4): a single parameter whose message exceeds it is dropped.
pub const MAX_DATAGRAM: usize = 65507;
/// The Unknown Time (TR-106 3.2) in Unix seconds.
const UNKNOWN_TIME_UNIX: i64 = -62135596800;
/// Longest Name the XSD allows.
const MAX_NAME: usize = 256;

/// Whether a Notification level asks for lightweight notifications (3-6).
pub fn is_lightweight(level: u8) -> bool {
    (3..=6).contains(&level)
}

/// Whether a level sends its lightweight notification at once (5 active lightweight, 6
/// passive + active lightweight); 3 and 4 wait for the trigger or an active one.
pub fn is_active_lightweight(level: u8) -> bool {
    matches!(level, 5 | 6)
}

/// Who the message says it comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// ManagementServer.Username (UN).
    pub username: String,
    /// DeviceInfo.ManufacturerOUI (six upper-case hex digits).
    pub oui: String,
    /// DeviceInfo.ProductClass.
    pub product_class: String,
    /// DeviceInfo.SerialNumber.
    pub serial_number: String,
}

/// Appends `s` XML-escaped, at most `max` characters of it (the XSD's maxLength).
fn text(out: &mut String, s: &str, max: usize) {
    let cut = s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i]);
    crate::soap::escape_into(out, cut);
}

fn element(out: &mut String, name: &str, value: &str, max: usize) {
    out.push_str("<lwn:");
    out.push_str(name);
    out.push('>');
    text(out, value, max);
    out.push_str("</lwn:");
    out.push_str(name);
    out.push('>');
}

/// The `xsi:type` of a value. `xsd:base64` (the CWMP habit) is not a type of XML Schema, and
/// the LWN Value is validated as `anySimpleType` against real types: base64 is sent as
/// `xsd:base64Binary`.
fn xsi_type(ty: ParamType) -> &'static str {
    match ty {
        ParamType::Base64 => "xsd:base64Binary",
        t => t.xsd_name(),
    }
}

/// One `<lwn:Param>`.
fn param(out: &mut String, p: &ParamValue) {
    out.push_str("<lwn:Param>");
    element(out, "Name", &p.name, MAX_NAME);
    out.push_str("<lwn:Value xsi:type=\"");
    out.push_str(xsi_type(p.ty));
    out.push_str("\">");
    text(out, &p.value, usize::MAX);
    out.push_str("</lwn:Value></lwn:Param>");
}

/// The start of a document, up to and including SerialNumber.
fn head(ts: i64, cnonce: &str, id: &Identity) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<lwn:Notification xmlns:lwn=\"");
    out.push_str(NAMESPACE);
    out.push_str(concat!(
        "\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"",
        " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
    ));
    // TS is an xs:int: clamp rather than overflow (after 2038 the schema itself is stuck).
    let ts = ts.clamp(0, i64::from(i32::MAX));
    element(&mut out, "TS", &ts.to_string(), usize::MAX);
    element(&mut out, "UN", &id.username, 256);
    element(&mut out, "CN", cnonce, usize::MAX);
    element(&mut out, "OUI", &id.oui.to_ascii_uppercase(), 6);
    element(&mut out, "ProductClass", &id.product_class, 64);
    element(&mut out, "SerialNumber", &id.serial_number, 64);
    out
}

const TAIL: &str = "</lwn:Notification>\n";

/// The Notification document for `params` (at least one, as the XSD requires).
pub fn encode_xml(ts: i64, cnonce: &str, id: &Identity, params: &[ParamValue]) -> String {
    let mut out = head(ts, cnonce, id);
    for p in params {
        param(&mut out, p);
    }
    out.push_str(TAIL);
    out
}

/// The Signature header value: HMAC-SHA1 of `body` keyed with `password`
/// (ManagementServer.Password), as 40 upper-case hex digits.
pub fn signature(password: &str, body: &[u8]) -> String {
    crypto::hmac_sha1(password.as_bytes(), body)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// The value of the Host header for `host` and `port` (IPv6 literals in brackets).
pub fn host_header(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The header lines before a body of `body_len` bytes.
fn frame_head(host: &str, signature: &str, body_len: usize) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml; charset=utf-8\r\n\
         Content-Length: {body_len}\r\nSignature: {signature}\r\n\r\n"
    )
}

/// One signed datagram carrying `body` (see the module documentation).
pub fn datagram(host: &str, password: &str, body: &str) -> Vec<u8> {
    let sig = signature(password, body.as_bytes());
    let mut out = frame_head(host, &sig, body.len()).into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// What one flush sends.
#[derive(Debug, Default)]
pub struct Packed {
    /// The datagrams, in order.
    pub datagrams: Vec<Vec<u8>>,
    /// Parameters left out because their message alone exceeds [`MAX_DATAGRAM`].
    pub dropped: Vec<String>,
}

/// Packs `params` into as few signed datagrams as keep each under [`TARGET_DATAGRAM`] (a
/// parameter too large for that goes alone, up to [`MAX_DATAGRAM`]). `cnonce` gives a fresh
/// cnonce per message.
pub fn pack(
    ts: i64,
    id: &Identity,
    params: &[ParamValue],
    host: &str,
    password: &str,
    mut cnonce: impl FnMut() -> String,
) -> Packed {
    // Header lines are at most this much longer than the host name: the byte budget of a
    // message is checked against it before the message is built and signed.
    let frame_len = frame_head(host, &"0".repeat(40), 0).len() + 20;
    let mut packed = Packed::default();
    let mut i = 0;
    while i < params.len() {
        let cn = cnonce();
        let mut doc = head(ts, &cn, id);
        let mut taken = 0;
        while let Some(p) = params.get(i + taken) {
            let mut one = String::new();
            param(&mut one, p);
            let len = frame_len + doc.len() + one.len() + TAIL.len();
            if taken > 0 && len > TARGET_DATAGRAM {
                break;
            }
            if taken == 0 && len > MAX_DATAGRAM {
                log::warn!(
                    "lightweight notification of {} dropped: {len} bytes",
                    p.name
                );
                packed.dropped.push(p.name.clone());
                i += 1;
                continue;
            }
            doc.push_str(&one);
            taken += 1;
        }
        if taken == 0 {
            continue;
        }
        doc.push_str(TAIL);
        packed.datagrams.push(datagram(host, password, &doc));
        i += taken;
    }
    packed
}

/// The host lightweight notifications go to: `configured`
/// (UDPLightweightNotificationHost), or the host of the ACS URL when that is empty (TR-181).
/// IPv6 literals come without brackets. `None` when neither gives one.
pub fn destination_host(configured: &str, acs_url: &str) -> Option<String> {
    let host = match configured.trim() {
        "" => crate::http::url::Url::parse(acs_url)
            .ok()?
            .host()
            .to_string(),
        h => h.to_string(),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| host.to_string())
}

/// When the pending passive lightweight notifications go out next, strictly after `now`
/// (Unix seconds): LightweightNotificationTriggerInterval with TriggerTime as its phase
/// (the Unknown Time or none: the phase is `started`). `None` when the interval is 0 (then
/// only an active lightweight notification flushes them).
pub fn next_trigger(now: i64, interval: u32, time: Option<i64>, started: i64) -> Option<i64> {
    if interval == 0 {
        return None;
    }
    // The Unknown Time (0001-01-01T00:00:00Z) means "no phase".
    let reference = time.filter(|t| *t > UNKNOWN_TIME_UNIX);
    Some(crate::schedule::next_periodic(
        now, interval, reference, started,
    ))
}

/// Splits a datagram into its header lines and body, checking Content-Length and the
/// Signature with `password`: what a receiver does. `Err` says what is wrong.
pub fn verify(datagram: &[u8], password: &str) -> Result<(Vec<(String, String)>, String), String> {
    let text = std::str::from_utf8(datagram).map_err(|e| format!("not UTF-8: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no end of headers")?;
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default();
    if !start.starts_with("POST ") || !start.ends_with(" HTTP/1.1") {
        return Err(format!("bad request line {start:?}"));
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    if get("Content-Length") != Some(body.len().to_string().as_str()) {
        return Err(format!(
            "Content-Length {:?} for {}",
            get("Content-Length"),
            body.len()
        ));
    }
    let sig = get("Signature").ok_or("no Signature")?;
    let want = signature(password, body.as_bytes());
    if !crypto::ct_eq(sig.to_ascii_uppercase().as_bytes(), want.as_bytes()) {
        return Err(format!("bad Signature {sig}"));
    }
    Ok((headers, body.to_string()))
}

#[cfg(test)]
#[path = "lwn_tests.rs"]
mod tests;
