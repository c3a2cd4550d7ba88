//! UploadDiagnostics (TR-143): an HTTP PUT of `TestFileLength` bytes to `UploadURL` (or a
//! chunked body for `TimeBasedTestDuration` seconds) over `NumberOfConnections` parallel
//! connections, each sending the whole length (see [`super::tr143`]); or an FTP STOR in
//! passive mode.

use super::download::check_input;
use super::net;
use super::tr143;
use super::tr143_results::Dir;
use super::{Cancel, Inputs, Outcome};
use crate::fault::Fault;

/// `UploadTransports`: what this engine speaks.
pub const TRANSPORTS: &str = "HTTP,FTP";

/// `UploadDiagnosticsMaxConnections`: most parallel connections (more is 9007).
pub const MAX_CONNECTIONS: u64 = super::tr143::MAX_CONNECTIONS;

/// `UploadDiagnosticsMaxIncrementalResult`: most `IncrementalResult` rows kept.
pub const MAX_INCREMENTAL: usize = super::tr143::MAX_INCREMENTAL;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(name: &str, value: &str) -> Result<(), Fault> {
    check_input(name, value)
}

/// Runs the test (see [`super::run`]).
pub fn run(inputs: &Inputs, cancel: &Cancel) -> Outcome {
    tr143::run(
        Dir::Upload,
        net::text(inputs, "UploadURL"),
        inputs,
        cancel,
        tr143::LIMITS,
    )
}
