//! Budgets on what one ACS message may cost to decode, whatever its size or compression ratio.
//!
//! The two a user may need to raise are in [`Limits`] (UCI `cpe.max_message_size` and
//! `cpe.max_params_per_request`); the structural ones are constants that no CWMP message gets
//! near. README.md ("Limits") lists them all.

/// Default of [`Limits::max_message`]: 4 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 4 << 20;
/// Default of [`Limits::max_names`].
pub const DEFAULT_MAX_NAMES: usize = 1024;
/// Deepest element nesting accepted (CWMP needs about 8).
pub const MAX_DEPTH: usize = 32;
/// Most attributes on one element (namespace declarations not counted).
pub const MAX_ATTRS: usize = 32;
/// Most namespace declarations in scope at once (an envelope declares about 6).
pub const MAX_NS_IN_SCOPE: usize = 32;

/// The configurable budgets of the decoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, in bytes after decompression (also the HTTP body limit).
    pub max_message: usize,
    /// Most entries in one request's list: names of GetParameterValues and
    /// GetParameterAttributes, parameters of SetParameterValues and SetParameterAttributes,
    /// vouchers, DU operations. A request over it is answered with fault 9004.
    pub max_names: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: DEFAULT_MAX_MESSAGE,
            max_names: DEFAULT_MAX_NAMES,
        }
    }
}

impl Limits {
    /// Most elements in one message: room for `max_names` entries of the widest struct
    /// (SetParameterAttributesStruct with an AccessList, about 7 elements) plus the envelope.
    pub fn max_elements(&self) -> usize {
        self.max_names.saturating_mul(8).saturating_add(256)
    }

    /// Most attributes in one message (CWMP messages carry about one per element).
    pub fn max_attributes(&self) -> usize {
        self.max_elements()
    }
}
