//! icwmp: a TR-069 (CWMP) client daemon.
//!
//! Layers, from bytes to threads:
//! - pure core (no sockets, threads, files or clock): [`soap`], [`time`], [`fault`],
//!   [`datamodel::ParamPath`];
//! - data model behind one trait: [`datamodel`];
//! - I/O edges: [`http`] (ACS client), [`conn_req`] (connection-request server); the
//!   daemon's main loop comes on top.

pub mod agent;
pub mod cli;
pub mod config;
pub mod conn_req;
pub mod crypto;
pub mod datamodel;
pub mod diag;
pub mod du;
pub mod events;
pub mod fault;
pub mod http;
pub mod inbox;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod rpc;
pub mod schedule;
pub mod session;
pub mod soap;
pub mod store;
pub mod stun;
pub mod time;
pub mod transfer;
pub mod ubus;
pub mod wake;
pub mod xmpp;
