//! Not implemented yet: every request ends in `Error_Internal`.

use super::{Cancel, Inputs, Outcome};
use crate::fault::Fault;
use std::net::SocketAddr;
use std::time::Duration;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(_name: &str, _value: &str) -> Result<(), Fault> {
    Ok(())
}

/// Runs the test (see [`super::run`]).
pub fn run(_inputs: &Inputs, _cancel: &Cancel) -> Outcome {
    Outcome::error("Error_Internal")
}

/// One UDP echo of `size` bytes to `addr`: its round-trip time, or an error (timeout
/// included). Used by ServerSelectionDiagnostics with `Protocol=UDP Echo`.
pub fn probe(_addr: SocketAddr, _size: usize, _timeout: Duration) -> std::io::Result<Duration> {
    Err(std::io::ErrorKind::Unsupported.into())
}
