//! Parameter RPCs: GetParameterValues, GetParameterNames, SetParameterValues, AddObject,
//! DeleteObject (digest sections 7.1 and 12).

use super::{check_key, check_name_len, wrong_request, Action, Reply, RpcContext};
use crate::datamodel::{ActiveNotify, ApplyStatus, DataModel, ParamPath, SetValue};
use crate::fault::{Fault, FaultCode, ParamFault};
use crate::notify::NotifyAttributes;
use crate::soap::{AcsRequest, CpeResponse};
use std::collections::HashSet;

/// The parameter that says whether `*` may stand for instance numbers in requests.
const WILDCARDS_PARAM: &str = "Device.ManagementServer.InstanceWildcardsSupported";

/// Whether the data model accepts instance wildcards (`InstanceWildcardsSupported`).
fn wildcards_supported(dm: &mut dyn DataModel) -> bool {
    match dm.get_values(WILDCARDS_PARAM) {
        Ok(v) => matches!(v.as_slice(), [p] if matches!(p.value.trim(), "true" | "1")),
        Err(_) => false,
    }
}

/// Whether `name` is under `<root>.ManagementServer.` (kept in the agent's configuration).
fn is_management_server(name: &str) -> bool {
    name.split('.').nth(1) == Some("ManagementServer")
}

/// Whether `name` is `<root>.ManagementServer.InformParameter.{i}.ParameterName`.
fn is_inform_parameter_name(name: &str) -> bool {
    let s: Vec<&str> = name.split('.').collect();
    matches!(
        s.as_slice(),
        [_, "ManagementServer", "InformParameter", _, "ParameterName"]
    )
}

/// Checks the length and syntax of an object path for AddObject/DeleteObject.
fn parse_object_path(name: &str) -> Result<ParamPath, Fault> {
    check_name_len(name)?;
    let p = ParamPath::parse(name)?;
    if !p.is_partial() || p.is_root() {
        return Err(Fault::with_message(
            FaultCode::INVALID_PARAMETER_NAME,
            format!("not an object path: {name}"),
        ));
    }
    Ok(p)
}

pub(super) fn get_values(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::GetParameterValues { names } = req else {
        return Err(wrong_request(req));
    };
    let mut paths = Vec::with_capacity(names.len());
    for name in names {
        check_name_len(name)?;
        paths.push(ParamPath::parse(name)?);
    }
    // A trailing `*.` stands for every instance of a table: only with wildcard support.
    let wildcards = paths.iter().any(|p| p.as_str().ends_with("*.")) && wildcards_supported(ctx.dm);
    let refused = |p: &ParamPath| p.as_str().ends_with("*.") && !wildcards;
    // Every path in one data-model request (one bbfdm call) where that saves round trips;
    // faults come out in request order as if asked one by one.
    let mut asked = HashSet::new();
    let fetch: Vec<&str> = match ctx.dm.batches_reads() {
        true => paths
            .iter()
            .filter(|p| !refused(p) && asked.insert(p.as_str()))
            .map(ParamPath::as_str)
            .collect(),
        false => Vec::new(),
    };
    let mut fetched = ctx.dm.get_values_many(&fetch).into_iter();
    let mut asked = HashSet::new();
    let mut seen = HashSet::new();
    let mut values = Vec::new();
    for path in &paths {
        if !asked.insert(path.as_str()) {
            continue;
        }
        if refused(path) {
            return Err(Fault::invalid_name(path.as_str()));
        }
        let found = match fetched.next() {
            Some(found) => found?,
            None => ctx.dm.get_values(path.as_str())?,
        };
        if paths.len() == 1 {
            // One path cannot overlap itself: no need for a second copy of every name.
            values = found;
            break;
        }
        for v in found {
            if seen.insert(v.name.clone()) {
                values.push(v);
            }
        }
    }
    Ok((CpeResponse::GetParameterValues { values }, Vec::new()))
}

pub(super) fn get_names(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::GetParameterNames { path, next_level } = req else {
        return Err(wrong_request(req));
    };
    check_name_len(path)?;
    let path = ParamPath::parse(path)?;
    if *next_level && !path.is_partial() {
        // An unknown name is 9005 before NextLevel on a parameter is 9003.
        ctx.dm.get_names(path.as_str(), false)?;
        return Err(Fault::invalid_args(
            "NextLevel is true but ParameterPath is a parameter name",
        ));
    }
    let names = ctx.dm.get_names(path.as_str(), *next_level)?;
    Ok((CpeResponse::GetParameterNames { names }, Vec::new()))
}

pub(super) fn set_values(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::SetParameterValues {
        values,
        parameter_key,
    } = req
    else {
        return Err(wrong_request(req));
    };
    check_key("ParameterKey", parameter_key)?;
    let mut names = HashSet::new();
    let mut faults = Vec::new();
    let mut checked = Vec::with_capacity(values.len());
    for v in values {
        check_name_len(&v.name)?;
        let path = match ParamPath::parse(&v.name) {
            Ok(p) if p.is_partial() => Err(Fault::with_message(
                FaultCode::INVALID_PARAMETER_NAME,
                "a full parameter name is required, not a partial path",
            )),
            other => other,
        };
        let path = match path {
            Ok(p) => p,
            Err(f) => {
                faults.push(ParamFault {
                    name: v.name.clone(),
                    code: f.code,
                    message: f.message,
                });
                continue;
            }
        };
        if !names.insert(path.as_str().to_string()) {
            return Err(Fault::invalid_args(format!(
                "{} appears more than once",
                path.as_str()
            )));
        }
        if is_inform_parameter_name(path.as_str())
            && ctx.forced_inform.iter().any(|f| f == v.value.trim())
        {
            faults.push(ParamFault {
                name: v.name.clone(),
                code: FaultCode::INVALID_PARAMETER_VALUE,
                message: format!("{} is always in the Inform", v.value.trim()),
            });
            continue;
        }
        checked.push(SetValue {
            name: path.as_str().to_string(),
            value: v.value.clone(),
            type_hint: v.type_hint.clone(),
        });
    }
    if !faults.is_empty() {
        return Err(Fault::set_values(faults));
    }
    // ManagementServer values as they read before: writing back what the ACS read (GenieACS
    // refreshing its view) changes nothing and must not cost a config reload.
    let ms_before = management_server_values(ctx, &checked);
    let status = ctx.dm.set_values(&checked)?;
    let mut actions = vec![Action::SetParameterKey(parameter_key.clone())];
    if !ms_before.is_empty()
        && (status != ApplyStatus::Applied || management_server_values(ctx, &checked) != ms_before)
    {
        actions.push(Action::ConfigChanged);
    }
    let status = status.as_status();
    Ok((CpeResponse::SetParameterValues { status }, actions))
}

/// The current values of the ManagementServer parameters among `values`, in order (`None`
/// for one that cannot be read).
fn management_server_values(ctx: &mut RpcContext, values: &[SetValue]) -> Vec<Option<String>> {
    let names: Vec<&str> = values
        .iter()
        .filter(|v| is_management_server(&v.name))
        .map(|v| v.name.as_str())
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    ctx.dm
        .get_values_many(&names)
        .into_iter()
        .map(|r| r.ok().and_then(|mut l| l.pop()).map(|p| p.value))
        .collect()
}

/// Gives the new instance `path` the default attributes (Notification 0, empty AccessList):
/// an explicit entry only where it would otherwise inherit something from its table.
fn reset_new_instance(attrs: &mut NotifyAttributes, path: &str) -> bool {
    let mut changed = attrs.remove_under(path);
    if attrs.notification(path, ActiveNotify::Normal) != 0 {
        attrs.set_notification(path, 0);
        changed = true;
    }
    if !attrs.access_list(path).is_empty() {
        attrs.set_access_list(path, Vec::new());
        changed = true;
    }
    changed
}

/// What a successful AddObject or DeleteObject leaves for the agent: the new ParameterKey,
/// attributes to persist, and a config reload when ManagementServer changed.
fn object_actions(parameter_key: &str, attrs_changed: bool, path: &str) -> Vec<Action> {
    let mut actions = vec![Action::SetParameterKey(parameter_key.to_string())];
    if attrs_changed {
        actions.push(Action::AttributesChanged);
    }
    if is_management_server(path) {
        actions.push(Action::ConfigChanged);
    }
    actions
}

/// AddObject and DeleteObject: the ParameterKey and object path checked alike, then the
/// instance added or deleted, and the same actions after.
pub(super) fn add_or_delete_object(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let (AcsRequest::AddObject {
        object_name,
        parameter_key,
    }
    | AcsRequest::DeleteObject {
        object_name,
        parameter_key,
    }) = req
    else {
        return Err(wrong_request(req));
    };
    check_key("ParameterKey", parameter_key)?;
    let path = parse_object_path(object_name)?;
    let (response, attrs_changed) = match req {
        AcsRequest::AddObject { .. } => add_object(&path, ctx)?,
        _ => delete_object(&path, ctx)?,
    };
    let actions = object_actions(parameter_key, attrs_changed, path.as_str());
    Ok((response, actions))
}

/// Adds an instance to the table `path` names; the response and whether attributes changed.
fn add_object(path: &ParamPath, ctx: &mut RpcContext) -> Result<(CpeResponse, bool), Fault> {
    let (instance, status) = ctx.dm.add_object(path.as_str())?;
    // `Table.[alias].` names the new instance itself; `Table.` is its table.
    let table = match path
        .as_str()
        .strip_suffix('.')
        .and_then(|p| p.rsplit_once('.'))
    {
        Some((table, last)) if last.starts_with('[') => format!("{table}."),
        _ => path.as_str().to_string(),
    };
    let mut attrs_changed = reset_new_instance(ctx.attrs, &format!("{table}{instance}."));
    if table != path.as_str() {
        attrs_changed |= ctx.attrs.remove_under(path.as_str());
    }
    let status = status.as_status();
    Ok((CpeResponse::AddObject { instance, status }, attrs_changed))
}

/// Deletes the instance `path` names; the response and whether attributes changed.
fn delete_object(path: &ParamPath, ctx: &mut RpcContext) -> Result<(CpeResponse, bool), Fault> {
    let status = ctx.dm.delete_object(path.as_str())?;
    let attrs_changed = ctx.attrs.remove_under(path.as_str());
    let status = status.as_status();
    Ok((CpeResponse::DeleteObject { status }, attrs_changed))
}

#[cfg(test)]
mod tests {
    use super::super::test_env::*;
    use crate::rpc::Action;
    use crate::soap::{AcsRequest, CpeResponse};

    fn add(env: &mut Env, object: &str) -> (CpeResponse, Vec<Action>) {
        env.call(AcsRequest::AddObject {
            object_name: object.into(),
            parameter_key: "add".into(),
        })
    }

    fn delete(env: &mut Env, object: &str) -> (CpeResponse, Vec<Action>) {
        env.call(AcsRequest::DeleteObject {
            object_name: object.into(),
            parameter_key: "del".into(),
        })
    }

    #[test]
    fn accepts_add_object_and_returns_instance() {
        let mut env = Env::new();
        let (resp, actions) = add(&mut env, "Device.Hosts.Host.");
        assert_eq!(
            resp,
            CpeResponse::AddObject {
                instance: 3,
                status: 0
            }
        );
        assert_eq!(actions, [Action::SetParameterKey("add".into())]);
        assert_eq!(env.dm.value("Device.Hosts.Host.3.Active"), Some("false"));
        assert!(env.attrs.is_empty(), "nothing stored for a new instance");
        let (_, actions) = add(&mut env, "Device.ManagementServer.InformParameter.");
        assert!(actions.contains(&Action::ConfigChanged));
    }

    #[test]
    fn gives_new_instance_notification_0() {
        let mut env = Env::new();
        env.call(spa(vec![notify("Device.Hosts.Host.", 1)]));
        let (_, actions) = add(&mut env, "Device.Hosts.Host.");
        assert!(actions.contains(&Action::AttributesChanged));
        assert_eq!(env.notification("Device.Hosts.Host.3.Active"), 0);
        assert_eq!(env.notification("Device.Hosts.Host.1.Active"), 1);
    }

    #[test]
    fn rejects_add_object_on_bad_path_without_parameter_key() {
        let mut env = Env::new();
        for bad in ["Device.Hosts.Host", "Device.Nope.", "", "Device..Host."] {
            let f = env.fault(AcsRequest::AddObject {
                object_name: bad.into(),
                parameter_key: "k".into(),
            });
            assert_eq!(code(&f), 9005, "{bad:?}");
        }
        let f = env.fault(AcsRequest::AddObject {
            object_name: "Device.Hosts.Host.".into(),
            parameter_key: "k".repeat(33),
        });
        assert_eq!(code(&f), 9003);
    }

    #[test]
    fn drops_attributes_of_deleted_instance() {
        let mut env = Env::new();
        env.call(spa(vec![
            notify("Device.Hosts.Host.1.Active", 2),
            notify("Device.Hosts.Host.2.Active", 1),
        ]));
        let (resp, actions) = delete(&mut env, "Device.Hosts.Host.1.");
        assert_eq!(resp, CpeResponse::DeleteObject { status: 0 });
        assert_eq!(
            actions,
            [
                Action::SetParameterKey("del".into()),
                Action::AttributesChanged
            ]
        );
        let keys: Vec<&String> = env.attrs.entries().keys().collect();
        assert_eq!(keys, ["Device.Hosts.Host.2.Active"]);
        assert_eq!(env.dm.value("Device.Hosts.Host.1.Active"), None);
    }

    #[test]
    fn rejects_delete_of_unknown_instance_with_9005() {
        let mut env = Env::new();
        let (resp, actions) = delete(&mut env, "Device.Hosts.Host.9.");
        assert!(matches!(resp, CpeResponse::Fault(ref f) if f.code.0 == 9005));
        assert!(actions.is_empty());
        let (resp, _) = delete(&mut env, "Device.Hosts.Host.1.Active");
        assert!(matches!(resp, CpeResponse::Fault(ref f) if f.code.0 == 9005));
    }
}
