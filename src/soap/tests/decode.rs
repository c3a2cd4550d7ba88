//! Decoder tests: hand-written ACS messages, sloppy forms, faults and hostile input.

use super::*;
use crate::datamodel::SetValue;

fn ok(ver: &str, header: &str, body: &str) -> AcsEnvelope {
    let x = acs_env(ver, header, body);
    decode(x.as_bytes()).unwrap_or_else(|e| panic!("{e:?}\n{x}"))
}

fn request(body: &str) -> AcsRequest {
    match ok("1-2", "", body).body {
        AcsMessage::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

fn err(body: &str) -> DecodeError {
    decode(acs_env("1-2", "", body).as_bytes()).expect_err(body)
}

fn sv(name: &str, value: &str, hint: Option<&str>) -> SetValue {
    SetValue {
        name: name.into(),
        value: value.into(),
        type_hint: hint.map(str::to_string),
    }
}

#[test]
fn header_fields_and_namespace() {
    let e = ok("1-0", "", "<cwmp:GetRPCMethods/>");
    assert_eq!(e.ns, CwmpNs::V1_0);
    assert_eq!(e.header.id.as_deref(), Some("id-7"));
    assert!(!e.header.hold_requests);
    assert_eq!(e.body, AcsMessage::Request(AcsRequest::GetRpcMethods));

    let e = ok(
        "1-4",
        r#"<cwmp:HoldRequests SOAP-ENV:mustUnderstand="1">1</cwmp:HoldRequests><cwmp:UseCWMPVersion SOAP-ENV:mustUnderstand="1"> 1.4 </cwmp:UseCWMPVersion><cwmp:NoMoreRequests>0</cwmp:NoMoreRequests><x:Other xmlns:x="urn:x" SOAP-ENV:mustUnderstand="0">a</x:Other>"#,
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    );
    assert_eq!(e.ns, CwmpNs::V1_4);
    assert!(e.header.hold_requests);
    assert_eq!(e.header.use_cwmp_version.as_deref(), Some("1.4"));
    assert_eq!(e.header.not_understood, None);
    assert_eq!(
        e.body,
        AcsMessage::Response(AcsResponse::InformResponse { max_envelopes: 1 })
    );

    let e = ok(
        "1-3",
        r#"<cwmp:HoldRequests>true</cwmp:HoldRequests><x:Secure xmlns:x="urn:x" SOAP-ENV:mustUnderstand="1">a</x:Secure>"#,
        "<cwmp:Reboot><CommandKey>k</CommandKey></cwmp:Reboot>",
    );
    assert!(e.header.hold_requests);
    assert_eq!(e.header.not_understood.as_deref(), Some("Secure"));
    assert_eq!(e.ns, CwmpNs::V1_3);
}

#[test]
fn any_prefixes_and_foreign_request_namespace() {
    let x = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><c:ID xmlns:c="urn:dslforum-org:cwmp-1-1" s:mustUnderstand="1">77</c:ID></s:Header>
<s:Body><GetParameterNames xmlns="urn:some-acs"><NextLevel>true</NextLevel><ParameterPath/></GetParameterNames></s:Body></s:Envelope>"#;
    let e = decode(x.as_bytes()).unwrap();
    assert_eq!(e.ns, CwmpNs::V1_1);
    assert_eq!(e.header.id.as_deref(), Some("77"));
    assert_eq!(
        e.body,
        AcsMessage::Request(AcsRequest::GetParameterNames {
            path: String::new(),
            next_level: true
        })
    );
}

#[test]
fn set_parameter_values_sloppy() {
    let r = request(
        r#"<cwmp:SetParameterValues><ParameterKey></ParameterKey>
<ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[0005]">
 <ParameterValueStruct><Value xsi:type="xsd:unsignedInt">42</Value><Name> Device.A </Name></ParameterValueStruct>
 <ParameterValueStruct><Name>Device.B</Name><Value>  spaced &amp; kept </Value></ParameterValueStruct>
 <ParameterValueStruct><Name>Device.C</Name><Value xsi:type="xsd:string"/></ParameterValueStruct>
</ParameterList></cwmp:SetParameterValues>"#,
    );
    assert_eq!(
        r,
        AcsRequest::SetParameterValues {
            values: vec![
                sv("Device.A", "42", Some("xsd:unsignedInt")),
                sv("Device.B", "  spaced & kept ", None),
                sv("Device.C", "", Some("xsd:string")),
            ],
            parameter_key: String::new(),
        }
    );
    // A struct without Value, or no ParameterList at all: 9003 answered as a request.
    let e = err("<cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>a</Name></ParameterValueStruct></ParameterList></cwmp:SetParameterValues>");
    assert_eq!(e.fault.code, FaultCode::INVALID_ARGUMENTS);
    assert!(e.is_request);
    assert_eq!(e.id.as_deref(), Some("id-7"));
    assert_eq!(e.method.as_deref(), Some("SetParameterValues"));
    assert_eq!(
        err("<cwmp:SetParameterValues/>").fault.code,
        FaultCode::INVALID_ARGUMENTS
    );
}

#[test]
fn names_paths_and_attributes() {
    assert_eq!(
        request(
            r#"<cwmp:GetParameterValues><ParameterNames SOAP-ENC:arrayType="xsd:string[1]"><string>Device.</string><string>Device.DeviceInfo.UpTime</string></ParameterNames></cwmp:GetParameterValues>"#
        ),
        AcsRequest::GetParameterValues {
            names: vec!["Device.".into(), "Device.DeviceInfo.UpTime".into()]
        }
    );
    assert_eq!(
        request("<cwmp:GetParameterValues><ParameterNames/></cwmp:GetParameterValues>"),
        AcsRequest::GetParameterValues { names: vec![] }
    );
    assert_eq!(
        request("<cwmp:GetParameterAttributes><ParameterNames><string></string></ParameterNames></cwmp:GetParameterAttributes>"),
        AcsRequest::GetParameterAttributes {
            names: vec![String::new()]
        }
    );
    assert_eq!(
        request("<cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath><NextLevel>0</NextLevel></cwmp:GetParameterNames>"),
        AcsRequest::GetParameterNames {
            path: "Device.".into(),
            next_level: false
        }
    );
    assert_eq!(
        err("<cwmp:GetParameterNames><NextLevel>maybe</NextLevel></cwmp:GetParameterNames>")
            .fault
            .code,
        FaultCode::INVALID_ARGUMENTS
    );
    let spa = r#"<cwmp:SetParameterAttributes><ParameterList SOAP-ENC:arrayType="cwmp:SetParameterAttributesStruct[2]">
<SetParameterAttributesStruct><Name>Device.A</Name><NotificationChange>false</NotificationChange><Notification/><AccessListChange>0</AccessListChange><AccessList/></SetParameterAttributesStruct>
<SetParameterAttributesStruct><AccessList><string>Subscriber</string></AccessList><AccessListChange>true</AccessListChange><Notification>2</Notification><NotificationChange>1</NotificationChange><Name>Device.B.</Name></SetParameterAttributesStruct>
</ParameterList></cwmp:SetParameterAttributes>"#;
    assert_eq!(
        request(spa),
        AcsRequest::SetParameterAttributes {
            attributes: vec![
                SetAttribute {
                    name: "Device.A".into(),
                    notification_change: false,
                    notification: 0,
                    access_list_change: false,
                    access_list: vec![],
                },
                SetAttribute {
                    name: "Device.B.".into(),
                    notification_change: true,
                    notification: 2,
                    access_list_change: true,
                    access_list: vec!["Subscriber".into()],
                },
            ]
        }
    );
    let bad = "<cwmp:SetParameterAttributes><ParameterList><SetParameterAttributesStruct><Name>a</Name><NotificationChange>1</NotificationChange><Notification>7</Notification></SetParameterAttributesStruct></ParameterList></cwmp:SetParameterAttributes>";
    assert_eq!(err(bad).fault.code, FaultCode::INVALID_ARGUMENTS);
}

#[test]
fn objects_reboot_and_simple_rpcs() {
    assert_eq!(
        request("<cwmp:AddObject><ObjectName>Device.IP.Interface.</ObjectName><ParameterKey>pk</ParameterKey></cwmp:AddObject>"),
        AcsRequest::AddObject {
            object_name: "Device.IP.Interface.".into(),
            parameter_key: "pk".into()
        }
    );
    assert_eq!(
        request("<cwmp:DeleteObject><ParameterKey/><ObjectName>Device.IP.Interface.[wan].</ObjectName></cwmp:DeleteObject>"),
        AcsRequest::DeleteObject {
            object_name: "Device.IP.Interface.[wan].".into(),
            parameter_key: String::new()
        }
    );
    let e = err("<cwmp:AddObject><ObjectName>Device.Test</ObjectName></cwmp:AddObject>");
    assert_eq!(e.fault.code, FaultCode::INVALID_PARAMETER_NAME);
    assert!(e.is_request);
    assert_eq!(
        request("<cwmp:Reboot/>"),
        AcsRequest::Reboot {
            command_key: String::new()
        }
    );
    for (xml, want) in [
        ("<cwmp:FactoryReset/>", AcsRequest::FactoryReset),
        ("<cwmp:X_FactoryResetSoft/>", AcsRequest::FactoryResetSoft),
        ("<cwmp:GetQueuedTransfers/>", AcsRequest::GetQueuedTransfers),
        (
            "<cwmp:GetAllQueuedTransfers></cwmp:GetAllQueuedTransfers>",
            AcsRequest::GetAllQueuedTransfers,
        ),
        (
            "<cwmp:ScheduleInform><CommandKey>s</CommandKey><DelaySeconds> 60 </DelaySeconds></cwmp:ScheduleInform>",
            AcsRequest::ScheduleInform {
                delay_seconds: 60,
                command_key: "s".into(),
            },
        ),
        (
            "<cwmp:SetVouchers><VoucherList SOAP-ENC:arrayType=\"SOAP-ENC:base64[3]\"><base64>QUJD</base64></VoucherList></cwmp:SetVouchers>",
            AcsRequest::SetVouchers {
                vouchers: vec!["QUJD".into()],
            },
        ),
        (
            "<cwmp:GetOptions><OptionName></OptionName></cwmp:GetOptions>",
            AcsRequest::GetOptions {
                option_name: String::new(),
            },
        ),
        (
            "<cwmp:CancelTransfer><CommandKey>c1</CommandKey></cwmp:CancelTransfer>",
            AcsRequest::CancelTransfer {
                command_key: "c1".into(),
            },
        ),
    ] {
        assert_eq!(request(xml), want, "{xml}");
    }
}

#[test]
fn transfers() {
    let dl = "<cwmp:Download><URL> http://f/fw.bin </URL><FileType>1 Firmware Upgrade Image</FileType><CommandKey>d</CommandKey><FileSize>123</FileSize><TargetFileName/><DelaySeconds>5</DelaySeconds><Username>u</Username><Password>p&lt;</Password></cwmp:Download>";
    assert_eq!(
        request(dl),
        AcsRequest::Download(DownloadArgs {
            command_key: "d".into(),
            file_type: "1 Firmware Upgrade Image".into(),
            url: "http://f/fw.bin".into(),
            username: "u".into(),
            password: "p<".into(),
            file_size: 123,
            target_file_name: String::new(),
            delay_seconds: 5,
            success_url: String::new(),
            failure_url: String::new(),
        })
    );
    let e = err("<cwmp:Download><FileSize>foo</FileSize></cwmp:Download>");
    assert_eq!(e.fault.code, FaultCode::INVALID_ARGUMENTS);
    assert!(e.is_request);
    assert_eq!(e.method.as_deref(), Some("Download"));
    assert_eq!(
        err("<cwmp:Upload><DelaySeconds>-1</DelaySeconds></cwmp:Upload>")
            .fault
            .code,
        FaultCode::INVALID_ARGUMENTS
    );
    assert_eq!(
        request("<cwmp:Upload><CommandKey>u</CommandKey><FileType>1 Vendor Configuration File</FileType><URL>http://u/</URL><Username/><Password/><DelaySeconds>0</DelaySeconds></cwmp:Upload>"),
        AcsRequest::Upload(UploadArgs {
            command_key: "u".into(),
            file_type: "1 Vendor Configuration File".into(),
            url: "http://u/".into(),
            ..Default::default()
        })
    );
    let sd = r#"<cwmp:ScheduleDownload><CommandKey>s</CommandKey><FileType>1 Firmware Upgrade Image</FileType><URL>http://f/</URL><FileSize>9</FileSize>
<TimeWindowList SOAP-ENC:arrayType="cwmp:TimeWindowStruct[1]">
<TimeWindowStruct><WindowStart>0</WindowStart><WindowEnd>60</WindowEnd><WindowMode>1 At Any Time</WindowMode><UserMessage/><MaxRetries>3</MaxRetries></TimeWindowStruct>
<TimeWindowStruct><WindowStart>120</WindowStart><WindowEnd>180</WindowEnd><WindowMode>2 Immediately</WindowMode></TimeWindowStruct>
</TimeWindowList></cwmp:ScheduleDownload>"#;
    let AcsRequest::ScheduleDownload(args) = request(sd) else {
        panic!("not ScheduleDownload")
    };
    assert_eq!(args.download.file_size, 9);
    assert_eq!(args.download.url, "http://f/");
    assert_eq!(
        args.windows,
        vec![
            TimeWindow {
                window_start: 0,
                window_end: 60,
                window_mode: "1 At Any Time".into(),
                user_message: String::new(),
                max_retries: 3,
            },
            TimeWindow {
                window_start: 120,
                window_end: 180,
                window_mode: "2 Immediately".into(),
                user_message: String::new(),
                max_retries: -1,
            },
        ]
    );
}

#[test]
fn change_du_state_both_forms() {
    let typed = r#"<cwmp:ChangeDUState>
<Operations xsi:type="cwmp:InstallOpStruct"><URL>https://h/app.ipk</URL><UUID></UUID><Username/><Password/><ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1</ExecutionEnvRef></Operations>
<Operations xsi:type="cwmp:UpdateOpStruct"><UUID>u2</UUID><Version>2</Version></Operations>
<Operations xsi:type="UninstallOpStruct"><UUID>u3</UUID><Version/><ExecutionEnvRef/></Operations>
<CommandKey>k1</CommandKey></cwmp:ChangeDUState>"#;
    let want = AcsRequest::ChangeDuState {
        operations: vec![
            DuOperation::Install {
                url: "https://h/app.ipk".into(),
                uuid: String::new(),
                username: String::new(),
                password: String::new(),
                execution_env_ref: "Device.SoftwareModules.ExecEnv.1".into(),
            },
            DuOperation::Update {
                uuid: "u2".into(),
                version: "2".into(),
                url: String::new(),
                username: String::new(),
                password: String::new(),
            },
            DuOperation::Uninstall {
                uuid: "u3".into(),
                version: String::new(),
                execution_env_ref: String::new(),
            },
        ],
        command_key: "k1".into(),
    };
    assert_eq!(request(typed), want);
    let nested = r#"<cwmp:ChangeDUState><CommandKey>k1</CommandKey><Operations>
<InstallOpStruct><URL>https://h/app.ipk</URL><UUID/><ExecutionEnvRef>Device.SoftwareModules.ExecEnv.1</ExecutionEnvRef></InstallOpStruct>
<UpdateOpStruct><Version>2</Version><UUID>u2</UUID></UpdateOpStruct>
<UninstallOpStruct><UUID>u3</UUID></UninstallOpStruct></Operations></cwmp:ChangeDUState>"#;
    assert_eq!(request(nested), want);
    for bad in [
        "<cwmp:ChangeDUState><Operations xsi:type=\"cwmp:FrobOpStruct\"/></cwmp:ChangeDUState>",
        "<cwmp:ChangeDUState><CommandKey/></cwmp:ChangeDUState>",
    ] {
        let e = err(bad);
        assert_eq!(e.fault.code, FaultCode::INVALID_ARGUMENTS, "{bad}");
        assert!(e.is_request);
    }
}

#[test]
fn unknown_method_is_9000_request() {
    let e = err("<cwmp:X_ACME_Frobnicate><A>1</A></cwmp:X_ACME_Frobnicate>");
    assert_eq!(e.fault.code, FaultCode::METHOD_NOT_SUPPORTED);
    assert!(e.is_request);
    assert_eq!(e.id.as_deref(), Some("id-7"));
    assert_eq!(e.method.as_deref(), Some("X_ACME_Frobnicate"));
    // An unexpected *Response* cannot be answered with a fault.
    let e = err("<cwmp:GetParameterValuesResponse/>");
    assert!(!e.is_request);
}

#[test]
fn acs_responses() {
    let resp = |body: &str| match ok("1-2", "", body).body {
        AcsMessage::Response(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        resp("<cwmp:InformResponse><MaxEnvelopes>junk</MaxEnvelopes></cwmp:InformResponse>"),
        AcsResponse::InformResponse { max_envelopes: 1 }
    );
    assert_eq!(
        resp("<cwmp:GetRPCMethodsResponse><MethodList SOAP-ENC:arrayType=\"xsd:string[9]\"><string>Inform</string><string>TransferComplete</string></MethodList></cwmp:GetRPCMethodsResponse>"),
        AcsResponse::GetRpcMethodsResponse {
            methods: vec!["Inform".into(), "TransferComplete".into()]
        }
    );
    for (xml, want) in [
        (
            "<cwmp:TransferCompleteResponse/>",
            AcsResponse::TransferCompleteResponse,
        ),
        (
            "<cwmp:AutonomousTransferCompleteResponse/>",
            AcsResponse::AutonomousTransferCompleteResponse,
        ),
        (
            "<cwmp:DUStateChangeCompleteResponse/>",
            AcsResponse::DuStateChangeCompleteResponse,
        ),
        (
            "<cwmp:AutonomousDUStateChangeCompleteResponse/>",
            AcsResponse::AutonomousDuStateChangeCompleteResponse,
        ),
        (
            "<cwmp:RequestDownloadResponse/>",
            AcsResponse::RequestDownloadResponse,
        ),
        (
            "<cwmp:KickedResponse><NextURL>http://n/</NextURL></cwmp:KickedResponse>",
            AcsResponse::KickedResponse {
                next_url: "http://n/".into(),
            },
        ),
    ] {
        assert_eq!(resp(xml), want);
    }
}

#[test]
fn acs_faults() {
    let f = ok(
        "1-2",
        "",
        "<SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>8005</FaultCode><FaultString>Retry request</FaultString></cwmp:Fault></detail></SOAP-ENV:Fault>",
    );
    assert_eq!(
        f.body,
        AcsMessage::Fault(AcsFault {
            code: FaultCode::ACS_RETRY_REQUEST,
            message: "Retry request".into()
        })
    );
    let f = ok(
        "1-2",
        "",
        "<SOAP-ENV:Fault><faultcode>Client</faultcode><faultstring>Bad envelope</faultstring></SOAP-ENV:Fault>",
    );
    assert_eq!(
        f.body,
        AcsMessage::Fault(AcsFault {
            code: FaultCode(0),
            message: "Bad envelope".into()
        })
    );
}

#[test]
fn broken_envelopes_are_not_requests() {
    for bad in [
        &b"<foo/>"[..],
        b"",
        b"not xml at all",
        b"<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body><Reboot/></soap:Body></soap:Envelope>",
        b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body></s:Body></s:Envelope>",
        b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/></s:Envelope>",
        b"<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><cwmp:Reboot></s:Body></s:Envelope>",
    ] {
        let e = decode(bad).expect_err(&String::from_utf8_lossy(bad));
        assert!(!e.is_request, "{}", String::from_utf8_lossy(bad));
    }
    let deep = acs_env("1-2", "", &("<a>".repeat(40) + &"</a>".repeat(40)));
    let e = decode(deep.as_bytes()).unwrap_err();
    assert_eq!(e.fault.code, FaultCode::RESOURCES_EXCEEDED);
}

#[test]
fn latin1_envelope() {
    let mut x = br#"<?xml version="1.0" encoding="ISO-8859-1"?>"#.to_vec();
    let body = "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>Device.X</Name><Value>caf\u{e9}</Value></ParameterValueStruct></ParameterList><ParameterKey/></cwmp:SetParameterValues>";
    // Encode the envelope as Latin-1: every char here is below U+0100.
    x.extend(acs_env("1-0", "", body).chars().map(|c| c as u8));
    let e = decode(&x).unwrap();
    assert_eq!(
        e.body,
        AcsMessage::Request(AcsRequest::SetParameterValues {
            values: vec![sv("Device.X", "caf\u{e9}", None)],
            parameter_key: String::new()
        })
    );
}

#[test]
fn mutations_and_truncations_never_panic() {
    let valid = acs_env(
        "1-2",
        "<cwmp:HoldRequests>0</cwmp:HoldRequests>",
        r#"<cwmp:SetParameterValues><ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct><Name>Device.A</Name><Value xsi:type="xsd:int">-5</Value></ParameterValueStruct></ParameterList><ParameterKey>k&amp;</ParameterKey></cwmp:SetParameterValues>"#,
    );
    let bytes = valid.as_bytes();
    assert!(decode(bytes).is_ok());
    let mut decoded_ok = 0;
    for i in 0..bytes.len() {
        // Truncations: results vary, but must never panic.
        let _ = decode(&bytes[..i]);
        for b in [b'<', b'>', b'&', b'"', b'/', b':', 0x00, 0xC3, 0xFF] {
            let mut m = bytes.to_vec();
            m[i] = b;
            if decode(&m).is_ok() {
                decoded_ok += 1;
            }
        }
        let mut m = bytes.to_vec();
        m.remove(i);
        let _ = decode(&m);
    }
    // Many single-byte changes fall in whitespace or text and still decode.
    assert!(decoded_ok > 0);
}
