//! Daemon configuration: the UCI file `/etc/config/cwmp`, typed.
//!
//! [`Config::from_str`] is pure (text in, typed config and warnings out); [`Config::load`] and
//! [`set_options`] are the file edges. Options, defaults and out-of-range handling follow
//! the C icwmp 9.6.7 (sections found by type, booleans by prefix, bad ranges replaced by the
//! default); what the C daemon silently misreads (`port 'abc'`, `enable 'maybe'`) is an error
//! here so the daemon does not start on a config it does not understand.

pub mod follow;
mod load;
mod reach;
pub mod store;
pub mod stun_legacy;
pub mod uci;
pub mod userid;
mod write;

pub use reach::{StunConfig, XmppConfig};
pub use write::{apply_changes, set_options};

use std::fmt;
use std::path::Path;

pub use load::parse_bool;
pub use store::UciConfigStore;
pub use uci::{Document, Section, Value};

/// A configuration that cannot be used: `file:line: what` (line 0 = not tied to a line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// File the error is about.
    pub file: String,
    /// 1-based line, 0 when the error is not about one line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error about `file` at `line` (0 = no line).
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(f, "{}", self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// `cpe.log_severity`: the C daemon's syslog-like levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogSeverity {
    /// EMERG
    Emerg,
    /// ALERT
    Alert,
    /// CRITIC
    Critic,
    /// ERROR
    Error,
    /// WARNING
    Warning,
    /// NOTICE
    Notice,
    /// INFO (default)
    Info,
    /// DEBUG
    Debug,
}

impl LogSeverity {
    /// The `log` crate filter for this severity.
    pub fn level_filter(self) -> log::LevelFilter {
        match self {
            LogSeverity::Emerg | LogSeverity::Alert | LogSeverity::Critic | LogSeverity::Error => {
                log::LevelFilter::Error
            }
            LogSeverity::Warning => log::LevelFilter::Warn,
            LogSeverity::Notice | LogSeverity::Info => log::LevelFilter::Info,
            LogSeverity::Debug => log::LevelFilter::Debug,
        }
    }
}

/// `acs.compression`: HTTP body encoding towards the ACS (amd_version >= 5 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// No compression (default).
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
    /// `Content-Encoding: deflate`.
    Deflate,
}

/// `cpe.instance_mode`: how multi-instance objects are addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceMode {
    /// `InstanceNumber` (default).
    Number,
    /// `InstanceAlias`.
    Alias,
}

/// `cpe.incoming_rule`: what the firewall script filters Connection Requests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncomingRule {
    /// `Port_Only` (default).
    PortOnly,
    /// `IP_Only`: only from the ACS address.
    IpOnly,
    /// `IP_Port`: ACS address and port.
    IpPort,
}

/// Section `acs`: how to reach the ACS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcsConfig {
    /// `url`: the configured ACS URL (see [`AcsConfig::effective_url`]).
    pub url: String,
    /// `dhcp_discovery`: prefer `dhcp_url` when set.
    pub dhcp_discovery: bool,
    /// `dhcp_url`: written by the udhcpc hook (DHCP option 43).
    pub dhcp_url: String,
    /// `userid`: ACS HTTP user name.
    pub userid: String,
    /// `passwd`: ACS HTTP password.
    pub passwd: String,
    /// `ssl_capath`: CA directory (default `/etc/ssl/certs`).
    pub ssl_capath: String,
    /// `ssl_cafile`: CA bundle file (Rust daemon addition; empty = none).
    pub ssl_cafile: String,
    /// `ssl_clientcert`: client certificate for mutual TLS (Rust daemon addition).
    pub ssl_clientcert: String,
    /// `ssl_clientkey`: client key for mutual TLS (Rust daemon addition).
    pub ssl_clientkey: String,
    /// `insecure_enable`: skip TLS peer and host verification.
    pub insecure_enable: bool,
    /// `http_disable_100continue`: send an empty `Expect:` header.
    pub http_disable_100continue: bool,
    /// Effective CWMPRetryMinimumWaitInterval (1..65535, default 5): `dhcp_retry_min_wait_interval`
    /// when dhcp_discovery is on and it is set, else `retry_min_wait_interval`; amd_version >= 3.
    pub retry_min_wait_interval: u32,
    /// Effective CWMPRetryIntervalMultiplier (1000..65535, default 2000), chosen like the above.
    pub retry_interval_multiplier: u32,
    /// `compression` (none unless amd_version >= 5).
    pub compression: Compression,
    /// `get_rpc_methods`: send GetRPCMethods to the ACS in sessions (default true).
    pub get_rpc_methods: bool,
    /// `periodic_inform_enable` (default false when absent, as the C code).
    pub periodic_inform_enable: bool,
    /// `periodic_inform_interval` in seconds (0 => 86400).
    pub periodic_inform_interval: u32,
    /// `periodic_inform_time` as Unix seconds; `None` when unset or the Unknown Time.
    pub periodic_inform_time: Option<i64>,
    /// `heartbeat_enable`.
    pub heartbeat_enable: bool,
    /// `heartbeat_interval` in seconds (default 30).
    pub heartbeat_interval: u32,
    /// `heartbeat_time` as Unix seconds; `None` when unset.
    pub heartbeat_time: Option<i64>,
    /// `skip_dhcp_boot_options` (init script only).
    pub skip_dhcp_boot_options: bool,
}

impl AcsConfig {
    /// The URL to contact: `dhcp_url` if DHCP discovery is on and it is set, else `url`.
    pub fn effective_url(&self) -> &str {
        if self.dhcp_discovery && !self.dhcp_url.is_empty() {
            &self.dhcp_url
        } else {
            &self.url
        }
    }
}

impl Default for AcsConfig {
    fn default() -> Self {
        AcsConfig {
            url: String::new(),
            dhcp_discovery: false,
            dhcp_url: String::new(),
            userid: String::new(),
            passwd: String::new(),
            ssl_capath: "/etc/ssl/certs".into(),
            ssl_cafile: String::new(),
            ssl_clientcert: String::new(),
            ssl_clientkey: String::new(),
            insecure_enable: false,
            http_disable_100continue: false,
            retry_min_wait_interval: 5,
            retry_interval_multiplier: 2000,
            compression: Compression::None,
            get_rpc_methods: true,
            periodic_inform_enable: false,
            periodic_inform_interval: 86400,
            periodic_inform_time: None,
            heartbeat_enable: false,
            heartbeat_interval: 30,
            heartbeat_time: None,
            skip_dhcp_boot_options: false,
        }
    }
}

/// DeviceInfo overrides in section `cpe` (`None` = not set, use the platform's value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// `manufacturer`
    pub manufacturer: Option<String>,
    /// `manufacturer_oui`
    pub manufacturer_oui: Option<String>,
    /// `product_class`
    pub product_class: Option<String>,
    /// `serial_number`
    pub serial_number: Option<String>,
    /// `model_name`
    pub model_name: Option<String>,
    /// `description`
    pub description: Option<String>,
    /// `software_version`
    pub software_version: Option<String>,
    /// `hardware_version`
    pub hardware_version: Option<String>,
    /// `provisioning_code`
    pub provisioning_code: Option<String>,
}

/// Section `cpe`: the device side (Connection Request server, logging, behaviour).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpeConfig {
    /// `enable`: 0 => the service is not started.
    pub enable: bool,
    /// `default_wan_interface` (netifd name, default `wan`).
    pub default_wan_interface: String,
    /// `default_lan_interface` (init script, DHCP option 125).
    pub default_lan_interface: String,
    /// `disable_gatewayinfo` (init script).
    pub disable_gatewayinfo: bool,
    /// `userid`: Connection Request user name.
    pub userid: String,
    /// `passwd`: Connection Request password.
    pub passwd: String,
    /// `port`: Connection Request port (default 7547; 0 => 7547).
    pub port: u16,
    /// `path`: Connection Request path, always with a leading `/` (default `/`).
    pub path: String,
    /// `cr_timeout`: seconds a connection-request client has to send its request head
    /// (default 5; the server clamps it to 1..=30).
    pub cr_timeout: u32,
    /// `http_cr_enable` (ManagementServer.HTTPConnectionRequestEnable, default true): off
    /// closes the connection-request port and empties ConnectionRequestURL.
    pub http_cr_enable: bool,
    /// `cr_host`: the host advertised in ConnectionRequestURL (empty: an interface address);
    /// an IP address here is also the only address the server listens on.
    pub cr_host: String,
    /// `cr_allowed_sources`: addresses allowed to send Connection Requests (empty = any).
    pub cr_allowed_sources: Vec<String>,
    /// `incoming_rule`.
    pub incoming_rule: IncomingRule,
    /// `log_severity` (default INFO).
    pub log_severity: LogSeverity,
    /// `log_to_console`.
    pub log_to_console: bool,
    /// `log_to_file`.
    pub log_to_file: bool,
    /// `log_to_syslog` (default true).
    pub log_to_syslog: bool,
    /// `log_file_name` (default `/var/log/icwmpd.log`).
    pub log_file_name: String,
    /// `log_max_size` in bytes (default 102400).
    pub log_max_size: u64,
    /// `amd_version`: TR-069 amendment 1..6 (default 5).
    pub amd_version: u8,
    /// `instance_mode`.
    pub instance_mode: InstanceMode,
    /// `session_timeout` in seconds (default 60; also the CR nonce lifetime).
    pub session_timeout: u32,
    /// `periodic_notify_enable`: poll notified parameters for value changes (default on; the C
    /// daemon parsed it but always polled).
    pub periodic_notify_enable: bool,
    /// `periodic_notify_interval`: value-change poll period in seconds (default 10).
    pub periodic_notify_interval: u32,
    /// `active_notif_throttle`: minimum seconds between active-notification sessions.
    pub active_notif_throttle: u32,
    /// `md_notif_limit`: ManageableDevice notification rate limit.
    pub md_notif_limit: u32,
    /// `custom_notify_json`: path of the custom notification JSON.
    pub custom_notify_json: String,
    /// `forced_inform_json`: path of the forced-inform JSON.
    pub forced_inform_json: String,
    /// `force_ipv4`.
    pub force_ipv4: bool,
    /// `fw_upgrade_keep_settings` (default true).
    pub fw_upgrade_keep_settings: bool,
    /// `schedule_reboot` as Unix seconds (ManagementServer.ScheduleReboot).
    pub schedule_reboot: Option<i64>,
    /// `delay_reboot` in seconds (ManagementServer.DelayReboot); `None` when unset or <= 0.
    pub delay_reboot: Option<u32>,
    /// `exec_download`: a firmware apply was started before the last reboot.
    pub exec_download: bool,
    /// `ParameterKey`: last ParameterKey received.
    pub parameter_key: String,
    /// DeviceInfo overrides.
    pub identity: Identity,
    /// `reboot_command`: shell command for reboots (empty = built-in).
    pub reboot_command: String,
    /// `factory_reset_command`: shell command for factory resets (empty = built-in).
    pub factory_reset_command: String,
    /// `firmware_upgrade_command`: shell command applying a firmware image (empty = built-in).
    pub firmware_upgrade_command: String,
    /// `config_import_command`: shell command applying a vendor configuration file.
    pub config_import_command: String,
    /// `config_export_command`: shell command producing a vendor configuration file.
    pub config_export_command: String,
    /// `log_export_command`: shell command producing a vendor log file.
    pub log_export_command: String,
    /// `du_install_command`: installs a package file (empty: opkg when present, else the
    /// built-in store).
    pub du_install_command: String,
    /// `du_update_command`: updates from a package file.
    pub du_update_command: String,
    /// `du_uninstall_command`: removes a package by name.
    pub du_uninstall_command: String,
    /// `max_message_size`: largest ACS message accepted, in bytes after decompression
    /// (default 4 MiB; 64 KiB..64 MiB).
    pub max_message_size: u32,
    /// `max_params_per_request`: most names or parameters in one ACS request; more are
    /// answered with fault 9004 (default 1024; 16..1000000).
    pub max_params_per_request: u32,
}

impl CpeConfig {
    /// The decoding budgets these options ask for.
    pub fn limits(&self) -> crate::soap::Limits {
        crate::soap::Limits {
            max_message: self.max_message_size as usize,
            max_names: self.max_params_per_request as usize,
        }
    }
}

impl Default for CpeConfig {
    fn default() -> Self {
        CpeConfig {
            enable: true,
            default_wan_interface: "wan".into(),
            default_lan_interface: String::new(),
            disable_gatewayinfo: false,
            userid: String::new(),
            passwd: String::new(),
            port: 7547,
            path: "/".into(),
            cr_timeout: 5,
            http_cr_enable: true,
            cr_host: String::new(),
            cr_allowed_sources: Vec::new(),
            incoming_rule: IncomingRule::PortOnly,
            log_severity: LogSeverity::Info,
            log_to_console: false,
            log_to_file: false,
            log_to_syslog: true,
            log_file_name: "/var/log/icwmpd.log".into(),
            log_max_size: 102400,
            amd_version: 5,
            instance_mode: InstanceMode::Number,
            session_timeout: 60,
            periodic_notify_enable: true,
            periodic_notify_interval: 10,
            active_notif_throttle: 0,
            md_notif_limit: 0,
            custom_notify_json: String::new(),
            forced_inform_json: String::new(),
            force_ipv4: false,
            fw_upgrade_keep_settings: true,
            schedule_reboot: None,
            delay_reboot: None,
            exec_download: false,
            parameter_key: String::new(),
            identity: Identity::default(),
            reboot_command: String::new(),
            factory_reset_command: String::new(),
            firmware_upgrade_command: String::new(),
            config_import_command: String::new(),
            config_export_command: String::new(),
            log_export_command: String::new(),
            du_install_command: String::new(),
            du_update_command: String::new(),
            du_uninstall_command: String::new(),
            max_message_size: crate::soap::limits::DEFAULT_MAX_MESSAGE as u32,
            max_params_per_request: crate::soap::limits::DEFAULT_MAX_NAMES as u32,
        }
    }
}

/// Section `lwn`: lightweight (UDP) notifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LwnConfig {
    /// `enable`.
    pub enable: bool,
    /// `hostname`: notification receiver.
    pub hostname: String,
    /// `port` (default 7547).
    pub port: u16,
    /// `trigger_interval`: seconds between flushes of passive lightweight notifications
    /// (LightweightNotificationTriggerInterval; 0 = only with an active one).
    pub trigger_interval: u32,
    /// `trigger_time`: the phase of those flushes (LightweightNotificationTriggerTime).
    pub trigger_time: Option<i64>,
}

impl Default for LwnConfig {
    fn default() -> Self {
        LwnConfig {
            enable: false,
            hostname: String::new(),
            port: 7547,
            trigger_interval: 0,
            trigger_time: None,
        }
    }
}

/// One `inform_parameter` section (Device.ManagementServer.InformParameter.{i}).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InformParameter {
    /// UCI section name (generated for anonymous sections).
    pub section: String,
    /// `enable`.
    pub enable: bool,
    /// `parameter_name`: the parameter to add to Informs.
    pub parameter_name: String,
    /// `events_list`: event codes that trigger it (list, or one comma-separated option);
    /// empty = every event.
    pub events_list: Vec<String>,
    /// `informparam_alias`.
    pub alias: String,
}

/// Section `transfer_complete`: AutonomousTransferCompletePolicy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferCompletePolicy {
    /// `enable`.
    pub enable: bool,
    /// `transfer_type` (Upload, Download, Both).
    pub transfer_type: String,
    /// `result_type` (Success, Failure, Both).
    pub result_type: String,
    /// `file_type`: comma-separated FileType filter.
    pub file_type: String,
}

/// Section `du_state_change`: DUStateChangeComplPolicy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DuStateChangePolicy {
    /// `enable`.
    pub enable: bool,
    /// `operation_type` (Install, Update, Uninstall list).
    pub operation_type: String,
    /// `result_type` (Success, Failure, Both).
    pub result_type: String,
    /// `fault_code`: comma-separated fault code filter.
    pub fault_code: String,
}

/// The whole typed `/etc/config/cwmp`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Section of type `acs`.
    pub acs: AcsConfig,
    /// Section of type `cpe`.
    pub cpe: CpeConfig,
    /// Section of type `lwn`.
    pub lwn: LwnConfig,
    /// The `stun_*` options of section `cpe`.
    pub stun: StunConfig,
    /// The `xmpp_*` options of section `cpe`.
    pub xmpp: XmppConfig,
    /// Every `inform_parameter` section, in file order.
    pub inform_parameters: Vec<InformParameter>,
    /// Section of type `transfer_complete`, if present.
    pub transfer_complete: Option<TransferCompletePolicy>,
    /// Section of type `du_state_change`, if present.
    pub du_state_change: Option<DuStateChangePolicy>,
    /// Operations options (ACS fallback, proxy, log timestamps): see [`OpsConfig`].
    pub ops: OpsConfig,
}

/// Options of this daemon beyond the C one's: the last-good-ACS fallback and the HTTP proxy
/// (section `acs`), millisecond log timestamps (section `cpe`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpsConfig {
    /// `acs.fallback_enable` (default on): go back to the last ACS URL that completed a
    /// session when a new one keeps failing.
    pub fallback_enable: bool,
    /// `acs.fallback_attempts` (default 5): failed sessions with a new URL before falling
    /// back; 0 = no limit by count.
    pub fallback_attempts: u32,
    /// `acs.fallback_time` in seconds (default 600): time a new URL gets to complete a
    /// session before falling back; 0 = no limit by time.
    pub fallback_time: u32,
    /// `acs.fallback_retry_interval` in seconds (default 3600): how often the new URL is tried
    /// again while fallen back.
    pub fallback_retry_interval: u32,
    /// `acs.http_proxy`: `http://[user:pass@]host:port` proxy for the ACS (empty: none).
    pub http_proxy: String,
    /// `acs.http_proxy_env` (default off): with no `http_proxy`, use the `http_proxy` /
    /// `https_proxy` / `no_proxy` environment variables.
    pub http_proxy_env: bool,
    /// `cpe.log_timestamp_ms` (default off): log times with milliseconds.
    pub log_timestamp_ms: bool,
    /// `cpe.metrics_file` (default none): a file (best in RAM, e.g. under /var/run) where the
    /// daemon keeps its metrics for `icwmpd -c metrics`; without one that command asks the
    /// daemon over ubus.
    pub metrics_file: String,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            fallback_enable: true,
            fallback_attempts: 5,
            fallback_time: 600,
            fallback_retry_interval: 3600,
            http_proxy: String::new(),
            http_proxy_env: false,
            log_timestamp_ms: false,
            metrics_file: String::new(),
        }
    }
}

impl Config {
    /// Reads and types a config file; warnings (values replaced by defaults) are returned
    /// for the caller to log. A C-era STUN config next to it (`stunc`, `cwmp_stun`) is
    /// merged in (see [`stun_legacy`]); when it is unusable it is ignored with a warning.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&name, 0, format!("cannot read {name}: {e}")))?;
        let doc = Document::parse(&text, &name)?;
        let Some((legacy, ldoc)) = stun_legacy::load(path) else {
            return load::from_document(&doc);
        };
        let file = legacy.path(path).display().to_string();
        let mut extra = Vec::new();
        match ldoc {
            Ok(ldoc) => {
                let mut merged = doc.clone();
                extra = stun_legacy::overlay(&mut merged, legacy, &ldoc);
                match load::from_document(&merged) {
                    Ok((mut c, mut w)) => {
                        c.stun.legacy = Some(legacy);
                        w.append(&mut extra);
                        return Ok((c, w));
                    }
                    Err(e) => extra = vec![format!("{file}: STUN options not used: {e}")],
                }
            }
            Err(e) => extra.push(format!("{e}: STUN options not used")),
        }
        let (mut c, mut w) = load::from_document(&doc)?;
        c.stun.legacy = Some(legacy);
        w.append(&mut extra);
        Ok((c, w))
    }

    /// Types UCI text; `file_name` is used in messages.
    pub fn from_str(text: &str, file_name: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let doc = Document::parse(text, file_name)?;
        load::from_document(&doc)
    }

    /// Types an already parsed document.
    pub fn from_document(doc: &Document) -> Result<(Config, Vec<String>), ConfigError> {
        load::from_document(doc)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_files;
