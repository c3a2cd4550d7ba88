//! Typed CWMP messages from the ACS (requests to us, responses to ours), and the envelope.
//! What the CPE sends is in `cpe_types.rs`.
//!
//! Names follow the RPC and struct names of TR-069 (digest section 7). Times are Unix seconds
//! (`Option<i64>`: `None` is the Unknown Time `0001-01-01T00:00:00Z`).

use crate::datamodel::SetValue;
use crate::fault::{Fault, FaultCode};

/// The cwmp namespace version of an envelope (`urn:dslforum-org:cwmp-1-N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CwmpNs {
    /// `cwmp-1-0`.
    V1_0,
    /// `cwmp-1-1`.
    V1_1,
    /// `cwmp-1-2` (also CWMP 1.3 and 1.4).
    #[default]
    V1_2,
    /// `cwmp-1-3`: accepted on input, never emitted.
    V1_3,
    /// `cwmp-1-4`: accepted on input, never emitted.
    V1_4,
}

impl CwmpNs {
    /// The namespace URI.
    pub fn uri(self) -> &'static str {
        match self {
            CwmpNs::V1_0 => "urn:dslforum-org:cwmp-1-0",
            CwmpNs::V1_1 => "urn:dslforum-org:cwmp-1-1",
            CwmpNs::V1_2 => "urn:dslforum-org:cwmp-1-2",
            CwmpNs::V1_3 => "urn:dslforum-org:cwmp-1-3",
            CwmpNs::V1_4 => "urn:dslforum-org:cwmp-1-4",
        }
    }

    /// Recognises a cwmp namespace URI.
    pub fn from_uri(uri: &str) -> Option<CwmpNs> {
        Some(match uri.trim() {
            "urn:dslforum-org:cwmp-1-0" => CwmpNs::V1_0,
            "urn:dslforum-org:cwmp-1-1" => CwmpNs::V1_1,
            "urn:dslforum-org:cwmp-1-2" => CwmpNs::V1_2,
            "urn:dslforum-org:cwmp-1-3" => CwmpNs::V1_3,
            "urn:dslforum-org:cwmp-1-4" => CwmpNs::V1_4,
            _ => return None,
        })
    }

    /// The namespace of a CWMP version as `UseCWMPVersion` names it (`1.0`...`1.4`);
    /// `None` for anything else.
    pub fn from_version(v: &str) -> Option<CwmpNs> {
        Some(match v.trim() {
            "1.0" => CwmpNs::V1_0,
            "1.1" => CwmpNs::V1_1,
            "1.2" => CwmpNs::V1_2,
            "1.3" => CwmpNs::V1_3,
            "1.4" => CwmpNs::V1_4,
            _ => return None,
        })
    }

    /// The namespace to emit: never 1-3 or 1-4 (digest section 2.1).
    pub fn for_output(self) -> CwmpNs {
        self.min(CwmpNs::V1_2)
    }
}

/// Header fields of a received envelope.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// `cwmp:ID`, echoed in our answer.
    pub id: Option<String>,
    /// `cwmp:HoldRequests` (true only for this one message).
    pub hold_requests: bool,
    /// `cwmp:UseCWMPVersion` from an InformResponse (e.g. `1.4`).
    pub use_cwmp_version: Option<String>,
    /// A header element with mustUnderstand="1" we do not know (answer with a SOAP fault).
    pub not_understood: Option<String>,
}

/// A decoded envelope from the ACS.
#[derive(Clone, Debug, PartialEq)]
pub struct AcsEnvelope {
    /// The cwmp namespace the ACS used.
    pub ns: CwmpNs,
    /// Header fields.
    pub header: Header,
    /// The body.
    pub body: AcsMessage,
}

/// The body of an ACS message: a request to us, a response to our request, or a fault.
#[derive(Clone, Debug, PartialEq)]
pub enum AcsMessage {
    /// An RPC the ACS calls on the CPE.
    Request(AcsRequest),
    /// The ACS's answer to a CPE request.
    Response(AcsResponse),
    /// A SOAP fault answering a CPE request.
    Fault(AcsFault),
}

/// A fault the ACS sent (8000-8899, or anything it chose).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcsFault {
    /// `FaultCode` from the cwmp:Fault detail (0 when the detail is missing).
    pub code: FaultCode,
    /// `FaultString`.
    pub message: String,
}

/// One SetParameterAttributesStruct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAttribute {
    /// Full name or partial path.
    pub name: String,
    /// Whether `notification` applies.
    pub notification_change: bool,
    /// 0-6 (ignored when `notification_change` is false; may then be empty on the wire).
    pub notification: u8,
    /// Whether `access_list` applies.
    pub access_list_change: bool,
    /// Entries such as `Subscriber`.
    pub access_list: Vec<String>,
}

/// One ParameterAttributeStruct of a GetParameterAttributesResponse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamAttribute {
    /// Full parameter name.
    pub name: String,
    /// 0-6.
    pub notification: u8,
    /// AccessList entries.
    pub access_list: Vec<String>,
}

/// Arguments of Download (and of ScheduleDownload, minus its windows).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DownloadArgs {
    /// CommandKey.
    pub command_key: String,
    /// FileType (`1 Firmware Upgrade Image`...).
    pub file_type: String,
    /// URL.
    pub url: String,
    /// Username for the file server.
    pub username: String,
    /// Password for the file server.
    pub password: String,
    /// FileSize (0 = unknown).
    pub file_size: u64,
    /// TargetFileName (may be empty).
    pub target_file_name: String,
    /// DelaySeconds.
    pub delay_seconds: u32,
    /// SuccessURL (may be empty).
    pub success_url: String,
    /// FailureURL (may be empty).
    pub failure_url: String,
}

/// Arguments of Upload.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UploadArgs {
    /// CommandKey.
    pub command_key: String,
    /// FileType (`1 Vendor Configuration File`...).
    pub file_type: String,
    /// URL.
    pub url: String,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// DelaySeconds.
    pub delay_seconds: u32,
}

/// One TimeWindowStruct of ScheduleDownload.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TimeWindow {
    /// Seconds after receipt when the window opens.
    pub window_start: u32,
    /// Seconds after receipt when it closes.
    pub window_end: u32,
    /// `1 At Any Time`, `2 Immediately`, `3 When Idle`, `4 Confirmation Needed`.
    pub window_mode: String,
    /// UserMessage.
    pub user_message: String,
    /// MaxRetries (-1 = CPE decides).
    pub max_retries: i32,
}

/// Arguments of ScheduleDownload.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ScheduleDownloadArgs {
    /// CommandKey, FileType, URL, credentials, FileSize, TargetFileName.
    pub download: DownloadArgs,
    /// 1 or 2 windows.
    pub windows: Vec<TimeWindow>,
}

/// One operation of ChangeDUState.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DuOperation {
    /// InstallOpStruct.
    Install {
        /// URL (required).
        url: String,
        /// UUID (may be empty).
        uuid: String,
        /// Username.
        username: String,
        /// Password.
        password: String,
        /// ExecutionEnvRef (may be empty).
        execution_env_ref: String,
    },
    /// UpdateOpStruct.
    Update {
        /// UUID.
        uuid: String,
        /// Version.
        version: String,
        /// URL.
        url: String,
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// UninstallOpStruct.
    Uninstall {
        /// UUID (required).
        uuid: String,
        /// Version.
        version: String,
        /// ExecutionEnvRef.
        execution_env_ref: String,
    },
}

/// An RPC the ACS calls on the CPE (digest section 7.1).
#[derive(Clone, Debug, PartialEq)]
pub enum AcsRequest {
    /// GetRPCMethods.
    GetRpcMethods,
    /// SetParameterValues.
    SetParameterValues {
        /// ParameterList.
        values: Vec<SetValue>,
        /// ParameterKey.
        parameter_key: String,
    },
    /// GetParameterValues.
    GetParameterValues {
        /// ParameterNames (full names or partial paths).
        names: Vec<String>,
    },
    /// GetParameterNames.
    GetParameterNames {
        /// ParameterPath (empty = root).
        path: String,
        /// NextLevel.
        next_level: bool,
    },
    /// SetParameterAttributes.
    SetParameterAttributes {
        /// ParameterList.
        attributes: Vec<SetAttribute>,
    },
    /// GetParameterAttributes.
    GetParameterAttributes {
        /// ParameterNames.
        names: Vec<String>,
    },
    /// AddObject.
    AddObject {
        /// ObjectName (ends with `.`).
        object_name: String,
        /// ParameterKey.
        parameter_key: String,
    },
    /// DeleteObject.
    DeleteObject {
        /// ObjectName (ends with `.`).
        object_name: String,
        /// ParameterKey.
        parameter_key: String,
    },
    /// Reboot.
    Reboot {
        /// CommandKey.
        command_key: String,
    },
    /// Download.
    Download(DownloadArgs),
    /// Upload.
    Upload(UploadArgs),
    /// FactoryReset.
    FactoryReset,
    /// X_FactoryResetSoft (the C icwmp's vendor RPC; same action as FactoryReset).
    FactoryResetSoft,
    /// GetQueuedTransfers.
    GetQueuedTransfers,
    /// GetAllQueuedTransfers.
    GetAllQueuedTransfers,
    /// ScheduleInform.
    ScheduleInform {
        /// DelaySeconds.
        delay_seconds: u32,
        /// CommandKey.
        command_key: String,
    },
    /// SetVouchers.
    SetVouchers {
        /// VoucherList (base64 strings).
        vouchers: Vec<String>,
    },
    /// GetOptions.
    GetOptions {
        /// OptionName ("" = all).
        option_name: String,
    },
    /// ScheduleDownload.
    ScheduleDownload(ScheduleDownloadArgs),
    /// CancelTransfer.
    CancelTransfer {
        /// CommandKey.
        command_key: String,
    },
    /// ChangeDUState.
    ChangeDuState {
        /// Operations, in order.
        operations: Vec<DuOperation>,
        /// CommandKey.
        command_key: String,
    },
}

impl AcsRequest {
    /// The RPC's element name.
    pub fn method_name(&self) -> &'static str {
        match self {
            AcsRequest::GetRpcMethods => "GetRPCMethods",
            AcsRequest::SetParameterValues { .. } => "SetParameterValues",
            AcsRequest::GetParameterValues { .. } => "GetParameterValues",
            AcsRequest::GetParameterNames { .. } => "GetParameterNames",
            AcsRequest::SetParameterAttributes { .. } => "SetParameterAttributes",
            AcsRequest::GetParameterAttributes { .. } => "GetParameterAttributes",
            AcsRequest::AddObject { .. } => "AddObject",
            AcsRequest::DeleteObject { .. } => "DeleteObject",
            AcsRequest::Reboot { .. } => "Reboot",
            AcsRequest::Download(_) => "Download",
            AcsRequest::Upload(_) => "Upload",
            AcsRequest::FactoryReset => "FactoryReset",
            AcsRequest::FactoryResetSoft => "X_FactoryResetSoft",
            AcsRequest::GetQueuedTransfers => "GetQueuedTransfers",
            AcsRequest::GetAllQueuedTransfers => "GetAllQueuedTransfers",
            AcsRequest::ScheduleInform { .. } => "ScheduleInform",
            AcsRequest::SetVouchers { .. } => "SetVouchers",
            AcsRequest::GetOptions { .. } => "GetOptions",
            AcsRequest::ScheduleDownload(_) => "ScheduleDownload",
            AcsRequest::CancelTransfer { .. } => "CancelTransfer",
            AcsRequest::ChangeDuState { .. } => "ChangeDUState",
        }
    }
}

/// The ACS's answer to a CPE request (digest section 7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcsResponse {
    /// InformResponse.
    InformResponse {
        /// MaxEnvelopes (ignored).
        max_envelopes: u32,
    },
    /// GetRPCMethodsResponse.
    GetRpcMethodsResponse {
        /// MethodList.
        methods: Vec<String>,
    },
    /// TransferCompleteResponse.
    TransferCompleteResponse,
    /// AutonomousTransferCompleteResponse.
    AutonomousTransferCompleteResponse,
    /// DUStateChangeCompleteResponse.
    DuStateChangeCompleteResponse,
    /// AutonomousDUStateChangeCompleteResponse.
    AutonomousDuStateChangeCompleteResponse,
    /// RequestDownloadResponse.
    RequestDownloadResponse,
    /// KickedResponse.
    KickedResponse {
        /// NextURL.
        next_url: String,
    },
}

/// Why an ACS message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The fault to answer with (9003 malformed arguments, 9000 unknown method...).
    pub fault: Fault,
    /// The `cwmp:ID` if the header could be read, to echo in the fault.
    pub id: Option<String>,
    /// The method element's local name, if the body got that far.
    pub method: Option<String>,
    /// True when the body was an ACS *request* (so a fault must answer it); false when the
    /// envelope itself is unusable (session failure).
    pub is_request: bool,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.method {
            Some(m) => write!(f, "{m}: {}", self.fault),
            None => write!(f, "{}", self.fault),
        }
    }
}
