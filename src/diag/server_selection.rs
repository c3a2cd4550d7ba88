//! Not implemented yet: every request ends in `Error_Internal`.

use super::{Cancel, Inputs, Outcome};
use crate::fault::Fault;

/// Checks one input at SPV time (see [`super::check`]).
pub fn check(_name: &str, _value: &str) -> Result<(), Fault> {
    Ok(())
}

/// Runs the test (see [`super::run`]).
pub fn run(_inputs: &Inputs, _cancel: &Cancel) -> Outcome {
    Outcome::error("Error_Internal")
}
