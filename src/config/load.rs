//! Typing a parsed UCI document into [`Config`]: per-option parsing, defaults and the C
//! daemon's replacements of out-of-range values (each one reported as a warning).

use super::uci::{Document, Section, Value};
use super::{
    AcsConfig, Compression, Config, ConfigError, CpeConfig, DuStateChangePolicy, Identity,
    IncomingRule, InformParameter, InstanceMode, LogSeverity, LwnConfig, OpsConfig,
    TransferCompletePolicy,
};

// The STUN and XMPP options (the ways to reach a CPE behind NAT) are read there.
#[path = "load_reach.rs"]
mod reach;

type R<T> = Result<T, ConfigError>;

/// UCI boolean as the C icwmp reads it (case-insensitive prefix): `1`/`true`/`on`/`yes`/
/// `enable` are true, `0`/`false`/`off`/`no`/`disable` false, anything else `None`.
pub fn parse_bool(v: &str) -> Option<bool> {
    let l = v.trim().to_ascii_lowercase();
    let starts = |set: &[&str]| set.iter().any(|p| l.starts_with(p));
    if starts(&["1", "true", "on", "yes", "enable"]) {
        Some(true)
    } else if starts(&["0", "false", "off", "no", "disable"]) {
        Some(false)
    } else {
        None
    }
}

/// Reads options of one document, collecting warnings.
struct Reader<'a> {
    file: &'a str,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn err(&self, s: &Section, opt: &str, line: usize, what: String) -> ConfigError {
        ConfigError::new(self.file, line, format!("{}.{opt}: {what}", s.stype))
    }

    fn warn(&mut self, s: &Section, opt: &str, line: usize, what: String) {
        let w = format!("{}.{opt}: {what}", s.stype);
        self.warnings.push(if line > 0 {
            format!("{}:{line}: {w}", self.file)
        } else {
            format!("{}: {w}", self.file)
        });
    }

    /// A single value and its line; `None` when absent or empty (empty = default, as in C).
    fn raw<'s>(&self, s: &'s Section, opt: &str) -> R<Option<(&'s str, usize)>> {
        let Some(o) = s.option(opt) else {
            return Ok(None);
        };
        match &o.value {
            Value::Single(v) if v.is_empty() => Ok(None),
            Value::Single(v) => Ok(Some((v.as_str(), o.line))),
            Value::List(_) => {
                Err(self.err(s, opt, o.line, "must be an 'option', not a 'list'".into()))
            }
        }
    }

    fn string(&self, s: &Section, opt: &str, default: &str) -> R<String> {
        Ok(self.raw(s, opt)?.map_or(default, |(v, _)| v).to_string())
    }

    fn opt_string(&self, s: &Section, opt: &str) -> R<Option<String>> {
        Ok(self.raw(s, opt)?.map(|(v, _)| v.to_string()))
    }

    fn bool(&self, s: &Section, opt: &str, default: bool) -> R<bool> {
        match self.raw(s, opt)? {
            None => Ok(default),
            Some((v, line)) => parse_bool(v).ok_or_else(|| {
                let what = format!(
                    "invalid boolean '{v}' (expected 1/true/on/yes/enable or 0/false/off/no/disable)"
                );
                self.err(s, opt, line, what)
            }),
        }
    }

    fn int(&self, s: &Section, opt: &str) -> R<Option<(i64, usize)>> {
        match self.raw(s, opt)? {
            None => Ok(None),
            Some((v, line)) => match v.trim().parse::<i64>() {
                Ok(n) => Ok(Some((n, line))),
                Err(_) => Err(self.err(s, opt, line, format!("invalid number '{v}'"))),
            },
        }
    }

    /// An integer in `lo..=hi`: absent => `default`; out of range => `fallback` and a warning
    /// (the C daemon's behaviour, which replaces rather than saturates).
    fn ranged(
        &mut self,
        s: &Section,
        opt: &str,
        default: u32,
        lo: u32,
        hi: u32,
        fallback: u32,
    ) -> R<u32> {
        match self.int(s, opt)? {
            None => Ok(default),
            Some((v, line)) => match u32::try_from(v) {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => {
                    let range = if hi == u32::MAX {
                        format!("below {lo}")
                    } else {
                        format!("outside {lo}..{hi}")
                    };
                    self.warn(s, opt, line, format!("{v} is {range}, using {fallback}"));
                    Ok(fallback)
                }
            },
        }
    }

    /// A date-time (`YYYY-MM-DDTHH:MM:SS[Z|±hh:mm]`, no zone = UTC); `0` and the Unknown
    /// Time mean unset.
    fn datetime(&self, s: &Section, opt: &str) -> R<Option<i64>> {
        let Some((v, line)) = self.raw(s, opt)? else {
            return Ok(None);
        };
        let v = v.trim();
        if v == "0" || v.starts_with("0001-01-01") {
            return Ok(None);
        }
        // parse_datetime slices by byte offsets: only give it ASCII.
        match v
            .is_ascii()
            .then(|| crate::time::parse_datetime(v))
            .flatten()
        {
            Some(t) => Ok(Some(t)),
            None => Err(self.err(
                s,
                opt,
                line,
                format!("invalid date-time '{v}' (expected YYYY-MM-DDTHH:MM:SS)"),
            )),
        }
    }

    /// Items of a list, or of one option split at `sep`; trimmed, empty ones dropped.
    fn items(&self, s: &Section, opt: &str, sep: fn(char) -> bool) -> Vec<String> {
        let Some(v) = s.get(opt) else {
            return Vec::new();
        };
        v.items()
            .iter()
            .flat_map(|i| i.split(sep))
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The last section of `stype` (the C daemon reads them all, the last one wins).
    fn last<'d>(&mut self, doc: &'d Document, stype: &'d str) -> Option<&'d Section> {
        let all: Vec<&Section> = doc.sections_of_type(stype).collect();
        let last = all.last().copied()?;
        if all.len() > 1 {
            self.warnings.push(format!(
                "{}:{}: {} sections of type '{stype}'; only the last one is used",
                self.file,
                last.line,
                all.len()
            ));
        }
        Some(last)
    }

    fn cpe(&mut self, s: &Section) -> R<CpeConfig> {
        let d = CpeConfig::default();
        let mut path = self.string(s, "path", "/")?;
        if !path.starts_with('/') {
            // The C daemon stored the path without its '/', which broke CR (its bug 2).
            path.insert(0, '/');
        }
        let port = self.ranged(s, "port", 7547, 1, 65535, 7547)?;
        let log_max_size = match self.int(s, "log_max_size")? {
            None => d.log_max_size,
            Some((v, line)) => u64::try_from(v).unwrap_or_else(|_| {
                self.warn(
                    s,
                    "log_max_size",
                    line,
                    format!("{v} is negative, using 102400"),
                );
                d.log_max_size
            }),
        };
        let delay_reboot = match self.int(s, "delay_reboot")? {
            Some((v, _)) if v > 0 => u32::try_from(v).ok(),
            _ => None,
        };
        let id = |o: &str| self.opt_string(s, o);
        let identity = Identity {
            manufacturer: id("manufacturer")?,
            manufacturer_oui: id("manufacturer_oui")?,
            product_class: id("product_class")?,
            serial_number: id("serial_number")?,
            model_name: id("model_name")?,
            description: id("description")?,
            software_version: id("software_version")?,
            hardware_version: id("hardware_version")?,
            provisioning_code: id("provisioning_code")?,
        };
        Ok(CpeConfig {
            enable: self.bool(s, "enable", d.enable)?,
            default_wan_interface: self.string(s, "default_wan_interface", "wan")?,
            default_lan_interface: self.string(s, "default_lan_interface", "")?,
            disable_gatewayinfo: self.bool(s, "disable_gatewayinfo", false)?,
            userid: self.string(s, "userid", "")?,
            passwd: self.string(s, "passwd", "")?,
            // In range 1..=65535 by `ranged`.
            port: u16::try_from(port).unwrap_or(d.port),
            path,
            cr_timeout: self.ranged(s, "cr_timeout", 5, 1, u32::MAX, 5)?,
            http_cr_enable: self.bool(s, "http_cr_enable", d.http_cr_enable)?,
            cr_host: self.string(s, "cr_host", "")?.trim().to_string(),
            cr_allowed_sources: self
                .items(s, "cr_allowed_sources", |c| c == ',' || c.is_whitespace()),
            incoming_rule: self.incoming_rule(s)?,
            log_severity: self.log_severity(s)?,
            log_to_console: self.bool(s, "log_to_console", d.log_to_console)?,
            log_to_file: self.bool(s, "log_to_file", d.log_to_file)?,
            log_to_syslog: self.bool(s, "log_to_syslog", d.log_to_syslog)?,
            log_file_name: self.string(s, "log_file_name", &d.log_file_name)?,
            log_max_size,
            // In range 1..=6 by `ranged`.
            amd_version: u8::try_from(self.ranged(s, "amd_version", 5, 1, 6, 5)?).unwrap_or(5),
            instance_mode: self.instance_mode(s)?,
            session_timeout: self.ranged(s, "session_timeout", 60, 1, u32::MAX, 60)?,
            periodic_notify_enable: self.bool(s, "periodic_notify_enable", true)?,
            periodic_notify_interval: self.ranged(
                s,
                "periodic_notify_interval",
                10,
                1,
                u32::MAX,
                10,
            )?,
            active_notif_throttle: self.ranged(s, "active_notif_throttle", 0, 0, u32::MAX, 0)?,
            md_notif_limit: self.ranged(s, "md_notif_limit", 0, 0, u32::MAX, 0)?,
            custom_notify_json: self.string(s, "custom_notify_json", "")?,
            forced_inform_json: self.string(s, "forced_inform_json", "")?,
            force_ipv4: self.bool(s, "force_ipv4", false)?,
            fw_upgrade_keep_settings: self.bool(s, "fw_upgrade_keep_settings", true)?,
            schedule_reboot: self.datetime(s, "schedule_reboot")?,
            delay_reboot,
            exec_download: self.bool(s, "exec_download", false)?,
            parameter_key: self.string(s, "ParameterKey", "")?,
            identity,
            reboot_command: self.string(s, "reboot_command", "")?,
            factory_reset_command: self.string(s, "factory_reset_command", "")?,
            firmware_upgrade_command: self.string(s, "firmware_upgrade_command", "")?,
            config_import_command: self.string(s, "config_import_command", "")?,
            config_export_command: self.string(s, "config_export_command", "")?,
            log_export_command: self.string(s, "log_export_command", "")?,
            du_install_command: self.string(s, "du_install_command", "")?,
            du_update_command: self.string(s, "du_update_command", "")?,
            du_uninstall_command: self.string(s, "du_uninstall_command", "")?,
            max_message_size: self.ranged(
                s,
                "max_message_size",
                d.max_message_size,
                64 << 10,
                64 << 20,
                d.max_message_size,
            )?,
            max_params_per_request: self.ranged(
                s,
                "max_params_per_request",
                d.max_params_per_request,
                16,
                1_000_000,
                d.max_params_per_request,
            )?,
        })
    }

    fn log_severity(&mut self, s: &Section) -> R<LogSeverity> {
        use LogSeverity::*;
        let Some((v, line)) = self.raw(s, "log_severity")? else {
            return Ok(Info);
        };
        let u = v.trim().to_ascii_uppercase();
        const NAMES: [(&str, LogSeverity); 8] = [
            ("EMERG", Emerg),
            ("ALERT", Alert),
            ("CRITIC", Critic),
            ("ERROR", Error),
            ("WARNING", Warning),
            ("NOTICE", Notice),
            ("INFO", Info),
            ("DEBUG", Debug),
        ];
        // The C daemon matched any substring of the names; accept names and 3+ letter
        // prefixes (ERR, WARN, CRIT) plus CRITICAL.
        let found = NAMES.iter().find(|(n, _)| {
            u.len() >= 3 && n.starts_with(u.as_str()) || u == "CRITICAL" && *n == "CRITIC"
        });
        match found {
            Some((_, sev)) => Ok(*sev),
            None => {
                self.warn(
                    s,
                    "log_severity",
                    line,
                    format!("unknown severity '{v}', using INFO"),
                );
                Ok(Info)
            }
        }
    }

    fn instance_mode(&mut self, s: &Section) -> R<InstanceMode> {
        let Some((v, line)) = self.raw(s, "instance_mode")? else {
            return Ok(InstanceMode::Number);
        };
        if v.eq_ignore_ascii_case("InstanceNumber") {
            Ok(InstanceMode::Number)
        } else {
            if !v.eq_ignore_ascii_case("InstanceAlias") {
                // C: anything but InstanceNumber selects alias mode.
                self.warn(
                    s,
                    "instance_mode",
                    line,
                    format!("unknown mode '{v}', using InstanceAlias"),
                );
            }
            Ok(InstanceMode::Alias)
        }
    }

    fn incoming_rule(&mut self, s: &Section) -> R<IncomingRule> {
        let Some((v, line)) = self.raw(s, "incoming_rule")? else {
            return Ok(IncomingRule::PortOnly);
        };
        match v.to_ascii_lowercase().as_str() {
            "ip_only" => Ok(IncomingRule::IpOnly),
            "ip_port" => Ok(IncomingRule::IpPort),
            "port_only" => Ok(IncomingRule::PortOnly),
            _ => {
                self.warn(
                    s,
                    "incoming_rule",
                    line,
                    format!("unknown rule '{v}', using Port_Only"),
                );
                Ok(IncomingRule::PortOnly)
            }
        }
    }

    fn acs(&mut self, s: &Section, amd: u8) -> R<AcsConfig> {
        let d = AcsConfig::default();
        let dhcp_discovery = self.bool(s, "dhcp_discovery", false)?;
        // With DHCP discovery the DHCP-provided retry values win when present.
        let pick = |me: &Self, dhcp: &'static str, plain: &'static str| -> R<&'static str> {
            Ok(if dhcp_discovery && me.raw(s, dhcp)?.is_some() {
                dhcp
            } else {
                plain
            })
        };
        let min_opt = pick(
            self,
            "dhcp_retry_min_wait_interval",
            "retry_min_wait_interval",
        )?;
        let mul_opt = pick(
            self,
            "dhcp_retry_interval_multiplier",
            "retry_interval_multiplier",
        )?;
        let mut retry_min_wait_interval = self.ranged(s, min_opt, 5, 1, 65535, 5)?;
        let mut retry_interval_multiplier = self.ranged(s, mul_opt, 2000, 1000, 65535, 2000)?;
        if amd < 3 {
            for (opt, v, def) in [
                (min_opt, &mut retry_min_wait_interval, 5),
                (mul_opt, &mut retry_interval_multiplier, 2000),
            ] {
                if *v != def {
                    let line = s.option(opt).map_or(0, |o| o.line);
                    self.warn(
                        s,
                        opt,
                        line,
                        format!("ignored with amd_version {amd} (needs 3), using {def}"),
                    );
                    *v = def;
                }
            }
        }
        let mut compression = match self.raw(s, "compression")? {
            None => Compression::None,
            Some((v, line)) => match v.trim().to_ascii_lowercase().as_str() {
                "gzip" => Compression::Gzip,
                "deflate" => Compression::Deflate,
                "none" | "disabled" | "disable" | "0" | "false" | "off" | "no" => Compression::None,
                _ => {
                    self.warn(
                        s,
                        "compression",
                        line,
                        format!("unknown compression '{v}', using none"),
                    );
                    Compression::None
                }
            },
        };
        if amd < 5 && compression != Compression::None {
            let line = s.option("compression").map_or(0, |o| o.line);
            self.warn(
                s,
                "compression",
                line,
                format!("ignored with amd_version {amd} (needs 5)"),
            );
            compression = Compression::None;
        }
        Ok(AcsConfig {
            url: self.string(s, "url", "")?,
            dhcp_discovery,
            dhcp_url: self.string(s, "dhcp_url", "")?,
            userid: self.string(s, "userid", "")?,
            passwd: self.string(s, "passwd", "")?,
            ssl_capath: self.string(s, "ssl_capath", &d.ssl_capath)?,
            ssl_cafile: self.string(s, "ssl_cafile", "")?,
            ssl_clientcert: self.string(s, "ssl_clientcert", "")?,
            ssl_clientkey: self.string(s, "ssl_clientkey", "")?,
            insecure_enable: self.bool(s, "insecure_enable", false)?,
            http_disable_100continue: self.bool(s, "http_disable_100continue", false)?,
            retry_min_wait_interval,
            retry_interval_multiplier,
            compression,
            get_rpc_methods: self.bool(s, "get_rpc_methods", true)?,
            periodic_inform_enable: self.bool(s, "periodic_inform_enable", false)?,
            // TR-181 allows any interval from 1 s: what the ACS set (and reads back) is what
            // runs. The C daemon replaced values below 60 by 86400, i.e. informed once a
            // day while answering the value the ACS wrote; 0 keeps its replacement.
            periodic_inform_interval: self.ranged(
                s,
                "periodic_inform_interval",
                86400,
                1,
                u32::MAX,
                86400,
            )?,
            periodic_inform_time: self.datetime(s, "periodic_inform_time")?,
            heartbeat_enable: self.bool(s, "heartbeat_enable", false)?,
            // TR-181 HeartbeatPolicy.ReportingInterval: 30 s at least.
            heartbeat_interval: self.ranged(s, "heartbeat_interval", 30, 30, u32::MAX, 30)?,
            heartbeat_time: self.datetime(s, "heartbeat_time")?,
            skip_dhcp_boot_options: self.bool(s, "skip_dhcp_boot_options", false)?,
        })
    }

    fn lwn(&mut self, s: &Section) -> R<LwnConfig> {
        let port = self.ranged(s, "port", 7547, 0, 65535, 7547)?;
        Ok(LwnConfig {
            enable: self.bool(s, "enable", false)?,
            hostname: self.string(s, "hostname", "")?,
            // In range 0..=65535 by `ranged`.
            port: u16::try_from(port).unwrap_or(7547),
            trigger_interval: self.ranged(s, "trigger_interval", 0, 0, u32::MAX, 0)?,
            trigger_time: self.datetime(s, "trigger_time")?,
        })
    }

    /// The `acs` options of [`OpsConfig`].
    fn ops_acs(&mut self, s: &Section) -> R<OpsConfig> {
        let d = OpsConfig::default();
        Ok(OpsConfig {
            fallback_enable: self.bool(s, "fallback_enable", d.fallback_enable)?,
            fallback_attempts: self.ranged(s, "fallback_attempts", 5, 0, u32::MAX, 5)?,
            fallback_time: self.ranged(s, "fallback_time", 600, 0, u32::MAX, 600)?,
            fallback_retry_interval: self.ranged(
                s,
                "fallback_retry_interval",
                3600,
                1,
                u32::MAX,
                3600,
            )?,
            http_proxy: self.string(s, "http_proxy", "")?.trim().to_string(),
            http_proxy_env: self.bool(s, "http_proxy_env", false)?,
            ..d
        })
    }

    fn inform_parameter(&mut self, s: &Section) -> R<InformParameter> {
        Ok(InformParameter {
            section: s.name.clone(),
            enable: self.bool(s, "enable", false)?,
            parameter_name: self.string(s, "parameter_name", "")?,
            // Event codes contain spaces ("1 BOOT"): only commas separate them.
            events_list: self.items(s, "events_list", |c| c == ','),
            alias: self.string(s, "informparam_alias", "")?,
        })
    }
}

/// Types a whole document (see [`Config::from_document`]).
pub(super) fn from_document(doc: &Document) -> Result<(Config, Vec<String>), ConfigError> {
    let mut r = Reader {
        file: doc.file(),
        warnings: Vec::new(),
    };
    let mut cfg = Config::default();
    let mut log_ms = false;
    let mut metrics_file = String::new();
    // cpe first: amd_version gates acs options (the C daemon's "preinit" order).
    if let Some(s) = r.last(doc, "cpe") {
        cfg.cpe = r.cpe(s)?;
        cfg.stun = r.stun(s)?;
        cfg.xmpp = r.xmpp(s)?;
        log_ms = r.bool(s, "log_timestamp_ms", false)?;
        metrics_file = r.string(s, "metrics_file", "")?.trim().to_string();
    }
    if let Some(s) = r.last(doc, "acs") {
        cfg.acs = r.acs(s, cfg.cpe.amd_version)?;
        cfg.ops = r.ops_acs(s)?;
    }
    cfg.ops.log_timestamp_ms = log_ms;
    cfg.ops.metrics_file = metrics_file;
    if let Some(s) = r.last(doc, "lwn") {
        cfg.lwn = r.lwn(s)?;
    }
    if let Some(s) = r.last(doc, "transfer_complete") {
        cfg.transfer_complete = Some(TransferCompletePolicy {
            enable: r.bool(s, "enable", false)?,
            transfer_type: r.string(s, "transfer_type", "")?,
            result_type: r.string(s, "result_type", "")?,
            file_type: r.string(s, "file_type", "")?,
        });
    }
    if let Some(s) = r.last(doc, "du_state_change") {
        cfg.du_state_change = Some(DuStateChangePolicy {
            enable: r.bool(s, "enable", false)?,
            operation_type: r.string(s, "operation_type", "")?,
            result_type: r.string(s, "result_type", "")?,
            fault_code: r.string(s, "fault_code", "")?,
        });
    }
    for s in doc.sections_of_type("inform_parameter") {
        let p = r.inform_parameter(s)?;
        cfg.inform_parameters.push(p);
    }
    Ok((cfg, r.warnings))
}
