#!/usr/bin/env python3
"""Generates src/datamodel/embedded/schema_gen.rs from the BBF TR-181 CWMP "full" XML.

Usage (from the project root):
    python3 tools/gen_tr181.py ../shared/spec/tr-181-2-19-1-cwmp-full.xml \
        ../shared/spec/tr-106-types.xml > src/datamodel/embedded/schema_gen.rs

Only the subset listed in SUBSET is emitted: the embedded backend serves exactly these
objects and parameters (each one must have a value source in embedded/sources.rs).
Python 3 standard library only; the output is deterministic.
"""

import sys
import xml.etree.ElementTree as ET

# (object path, parameters to keep, served read-only although the XML says readWrite: True
# for the object and its parameters, "table" for the table only: fixed rows, no AddObject)
SUBSET = [
    ("Device.", ["RootDataModelVersion"], False),
    ("Device.DeviceInfo.", [
        "Manufacturer", "ManufacturerOUI", "ModelName", "Description", "ProductClass",
        "SerialNumber", "HardwareVersion", "SoftwareVersion", "ProvisioningCode", "UpTime",
    ], False),
    ("Device.DeviceInfo.MemoryStatus.", ["Total", "Free"], False),
    ("Device.DeviceInfo.ProcessStatus.", ["CPUUsage", "ProcessNumberOfEntries"], False),
    ("Device.ManagementServer.", [
        "EnableCWMP", "URL", "Username", "Password", "ScheduleReboot", "DelayReboot",
        "PeriodicInformEnable", "PeriodicInformInterval", "PeriodicInformTime", "ParameterKey",
        "ConnectionRequestURL", "ConnectionRequestUsername", "ConnectionRequestPassword",
        "UpgradesManaged", "KickURL", "DownloadProgressURL", "DefaultActiveNotificationThrottle",
        "CWMPRetryMinimumWaitInterval", "CWMPRetryIntervalMultiplier",
        "HTTPConnectionRequestEnable", "UDPConnectionRequestAddress", "STUNEnable",
        "STUNServerAddress", "STUNServerPort", "STUNUsername", "STUNPassword",
        "STUNMaximumKeepAlivePeriod", "STUNMinimumKeepAlivePeriod", "NATDetected",
        "AliasBasedAddressing", "InstanceMode", "AutoCreateInstances",
        "ManageableDeviceNumberOfEntries", "ManageableDeviceNotificationLimit",
        "EmbeddedDeviceNumberOfEntries", "VirtualDeviceNumberOfEntries",
        "SupportedConnReqMethods", "ConnReqXMPPConnection", "ConnReqAllowedJabberIDs",
        "ConnReqJabberID", "HTTPCompressionSupported", "HTTPCompression",
        "LightweightNotificationProtocolsSupported", "LightweightNotificationProtocolsUsed",
        "LightweightNotificationTriggerInterval", "LightweightNotificationTriggerTime",
        "UDPLightweightNotificationHost", "UDPLightweightNotificationPort",
        "InstanceWildcardsSupported", "InformParameterNumberOfEntries",
    ], False),
    ("Device.ManagementServer.InformParameter.{i}.",
     ["Enable", "Alias", "ParameterName", "EventList"], False),
    # TR-111 part 1: LAN devices that announced themselves with DHCP option 125.
    ("Device.ManagementServer.ManageableDevice.{i}.",
     ["ManufacturerOUI", "SerialNumber", "ProductClass", "Host"], True),
    ("Device.ManagementServer.HeartbeatPolicy.",
     ["Enable", "ReportingInterval", "InitiationTime"], False),
    # TR-111 part 1: our gateway's identity, from the DHCP option 125 the WAN lease carries.
    ("Device.GatewayInfo.", ["ManufacturerOUI", "ProductClass", "SerialNumber"], False),
    ("Device.Time.", ["Enable", "Status", "CurrentLocalTime", "LocalTimeZone"], False),
    ("Device.IP.", ["InterfaceNumberOfEntries"], True),
    ("Device.IP.Interface.{i}.", [
        "Enable", "IPv4Enable", "Status", "Alias", "Name", "IPv6Enable", "MaxMTUSize", "Type",
        "Loopback", "IPv4AddressNumberOfEntries", "IPv6AddressNumberOfEntries",
    ], True),
    ("Device.IP.Interface.{i}.IPv4Address.{i}.",
     ["Enable", "Status", "Alias", "IPAddress", "SubnetMask", "AddressingType"], True),
    ("Device.IP.Interface.{i}.IPv6Address.{i}.",
     ["Enable", "Status", "IPAddressStatus", "Alias", "IPAddress", "Origin"], True),
    # Diagnostics (src/diag): every current parameter ("*"); the capabilities are the
    # engines' constants (embedded/sources.rs).
    ("Device.IP.Diagnostics.", [
        "IPv4PingSupported", "IPv6PingSupported", "IPv4TraceRouteSupported",
        "IPv6TraceRouteSupported", "IPv4DownloadDiagnosticsSupported",
        "IPv6DownloadDiagnosticsSupported", "IPv4UploadDiagnosticsSupported",
        "IPv6UploadDiagnosticsSupported", "IPv4UDPEchoDiagnosticsSupported",
        "IPv6UDPEchoDiagnosticsSupported", "IPv4ServerSelectionDiagnosticsSupported",
        "IPv6ServerSelectionDiagnosticsSupported",
    ], False),
    ("Device.IP.Diagnostics.IPPing.", "*", False),
    ("Device.IP.Diagnostics.TraceRoute.", "*", False),
    ("Device.IP.Diagnostics.TraceRoute.RouteHops.{i}.", "*", False),
    ("Device.IP.Diagnostics.DownloadDiagnostics.", "*", False),
    ("Device.IP.Diagnostics.DownloadDiagnostics.PerConnectionResult.{i}.", "*", False),
    ("Device.IP.Diagnostics.DownloadDiagnostics.IncrementalResult.{i}.", "*", False),
    ("Device.IP.Diagnostics.UploadDiagnostics.", "*", False),
    ("Device.IP.Diagnostics.UploadDiagnostics.PerConnectionResult.{i}.", "*", False),
    ("Device.IP.Diagnostics.UploadDiagnostics.IncrementalResult.{i}.", "*", False),
    ("Device.IP.Diagnostics.UDPEchoDiagnostics.", "*", False),
    ("Device.IP.Diagnostics.UDPEchoDiagnostics.IndividualPacketResult.{i}.", "*", False),
    ("Device.IP.Diagnostics.ServerSelectionDiagnostics.", "*", False),
    ("Device.NAT.", ["PortMappingNumberOfEntries"], False),
    ("Device.NAT.PortMapping.{i}.", [
        "Enable", "Status", "Origin", "Alias", "Interface", "AllInterfaces", "LeaseDuration",
        "RemainingLeaseTime", "RemoteHost", "ExternalPort", "ExternalPortEndRange",
        "InternalPort", "Protocol", "InternalClient", "Description",
    ], False),
    ("Device.DNS.", [], False),
    ("Device.DNS.Diagnostics.", [], False),
    ("Device.DNS.Diagnostics.NSLookupDiagnostics.", "*", False),
    ("Device.DNS.Diagnostics.NSLookupDiagnostics.Result.{i}.", "*", False),
    # Annex K: the one XMPP connection the `xmpp` thread keeps (cpe.xmpp_* options); the
    # connection is one row, the servers a row per cpe.xmpp_server entry ("table": no
    # AddObject/DeleteObject, parameters as the XML; rows from sources.rs / xmpp_rows.rs).
    ("Device.XMPP.", ["ConnectionNumberOfEntries", "SupportedServerConnectAlgorithms"], False),
    ("Device.XMPP.Connection.{i}.", [
        "Enable", "Alias", "Username", "Password", "Domain", "Resource", "JabberID", "Status",
        "LastChangeDate", "ServerConnectAlgorithm", "KeepAliveInterval",
        "ServerRetryInitialInterval", "ServerRetryIntervalMultiplier", "ServerRetryMaxInterval",
        "UseTLS", "TLSEstablished", "ServerNumberOfEntries",
    ], "table"),
    ("Device.XMPP.Connection.{i}.Server.{i}.",
     ["Enable", "Alias", "Priority", "Weight", "ServerAddress", "Port"], "table"),
    ("Device.Users.", ["UserNumberOfEntries"], False),
    ("Device.Users.User.{i}.", [
        "Alias", "Enable", "UserID", "Username", "Password", "Language", "Shell", "StaticUser",
    ], False),
]

# Parameters of the diagnostics objects not served.
SKIP = set()

BASE_TYPES = {
    "string": "String", "int": "Int", "unsignedInt": "UnsignedInt", "long": "Long",
    "unsignedLong": "UnsignedLong", "boolean": "Boolean", "dateTime": "DateTime",
    "base64": "Base64", "hexBinary": "HexBinary",
}
NOTIFY = {
    None: "Normal", "normal": "Normal", "canDeny": "CanDeny",
    "forceEnabled": "ForceEnabled", "forceDefaultEnabled": "ForceDefaultEnabled",
}


class Facets:
    """Type plus the cheap constraints we enforce on SetParameterValues."""

    def __init__(self):
        self.ty = None
        self.list = False
        self.max_len = 0
        self.range = None
        self.enums = []

    def absorb(self, el):
        """Takes the facets under a type element; facets already set (more specific) win."""
        ranges = el.findall("range")
        if self.range is None and len(ranges) == 1:
            self.range = (ranges[0].get("minInclusive"), ranges[0].get("maxInclusive"))
        size = el.find("size")
        if not self.max_len and size is not None and size.get("maxLength"):
            self.max_len = int(size.get("maxLength"))
        if not self.enums:
            # Values marked readOnly are reported by the CPE but cannot be written.
            self.enums = [e.get("value") for e in el.findall("enumeration")
                          if e.get("access") != "readOnly"]


def load_datatypes(roots):
    """Maps dataType name -> element, earlier roots taking priority."""
    defs = {}
    for root in roots:
        for dt in root.iter("dataType"):
            name = dt.get("name")
            if name and name not in defs:
                defs[name] = dt
    return defs


def resolve(el, defs, facets, depth=0):
    """Fills facets from a syntax or dataType element, following dataType refs and bases."""
    if depth > 20:
        raise SystemExit("dataType cycle")
    for child in el:
        if child.tag == "list":
            facets.list = True
            for f in child:
                if f.tag == "size" and f.get("maxLength") and not facets.max_len:
                    facets.max_len = int(f.get("maxLength"))
        elif child.tag in BASE_TYPES:
            if facets.ty is None:
                facets.ty = BASE_TYPES[child.tag]
            facets.absorb(child)
        elif child.tag == "dataType" and child.get("ref"):
            # Facets on the reference itself are more specific than the definition's.
            facets.absorb(child)
            ref = child.get("ref")
            if ref not in defs:
                raise SystemExit("unknown dataType " + ref)
            resolve(defs[ref], defs, facets, depth + 1)
    base = el.get("base")
    if el.tag == "dataType" and base:
        if base not in defs:
            raise SystemExit("unknown base dataType " + base)
        resolve(defs[base], defs, facets, depth + 1)


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def intern(table, item):
    """The 1-based index of item in table (0 means none), appending it when new."""
    if item not in table:
        table.append(item)
    return table.index(item) + 1


def bound(v, default):
    if v is None:
        return default
    n = int(v)
    return str(max(min(n, 2**63 - 1), -(2**63)))


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    tr181 = ET.parse(sys.argv[1]).getroot()
    tr106 = ET.parse(sys.argv[2]).getroot()
    defs = load_datatypes([tr181, tr106])
    model = tr181.find("model")
    objects = {o.get("name"): o for o in model.findall("object")}

    out = []
    out.append("// @generated by tools/gen_tr181.py from tr-181-2-19-1-cwmp-full.xml"
               " (+ tr-106-types.xml). Do not edit.")
    out.append("// Regenerate from the project root:")
    out.append("//   python3 tools/gen_tr181.py ../shared/spec/tr-181-2-19-1-cwmp-full.xml \\")
    out.append("//       ../shared/spec/tr-106-types.xml > src/datamodel/embedded/schema_gen.rs")
    out.append("//! The TR-181 subset the embedded backend serves (generated; see the header).")
    out.append("")
    out.append("use super::schema::{Entry, Kind};")
    out.append("use crate::datamodel::{ActiveNotify as N, ParamType as T};")
    out.append("")
    out.append("/// Objects and parameters, parents before children, in data-model order.")
    out.append("#[rustfmt::skip]")
    out.append("pub(crate) static SCHEMA: &[Entry] = &[")
    seen = set()
    ranges, strs, enums = [], [], []
    for path, params, force_ro in SUBSET:
        obj = objects.get(path)
        if obj is None:
            raise SystemExit("object not in the XML: " + path)
        if path != "Device.":
            p = path[:-1]
            if p.endswith(".{i}"):
                p = p[:-4]
            parent = p[: p.rfind(".") + 1]
            if parent not in seen:
                raise SystemExit("parent of %s must come first in SUBSET" % path)
        seen.add(path)
        table = path.endswith("{i}.")
        writable = obj.get("access") == "readWrite" and force_ro is False
        num = obj.get("numEntriesParameter") if table else None
        out.append("    Entry { path: %s, kind: Kind::%s, ty: T::String, writable: %s, notify: N::Normal,"
                   " forced: false, hidden: false, list: false, max_len: 0, range_ix: 0,"
                   " default_ix: 0, enums_ix: 0, num_entries_ix: %d },"
                   % (rust_str(path), "Table" if table else "Object",
                      "true" if writable else "false",
                      intern(strs, rust_str(num)) if num else 0))
        by_name = {p.get("name"): p for p in obj.findall("parameter")}
        if params == "*":
            params = [p.get("name") for p in obj.findall("parameter")
                      if p.get("status") not in ("deleted", "obsoleted", "deprecated")
                      and p.get("name") not in SKIP]
        for name in params:
            p = by_name.get(name)
            if p is None:
                raise SystemExit("parameter not in the XML: %s%s" % (path, name))
            if p.get("status") in ("deleted", "obsoleted"):
                raise SystemExit("parameter is %s: %s%s" % (p.get("status"), path, name))
            syntax = p.find("syntax")
            facets = Facets()
            resolve(syntax, defs, facets)
            if facets.ty is None:
                raise SystemExit("no type for %s%s" % (path, name))
            if facets.list:
                facets.ty = "String"
            dflt = syntax.find("default")
            default = dflt.get("value") if dflt is not None else None
            if default == "[]":
                default = ""
            rng = 0
            if facets.range is not None and facets.ty != "String":
                rng = intern(ranges, "(%s, %s)" % (bound(facets.range[0], "i64::MIN"),
                                                   bound(facets.range[1], "i64::MAX")))
            w = p.get("access") == "readWrite" and force_ro is not True
            out.append("    Entry { path: %s, kind: Kind::Param, ty: T::%s, writable: %s, notify: N::%s,"
                       " forced: %s, hidden: %s, list: %s, max_len: %d, range_ix: %d,"
                       " default_ix: %d, enums_ix: %d, num_entries_ix: 0 },"
                       % (rust_str(path + name), facets.ty, "true" if w else "false",
                          NOTIFY[p.get("activeNotify")],
                          "true" if p.get("forcedInform") == "true" else "false",
                          "true" if "true" in (syntax.get("hidden"), syntax.get("secured")) else "false",
                          "true" if facets.list else "false", facets.max_len, rng,
                          intern(strs, rust_str(default)) if default is not None else 0,
                          intern(enums, "&[%s]" % ", ".join(rust_str(e) for e in facets.enums))
                          if facets.enums else 0))
    out.append("];")
    # The optional columns as 1-based indexes into shared tables (0 = none): an entry is 32
    # bytes instead of 104, and equal values are stored once.
    for name, ty, doc, items in (
            ("RANGES", "(i64, i64)", "Inclusive numeric ranges ([`Entry::range`]).", ranges),
            ("STRS", "&str", "Defaults and NumberOfEntries names ([`Entry::default`],"
             " [`Entry::num_entries`]).", strs),
            ("ENUMS", "&[&str]", "Allowed-value lists ([`Entry::enums`]).", enums)):
        if len(items) > 255:
            raise SystemExit("more than 255 %s: widen the index in schema.rs" % name)
        out.append("")
        out.append("/// %s" % doc)
        out.append("#[rustfmt::skip]")
        out.append("pub(crate) static %s: &[%s] = &[" % (name, ty))
        out.extend("    %s," % item for item in items)
        out.append("];")
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
