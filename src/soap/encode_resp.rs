//! Bodies of the CPE's responses and of the CWMP fault (digest sections 2.5 and 7.1).

use super::cpe_types::*;
use super::encode::Writer;
use crate::fault::Fault;

/// Writes the children of a `<Method>Response` element.
pub(super) fn response_body(w: &mut Writer, resp: &CpeResponse) {
    match resp {
        CpeResponse::GetRpcMethods { methods } => w.string_array("MethodList", methods),
        CpeResponse::SetParameterValues { status } | CpeResponse::DeleteObject { status } => {
            w.num("Status", *status)
        }
        CpeResponse::GetParameterValues { values } => w.param_values(values),
        CpeResponse::GetParameterNames { names } => {
            w.struct_array("ParameterList", "ParameterInfoStruct", names, |w, n| {
                w.leaf("Name", &n.name);
                w.boolean("Writable", n.writable);
            });
        }
        CpeResponse::GetParameterAttributes { attributes } => {
            w.struct_array(
                "ParameterList",
                "ParameterAttributeStruct",
                attributes,
                |w, a| {
                    w.leaf("Name", &a.name);
                    w.num("Notification", a.notification);
                    w.string_array("AccessList", &a.access_list);
                },
            );
        }
        CpeResponse::AddObject { instance, status } => {
            w.num("InstanceNumber", *instance);
            w.num("Status", *status);
        }
        CpeResponse::Download {
            status,
            start_time,
            complete_time,
        }
        | CpeResponse::Upload {
            status,
            start_time,
            complete_time,
        } => {
            w.num("Status", *status);
            w.time("StartTime", *start_time);
            w.time("CompleteTime", *complete_time);
        }
        CpeResponse::GetQueuedTransfers { transfers } => {
            w.struct_array("TransferList", "QueuedTransferStruct", transfers, |w, t| {
                w.leaf("CommandKey", &t.command_key);
                w.num("State", t.state);
            });
        }
        CpeResponse::GetAllQueuedTransfers { transfers } => {
            w.struct_array(
                "TransferList",
                "AllQueuedTransferStruct",
                transfers,
                |w, t| {
                    w.leaf("CommandKey", &t.command_key);
                    w.num("State", t.state);
                    w.boolean("IsDownload", t.is_download);
                    w.leaf("FileType", &t.file_type);
                    w.file_size(t.file_size);
                    w.leaf("TargetFileName", &t.target_file_name);
                },
            );
        }
        // We hold no options (digest 7.1, Annex C).
        CpeResponse::GetOptions => {
            w.array_open("OptionList", "cwmp:OptionStruct", 0);
            w.close("OptionList");
        }
        CpeResponse::SetParameterAttributes
        | CpeResponse::Reboot
        | CpeResponse::FactoryReset
        | CpeResponse::FactoryResetSoft
        | CpeResponse::ScheduleInform
        | CpeResponse::SetVouchers
        | CpeResponse::ScheduleDownload
        | CpeResponse::CancelTransfer
        | CpeResponse::ChangeDuState
        | CpeResponse::Fault(_) => {}
    }
}

/// Writes a `soap-env:Fault` carrying a cwmp:Fault detail.
pub(super) fn fault(w: &mut Writer, f: &Fault) {
    w.raw("<soap-env:Fault>");
    w.leaf(
        "faultcode",
        if f.code.is_client() {
            "Client"
        } else {
            "Server"
        },
    );
    w.leaf("faultstring", "CWMP fault");
    w.open("detail");
    w.method_open("Fault");
    w.num("FaultCode", f.code.0);
    w.leaf("FaultString", &f.message);
    for p in &f.param_faults {
        w.open("SetParameterValuesFault");
        w.leaf("ParameterName", &p.name);
        w.num("FaultCode", p.code.0);
        w.leaf("FaultString", &p.message);
        w.close("SetParameterValuesFault");
    }
    w.method_close("Fault");
    w.close("detail");
    w.raw("</soap-env:Fault>");
}
