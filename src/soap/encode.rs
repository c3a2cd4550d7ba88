//! Envelope encoding (placeholder until the codec lands).
use super::types::*;

/// Header options of an outgoing envelope.
#[derive(Clone, Debug, Default)]
pub struct HeaderOpts {
    /// `cwmp:SessionTimeout` (sent on the Inform when claiming CWMP 1.3+).
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions` (sent on the Inform when claiming CWMP 1.4).
    pub supported_versions: Option<String>,
}

/// Encodes a CPE request with our own `id`.
pub fn encode_request(_req: &CpeRequest, _id: &str, _ns: CwmpNs, _hdr: &HeaderOpts) -> Vec<u8> {
    Vec::new()
}

/// Encodes our answer to an ACS request, echoing its `id`.
pub fn encode_response(_resp: &CpeResponse, _id: Option<&str>, _ns: CwmpNs) -> Vec<u8> {
    Vec::new()
}
