//! TR-143 results from what the connections recorded: the pure half of Download/Upload
//! diagnostics (aggregation across connections, the full-loading window, the
//! `PerConnectionResult` and `IncrementalResult` tables, error states).

use super::net::{micros, Clock};
use std::net::IpAddr;
use std::time::Instant;

/// Which test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    /// DownloadDiagnostics (HTTP GET).
    Download,
    /// UploadDiagnostics (HTTP PUT).
    Upload,
}

/// Why a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Bad URL or TCP connect failed.
    Init,
    /// Nothing came back (closed or idle before the first response byte).
    NoResponse,
    /// The server answered with a status other than 2xx.
    Status,
    /// The response broke HTTP, or the connection broke mid-transfer.
    Transfer,
    /// The server closed before the announced length.
    Size,
    /// Stalled mid-transfer, or over the test's duration cap.
    Timeout,
    /// The test was cancelled.
    Canceled,
    /// Something local (thread, socket option).
    Internal,
    /// FTP: USER not answered with 331 or 230.
    PasswordRequest,
    /// FTP: PASS not answered with 230.
    Login,
    /// FTP: TYPE I refused.
    NoTransferMode,
    /// FTP: PASV/EPSV refused or unreadable.
    NoPasv,
    /// FTP: CWD to the upload directory refused.
    NoCwd,
    /// FTP: STOR refused.
    NoStor,
}

/// The `DiagnosticsState` a failure ends a test in (the enumerations differ per object:
/// Upload has no `Error_TransferFailed` / `Error_IncorrectSize`, so a refused or incomplete
/// upload is `Error_NoTransferComplete`).
pub(crate) fn state(dir: Dir, f: Fail) -> &'static str {
    match (f, dir) {
        (Fail::Init, _) => "Error_InitConnectionFailed",
        (Fail::NoResponse, _) => "Error_NoResponse",
        (Fail::Status | Fail::Transfer, Dir::Download) => "Error_TransferFailed",
        (Fail::Size, Dir::Download) => "Error_IncorrectSize",
        (Fail::Status | Fail::Transfer | Fail::Size, Dir::Upload) => "Error_NoTransferComplete",
        (Fail::Timeout, _) => "Error_Timeout",
        (Fail::Canceled, _) => "Canceled",
        (Fail::Internal, _) => "Error_Internal",
        (Fail::PasswordRequest, _) => "Error_PasswordRequestFailed",
        (Fail::Login, _) => "Error_LoginFailed",
        (Fail::NoTransferMode, _) => "Error_NoTransferMode",
        (Fail::NoPasv, _) => "Error_NoPASV",
        (Fail::NoCwd, Dir::Upload) => "Error_NoCWD",
        (Fail::NoStor, Dir::Upload) => "Error_NoSTOR",
        (Fail::NoCwd | Fail::NoStor, Dir::Download) => "Error_Other",
    }
}

/// What one connection recorded.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    /// Before `connect` (the SYN).
    pub open_req: Instant,
    /// `connect` returned (the SYN-ACK came back).
    pub open_resp: Instant,
    /// The request was written.
    pub rom: Instant,
    /// First byte received (download) or first body byte sent (upload).
    pub bom: Option<Instant>,
    /// Last byte received (download) or the answer received (upload).
    pub eom: Option<Instant>,
    /// Bytes received, HTTP heads included.
    pub rx: u64,
    /// Bytes sent, HTTP heads included.
    pub tx: u64,
    /// The local address of the connection.
    pub local: Option<IpAddr>,
}

/// The test's counters at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    /// When.
    pub at: Instant,
    /// Test bytes received so far (all connections).
    pub rx: u64,
    /// Test bytes sent so far.
    pub tx: u64,
    /// Interface (or TCP) bytes received.
    pub total_rx: u64,
    /// Interface (or TCP) bytes sent.
    pub total_tx: u64,
}

impl Sample {
    fn test(&self, dir: Dir) -> u64 {
        match dir {
            Dir::Download => self.rx,
            Dir::Upload => self.tx,
        }
    }
}

/// Everything a finished test hands to [`values`].
pub(crate) struct Report<'a> {
    pub dir: Dir,
    pub conns: &'a [Conn],
    /// Counters before the first connection opened.
    pub first: Sample,
    /// Counters at the end of transmission.
    pub last: Sample,
    /// Counters at the latest BOM and at the earliest EOM of all connections.
    pub full: Option<(Sample, Sample)>,
    /// `IncrementalResult` boundaries (row i spans marks i-1..i).
    pub marks: &'a [Sample],
    pub per_connection: bool,
}

/// The result parameters of a completed test, relative to its object.
pub(crate) fn values(r: &Report, clock: &Clock) -> Vec<(String, String)> {
    let test = match r.dir {
        Dir::Download => "TestBytesReceived",
        Dir::Upload => "TestBytesSent",
    };
    let mut v = Vec::new();
    let mut put = |k: &str, val: String| v.push((k.to_string(), val));
    let t = |i: Option<Instant>| {
        i.map_or_else(
            || crate::time::UNKNOWN_TIME.to_string(),
            |i| clock.datetime(i),
        )
    };
    let conns = r.conns;
    put("ROMTime", t(conns.iter().map(|c| c.rom).min()));
    put("BOMTime", t(conns.iter().filter_map(|c| c.bom).min()));
    put("EOMTime", t(conns.iter().filter_map(|c| c.eom).max()));
    put(
        "TCPOpenRequestTime",
        t(conns.iter().map(|c| c.open_req).max()),
    );
    put(
        "TCPOpenResponseTime",
        t(conns.iter().map(|c| c.open_resp).max()),
    );
    let bytes: u64 = conns
        .iter()
        .map(|c| if r.dir == Dir::Download { c.rx } else { c.tx })
        .sum();
    put(test, bytes.to_string());
    put(
        "TotalBytesReceived",
        r.last.total_rx.saturating_sub(r.first.total_rx).to_string(),
    );
    put(
        "TotalBytesSent",
        r.last.total_tx.saturating_sub(r.first.total_tx).to_string(),
    );
    let (full_test, full_rx, full_tx, period) = match r.full {
        Some((s, e)) if e.at >= s.at => (
            e.test(r.dir).saturating_sub(s.test(r.dir)),
            e.total_rx.saturating_sub(s.total_rx),
            e.total_tx.saturating_sub(s.total_tx),
            micros(e.at - s.at),
        ),
        _ => (0, 0, 0, 0),
    };
    put(&format!("{test}UnderFullLoading"), full_test.to_string());
    put("TotalBytesReceivedUnderFullLoading", full_rx.to_string());
    put("TotalBytesSentUnderFullLoading", full_tx.to_string());
    put("PeriodOfFullLoading", period.to_string());
    if let Some(ip) = conns.iter().find_map(|c| c.local) {
        put("IPAddressUsed", ip.to_string());
    }
    let rows = if r.per_connection { conns } else { &[] };
    put("PerConnectionResultNumberOfEntries", rows.len().to_string());
    for (i, c) in rows.iter().enumerate() {
        let p = format!("PerConnectionResult.{}.", i + 1);
        let b = if r.dir == Dir::Download { c.rx } else { c.tx };
        put(&format!("{p}ROMTime"), t(Some(c.rom)));
        put(&format!("{p}BOMTime"), t(c.bom));
        put(&format!("{p}EOMTime"), t(c.eom));
        put(&format!("{p}{test}"), b.to_string());
        // Per connection only its own TCP bytes are known (interfaces are shared).
        put(&format!("{p}TotalBytesReceived"), c.rx.to_string());
        put(&format!("{p}TotalBytesSent"), c.tx.to_string());
        put(&format!("{p}TCPOpenRequestTime"), t(Some(c.open_req)));
        put(&format!("{p}TCPOpenResponseTime"), t(Some(c.open_resp)));
    }
    let incr: Vec<_> = r.marks.windows(2).collect();
    put("IncrementalResultNumberOfEntries", incr.len().to_string());
    for (i, w) in incr.iter().enumerate() {
        let (s, e) = (w[0], w[1]);
        let p = format!("IncrementalResult.{}.", i + 1);
        put(
            &format!("{p}{test}"),
            e.test(r.dir).saturating_sub(s.test(r.dir)).to_string(),
        );
        put(
            &format!("{p}TotalBytesReceived"),
            e.total_rx.saturating_sub(s.total_rx).to_string(),
        );
        put(
            &format!("{p}TotalBytesSent"),
            e.total_tx.saturating_sub(s.total_tx).to_string(),
        );
        put(&format!("{p}StartTime"), t(Some(s.at)));
        put(&format!("{p}EndTime"), t(Some(e.at)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn get<'a>(v: &'a [(String, String)], k: &str) -> &'a str {
        v.iter()
            .find(|(n, _)| n == k)
            .map(|(_, x)| x.as_str())
            .unwrap_or_else(|| panic!("{k} missing"))
    }

    fn sample(at: Instant, rx: u64, tx: u64) -> Sample {
        Sample {
            at,
            rx,
            tx,
            total_rx: rx + 100,
            total_tx: tx + 10,
        }
    }

    #[test]
    fn aggregates_connections_as_tr181_says() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let clock = Clock::start();
        let conn = |o, b, e, rx| Conn {
            open_req: ms(o),
            open_resp: ms(o + 1),
            rom: ms(o + 2),
            bom: Some(ms(b)),
            eom: Some(ms(e)),
            rx,
            tx: 50,
            local: Some("10.0.0.1".parse().unwrap()),
        };
        let conns = [conn(0, 10, 100, 1000), conn(5, 20, 90, 2000)];
        let marks = [
            sample(ms(0), 0, 0),
            sample(ms(50), 1500, 60),
            sample(ms(100), 3000, 100),
        ];
        let r = Report {
            dir: Dir::Download,
            conns: &conns,
            first: sample(ms(0), 0, 0),
            last: sample(ms(100), 3000, 100),
            full: Some((sample(ms(20), 500, 100), sample(ms(90), 2500, 100))),
            marks: &marks,
            per_connection: true,
        };
        let v = values(&r, &clock);
        assert_eq!(get(&v, "ROMTime"), clock.datetime(ms(2)));
        assert_eq!(get(&v, "BOMTime"), clock.datetime(ms(10)));
        assert_eq!(get(&v, "EOMTime"), clock.datetime(ms(100)));
        assert_eq!(get(&v, "TCPOpenRequestTime"), clock.datetime(ms(5)));
        assert_eq!(get(&v, "TCPOpenResponseTime"), clock.datetime(ms(6)));
        assert_eq!(get(&v, "TestBytesReceived"), "3000");
        assert_eq!(get(&v, "TotalBytesReceived"), "3000");
        assert_eq!(get(&v, "TotalBytesSent"), "100");
        assert_eq!(get(&v, "TestBytesReceivedUnderFullLoading"), "2000");
        assert_eq!(get(&v, "PeriodOfFullLoading"), "70000");
        assert_eq!(get(&v, "IPAddressUsed"), "10.0.0.1");
        assert_eq!(get(&v, "PerConnectionResultNumberOfEntries"), "2");
        assert_eq!(get(&v, "PerConnectionResult.2.TestBytesReceived"), "2000");
        assert_eq!(
            get(&v, "PerConnectionResult.2.BOMTime"),
            clock.datetime(ms(20))
        );
        assert_eq!(get(&v, "IncrementalResultNumberOfEntries"), "2");
        assert_eq!(get(&v, "IncrementalResult.2.TestBytesReceived"), "1500");
        assert_eq!(get(&v, "IncrementalResult.1.TotalBytesSent"), "60");
        assert_eq!(
            get(&v, "IncrementalResult.2.EndTime"),
            clock.datetime(ms(100))
        );
    }

    #[test]
    fn upload_names_and_no_tables_unless_asked() {
        let t0 = Instant::now();
        let c = Conn {
            open_req: t0,
            open_resp: t0,
            rom: t0,
            bom: None,
            eom: None,
            rx: 10,
            tx: 99,
            local: None,
        };
        let r = Report {
            dir: Dir::Upload,
            conns: std::slice::from_ref(&c),
            first: sample(t0, 0, 0),
            last: sample(t0, 10, 99),
            full: None,
            marks: &[],
            per_connection: false,
        };
        let v = values(&r, &Clock::start());
        assert_eq!(get(&v, "TestBytesSent"), "99");
        assert_eq!(get(&v, "BOMTime"), crate::time::UNKNOWN_TIME);
        assert_eq!(get(&v, "TestBytesSentUnderFullLoading"), "0");
        assert_eq!(get(&v, "PerConnectionResultNumberOfEntries"), "0");
        assert!(!v
            .iter()
            .any(|(k, _)| k.starts_with("PerConnectionResult.") || k == "IPAddressUsed"));
    }

    #[test]
    fn error_states_exist_in_each_objects_enumeration() {
        // The DiagnosticsState enumerations of TR-181 2.19.
        let download =
            "Error_CannotResolveHostName Error_NoRouteToHost Error_InitConnectionFailed \
            Error_NoResponse Error_TransferFailed Error_PasswordRequestFailed Error_LoginFailed \
            Error_NoTransferMode Error_NoPASV Error_IncorrectSize Error_Timeout Error_Internal \
            Error_Other Canceled";
        let upload = "Error_CannotResolveHostName Error_NoRouteToHost Error_InitConnectionFailed \
            Error_NoResponse Error_PasswordRequestFailed Error_LoginFailed Error_NoTransferMode \
            Error_NoPASV Error_NoCWD Error_NoSTOR Error_NoTransferComplete Error_Timeout \
            Error_Internal Error_Other Canceled";
        let fails = [
            Fail::Init,
            Fail::NoResponse,
            Fail::Status,
            Fail::Transfer,
            Fail::Size,
            Fail::Timeout,
            Fail::Canceled,
            Fail::Internal,
            Fail::PasswordRequest,
            Fail::Login,
            Fail::NoTransferMode,
            Fail::NoPasv,
            Fail::NoCwd,
            Fail::NoStor,
        ];
        for f in fails {
            let d = state(Dir::Download, f);
            let u = state(Dir::Upload, f);
            assert!(download.split_whitespace().any(|s| s == d), "{f:?} {d}");
            assert!(upload.split_whitespace().any(|s| s == u), "{f:?} {u}");
        }
        assert_eq!(state(Dir::Download, Fail::Status), "Error_TransferFailed");
        assert_eq!(state(Dir::Download, Fail::Size), "Error_IncorrectSize");
        assert_eq!(state(Dir::Upload, Fail::NoStor), "Error_NoSTOR");
    }
}
