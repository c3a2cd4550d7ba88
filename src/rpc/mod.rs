//! CPE-side RPC handlers: a decoded [`AcsRequest`] plus agent state in, a [`CpeResponse`] and
//! deferred [`Action`]s out. Pure: no I/O, no clock (the time comes in [`RpcContext::now`]).
//!
//! What must happen after the answer (reboot, persisting attributes, storing the
//! ParameterKey...) is returned as [`Action`]s for the main loop; a fault never carries
//! actions. `GetRPCMethods` lists exactly the entries of the dispatch table [`METHODS`], so
//! it can never announce a method [`handle`] would refuse with 9000.

mod attrs;
#[cfg(test)]
pub(crate) mod fake;
mod params;
#[cfg(test)]
mod test_env;
#[cfg(test)]
mod tests;
mod transfer;
#[cfg(test)]
mod transfer_tests;

use crate::datamodel::DataModel;
use crate::fault::{Fault, FaultCode};
use crate::notify::NotifyAttributes;
use crate::soap::{
    AcsRequest, CpeResponse, DownloadArgs, DuOperation, ScheduleDownloadArgs, UploadArgs,
};

/// Longest CommandKey / ParameterKey (string(32)).
pub const MAX_KEY_LEN: usize = 32;
/// Longest parameter name or path (string(256)).
pub const MAX_NAME_LEN: usize = 256;
/// How many ScheduleInform requests may wait at once (as the C icwmp).
pub const MAX_SCHEDULED_INFORMS: usize = 10;

/// The agent state a handler may read or change.
pub struct RpcContext<'a> {
    /// The data-model backend.
    pub dm: &'a mut dyn DataModel,
    /// Notification attributes (changed by SPA, AddObject, DeleteObject).
    pub attrs: &'a mut NotifyAttributes,
    /// The configured TR-069 amendment (`cpe.amd_version`, 1-6).
    pub amd_version: u8,
    /// The time the request was received (Unix seconds).
    pub now: i64,
    /// Forced-inform parameter names (the standard ones plus configured extras).
    pub forced_inform: &'a [String],
    /// ScheduleInform requests already waiting.
    pub queued_schedule_informs: usize,
    /// The transfer queue as GetAllQueuedTransfers reports it (limits, CancelTransfer).
    pub transfers: &'a [crate::soap::QueuedTransfer],
    /// ChangeDUState jobs waiting or unacknowledged (limit: 9004).
    pub du_jobs: usize,
}

/// Something the main loop must do once the response is on its way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Store this as `ManagementServer.ParameterKey` (SPV, AddObject, DeleteObject succeeded).
    SetParameterKey(String),
    /// Reboot after the session; the next Inform carries `1 BOOT` + `M Reboot`.
    Reboot {
        /// CommandKey for `M Reboot`.
        command_key: String,
    },
    /// Factory reset after the session (FactoryReset or X_FactoryResetSoft).
    FactoryReset,
    /// Open a session with `3 SCHEDULED` + `M ScheduleInform` at `due`.
    ScheduleInform {
        /// DelaySeconds as requested.
        delay_seconds: u32,
        /// When (Unix seconds): receipt time plus DelaySeconds.
        due: i64,
        /// CommandKey for `M ScheduleInform`.
        command_key: String,
    },
    /// The notification attributes changed: persist them.
    AttributesChanged,
    /// A `Device.ManagementServer.` setting changed: reload the configuration after the session.
    ConfigChanged,
    /// Queue a download (arguments checked).
    Download(DownloadArgs),
    /// Queue an upload (arguments checked).
    Upload(UploadArgs),
    /// Queue a windowed download (arguments checked).
    ScheduleDownload(ScheduleDownloadArgs),
    /// Drop the not-yet-started transfers with this key (checked: nothing else has it).
    CancelTransfer {
        /// CommandKey of the transfers to cancel.
        command_key: String,
    },
    /// Run DU operations after the session (checked).
    ChangeDuState {
        /// Operations, in order.
        operations: Vec<DuOperation>,
        /// CommandKey.
        command_key: String,
    },
}

/// A successful answer: the response and what to do afterwards.
type Reply = (CpeResponse, Vec<Action>);

/// A handler; it is only called with requests whose `method_name()` is its table name.
type Handler = fn(&AcsRequest, &mut RpcContext) -> Result<Reply, Fault>;

/// One RPC we serve.
struct Method {
    /// The element name, as in `AcsRequest::method_name`.
    name: &'static str,
    /// Lowest `amd_version` that offers it (icwmp-c section 6).
    min_amd: u8,
    handler: Handler,
}

/// Everything [`handle`] serves and [`supported_methods`] lists. Not here, hence 9000:
/// SetVouchers and GetOptions.
#[rustfmt::skip]
const METHODS: &[Method] = &[
    Method { name: "GetRPCMethods", min_amd: 1, handler: get_rpc_methods },
    Method { name: "SetParameterValues", min_amd: 1, handler: params::set_values },
    Method { name: "GetParameterValues", min_amd: 1, handler: params::get_values },
    Method { name: "GetParameterNames", min_amd: 1, handler: params::get_names },
    Method { name: "SetParameterAttributes", min_amd: 1, handler: attrs::set_attributes },
    Method { name: "GetParameterAttributes", min_amd: 1, handler: attrs::get_attributes },
    Method { name: "AddObject", min_amd: 1, handler: params::add_or_delete_object },
    Method { name: "DeleteObject", min_amd: 1, handler: params::add_or_delete_object },
    Method { name: "Reboot", min_amd: 1, handler: reboot },
    Method { name: "FactoryReset", min_amd: 1, handler: factory_reset },
    Method { name: "ScheduleInform", min_amd: 1, handler: schedule_inform },
    Method { name: "X_FactoryResetSoft", min_amd: 1, handler: factory_reset },
    Method { name: "Download", min_amd: 1, handler: transfer::download },
    Method { name: "Upload", min_amd: 1, handler: transfer::upload },
    Method { name: "GetQueuedTransfers", min_amd: 1, handler: transfer::get_queued },
    Method { name: "GetAllQueuedTransfers", min_amd: 2, handler: transfer::get_all_queued },
    Method { name: "ScheduleDownload", min_amd: 3, handler: transfer::schedule_download },
    Method { name: "CancelTransfer", min_amd: 3, handler: transfer::cancel },
    Method { name: "ChangeDUState", min_amd: 3, handler: transfer::change_du_state },
];

/// The methods offered at `amd_version`: the MethodList of GetRPCMethodsResponse.
pub fn supported_methods(amd_version: u8) -> Vec<&'static str> {
    METHODS
        .iter()
        .filter(|m| m.min_amd <= amd_version)
        .map(|m| m.name)
        .collect()
}

/// Answers one ACS request. A fault comes back as `CpeResponse::Fault` with no actions.
pub fn handle(req: &AcsRequest, ctx: &mut RpcContext) -> (CpeResponse, Vec<Action>) {
    let name = req.method_name();
    let method = METHODS
        .iter()
        .find(|m| m.name == name && m.min_amd <= ctx.amd_version);
    let result = match method {
        Some(m) => (m.handler)(req, ctx),
        None => Err(Fault::with_message(
            FaultCode::METHOD_NOT_SUPPORTED,
            format!("Method not supported: {name}"),
        )),
    };
    match result {
        Ok(reply) => reply,
        Err(fault) => {
            log::info!("{name}: {fault}");
            (CpeResponse::Fault(fault), Vec::new())
        }
    }
}

/// The fault for a table entry whose handler got another request (a programming error).
fn wrong_request(req: &AcsRequest) -> Fault {
    Fault::internal(format!("no handler for {}", req.method_name()))
}

/// 9003 unless the CommandKey/ParameterKey fits string(32).
pub(crate) fn check_key(what: &str, key: &str) -> Result<(), Fault> {
    if key.chars().count() > MAX_KEY_LEN {
        return Err(Fault::invalid_args(format!(
            "{what} longer than {MAX_KEY_LEN} characters"
        )));
    }
    Ok(())
}

/// 9003 unless a parameter name fits string(256).
fn check_name_len(name: &str) -> Result<(), Fault> {
    if name.chars().count() > MAX_NAME_LEN {
        return Err(Fault::invalid_args(format!(
            "parameter name longer than {MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

fn get_rpc_methods(_req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let methods = supported_methods(ctx.amd_version)
        .into_iter()
        .map(String::from)
        .collect();
    Ok((CpeResponse::GetRpcMethods { methods }, Vec::new()))
}

fn reboot(req: &AcsRequest, _ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::Reboot { command_key } = req else {
        return Err(wrong_request(req));
    };
    check_key("CommandKey", command_key)?;
    let action = Action::Reboot {
        command_key: command_key.clone(),
    };
    Ok((CpeResponse::Reboot, vec![action]))
}

fn factory_reset(req: &AcsRequest, _ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let response = match req {
        AcsRequest::FactoryReset => CpeResponse::FactoryReset,
        AcsRequest::FactoryResetSoft => CpeResponse::FactoryResetSoft,
        _ => return Err(wrong_request(req)),
    };
    Ok((response, vec![Action::FactoryReset]))
}

fn schedule_inform(req: &AcsRequest, ctx: &mut RpcContext) -> Result<Reply, Fault> {
    let AcsRequest::ScheduleInform {
        delay_seconds,
        command_key,
    } = req
    else {
        return Err(wrong_request(req));
    };
    check_key("CommandKey", command_key)?;
    if *delay_seconds == 0 {
        return Err(Fault::invalid_args("DelaySeconds must be greater than 0"));
    }
    if ctx.queued_schedule_informs >= MAX_SCHEDULED_INFORMS {
        return Err(Fault::with_message(
            FaultCode::RESOURCES_EXCEEDED,
            format!("already {MAX_SCHEDULED_INFORMS} scheduled informs pending"),
        ));
    }
    let action = Action::ScheduleInform {
        delay_seconds: *delay_seconds,
        due: ctx.now.saturating_add(i64::from(*delay_seconds)),
        command_key: command_key.clone(),
    };
    Ok((CpeResponse::ScheduleInform, vec![action]))
}
