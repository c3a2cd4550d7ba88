//! XMPP connection requests (TR-069 Annex K): the stream codec, SASL and the
//! `connectionRequest` iq, all sans-IO.

pub mod client;
pub mod connreq;
pub mod sasl;
pub mod servers;
pub mod session;
pub mod xml;
