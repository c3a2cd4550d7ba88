//! DownloadDiagnostics (TR-143): an HTTP GET of `DownloadURL` over `NumberOfConnections`
//! parallel connections, timed and counted (see [`super::tr143`]), or an FTP RETR in
//! passive mode. HTTPS/FTPS URLs are refused at SPV time (9007).

use super::net::{self, check_bool, check_uint};
use super::tr143;
use super::tr143_results::Dir;
use super::{Cancel, Inputs, Outcome};
use crate::fault::Fault;

/// `DownloadTransports`: what this engine speaks.
pub const TRANSPORTS: &str = "HTTP,FTP";

/// `DownloadDiagnosticMaxConnections`: most parallel connections (more is 9007).
pub const MAX_CONNECTIONS: u64 = super::tr143::MAX_CONNECTIONS;

/// `DownloadDiagnosticsMaxIncrementalResult`: most `IncrementalResult` rows kept.
pub const MAX_INCREMENTAL: usize = super::tr143::MAX_INCREMENTAL;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(name: &str, value: &str) -> Result<(), Fault> {
    check_input(name, value)
}

/// The checks Download and Upload share (their URL input aside).
pub(crate) fn check_input(name: &str, value: &str) -> Result<(), Fault> {
    if let Some(r) = net::check_common(name, value) {
        return r;
    }
    match name {
        // Empty clears the URL (a run then fails with Error_InitConnectionFailed).
        "DownloadURL" | "UploadURL" if value.is_empty() => Ok(()),
        "DownloadURL" | "UploadURL" => match super::http1::parse_url(value) {
            Some(_) => Ok(()),
            None => Err(net::bad(
                name,
                value,
                "only http:// and ftp:// URLs are supported",
            )),
        },
        "TimeBasedTestDuration" | "TimeBasedTestMeasurementInterval" => {
            check_uint(name, value, 0, 999)
        }
        "TimeBasedTestMeasurementOffset" => check_uint(name, value, 0, 255),
        "NumberOfConnections" => check_uint(name, value, 1, MAX_CONNECTIONS),
        "EnablePerConnectionResults" => check_bool(name, value),
        "TestFileLength" => check_uint(name, value, 0, u64::MAX),
        _ => Ok(()),
    }
}

/// Runs the test (see [`super::run`]).
pub fn run(inputs: &Inputs, cancel: &Cancel) -> Outcome {
    tr143::run(
        Dir::Download,
        net::text(inputs, "DownloadURL"),
        inputs,
        cancel,
        tr143::LIMITS,
    )
}
