//! Arguments of the RPCs the ACS calls on the CPE (digest section 7.1), read by local name.
//!
//! Missing optional children take defaults, array counts are ignored (the children are
//! counted), empty strings are allowed. Numbers that do not parse give 9003.

use super::limits::Limits;
use super::types::*;
use super::xml::{Element, Ns};
use crate::datamodel::SetValue;
use crate::fault::{Fault, FaultCode};

/// Why a request element could not be turned into an [`AcsRequest`].
#[derive(Debug)]
pub enum ArgError {
    /// The method name is not one we implement (9000).
    UnknownMethod,
    /// The arguments are malformed (usually 9003).
    Invalid(Fault),
}

type Res<T> = Result<T, ArgError>;

fn invalid(msg: String) -> ArgError {
    ArgError::Invalid(Fault::invalid_args(msg))
}

/// Text of a child, untouched; empty when missing.
fn text(e: Element<'_>, name: &str) -> String {
    e.child(name)
        .map(|c| c.text().into_owned())
        .unwrap_or_default()
}

/// Text of a child with surrounding whitespace removed (names, paths, URLs, numbers).
fn trimmed(e: Element<'_>, name: &str) -> String {
    e.child(name)
        .map(|c| c.text().trim().to_string())
        .unwrap_or_default()
}

/// A required child.
fn required<'d>(e: Element<'d>, name: &str) -> Res<Element<'d>> {
    e.child(name)
        .ok_or_else(|| invalid(format!("{}: missing {name}", e.name())))
}

/// An integer child; missing or empty gives `default`, anything unparsable 9003.
fn num<T: std::str::FromStr>(e: Element<'_>, name: &str, default: T) -> Res<T> {
    let t = trimmed(e, name);
    if t.is_empty() {
        return Ok(default);
    }
    t.parse()
        .map_err(|_| invalid(format!("{name}: '{t}' is not a valid number")))
}

/// A boolean child (`0`, `1`, `true`, `false`); missing or empty is false.
fn boolean(e: Element<'_>, name: &str) -> Res<bool> {
    let t = trimmed(e, name);
    match t.to_ascii_lowercase().as_str() {
        "" | "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        _ => Err(invalid(format!("{name}: '{t}' is not a boolean"))),
    }
}

/// 9004 for a list longer than the per-request budget.
fn too_many(what: &str, n: usize, max: usize) -> ArgError {
    ArgError::Invalid(Fault::with_message(
        FaultCode::RESOURCES_EXCEEDED,
        format!("{what} has {n} entries; at most {max} are accepted per request"),
    ))
}

/// The items of an array child, whatever their element names (the count is not trusted);
/// 9004 past `max` items.
fn items<'d>(e: Element<'d>, name: &str, max: usize) -> Res<Vec<Element<'d>>> {
    let list: Vec<Element<'d>> = e
        .child(name)
        .into_iter()
        .flat_map(|a| a.children().take(max.saturating_add(1)))
        .collect();
    if list.len() > max {
        let n = e.child(name).map_or(0, |a| a.children().count());
        return Err(too_many(name, n, max));
    }
    Ok(list)
}

/// The texts of a string-array child; 9004 past `max` items.
fn strings(e: Element<'_>, name: &str, max: usize) -> Res<Vec<String>> {
    Ok(items(e, name, max)?
        .iter()
        .map(|s| s.text().trim().to_string())
        .collect())
}

/// Decodes a request element into an [`AcsRequest`]; lists longer than
/// `limits.max_names` give 9004.
pub fn decode_request(m: Element<'_>, limits: &Limits) -> Res<AcsRequest> {
    let max = limits.max_names;
    Ok(match m.name() {
        "GetRPCMethods" => AcsRequest::GetRpcMethods,
        "SetParameterValues" => set_parameter_values(m, max)?,
        "GetParameterValues" => {
            required(m, "ParameterNames")?;
            AcsRequest::GetParameterValues {
                names: strings(m, "ParameterNames", max)?,
            }
        }
        "GetParameterNames" => AcsRequest::GetParameterNames {
            path: trimmed(m, "ParameterPath"),
            next_level: boolean(m, "NextLevel")?,
        },
        "SetParameterAttributes" => set_parameter_attributes(m, max)?,
        "GetParameterAttributes" => {
            required(m, "ParameterNames")?;
            AcsRequest::GetParameterAttributes {
                names: strings(m, "ParameterNames", max)?,
            }
        }
        "AddObject" => AcsRequest::AddObject {
            object_name: object_name(m)?,
            parameter_key: text(m, "ParameterKey"),
        },
        "DeleteObject" => AcsRequest::DeleteObject {
            object_name: object_name(m)?,
            parameter_key: text(m, "ParameterKey"),
        },
        "Reboot" => AcsRequest::Reboot {
            command_key: text(m, "CommandKey"),
        },
        "Download" => AcsRequest::Download(download_args(m)?),
        "Upload" => AcsRequest::Upload(UploadArgs {
            command_key: text(m, "CommandKey"),
            file_type: trimmed(m, "FileType"),
            url: trimmed(m, "URL"),
            username: text(m, "Username"),
            password: text(m, "Password"),
            delay_seconds: num(m, "DelaySeconds", 0)?,
        }),
        "FactoryReset" => AcsRequest::FactoryReset,
        "X_FactoryResetSoft" => AcsRequest::FactoryResetSoft,
        "GetQueuedTransfers" => AcsRequest::GetQueuedTransfers,
        "GetAllQueuedTransfers" => AcsRequest::GetAllQueuedTransfers,
        "ScheduleInform" => AcsRequest::ScheduleInform {
            delay_seconds: num(m, "DelaySeconds", 0)?,
            command_key: text(m, "CommandKey"),
        },
        "SetVouchers" => AcsRequest::SetVouchers {
            vouchers: strings(m, "VoucherList", max)?,
        },
        "GetOptions" => AcsRequest::GetOptions {
            option_name: text(m, "OptionName"),
        },
        "ScheduleDownload" => schedule_download(m, max)?,
        "CancelTransfer" => AcsRequest::CancelTransfer {
            command_key: text(m, "CommandKey"),
        },
        "ChangeDUState" => change_du_state(m, max)?,
        _ => return Err(ArgError::UnknownMethod),
    })
}

fn set_parameter_values(m: Element<'_>, max: usize) -> Res<AcsRequest> {
    required(m, "ParameterList")?;
    let values = items(m, "ParameterList", max)?
        .into_iter()
        .map(|pv| {
            let value = required(pv, "Value")?;
            Ok(SetValue {
                name: required(pv, "Name")?.text().trim().to_string(),
                value: value.text().into_owned(),
                // `xsi:type` normally; a stray `xsd:type` (cwmp_ex sample) still counts.
                type_hint: value.attr(Ns::Xsi, "type").map(|t| t.into_owned()),
            })
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(AcsRequest::SetParameterValues {
        values,
        parameter_key: text(m, "ParameterKey"),
    })
}

fn set_parameter_attributes(m: Element<'_>, max: usize) -> Res<AcsRequest> {
    required(m, "ParameterList")?;
    let attributes = items(m, "ParameterList", max)?
        .into_iter()
        .map(|s| {
            let notification_change = boolean(s, "NotificationChange")?;
            // With NotificationChange false the value is ignored and may be empty or junk.
            let notification = if notification_change {
                let n: u8 = num(s, "Notification", 0)?;
                if n > 6 {
                    return Err(invalid(format!("Notification {n} out of range 0-6")));
                }
                n
            } else {
                num(s, "Notification", 0).unwrap_or(0)
            };
            Ok(SetAttribute {
                name: trimmed(s, "Name"),
                notification_change,
                notification,
                access_list_change: boolean(s, "AccessListChange")?,
                access_list: strings(s, "AccessList", max)?,
            })
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(AcsRequest::SetParameterAttributes { attributes })
}

/// ObjectName of AddObject/DeleteObject: must end with `.` (the XSD pattern `.*\.`).
fn object_name(m: Element<'_>) -> Res<String> {
    let name = trimmed(m, "ObjectName");
    if !name.ends_with('.') {
        return Err(ArgError::Invalid(Fault::invalid_name(&name)));
    }
    Ok(name)
}

fn download_args(m: Element<'_>) -> Res<DownloadArgs> {
    Ok(DownloadArgs {
        command_key: text(m, "CommandKey"),
        file_type: trimmed(m, "FileType"),
        url: trimmed(m, "URL"),
        username: text(m, "Username"),
        password: text(m, "Password"),
        file_size: num(m, "FileSize", 0)?,
        target_file_name: text(m, "TargetFileName"),
        delay_seconds: num(m, "DelaySeconds", 0)?,
        success_url: trimmed(m, "SuccessURL"),
        failure_url: trimmed(m, "FailureURL"),
    })
}

fn schedule_download(m: Element<'_>, max: usize) -> Res<AcsRequest> {
    let windows = items(m, "TimeWindowList", max)?
        .into_iter()
        .map(|w| {
            Ok(TimeWindow {
                window_start: num(w, "WindowStart", 0)?,
                window_end: num(w, "WindowEnd", 0)?,
                window_mode: trimmed(w, "WindowMode"),
                user_message: text(w, "UserMessage"),
                max_retries: num(w, "MaxRetries", -1)?,
            })
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(AcsRequest::ScheduleDownload(ScheduleDownloadArgs {
        download: download_args(m)?,
        windows,
    }))
}

fn change_du_state(m: Element<'_>, max: usize) -> Res<AcsRequest> {
    let mut operations = Vec::new();
    for ops in m.children_named("Operations") {
        match ops.attr(Ns::Xsi, "type") {
            // Schema form: the struct kind is the xsi:type, fields are direct children.
            Some(ty) => {
                let local = ty.rsplit(':').next().unwrap_or(&ty);
                operations.push(du_operation(local, ops)?);
            }
            // cwmp_ex form: <Operations><InstallOpStruct>...</InstallOpStruct>...</Operations>.
            None => {
                for op in ops.children() {
                    operations.push(du_operation(op.name(), op)?);
                }
            }
        }
        if operations.len() > max {
            return Err(too_many("Operations", operations.len(), max));
        }
    }
    if operations.is_empty() {
        return Err(invalid("ChangeDUState without Operations".into()));
    }
    Ok(AcsRequest::ChangeDuState {
        operations,
        command_key: text(m, "CommandKey"),
    })
}

fn du_operation(kind: &str, e: Element<'_>) -> Res<DuOperation> {
    Ok(match kind {
        "InstallOpStruct" => DuOperation::Install {
            url: trimmed(e, "URL"),
            uuid: trimmed(e, "UUID"),
            username: text(e, "Username"),
            password: text(e, "Password"),
            execution_env_ref: trimmed(e, "ExecutionEnvRef"),
        },
        "UpdateOpStruct" => DuOperation::Update {
            uuid: trimmed(e, "UUID"),
            version: trimmed(e, "Version"),
            url: trimmed(e, "URL"),
            username: text(e, "Username"),
            password: text(e, "Password"),
        },
        "UninstallOpStruct" => DuOperation::Uninstall {
            uuid: trimmed(e, "UUID"),
            version: trimmed(e, "Version"),
            execution_env_ref: trimmed(e, "ExecutionEnvRef"),
        },
        other => {
            return Err(ArgError::Invalid(Fault::with_message(
                FaultCode::INVALID_ARGUMENTS,
                format!("unknown ChangeDUState operation '{other}'"),
            )))
        }
    })
}
