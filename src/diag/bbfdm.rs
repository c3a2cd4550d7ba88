//! Diagnostics on the bbfdm backend, as the C icwmp does them (icwmp-c §12, `diagnostic.c`):
//! an SPV of a test object's parameters goes to bbfdm like any other and is also noted here
//! (inputs, `DiagnosticsState=Requested`); after the session the test runs as the bbfdm
//! `operate` of the matching USP command with the inputs collected, on a worker thread. bbfdm
//! keeps the results (with `proto: cwmp` its diagnostics write them back into the objects),
//! so GPV of the result parameters reads them from bbfdm.
//!
//! Both API generations (7.x with transactions, current with `bbf.config`) take the same
//! `operate {command, command_key, input, optional}`.

use super::store::{Change, DiagStore};
use super::{Inputs, Outcome};
use crate::datamodel::SetValue;
use crate::ubus::UbusHandle;
use serde_json::{json, Map, Value as Json};
use std::time::Duration;

/// One diagnostics object bbfdm runs through `operate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    /// The TR-069 object the ACS writes (`Device.IP.Diagnostics.IPPing.`).
    pub object: &'static str,
    /// The USP command (`Device.IP.Diagnostics.IPPing()`).
    pub command: &'static str,
}

/// Every test the C icwmp maps to a bbfdm `operate` (icwmp-c §12), in its order.
#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { object: "Device.IP.Diagnostics.IPPing.", command: "Device.IP.Diagnostics.IPPing()" },
    Command { object: "Device.IP.Diagnostics.TraceRoute.", command: "Device.IP.Diagnostics.TraceRoute()" },
    Command { object: "Device.IP.Diagnostics.DownloadDiagnostics.", command: "Device.IP.Diagnostics.DownloadDiagnostics()" },
    Command { object: "Device.IP.Diagnostics.UploadDiagnostics.", command: "Device.IP.Diagnostics.UploadDiagnostics()" },
    Command { object: "Device.IP.Diagnostics.UDPEchoDiagnostics.", command: "Device.IP.Diagnostics.UDPEchoDiagnostics()" },
    Command { object: "Device.IP.Diagnostics.ServerSelectionDiagnostics.", command: "Device.IP.Diagnostics.ServerSelectionDiagnostics()" },
    Command { object: "Device.IP.Diagnostics.IPLayerCapacityMetrics.", command: "Device.IP.Diagnostics.IPLayerCapacity()" },
    Command { object: "Device.DNS.Diagnostics.NSLookupDiagnostics.", command: "Device.DNS.Diagnostics.NSLookupDiagnostics()" },
    Command { object: "Device.WiFi.NeighboringWiFiDiagnostic.", command: "Device.WiFi.NeighboringWiFiDiagnostic()" },
    Command { object: "Device.PacketCaptureDiagnostics.", command: "Device.PacketCaptureDiagnostics()" },
    Command { object: "Device.SelfTestDiagnostics.", command: "Device.SelfTestDiagnostics()" },
];

/// The `command_key` of our operate calls (the C one names each test; bbfdm only echoes it).
pub const COMMAND_KEY: &str = "cwmp_diagnostics";

/// How long one operate may take: bbfdm answers when the test is over, and the engines'
/// longest tests (a 64 MiB download on a slow line) take minutes.
pub const OPERATE_TIMEOUT: Duration = Duration::from_secs(900);

/// The command of a test object.
pub fn command(object: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.object == object)
}

/// The diagnostics changes of an SPV that went to bbfdm: its parameters directly under a
/// test object, as (object, name, value).
pub fn changes(values: &[SetValue]) -> Vec<Change> {
    values
        .iter()
        .filter_map(|v| {
            let c = COMMANDS.iter().find(|c| v.name.starts_with(c.object))?;
            let name = &v.name[c.object.len()..];
            (!name.is_empty() && !name.contains('.')).then(|| {
                (
                    c.object.to_string(),
                    name.to_string(),
                    v.value.trim().to_string(),
                )
            })
        })
        .collect()
}

/// Notes an SPV that bbfdm accepted; true when it touched a test object.
pub fn note_spv(store: &mut DiagStore, values: &[SetValue]) -> bool {
    let changes = changes(values);
    if changes.is_empty() {
        return false;
    }
    store.apply(&changes);
    true
}

/// The arguments of the `operate` call for `cmd`; empty inputs are left out as C does.
pub fn operate_args(cmd: &Command, inputs: &Inputs) -> Json {
    let input: Map<String, Json> = inputs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    json!({
        "command": cmd.command,
        "command_key": COMMAND_KEY,
        "input": input,
        "optional": {"proto": "cwmp", "format": "raw"},
    })
}

/// The outcome an operate reply tells: its output rows (`Status` or `DiagnosticsState` is
/// the final state, `Complete` when neither is given); a fault row, `Error_Internal`.
pub fn outcome(replies: &[Json]) -> Outcome {
    let rows = replies
        .iter()
        .filter_map(|r| r["results"].as_array())
        .flatten();
    let mut out = Outcome {
        state: "Complete".into(),
        values: Vec::new(),
    };
    for row in rows {
        if let Some(code) = row.get("fault") {
            let msg = row["fault_msg"].as_str().unwrap_or_default();
            log::warn!("bbfdm operate {}: fault {code} {msg}", row["path"]);
            return Outcome::error("Error_Internal");
        }
        for o in row["output"].as_array().into_iter().flatten() {
            let (Some(name), Some(value)) = (o["path"].as_str(), o["data"].as_str()) else {
                continue;
            };
            match name {
                "Status" | "DiagnosticsState" => out.state = value.to_string(),
                _ => out.values.push((name.to_string(), value.to_string())),
            }
        }
    }
    out
}

/// Runs the test of `object` through bbfdm (blocking: call it on a worker thread). A test
/// cannot be cancelled once bbfdm has it: its end is then simply dropped by the cycle.
pub fn run(ubus: &UbusHandle, object: &str, inputs: &Inputs) -> Outcome {
    let Some(cmd) = command(object) else {
        return Outcome::error("Error_Internal");
    };
    let args = operate_args(cmd, inputs);
    match ubus.call(
        crate::datamodel::bbfdm::OBJECT,
        "operate",
        &args,
        OPERATE_TIMEOUT,
    ) {
        Ok(replies) => outcome(&replies),
        Err(e) => {
            log::warn!("bbfdm operate {}: {e}", cmd.command);
            Outcome::error("Error_Internal")
        }
    }
}

/// What the fake bbfdm's `operate` does for a diagnostics command (tests only; bbfdm's
/// own diagnostics with `proto: cwmp`): the test "runs" at once, its results are written
/// into the object's read-only parameters, `DiagnosticsState` becomes `Complete`, and the
/// output rows are returned. IPPing answers every repetition asked for; other commands give
/// the state alone. Not a diagnostics command: no output, nothing changed.
#[doc(hidden)]
pub fn fake_operate(
    params: &mut std::collections::BTreeMap<String, (String, String, bool)>,
    command: &str,
    input: &Json,
) -> Vec<Json> {
    let Some(cmd) = COMMANDS.iter().find(|c| c.command == command) else {
        return Vec::new();
    };
    let arg = |k: &str, d: &str| input[k].as_str().unwrap_or(d).to_string();
    let mut out = vec![("Status".to_string(), "Complete".to_string(), "xsd:string")];
    if cmd.object == "Device.IP.Diagnostics.IPPing." {
        let n = arg("NumberOfRepetitions", "3");
        out.push(("SuccessCount".into(), n, "xsd:unsignedInt"));
        out.push(("FailureCount".into(), "0".into(), "xsd:unsignedInt"));
        out.push(("IPAddressUsed".into(), arg("Host", ""), "xsd:string"));
    }
    for (name, value, ty) in &out {
        let name = if name == "Status" {
            "DiagnosticsState"
        } else {
            name
        };
        let path = format!("{}{name}", cmd.object);
        let writable = params.get(&path).is_some_and(|p| p.2);
        params.insert(path, (value.clone(), ty.to_string(), writable));
    }
    out.into_iter()
        .map(|(n, v, t)| json!({"path": n, "data": v, "type": t}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands `diagnostic.c` and icwmp-c §12 list, in their order.
    const C_COMMANDS: &[&str] = &[
        "Device.IP.Diagnostics.IPPing()",
        "Device.IP.Diagnostics.TraceRoute()",
        "Device.IP.Diagnostics.DownloadDiagnostics()",
        "Device.IP.Diagnostics.UploadDiagnostics()",
        "Device.IP.Diagnostics.UDPEchoDiagnostics()",
        "Device.IP.Diagnostics.ServerSelectionDiagnostics()",
        "Device.IP.Diagnostics.IPLayerCapacity()",
        "Device.DNS.Diagnostics.NSLookupDiagnostics()",
        "Device.WiFi.NeighboringWiFiDiagnostic()",
        "Device.PacketCaptureDiagnostics()",
        "Device.SelfTestDiagnostics()",
    ];

    #[test]
    fn the_commands_are_those_of_the_c_daemon() {
        let ours: Vec<&str> = COMMANDS.iter().map(|c| c.command).collect();
        assert_eq!(ours, C_COMMANDS);
        // Every embedded kind has its bbfdm command at the same object.
        for k in crate::diag::Kind::ALL {
            assert!(command(k.object()).is_some(), "{k:?}");
        }
    }

    fn sv(name: &str, value: &str) -> SetValue {
        SetValue {
            name: name.into(),
            value: value.into(),
            type_hint: None,
        }
    }

    #[test]
    fn an_spv_is_noted_per_object_and_maps_to_operate() {
        let mut s = DiagStore::default();
        let touched = note_spv(
            &mut s,
            &[
                sv("Device.IP.Diagnostics.IPPing.Host", "10.0.0.1"),
                sv("Device.IP.Diagnostics.IPPing.NumberOfRepetitions", "4"),
                sv("Device.IP.Diagnostics.IPPing.Interface", ""),
                sv("Device.IP.Diagnostics.IPPing.DiagnosticsState", "Requested"),
                sv("Device.IP.Diagnostics.TraceRoute.RouteHops.1.Host", "x"),
                sv("Device.ManagementServer.PeriodicInformInterval", "60"),
            ],
        );
        assert!(touched);
        assert_eq!(s.objects.len(), 1);
        let e = s.get("Device.IP.Diagnostics.IPPing.").unwrap();
        assert_eq!(e.state, "Requested");
        let args = operate_args(command("Device.IP.Diagnostics.IPPing.").unwrap(), &e.inputs);
        assert_eq!(
            args,
            json!({"command": "Device.IP.Diagnostics.IPPing()", "command_key": COMMAND_KEY,
                   "input": {"Host": "10.0.0.1", "NumberOfRepetitions": "4"},
                   "optional": {"proto": "cwmp", "format": "raw"}})
        );
        assert!(!note_spv(
            &mut s,
            &[sv("Device.DeviceInfo.ProvisioningCode", "x")]
        ));
    }

    #[test]
    fn operate_replies_become_outcomes() {
        let ok = json!({"results": [{"path": "Device.IP.Diagnostics.IPPing()", "data": "k",
            "output": [{"path": "Status", "data": "Complete", "type": "xsd:string"},
                       {"path": "SuccessCount", "data": "4", "type": "xsd:unsignedInt"}]}]});
        let o = outcome(&[ok]);
        assert_eq!(o.state, "Complete");
        assert_eq!(o.values, vec![("SuccessCount".into(), "4".into())]);
        let err = json!({"results": [{"path": "Device.IP.Diagnostics.IPPing()",
            "output": [{"path": "Status", "data": "Error_CannotResolveHostName"}]}]});
        assert_eq!(outcome(&[err]).state, "Error_CannotResolveHostName");
        let fault = json!({"results": [{"path": "x", "fault": 9005, "fault_msg": "no"}]});
        assert_eq!(outcome(&[fault]).state, "Error_Internal");
        assert_eq!(outcome(&[]).state, "Complete");
    }
}
