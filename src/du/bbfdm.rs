//! DU operations through bbfdm (when it is the data model), as the C icwmp does them:
//! `operate` `Device.SoftwareModules.ExecEnv.{i}.InstallDU()` (UUID, ExecutionEnvRef, URL,
//! Username, Password), `DeploymentUnit.{i}.Update()` (URL, Username, Password) and
//! `DeploymentUnit.{i}.Uninstall()`; bbfdm (swmodd) does the work and answers when it is
//! over. The deployment unit is then read back (`get`) for the OpResult.
//!
//! The bbfdm calls go through a [`Call`] so the logic is testable without a bus.

use super::{allowed_code, failed, install_uuid, DUPLICATE_DU, UNKNOWN_DU};
use crate::datamodel::bbfdm::reply::{self, Row};
use crate::fault::FaultCode;
use crate::soap::{DuOperation, OpResult, TransferFault};
use serde_json::{json, Value as Json};

/// One bbfdm call: method and arguments (without `optional`) to the reply messages, or why
/// it failed.
pub type Call<'a> = &'a dyn Fn(&str, Json) -> Result<Vec<Json>, String>;

const DU_TABLE: &str = "Device.SoftwareModules.DeploymentUnit.";
/// The execution environment used when the ACS names none.
const DEFAULT_EE: &str = "Device.SoftwareModules.ExecEnv.1";

type Res<T> = Result<T, (FaultCode, String)>;

fn rows(call: Call, method: &str, mut args: Json) -> Res<Vec<Row>> {
    args["optional"] = json!({"proto": "cwmp", "format": "raw"});
    let replies = call(method, args).map_err(|e| (FaultCode::REQUEST_DENIED, e))?;
    let rows = reply::rows(&replies);
    if let Some(f) = reply::first_fault(&rows) {
        return Err((allowed_code(f.code), f.message));
    }
    Ok(rows)
}

/// What bbfdm shows of a deployment unit.
#[derive(Debug, Default, PartialEq, Eq)]
struct Unit {
    /// `Device.SoftwareModules.DeploymentUnit.{i}` (no trailing dot).
    path: String,
    uuid: String,
    version: String,
    url: String,
    eus: String,
    resolved: bool,
}

/// The unit whose `key` (UUID or URL) equals `value`.
fn find(call: Call, key: &str, value: &str) -> Res<Option<Unit>> {
    let all = rows(call, "get", json!({"path": format!("{DU_TABLE}*.{key}")}))?;
    let Some(hit) = all.iter().find(|r| r.data.eq_ignore_ascii_case(value)) else {
        return Ok(None);
    };
    let path = hit
        .path
        .strip_suffix(&format!(".{key}"))
        .unwrap_or(&hit.path)
        .to_string();
    let params = rows(call, "get", json!({"path": format!("{path}.")}))?;
    let get = |name: &str| {
        params
            .iter()
            .find(|r| r.path.strip_prefix(&path) == Some(&format!(".{name}")))
            .map(|r| r.data.clone())
            .unwrap_or_default()
    };
    Ok(Some(Unit {
        uuid: get("UUID"),
        version: get("Version"),
        url: get("URL"),
        eus: get("ExecutionUnitList"),
        resolved: matches!(get("Resolved").as_str(), "1" | "true"),
        path,
    }))
}

fn operate(call: Call, command: &str, input: Json) -> Res<()> {
    let args = json!({"command": command, "command_key": "cwmp_cdu", "input": input});
    rows(call, "operate", args).map(|_| ())
}

fn result(u: &Unit, state: &str, start: i64) -> OpResult {
    OpResult {
        uuid: u.uuid.clone(),
        deployment_unit_ref: u.path.clone(),
        version: u.version.clone(),
        current_state: state.into(),
        resolved: u.resolved,
        execution_unit_ref_list: if state == "Installed" {
            u.eus.clone()
        } else {
            String::new()
        },
        start_time: Some(start),
        complete_time: Some(crate::time::now_unix()),
        fault: TransferFault::default(),
        operation_performed: None,
    }
}

fn try_op(op: &DuOperation, call: Call, start: i64) -> Res<OpResult> {
    let gone = || {
        (
            FaultCode::REQUEST_DENIED,
            "deployment unit not found after the operation".to_string(),
        )
    };
    match op {
        DuOperation::Install {
            url,
            uuid,
            username,
            password,
            execution_env_ref,
        } => {
            let uuid = install_uuid(uuid, url);
            if find(call, "UUID", &uuid)?.is_some() {
                return Err((DUPLICATE_DU, format!("DU {uuid} already installed")));
            }
            let ee = match execution_env_ref.trim().trim_end_matches('.') {
                "" => DEFAULT_EE,
                e => e,
            };
            let input = json!({"URL": url.trim(), "UUID": uuid, "ExecutionEnvRef": ee,
                               "Username": username, "Password": password});
            operate(call, &format!("{ee}.InstallDU()"), input)?;
            let u = find(call, "UUID", &uuid)?.ok_or_else(gone)?;
            Ok(result(&u, "Installed", start))
        }
        DuOperation::Update {
            uuid,
            url,
            username,
            password,
            ..
        } => {
            let old = match uuid.trim() {
                "" => find(call, "URL", url.trim())?,
                u => find(call, "UUID", u)?,
            };
            let old = old.ok_or((UNKNOWN_DU, "no such deployment unit".to_string()))?;
            let url = if url.trim().is_empty() {
                old.url.as_str()
            } else {
                url.trim()
            };
            let input = json!({"URL": url, "Username": username, "Password": password});
            operate(call, &format!("{}.Update()", old.path), input)?;
            let u = find(call, "UUID", &old.uuid)?.ok_or_else(gone)?;
            Ok(result(&u, "Installed", start))
        }
        DuOperation::Uninstall { uuid, version, .. } => {
            let u = find(call, "UUID", uuid.trim())?
                .filter(|u| version.trim().is_empty() || u.version == version.trim())
                .ok_or((
                    UNKNOWN_DU,
                    format!("unknown deployment unit {}", uuid.trim()),
                ))?;
            operate(call, &format!("{}.Uninstall()", u.path), json!({}))?;
            Ok(result(&u, "Uninstalled", start))
        }
    }
}

/// Runs one operation through bbfdm.
pub fn run_op(op: &DuOperation, call: Call) -> OpResult {
    let start = crate::time::now_unix();
    try_op(op, call, start).unwrap_or_else(|(code, msg)| {
        log::warn!("DU {} through bbfdm: {code} {msg}", super::op_name(op));
        failed(op, code, &msg, start, crate::time::now_unix())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A bbfdm holding units as (instance, uuid, version, url); records the operate calls.
    struct Fake {
        units: RefCell<Vec<(u32, String, String, String)>>,
        ops: RefCell<Vec<Json>>,
    }

    impl Fake {
        fn call(&self, method: &str, args: Json) -> Result<Vec<Json>, String> {
            assert_eq!(args["optional"]["proto"], "cwmp");
            let path = args["path"].as_str().unwrap_or("").to_string();
            let row = |p: String, d: &str| json!({"path": p, "data": d, "type": "xsd:string"});
            let units = self.units.borrow().clone();
            let results: Vec<Json> = match method {
                "get" if path.ends_with("*.UUID") || path.ends_with("*.URL") => units
                    .iter()
                    .map(|(i, u, _, url)| {
                        let (k, v) = if path.ends_with("UUID") {
                            ("UUID", u)
                        } else {
                            ("URL", url)
                        };
                        row(format!("{DU_TABLE}{i}.{k}"), v)
                    })
                    .collect(),
                "get" => units
                    .iter()
                    .filter(|(i, ..)| path == format!("{DU_TABLE}{i}."))
                    .flat_map(|(i, u, v, url)| {
                        vec![
                            row(format!("{DU_TABLE}{i}.UUID"), u),
                            row(format!("{DU_TABLE}{i}.Version"), v),
                            row(format!("{DU_TABLE}{i}.URL"), url),
                            row(format!("{DU_TABLE}{i}.Resolved"), "1"),
                            row(
                                format!("{DU_TABLE}{i}.ExecutionUnitList"),
                                &format!("Device.SoftwareModules.ExecutionUnit.{i}"),
                            ),
                        ]
                    })
                    .collect(),
                "operate" => {
                    self.ops.borrow_mut().push(args.clone());
                    let cmd = args["command"].as_str().unwrap_or("");
                    let input = &args["input"];
                    let url = input["URL"].as_str().unwrap_or("").to_string();
                    if url.contains("broken") {
                        return Ok(vec![
                            json!({"results": [{"path": cmd, "fault": 9018, "fault_msg": "bad package"}]}),
                        ]);
                    }
                    let mut u = self.units.borrow_mut();
                    if cmd.ends_with("InstallDU()") {
                        let uuid = input["UUID"].as_str().unwrap_or("").to_string();
                        let n = u.len() as u32 + 1;
                        u.push((n, uuid, "1.0".into(), url));
                    } else if cmd.ends_with("Update()") {
                        let i: u32 = cmd[DU_TABLE.len()..]
                            .split('.')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap();
                        if let Some(x) = u.iter_mut().find(|x| x.0 == i) {
                            x.2 = "2.0".into();
                        }
                    } else if cmd.ends_with("Uninstall()") {
                        let i: u32 = cmd[DU_TABLE.len()..]
                            .split('.')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap();
                        u.retain(|x| x.0 != i);
                    }
                    vec![json!({"path": cmd, "data": "cwmp_cdu"})]
                }
                _ => return Err(format!("unexpected {method}")),
            };
            Ok(vec![json!({"results": results})])
        }
    }

    fn install(url: &str) -> DuOperation {
        DuOperation::Install {
            url: url.into(),
            uuid: String::new(),
            username: "u".into(),
            password: "p".into(),
            execution_env_ref: String::new(),
        }
    }

    #[test]
    fn install_update_uninstall_through_operate() {
        let fake = Fake {
            units: RefCell::default(),
            ops: RefCell::default(),
        };
        let call = |m: &str, a: Json| fake.call(m, a);
        let url = "http://h/a_1.0_all.ipk";
        let uuid = crate::du::uuid_for_url(url);
        let r = run_op(&install(url), &call);
        assert_eq!(
            (
                r.current_state.as_str(),
                r.uuid.as_str(),
                r.deployment_unit_ref.as_str(),
                r.version.as_str(),
                r.fault.code
            ),
            (
                "Installed",
                uuid.as_str(),
                "Device.SoftwareModules.DeploymentUnit.1",
                "1.0",
                0
            )
        );
        assert_eq!(
            r.execution_unit_ref_list,
            "Device.SoftwareModules.ExecutionUnit.1"
        );
        let op = fake.ops.borrow()[0].clone();
        assert_eq!(
            op["command"],
            "Device.SoftwareModules.ExecEnv.1.InstallDU()"
        );
        assert_eq!(
            (
                op["input"]["UUID"].as_str(),
                op["input"]["Password"].as_str()
            ),
            (Some(uuid.as_str()), Some("p"))
        );
        // Duplicate, update (URL reused), unknown, failure inside bbfdm.
        assert_eq!(run_op(&install(url), &call).fault.code, 9026);
        let up = DuOperation::Update {
            uuid: uuid.clone(),
            version: String::new(),
            url: String::new(),
            username: String::new(),
            password: String::new(),
        };
        let r = run_op(&up, &call);
        assert_eq!(
            (r.version.as_str(), r.current_state.as_str()),
            ("2.0", "Installed")
        );
        assert_eq!(fake.ops.borrow()[1]["input"]["URL"], url);
        let un = |u: &str| DuOperation::Uninstall {
            uuid: u.into(),
            version: String::new(),
            execution_env_ref: String::new(),
        };
        assert_eq!(
            run_op(&un("00000000-0000-0000-0000-000000000000"), &call)
                .fault
                .code,
            9028
        );
        let r = run_op(&install("http://h/broken.ipk"), &call);
        assert_eq!((r.fault.code, r.current_state.as_str()), (9018, "Failed"));
        let r = run_op(&un(&uuid), &call);
        assert_eq!(
            (
                r.current_state.as_str(),
                r.fault.code,
                r.deployment_unit_ref.as_str()
            ),
            ("Uninstalled", 0, "Device.SoftwareModules.DeploymentUnit.1")
        );
        assert!(fake.units.borrow().is_empty());
        // bbfdm unreachable: 9001, never a panic.
        let down = |_: &str, _: Json| -> Result<Vec<Json>, String> { Err("no bus".into()) };
        assert_eq!(run_op(&install(url), &down).fault.code, 9001);
    }
}
