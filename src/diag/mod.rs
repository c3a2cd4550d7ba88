//! Diagnostics (TR-143 and friends): the tests an ACS requests by setting
//! `DiagnosticsState=Requested`, run after the session off the main loop, then reported with
//! `8 DIAGNOSTICS COMPLETE`.
//!
//! This module is the contract between the agent's diagnostics cycle and the test engines:
//! - [`Kind`] names each diagnostics object and its TR-181 path;
//! - an engine checks one input at SPV time ([`check`], fault 9007 for a bad value) and runs
//!   a test from its [`Inputs`] ([`run`]), polling a [`Cancel`];
//! - it returns an [`Outcome`]: the final `DiagnosticsState` and the result parameters, named
//!   relative to the object (`"SuccessCount"`, `"RouteHops.1.Host"`).
//!
//! Each engine is a module of its own with a pure part (input checks, results computed from
//! timings) and an I/O part (sockets), so the pure part is unit-tested without a network.

pub mod bbfdm;
pub(crate) mod dns;
pub mod download;
mod ftp;
mod hop;
mod http1;
pub mod icmp;
pub mod ipping;
mod net;
pub mod nslookup;
pub mod server_selection;
mod sock;
pub mod store;
mod target;
mod tcp_connect;
#[cfg(test)]
pub(crate) mod testing;
mod tr143;
#[cfg(test)]
mod tr143_ftp_tests;
mod tr143_results;
#[cfg(test)]
mod tr143_tests;
pub mod traceroute;
pub mod udpecho;
pub mod upload;

use crate::fault::Fault;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Inputs of one test by parameter name relative to its object (`"Host"`,
/// `"NumberOfRepetitions"`), as the ACS set them (strings, already type-checked by the model).
pub type Inputs = BTreeMap<String, String>;

/// Every diagnostics test the daemon knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// ICMP echo (`Device.IP.Diagnostics.IPPing.`).
    IPPing,
    /// Hops to a host (`Device.IP.Diagnostics.TraceRoute.`).
    TraceRoute,
    /// HTTP download throughput, TR-143 (`Device.IP.Diagnostics.DownloadDiagnostics.`).
    Download,
    /// HTTP upload throughput, TR-143 (`Device.IP.Diagnostics.UploadDiagnostics.`).
    Upload,
    /// UDP echo round trips (`Device.IP.Diagnostics.UDPEchoDiagnostics.`).
    UDPEcho,
    /// The nearest of several hosts (`Device.IP.Diagnostics.ServerSelectionDiagnostics.`).
    ServerSelection,
    /// DNS lookups (`Device.DNS.Diagnostics.NSLookupDiagnostics.`).
    NSLookup,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 7] = [
        Kind::IPPing,
        Kind::TraceRoute,
        Kind::Download,
        Kind::Upload,
        Kind::UDPEcho,
        Kind::ServerSelection,
        Kind::NSLookup,
    ];

    /// The TR-181 object path, with its trailing dot.
    pub fn object(self) -> &'static str {
        match self {
            Kind::IPPing => "Device.IP.Diagnostics.IPPing.",
            Kind::TraceRoute => "Device.IP.Diagnostics.TraceRoute.",
            Kind::Download => "Device.IP.Diagnostics.DownloadDiagnostics.",
            Kind::Upload => "Device.IP.Diagnostics.UploadDiagnostics.",
            Kind::UDPEcho => "Device.IP.Diagnostics.UDPEchoDiagnostics.",
            Kind::ServerSelection => "Device.IP.Diagnostics.ServerSelectionDiagnostics.",
            Kind::NSLookup => "Device.DNS.Diagnostics.NSLookupDiagnostics.",
        }
    }

    /// The kind whose object is exactly `object` (with its trailing dot).
    pub fn from_object(object: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.object() == object)
    }

    /// The kind whose object is `path` or contains it.
    pub fn of_path(path: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| path.starts_with(k.object()))
    }
}

/// The parameter that asks for a test (`Requested`) and reports its end.
pub const STATE_PARAM: &str = "DiagnosticsState";

/// The end of a test: its final `DiagnosticsState` and its result parameters.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// `"Complete"` or one of the object's `Error_...` values.
    pub state: String,
    /// Result parameters relative to the object, table rows included (`"RouteHops.1.Host"`).
    pub values: Vec<(String, String)>,
}

impl Outcome {
    /// The value of result `name` (relative to the object), if the test gave one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A test that ended in error `state` (`"Error_CannotResolveHostName"`...), with no results.
    pub fn error(state: &str) -> Outcome {
        Outcome {
            state: state.to_string(),
            values: Vec::new(),
        }
    }
}

/// Asks a running test to stop (a new request for the same kind, or shutdown). Engines poll it
/// at least every 100 ms and then return promptly.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag not yet raised.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Raises the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the test should stop now.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Checks one input (`name` relative to the kind's object) at SPV time: 9007 for a value out of
/// the range TR-181 or our limits allow. Unknown names pass (the model checks them).
pub fn check(kind: Kind, name: &str, value: &str) -> Result<(), Fault> {
    match kind {
        Kind::IPPing => ipping::check(name, value),
        Kind::TraceRoute => traceroute::check(name, value),
        Kind::Download => download::check(name, value),
        Kind::Upload => upload::check(name, value),
        Kind::UDPEcho => udpecho::check(name, value),
        Kind::ServerSelection => server_selection::check(name, value),
        Kind::NSLookup => nslookup::check(name, value),
    }
}

/// Runs one test to its end (blocking: call it on a worker thread).
pub fn run(kind: Kind, inputs: &Inputs, cancel: &Cancel) -> Outcome {
    match kind {
        Kind::IPPing => ipping::run(inputs, cancel),
        Kind::TraceRoute => traceroute::run(inputs, cancel),
        Kind::Download => download::run(inputs, cancel),
        Kind::Upload => upload::run(inputs, cancel),
        Kind::UDPEcho => udpecho::run(inputs, cancel),
        Kind::ServerSelection => server_selection::run(inputs, cancel),
        Kind::NSLookup => nslookup::run(inputs, cancel),
    }
}
