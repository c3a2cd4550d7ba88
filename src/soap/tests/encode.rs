//! Encoder tests: bytes on the wire for every CpeRequest and CpeResponse.

use super::*;
use crate::soap::xml::{self, Element};

fn req(r: &CpeRequest) -> String {
    String::from_utf8(encode_request(
        r,
        "cpe-1",
        CwmpNs::V1_2,
        &HeaderOpts::default(),
    ))
    .unwrap()
}

fn resp(r: &CpeResponse) -> String {
    String::from_utf8(encode_response(r, Some("acs-9"), CwmpNs::V1_2)).unwrap()
}

/// `f` of the Body's child of an encoded envelope, parsed back (proves well-formedness too).
fn with_body_child<T>(bytes: &[u8], f: impl FnOnce(Element<'_>) -> T) -> T {
    let doc = xml::parse(bytes, &Limits::default()).expect("well-formed");
    let body = doc.root().unwrap().child("Body").expect("Body");
    assert_eq!(body.children().count(), 1, "exactly one Body child");
    f(body.first_child().unwrap())
}

/// The name of the Body's child of an encoded envelope.
fn body_child_name(bytes: &[u8]) -> String {
    with_body_child(bytes, |c| c.name().to_string())
}

#[test]
fn inform_has_every_field_and_header() {
    let hdr = HeaderOpts {
        session_timeout: Some(30),
        supported_versions: Some("1.0,1.1,1.2,1.3,1.4".into()),
    };
    let inform = &sample_requests()[0];
    let s = String::from_utf8(encode_request(inform, "cpe-1", CwmpNs::V1_4, &hdr)).unwrap();
    for key in [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\">",
        "<soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">cpe-1</cwmp:ID>",
        "<cwmp:SessionTimeout soap-env:mustUnderstand=\"0\">30</cwmp:SessionTimeout>",
        "<cwmp:SupportedCWMPVersions soap-env:mustUnderstand=\"0\">1.0,1.1,1.2,1.3,1.4</cwmp:SupportedCWMPVersions></soap-env:Header>",
        "<soap-env:Body><cwmp:Inform><DeviceId><Manufacturer>Acme &amp; Co</Manufacturer><OUI>00D09E</OUI><ProductClass>GW1</ProductClass><SerialNumber>A1B2C3</SerialNumber></DeviceId>",
        "<Event soap-enc:arrayType=\"cwmp:EventStruct[2]\"><EventStruct><EventCode>1 BOOT</EventCode><CommandKey></CommandKey></EventStruct><EventStruct><EventCode>M Reboot</EventCode><CommandKey>rb-42</CommandKey></EventStruct></Event>",
        "<MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2023-11-14T22:13:20Z</CurrentTime><RetryCount>2</RetryCount>",
        "<ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[2]\"><ParameterValueStruct><Name>Device.DeviceInfo.SoftwareVersion</Name><Value xsi:type=\"xsd:string\">1.2.3</Value></ParameterValueStruct>",
        "<Value xsi:type=\"xsd:unsignedInt\">42</Value>",
        "</ParameterList></cwmp:Inform></soap-env:Body></soap-env:Envelope>",
    ] {
        assert!(s.contains(key), "missing {key}\nin {s}");
    }
    // Never cwmp-1-3/1-4 on output; 1-0 stays 1-0.
    assert!(!s.contains("cwmp-1-4"));
    let s10 = String::from_utf8(encode_request(
        inform,
        "x",
        CwmpNs::V1_0,
        &HeaderOpts::default(),
    ))
    .unwrap();
    assert!(s10.contains("xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\""));
    assert!(!s10.contains("SessionTimeout"));
}

#[test]
fn every_request_encodes_its_fields() {
    let all: Vec<String> = sample_requests().iter().map(req).collect();
    assert!(all[1].contains("<cwmp:GetRPCMethods></cwmp:GetRPCMethods>"));
    assert!(all[2].contains(
        "<cwmp:TransferComplete><CommandKey>dl-1</CommandKey><FaultStruct><FaultCode>9010</FaultCode><FaultString>Download failure</FaultString></FaultStruct><StartTime>2023-11-14T22:13:20Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:TransferComplete>"
    ));
    assert!(all[3].contains(
        "<cwmp:AutonomousTransferComplete><AnnounceURL>http://a/</AnnounceURL><TransferURL>http://t/fw.bin</TransferURL><IsDownload>1</IsDownload><FileType>1 Firmware Upgrade Image</FileType><FileSize>4294967295</FileSize><TargetFileName>fw.bin</TargetFileName><FaultStruct><FaultCode>0</FaultCode><FaultString></FaultString></FaultStruct><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>1970-01-01T00:00:00Z</CompleteTime>"
    ));
    assert!(all[4].contains(&format!(
        "<cwmp:DUStateChangeComplete><Results><UUID>{UUID}</UUID><DeploymentUnitRef>Device.SoftwareModules.DeploymentUnit.3</DeploymentUnitRef><Version>1.0</Version><CurrentState>Installed</CurrentState><Resolved>1</Resolved><ExecutionUnitRefList>Device.SoftwareModules.ExecutionUnit.2</ExecutionUnitRefList><StartTime>2023-11-14T22:13:20Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime><Fault><FaultCode>0</FaultCode><FaultString></FaultString></Fault></Results><CommandKey>du-1</CommandKey></cwmp:DUStateChangeComplete>"
    )));
    assert!(!all[4].contains("OperationPerformed"));
    assert!(all[5].contains("<OperationPerformed>Install</OperationPerformed></Results></cwmp:AutonomousDUStateChangeComplete>"));
    assert!(all[6].contains(
        "<cwmp:RequestDownload><FileType>3 Vendor Configuration File</FileType><FileTypeArg soap-enc:arrayType=\"cwmp:ArgStruct[1]\"><ArgStruct><Name>Version</Name><Value>2</Value></ArgStruct></FileTypeArg></cwmp:RequestDownload>"
    ));
    for (r, s) in sample_requests().iter().zip(&all) {
        assert_eq!(body_child_name(s.as_bytes()), r.method_name());
    }
}

#[test]
fn every_response_is_named_method_response() {
    for r in sample_responses() {
        let s = resp(&r);
        let child = body_child_name(s.as_bytes());
        match &r {
            CpeResponse::Fault(_) => assert_eq!(child, "Fault"),
            CpeResponse::FactoryResetSoft => assert_eq!(child, "X_FactoryResetSoftResponse"),
            _ => assert!(child.ends_with("Response"), "{child}"),
        }
        assert!(s.contains("<cwmp:ID soap-env:mustUnderstand=\"1\">acs-9</cwmp:ID>"));
    }
    let all: Vec<String> = sample_responses().iter().map(resp).collect();
    let expect = [
        "<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType=\"xsd:string[3]\"><string>GetRPCMethods</string><string>Inform</string><string>Reboot</string></MethodList></cwmp:GetRPCMethodsResponse>",
        "<cwmp:SetParameterValuesResponse><Status>1</Status></cwmp:SetParameterValuesResponse>",
        "<ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[3]\"><ParameterValueStruct><Name>Device.A</Name><Value xsi:type=\"xsd:string\">x&lt;y&amp;z</Value></ParameterValueStruct><ParameterValueStruct><Name>Device.B</Name><Value xsi:type=\"xsd:boolean\">true</Value>",
        "<ParameterList soap-enc:arrayType=\"cwmp:ParameterInfoStruct[2]\"><ParameterInfoStruct><Name>Device.</Name><Writable>0</Writable></ParameterInfoStruct><ParameterInfoStruct><Name>Device.IP.Interface.</Name><Writable>1</Writable></ParameterInfoStruct></ParameterList>",
        "<cwmp:SetParameterAttributesResponse></cwmp:SetParameterAttributesResponse>",
        "<ParameterAttributeStruct><Name>Device.A</Name><Notification>2</Notification><AccessList soap-enc:arrayType=\"xsd:string[1]\"><string>Subscriber</string></AccessList></ParameterAttributeStruct><ParameterAttributeStruct><Name>Device.B</Name><Notification>0</Notification><AccessList soap-enc:arrayType=\"xsd:string[0]\"></AccessList>",
        "<cwmp:AddObjectResponse><InstanceNumber>3</InstanceNumber><Status>0</Status></cwmp:AddObjectResponse>",
        "<cwmp:DeleteObjectResponse><Status>1</Status></cwmp:DeleteObjectResponse>",
        "<cwmp:RebootResponse></cwmp:RebootResponse>",
        "<cwmp:DownloadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse>",
        "<cwmp:UploadResponse><Status>0</Status><StartTime>2023-11-14T22:13:20Z</StartTime><CompleteTime>2023-11-14T22:13:25Z</CompleteTime></cwmp:UploadResponse>",
        "<cwmp:FactoryResetResponse></cwmp:FactoryResetResponse>",
        "<cwmp:X_FactoryResetSoftResponse></cwmp:X_FactoryResetSoftResponse>",
        "<TransferList soap-enc:arrayType=\"cwmp:QueuedTransferStruct[2]\"><QueuedTransferStruct><CommandKey>k1</CommandKey><State>1</State></QueuedTransferStruct>",
        "<TransferList soap-enc:arrayType=\"cwmp:AllQueuedTransferStruct[1]\"><AllQueuedTransferStruct><CommandKey>k3</CommandKey><State>3</State><IsDownload>1</IsDownload><FileType>1 Firmware Upgrade Image</FileType><FileSize>1234</FileSize><TargetFileName>fw.bin</TargetFileName></AllQueuedTransferStruct></TransferList>",
        "<cwmp:ScheduleInformResponse></cwmp:ScheduleInformResponse>",
        "<cwmp:SetVouchersResponse></cwmp:SetVouchersResponse>",
        "<cwmp:GetOptionsResponse><OptionList soap-enc:arrayType=\"cwmp:OptionStruct[0]\"></OptionList></cwmp:GetOptionsResponse>",
        "<cwmp:ScheduleDownloadResponse></cwmp:ScheduleDownloadResponse>",
        "<cwmp:CancelTransferResponse></cwmp:CancelTransferResponse>",
        "<cwmp:ChangeDUStateResponse></cwmp:ChangeDUStateResponse>",
        "<soap-env:Body><soap-env:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>9003</FaultCode><FaultString>Invalid arguments</FaultString><SetParameterValuesFault><ParameterName>Device.WiFi.SSID.1.SSID</ParameterName><FaultCode>9007</FaultCode><FaultString>too long</FaultString></SetParameterValuesFault><SetParameterValuesFault><ParameterName>Device.X</ParameterName><FaultCode>9005</FaultCode><FaultString>Invalid parameter name</FaultString></SetParameterValuesFault></cwmp:Fault></detail></soap-env:Fault></soap-env:Body>",
    ];
    assert_eq!(all.len(), expect.len());
    for (s, key) in all.iter().zip(expect) {
        assert!(s.contains(key), "missing {key}\nin {s}");
    }
}

#[test]
fn server_fault_and_missing_id() {
    let f = CpeResponse::Fault(Fault::new(FaultCode::METHOD_NOT_SUPPORTED));
    let s = String::from_utf8(encode_response(&f, None, CwmpNs::V1_0)).unwrap();
    assert!(s.contains("<faultcode>Server</faultcode>"));
    assert!(s.contains(
        "<FaultCode>9000</FaultCode><FaultString>Method not supported</FaultString></cwmp:Fault>"
    ));
    assert!(!s.contains("SetParameterValuesFault"));
    // No ID to echo: no header at all.
    assert!(!s.contains("Header"));
    assert!(s.contains("cwmp-1-0"));
}

#[test]
fn escaping_round_trips_through_a_parser() {
    let nasty = "a&b<c>d\"e'f\u{1}g\tñ";
    let r = CpeResponse::GetParameterValues {
        values: vec![pv(nasty, nasty, ParamType::String)],
    };
    let bytes = encode_response(&r, Some("i&d<"), CwmpNs::V1_2);
    let s = String::from_utf8(bytes.clone()).unwrap();
    assert!(s.contains("a&amp;b&lt;c&gt;d&quot;e&apos;fg\tñ"));
    assert!(s.contains(">i&amp;d&lt;</cwmp:ID>"));
    with_body_child(&bytes, |child| {
        let pvs = child.child("ParameterList").unwrap().first_child().unwrap();
        // The C0 control is dropped (XML 1.0 cannot carry it); the rest survives.
        assert_eq!(pvs.child("Value").unwrap().text(), "a&b<c>d\"e'fg\tñ");
        assert_eq!(pvs.child("Name").unwrap().text(), "a&b<c>d\"e'fg\tñ");
    });
}

#[test]
fn ten_thousand_values_encode_with_exact_count() {
    let values: Vec<ParamValue> = (0..10_000)
        .map(|i| {
            pv(
                &format!("Device.Hosts.Host.{i}.HostName"),
                &format!("host-{i}"),
                ParamType::String,
            )
        })
        .collect();
    let bytes = encode_response(
        &CpeResponse::GetParameterValues { values },
        Some("1"),
        CwmpNs::V1_2,
    );
    let s = String::from_utf8(bytes).unwrap();
    assert!(s.contains("cwmp:ParameterValueStruct[10000]"));
    assert_eq!(s.matches("<ParameterValueStruct>").count(), 10_000);
    assert!(s.contains("<Name>Device.Hosts.Host.9999.HostName</Name><Value xsi:type=\"xsd:string\">host-9999</Value>"));
}
