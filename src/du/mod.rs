//! Software modules (ChangeDUState, digest section 11): argument checks and UUIDs (this
//! file), the persisted job list ([`jobs`]), and the worker that runs a job's operations
//! through a backend ([`exec`]: a package-manager hook, or the built-in store of [`store`]).
//! The main loop alone changes the job list; workers report over a channel as [`DuEvent`]s.

pub mod autonomous;
pub mod bbfdm;
pub mod exec;
pub mod jobs;
pub mod store;

use crate::fault::{Fault, FaultCode};
use crate::soap::{DuOperation, OpResult};

/// 9022: a malformed UUID.
pub const INVALID_UUID: FaultCode = FaultCode(9022);
/// 9026: the deployment unit is already installed.
pub const DUPLICATE_DU: FaultCode = FaultCode(9026);
/// 9027: system resources exceeded.
pub const DU_RESOURCES: FaultCode = FaultCode(9027);
/// 9028: no such deployment unit.
pub const UNKNOWN_DU: FaultCode = FaultCode(9028);
/// 9032: that version is already installed (Update).
pub const VERSION_EXISTS: FaultCode = FaultCode(9032);

/// RFC 4122 name-space for URLs (`6ba7b811-9dad-11d1-80b4-00c04fd430c8`), under which a
/// missing UUID is derived from the install URL.
const NAMESPACE_URL: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// What a DU worker tells the main loop.
#[derive(Debug)]
pub enum DuEvent {
    /// Operation `index` of job `id` is over.
    Op {
        /// Job id.
        id: u64,
        /// Operation index.
        index: usize,
        /// Its result.
        result: Box<OpResult>,
    },
    /// Every operation of job `id` has been reported.
    Done {
        /// Job id.
        id: u64,
    },
}

/// Whether `s` has the form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A version-5 (SHA-1, name-based) UUID of `name` in `namespace` (RFC 4122 section 4.3).
pub fn uuid_v5(namespace: &[u8; 16], name: &str) -> String {
    let mut data = namespace.to_vec();
    data.extend_from_slice(name.as_bytes());
    let h = crate::crypto::sha1(&data);
    let mut u = [0u8; 16];
    u.copy_from_slice(&h[..16]);
    u[6] = (u[6] & 0x0f) | 0x50;
    u[8] = (u[8] & 0x3f) | 0x80;
    let hex: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The UUID a DU installed from `url` gets when the ACS gave none (TR-069 Annex H: name-based,
/// version 5; the name is the URL).
pub fn uuid_for_url(url: &str) -> String {
    uuid_v5(&NAMESPACE_URL, url.trim())
}

/// The UUID of an Install: the one the ACS gave (lower case), else [`uuid_for_url`].
pub fn install_uuid(uuid: &str, url: &str) -> String {
    match uuid.trim() {
        "" => uuid_for_url(url),
        u => u.to_ascii_lowercase(),
    }
}

fn uuid_ok(uuid: &str) -> Result<(), Fault> {
    if !uuid.is_empty() && !is_uuid(uuid) {
        return Err(Fault::with_message(
            INVALID_UUID,
            format!("invalid UUID format '{uuid}'"),
        ));
    }
    Ok(())
}

/// Checks ChangeDUState's operations before answering: 9003 for a missing URL (Install) or
/// UUID (Uninstall), 9022 for a malformed UUID, 9013 for a URL scheme we cannot fetch.
pub fn check(ops: &[DuOperation]) -> Result<(), Fault> {
    if ops.is_empty() {
        return Err(Fault::invalid_args("ChangeDUState without operations"));
    }
    for op in ops {
        match op {
            DuOperation::Install { url, uuid, .. } => {
                if url.trim().is_empty() {
                    return Err(Fault::invalid_args("Install without URL"));
                }
                uuid_ok(uuid.trim())?;
                crate::transfer::check::check_url(url.trim())?;
            }
            DuOperation::Update { uuid, url, .. } => {
                if uuid.trim().is_empty() && url.trim().is_empty() {
                    return Err(Fault::invalid_args("Update without UUID or URL"));
                }
                uuid_ok(uuid.trim())?;
                if !url.trim().is_empty() {
                    crate::transfer::check::check_url(url.trim())?;
                }
            }
            DuOperation::Uninstall { uuid, .. } => {
                if uuid.trim().is_empty() {
                    return Err(Fault::invalid_args("Uninstall without UUID"));
                }
                uuid_ok(uuid.trim())?;
            }
        }
    }
    Ok(())
}

/// A fault code as an OpResult may carry it (0, 9001, 9003, 9012, 9013, 9015-9018,
/// 9022-9032): transfer codes OpResult lacks map to their nearest kin, the rest to 9001.
pub fn allowed_code(code: FaultCode) -> FaultCode {
    match code.0 {
        0 | 9001 | 9003 | 9012 | 9013 | 9015..=9018 | 9022..=9032 => code,
        9019 => FaultCode::TRANSFER_AUTH_FAILURE,
        9010 | 9011 | 9014 | 9020 => FaultCode::COMPLETE_DOWNLOAD_FAILURE,
        _ => FaultCode::REQUEST_DENIED,
    }
}

/// The OperationPerformed name of an operation.
pub fn op_name(op: &DuOperation) -> &'static str {
    match op {
        DuOperation::Install { .. } => "Install",
        DuOperation::Update { .. } => "Update",
        DuOperation::Uninstall { .. } => "Uninstall",
    }
}

/// A failed operation's result: CurrentState `Failed`, the UUID as far as known.
pub fn failed(op: &DuOperation, code: FaultCode, message: &str, start: i64, end: i64) -> OpResult {
    let uuid = match op {
        DuOperation::Install { uuid, url, .. } => install_uuid(uuid, url),
        DuOperation::Update { uuid, .. } | DuOperation::Uninstall { uuid, .. } => {
            uuid.trim().to_string()
        }
    };
    OpResult {
        uuid,
        current_state: "Failed".into(),
        start_time: Some(start),
        complete_time: Some(end),
        fault: crate::soap::TransferFault {
            code: code.0,
            message: message.to_string(),
        },
        ..OpResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_DNS: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];

    #[test]
    fn an_install_has_one_uuid_whether_it_succeeds_or_fails() {
        let url = "http://example.com/a.ipk";
        assert_eq!(install_uuid("", url), uuid_for_url(url));
        assert_eq!(
            install_uuid(" 6BA7B810-9DAD-11D1-80B4-00C04FD430C8 ", url),
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        );
        let op = DuOperation::Install {
            url: url.into(),
            uuid: "6BA7B810-9DAD-11D1-80B4-00C04FD430C8".into(),
            username: String::new(),
            password: String::new(),
            execution_env_ref: String::new(),
        };
        let r = failed(&op, FaultCode::REQUEST_DENIED, "no", 1, 2);
        assert_eq!(
            r.uuid,
            install_uuid("6BA7B810-9DAD-11D1-80B4-00C04FD430C8", url)
        );
        assert_eq!(r.current_state, "Failed");
    }

    #[test]
    fn uuid_v5_matches_known_vectors() {
        // Python's documented example: uuid5(NAMESPACE_DNS, 'python.org').
        assert_eq!(
            uuid_v5(&RFC_DNS, "python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d"
        );
        // uuid5(NAMESPACE_URL, ...) computed with Python's uuid module.
        assert_eq!(
            uuid_for_url("http://example.com/hello_1.0_all.ipk"),
            "e2dca78e-995f-5aeb-be6c-31ca6ddf3ef6"
        );
        assert!(is_uuid(&uuid_for_url("x")));
    }

    #[test]
    fn only_opresult_fault_codes_come_out() {
        let c = |n| allowed_code(FaultCode(n)).0;
        assert_eq!((c(0), c(9026), c(9013), c(9018)), (0, 9026, 9013, 9018));
        assert_eq!(
            (c(9019), c(9010), c(9002), c(9005)),
            (9012, 9017, 9001, 9001)
        );
    }

    #[test]
    fn uuid_format() {
        assert!(is_uuid("886313e1-3b8a-5372-9b90-0c9aee199e5D"));
        for bad in [
            "",
            "886313e1-3b8a-5372-9b90-0c9aee199e5",
            "886313e1x3b8a-5372-9b90-0c9aee199e5d",
            "g86313e1-3b8a-5372-9b90-0c9aee199e5d",
        ] {
            assert!(!is_uuid(bad), "{bad}");
        }
    }

    fn install(url: &str, uuid: &str) -> DuOperation {
        DuOperation::Install {
            url: url.into(),
            uuid: uuid.into(),
            username: String::new(),
            password: String::new(),
            execution_env_ref: String::new(),
        }
    }

    fn uninstall(uuid: &str) -> DuOperation {
        DuOperation::Uninstall {
            uuid: uuid.into(),
            version: String::new(),
            execution_env_ref: String::new(),
        }
    }

    fn code(ops: &[DuOperation]) -> u32 {
        check(ops).map_or_else(|f| f.code.0, |_| 0)
    }

    #[test]
    fn operations_are_checked() {
        assert_eq!(code(&[install("http://h/p.ipk", "")]), 0);
        assert_eq!(code(&[]), 9003);
        assert_eq!(code(&[install("", "")]), 9003);
        assert_eq!(code(&[install("tftp://h/p", "")]), 9013);
        assert_eq!(code(&[install("http://h/p", "not-a-uuid")]), 9022);
        assert_eq!(code(&[uninstall("")]), 9003);
        assert_eq!(code(&[uninstall("zz")]), 9022);
        let u = uuid_for_url("a");
        assert_eq!(code(&[install("https://h/p", &u), uninstall(&u)]), 0);
        let up = DuOperation::Update {
            uuid: String::new(),
            version: String::new(),
            url: String::new(),
            username: String::new(),
            password: String::new(),
        };
        assert_eq!(code(&[up]), 9003);
    }
}
