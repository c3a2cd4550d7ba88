//! A native ubus client (OpenWrt's message bus), without libubus.
//!
//! Layers, from bytes to threads:
//! - [`blob`]: libubox blob TLV attributes, a checked view over bytes (pure);
//! - [`blobmsg`]: JSON-like values inside messages, and their JSON conversion (pure);
//! - [`msg`]: the 8-byte header, typed `UBUS_ATTR_*` attributes, stream framing (pure);
//! - [`client`]: the `ubus` thread that owns the socket, and the [`UbusHandle`] the main
//!   loop calls through (synchronous calls with timeouts, events on a channel);
//! - `broker` (unit tests only): a ubusd-compatible broker on a unix socket; the
//!   integration tests meet OpenWrt's real ubusd instead.
//!
//! The wire rules follow `/work/shared/ubus/README.md` (checked against a real ubusd).

pub mod blob;
pub mod blobmsg;
#[cfg(test)]
pub(crate) mod broker;
pub mod client;
mod conn;
pub mod msg;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod vector_tests;

pub use blobmsg::{BlobmsgType, BlobmsgValue, Table};
pub use client::{
    ObjectInfo, UbusConfig, UbusEvent, UbusHandle, UbusMethod, UbusObject, UbusThread,
};
pub use msg::{Attr, MsgType, UbusMsg};

use std::fmt;

/// ubus status codes (`enum ubus_msg_status`).
pub mod status {
    /// Success.
    pub const OK: u32 = 0;
    /// Unknown message type.
    pub const INVALID_COMMAND: u32 = 1;
    /// Missing or ill-typed argument.
    pub const INVALID_ARGUMENT: u32 = 2;
    /// The object has no such method.
    pub const METHOD_NOT_FOUND: u32 = 3;
    /// No such object.
    pub const NOT_FOUND: u32 = 4;
    /// No reply data.
    pub const NO_DATA: u32 = 5;
    /// ACL refusal.
    pub const PERMISSION_DENIED: u32 = 6;
    /// Request timed out.
    pub const TIMEOUT: u32 = 7;
    /// Operation not supported.
    pub const NOT_SUPPORTED: u32 = 8;
    /// Anything else.
    pub const UNKNOWN_ERROR: u32 = 9;
    /// No connection to ubusd.
    pub const CONNECTION_FAILED: u32 = 10;
}

/// Why a ubus request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UbusError {
    /// ubusd or the object answered with a non-zero status (see [`status`]).
    Status(u32),
    /// No answer within the timeout.
    Timeout,
    /// Not connected to ubusd right now (the thread keeps retrying in the background).
    NotConnected,
    /// The connection to ubusd was lost while the request was pending.
    Disconnected,
    /// The request would exceed ubusd's 1 MiB message limit.
    TooLarge,
    /// The request itself is unusable (e.g. a body that is not a JSON object).
    InvalidRequest(&'static str),
    /// The ubus thread has stopped.
    Stopped,
}

impl fmt::Display for UbusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UbusError::Status(s) => {
                const NAMES: [&str; 14] = [
                    "success",
                    "invalid command",
                    "invalid argument",
                    "method not found",
                    "not found",
                    "no response",
                    "permission denied",
                    "request timed out",
                    "operation not supported",
                    "unknown error",
                    "connection failed",
                    "out of memory",
                    "parsing message data failed",
                    "system error",
                ];
                match NAMES.get(*s as usize) {
                    Some(n) => write!(f, "ubus status {s} ({n})"),
                    None => write!(f, "ubus status {s}"),
                }
            }
            UbusError::Timeout => f.write_str("ubus request timed out"),
            UbusError::NotConnected => f.write_str("not connected to ubusd"),
            UbusError::Disconnected => f.write_str("connection to ubusd lost"),
            UbusError::TooLarge => f.write_str("ubus message too large"),
            UbusError::InvalidRequest(why) => write!(f, "invalid ubus request: {why}"),
            UbusError::Stopped => f.write_str("ubus thread stopped"),
        }
    }
}

impl std::error::Error for UbusError {}
