//! Autonomous completions (transfers and DU changes the ACS did not ask for): reading the
//! `bbfdm.event` notifications `Device.LocalAgent.TransferComplete!` and
//! `Device.SoftwareModules.DUStateChange!`, and the policy filters of the `transfer_complete`
//! and `du_state_change` config sections (TR-181 AutonomousTransferCompletePolicy and
//! DUStateChangeComplPolicy). Pure.
//!
//! Event shape (assumed; neither the ubus notes nor the C source document it): the data is
//! `{"name": "<event path>", "input": <args>}` where `<args>` is either a table of the TR-181
//! event arguments (`{"TransferType": "Download", ...}`) or an array of
//! `{"path"|"name": <arg>, "data"|"value": <value>}` entries. Argument names are TR-181's:
//! TransferComplete! `TransferType`, `TransferURL`, `FileType`, `FileSize`, `TargetFileName`,
//! `AnnounceURL`, `StartTime`, `CompleteTime`, `FaultCode`, `FaultString`; DUStateChange!
//! `UUID`, `DeploymentUnitRef`, `Version`, `CurrentState`, `Resolved`, `ExecutionUnitRefList`,
//! `StartTime`, `CompleteTime`, `OperationPerformed`, `FaultCode`, `FaultString`.

use crate::config::{DuStateChangePolicy, TransferCompletePolicy};
use crate::soap::{AutonomousTransferComplete, OpResult, TransferFault};
use serde_json::Value as Json;

/// The bbfdm event of a finished autonomous transfer.
pub const TRANSFER_EVENT: &str = "Device.LocalAgent.TransferComplete!";
/// The bbfdm event of an autonomous DU state change.
pub const DU_EVENT: &str = "Device.SoftwareModules.DUStateChange!";

/// Looks up argument `key` in an event's `input` (table or array form), as a string.
fn arg(input: &Json, key: &str) -> String {
    let v = match input {
        Json::Object(m) => m.get(key).cloned(),
        Json::Array(a) => a.iter().find_map(|e| {
            let name = e.get("path").or_else(|| e.get("name"))?.as_str()?;
            let name = name.rsplit('.').next().unwrap_or(name);
            (name == key)
                .then(|| e.get("data").or_else(|| e.get("value")).cloned())
                .flatten()
        }),
        _ => None,
    };
    match v {
        Some(Json::String(s)) => s.trim().to_string(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn time(input: &Json, key: &str) -> Option<i64> {
    crate::time::parse_datetime(&arg(input, key)).filter(|t| *t > -62135596800)
}

fn fault(input: &Json) -> TransferFault {
    TransferFault {
        code: arg(input, "FaultCode").parse().unwrap_or(0),
        message: arg(input, "FaultString"),
    }
}

/// An AutonomousTransferComplete from a `TransferComplete!` event's input.
pub fn transfer_from_event(input: &Json) -> AutonomousTransferComplete {
    AutonomousTransferComplete {
        announce_url: arg(input, "AnnounceURL"),
        transfer_url: arg(input, "TransferURL"),
        is_download: !arg(input, "TransferType").eq_ignore_ascii_case("upload"),
        file_type: arg(input, "FileType"),
        file_size: arg(input, "FileSize").parse().unwrap_or(0),
        target_file_name: arg(input, "TargetFileName"),
        fault: fault(input),
        start_time: time(input, "StartTime"),
        complete_time: time(input, "CompleteTime"),
    }
}

/// An AutonOpResultStruct from a `DUStateChange!` event's input.
pub fn du_from_event(input: &Json) -> OpResult {
    OpResult {
        uuid: arg(input, "UUID"),
        deployment_unit_ref: arg(input, "DeploymentUnitRef"),
        version: arg(input, "Version"),
        current_state: arg(input, "CurrentState"),
        resolved: matches!(arg(input, "Resolved").as_str(), "1" | "true"),
        execution_unit_ref_list: arg(input, "ExecutionUnitRefList"),
        start_time: time(input, "StartTime"),
        complete_time: time(input, "CompleteTime"),
        fault: fault(input),
        operation_performed: Some(arg(input, "OperationPerformed")),
    }
}

/// `Success`, `Failure` or `Both` (empty or unknown: Both) against a fault code.
fn result_ok(filter: &str, fault: u32) -> bool {
    match filter.trim().to_ascii_lowercase().as_str() {
        "success" => fault == 0,
        "failure" => fault != 0,
        _ => true,
    }
}

/// Whether `item` is in a comma-separated list (empty list: everything).
fn listed(list: &str, item: impl Fn(&str) -> bool) -> bool {
    let mut any = false;
    for e in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        any = true;
        if item(e) {
            return true;
        }
    }
    !any
}

/// Whether the AutonomousTransferCompletePolicy lets this completion through (no section or
/// disabled: nothing is sent).
pub fn transfer_allowed(
    p: Option<&TransferCompletePolicy>,
    a: &AutonomousTransferComplete,
) -> bool {
    let Some(p) = p.filter(|p| p.enable) else {
        return false;
    };
    let kind_ok = match p.transfer_type.trim().to_ascii_lowercase().as_str() {
        "upload" => !a.is_download,
        "download" => a.is_download,
        _ => true,
    };
    // A FileType filter entry matches the whole FileType or its number ("1").
    let number = a.file_type.split(' ').next().unwrap_or("");
    kind_ok
        && result_ok(&p.result_type, a.fault.code)
        && listed(&p.file_type, |f| f == a.file_type || f == number)
}

/// Whether the DUStateChangeComplPolicy lets this result through (no section or disabled:
/// nothing is sent). The FaultCode filter applies to failures only.
pub fn du_allowed(p: Option<&DuStateChangePolicy>, r: &OpResult) -> bool {
    let Some(p) = p.filter(|p| p.enable) else {
        return false;
    };
    let op = r.operation_performed.as_deref().unwrap_or("");
    let code = r.fault.code.to_string();
    listed(&p.operation_type, |o| o.eq_ignore_ascii_case(op))
        && result_ok(&p.result_type, r.fault.code)
        && (r.fault.code == 0 || listed(&p.fault_code, |c| c == code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_in_table_and_array_form() {
        let t = json!({"TransferType": "Upload", "TransferURL": "http://h/x", "FileType": "2 Vendor Log File",
            "FaultCode": 9011, "FaultString": "no", "StartTime": "2024-01-02T03:04:05Z",
            "CompleteTime": "0001-01-01T00:00:00Z"});
        let a = transfer_from_event(&t);
        assert!(!a.is_download);
        assert_eq!(
            (a.fault.code, a.file_type.as_str()),
            (9011, "2 Vendor Log File")
        );
        assert_eq!(a.start_time, Some(1704164645));
        assert_eq!(a.complete_time, None);
        let arr = json!([{"path": "UUID", "data": "u1"}, {"path": "OperationPerformed", "data": "Install"},
            {"name": "CurrentState", "value": "Installed"}, {"path": "Resolved", "data": "1"}]);
        let r = du_from_event(&arr);
        assert_eq!(
            (r.uuid.as_str(), r.current_state.as_str()),
            ("u1", "Installed")
        );
        assert!(r.resolved);
        assert_eq!(r.operation_performed.as_deref(), Some("Install"));
    }

    #[test]
    fn transfer_policy_filters() {
        let mut a = AutonomousTransferComplete {
            is_download: true,
            file_type: "1 Firmware Upgrade Image".into(),
            ..Default::default()
        };
        let mut p = TransferCompletePolicy::default();
        assert!(!transfer_allowed(None, &a) && !transfer_allowed(Some(&p), &a));
        p.enable = true;
        assert!(transfer_allowed(Some(&p), &a));
        p.transfer_type = "Upload".into();
        assert!(!transfer_allowed(Some(&p), &a));
        p.transfer_type = "Both".into();
        p.result_type = "Failure".into();
        assert!(!transfer_allowed(Some(&p), &a));
        a.fault.code = 9010;
        assert!(transfer_allowed(Some(&p), &a));
        p.file_type = "3 Vendor Configuration File, 1".into();
        assert!(transfer_allowed(Some(&p), &a));
        p.file_type = "3 Vendor Configuration File".into();
        assert!(!transfer_allowed(Some(&p), &a));
    }

    #[test]
    fn du_policy_filters() {
        let mut r = OpResult {
            operation_performed: Some("Install".into()),
            ..Default::default()
        };
        let mut p = DuStateChangePolicy {
            enable: true,
            ..Default::default()
        };
        assert!(du_allowed(Some(&p), &r));
        p.operation_type = "Update,Uninstall".into();
        assert!(!du_allowed(Some(&p), &r));
        p.operation_type = "install".into();
        p.result_type = "Success".into();
        assert!(du_allowed(Some(&p), &r));
        r.fault.code = 9018;
        assert!(!du_allowed(Some(&p), &r));
        p.result_type = "Both".into();
        p.fault_code = "9017,9026".into();
        assert!(!du_allowed(Some(&p), &r));
        p.fault_code = "9018".into();
        assert!(du_allowed(Some(&p), &r));
        p.enable = false;
        assert!(!du_allowed(Some(&p), &r));
    }
}
