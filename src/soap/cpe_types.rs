//! Typed CWMP messages the CPE sends: its own requests (Inform, TransferComplete...) and its
//! answers to the ACS. Times are Unix seconds (`None` is the Unknown Time).

use super::types::ParamAttribute;
use crate::datamodel::{ParamInfo, ParamValue};
use crate::fault::Fault;

/// One EventStruct.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventStruct {
    /// EventCode (`1 BOOT`, `M Reboot`...).
    pub code: String,
    /// CommandKey (empty for numbered events).
    pub command_key: String,
}

/// DeviceIdStruct.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DeviceId {
    /// Manufacturer.
    pub manufacturer: String,
    /// OUI (6 upper-case hex digits).
    pub oui: String,
    /// ProductClass.
    pub product_class: String,
    /// SerialNumber.
    pub serial_number: String,
}

/// Arguments of Inform.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Inform {
    /// DeviceId.
    pub device_id: DeviceId,
    /// Event list.
    pub events: Vec<EventStruct>,
    /// CurrentTime (Unix seconds).
    pub current_time: i64,
    /// RetryCount.
    pub retry_count: u32,
    /// ParameterList.
    pub parameters: Vec<ParamValue>,
}

/// FaultStruct of a transfer completion (code 0 = success).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TransferFault {
    /// FaultCode (0 on success).
    pub code: u32,
    /// FaultString.
    pub message: String,
}

/// Arguments of TransferComplete.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TransferComplete {
    /// CommandKey of the Download/Upload/ScheduleDownload.
    pub command_key: String,
    /// FaultStruct.
    pub fault: TransferFault,
    /// StartTime (`None` = Unknown Time).
    pub start_time: Option<i64>,
    /// CompleteTime.
    pub complete_time: Option<i64>,
}

/// Arguments of AutonomousTransferComplete.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AutonomousTransferComplete {
    /// AnnounceURL.
    pub announce_url: String,
    /// TransferURL.
    pub transfer_url: String,
    /// IsDownload.
    pub is_download: bool,
    /// FileType.
    pub file_type: String,
    /// FileSize.
    pub file_size: u64,
    /// TargetFileName.
    pub target_file_name: String,
    /// FaultStruct.
    pub fault: TransferFault,
    /// StartTime.
    pub start_time: Option<i64>,
    /// CompleteTime.
    pub complete_time: Option<i64>,
}

/// OpResultStruct (AutonOpResultStruct when `operation_performed` is set).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OpResult {
    /// UUID.
    pub uuid: String,
    /// DeploymentUnitRef.
    pub deployment_unit_ref: String,
    /// Version.
    pub version: String,
    /// CurrentState: Installed, Uninstalled or Failed.
    pub current_state: String,
    /// Resolved.
    pub resolved: bool,
    /// ExecutionUnitRefList (comma-separated).
    pub execution_unit_ref_list: String,
    /// StartTime.
    pub start_time: Option<i64>,
    /// CompleteTime.
    pub complete_time: Option<i64>,
    /// Fault.
    pub fault: TransferFault,
    /// OperationPerformed (Install, Update, Uninstall): autonomous results only.
    pub operation_performed: Option<String>,
}

/// A request the CPE sends to the ACS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpeRequest {
    /// Inform.
    Inform(Inform),
    /// GetRPCMethods.
    GetRpcMethods,
    /// TransferComplete.
    TransferComplete(TransferComplete),
    /// AutonomousTransferComplete.
    AutonomousTransferComplete(AutonomousTransferComplete),
    /// DUStateChangeComplete.
    DuStateChangeComplete {
        /// Results.
        results: Vec<OpResult>,
        /// CommandKey.
        command_key: String,
    },
    /// AutonomousDUStateChangeComplete.
    AutonomousDuStateChangeComplete {
        /// Results (with `operation_performed`).
        results: Vec<OpResult>,
    },
    /// RequestDownload.
    RequestDownload {
        /// FileType.
        file_type: String,
        /// FileTypeArg name/value pairs.
        args: Vec<(String, String)>,
    },
}

impl CpeRequest {
    /// The RPC's element name.
    pub fn method_name(&self) -> &'static str {
        match self {
            CpeRequest::Inform(_) => "Inform",
            CpeRequest::GetRpcMethods => "GetRPCMethods",
            CpeRequest::TransferComplete(_) => "TransferComplete",
            CpeRequest::AutonomousTransferComplete(_) => "AutonomousTransferComplete",
            CpeRequest::DuStateChangeComplete { .. } => "DUStateChangeComplete",
            CpeRequest::AutonomousDuStateChangeComplete { .. } => "AutonomousDUStateChangeComplete",
            CpeRequest::RequestDownload { .. } => "RequestDownload",
        }
    }
}

/// One QueuedTransferStruct / AllQueuedTransferStruct.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueuedTransfer {
    /// CommandKey.
    pub command_key: String,
    /// State: 1 not started, 2 in progress, 3 completed.
    pub state: u8,
    /// IsDownload (GetAllQueuedTransfers only).
    pub is_download: bool,
    /// FileType (GetAllQueuedTransfers only).
    pub file_type: String,
    /// FileSize (GetAllQueuedTransfers only).
    pub file_size: u64,
    /// TargetFileName (GetAllQueuedTransfers only).
    pub target_file_name: String,
}

/// The CPE's answer to an ACS request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpeResponse {
    /// GetRPCMethodsResponse.
    GetRpcMethods {
        /// MethodList.
        methods: Vec<String>,
    },
    /// SetParameterValuesResponse.
    SetParameterValues {
        /// Status 0/1.
        status: u8,
    },
    /// GetParameterValuesResponse.
    GetParameterValues {
        /// ParameterList.
        values: Vec<ParamValue>,
    },
    /// GetParameterNamesResponse.
    GetParameterNames {
        /// ParameterList.
        names: Vec<ParamInfo>,
    },
    /// SetParameterAttributesResponse.
    SetParameterAttributes,
    /// GetParameterAttributesResponse.
    GetParameterAttributes {
        /// ParameterList.
        attributes: Vec<ParamAttribute>,
    },
    /// AddObjectResponse.
    AddObject {
        /// InstanceNumber.
        instance: u32,
        /// Status.
        status: u8,
    },
    /// DeleteObjectResponse.
    DeleteObject {
        /// Status.
        status: u8,
    },
    /// RebootResponse.
    Reboot,
    /// DownloadResponse.
    Download {
        /// Status.
        status: u8,
        /// StartTime.
        start_time: Option<i64>,
        /// CompleteTime.
        complete_time: Option<i64>,
    },
    /// UploadResponse.
    Upload {
        /// Status.
        status: u8,
        /// StartTime.
        start_time: Option<i64>,
        /// CompleteTime.
        complete_time: Option<i64>,
    },
    /// FactoryResetResponse.
    FactoryReset,
    /// X_FactoryResetSoftResponse.
    FactoryResetSoft,
    /// GetQueuedTransfersResponse.
    GetQueuedTransfers {
        /// TransferList.
        transfers: Vec<QueuedTransfer>,
    },
    /// GetAllQueuedTransfersResponse.
    GetAllQueuedTransfers {
        /// TransferList.
        transfers: Vec<QueuedTransfer>,
    },
    /// ScheduleInformResponse.
    ScheduleInform,
    /// SetVouchersResponse.
    SetVouchers,
    /// GetOptionsResponse (we hold no options: always empty).
    GetOptions,
    /// ScheduleDownloadResponse.
    ScheduleDownload,
    /// CancelTransferResponse.
    CancelTransfer,
    /// ChangeDUStateResponse.
    ChangeDuState,
    /// A CWMP fault.
    Fault(Fault),
}
