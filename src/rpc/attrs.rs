//! Attribute RPCs: SetParameterAttributes and GetParameterAttributes (digest section 8).

use super::{check_name_len, wrong_request, Action, Reply, RpcContext};
use crate::datamodel::{ActiveNotify, ParamPath};
use crate::fault::{Fault, FaultCode};
use crate::notify::{is_active, policy};
use crate::soap::{AcsRequest, CpeResponse, ParamAttribute};
use std::collections::HashSet;

/// The only AccessList entry TR-069 defines.
const SUBSCRIBER: &str = "Subscriber";

/// Checks an AccessList (`Subscriber` in any case, as Thomson ACSs send `subscriber`) and
/// returns its canonical form.
fn access_list(list: &[String]) -> Result<Vec<String>, Fault> {
    for entry in list {
        if !entry.trim().eq_ignore_ascii_case(SUBSCRIBER) {
            return Err(Fault::invalid_args(format!(
                "unsupported AccessList entry {entry:?}"
            )));
        }
    }
    Ok(if list.is_empty() {
        Vec::new()
    } else {
        vec![SUBSCRIBER.to_string()]
    })
}

/// One validated SetParameterAttributesStruct.
struct Change {
    path: ParamPath,
    notification: Option<u8>,
    access_list: Option<Vec<String>>,
}

pub(super) fn set_attributes(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::SetParameterAttributes { attributes } = req else {
        return Err(wrong_request(req));
    };
    // The parameters named are looked up in one data-model request (one bbfdm call) before
    // the checks, which then go in request order as before.
    let full: Vec<String> = attributes
        .iter()
        .filter(|a| check_name_len(&a.name).is_ok())
        .filter_map(|a| ParamPath::parse(&a.name).ok())
        .filter(|p| !p.is_partial())
        .map(|p| p.as_str().to_string())
        .collect();
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let exists: std::collections::HashMap<String, Result<(), Fault>> = full
        .iter()
        .cloned()
        .zip(
            ctx.dm
                .get_values_many(&refs)
                .into_iter()
                .map(|r| r.map(drop)),
        )
        .collect();
    // Everything is checked before anything is stored: all or nothing.
    let mut changes = Vec::with_capacity(attributes.len());
    for a in attributes {
        check_name_len(&a.name)?;
        let path = ParamPath::parse(&a.name)?;
        // Lightweight levels 3-6 came with CWMP 1.4 (Amendment 5, Annex M).
        let max = if ctx.amd_version >= 5 { 6 } else { 2 };
        if a.notification_change && a.notification > max {
            return Err(Fault::invalid_args(format!(
                "Notification {} out of range 0-{max}",
                a.notification
            )));
        }
        let list = match a.access_list_change {
            true => Some(access_list(&a.access_list)?),
            false => None,
        };
        // The name must exist; a partial path is checked without expanding its subtree.
        if path.is_partial() {
            ctx.dm.get_names(path.as_str(), true)?;
        } else {
            match exists.get(path.as_str()) {
                Some(r) => r.clone()?,
                None => drop(ctx.dm.get_values(path.as_str())?),
            }
        }
        // A parameter's own rule (a partial path is never refused: the parameters beneath it
        // keep their rules, see NotifyAttributes::notification). canDeny refuses an active
        // level with 9009. forceEnabled (and the forced-active list) is always 2 whatever is
        // asked (digest 8.2): asking for 2 succeeds, and a lower level is accepted and
        // ignored (GetParameterAttributes keeps answering 2), nothing stored.
        let mut notification = a.notification_change.then_some(a.notification);
        if a.notification_change && !path.is_partial() {
            match policy(path.as_str(), ctx.dm) {
                ActiveNotify::CanDeny if is_active(a.notification) => {
                    return Err(Fault::with_message(
                        FaultCode::NOTIFICATION_REJECTED,
                        format!("active notification rejected for {}", path.as_str()),
                    ));
                }
                ActiveNotify::ForceEnabled => {
                    if a.notification != 2 {
                        log::info!(
                            "{}: Notification {} ignored, it is always 2 (forceEnabled)",
                            path.as_str(),
                            a.notification
                        );
                    }
                    notification = None;
                }
                _ => {}
            }
        }
        changes.push(Change {
            path,
            notification,
            access_list: list,
        });
    }
    let mut changed = false;
    for c in changes {
        if let Some(n) = c.notification {
            ctx.attrs.set_notification(c.path.as_str(), n);
            changed = true;
        }
        if let Some(list) = c.access_list {
            ctx.attrs.set_access_list(c.path.as_str(), list);
            changed = true;
        }
    }
    let actions = match changed {
        true => vec![Action::AttributesChanged],
        false => Vec::new(),
    };
    Ok((CpeResponse::SetParameterAttributes, actions))
}

pub(super) fn get_attributes(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::GetParameterAttributes { names } = req else {
        return Err(wrong_request(req));
    };
    let mut paths = Vec::with_capacity(names.len());
    for name in names {
        check_name_len(name)?;
        paths.push(ParamPath::parse(name)?);
    }
    // One data-model request for every path where that saves round trips (see GPV); the
    // first fault in request order wins.
    let names: Vec<&str> = match ctx.dm.batches_reads() {
        true => paths.iter().map(ParamPath::as_str).collect(),
        false => Vec::new(),
    };
    let mut fetched = ctx.dm.get_values_many(&names).into_iter();
    let mut seen = HashSet::new();
    let mut attributes = Vec::new();
    for path in &paths {
        let found = match fetched.next() {
            Some(found) => found?,
            None => ctx.dm.get_values(path.as_str())?,
        };
        for v in found {
            if !seen.insert(v.name.clone()) {
                continue;
            }
            let notification = ctx.attrs.effective(&v.name, ctx.dm);
            let access_list = ctx.attrs.access_list(&v.name);
            attributes.push(ParamAttribute {
                name: v.name,
                notification,
                access_list,
            });
        }
    }
    Ok((
        CpeResponse::GetParameterAttributes { attributes },
        Vec::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_env::*;
    use crate::notify::NotifyAttributes;
    use crate::rpc::Action;
    use crate::soap::{AcsRequest, CpeResponse, ParamAttribute};

    #[test]
    fn accepts_attributes_and_reports_them_in_gpa() {
        let mut env = Env::new();
        let mut a = notify("Device.DeviceInfo.", 1);
        a.access_list_change = true;
        a.access_list = vec!["subscriber".into()];
        let (resp, actions) = env.call(spa(vec![a]));
        assert_eq!(resp, CpeResponse::SetParameterAttributes);
        assert_eq!(actions, [Action::AttributesChanged]);
        let got = env.gpa(&["Device.DeviceInfo.Manufacturer", "Device.Time."]);
        assert_eq!(
            got,
            [
                ParamAttribute {
                    name: "Device.DeviceInfo.Manufacturer".into(),
                    notification: 1,
                    access_list: vec!["Subscriber".into()],
                },
                ParamAttribute {
                    name: "Device.Time.Enable".into(),
                    notification: 0,
                    access_list: vec![],
                },
            ]
        );
    }

    #[test]
    fn ignores_notification_without_notification_change() {
        let mut env = Env::new();
        let mut a = notify("Device.Time.Enable", 9);
        a.notification_change = false;
        a.access_list_change = true;
        let (resp, _) = env.call(spa(vec![a]));
        assert_eq!(resp, CpeResponse::SetParameterAttributes);
        assert_eq!(env.notification("Device.Time.Enable"), 0);
    }

    #[test]
    fn rejects_bad_notification_or_access_list_with_9003() {
        let mut env = Env::new();
        assert_eq!(
            code(&env.fault(spa(vec![notify("Device.Time.Enable", 7)]))),
            9003
        );
        let mut a = notify("Device.Time.Enable", 1);
        a.access_list_change = true;
        a.access_list = vec!["Subscriber".into(), "Admin".into()];
        assert_eq!(code(&env.fault(spa(vec![a]))), 9003);
        assert!(env.attrs.is_empty());
    }

    #[test]
    fn lightweight_levels_need_cwmp_1_4() {
        let mut env = Env::new();
        for level in 3..=6 {
            let (resp, _) = env.call(spa(vec![notify("Device.Time.Enable", level)]));
            assert_eq!(resp, CpeResponse::SetParameterAttributes, "{level}");
            assert_eq!(env.notification("Device.Time.Enable"), level);
        }
        env.amd = 4;
        for level in 3..=6 {
            let f = env.fault(spa(vec![notify("Device.Time.Enable", level)]));
            assert_eq!(code(&f), 9003, "level {level} under amd_version 4");
        }
        let (resp, _) = env.call(spa(vec![notify("Device.Time.Enable", 2)]));
        assert_eq!(resp, CpeResponse::SetParameterAttributes);
    }

    #[test]
    fn rejects_unknown_attribute_name_with_9005() {
        let mut env = Env::new();
        for bad in ["Device.Nope", "Device.Nope.", "Device..X"] {
            assert_eq!(code(&env.fault(spa(vec![notify(bad, 1)]))), 9005, "{bad}");
        }
        let names = vec!["Device.Nope.".into()];
        let f = env.fault(AcsRequest::GetParameterAttributes { names });
        assert_eq!(code(&f), 9005);
    }

    #[test]
    fn rejects_active_on_can_deny_with_9009() {
        let mut env = Env::new();
        for level in [2, 5, 6] {
            let f = env.fault(spa(vec![notify("Device.DeviceInfo.UpTime", level)]));
            assert_eq!(code(&f), 9009, "level {level}");
        }
        let (resp, _) = env.call(spa(vec![notify("Device.DeviceInfo.UpTime", 1)]));
        assert_eq!(resp, CpeResponse::SetParameterAttributes);
        assert_eq!(env.notification("Device.DeviceInfo.UpTime"), 1);
    }

    #[test]
    fn force_enabled_accepts_2_and_ignores_lower_levels() {
        let mut env = Env::new();
        for name in [
            "Device.DeviceInfo.HardwareVersion",
            "Device.DeviceInfo.SoftwareVersion",
            "Device.DeviceInfo.ProvisioningCode",
        ] {
            for level in [2, 0, 1, 4, 6] {
                let (resp, _) = env.call(spa(vec![notify(name, level)]));
                assert_eq!(resp, CpeResponse::SetParameterAttributes, "{name} {level}");
                assert_eq!(env.notification(name), 2, "{name} after {level}");
            }
        }
        // Nothing stored: the level is not the ACS's to set.
        assert!(env.attrs.is_empty(), "{:?}", env.attrs);
        // The access list still is.
        let mut a = notify("Device.DeviceInfo.SoftwareVersion", 0);
        a.access_list_change = true;
        a.access_list = vec!["Subscriber".into()];
        env.call(spa(vec![a]));
        let got = env.gpa(&["Device.DeviceInfo.SoftwareVersion"]);
        assert_eq!((got[0].notification, got[0].access_list.len()), (2, 1));
    }

    #[test]
    fn reports_force_enabled_as_active_whatever_is_stored() {
        let mut env = Env::new();
        env.call(spa(vec![
            notify("Device.DeviceInfo.", 0),
            notify("Device.DeviceInfo.SoftwareVersion", 0),
        ]));
        assert_eq!(env.notification("Device.DeviceInfo.SoftwareVersion"), 2);
        assert_eq!(env.notification("Device.DeviceInfo.ProvisioningCode"), 2);
        assert_eq!(env.notification("Device.DeviceInfo.HardwareVersion"), 2);
        assert_eq!(env.notification("Device.DeviceInfo.Manufacturer"), 0);
    }

    #[test]
    fn accepts_active_on_partial_path_but_keeps_can_deny_off() {
        let mut env = Env::new();
        let (resp, _) = env.call(spa(vec![notify("Device.DeviceInfo.", 2)]));
        assert_eq!(resp, CpeResponse::SetParameterAttributes);
        assert_eq!(env.notification("Device.DeviceInfo.Manufacturer"), 2);
        assert_eq!(env.notification("Device.DeviceInfo.UpTime"), 0);
    }

    #[test]
    fn rejects_whole_attribute_request_when_one_entry_fails() {
        let mut env = Env::new();
        let f = env.fault(spa(vec![
            notify("Device.Time.Enable", 1),
            notify("Device.DeviceInfo.UpTime", 2),
        ]));
        assert_eq!(code(&f), 9009);
        assert!(env.attrs.is_empty());
        assert_eq!(env.notification("Device.Time.Enable"), 0);
    }

    #[test]
    fn applies_parent_attribute_over_children() {
        let mut env = Env::new();
        env.call(spa(vec![notify("Device.Hosts.Host.1.Active", 2)]));
        env.call(spa(vec![notify("Device.Hosts.", 1)]));
        assert_eq!(env.notification("Device.Hosts.Host.1.Active"), 1);
        env.call(spa(vec![notify("Device.Hosts.Host.2.", 0)]));
        let got: Vec<(String, u8)> = env
            .gpa(&["Device.Hosts."])
            .into_iter()
            .map(|a| (a.name, a.notification))
            .collect();
        assert_eq!(
            got,
            [
                ("Device.Hosts.Host.1.Active".to_string(), 1),
                ("Device.Hosts.Host.1.IPAddress".to_string(), 1),
                ("Device.Hosts.Host.2.Active".to_string(), 0),
                ("Device.Hosts.Host.2.IPAddress".to_string(), 0),
            ]
        );
    }

    #[test]
    fn persists_attributes_and_reloads_them() {
        let dir = std::env::temp_dir().join(format!("icwmp-rpc-attrs-{}", std::process::id()));
        let mut env = Env::new();
        env.call(spa(vec![
            notify("Device.Hosts.", 1),
            notify("Device.Time.Enable", 2),
        ]));
        env.attrs.save(&dir).unwrap();
        let mut reloaded = Env::new();
        reloaded.attrs = NotifyAttributes::load(&dir);
        for name in ["Device.Hosts.Host.2.Active", "Device.Time.Enable"] {
            assert_eq!(
                reloaded.notification(name),
                env.notification(name),
                "{name}"
            );
        }
        assert_eq!(reloaded.notification("Device.Time.Enable"), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
