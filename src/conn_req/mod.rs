//! HTTP connection-request server (TR-069 §3.2.2): the ACS asks for a session with an
//! authenticated `GET` on `ConnectionRequestURL`.
//!
//! [`auth`] decides (pure, with the per-source rate limits of [`ratelimit`]); [`server`] runs
//! one `conn-req` thread that serves every client at once ([`conns`]), answers 200/401/403/
//! 404/405/503 itself and sends [`ConnReqEvent::Accepted`] to the main loop, which queues
//! `6 CONNECTION REQUEST` (also while a session runs).

pub mod auth;
mod bind;
pub mod conns;
pub mod head;
pub mod ratelimit;
pub mod refusals;
pub mod server;

pub use auth::{Checked, CrAuth, CrDecision, CrRequest, CrSettings};
pub use server::{Bind, ConnReqEvent, ConnReqServer};
