//! ACS-side SOAP: builders for the requests the scripted ACS sends, replies to CPE requests,
//! and readers for what the CPE sent (events, parameter lists, faults).

use super::xml::Element;

/// The cwmp-1-2 namespace, what the ACS speaks unless the CPE used another.
pub const CWMP_1_2: &str = "urn:dslforum-org:cwmp-1-2";

/// Escapes text for element content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Wraps a body element (using the `cwmp:` prefix) in an envelope with `cwmp:ID`.
pub fn envelope(ns: &str, id: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:cwmp=\"{ns}\">\n\
         <soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">{}</cwmp:ID></soap-env:Header>\n\
         <soap-env:Body>{body}</soap-env:Body>\n</soap-env:Envelope>\n",
        esc(id)
    )
}

fn string_array(tag: &str, items: &[&str]) -> String {
    let inner: String = items
        .iter()
        .map(|s| format!("<string>{}</string>", esc(s)))
        .collect();
    format!(
        "<{tag} soap-enc:arrayType=\"xsd:string[{}]\">{inner}</{tag}>",
        items.len()
    )
}

/// GetParameterValues.
pub fn gpv(names: &[&str]) -> String {
    format!(
        "<cwmp:GetParameterValues>{}</cwmp:GetParameterValues>",
        string_array("ParameterNames", names)
    )
}

/// SetParameterValues of (name, value, xsd type such as `xsd:unsignedInt`).
pub fn spv(list: &[(&str, &str, &str)], key: &str) -> String {
    let items: String = list
        .iter()
        .map(|(n, v, t)| {
            format!(
                "<ParameterValueStruct><Name>{}</Name><Value xsi:type=\"{t}\">{}</Value>\
                 </ParameterValueStruct>",
                esc(n),
                esc(v)
            )
        })
        .collect();
    format!(
        "<cwmp:SetParameterValues><ParameterList \
         soap-enc:arrayType=\"cwmp:ParameterValueStruct[{}]\">{items}</ParameterList>\
         <ParameterKey>{}</ParameterKey></cwmp:SetParameterValues>",
        list.len(),
        esc(key)
    )
}

/// GetParameterNames.
pub fn gpn(path: &str, next_level: bool) -> String {
    format!(
        "<cwmp:GetParameterNames><ParameterPath>{}</ParameterPath>\
         <NextLevel>{}</NextLevel></cwmp:GetParameterNames>",
        esc(path),
        if next_level { "true" } else { "false" }
    )
}

/// AddObject.
pub fn add_object(name: &str, key: &str) -> String {
    format!(
        "<cwmp:AddObject><ObjectName>{}</ObjectName><ParameterKey>{}</ParameterKey>\
         </cwmp:AddObject>",
        esc(name),
        esc(key)
    )
}

/// DeleteObject.
pub fn delete_object(name: &str, key: &str) -> String {
    format!(
        "<cwmp:DeleteObject><ObjectName>{}</ObjectName><ParameterKey>{}</ParameterKey>\
         </cwmp:DeleteObject>",
        esc(name),
        esc(key)
    )
}

/// SetParameterAttributes of (name, notification); the access list is left alone.
pub fn spa(list: &[(&str, u8)]) -> String {
    let items: String = list
        .iter()
        .map(|(n, notif)| {
            format!(
                "<SetParameterAttributesStruct><Name>{}</Name>\
                 <NotificationChange>true</NotificationChange><Notification>{notif}</Notification>\
                 <AccessListChange>false</AccessListChange>\
                 <AccessList soap-enc:arrayType=\"xsd:string[0]\"></AccessList>\
                 </SetParameterAttributesStruct>",
                esc(n)
            )
        })
        .collect();
    format!(
        "<cwmp:SetParameterAttributes><ParameterList \
         soap-enc:arrayType=\"cwmp:SetParameterAttributesStruct[{}]\">{items}</ParameterList>\
         </cwmp:SetParameterAttributes>",
        list.len()
    )
}

/// GetParameterAttributes.
pub fn gpa(names: &[&str]) -> String {
    format!(
        "<cwmp:GetParameterAttributes>{}</cwmp:GetParameterAttributes>",
        string_array("ParameterNames", names)
    )
}

/// Reboot.
pub fn reboot(key: &str) -> String {
    format!(
        "<cwmp:Reboot><CommandKey>{}</CommandKey></cwmp:Reboot>",
        esc(key)
    )
}

/// FactoryReset.
pub fn factory_reset() -> String {
    "<cwmp:FactoryReset/>".to_string()
}

/// ScheduleInform.
pub fn schedule_inform(delay_seconds: u32, key: &str) -> String {
    format!(
        "<cwmp:ScheduleInform><DelaySeconds>{delay_seconds}</DelaySeconds>\
         <CommandKey>{}</CommandKey></cwmp:ScheduleInform>",
        esc(key)
    )
}

/// GetRPCMethods (ACS asking the CPE).
pub fn get_rpc_methods() -> String {
    "<cwmp:GetRPCMethods/>".to_string()
}

/// Download of a firmware image (file type 1) from `url`.
pub fn download(key: &str, url: &str, size: u32, delay: u32) -> String {
    format!(
        "<cwmp:Download><CommandKey>{}</CommandKey><FileType>1 Firmware Upgrade Image</FileType>\
         <URL>{}</URL><Username></Username><Password></Password><FileSize>{size}</FileSize>\
         <TargetFileName></TargetFileName><DelaySeconds>{delay}</DelaySeconds>\
         <SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>",
        esc(key),
        esc(url)
    )
}

/// A method no CPE implements (expects fault 9000).
pub fn unknown_method() -> String {
    "<cwmp:FrobnicateEverything><Level>11</Level></cwmp:FrobnicateEverything>".to_string()
}

/// The ACS's answer to a CPE request named `method` (InformResponse, GetRPCMethodsResponse...).
pub fn response_to(method: &str) -> String {
    match method {
        "Inform" => {
            "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>".to_string()
        }
        "GetRPCMethods" => format!(
            "<cwmp:GetRPCMethodsResponse>{}</cwmp:GetRPCMethodsResponse>",
            string_array(
                "MethodList",
                &[
                    "Inform",
                    "GetRPCMethods",
                    "TransferComplete",
                    "AutonomousTransferComplete"
                ],
            )
        ),
        other => format!("<cwmp:{other}Response/>"),
    }
}

/// The events of an Inform body: (EventCode, CommandKey).
pub fn inform_events(inform: &Element) -> Vec<(String, String)> {
    inform
        .all("EventStruct")
        .into_iter()
        .map(|e| (e.child_text("EventCode"), e.child_text("CommandKey")))
        .collect()
}

/// (Name, Value) of every ParameterValueStruct below `el`.
pub fn param_values(el: &Element) -> Vec<(String, String)> {
    el.all("ParameterValueStruct")
        .into_iter()
        .map(|p| {
            let v = p.child("Value").map(|v| v.text.clone()).unwrap_or_default();
            (p.child_text("Name"), v)
        })
        .collect()
}

/// The value of `name` in a list from [`param_values`].
pub fn value_of<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A CWMP fault carried by a `soap-env:Fault` body: (FaultCode, [(ParameterName, FaultCode)]).
pub fn cwmp_fault(body_child: &Element) -> Option<(u32, Vec<(String, u32)>)> {
    if body_child.name != "Fault" {
        return None;
    }
    let f = body_child.first("Fault")?;
    let code = f.child_text("FaultCode").parse().ok()?;
    let params = f
        .all("SetParameterValuesFault")
        .into_iter()
        .map(|p| {
            let c = p.child_text("FaultCode").parse().unwrap_or(0);
            (p.child_text("ParameterName"), c)
        })
        .collect();
    Some((code, params))
}
