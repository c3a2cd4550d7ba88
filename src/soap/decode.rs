//! Envelope decoding: header, body dispatch, ACS responses and SOAP faults.
//!
//! Liberal in what it accepts (digest sections 2.2, 3.2 and 13): any prefixes, children by
//! local name in any order, missing optional children, wrong array counts, a request element
//! in no or a foreign namespace. RPC arguments are read in [`super::decode_rpc`].

use super::decode_rpc::{decode_request, ArgError};
use super::limits::Limits;
use super::types::*;
use super::xml::{self, Element, Ns, TreeError};
use crate::fault::{Fault, FaultCode};

/// Header elements of the cwmp namespace that we understand (or may safely ignore).
const KNOWN_HEADERS: &[&str] = &[
    "ID",
    "HoldRequests",
    "UseCWMPVersion",
    "NoMoreRequests",
    "SessionTimeout",
    "SupportedCWMPVersions",
];

/// Decodes one ACS envelope within the default [`Limits`].
pub fn decode(xml: &[u8]) -> Result<AcsEnvelope, DecodeError> {
    decode_with(xml, &Limits::default())
}

/// Decodes one ACS envelope within `limits`. A request that passes a budget is answered
/// with fault 9004 (the error says `is_request`), anything else over budget is unusable.
pub fn decode_with(xml: &[u8], limits: &Limits) -> Result<AcsEnvelope, DecodeError> {
    let doc = match xml::parse(xml, limits) {
        Ok(doc) => doc,
        Err(TreeError::Malformed(m)) => {
            return Err(broken(
                FaultCode::INVALID_ARGUMENTS,
                format!("bad XML: {m}"),
            ))
        }
        Err(TreeError::TooBig { message, partial }) => {
            return Err(over_budget(
                partial.as_ref().and_then(|d| d.root()),
                message,
            ))
        }
    };
    let Some(root) = doc.root() else {
        return Err(broken(
            FaultCode::INVALID_ARGUMENTS,
            "no root element".into(),
        ));
    };
    if root.ns() != Ns::SoapEnv || root.name() != "Envelope" {
        return Err(broken(
            FaultCode::INVALID_ARGUMENTS,
            format!("not a SOAP 1.1 envelope (root element {})", root.name()),
        ));
    }
    let header = root.child("Header").map(decode_header).unwrap_or_default();
    let Some(body) = root.child("Body") else {
        return Err(DecodeError {
            id: header.id,
            ..broken(FaultCode::INVALID_ARGUMENTS, "envelope without Body".into())
        });
    };
    let Some(method) = body.first_child() else {
        return Err(DecodeError {
            id: header.id,
            ..broken(FaultCode::INVALID_ARGUMENTS, "empty Body".into())
        });
    };
    let ns = envelope_ns(root, method);
    let fail = |fault: Fault, is_request: bool| DecodeError {
        fault,
        id: header.id.clone(),
        method: Some(method.name().to_string()),
        is_request,
    };
    let body = if method.name() == "Fault" && !matches!(method.ns(), Ns::Cwmp(_)) {
        AcsMessage::Fault(decode_fault(method))
    } else if let Some(resp) = decode_response(method) {
        AcsMessage::Response(resp)
    } else if method.name().ends_with("Response") {
        // A response to something we never ask (or a CPE-side message): not answerable.
        return Err(fail(
            Fault::with_message(
                FaultCode::METHOD_NOT_SUPPORTED,
                format!("unexpected response {}", method.name()),
            ),
            false,
        ));
    } else {
        match decode_request(method, limits) {
            Ok(req) => AcsMessage::Request(req),
            Err(ArgError::UnknownMethod) => {
                return Err(fail(Fault::new(FaultCode::METHOD_NOT_SUPPORTED), true))
            }
            Err(ArgError::Invalid(fault)) => return Err(fail(fault, true)),
        }
    };
    Ok(AcsEnvelope { ns, header, body })
}

/// The error for a message that passed a budget: fault 9004 to answer when the elements read
/// so far show a request in a SOAP envelope, else an unusable envelope.
fn over_budget(root: Option<Element<'_>>, message: String) -> DecodeError {
    let envelope = root.filter(|r| r.ns() == Ns::SoapEnv && r.name() == "Envelope");
    let id = envelope
        .and_then(|r| r.child("Header"))
        .and_then(|h| decode_header(h).id);
    let method = envelope
        .and_then(|r| r.child("Body"))
        .and_then(|b| b.first_child())
        .filter(|m| m.name() != "Fault" && !m.name().ends_with("Response"));
    DecodeError {
        fault: Fault::with_message(FaultCode::RESOURCES_EXCEEDED, message),
        is_request: method.is_some(),
        id: method.and(id),
        method: method.map(|m| m.name().to_string()),
    }
}

/// A DecodeError for an envelope that is unusable as a whole.
fn broken(code: FaultCode, message: String) -> DecodeError {
    DecodeError {
        fault: Fault::with_message(code, message),
        id: None,
        method: None,
        is_request: false,
    }
}

/// The cwmp namespace of the message: the method element's, else a header element's, else
/// any cwmp namespace declared in scope, else the default (1-2).
fn envelope_ns(root: Element<'_>, method: Element<'_>) -> CwmpNs {
    let of = |e: Element<'_>| match e.ns() {
        Ns::Cwmp(v) => Some(v),
        _ => None,
    };
    of(method)
        .or_else(|| root.child("Header").and_then(|h| h.children().find_map(of)))
        .or(method.cwmp_in_scope())
        .or(root.cwmp_in_scope())
        .unwrap_or_default()
}

/// True for `1` and `true` (any case, trimmed).
fn truthy(s: &str) -> bool {
    let s = s.trim();
    s == "1" || s.eq_ignore_ascii_case("true")
}

fn decode_header(h: Element<'_>) -> Header {
    let mut out = Header::default();
    for e in h.children() {
        let cwmp_like = matches!(e.ns(), Ns::Cwmp(_) | Ns::None);
        if cwmp_like && KNOWN_HEADERS.contains(&e.name()) {
            match e.name() {
                // The ID is echoed exactly as sent: no trimming.
                "ID" => out.id = Some(e.text().into_owned()),
                "HoldRequests" => out.hold_requests = truthy(&e.text()),
                "UseCWMPVersion" => out.use_cwmp_version = Some(e.text().trim().to_string()),
                // NoMoreRequests is deprecated; SessionTimeout and SupportedCWMPVersions
                // flow CPE -> ACS only.
                _ => {}
            }
        } else if e
            .attr(Ns::SoapEnv, "mustUnderstand")
            .is_some_and(|v| truthy(&v))
            && out.not_understood.is_none()
        {
            out.not_understood = Some(e.name().to_string());
        }
    }
    out
}

fn decode_fault(f: Element<'_>) -> AcsFault {
    let faultstring = f.child("faultstring").map(|e| e.text().trim().to_string());
    let detail = f.child("detail").and_then(|d| d.child("Fault")).map(|cf| {
        let code = cf
            .child("FaultCode")
            .and_then(|c| c.text().trim().parse::<u32>().ok())
            .unwrap_or(0);
        (code, cf.child("FaultString").map(|s| s.text().into_owned()))
    });
    let (code, message) = match detail {
        Some((code, Some(msg))) => (code, msg),
        Some((code, None)) => (code, faultstring.unwrap_or_default()),
        None => (0, faultstring.unwrap_or_default()),
    };
    AcsFault {
        code: FaultCode(code),
        message,
    }
}

/// Decodes the ACS responses we understand; `None` for any other element.
fn decode_response(m: Element<'_>) -> Option<AcsResponse> {
    Some(match m.name() {
        "InformResponse" => AcsResponse::InformResponse {
            // Ignored on receipt (digest 2.2): garbage or absence reads as 1.
            max_envelopes: m
                .child("MaxEnvelopes")
                .and_then(|e| e.text().trim().parse().ok())
                .unwrap_or(1),
        },
        "GetRPCMethodsResponse" => AcsResponse::GetRpcMethodsResponse {
            methods: m
                .child("MethodList")
                .map(|l| l.children().map(|s| s.text().trim().to_string()).collect())
                .unwrap_or_default(),
        },
        "TransferCompleteResponse" => AcsResponse::TransferCompleteResponse,
        "AutonomousTransferCompleteResponse" => AcsResponse::AutonomousTransferCompleteResponse,
        "DUStateChangeCompleteResponse" => AcsResponse::DuStateChangeCompleteResponse,
        "AutonomousDUStateChangeCompleteResponse" => {
            AcsResponse::AutonomousDuStateChangeCompleteResponse
        }
        "RequestDownloadResponse" => AcsResponse::RequestDownloadResponse,
        "KickedResponse" => AcsResponse::KickedResponse {
            next_url: m
                .child("NextURL")
                .map(|e| e.text().trim().to_string())
                .unwrap_or_default(),
        },
        _ => return None,
    })
}
