//! Envelope decoding (placeholder until the codec lands).
use super::types::*;
use crate::fault::{Fault, FaultCode};

/// Decodes one ACS envelope.
pub fn decode(_xml: &[u8]) -> Result<AcsEnvelope, DecodeError> {
    Err(DecodeError {
        fault: Fault::new(FaultCode::INTERNAL_ERROR),
        id: None,
        method: None,
        is_request: false,
    })
}
