//! A tiny stand-alone ACS for the demo (`scripts/demo.sh`): it waits for a CPE's Inform, then
//! runs GetParameterValues(Device.DeviceInfo.), SetParameterValues(PeriodicInformInterval),
//! AddObject(Device.NAT.PortMapping.) and Reboot, and stops after the session that follows
//! the reboot (`1 BOOT`). Every message is printed in a short form.
//!
//! Usage: `cargo run --example demo_acs -- [--port N] [--timeout SECONDS]`
//! (plain HTTP on 127.0.0.1, no authentication; std and tiny_http only).

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tiny_http::{Header, Response, Server};

const NS: &str = "urn:dslforum-org:cwmp-1-2";

fn envelope(id: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap-env:Envelope \
         xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:cwmp=\"{NS}\">\
         <soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">{id}</cwmp:ID></soap-env:Header>\
         <soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"
    )
}

/// The demo's requests: (short description, body element).
fn plan() -> VecDeque<(&'static str, String)> {
    VecDeque::from(vec![
        (
            "GetParameterValues Device.DeviceInfo.",
            "<cwmp:GetParameterValues><ParameterNames soap-enc:arrayType=\"xsd:string[1]\">\
             <string>Device.DeviceInfo.</string></ParameterNames></cwmp:GetParameterValues>"
                .to_string(),
        ),
        (
            "SetParameterValues Device.ManagementServer.PeriodicInformInterval = 3600",
            "<cwmp:SetParameterValues><ParameterList \
             soap-enc:arrayType=\"cwmp:ParameterValueStruct[1]\"><ParameterValueStruct>\
             <Name>Device.ManagementServer.PeriodicInformInterval</Name>\
             <Value xsi:type=\"xsd:unsignedInt\">3600</Value></ParameterValueStruct>\
             </ParameterList><ParameterKey>demo-1</ParameterKey></cwmp:SetParameterValues>"
                .to_string(),
        ),
        (
            "AddObject Device.NAT.PortMapping.",
            "<cwmp:AddObject><ObjectName>Device.NAT.PortMapping.</ObjectName>\
             <ParameterKey>demo-2</ParameterKey></cwmp:AddObject>"
                .to_string(),
        ),
        (
            "Reboot (CommandKey demo-reboot)",
            "<cwmp:Reboot><CommandKey>demo-reboot</CommandKey></cwmp:Reboot>".to_string(),
        ),
    ])
}

/// Texts of every `<tag>...</tag>` (unprefixed children, as CWMP sends them).
fn texts(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        // `<Name>` but not `<NameX>`.
        if !after.starts_with('>') && !after.starts_with(' ') {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(body[..end].trim().to_string());
        rest = &body[end..];
    }
    out
}

/// Local name of the Body's child element, or "" for an empty message.
fn method(xml: &str) -> String {
    let Some(b) = xml.find(":Body").or_else(|| xml.find("<Body")) else {
        return String::new();
    };
    let rest = &xml[b..];
    let Some(gt) = rest.find('>') else {
        return String::new();
    };
    let rest = rest[gt + 1..].trim_start();
    let Some(tag) = rest.strip_prefix('<') else {
        return String::new();
    };
    let name: String = tag
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
        .collect();
    name.rsplit(':').next().unwrap_or("").to_string()
}

fn header_id(xml: &str) -> String {
    texts(xml, "cwmp:ID").into_iter().next().unwrap_or_default()
}

/// One readable line (or a few) for a CPE message.
fn describe(body: &str) -> String {
    let m = method(body);
    match m.as_str() {
        "" => "(empty POST: the CPE has nothing more to say)".into(),
        "Inform" => {
            let events = texts(body, "EventCode").join(", ");
            let serial = texts(body, "SerialNumber").join("");
            let n = texts(body, "ParameterValueStruct").len();
            format!("Inform  events [{events}]  serial {serial}  ({n} parameters)")
        }
        "GetParameterValuesResponse" => {
            let names = texts(body, "Name");
            let values = texts(body, "Value");
            let mut s = format!("GetParameterValuesResponse ({} values)", names.len());
            for (n, v) in names.iter().zip(values.iter()).take(8) {
                s.push_str(&format!("\n        {n} = {v}"));
            }
            if names.len() > 8 {
                s.push_str("\n        ...");
            }
            s
        }
        "SetParameterValuesResponse" => {
            format!(
                "SetParameterValuesResponse  Status {}",
                texts(body, "Status").join("")
            )
        }
        "AddObjectResponse" => format!(
            "AddObjectResponse  InstanceNumber {}  Status {}",
            texts(body, "InstanceNumber").join(""),
            texts(body, "Status").join("")
        ),
        "Fault" => format!(
            "Fault {} {}",
            texts(body, "FaultCode").join("/"),
            texts(body, "FaultString").join("; ")
        ),
        other => other.to_string(),
    }
}

fn xml_response(body: String) -> Response<std::io::Cursor<Vec<u8>>> {
    let ct = Header::from_bytes("Content-Type", "text/xml; charset=\"utf-8\"")
        .expect("static header is valid");
    Response::from_string(body).with_header(ct)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let port = arg("--port").unwrap_or(7557);
    let timeout = Duration::from_secs(arg("--timeout").unwrap_or(120));
    let server = match Server::http(format!("127.0.0.1:{port}")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo_acs: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    println!("demo ACS listening on http://127.0.0.1:{port}/acs (stops after {timeout:?})");
    let start = Instant::now();
    let mut plan = plan();
    let mut rebooting = false;
    let mut finishing = false;
    let mut next_id = 0;
    while start.elapsed() < timeout {
        let mut rq = match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(rq)) => rq,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("demo_acs: {e}");
                return ExitCode::from(1);
            }
        };
        let mut body = String::new();
        if rq.as_reader().read_to_string(&mut body).is_err() {
            let _ = rq.respond(Response::empty(400));
            continue;
        }
        let t = start.elapsed().as_secs_f32();
        println!("[{t:6.2}s] CPE -> ACS  {}", describe(&body));
        let m = method(&body);
        let reply = match m.as_str() {
            "Inform" => {
                if rebooting && texts(&body, "EventCode").iter().any(|e| e == "1 BOOT") {
                    finishing = true;
                }
                Some((
                    "InformResponse".to_string(),
                    envelope(
                        &header_id(&body),
                        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
                    ),
                ))
            }
            "GetRPCMethods" => Some((
                "GetRPCMethodsResponse".to_string(),
                envelope(
                    &header_id(&body),
                    "<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType=\"xsd:string[3]\">\
                 <string>Inform</string><string>GetRPCMethods</string>\
                 <string>TransferComplete</string></MethodList></cwmp:GetRPCMethodsResponse>",
                ),
            )),
            "TransferComplete" => Some((
                "TransferCompleteResponse".to_string(),
                envelope(&header_id(&body), "<cwmp:TransferCompleteResponse/>"),
            )),
            _ => plan.pop_front().map(|(what, rpc)| {
                next_id += 1;
                if plan.is_empty() {
                    rebooting = true;
                }
                (what.to_string(), envelope(&format!("demo-{next_id}"), &rpc))
            }),
        };
        match reply {
            Some((what, xml)) => {
                println!("[{t:6.2}s] ACS -> CPE  {what}");
                let _ = rq.respond(xml_response(xml));
            }
            None => {
                println!("[{t:6.2}s] ACS -> CPE  204 No Content (session over)");
                let _ = rq.respond(Response::empty(204));
                if finishing {
                    println!("demo complete: the CPE came back with 1 BOOT after the Reboot");
                    return ExitCode::SUCCESS;
                }
            }
        }
    }
    eprintln!("demo_acs: timed out after {timeout:?}");
    ExitCode::from(1)
}
