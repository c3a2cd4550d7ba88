//! Reading the options of the ways to reach a CPE behind NAT ([`StunConfig`],
//! [`XmppConfig`]): part of [`super`]'s [`Reader`], in a file of its own.

use super::{Reader, R};
use crate::config::uci::Section;
use crate::config::{StunConfig, XmppConfig};
use crate::xmpp::servers::Algorithm;

impl Reader<'_> {
    pub(super) fn stun(&mut self, s: &Section) -> R<StunConfig> {
        let d = StunConfig::default();
        let max_keepalive = match self.int(s, "stun_max_keepalive")? {
            Some((v, _)) if v >= 1 => v,
            _ => d.max_keepalive,
        };
        Ok(StunConfig {
            enable: self.bool(s, "stun_enable", d.enable)?,
            server_address: self
                .string(s, "stun_server_address", "")?
                .trim()
                .to_string(),
            // In range by `ranged`.
            server_port: u16::try_from(self.ranged(s, "stun_server_port", 3478, 1, 65535, 3478)?)
                .unwrap_or(d.server_port),
            username: self.string(s, "stun_username", "")?,
            password: self.string(s, "stun_password", "")?,
            max_keepalive,
            min_keepalive: self.ranged(s, "stun_min_keepalive", 0, 0, u32::MAX, 0)?,
            client_port: u16::try_from(self.ranged(s, "stun_client_port", 0, 0, 65535, 0)?)
                .unwrap_or(0),
            legacy: None,
            varstate_dir: self.string(s, "stun_varstate_dir", &d.varstate_dir)?,
        })
    }

    pub(super) fn xmpp(&mut self, s: &Section) -> R<XmppConfig> {
        let d = XmppConfig::default();
        let resource = self.string(s, "xmpp_resource", "")?.trim().to_string();
        // A list or one option of entries separated by spaces or commas.
        let text = self.items(s, "xmpp_server", |c| c == ',').join(",");
        let (servers, bad) = crate::xmpp::servers::parse_servers(&text);
        let line = |o: &str| s.option(o).map_or(0, |o| o.line);
        if bad > 0 {
            let max = crate::xmpp::servers::MAX_SERVERS;
            let why = format!("{bad} entries ignored (not host[:port], or over {max})");
            self.warn(s, "xmpp_server", line("xmpp_server"), why);
        }
        let algo = self.string(s, "xmpp_server_algorithm", "")?;
        let algo = algo.trim();
        let algorithm = Algorithm::effective(Some(algo), !servers.is_empty());
        if !algo.is_empty() && Algorithm::parse(algo).is_none() {
            let why = format!(
                "'{algo}' is not supported ({}), using {}",
                crate::xmpp::servers::SUPPORTED,
                algorithm.as_str()
            );
            self.warn(
                s,
                "xmpp_server_algorithm",
                line("xmpp_server_algorithm"),
                why,
            );
        }
        Ok(XmppConfig {
            enable: self.bool(s, "xmpp_enable", d.enable)?,
            servers,
            algorithm,
            // In range by `ranged`.
            port: u16::try_from(self.ranged(s, "xmpp_port", 5222, 1, 65535, 5222)?)
                .unwrap_or(d.port),
            domain: self.string(s, "xmpp_domain", "")?.trim().to_string(),
            username: self.string(s, "xmpp_username", "")?,
            password: self.string(s, "xmpp_password", "")?,
            resource: if resource.is_empty() {
                d.resource
            } else {
                resource
            },
            use_tls: self.bool(s, "xmpp_use_tls", d.use_tls)?,
            keepalive: self.ranged(s, "xmpp_keepalive", 60, 0, 86400, 60)?,
            retry_initial: self.ranged(s, "xmpp_retry_initial", 60, 1, 65535, 60)?,
            retry_multiplier: self.ranged(s, "xmpp_retry_multiplier", 2000, 1000, 65535, 2000)?,
            retry_max: self.ranged(s, "xmpp_retry_max", 30720, 1, u32::MAX, 30720)?,
            allowed_jids: self.items(s, "xmpp_allowed_jids", |c| c == ',' || c == ' '),
        })
    }
}
