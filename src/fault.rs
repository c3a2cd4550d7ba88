//! CWMP fault codes and the `Fault` value every RPC handler returns on failure.
//!
//! Codes are a newtype over the wire number so vendor (9800-9899) and ACS (8000-8899) codes still
//! round-trip; the named constants cover TR-069 Amendment 6 (digest section 4).

use std::fmt;

/// A CWMP fault code as it appears in `<FaultCode>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FaultCode(pub u32);

impl FaultCode {
    /// 9000 Method not supported.
    pub const METHOD_NOT_SUPPORTED: FaultCode = FaultCode(9000);
    /// 9001 Request denied.
    pub const REQUEST_DENIED: FaultCode = FaultCode(9001);
    /// 9002 Internal error.
    pub const INTERNAL_ERROR: FaultCode = FaultCode(9002);
    /// 9003 Invalid arguments.
    pub const INVALID_ARGUMENTS: FaultCode = FaultCode(9003);
    /// 9004 Resources exceeded.
    pub const RESOURCES_EXCEEDED: FaultCode = FaultCode(9004);
    /// 9005 Invalid parameter name.
    pub const INVALID_PARAMETER_NAME: FaultCode = FaultCode(9005);
    /// 9006 Invalid parameter type.
    pub const INVALID_PARAMETER_TYPE: FaultCode = FaultCode(9006);
    /// 9007 Invalid parameter value.
    pub const INVALID_PARAMETER_VALUE: FaultCode = FaultCode(9007);
    /// 9008 Attempt to set a non-writable parameter.
    pub const NON_WRITABLE_PARAMETER: FaultCode = FaultCode(9008);
    /// 9009 Notification request rejected.
    pub const NOTIFICATION_REJECTED: FaultCode = FaultCode(9009);
    /// 9010 File transfer failure.
    pub const DOWNLOAD_FAILURE: FaultCode = FaultCode(9010);
    /// 9011 Upload failure.
    pub const UPLOAD_FAILURE: FaultCode = FaultCode(9011);
    /// 9012 File transfer server authentication failure.
    pub const TRANSFER_AUTH_FAILURE: FaultCode = FaultCode(9012);
    /// 9013 Unsupported protocol for file transfer.
    pub const UNSUPPORTED_PROTOCOL: FaultCode = FaultCode(9013);
    /// 9014 Unable to join multicast group.
    pub const MULTICAST_JOIN_FAILURE: FaultCode = FaultCode(9014);
    /// 9015 Unable to contact file server.
    pub const CONTACT_SERVER_FAILURE: FaultCode = FaultCode(9015);
    /// 9016 Unable to access file.
    pub const ACCESS_FILE_FAILURE: FaultCode = FaultCode(9016);
    /// 9017 Unable to complete download.
    pub const COMPLETE_DOWNLOAD_FAILURE: FaultCode = FaultCode(9017);
    /// 9018 File corrupted.
    pub const FILE_CORRUPTED: FaultCode = FaultCode(9018);
    /// 9019 File authentication failure.
    pub const FILE_AUTH_FAILURE: FaultCode = FaultCode(9019);
    /// 9020 Unable to complete download within the time windows.
    pub const WINDOW_FAILURE: FaultCode = FaultCode(9020);
    /// 9021 Cancelation of file transfer not permitted.
    pub const CANCEL_NOT_PERMITTED: FaultCode = FaultCode(9021);
    /// 8005 (ACS) Retry request.
    pub const ACS_RETRY_REQUEST: FaultCode = FaultCode(8005);
    /// 8006 (ACS) ACS version incompatible with CPE.
    pub const ACS_VERSION_INCOMPATIBLE: FaultCode = FaultCode(8006);

    /// The standard FaultString for this code (TR-069 table A.5).
    pub fn default_string(self) -> &'static str {
        match self.0 {
            9000 => "Method not supported",
            9001 => "Request denied",
            9002 => "Internal error",
            9003 => "Invalid arguments",
            9004 => "Resources exceeded",
            9005 => "Invalid parameter name",
            9006 => "Invalid parameter type",
            9007 => "Invalid parameter value",
            9008 => "Attempt to set a non-writable parameter",
            9009 => "Notification request rejected",
            9010 => "Download failure",
            9011 => "Upload failure",
            9012 => "File transfer server authentication failure",
            9013 => "Unsupported protocol for file transfer",
            9014 => "Download failure: unable to join multicast group",
            9015 => "Download failure: unable to contact file server",
            9016 => "Download failure: unable to access file",
            9017 => "Download failure: unable to complete download",
            9018 => "Download failure: file corrupted",
            9019 => "Download failure: file authentication failure",
            9020 => "Download failure: unable to complete download within specified time windows",
            9021 => "Cancelation of file transfer not permitted in current transfer state",
            9022 => "Invalid UUID format",
            9023 => "Unknown Execution Environment",
            9024 => "Disabled Execution Environment",
            9025 => "Deployment Unit to Execution Environment mismatch",
            9026 => "Duplicate Deployment Unit",
            9027 => "System resources exceeded",
            9028 => "Unknown Deployment Unit",
            9029 => "Invalid Deployment Unit state",
            9030 => "Invalid Deployment Unit Update: Downgrade not permitted",
            9031 => "Invalid Deployment Unit Update: Version not specified",
            9032 => "Invalid Deployment Unit Update: Version already exists",
            8000 => "Method not supported",
            8001 => "Request denied",
            8002 => "Internal error",
            8003 => "Invalid arguments",
            8004 => "Resources exceeded",
            8005 => "Retry request",
            8006 => "ACS version incompatible with CPE",
            _ => "Vendor defined fault",
        }
    }

    /// Whether the SOAP `faultcode` is `Client` (the request was at fault) rather than `Server`.
    pub fn is_client(self) -> bool {
        matches!(self.0, 9003 | 9005..=9008 | 9021 | 8003)
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One failing parameter inside a SetParameterValues fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamFault {
    /// The parameter name as the ACS sent it.
    pub name: String,
    /// 9005, 9006, 9007 or 9008.
    pub code: FaultCode,
    /// Human-readable reason.
    pub message: String,
}

/// A CWMP fault: what a CPE RPC answers instead of its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The top-level fault code.
    pub code: FaultCode,
    /// The FaultString (the specific reason, or the table text).
    pub message: String,
    /// Per-parameter faults; only SetParameterValues fills this in (top-level code 9003).
    pub param_faults: Vec<ParamFault>,
}

impl Fault {
    /// A fault with the standard string for `code`.
    pub fn new(code: FaultCode) -> Fault {
        Fault {
            code,
            message: code.default_string().to_string(),
            param_faults: Vec::new(),
        }
    }

    /// A fault with a specific message.
    pub fn with_message(code: FaultCode, message: impl Into<String>) -> Fault {
        Fault {
            code,
            message: message.into(),
            param_faults: Vec::new(),
        }
    }

    /// A 9003 fault listing the parameters that failed a SetParameterValues.
    pub fn set_values(param_faults: Vec<ParamFault>) -> Fault {
        Fault {
            code: FaultCode::INVALID_ARGUMENTS,
            message: FaultCode::INVALID_ARGUMENTS.default_string().to_string(),
            param_faults,
        }
    }

    /// 9005 for `name`.
    pub fn invalid_name(name: &str) -> Fault {
        Fault::with_message(
            FaultCode::INVALID_PARAMETER_NAME,
            format!("Invalid parameter name: {name}"),
        )
    }

    /// 9003 with a reason.
    pub fn invalid_args(reason: impl Into<String>) -> Fault {
        Fault::with_message(FaultCode::INVALID_ARGUMENTS, reason)
    }

    /// 9002 with a reason.
    pub fn internal(reason: impl Into<String>) -> Fault {
        Fault::with_message(FaultCode::INTERNAL_ERROR, reason)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fault {}: {}", self.code, self.message)
    }
}

impl std::error::Error for Fault {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_codes() {
        assert!(FaultCode::INVALID_PARAMETER_NAME.is_client());
        assert!(!FaultCode::METHOD_NOT_SUPPORTED.is_client());
        assert!(!FaultCode::INTERNAL_ERROR.is_client());
    }

    #[test]
    fn display_matches_cli_format() {
        assert_eq!(
            Fault::new(FaultCode::INVALID_PARAMETER_NAME).to_string(),
            "Fault 9005: Invalid parameter name"
        );
        assert!(FaultCode(9032).default_string().contains("already exists"));
    }
}
