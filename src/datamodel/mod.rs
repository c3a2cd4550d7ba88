//! The data model behind one trait: the RPC handlers see only [`DataModel`].
//!
//! Backends: [`embedded`] (a TR-181 subset with live host values, the default off OpenWrt) and
//! [`bbfdm`] (IOPSYS bbfdm over ubus, on OpenWrt). Notification attributes and the ParameterKey belong to the agent, not
//! to a backend.

pub mod bbfdm;
pub mod embedded;
mod path;

pub use path::ParamPath;

use crate::fault::{Fault, FaultCode};
use std::fmt;

/// The TR-106 type of a parameter, as carried in `xsi:type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// `xsd:string` (also lists and enumerations).
    String,
    /// `xsd:int`.
    Int,
    /// `xsd:unsignedInt`.
    UnsignedInt,
    /// `xsd:long`.
    Long,
    /// `xsd:unsignedLong`.
    UnsignedLong,
    /// `xsd:boolean`.
    Boolean,
    /// `xsd:dateTime`.
    DateTime,
    /// `xsd:base64`.
    Base64,
    /// `xsd:hexBinary`.
    HexBinary,
}

impl ParamType {
    /// The `xsi:type` value to emit.
    pub fn xsd_name(self) -> &'static str {
        match self {
            ParamType::String => "xsd:string",
            ParamType::Int => "xsd:int",
            ParamType::UnsignedInt => "xsd:unsignedInt",
            ParamType::Long => "xsd:long",
            ParamType::UnsignedLong => "xsd:unsignedLong",
            ParamType::Boolean => "xsd:boolean",
            ParamType::DateTime => "xsd:dateTime",
            ParamType::Base64 => "xsd:base64",
            ParamType::HexBinary => "xsd:hexBinary",
        }
    }

    /// Parses an `xsi:type` hint (any prefix, case-insensitive local name); `None` if unknown.
    pub fn from_xsd(name: &str) -> Option<ParamType> {
        let local = name.rsplit(':').next().unwrap_or(name).to_ascii_lowercase();
        Some(match local.as_str() {
            "string" | "anysimpletype" => ParamType::String,
            "int" | "integer" => ParamType::Int,
            "unsignedint" => ParamType::UnsignedInt,
            "long" => ParamType::Long,
            "unsignedlong" => ParamType::UnsignedLong,
            "boolean" | "bool" => ParamType::Boolean,
            "datetime" => ParamType::DateTime,
            "base64" | "base64binary" => ParamType::Base64,
            "hexbinary" => ParamType::HexBinary,
            _ => return None,
        })
    }

    /// Checks that `value` is a valid lexical form of this type; returns the canonical form
    /// (booleans become `true`/`false`... kept as given otherwise). `Err` carries 9007.
    pub fn check_value(self, value: &str) -> Result<String, Fault> {
        let bad = || {
            Fault::with_message(
                FaultCode::INVALID_PARAMETER_VALUE,
                format!("'{value}' is not a valid {}", self.xsd_name()),
            )
        };
        let v = value.trim();
        match self {
            ParamType::String | ParamType::Base64 | ParamType::HexBinary => Ok(value.to_string()),
            ParamType::Int => v.parse::<i32>().map(|n| n.to_string()).map_err(|_| bad()),
            ParamType::UnsignedInt => v.parse::<u32>().map(|n| n.to_string()).map_err(|_| bad()),
            ParamType::Long => v.parse::<i64>().map(|n| n.to_string()).map_err(|_| bad()),
            ParamType::UnsignedLong => v.parse::<u64>().map(|n| n.to_string()).map_err(|_| bad()),
            ParamType::Boolean => match v.to_ascii_lowercase().as_str() {
                "1" | "true" => Ok("true".into()),
                "0" | "false" => Ok("false".into()),
                _ => Err(bad()),
            },
            ParamType::DateTime => crate::time::parse_datetime(v)
                .map(|_| v.to_string())
                .ok_or_else(bad),
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.xsd_name())
    }
}

/// A parameter and its value, as in `ParameterValueStruct`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamValue {
    /// Full parameter name.
    pub name: String,
    /// Value in its lexical form.
    pub value: String,
    /// Type, emitted as `xsi:type`.
    pub ty: ParamType,
}

/// A name returned by GetParameterNames, as in `ParameterInfoStruct`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    /// Full parameter name, or an object path ending with `.`.
    pub name: String,
    /// Whether SPV may set it (for a table: AddObject allowed; for an instance: DeleteObject).
    pub writable: bool,
}

/// What the data model says about notifications on a parameter (`activeNotify` in TR-181).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ActiveNotify {
    /// Any notification value may be set.
    #[default]
    Normal,
    /// Active notification (2, 5, 6) may be refused with 9009.
    CanDeny,
    /// Always active; the ACS cannot change it (SPA gives 9009).
    ForceEnabled,
    /// Active by default; the ACS may lower it.
    ForceDefaultEnabled,
}

/// Whether a change took effect when the RPC answers (`Status` 0) or later (`Status` 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyStatus {
    /// Applied and in effect (Status 0).
    Applied,
    /// Committed, takes effect after the session or a reboot (Status 1).
    Pending,
}

impl ApplyStatus {
    /// The wire value of `Status`.
    pub fn as_status(self) -> u8 {
        match self {
            ApplyStatus::Applied => 0,
            ApplyStatus::Pending => 1,
        }
    }
}

/// One value to set, as the ACS sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetValue {
    /// Full parameter name.
    pub name: String,
    /// The value's lexical form.
    pub value: String,
    /// The `xsi:type` the ACS gave, if any (a hint: the data-model type decides).
    pub type_hint: Option<String>,
}

/// A data-model backend. All paths are as on the wire; `""` and `"Device."` name the root.
///
/// Every method is all-or-nothing: on `Err` nothing changed.
pub trait DataModel {
    /// Values of a full parameter name or of everything below a partial path.
    /// Unknown names give 9005.
    fn get_values(&mut self, path: &str) -> Result<Vec<ParamValue>, Fault>;

    /// [`get_values`](Self::get_values) of several paths: one result per path, in order. A
    /// backend behind IPC (bbfdm) answers them all in one round trip.
    fn get_values_many(&mut self, paths: &[&str]) -> Vec<Result<Vec<ParamValue>, Fault>> {
        paths.iter().map(|p| self.get_values(p)).collect()
    }

    /// Whether [`get_values_many`](Self::get_values_many) saves round trips. Without it, a
    /// GPV of many paths reads them one at a time, so that only one path's values (not every
    /// path's, overlaps included) are held beside the answer.
    fn batches_reads(&self) -> bool {
        false
    }

    /// Names below `path` (GetParameterNames semantics, digest section 7.1):
    /// `next_level == false` lists the item itself and everything beneath it;
    /// `true` lists only the direct children (9003 if `path` is a parameter).
    fn get_names(&mut self, path: &str, next_level: bool) -> Result<Vec<ParamInfo>, Fault>;

    /// Sets all values atomically. A failure lists every failing parameter in
    /// `Fault::param_faults` (top-level 9003), or is a plain fault such as 9002.
    fn set_values(&mut self, values: &[SetValue]) -> Result<ApplyStatus, Fault>;

    /// Adds an instance to the table `path` (ending with `.`); returns its number.
    fn add_object(&mut self, path: &str) -> Result<(u32, ApplyStatus), Fault>;

    /// Deletes the instance `path` (ending with `.`) and everything beneath it.
    fn delete_object(&mut self, path: &str) -> Result<ApplyStatus, Fault>;

    /// The notification policy of a parameter (defaults to [`ActiveNotify::Normal`]).
    fn active_notify(&mut self, _name: &str) -> ActiveNotify {
        ActiveNotify::Normal
    }

    /// Called once a session has ended: apply what was deferred (service restarts...).
    fn end_of_session(&mut self) {}

    /// True for the bbfdm backend (software modules then go through bbfdm `operate`).
    fn is_bbfdm(&self) -> bool {
        false
    }

    /// What the values come from that events can tell about (files, interfaces), for the
    /// change watcher; everything else is found by the notification poll.
    fn change_sources(&self) -> crate::notify::watch::Sources {
        crate::notify::watch::Sources::default()
    }
}

/// Where configuration-backed parameters live (`Device.ManagementServer.*`, DeviceInfo
/// overrides): the UCI file `/etc/config/cwmp` in the daemon, a map in tests.
///
/// Keys are `(section, option)` where `section` is a UCI section *name* (`acs`, `cpe`, `lwn`).
pub trait ConfigStore {
    /// The current value of an option, if set.
    fn get(&self, section: &str, option: &str) -> Option<String>;
    /// Writes several options at once, durably; all or nothing.
    fn set(&mut self, changes: &[(String, String, String)]) -> Result<(), String>;
}

/// A [`ConfigStore`] in memory, for tests and for the CLI without a config file.
#[derive(Clone, Debug, Default)]
pub struct MemConfigStore {
    /// `(section, option) -> value`.
    pub values: std::collections::BTreeMap<(String, String), String>,
}

impl ConfigStore for MemConfigStore {
    fn get(&self, section: &str, option: &str) -> Option<String> {
        self.values
            .get(&(section.to_string(), option.to_string()))
            .cloned()
    }

    fn set(&mut self, changes: &[(String, String, String)]) -> Result<(), String> {
        for (s, o, v) in changes {
            self.values.insert((s.clone(), o.clone()), v.clone());
        }
        Ok(())
    }
}
