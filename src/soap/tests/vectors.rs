//! Every file under `../shared/spec/test-vectors`: no panics, invalid ones rejected, ACS-side
//! requests decoded to the right variant (a few checked field by field).

use super::*;
use crate::datamodel::SetValue;
use std::path::Path;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The file's bytes from the first `<` on (drops HTTP headers of the dumps).
fn load(p: &Path) -> Vec<u8> {
    let b = std::fs::read(p).unwrap_or_default();
    let start = b.iter().position(|&c| c == b'<').unwrap_or(b.len());
    b[start..].to_vec()
}

/// The method named by the file (`parser__x__sample__Method.xml`, `methods__Method.xml`).
fn method_of(name: &str) -> &str {
    let stem = name.strip_suffix(".xml").unwrap_or(name);
    stem.rsplit("__").next().unwrap_or(stem)
}

const ACS_REQUESTS: &[&str] = &[
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "Download",
    "Upload",
    "FactoryReset",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
    "ScheduleInform",
    "SetVouchers",
    "GetOptions",
    "ScheduleDownload",
    "CancelTransfer",
    "ChangeDUState",
];

const ACS_RESPONSES: &[&str] = &[
    "InformResponse",
    "TransferCompleteResponse",
    "AutonomousTransferCompleteResponse",
    "DUStateChangeCompleteResponse",
    "AutonomousDUStateChangeCompleteResponse",
    "RequestDownloadResponse",
    "KickedResponse",
];

#[test]
fn all_vectors() {
    let Some(spec) = shared_spec() else {
        println!("note: ../shared absent, test-vector checks skipped");
        return;
    };
    let mut all = Vec::new();
    files(&spec.join("test-vectors"), &mut all);
    assert!(
        all.len() > 50,
        "expected the shared vectors, found {}",
        all.len()
    );
    let (mut requests, mut responses) = (0, 0);
    for p in &all {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let res = decode(&load(p));
        if name.contains("INVALID") || name.starts_with("bogus_") {
            assert!(
                matches!(
                    res,
                    Err(_)
                        | Ok(AcsEnvelope {
                            body: AcsMessage::Fault(_),
                            ..
                        })
                ),
                "{name} accepted: {res:?}"
            );
            continue;
        }
        let method = method_of(name);
        if ACS_REQUESTS.contains(&method) {
            match &res {
                Ok(AcsEnvelope {
                    body: AcsMessage::Request(r),
                    ..
                }) => assert_eq!(r.method_name(), method, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
            requests += 1;
        } else if ACS_RESPONSES.contains(&method) {
            assert!(
                matches!(
                    res,
                    Ok(AcsEnvelope {
                        body: AcsMessage::Response(_),
                        ..
                    })
                ),
                "{name}: {res:?}"
            );
            responses += 1;
        } else if method == "SOAPFault" {
            assert!(
                matches!(res, Ok(AcsEnvelope { body: AcsMessage::Fault(ref f), .. }) if f.code == FaultCode::INVALID_PARAMETER_NAME),
                "{name}: {res:?}"
            );
        }
        // Anything else is a CPE-side message: any result is fine, as long as no panic.
    }
    assert!(requests >= 25, "only {requests} ACS requests decoded");
    assert!(responses >= 7, "only {responses} ACS responses decoded");
}

fn vector(rel: &str) -> Option<AcsEnvelope> {
    let spec = shared_spec()?;
    Some(decode(&load(&spec.join("test-vectors").join(rel))).expect(rel))
}

fn req(rel: &str) -> Option<AcsRequest> {
    match vector(rel)?.body {
        AcsMessage::Request(r) => Some(r),
        other => panic!("{rel}: {other:?}"),
    }
}

#[test]
fn selected_vectors_exactly() {
    let Some(gpv) =
        req("cwmp_ex/extracted/parser__get_parameter_values__sample__GetParameterValues.xml")
    else {
        println!("note: ../shared absent, vector field checks skipped");
        return;
    };
    let AcsRequest::GetParameterValues { names } = gpv else {
        panic!("{gpv:?}")
    };
    assert_eq!(
        names,
        vec![
            "Device.IP.Interface.3.IPv4AddressNumberOfEntries".to_string(),
            "Device.IP.Interface.3.IPv6AddressNumberOfEntries".to_string(),
        ]
    );

    let e =
        vector("cwmp_ex/extracted/parser__set_parameter_values__sample2__SetParameterValues.xml")
            .unwrap();
    assert_eq!(e.ns, CwmpNs::V1_0);
    assert_eq!(e.header.id.as_deref(), Some("50"));
    assert_eq!(
        e.body,
        AcsMessage::Request(AcsRequest::SetParameterValues {
            values: vec![
                SetValue {
                    name: "Device.Test".into(),
                    value: "Foo".into(),
                    type_hint: Some("xsi:string".into()),
                },
                SetValue {
                    name: "Device.Test.Whatever".into(),
                    value: "1".into(),
                    type_hint: Some("xsi:int".into()),
                },
            ],
            parameter_key: "foo".into(),
        })
    );

    let cdu = req("cwmp_ex/extracted/parser__change_du_state__sample3__ChangeDUState.xml").unwrap();
    let AcsRequest::ChangeDuState {
        operations,
        command_key,
    } = cdu
    else {
        panic!("{cdu:?}")
    };
    assert_eq!(command_key, "cmdkey");
    assert_eq!(operations.len(), 3);
    assert_eq!(
        operations[1],
        DuOperation::Update {
            uuid: "some-uuid".into(),
            version: "v2.0".into(),
            url: "http://example.com/url".into(),
            username: "user".into(),
            password: "pass".into(),
        }
    );
    assert!(
        matches!(&operations[2], DuOperation::Uninstall { uuid, execution_env_ref, .. } if uuid == "some-uuid" && execution_env_ref == "env")
    );

    let AcsRequest::ScheduleDownload(sd) =
        req("cwmp_ex/extracted/parser__schedule_download__sample__ScheduleDownload.xml").unwrap()
    else {
        panic!()
    };
    assert_eq!(sd.download.file_size, 123456);
    assert_eq!(sd.download.target_file_name, "image");
    assert_eq!(sd.windows.len(), 1);
    assert_eq!(sd.windows[0].max_retries, -1);
    assert_eq!(sd.windows[0].window_end, 45);

    // perl-cwmp: unqualified <Reboot />, NoMoreRequests header, cwmp-1-0 only declared.
    let e = vector("perl-cwmp/methods__Reboot.xml").unwrap();
    assert_eq!(e.ns, CwmpNs::V1_0);
    assert_eq!(e.header.id.as_deref(), Some("42"));
    assert_eq!(
        e.body,
        AcsMessage::Request(AcsRequest::Reboot {
            command_key: String::new()
        })
    );
    let AcsRequest::SetParameterValues { values, .. } =
        req("perl-cwmp/methods__SetParameterValues.xml").unwrap()
    else {
        panic!()
    };
    assert_eq!(
        values[1].name,
        "InternetGatewayDevice.DeviceInfo.X_000E50_Country"
    );
    assert_eq!(values[1].value, "42");
    assert_eq!(values[1].type_hint, None);

    let e = decode(&load(&shared_spec().unwrap().join(
        "test-vectors/cwmp_ex/extracted/parser__download__sample2__Download__INVALID.xml",
    )))
    .unwrap_err();
    assert_eq!(e.fault.code, FaultCode::INVALID_ARGUMENTS);
    assert!(e.is_request);
    assert_eq!(e.method.as_deref(), Some("Download"));
}
