//! Argument checks of Download, Upload and ScheduleDownload (digest 7.1, icwmp-c section 6).
//! Pure: the RPC handlers call them before anything is queued.

use crate::fault::{Fault, FaultCode};
use crate::soap::{DownloadArgs, ScheduleDownloadArgs, TimeWindow, UploadArgs};

use super::queue::WindowMode;

/// Longest URL (string(256)).
const MAX_URL: usize = 256;
/// Longest FileType (string(64)).
const MAX_FILE_TYPE: usize = 64;
/// Longest Username, Password, TargetFileName (string(256)).
const MAX_STR: usize = 256;

/// Download FileTypes we accept (`6 Stored Firmware Image` is A6; see digest 7.1).
pub const DOWNLOAD_TYPES: [&str; 6] = [
    "1 Firmware Upgrade Image",
    "2 Web Content",
    "3 Vendor Configuration File",
    "4 Tone File",
    "5 Ringer File",
    "6 Stored Firmware Image",
];

/// The URL schemes we can fetch from: `ftps` is explicit FTPS (AUTH TLS).
pub fn scheme_supported(url: &str) -> bool {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    ["http", "https", "ftp", "ftps"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
}

fn too_long(what: &str, v: &str, max: usize) -> Result<(), Fault> {
    if v.chars().count() > max {
        return Err(Fault::invalid_args(format!(
            "{what} longer than {max} characters"
        )));
    }
    Ok(())
}

/// URL rules: not empty (9003), no userinfo (9003: credentials go in Username/Password),
/// scheme http/https/ftp/ftps (9013).
pub fn check_url(url: &str) -> Result<(), Fault> {
    too_long("URL", url, MAX_URL)?;
    let url = url.trim();
    if url.is_empty() {
        return Err(Fault::invalid_args("empty URL"));
    }
    let Some((_, rest)) = url.split_once("://") else {
        return Err(Fault::with_message(
            FaultCode::UNSUPPORTED_PROTOCOL,
            format!("URL without a scheme: {url}"),
        ));
    };
    if !scheme_supported(url) {
        return Err(Fault::with_message(
            FaultCode::UNSUPPORTED_PROTOCOL,
            format!("unsupported protocol in {url}"),
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(Fault::invalid_args("URL must not carry credentials"));
    }
    if authority.is_empty() {
        return Err(Fault::invalid_args("URL without a host"));
    }
    Ok(())
}

fn check_common(
    key: &str,
    file_type: &str,
    url: &str,
    user: &str,
    pass: &str,
) -> Result<(), Fault> {
    crate::rpc::check_key("CommandKey", key)?;
    too_long("FileType", file_type, MAX_FILE_TYPE)?;
    too_long("Username", user, MAX_STR)?;
    too_long("Password", pass, MAX_STR)?;
    check_url(url)
}

/// Checks Download arguments. Empty TargetFileName, SuccessURL, FailureURL and FileSize 0
/// are accepted (a CPE that faulted on them broke GenieACS setups).
pub fn download(a: &DownloadArgs) -> Result<(), Fault> {
    check_common(
        &a.command_key,
        &a.file_type,
        &a.url,
        &a.username,
        &a.password,
    )?;
    too_long("TargetFileName", &a.target_file_name, MAX_STR)?;
    if !DOWNLOAD_TYPES.contains(&a.file_type.trim()) {
        return Err(Fault::invalid_args(format!(
            "unsupported FileType '{}'",
            a.file_type
        )));
    }
    Ok(())
}

/// Whether an Upload FileType asks for a configuration (`true`: `1 Vendor Configuration
/// File`, `3 Vendor Configuration File <i>`) or a log (`false`: `2 Vendor Log File`,
/// `4 Vendor Log File <i>`); `None` for any other type.
pub fn upload_type(file_type: &str) -> Option<bool> {
    let t = file_type.trim();
    match t {
        "1 Vendor Configuration File" => return Some(true),
        "2 Vendor Log File" => return Some(false),
        _ => {}
    }
    let numbered = |prefix: &str| {
        t.strip_prefix(prefix)
            .map(str::trim)
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
    };
    if numbered("3 Vendor Configuration File ") {
        Some(true)
    } else if numbered("4 Vendor Log File ") {
        Some(false)
    } else {
        None
    }
}

/// Checks Upload arguments.
pub fn upload(a: &UploadArgs) -> Result<(), Fault> {
    check_common(
        &a.command_key,
        &a.file_type,
        &a.url,
        &a.username,
        &a.password,
    )?;
    if upload_type(&a.file_type).is_none() {
        return Err(Fault::invalid_args(format!(
            "unsupported FileType '{}'",
            a.file_type
        )));
    }
    Ok(())
}

/// The mode of one window: 9001 for `4 Confirmation Needed` and vendor modes (no user
/// interface to ask; the C icwmp refuses them too), 9003 for anything else unknown.
pub fn window_mode(w: &TimeWindow) -> Result<WindowMode, Fault> {
    match w.window_mode.trim() {
        "1 At Any Time" => Ok(WindowMode::AtAnyTime),
        "2 Immediately" => Ok(WindowMode::Immediately),
        "3 When Idle" => Ok(WindowMode::WhenIdle),
        m if m == "4 Confirmation Needed" || m.starts_with("X ") => Err(Fault::with_message(
            FaultCode::REQUEST_DENIED,
            format!("WindowMode '{m}' not supported: no user interface"),
        )),
        m => Err(Fault::invalid_args(format!("unknown WindowMode '{m}'"))),
    }
}

/// Checks ScheduleDownload arguments: the Download ones (DelaySeconds is not part of it),
/// 1 or 2 windows in order and not overlapping (`start1 <= end1 <= start2 <= end2`).
pub fn schedule_download(a: &ScheduleDownloadArgs) -> Result<(), Fault> {
    download(&a.download)?;
    if a.windows.is_empty() || a.windows.len() > 2 {
        return Err(Fault::invalid_args(
            "TimeWindowList must hold 1 or 2 windows",
        ));
    }
    let mut last_end = 0u32;
    for w in &a.windows {
        window_mode(w)?;
        too_long("UserMessage", &w.user_message, MAX_STR)?;
        if w.window_start > w.window_end || w.window_start < last_end {
            return Err(Fault::invalid_args(
                "time windows out of order or overlapping",
            ));
        }
        if w.max_retries < -1 {
            return Err(Fault::invalid_args("MaxRetries must be -1 or more"));
        }
        last_end = w.window_end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dl(url: &str, ft: &str) -> DownloadArgs {
        DownloadArgs {
            url: url.into(),
            file_type: ft.into(),
            ..DownloadArgs::default()
        }
    }

    #[test]
    fn url_rules() {
        let fw = "1 Firmware Upgrade Image";
        assert!(download(&dl("http://h/f", fw)).is_ok());
        assert!(download(&dl("HTTPS://h:8443/f?x=1", fw)).is_ok());
        assert!(download(&dl("ftp://h/dir/f", fw)).is_ok());
        assert!(download(&dl("ftps://h/f", fw)).is_ok());
        let code = |u: &str| download(&dl(u, fw)).unwrap_err().code.0;
        assert_eq!(code("tftp://h/f"), 9013);
        assert_eq!(code("h/f"), 9013);
        assert_eq!(code("http://user:pw@h/f"), 9003);
        assert_eq!(code(""), 9003);
        assert_eq!(code("http:///f"), 9003);
        // An `@` in the path is not userinfo.
        assert!(download(&dl("http://h/a@b", fw)).is_ok());
        assert_eq!(code(&format!("http://h/{}", "a".repeat(260))), 9003);
    }

    #[test]
    fn file_types_and_empty_optional_fields() {
        for t in DOWNLOAD_TYPES {
            assert!(download(&dl("http://h/f", t)).is_ok(), "{t}");
        }
        assert_eq!(
            download(&dl("http://h/f", "7 Nope")).unwrap_err().code.0,
            9003
        );
        assert_eq!(download(&dl("http://h/f", "")).unwrap_err().code.0, 9003);
        let mut a = dl("http://h/f", "3 Vendor Configuration File");
        a.command_key = "k".repeat(33);
        assert_eq!(download(&a).unwrap_err().code.0, 9003);
        assert_eq!(upload_type("1 Vendor Configuration File"), Some(true));
        assert_eq!(upload_type("4 Vendor Log File 2"), Some(false));
        assert_eq!(upload_type("3 Vendor Configuration File x"), None);
        assert_eq!(upload_type("3 Vendor Configuration File"), None);
        let up = UploadArgs {
            url: "http://h/u".into(),
            file_type: "5 Nope".into(),
            ..UploadArgs::default()
        };
        assert_eq!(upload(&up).unwrap_err().code.0, 9003);
    }

    #[test]
    fn windows() {
        let w = |s, e, m: &str| TimeWindow {
            window_start: s,
            window_end: e,
            window_mode: m.into(),
            user_message: String::new(),
            max_retries: -1,
        };
        let sd = |ws: Vec<TimeWindow>| ScheduleDownloadArgs {
            download: dl("http://h/f", "1 Firmware Upgrade Image"),
            windows: ws,
        };
        assert!(schedule_download(&sd(vec![w(0, 10, "1 At Any Time")])).is_ok());
        assert!(schedule_download(&sd(vec![
            w(0, 10, "3 When Idle"),
            w(10, 20, "2 Immediately")
        ]))
        .is_ok());
        let code = |ws| schedule_download(&sd(ws)).unwrap_err().code.0;
        assert_eq!(code(vec![]), 9003);
        assert_eq!(code(vec![w(5, 4, "1 At Any Time")]), 9003);
        assert_eq!(
            code(vec![w(0, 10, "1 At Any Time"), w(5, 20, "1 At Any Time")]),
            9003
        );
        assert_eq!(code(vec![w(0, 10, "4 Confirmation Needed")]), 9001);
        assert_eq!(code(vec![w(0, 10, "9 Whatever")]), 9003);
        let three = vec![
            w(0, 1, "1 At Any Time"),
            w(1, 2, "1 At Any Time"),
            w(2, 3, "1 At Any Time"),
        ];
        assert_eq!(code(three), 9003);
    }
}
