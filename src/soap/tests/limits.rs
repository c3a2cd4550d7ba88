//! The XML reader and the decoder's budgets: hostile messages are refused or answered with
//! 9004 within budget, and no input makes the decoder panic.

use super::*;
use crate::soap::limits::{MAX_ATTRS, MAX_DEPTH, MAX_NS_IN_SCOPE};
use crate::soap::xml::{self, Ns, TreeError};

fn parse_ok(x: &[u8]) -> xml::Doc<'_> {
    xml::parse(x, &Limits::default()).expect("well-formed")
}

fn too_big(x: &[u8]) -> bool {
    matches!(
        xml::parse(x, &Limits::default()),
        Err(TreeError::TooBig { .. })
    )
}

fn malformed(x: &[u8]) -> bool {
    matches!(
        xml::parse(x, &Limits::default()),
        Err(TreeError::Malformed(_))
    )
}

/// A request that passed a budget: answered with 9004, echoing the ID.
fn assert_9004(r: Result<AcsEnvelope, DecodeError>, method: &str) {
    let e = r.expect_err("over budget");
    assert_eq!(e.fault.code, FaultCode::RESOURCES_EXCEEDED, "{e}");
    assert!(e.is_request, "{e}");
    assert_eq!(e.id.as_deref(), Some("id-7"));
    assert_eq!(e.method.as_deref(), Some(method));
}

#[test]
fn builds_tree_with_namespaces_and_text() {
    let x = br#"<?xml version="1.0"?><!-- c --><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-3"><e:Body><c:X a="1&amp;&#x32;" b='x&#10;y'><![CDATA[a<b]]>&amp;c<!-- no -->&#233;<?pi x?>&lt;</c:X><Y xmlns="urn:other"/></e:Body></e:Envelope>"#;
    let doc = parse_ok(x);
    let root = doc.root().unwrap();
    assert_eq!(root.ns(), Ns::SoapEnv);
    assert_eq!(root.name(), "Envelope");
    assert_eq!(root.cwmp_in_scope(), Some(CwmpNs::V1_3));
    let body = root.child("Body").unwrap();
    let x = body.first_child().unwrap();
    assert_eq!(x.ns(), Ns::Cwmp(CwmpNs::V1_3));
    assert_eq!(x.text(), "a<b&c\u{e9}<");
    assert_eq!(x.attr(Ns::None, "a").as_deref(), Some("1&2"));
    // Literal white space in a value becomes a space; a character reference survives.
    assert_eq!(x.attr(Ns::None, "b").as_deref(), Some("x\ny"));
    let y = body.child("Y").unwrap();
    assert_eq!(y.ns(), Ns::Other);
    assert_eq!(body.children().count(), 2);
}

#[test]
fn text_is_normalised_and_stops_at_the_first_child() {
    let doc = parse_ok(b"<a>one\r\ntwo\rthree<b>in</b>after</a>");
    let a = doc.root().unwrap();
    assert_eq!(a.text(), "one\ntwo\nthree");
    assert_eq!(a.child("b").unwrap().text(), "in");
    let doc = parse_ok(b"<a x=\"p\r\nq\tr\"/>");
    assert_eq!(
        doc.root().unwrap().attr(Ns::None, "x").as_deref(),
        Some("p q r")
    );
}

#[test]
fn latin1_declared_and_undeclared_and_utf16() {
    let mut x = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf".to_vec();
    x.push(0xE9);
    x.extend_from_slice(b"</a>");
    assert_eq!(parse_ok(&x).root().unwrap().text(), "caf\u{e9}");
    let mut y = b"<a>caf".to_vec();
    y.push(0xE9);
    y.extend_from_slice(b"</a>");
    assert_eq!(parse_ok(&y).root().unwrap().text(), "caf\u{e9}");
    let mut z = vec![0xFF, 0xFE];
    z.extend("<a>caf\u{e9}</a>".encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(parse_ok(&z).root().unwrap().text(), "caf\u{e9}");
    assert!(malformed(&z[..z.len() - 1]));
}

#[test]
fn structural_limits_hold() {
    let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
    assert!(too_big(deep.as_bytes()));
    let ok = "<a>".repeat(MAX_DEPTH) + &"</a>".repeat(MAX_DEPTH);
    parse_ok(ok.as_bytes());
    let max = Limits::default().max_elements();
    assert!(too_big(format!("<a>{}</a>", "<b/>".repeat(max)).as_bytes()));
    parse_ok(format!("<a>{}</a>", "<b/>".repeat(max - 1)).as_bytes());
    let huge = vec![b' '; Limits::default().max_message + 1];
    assert!(too_big(&huge));
    let attrs: String = (0..=MAX_ATTRS).map(|i| format!(" a{i}=''")).collect();
    assert!(too_big(format!("<a{attrs}/>").as_bytes()));
    let decls: String = (0..=MAX_NS_IN_SCOPE)
        .map(|i| format!(" xmlns:p{i}='urn:{i}'"))
        .collect();
    assert!(too_big(format!("<a{decls}/>").as_bytes()));
    // Declarations on sibling elements go out of scope with them.
    let siblings = "<b xmlns:p='urn:x' xmlns:q='urn:y'/>".repeat(MAX_NS_IN_SCOPE * 4);
    parse_ok(format!("<a>{siblings}</a>").as_bytes());
}

#[test]
fn malformed_xml_is_refused() {
    for bad in [
        &b""[..],
        b"   ",
        b"<a><b></a>",
        b"<a></b>",
        b"</a>",
        b"<a>",
        b"<a",
        b"text<a/>",
        b"<!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>",
        b"<a>&unknown;</a>",
        b"<a>&amp</a>",
        b"<a>&#0;</a>",
        b"<a>\x01</a>",
        b"<a b=c/>",
        b"<a b='1' b='2'/>",
        b"<a b='1'c='2'/>",
        b"<a b='<'/>",
        b"<p:a/>",
        b"<a p:b='1'/>",
        b"<1a/>",
        b"<a:/>",
        b"<a><!-- open</a>",
        b"<a><![CDATA[open</a>",
        b"<![CDATA[x]]><a/>",
    ] {
        assert!(malformed(bad), "{}", String::from_utf8_lossy(bad));
    }
}

/// A 1 KB gzip reply of 199,000 empty elements (within the old 200k-element limit) once took
/// 184 MB as a tree; now the reader stops at the element budget and the request gets 9004.
#[test]
fn request_of_200k_empty_elements_is_answered_9004() {
    let x = acs_env(
        "1-2",
        "",
        &format!(
            "<cwmp:GetRPCMethods>{}</cwmp:GetRPCMethods>",
            "<a/>".repeat(199_000)
        ),
    );
    assert_9004(decode(x.as_bytes()), "GetRPCMethods");
}

/// A GetParameterValues of 150k names (8.8 KB gzip'd) once took 152 MB.
#[test]
fn gpv_of_150k_names_is_answered_9004() {
    let names = "<string>Device.</string>".repeat(150_000);
    let x = acs_env(
        "1-2",
        "",
        &format!("<cwmp:GetParameterValues><ParameterNames>{names}</ParameterNames></cwmp:GetParameterValues>"),
    );
    assert_9004(decode(x.as_bytes()), "GetParameterValues");
}

fn gpv_of(n: usize) -> String {
    let names = "<string>Device.DeviceInfo.</string>".repeat(n);
    acs_env(
        "1-2",
        "",
        &format!("<cwmp:GetParameterValues><ParameterNames>{names}</ParameterNames></cwmp:GetParameterValues>"),
    )
}

fn spv_of(n: usize) -> String {
    let params: String = (0..n)
        .map(|i| format!("<ParameterValueStruct><Name>Device.X.{i}</Name><Value xsi:type=\"xsd:string\">v</Value></ParameterValueStruct>"))
        .collect();
    acs_env(
        "1-2",
        "",
        &format!("<cwmp:SetParameterValues><ParameterList>{params}</ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"),
    )
}

#[test]
fn names_budget_is_exact_and_configurable() {
    let max = Limits::default().max_names;
    let ok = decode(gpv_of(max).as_bytes()).unwrap();
    match ok.body {
        AcsMessage::Request(AcsRequest::GetParameterValues { names }) => {
            assert_eq!(names.len(), max)
        }
        other => panic!("{other:?}"),
    }
    let e = decode(gpv_of(max + 1).as_bytes()).unwrap_err();
    assert_9004(Err(e), "GetParameterValues");
    assert_9004(decode(spv_of(max + 1).as_bytes()), "SetParameterValues");
    let gpa = acs_env(
        "1-2",
        "",
        &format!(
            "<cwmp:GetParameterAttributes><ParameterNames>{}</ParameterNames></cwmp:GetParameterAttributes>",
            "<string>Device.</string>".repeat(max + 1)
        ),
    );
    assert_9004(decode(gpa.as_bytes()), "GetParameterAttributes");
    let spa_item = "<SetParameterAttributesStruct><Name>Device.X.</Name><NotificationChange>1</NotificationChange><Notification>2</Notification><AccessListChange>1</AccessListChange><AccessList><string>Subscriber</string></AccessList></SetParameterAttributesStruct>";
    let spa = |n: usize| {
        acs_env(
            "1-2",
            "",
            &format!(
                "<cwmp:SetParameterAttributes><ParameterList>{}</ParameterList></cwmp:SetParameterAttributes>",
                spa_item.repeat(n)
            ),
        )
    };
    // The widest struct still fits the element budget at exactly max_names entries.
    assert!(decode(spa(max).as_bytes()).is_ok());
    assert_9004(decode(spa(max + 1).as_bytes()), "SetParameterAttributes");
    // A user who needs more raises the budget (cpe.max_params_per_request).
    let more = Limits {
        max_names: 20_000,
        ..Limits::default()
    };
    assert!(decode_with(spv_of(10_000).as_bytes(), &more).is_ok());
    assert_9004(decode(spv_of(10_000).as_bytes()), "SetParameterValues");
}

/// 40k namespace declarations on one element with 4k children once cost 43 s of CPU.
#[test]
fn namespace_flood_is_refused_at_once() {
    let decls: String = (0..40_000)
        .map(|i| format!(" xmlns:p{i}=\"urn:x:{i}\""))
        .collect();
    let x = acs_env(
        "1-2",
        "",
        &format!(
            "<cwmp:GetRPCMethods{decls}>{}</cwmp:GetRPCMethods>",
            "<a/>".repeat(4_000)
        ),
    );
    let e = decode(x.as_bytes()).unwrap_err();
    assert_eq!(e.fault.code, FaultCode::RESOURCES_EXCEEDED, "{e}");
}

#[test]
fn over_budget_response_or_fault_is_not_answered() {
    let x = acs_env(
        "1-2",
        "",
        &format!(
            "<cwmp:GetRPCMethodsResponse><MethodList>{}</MethodList></cwmp:GetRPCMethodsResponse>",
            "<string>x</string>".repeat(100_000)
        ),
    );
    let e = decode(x.as_bytes()).unwrap_err();
    assert_eq!(e.fault.code, FaultCode::RESOURCES_EXCEEDED);
    assert!(!e.is_request);
    // Over budget before the Body: nothing to answer either.
    let x = acs_env("1-2", &"<x/>".repeat(100_000), "<cwmp:GetRPCMethods/>");
    assert!(!decode(x.as_bytes()).unwrap_err().is_request);
}

/// A tiny deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    let seed = spv_of(3);
    let seed = seed.as_bytes();
    // Every truncation of a valid message.
    for cut in 0..seed.len() {
        let _ = decode(&seed[..cut]);
    }
    let pieces: [&[u8]; 16] = [
        b"<",
        b">",
        b"/",
        b"&",
        b";",
        b"'",
        b"\"",
        b"=",
        b":",
        b"<![CDATA[",
        b"]]>",
        b"<!--",
        b"-->",
        b"<?",
        b"xmlns:",
        b"&#x",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let mut m = seed.to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(m.len() + 1);
            match rng.below(4) {
                0 => {
                    let p = pieces[rng.below(pieces.len())];
                    m.splice(at..at, p.iter().copied());
                }
                1 if at < m.len() => m[at] = rng.next() as u8,
                2 if at < m.len() => {
                    m.remove(at);
                }
                _ => m.insert(at, rng.next() as u8),
            }
        }
        let _ = decode(&m);
        let _ = crate::logging::mask_secrets(&String::from_utf8_lossy(&m));
    }
    for _ in 0..500 {
        let n = rng.below(300);
        let m: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let _ = decode(&m);
    }
}
