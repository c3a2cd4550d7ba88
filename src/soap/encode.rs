//! Envelope encoding: strict, plain string building (digest sections 2, 3, 5.5).
//!
//! UTF-8 only; prefixes `soap-env`, `soap-enc`, `xsd`, `xsi`, `cwmp` declared on the Envelope;
//! only the method element and header elements are qualified; exact arrayType counts;
//! `xsi:type` on every Value; UTC `Z` times with the Unknown Time for `None`.

use super::cpe_types::*;
use super::types::*;
use crate::datamodel::ParamValue;
use crate::time::{format_datetime, UNKNOWN_TIME};

/// Header options of an outgoing envelope.
#[derive(Clone, Debug, Default)]
pub struct HeaderOpts {
    /// `cwmp:SessionTimeout` (sent on the Inform when claiming CWMP 1.3+).
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions` (sent on the Inform when claiming CWMP 1.4).
    pub supported_versions: Option<String>,
}

/// Encodes a CPE request with our own `id`.
pub fn encode_request(req: &CpeRequest, id: &str, ns: CwmpNs, hdr: &HeaderOpts) -> Vec<u8> {
    let mut w = Writer::envelope(ns, Some(id), hdr, estimate_request(req));
    let method = req.method_name();
    w.method_open(method);
    match req {
        CpeRequest::Inform(inf) => inform(&mut w, inf),
        CpeRequest::GetRpcMethods => {}
        CpeRequest::TransferComplete(tc) => {
            w.leaf("CommandKey", &tc.command_key);
            w.transfer_fault("FaultStruct", &tc.fault);
            w.time("StartTime", tc.start_time);
            w.time("CompleteTime", tc.complete_time);
        }
        CpeRequest::AutonomousTransferComplete(a) => {
            w.leaf("AnnounceURL", &a.announce_url);
            w.leaf("TransferURL", &a.transfer_url);
            w.boolean("IsDownload", a.is_download);
            w.leaf("FileType", &a.file_type);
            w.file_size(a.file_size);
            w.leaf("TargetFileName", &a.target_file_name);
            w.transfer_fault("FaultStruct", &a.fault);
            w.time("StartTime", a.start_time);
            w.time("CompleteTime", a.complete_time);
        }
        CpeRequest::DuStateChangeComplete {
            results,
            command_key,
        } => {
            // The XSD repeats `Results` (no SOAP array wrapper).
            for r in results {
                op_result(&mut w, r);
            }
            w.leaf("CommandKey", command_key);
        }
        CpeRequest::AutonomousDuStateChangeComplete { results } => {
            for r in results {
                op_result(&mut w, r);
            }
        }
        CpeRequest::RequestDownload { file_type, args } => {
            w.leaf("FileType", file_type);
            w.struct_array("FileTypeArg", "ArgStruct", args, |w, (name, value)| {
                w.leaf("Name", name);
                w.leaf("Value", value);
            });
        }
    }
    w.method_close(method);
    w.finish()
}

/// Encodes our answer to an ACS request, echoing its `id`.
pub fn encode_response(resp: &CpeResponse, id: Option<&str>, ns: CwmpNs) -> Vec<u8> {
    let mut w = Writer::envelope(ns, id, &HeaderOpts::default(), estimate_response(resp));
    if let CpeResponse::Fault(f) = resp {
        super::encode_resp::fault(&mut w, f);
    } else {
        let name = response_name(resp);
        w.method_open(&name);
        super::encode_resp::response_body(&mut w, resp);
        w.method_close(&name);
    }
    w.finish()
}

/// The SOAP 1.1 fault for a `mustUnderstand="1"` header we do not know: faultcode
/// `soap-env:MustUnderstand` and no CWMP detail, echoing the request's `id`.
pub fn encode_must_understand_fault(header: &str, id: Option<&str>, ns: CwmpNs) -> Vec<u8> {
    let mut w = Writer::envelope(ns, id, &HeaderOpts::default(), 128 + header.len());
    w.raw("<soap-env:Fault>");
    w.leaf("faultcode", "soap-env:MustUnderstand");
    w.leaf("faultstring", &format!("header {header} not understood"));
    w.raw("</soap-env:Fault>");
    w.finish()
}

/// `<Method>Response` for every non-fault response.
fn response_name(resp: &CpeResponse) -> String {
    let method = match resp {
        CpeResponse::GetRpcMethods { .. } => "GetRPCMethods",
        CpeResponse::SetParameterValues { .. } => "SetParameterValues",
        CpeResponse::GetParameterValues { .. } => "GetParameterValues",
        CpeResponse::GetParameterNames { .. } => "GetParameterNames",
        CpeResponse::SetParameterAttributes => "SetParameterAttributes",
        CpeResponse::GetParameterAttributes { .. } => "GetParameterAttributes",
        CpeResponse::AddObject { .. } => "AddObject",
        CpeResponse::DeleteObject { .. } => "DeleteObject",
        CpeResponse::Reboot => "Reboot",
        CpeResponse::Download { .. } => "Download",
        CpeResponse::Upload { .. } => "Upload",
        CpeResponse::FactoryReset => "FactoryReset",
        CpeResponse::FactoryResetSoft => "X_FactoryResetSoft",
        CpeResponse::GetQueuedTransfers { .. } => "GetQueuedTransfers",
        CpeResponse::GetAllQueuedTransfers { .. } => "GetAllQueuedTransfers",
        CpeResponse::ScheduleInform => "ScheduleInform",
        CpeResponse::SetVouchers => "SetVouchers",
        CpeResponse::GetOptions => "GetOptions",
        CpeResponse::ScheduleDownload => "ScheduleDownload",
        CpeResponse::CancelTransfer => "CancelTransfer",
        CpeResponse::ChangeDuState => "ChangeDUState",
        CpeResponse::Fault(_) => "Fault",
    };
    format!("{method}Response")
}

/// A rough output size so big parameter lists are built without repeated reallocation.
fn estimate_values(values: &[ParamValue]) -> usize {
    values
        .iter()
        .map(|v| v.name.len() + v.value.len() + 110)
        .sum()
}

fn estimate_request(req: &CpeRequest) -> usize {
    match req {
        CpeRequest::Inform(i) => 1024 + estimate_values(&i.parameters),
        _ => 1024,
    }
}

fn estimate_response(resp: &CpeResponse) -> usize {
    match resp {
        CpeResponse::GetParameterValues { values } => 1024 + estimate_values(values),
        CpeResponse::GetParameterNames { names } => {
            1024 + names.iter().map(|n| n.name.len() + 80).sum::<usize>()
        }
        CpeResponse::GetParameterAttributes { attributes } => {
            1024 + attributes.iter().map(|a| a.name.len() + 200).sum::<usize>()
        }
        _ => 1024,
    }
}

fn inform(w: &mut Writer, inf: &Inform) {
    let d = &inf.device_id;
    w.open("DeviceId");
    w.leaf("Manufacturer", &d.manufacturer);
    w.leaf("OUI", &d.oui);
    w.leaf("ProductClass", &d.product_class);
    w.leaf("SerialNumber", &d.serial_number);
    w.close("DeviceId");
    w.struct_array("Event", "EventStruct", &inf.events, |w, e| {
        w.leaf("EventCode", &e.code);
        w.leaf("CommandKey", &e.command_key);
    });
    // Multi-envelope messages are dead: always 1 (digest 2.2).
    w.num("MaxEnvelopes", 1u32);
    w.time("CurrentTime", Some(inf.current_time));
    w.num("RetryCount", inf.retry_count);
    w.param_values(&inf.parameters);
}

fn op_result(w: &mut Writer, r: &OpResult) {
    w.open("Results");
    w.leaf("UUID", &r.uuid);
    w.leaf("DeploymentUnitRef", &r.deployment_unit_ref);
    w.leaf("Version", &r.version);
    w.leaf("CurrentState", &r.current_state);
    w.boolean("Resolved", r.resolved);
    w.leaf("ExecutionUnitRefList", &r.execution_unit_ref_list);
    w.time("StartTime", r.start_time);
    w.time("CompleteTime", r.complete_time);
    w.transfer_fault("Fault", &r.fault);
    if let Some(op) = &r.operation_performed {
        w.leaf("OperationPerformed", op);
    }
    w.close("Results");
}

/// Appends `s` with the five XML special characters escaped. Characters XML 1.0 cannot
/// carry at all (most C0 controls) are dropped so the envelope stays well-formed.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

/// A string builder for one envelope.
pub(super) struct Writer {
    out: String,
}

impl Writer {
    /// Starts an envelope: declaration, namespaces, header, and an open Body.
    fn envelope(ns: CwmpNs, id: Option<&str>, hdr: &HeaderOpts, capacity: usize) -> Writer {
        let mut out = String::with_capacity(capacity);
        out.push_str(concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<soap-env:Envelope",
            " xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"",
            " xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\"",
            " xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"",
            " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"",
            " xmlns:cwmp=\""
        ));
        out.push_str(ns.for_output().uri());
        out.push_str("\">");
        let mut w = Writer { out };
        let any_header =
            id.is_some() || hdr.session_timeout.is_some() || hdr.supported_versions.is_some();
        if any_header {
            w.out.push_str("<soap-env:Header>");
            if let Some(id) = id {
                w.header("ID", "1", id);
            }
            if let Some(t) = hdr.session_timeout {
                w.header("SessionTimeout", "0", &t.to_string());
            }
            if let Some(v) = &hdr.supported_versions {
                w.header("SupportedCWMPVersions", "0", v);
            }
            w.out.push_str("</soap-env:Header>");
        }
        w.out.push_str("<soap-env:Body>");
        w
    }

    fn header(&mut self, name: &str, must_understand: &str, value: &str) {
        self.out.push_str("<cwmp:");
        self.out.push_str(name);
        self.out.push_str(" soap-env:mustUnderstand=\"");
        self.out.push_str(must_understand);
        self.out.push_str("\">");
        escape_into(&mut self.out, value);
        self.out.push_str("</cwmp:");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Closes Body and Envelope.
    fn finish(mut self) -> Vec<u8> {
        self.out.push_str("</soap-env:Body></soap-env:Envelope>\n");
        self.out.into_bytes()
    }

    /// Writes raw markup (no escaping).
    pub(super) fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// `<cwmp:name>`.
    pub(super) fn method_open(&mut self, name: &str) {
        self.out.push_str("<cwmp:");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `</cwmp:name>`.
    pub(super) fn method_close(&mut self, name: &str) {
        self.out.push_str("</cwmp:");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name>`.
    pub(super) fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `</name>`.
    pub(super) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name soap-enc:arrayType="item[n]">`.
    pub(super) fn array_open(&mut self, name: &str, item: &str, n: usize) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str(" soap-enc:arrayType=\"");
        self.out.push_str(item);
        self.out.push('[');
        self.out.push_str(&n.to_string());
        self.out.push_str("]\">");
    }

    /// `<name>escaped text</name>`.
    pub(super) fn leaf(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// A number leaf.
    pub(super) fn num(&mut self, name: &str, n: impl Into<u64>) {
        self.leaf(name, &n.into().to_string());
    }

    /// A boolean leaf, written `1`/`0` as most CPEs do.
    pub(super) fn boolean(&mut self, name: &str, b: bool) {
        self.leaf(name, if b { "1" } else { "0" });
    }

    /// A dateTime leaf; `None` is the Unknown Time.
    pub(super) fn time(&mut self, name: &str, t: Option<i64>) {
        match t {
            Some(t) => self.leaf(name, &format_datetime(t)),
            None => self.leaf(name, UNKNOWN_TIME),
        }
    }

    /// `FileSize`: an xsd:unsignedInt on the wire, so larger sizes are capped.
    pub(super) fn file_size(&mut self, size: u64) {
        self.num("FileSize", size.min(u32::MAX as u64));
    }

    /// A FaultStruct / DeploymentUnitFaultStruct.
    fn transfer_fault(&mut self, name: &str, f: &TransferFault) {
        self.open(name);
        self.num("FaultCode", f.code);
        self.leaf("FaultString", &f.message);
        self.close(name);
    }

    /// A `ParameterList` of ParameterValueStruct with `xsi:type` on every Value.
    pub(super) fn param_values(&mut self, values: &[ParamValue]) {
        self.array_open("ParameterList", "cwmp:ParameterValueStruct", values.len());
        for v in values {
            self.out.push_str("<ParameterValueStruct><Name>");
            escape_into(&mut self.out, &v.name);
            self.out.push_str("</Name><Value xsi:type=\"");
            self.out.push_str(v.ty.xsd_name());
            self.out.push_str("\">");
            escape_into(&mut self.out, &v.value);
            self.out.push_str("</Value></ParameterValueStruct>");
        }
        self.close("ParameterList");
    }

    /// A `cwmp:<item>[N]` SOAP array `name` of `<item>` structs, `fields` writing the
    /// children of each.
    pub(super) fn struct_array<T>(
        &mut self,
        name: &str,
        item: &str,
        items: &[T],
        mut fields: impl FnMut(&mut Writer, &T),
    ) {
        self.array_open(name, &format!("cwmp:{item}"), items.len());
        for it in items {
            self.open(item);
            fields(self, it);
            self.close(item);
        }
        self.close(name);
    }

    /// An `xsd:string[N]` array of `<string>` items.
    pub(super) fn string_array(&mut self, name: &str, items: &[String]) {
        self.array_open(name, "xsd:string", items.len());
        for s in items {
            self.leaf("string", s);
        }
        self.close(name);
    }
}
