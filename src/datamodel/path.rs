//! Parameter path syntax (digest section 12), pure.

use crate::fault::Fault;
use std::fmt;

/// Longest name TR-069 allows (string(256)).
pub const MAX_PATH_LEN: usize = 256;

/// A syntactically valid parameter name or partial path.
///
/// Full names have no trailing dot (`Device.DeviceInfo.UpTime`); partial paths end with one
/// (`Device.IP.Interface.`). The empty path is the root. Instance segments may be numbers,
/// `[alias]` or `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamPath(String);

impl ParamPath {
    /// Checks the syntax of `s`; a malformed name gives 9005.
    pub fn parse(s: &str) -> Result<ParamPath, Fault> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(ParamPath(String::new()));
        }
        if s.len() > MAX_PATH_LEN || s.starts_with('.') || s.contains("..") {
            return Err(Fault::invalid_name(s));
        }
        let body = s.strip_suffix('.').unwrap_or(s);
        for seg in body.split('.') {
            let ok = if let Some(alias) = seg.strip_prefix('[') {
                alias.ends_with(']') && alias.len() > 1
            } else {
                !seg.is_empty()
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*')
            };
            if !ok {
                return Err(Fault::invalid_name(s));
            }
        }
        Ok(ParamPath(s.to_string()))
    }

    /// The path as on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the root (empty path).
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// True for a partial path (object, table or instance) or the root.
    pub fn is_partial(&self) -> bool {
        self.0.is_empty() || self.0.ends_with('.')
    }

    /// The segments, without the trailing empty one of a partial path.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0
            .strip_suffix('.')
            .unwrap_or(&self.0)
            .split('.')
            .filter(|s| !s.is_empty())
    }
}

impl fmt::Display for ParamPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_paths_aliases_and_root() {
        assert!(ParamPath::parse("Device.DeviceInfo.UpTime").is_ok());
        assert!(ParamPath::parse("Device.IP.Interface.")
            .unwrap()
            .is_partial());
        assert!(ParamPath::parse("Device.IP.Interface.[wan].Enable").is_ok());
        assert!(ParamPath::parse("Device.WiFi.SSID.*.SSID").is_ok());
        assert!(ParamPath::parse("").unwrap().is_root());
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "Device..X",
            ".Device",
            "Device.A B",
            "Device.[",
            "Device.[].X",
        ] {
            assert_eq!(ParamPath::parse(bad).unwrap_err().code.0, 9005, "{bad}");
        }
        assert!(ParamPath::parse(&"a.".repeat(200)).is_err());
    }

    #[test]
    fn segments_skip_trailing_dot() {
        let p = ParamPath::parse("Device.IP.").unwrap();
        assert_eq!(p.segments().collect::<Vec<_>>(), ["Device", "IP"]);
    }
}
