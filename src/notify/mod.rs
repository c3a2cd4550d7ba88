//! Notifications: the attributes the ACS sets with SetParameterAttributes (digest section 8).
//!
//! The attributes belong to the agent, not to a data-model backend; the main loop owns one
//! [`NotifyAttributes`] and persists it after every change.

mod attrs;
mod changes;
pub mod lwn;
pub mod watch;

pub use attrs::{is_active, is_forced_active, policy, AttrEntry, NotifyAttributes, FILE_NAME};
pub use changes::ChangeTracker;
