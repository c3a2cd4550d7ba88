//! Where each served parameter's value comes from: the ConfigStore (UCI `cwmp` options), the
//! host, the persisted tables in dm.json, or a constant. Every generated entry must have one
//! (a unit test checks it).

/// How a config option's text maps to the parameter value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Conv {
    /// Stored as the value itself.
    Plain,
    /// UCI boolean (`1`/`0`, also `true`/`on`/`yes`/`enable` when read).
    Bool,
    /// dateTime; unset reads as the Unknown Time.
    DateTime,
    /// `acs.compression` `gzip`/`deflate`/`none` <-> `GZIP`/`Deflate`/`Disabled`.
    Compression,
    /// `lwn.enable` <-> `UDP` / empty list.
    LwnProtocols,
}

/// A DeviceInfo value: a `cpe` override option, else a host default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Info {
    Manufacturer,
    Oui,
    ModelName,
    Description,
    ProductClass,
    Serial,
    HardwareVersion,
    SoftwareVersion,
}

/// A live host value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Host {
    UpTime,
    MemTotal,
    MemFree,
    CpuUsage,
    Processes,
    ConnReqUrl,
    /// UDPConnectionRequestAddress, from the STUN client's status file.
    UdpConnReqAddress,
    /// NATDetected, likewise.
    NatDetected,
    /// SupportedConnReqMethods: HTTP, and STUN and XMPP when enabled.
    ConnReqMethods,
    /// ConnReqJabberID, from the XMPP client's published JID.
    JabberId,
    /// XMPP.Connection.1.Status: Enabled (bound), Connecting, or Disabled.
    XmppStatus,
    /// XMPP.Connection.1.TLSEstablished: bound with UseTLS on.
    XmppTls,
    /// XMPP.Connection.1.ServerConnectAlgorithm: `cpe.xmpp_server_algorithm`, else
    /// ServerTable with a server set and DNS-SRV without (writable: see xmpp_rows.rs).
    XmppAlgorithm,
    LocalTime,
    TimeZone,
    TimeStatus,
}

/// Per-interface and per-address values (Device.IP.Interface.{i}.).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    Enable,
    Status,
    Alias,
    Name,
    Mtu,
    Type,
    Loopback,
    V4Count,
    V6Count,
    AddrAlias,
    V4Addr,
    V4Mask,
    V4Type,
    V6Addr,
    V6Status,
    V6Origin,
}

/// A column of `Device.ManagementServer.ManageableDevice.{i}.` (TR-111 part 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Md {
    Oui,
    Serial,
    ProductClass,
    Host,
}

/// A column of `Device.XMPP.Connection.1.Server.{i}.`, one row per `cpe.xmpp_server` entry
/// (see xmpp_rows.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum XmppCol {
    /// `cpe-<i>`; row 1's is writable (kept in dm.json).
    Alias,
    /// The position, from 0.
    Priority,
    /// The entry's host.
    Address,
    /// The entry's port, else `cpe.xmpp_port`.
    Port,
}

/// The value source of one schema entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    /// A single-instance object (no value).
    Object,
    /// A table whose instances live in dm.json (writable).
    StoredTable,
    /// Tables mirrored from the host (interfaces, their IPv4 and IPv6 addresses).
    IfaceTable,
    /// A table of exactly one row, instance 1 (the XMPP connection).
    OneRow,
    /// The XMPP connection's servers: a row per `cpe.xmpp_server` entry (at least one).
    XmppServerTable,
    /// A column of [`Src::XmppServerTable`].
    XmppServer(XmppCol),
    V4Table,
    V6Table,
    /// A fixed value.
    Const(&'static str),
    /// A ConfigStore option (section, option, default when unset).
    Cfg(&'static str, &'static str, &'static str, Conv),
    /// A DeviceInfo override-or-host value.
    Info(&'static str, Info),
    /// A live host value.
    Host(Host),
    /// A writable singleton kept in dm.json (default when unset).
    Kept(&'static str),
    /// A `...NumberOfEntries`: the sibling table naming it in `numEntriesParameter`.
    Count,
    /// A column of a stored table row.
    Stored,
    /// The LAN devices that announced themselves with DHCP option 125, read from the file
    /// `cpe.manageable_devices_file` names (see view.rs).
    MdTable,
    /// A column of [`Src::MdTable`].
    Md(Md),
    /// `PortMapping.{i}.Status`, derived from its Enable.
    MappingStatus,
    /// Interface data.
    Net(Net),
    /// A test object's `DiagnosticsState` (the diagnostics store, src/diag/store.rs).
    DiagState,
    /// A test input, kept in the diagnostics store (default when never written).
    DiagInput,
    /// A result of the last test, from the diagnostics store (zero value when absent).
    DiagResult,
    /// A result table; its rows are the results named `<Table>.<n>.`.
    DiagTable,
}

/// The source of a `Device.XMPP.` path (`None`: not one): the `cpe.xmpp_*` options of the
/// one connection the `xmpp` thread keeps.
fn xmpp_source(path: &str) -> Option<Src> {
    use Conv::*;
    use Src::*;
    const CONN: &str = "Device.XMPP.Connection.{i}.";
    if let Some(p) = path.strip_prefix(CONN) {
        return Some(match p {
            "" => OneRow,
            "Server.{i}." => XmppServerTable,
            "Enable" => Cfg("cpe", "xmpp_enable", "0", Bool),
            "Alias" => Kept("cpe-1"),
            "Server.{i}.Alias" => XmppServer(XmppCol::Alias),
            "Username" => Cfg("cpe", "xmpp_username", "", Plain),
            "Password" => Cfg("cpe", "xmpp_password", "", Plain),
            "Domain" => Cfg("cpe", "xmpp_domain", "", Plain),
            "Resource" => Cfg("cpe", "xmpp_resource", "cwmp", Plain),
            "JabberID" => Host(self::Host::JabberId),
            "Status" => Host(self::Host::XmppStatus),
            "LastChangeDate" => Const("0001-01-01T00:00:00Z"),
            "ServerConnectAlgorithm" => Host(self::Host::XmppAlgorithm),
            "KeepAliveInterval" => Cfg("cpe", "xmpp_keepalive", "60", Plain),
            "ServerRetryInitialInterval" => Cfg("cpe", "xmpp_retry_initial", "60", Plain),
            "ServerRetryIntervalMultiplier" => Cfg("cpe", "xmpp_retry_multiplier", "2000", Plain),
            "ServerRetryMaxInterval" => Cfg("cpe", "xmpp_retry_max", "30720", Plain),
            "UseTLS" => Cfg("cpe", "xmpp_use_tls", "1", Bool),
            "TLSEstablished" => Host(self::Host::XmppTls),
            "ServerNumberOfEntries" => Count,
            "Server.{i}.Enable" => Const("true"),
            "Server.{i}.Priority" => XmppServer(XmppCol::Priority),
            "Server.{i}.Weight" => Const("-1"),
            "Server.{i}.ServerAddress" => XmppServer(XmppCol::Address),
            "Server.{i}.Port" => XmppServer(XmppCol::Port),
            _ => return None,
        });
    }
    Some(match path.strip_prefix("Device.XMPP.")? {
        "" => Object,
        "ConnectionNumberOfEntries" => Count,
        "SupportedServerConnectAlgorithms" => Const(crate::xmpp::servers::SUPPORTED),
        _ => return None,
    })
}

/// The source of a parameter of a diagnostics object (`None`: not one).
fn diag_source(path: &str) -> Option<Src> {
    use Src::*;
    if let Some(p) = path.strip_prefix("Device.IP.Diagnostics.") {
        if p.is_empty() {
            return Some(Object);
        }
        if p.starts_with("IPv") && p.ends_with("Supported") {
            return Some(Const("true"));
        }
    }
    if matches!(path, "Device.DNS." | "Device.DNS.Diagnostics.") {
        return Some(Object);
    }
    let kind = crate::diag::Kind::of_path(path)?;
    let rel = &path[kind.object().len()..];
    Some(match rel {
        "" => Object,
        "DiagnosticsState" => DiagState,
        "DownloadTransports" | "UploadTransports" => Const("HTTP,FTP"),
        // What the engines can do (their constants: `capabilities_are_the_engines` keeps
        // these equal).
        "DownloadDiagnosticMaxConnections" | "UploadDiagnosticsMaxConnections" => Const("8"),
        "DownloadDiagnosticsMaxIncrementalResult" | "UploadDiagnosticsMaxIncrementalResult" => {
            Const("999")
        }
        "UDPEchoDiagnosticsMaxResults" => Const("100"),
        r if r.ends_with("NumberOfEntries") => Count,
        r if r.ends_with("{i}.") => DiagTable,
        _ => {
            let writable = super::schema::SCHEMA
                .iter()
                .any(|e| e.path == path && e.writable);
            if writable {
                DiagInput
            } else {
                DiagResult
            }
        }
    })
}

/// The source of a schema path, `None` if this backend cannot serve it.
pub(crate) fn source(path: &str) -> Option<Src> {
    use Conv::*;
    use Src::*;
    const MS: &str = "Device.ManagementServer.";
    if let Some(d) = diag_source(path) {
        return Some(d);
    }
    if let Some(p) = path.strip_prefix(MS) {
        return Some(match p {
            "" => Object,
            "EnableCWMP" => Cfg("cpe", "enable", "1", Bool),
            "URL" => Cfg("acs", "url", "", Plain),
            "Username" => Cfg("acs", "userid", "", Plain),
            "Password" => Cfg("acs", "passwd", "", Plain),
            "ScheduleReboot" => Cfg("cpe", "schedule_reboot", "", DateTime),
            "DelayReboot" => Cfg("cpe", "delay_reboot", "-1", Plain),
            "PeriodicInformEnable" => Cfg("acs", "periodic_inform_enable", "0", Bool),
            "PeriodicInformInterval" => Cfg("acs", "periodic_inform_interval", "86400", Plain),
            "PeriodicInformTime" => Cfg("acs", "periodic_inform_time", "", DateTime),
            "ParameterKey" => Cfg("cpe", "ParameterKey", "", Plain),
            "ConnectionRequestURL" => Host(self::Host::ConnReqUrl),
            "ConnectionRequestUsername" => Cfg("cpe", "userid", "", Plain),
            "ConnectionRequestPassword" => Cfg("cpe", "passwd", "", Plain),
            "UpgradesManaged" => Cfg("cpe", "upgrades_managed", "0", Bool),
            "KickURL" | "DownloadProgressURL" => Const(""),
            "ConnReqJabberID" => Host(self::Host::JabberId),
            "DefaultActiveNotificationThrottle" => Cfg("cpe", "active_notif_throttle", "0", Plain),
            "CWMPRetryMinimumWaitInterval" => Cfg("acs", "retry_min_wait_interval", "5", Plain),
            "CWMPRetryIntervalMultiplier" => Cfg("acs", "retry_interval_multiplier", "2000", Plain),
            "HTTPConnectionRequestEnable" => Cfg("cpe", "http_cr_enable", "1", Bool),
            "STUNEnable" => Cfg("cpe", "stun_enable", "0", Bool),
            "STUNServerAddress" => Cfg("cpe", "stun_server_address", "", Plain),
            "STUNServerPort" => Cfg("cpe", "stun_server_port", "3478", Plain),
            "STUNUsername" => Cfg("cpe", "stun_username", "", Plain),
            "STUNPassword" => Cfg("cpe", "stun_password", "", Plain),
            "STUNMaximumKeepAlivePeriod" => Cfg("cpe", "stun_max_keepalive", "-1", Plain),
            "STUNMinimumKeepAlivePeriod" => Cfg("cpe", "stun_min_keepalive", "0", Plain),
            "UDPConnectionRequestAddress" => Host(self::Host::UdpConnReqAddress),
            "NATDetected" => Host(self::Host::NatDetected),
            "AliasBasedAddressing" => Const("false"),
            "InstanceMode" => Cfg("cpe", "instance_mode", "InstanceNumber", Plain),
            "AutoCreateInstances" => Cfg("cpe", "auto_create_instances", "0", Bool),
            "ManageableDeviceNumberOfEntries" => Count,
            "ManageableDevice.{i}." => MdTable,
            "ManageableDevice.{i}.ManufacturerOUI" => Md(self::Md::Oui),
            "ManageableDevice.{i}.SerialNumber" => Md(self::Md::Serial),
            "ManageableDevice.{i}.ProductClass" => Md(self::Md::ProductClass),
            "ManageableDevice.{i}.Host" => Md(self::Md::Host),
            "EmbeddedDeviceNumberOfEntries" | "VirtualDeviceNumberOfEntries" => Const("0"),
            "ManageableDeviceNotificationLimit" => Cfg("cpe", "md_notif_limit", "0", Plain),
            "SupportedConnReqMethods" => Host(self::Host::ConnReqMethods),
            "ConnReqXMPPConnection" => Cfg("cpe", "xmpp_connection", "", Plain),
            "ConnReqAllowedJabberIDs" => Cfg("cpe", "xmpp_allowed_jids", "", Plain),
            "HTTPCompressionSupported" => Const("GZIP,Deflate"),
            "HTTPCompression" => Cfg("acs", "compression", "none", Compression),
            "LightweightNotificationProtocolsSupported" => Const("UDP"),
            "LightweightNotificationProtocolsUsed" => Cfg("lwn", "enable", "0", LwnProtocols),
            "LightweightNotificationTriggerInterval" => Cfg("lwn", "trigger_interval", "0", Plain),
            "LightweightNotificationTriggerTime" => Cfg("lwn", "trigger_time", "", DateTime),
            "UDPLightweightNotificationHost" => Cfg("lwn", "hostname", "", Plain),
            "UDPLightweightNotificationPort" => Cfg("lwn", "port", "7547", Plain),
            "InstanceWildcardsSupported" => Const("true"),
            "InformParameterNumberOfEntries" => Count,
            "InformParameter.{i}." => StoredTable,
            "InformParameter.{i}.Enable"
            | "InformParameter.{i}.Alias"
            | "InformParameter.{i}.ParameterName"
            | "InformParameter.{i}.EventList" => Stored,
            "HeartbeatPolicy." => Object,
            "HeartbeatPolicy.Enable" => Cfg("acs", "heartbeat_enable", "0", Bool),
            "HeartbeatPolicy.ReportingInterval" => Cfg("acs", "heartbeat_interval", "30", Plain),
            "HeartbeatPolicy.InitiationTime" => Cfg("acs", "heartbeat_time", "", DateTime),
            _ => return None,
        });
    }
    if let Some(x) = xmpp_source(path) {
        return Some(x);
    }
    if let Some(p) = path.strip_prefix("Device.IP.Interface.{i}.") {
        use self::Net::*;
        return Some(match p {
            "" => IfaceTable,
            "IPv4Address.{i}." => V4Table,
            "IPv6Address.{i}." => V6Table,
            "Enable" => Net(Enable),
            "IPv4Enable" | "IPv6Enable" => Const("true"),
            "Status" => Net(Status),
            "Alias" => Net(Alias),
            "Name" => Net(Name),
            "MaxMTUSize" => Net(Mtu),
            "Type" => Net(Type),
            "Loopback" => Net(Loopback),
            "IPv4AddressNumberOfEntries" => Net(V4Count),
            "IPv6AddressNumberOfEntries" => Net(V6Count),
            "IPv4Address.{i}.Enable" | "IPv6Address.{i}.Enable" => Const("true"),
            "IPv4Address.{i}.Status" | "IPv6Address.{i}.Status" => Const("Enabled"),
            "IPv4Address.{i}.Alias" | "IPv6Address.{i}.Alias" => Net(AddrAlias),
            "IPv4Address.{i}.IPAddress" => Net(V4Addr),
            "IPv4Address.{i}.SubnetMask" => Net(V4Mask),
            "IPv4Address.{i}.AddressingType" => Net(V4Type),
            "IPv6Address.{i}.IPAddress" => Net(V6Addr),
            "IPv6Address.{i}.IPAddressStatus" => Net(V6Status),
            "IPv6Address.{i}.Origin" => Net(V6Origin),
            _ => return None,
        });
    }
    if let Some(p) = path.strip_prefix("Device.NAT.PortMapping.{i}.") {
        return Some(match p {
            "" => StoredTable,
            "Status" => MappingStatus,
            // Read-only: the schema default (Origin Controller, no lease countdown).
            "Origin" => Const("Controller"),
            "RemainingLeaseTime" => Const("0"),
            _ => Stored,
        });
    }
    if let Some(p) = path.strip_prefix("Device.Users.User.{i}.") {
        return Some(match p {
            "" => StoredTable,
            "StaticUser" => Const("false"),
            _ => Stored,
        });
    }
    const DI: &str = "Device.DeviceInfo.";
    Some(match path {
        "Device."
        | DI
        | "Device.DeviceInfo.MemoryStatus."
        | "Device.DeviceInfo.ProcessStatus."
        | "Device.Time."
        | "Device.IP."
        | "Device.NAT."
        | "Device.Users."
        | "Device.GatewayInfo." => Object,
        // Written by the udhcpc option-125 hook (openwrt/files/etc/udhcpc.user.d).
        "Device.GatewayInfo.ManufacturerOUI" => Cfg("gatewayinfo", "manufacturer_oui", "", Plain),
        "Device.GatewayInfo.ProductClass" => Cfg("gatewayinfo", "product_class", "", Plain),
        "Device.GatewayInfo.SerialNumber" => Cfg("gatewayinfo", "serial_number", "", Plain),
        "Device.RootDataModelVersion" => Const("2.19"),
        "Device.DeviceInfo.Manufacturer" => Info("manufacturer", self::Info::Manufacturer),
        "Device.DeviceInfo.ManufacturerOUI" => Info("manufacturer_oui", self::Info::Oui),
        "Device.DeviceInfo.ModelName" => Info("model_name", self::Info::ModelName),
        "Device.DeviceInfo.Description" => Info("description", self::Info::Description),
        "Device.DeviceInfo.ProductClass" => Info("product_class", self::Info::ProductClass),
        "Device.DeviceInfo.SerialNumber" => Info("serial_number", self::Info::Serial),
        "Device.DeviceInfo.HardwareVersion" => {
            Info("hardware_version", self::Info::HardwareVersion)
        }
        "Device.DeviceInfo.SoftwareVersion" => {
            Info("software_version", self::Info::SoftwareVersion)
        }
        "Device.DeviceInfo.ProvisioningCode" => Cfg("cpe", "provisioning_code", "", Plain),
        "Device.DeviceInfo.UpTime" => Host(self::Host::UpTime),
        "Device.DeviceInfo.MemoryStatus.Total" => Host(self::Host::MemTotal),
        "Device.DeviceInfo.MemoryStatus.Free" => Host(self::Host::MemFree),
        "Device.DeviceInfo.ProcessStatus.CPUUsage" => Host(self::Host::CpuUsage),
        "Device.DeviceInfo.ProcessStatus.ProcessNumberOfEntries" => Host(self::Host::Processes),
        "Device.Time.Enable" => Kept("true"),
        "Device.Time.Status" => Host(self::Host::TimeStatus),
        "Device.Time.CurrentLocalTime" => Host(self::Host::LocalTime),
        "Device.Time.LocalTimeZone" => Host(self::Host::TimeZone),
        "Device.IP.InterfaceNumberOfEntries" => Count,
        "Device.NAT.PortMappingNumberOfEntries" => Count,
        "Device.Users.UserNumberOfEntries" => Count,
        _ => return None,
    })
}

/// Reads a UCI boolean the way the C icwmp does (prefix match on true words).
pub(crate) fn uci_bool(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    ["1", "true", "on", "yes", "enable"]
        .iter()
        .any(|w| v.starts_with(w))
}

/// The parameter value of a config option's text.
pub(crate) fn from_config(raw: &str, conv: Conv) -> String {
    match conv {
        Conv::Plain => raw.to_string(),
        Conv::Bool | Conv::LwnProtocols => {
            let on = uci_bool(raw);
            match (conv, on) {
                (Conv::Bool, b) => b.to_string(),
                (_, true) => "UDP".into(),
                (_, false) => String::new(),
            }
        }
        Conv::DateTime => {
            let raw = raw.trim();
            if let Some(t) = crate::time::parse_datetime(raw) {
                // Read back as written (fraction of a second and zone kept): an ACS that
                // compares what it set with what it reads must see no difference. Only a
                // time without a zone (UTC by convention) gets its `Z`.
                if let Some(body) = raw.strip_suffix('z') {
                    format!("{body}Z")
                } else if crate::time::has_zone(raw) {
                    raw.to_string()
                } else if raw.len() > 19 {
                    format!("{raw}Z")
                } else {
                    crate::time::format_datetime(t)
                }
            } else if let Ok(t) = raw.parse::<i64>() {
                // Unix seconds (0 = unset), as some uci-defaults scripts write them.
                if t == 0 {
                    crate::time::UNKNOWN_TIME.into()
                } else {
                    crate::time::format_datetime(t)
                }
            } else {
                crate::time::UNKNOWN_TIME.into()
            }
        }
        Conv::Compression => match raw.trim().to_ascii_lowercase().as_str() {
            "gzip" => "GZIP".into(),
            "deflate" => "Deflate".into(),
            _ => "Disabled".into(),
        },
    }
}

/// The config text for a checked parameter value; `None` if the value is not allowed.
pub(crate) fn to_config(value: &str, conv: Conv) -> Option<String> {
    Some(match conv {
        Conv::Plain | Conv::DateTime => value.to_string(),
        Conv::Bool => if value == "true" { "1" } else { "0" }.into(),
        Conv::Compression => match value {
            "GZIP" => "gzip".into(),
            "Deflate" => "deflate".into(),
            "Disabled" | "" => "none".into(),
            _ => return None,
        },
        Conv::LwnProtocols => match value.trim() {
            "UDP" => "1".into(),
            "" => "0".into(),
            _ => return None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::embedded::schema::SCHEMA;

    #[test]
    fn every_schema_entry_has_a_value_source() {
        for e in SCHEMA {
            assert!(source(e.path).is_some(), "no source for {}", e.path);
        }
    }

    #[test]
    fn config_conversions_round_trip() {
        assert_eq!(from_config("on", Conv::Bool), "true");
        assert_eq!(from_config("0", Conv::Bool), "false");
        assert_eq!(to_config("true", Conv::Bool).as_deref(), Some("1"));
        assert_eq!(from_config("gzip", Conv::Compression), "GZIP");
        assert_eq!(
            to_config("Deflate", Conv::Compression).as_deref(),
            Some("deflate")
        );
        assert_eq!(to_config("Compress", Conv::Compression), None);
        assert_eq!(from_config("1", Conv::LwnProtocols), "UDP");
        assert_eq!(to_config("TCP", Conv::LwnProtocols), None);
        assert_eq!(from_config("", Conv::DateTime), crate::time::UNKNOWN_TIME);
        assert_eq!(
            from_config("2024-01-02T03:04:05", Conv::DateTime),
            "2024-01-02T03:04:05Z"
        );
        // Written values read back unchanged, fraction of a second and zone included.
        for v in [
            "2024-01-02T03:04:05.944Z",
            "2024-01-02T03:04:05Z",
            "2024-01-02T05:04:05.5+02:00",
        ] {
            assert_eq!(from_config(v, Conv::DateTime), v);
            assert_eq!(to_config(v, Conv::DateTime).as_deref(), Some(v));
        }
        assert_eq!(
            from_config("2024-01-02T03:04:05.25", Conv::DateTime),
            "2024-01-02T03:04:05.25Z"
        );
        assert_eq!(
            from_config("1700000000", Conv::DateTime),
            "2023-11-14T22:13:20Z"
        );
    }
}
