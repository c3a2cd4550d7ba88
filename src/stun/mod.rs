//! Connection requests through NAT (TR-069 Annex G, TR-111 part 2): a STUN client that keeps
//! a NAT binding open and learns the public address (`UDPConnectionRequestAddress`,
//! `NATDetected`), and the UDP connection-request listener on the same socket.
//!
//! [`message`] and [`udp_cr`] are the sans-IO codecs; [`keepalive`] decides when to send;
//! [`client`] runs the `stun` thread; [`status`] is what it shares with the data model,
//! [`varstate`] with the C-era plugins (UCI state).

pub mod client;
pub mod keepalive;
pub mod message;
pub mod status;
pub mod udp_cr;
pub mod varstate;
pub use client::StunClient;
