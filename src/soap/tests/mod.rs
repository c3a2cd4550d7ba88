//! Codec tests: encoding, decoding, the shared test vectors and XSD validation.

mod decode;
mod encode;
mod limits;
mod vectors;
mod xsd;

use super::*;
use crate::datamodel::{ParamInfo, ParamType, ParamValue};
use crate::fault::{Fault, FaultCode, ParamFault};
use std::path::PathBuf;

/// `../shared/spec` seen from the crate root, if present.
fn shared_spec() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/spec");
    p.is_dir().then_some(p)
}

/// Wraps a body (and optional header elements) in an ACS-style envelope with `SOAP-ENV`
/// prefixes and the given cwmp namespace version (`1-0`...).
fn acs_env(ver: &str, header: &str, body: &str) -> String {
    format!(
        r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-{ver}">
  <SOAP-ENV:Header><cwmp:ID SOAP-ENV:mustUnderstand="1">id-7</cwmp:ID>{header}</SOAP-ENV:Header>
  <SOAP-ENV:Body>{body}</SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#
    )
}

fn pv(name: &str, value: &str, ty: ParamType) -> ParamValue {
    ParamValue {
        name: name.into(),
        value: value.into(),
        ty,
    }
}

const UUID: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";

fn op_result(autonomous: bool) -> OpResult {
    OpResult {
        uuid: UUID.into(),
        deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.3".into(),
        version: "1.0".into(),
        current_state: "Installed".into(),
        resolved: true,
        execution_unit_ref_list: "Device.SoftwareModules.ExecutionUnit.2".into(),
        start_time: Some(1_700_000_000),
        complete_time: None,
        fault: TransferFault::default(),
        operation_performed: autonomous.then(|| "Install".to_string()),
    }
}

/// One of every CpeRequest, with schema-valid contents.
fn sample_requests() -> Vec<CpeRequest> {
    vec![
        CpeRequest::Inform(Inform {
            device_id: DeviceId {
                manufacturer: "Acme & Co".into(),
                oui: "00D09E".into(),
                product_class: "GW1".into(),
                serial_number: "A1B2C3".into(),
            },
            events: vec![
                EventStruct {
                    code: "1 BOOT".into(),
                    command_key: String::new(),
                },
                EventStruct {
                    code: "M Reboot".into(),
                    command_key: "rb-42".into(),
                },
            ],
            current_time: 1_700_000_000,
            retry_count: 2,
            parameters: vec![
                pv(
                    "Device.DeviceInfo.SoftwareVersion",
                    "1.2.3",
                    ParamType::String,
                ),
                pv("Device.DeviceInfo.UpTime", "42", ParamType::UnsignedInt),
            ],
        }),
        CpeRequest::GetRpcMethods,
        CpeRequest::TransferComplete(TransferComplete {
            command_key: "dl-1".into(),
            fault: TransferFault {
                code: 9010,
                message: "Download failure".into(),
            },
            start_time: Some(1_700_000_000),
            complete_time: None,
        }),
        CpeRequest::AutonomousTransferComplete(AutonomousTransferComplete {
            announce_url: "http://a/".into(),
            transfer_url: "http://t/fw.bin".into(),
            is_download: true,
            file_type: "1 Firmware Upgrade Image".into(),
            file_size: 5_000_000_000,
            target_file_name: "fw.bin".into(),
            fault: TransferFault::default(),
            start_time: None,
            complete_time: Some(0),
        }),
        CpeRequest::DuStateChangeComplete {
            results: vec![op_result(false)],
            command_key: "du-1".into(),
        },
        CpeRequest::AutonomousDuStateChangeComplete {
            results: vec![op_result(true)],
        },
        CpeRequest::RequestDownload {
            file_type: "3 Vendor Configuration File".into(),
            args: vec![("Version".into(), "2".into())],
        },
    ]
}

fn transfer(n: u8) -> QueuedTransfer {
    QueuedTransfer {
        command_key: format!("k{n}"),
        state: n,
        is_download: n % 2 == 1,
        file_type: "1 Firmware Upgrade Image".into(),
        file_size: 1234,
        target_file_name: "fw.bin".into(),
    }
}

/// One of every CpeResponse, with schema-valid contents.
fn sample_responses() -> Vec<CpeResponse> {
    vec![
        CpeResponse::GetRpcMethods {
            methods: vec!["GetRPCMethods".into(), "Inform".into(), "Reboot".into()],
        },
        CpeResponse::SetParameterValues { status: 1 },
        CpeResponse::GetParameterValues {
            values: vec![
                pv("Device.A", "x<y&z", ParamType::String),
                pv("Device.B", "true", ParamType::Boolean),
                pv("Device.C", "2023-11-14T22:13:20Z", ParamType::DateTime),
            ],
        },
        CpeResponse::GetParameterNames {
            names: vec![
                ParamInfo {
                    name: "Device.".into(),
                    writable: false,
                },
                ParamInfo {
                    name: "Device.IP.Interface.".into(),
                    writable: true,
                },
            ],
        },
        CpeResponse::SetParameterAttributes,
        CpeResponse::GetParameterAttributes {
            attributes: vec![
                ParamAttribute {
                    name: "Device.A".into(),
                    notification: 2,
                    access_list: vec!["Subscriber".into()],
                },
                ParamAttribute {
                    name: "Device.B".into(),
                    notification: 0,
                    access_list: vec![],
                },
            ],
        },
        CpeResponse::AddObject {
            instance: 3,
            status: 0,
        },
        CpeResponse::DeleteObject { status: 1 },
        CpeResponse::Reboot,
        CpeResponse::Download {
            status: 1,
            start_time: None,
            complete_time: None,
        },
        CpeResponse::Upload {
            status: 0,
            start_time: Some(1_700_000_000),
            complete_time: Some(1_700_000_005),
        },
        CpeResponse::FactoryReset,
        CpeResponse::FactoryResetSoft,
        CpeResponse::GetQueuedTransfers {
            transfers: vec![transfer(1), transfer(2)],
        },
        CpeResponse::GetAllQueuedTransfers {
            transfers: vec![transfer(3)],
        },
        CpeResponse::ScheduleInform,
        CpeResponse::SetVouchers,
        CpeResponse::GetOptions,
        CpeResponse::ScheduleDownload,
        CpeResponse::CancelTransfer,
        CpeResponse::ChangeDuState,
        CpeResponse::Fault(Fault::set_values(vec![
            ParamFault {
                name: "Device.WiFi.SSID.1.SSID".into(),
                code: FaultCode::INVALID_PARAMETER_VALUE,
                message: "too long".into(),
            },
            ParamFault {
                name: "Device.X".into(),
                code: FaultCode::INVALID_PARAMETER_NAME,
                message: "Invalid parameter name".into(),
            },
        ])),
    ]
}
