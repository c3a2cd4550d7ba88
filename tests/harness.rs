//! Self-tests of the test harness (digest maths, the scripted ACS, XSD extraction), so a broken
//! harness shows up as such and not as a daemon bug.

mod common;

use common::acs::{Acs, AcsOpts, Auth};
use common::{digest, soap, xsd};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn digest_response_matches_rfc2617_example() {
    // The worked example of RFC 2617 section 3.5.
    let r = digest::response(
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "00000001",
        "0a4f113b",
    );
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn digest_params_parse_quoted_and_bare_values() {
    let p = digest::parse_params("Digest realm=\"a, b\", qop=auth, nonce=\"xyz\"").unwrap();
    assert_eq!(digest::param(&p, "realm"), Some("a, b"));
    assert_eq!(digest::param(&p, "qop"), Some("auth"));
    assert_eq!(digest::param(&p, "nonce"), Some("xyz"));
    assert!(digest::parse_params("Basic realm=\"x\"").is_none());
}

/// A raw POST: returns (status, headers lower-cased, body).
fn post(port: u16, headers: &[(&str, &str)], body: &str) -> (u16, Vec<(String, String)>, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST /acs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let hdrs = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, hdrs, body.to_string())
}

fn hdr<'a>(h: &'a [(String, String)], k: &str) -> &'a str {
    h.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

const INFORM: &str = "<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><OUI>001122</OUI>\
    <ProductClass>P</ProductClass><SerialNumber>S</SerialNumber></DeviceId>\
    <Event soap-enc:arrayType=\"cwmp:EventStruct[1]\"><EventStruct><EventCode>0 BOOTSTRAP</EventCode>\
    <CommandKey></CommandKey></EventStruct></Event><MaxEnvelopes>1</MaxEnvelopes>\
    <CurrentTime>2024-01-01T00:00:00Z</CurrentTime><RetryCount>0</RetryCount>\
    <ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[1]\"><ParameterValueStruct>\
    <Name>Device.RootDataModelVersion</Name><Value xsi:type=\"xsd:string\">2.19</Value>\
    </ParameterValueStruct></ParameterList></cwmp:Inform>";

#[test]
fn acs_checks_digest_nc_and_cookie_and_runs_its_script() {
    let acs = Acs::start(AcsOpts {
        auth: Auth::Digest,
        ..AcsOpts::default()
    });
    acs.push(soap::gpv(&["Device.DeviceInfo."]));
    let inform = soap::envelope(soap::CWMP_1_2, "cpe-1", INFORM);
    let (st, h, _) = post(acs.port(), &[], &inform);
    assert_eq!(st, 401);
    let chal = hdr(&h, "www-authenticate").to_string();
    let auth = |nc| digest::authorization(&chal, "acsuser", "acspass", "POST", "/acs", nc).unwrap();
    let (st, h, body) = post(acs.port(), &[("Authorization", &auth(1))], &inform);
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("InformResponse") && body.contains("cpe-1"),
        "{body}"
    );
    assert_eq!(hdr(&h, "set-cookie"), "session=1; Path=/");
    // Empty POST with cookie: gets the scripted GPV.
    let (st, _, body) = post(
        acs.port(),
        &[("Authorization", &auth(2)), ("Cookie", "session=1")],
        "",
    );
    assert_eq!(st, 200);
    assert!(body.contains("GetParameterValues"), "{body}");
    // Replaying nc=2 is refused and counted as a failure.
    let (st, _, _) = post(acs.port(), &[("Authorization", &auth(2))], "");
    assert_eq!(st, 401);
    // Wrong password is refused.
    let bad = digest::authorization(&chal, "acsuser", "nope", "POST", "/acs", 3).unwrap();
    assert_eq!(post(acs.port(), &[("Authorization", &bad)], "").0, 401);
    // The answer (without cookie) ends the session with 204 and is tied to the request.
    let answer = soap::envelope(
        soap::CWMP_1_2,
        "acs-1",
        "<cwmp:GetParameterValuesResponse><ParameterList/></cwmp:GetParameterValuesResponse>",
    );
    let (st, _, _) = post(acs.port(), &[("Authorization", &auth(4))], &answer);
    assert_eq!(st, 204);
    let msgs = acs.wait_idle(Duration::from_secs(5)).unwrap();
    assert_eq!(msgs.len(), 3);
    assert!(msgs[0].has_event("0 BOOTSTRAP"));
    assert!(msgs[1].is_empty() && msgs[1].cookie_ok);
    assert_eq!(msgs[2].answer_to.as_deref(), Some("GetParameterValues"));
    assert!(msgs[2].id_echoed && !msgs[2].cookie_ok);
    let (challenges, failures, _) = acs.counters();
    assert_eq!((challenges, failures), (3, 2));
}

#[test]
fn acs_basic_auth_and_unavailable_mode() {
    let acs = Acs::start(AcsOpts {
        auth: Auth::Basic,
        ..AcsOpts::default()
    });
    let inform = soap::envelope(soap::CWMP_1_2, "1", INFORM);
    assert_eq!(post(acs.port(), &[], &inform).0, 401);
    let good = format!(
        "Basic {}",
        openssl::base64::encode_block(b"acsuser:acspass")
    );
    assert_eq!(
        post(acs.port(), &[("Authorization", &good)], &inform).0,
        200
    );
    acs.set_unavailable(true);
    assert_eq!(
        post(acs.port(), &[("Authorization", &good)], &inform).0,
        503
    );
    acs.close();
    assert!(TcpStream::connect(("127.0.0.1", acs.port())).is_err());
    acs.open();
    acs.set_unavailable(false);
    assert_eq!(
        post(acs.port(), &[("Authorization", &good)], &inform).0,
        200
    );
    assert_eq!(acs.msgs().len(), 2);
}

#[test]
fn xsd_extraction_keeps_namespaces_and_catches_invalid_bodies() {
    let good = soap::envelope(soap::CWMP_1_2, "1", INFORM);
    let (doc, v) = xsd::extract_body_child(&good).unwrap();
    assert_eq!(v, 2);
    assert!(
        doc.contains("xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\""),
        "{doc}"
    );
    if !xsd::available() {
        return;
    }
    xsd::validate_doc(&doc, v).unwrap();
    // An Inform without DeviceId must fail.
    let bad = soap::envelope(
        soap::CWMP_1_2,
        "1",
        &INFORM
            .replace("<DeviceId>", "<DeviceIdX>")
            .replace("</DeviceId>", "</DeviceIdX>"),
    );
    let (doc, v) = xsd::extract_body_child(&bad).unwrap();
    assert!(xsd::validate_doc(&doc, v).is_err());
    // A CWMP fault in a SOAP Fault validates too.
    let fault = soap::envelope(
        soap::CWMP_1_2,
        "1",
        "<soap-env:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring>\
         <detail><cwmp:Fault><FaultCode>9005</FaultCode><FaultString>Invalid parameter name\
         </FaultString></cwmp:Fault></detail></soap-env:Fault>",
    );
    let (doc, v) = xsd::extract_body_child(&fault).unwrap();
    xsd::validate_doc(&doc, v).unwrap();
}

#[test]
fn https_acs_serves_with_the_test_ca() {
    let dir = common::temp_dir("pki");
    let Some(pki) = common::pki::make_pki(&dir) else {
        return;
    };
    let acs = Acs::start(AcsOpts {
        tls: Some(pki.clone()),
        ..AcsOpts::default()
    });
    assert!(acs.url().starts_with("https://127.0.0.1:"));
    // openssl s_client verifies the chain and the IP against the test CA.
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", acs.port())])
        .args(["-verify_return_error", "-verify_ip", "127.0.0.1", "-CAfile"])
        .arg(&pki.ca_file)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
}
