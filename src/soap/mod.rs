//! SOAP codec: bytes of an envelope to typed messages and back. Pure: no I/O, no clock.
//!
//! `decode` is liberal (any prefixes, reordered or missing optional children, wrong array
//! counts, empty `<Notification/>`); `encode` is strict (exact arrayType counts, `xsi:type` on
//! every Value, UTC `Z` times, never a cwmp-1-3/1-4 namespace).

mod chars;
mod cpe_types;
mod decode;
mod decode_rpc;
mod encode;
mod encode_resp;
pub mod limits;
mod types;
mod xml;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub mod xsd_check;

pub use cpe_types::*;
pub use decode::{decode, decode_with};
pub(crate) use encode::escape_into;
pub use encode::{encode_must_understand_fault, encode_request, encode_response, HeaderOpts};
pub use limits::Limits;
pub use types::*;
