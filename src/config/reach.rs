//! The typed options of the ways to reach a CPE behind NAT: STUN with UDP connection
//! requests (TR-069 Annex G) and XMPP connection requests (Annex K), both in section `cpe`.

/// The STUN client and UDP connection requests (TR-069 Annex G): the `stun_*` options of
/// section `cpe` (Device.ManagementServer.STUN*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StunConfig {
    /// `stun_enable` (STUNEnable): runs the STUN client and the UDP CR listener.
    pub enable: bool,
    /// `stun_server_address` (STUNServerAddress; empty: the host of the ACS URL).
    pub server_address: String,
    /// `stun_server_port` (STUNServerPort, default 3478).
    pub server_port: u16,
    /// `stun_username` (STUNUsername; empty: never send MESSAGE-INTEGRITY).
    pub username: String,
    /// `stun_password` (STUNPassword).
    pub password: String,
    /// `stun_max_keepalive` in seconds (STUNMaximumKeepAlivePeriod; -1: no maximum).
    pub max_keepalive: i64,
    /// `stun_min_keepalive` in seconds (STUNMinimumKeepAlivePeriod).
    pub min_keepalive: u32,
    /// `stun_client_port`: the local UDP port (0 or unset: `cpe.port`).
    pub client_port: u16,
    /// The C-era STUN config found next to `cwmp` (its options are merged in, see
    /// [`super::stun_legacy`]); the client's results go to its UCI state.
    pub legacy: Option<super::stun_legacy::Legacy>,
    /// `stun_varstate_dir` (default `/var/state`): the UCI state directory (`uci -P`) where
    /// the results are written for the C-era data-model plugins.
    pub varstate_dir: String,
}

impl Default for StunConfig {
    fn default() -> Self {
        StunConfig {
            enable: false,
            server_address: String::new(),
            server_port: 3478,
            username: String::new(),
            password: String::new(),
            max_keepalive: -1,
            min_keepalive: 0,
            client_port: 0,
            legacy: None,
            varstate_dir: "/var/state".into(),
        }
    }
}

use crate::xmpp::servers::{Algorithm, ServerEntry};

/// The XMPP connection-request client (TR-069 Annex K): the `xmpp_*` options of section `cpe`
/// (Device.XMPP.Connection.1 and ManagementServer.ConnReq*; one connection only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmppConfig {
    /// `xmpp_enable` (XMPP.Connection.1.Enable): runs the client.
    pub enable: bool,
    /// `xmpp_server` (XMPP.Connection.1.Server.{i}: `host[:port]` entries separated by
    /// spaces or commas, or a UCI list; the position is the Priority).
    pub servers: Vec<ServerEntry>,
    /// `xmpp_server_algorithm` (ServerConnectAlgorithm), as in effect: unset or unsupported
    /// is ServerTable with servers, DNS-SRV without.
    pub algorithm: Algorithm,
    /// `xmpp_port` (the port of the entries without one, and of the Domain; default 5222).
    pub port: u16,
    /// `xmpp_domain` (Domain).
    pub domain: String,
    /// `xmpp_username` (Username).
    pub username: String,
    /// `xmpp_password` (Password).
    pub password: String,
    /// `xmpp_resource` (Resource, default `cwmp`).
    pub resource: String,
    /// `xmpp_use_tls` (UseTLS, default on): STARTTLS required.
    pub use_tls: bool,
    /// `xmpp_keepalive` in seconds (KeepAliveInterval; 0: none).
    pub keepalive: u32,
    /// `xmpp_retry_initial` in seconds (ServerRetryInitialInterval, default 60).
    pub retry_initial: u32,
    /// `xmpp_retry_multiplier` in thousandths (ServerRetryIntervalMultiplier, default 2000).
    pub retry_multiplier: u32,
    /// `xmpp_retry_max` in seconds (ServerRetryMaxInterval, default 30720).
    pub retry_max: u32,
    /// `xmpp_allowed_jids` (ManagementServer.ConnReqAllowedJabberIDs; empty: any).
    pub allowed_jids: Vec<String>,
}

impl Default for XmppConfig {
    fn default() -> Self {
        XmppConfig {
            enable: false,
            servers: Vec::new(),
            algorithm: Algorithm::DnsSrv,
            port: 5222,
            domain: String::new(),
            username: String::new(),
            password: String::new(),
            resource: "cwmp".into(),
            use_tls: true,
            keepalive: 60,
            retry_initial: 60,
            retry_multiplier: 2000,
            retry_max: 30720,
            allowed_jids: Vec::new(),
        }
    }
}
