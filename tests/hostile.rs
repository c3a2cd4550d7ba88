//! A hostile or broken ACS: each reply here once wedged, bloated or silenced a CPE agent.
//! Every test asserts that the daemon stays alive, stays within its memory budget, does not
//! spin, retries on the backoff schedule with RetryCount counting up, and that the next
//! session works.

mod common;

use common::daemon::{Cpe, CpeOpts};
use common::raw_acs::{envelope, http_200, inform_response, RawAcs, Step};
use std::time::{Duration, Instant};

/// Peak resident memory the daemon may reach in these tests (KiB). The release figures are
/// in `make bench`; a debug build, with its larger code and unoptimised buffers, gets room.
const RSS_BUDGET_KIB: u64 = 32 * 1024;

fn status_kib(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat; 12 and 13 after the name and state.
    n(11) + n(12)
}

/// A daemon retrying after 1-2 s, pointed at `acs`.
fn cpe_for(acs: &RawAcs) -> Cpe {
    let mut o = CpeOpts::new(&acs.url());
    o.extra_acs = "\toption retry_min_wait_interval '1'\n\toption retry_interval_multiplier '2000'\n\toption get_rpc_methods '0'\n".into();
    // The wait for an answer is the session timeout the Inform announces (60 s by default).
    o.extra_cpe = "\toption session_timeout '30'\n".into();
    Cpe::start(o)
}

/// The common verdict: the daemon lives, retried with RetryCount 1 within the backoff, the
/// retry session completed, the loop is idle afterwards (no spin), memory within budget.
fn assert_recovers(acs: &RawAcs, cpe: &mut Cpe, what: &str) {
    let informs = acs
        .wait_informs(2, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", cpe.logs()));
    assert!(
        cpe.exit_status().is_none(),
        "{what}: the daemon died\n{}",
        cpe.logs()
    );
    let retry = informs[1].tag("RetryCount").unwrap_or("?").to_string();
    assert_eq!(
        retry,
        "1",
        "{what}: RetryCount of the retry\n{}",
        cpe.logs()
    );
    // The retry session runs to its end (the ACS's 204 to the empty POST).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cpe.logs().contains("session ended successfully") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        cpe.logs().contains("session ended successfully"),
        "{what}: the retry session did not complete\n{}",
        cpe.logs()
    );
    let pid = cpe.pid().expect("running");
    // Idle now: two seconds cost (almost) no CPU.
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(pid) - before;
    assert!(
        spent <= 10,
        "{what}: {spent} ticks of CPU in 2 idle seconds (spinning)"
    );
    let hwm = status_kib(pid, "VmHWM:");
    assert!(hwm <= RSS_BUDGET_KIB, "{what}: peak RSS {hwm} KiB");
    // And it still answers a connection request with a session. (Its port was free a
    // moment before it started; should another test have taken it meanwhile, the daemon
    // binds it once it is free again.)
    assert!(
        cpe.wait_cr_port(Duration::from_secs(10)),
        "{what}: no CR port"
    );
    cpe.connection_request().expect("connection request");
    acs.wait_informs(3, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{what}: no session after a CR: {e}\n{}", cpe.logs()));
}

/// An ACS that answers the Inform, then sends `hostile` to the empty POST.
fn after_inform(hostile: Step) -> RawAcs {
    RawAcs::start(vec![
        Step::Send(http_200(inform_response("1").as_bytes(), "")),
        hostile,
    ])
}

fn gpv_envelope() -> String {
    envelope(
        "7",
        "<cwmp:GetParameterValues><ParameterNames><string>Device.DeviceInfo.</string></ParameterNames></cwmp:GetParameterValues>",
    )
}

#[test]
fn a_truncated_envelope_after_the_inform_response_is_retried() {
    let whole = gpv_envelope();
    let acs = after_inform(Step::Send(http_200(
        &whole.as_bytes()[..whole.len() / 2],
        "",
    )));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "truncated envelope");
    assert!(cpe.logs().contains("retry 1 in"), "{}", cpe.logs());
}

#[test]
fn a_truncated_inform_response_keeps_the_events_for_the_retry() {
    let ir = inform_response("1");
    let acs = RawAcs::start(vec![Step::Send(http_200(
        &ir.as_bytes()[..ir.len() - 30],
        "",
    ))]);
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "truncated InformResponse");
    let informs = acs.informs();
    assert!(
        informs[1].body.contains("0 BOOTSTRAP"),
        "{}",
        informs[1].body
    );
}

#[test]
fn a_body_shorter_than_its_content_length_is_a_failed_session() {
    // Content-Length promises 1000 bytes; 10 arrive, then the connection closes.
    let acs = after_inform(Step::SendClose(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<soap-env:".to_vec(),
    ));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "short body");
}

#[test]
fn bogus_chunking_is_a_failed_session() {
    let acs = after_inform(Step::SendClose(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\nhello\r\n0\r\n\r\n".to_vec(),
    ));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "bogus chunk size");
}

#[test]
fn a_connection_closed_mid_rpc_is_a_failed_session() {
    // The ACS asks for values, then drops the connection instead of reading our answer.
    let acs = RawAcs::start(vec![
        Step::Send(http_200(inform_response("1").as_bytes(), "")),
        Step::Send(http_200(gpv_envelope().as_bytes(), "")),
        Step::SendClose(Vec::new()),
    ]);
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "closed mid-RPC");
}

#[test]
fn a_100_mb_body_is_refused_within_the_memory_budget() {
    // 100 MB of whitespace inside an element: far past the body limit.
    let mut bytes =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 104857600\r\n\r\n<a>"
            .to_vec();
    bytes.resize(bytes.len() + 8 * 1024 * 1024, b' ');
    let acs = after_inform(Step::SendClose(bytes));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "100 MB body");
}

/// `len` zero bytes, gzip-compressed by the system's gzip (a 1,000:1 bomb).
fn gzip_zeros(len: usize, format: &str) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let (prog, args): (&str, &[&str]) = match format {
        "gzip" => ("gzip", &["-c", "-9"]),
        // zlib framing, as `Content-Encoding: deflate` means.
        _ => (
            "python3",
            &["-c", "import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read(), 9))"],
        ),
    };
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("compressor");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let chunk = vec![0u8; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            if stdin.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n;
        }
    });
    let out = child.wait_with_output().expect("compressed");
    writer.join().expect("writer");
    out.stdout
}

#[test]
fn gzip_and_deflate_bombs_are_refused_within_the_memory_budget() {
    for (format, header) in [("gzip", "gzip"), ("zlib", "deflate")] {
        let bomb = gzip_zeros(256 << 20, format);
        let acs = after_inform(Step::Send(http_200(
            &bomb,
            &format!("Content-Encoding: {header}\r\n"),
        )));
        let mut cpe = cpe_for(&acs);
        assert_recovers(&acs, &mut cpe, &format!("{header} bomb"));
        assert!(cpe.logs().contains("too large"), "{header}: {}", cpe.logs());
    }
}

#[test]
fn entity_expansion_and_external_entities_are_not_honoured() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"><!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"><!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"><!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>"#;
    let body = format!(
        "{laughs}{}",
        envelope(
            "7",
            "<cwmp:GetParameterValues><ParameterNames><string>&lol9;</string></ParameterNames></cwmp:GetParameterValues>"
        )
    );
    let acs = after_inform(Step::Send(http_200(body.as_bytes(), "")));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "billion laughs");

    let xxe = format!(
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>{}"#,
        envelope(
            "8",
            "<cwmp:GetParameterValues><ParameterNames><string>&x;</string></ParameterNames></cwmp:GetParameterValues>"
        )
    );
    let acs = after_inform(Step::Send(http_200(xxe.as_bytes(), "")));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "external entity");
    for p in acs.posts() {
        assert!(!p.body.contains("root:"), "/etc/passwd leaked: {}", p.body);
    }
}

#[test]
fn a_redirect_loop_is_a_failed_session() {
    // Redirected to itself, more often than any client follows.
    let acs = RawAcs::start(Vec::new());
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nLocation: {}\r\nContent-Length: 0\r\n\r\n",
        acs.url()
    );
    for _ in 0..12 {
        acs.push(Step::Send(redirect.clone().into_bytes()));
    }
    let mut cpe = cpe_for(&acs);
    acs.wait_informs(1, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", cpe.logs()));
    // The loop is cut, the session failed, and a retry (once the script is spent) succeeds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cpe.logs().contains("session ended successfully") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(cpe.exit_status().is_none(), "{}", cpe.logs());
    assert!(cpe.logs().contains("session failed"), "{}", cpe.logs());
    assert!(
        cpe.logs().contains("session ended successfully"),
        "{}",
        cpe.logs()
    );
}

#[test]
fn a_silent_or_trickling_acs_times_the_session_out_and_the_retry_works() {
    // One byte every 2 s of a valid response: the session's overall deadline cuts it.
    let reply = http_200(gpv_envelope().as_bytes(), "");
    let acs = after_inform(Step::Trickle(reply, Duration::from_secs(2)));
    let mut cpe = cpe_for(&acs);
    let started = Instant::now();
    assert_recovers(&acs, &mut cpe, "trickling reply");
    assert!(started.elapsed() < Duration::from_secs(60));

    let acs = after_inform(Step::Hang(Duration::from_secs(90)));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "silent ACS");
}

/// An ACS that answers the Inform, then sends `message` (gzip-compressed when `gzip`), and
/// expects a 9004 fault to it in a session that goes on.
fn assert_answered_9004(message: &str, gzip: bool, what: &str) {
    let body = envelope("9", message);
    let reply = if gzip {
        let gz = gzip_bytes(body.as_bytes());
        http_200(&gz, "Content-Encoding: gzip\r\n")
    } else {
        http_200(body.as_bytes(), "")
    };
    let acs = after_inform(Step::Send(reply));
    let cpe = cpe_for(&acs);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cpe.logs().contains("session ended successfully") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let posts = acs.posts();
    let fault = posts
        .iter()
        .find(|p| p.body.contains("<FaultCode>"))
        .unwrap_or_else(|| panic!("{what}: no fault\n{}", cpe.logs()));
    assert_eq!(
        fault.tag("FaultCode"),
        Some("9004"),
        "{what}: {}",
        fault.body
    );
    assert!(
        fault.body.contains(">9<"),
        "{what}: the fault echoes the ID: {}",
        fault.body
    );
    assert!(
        cpe.logs().contains("session ended successfully"),
        "{what}: the session did not go on\n{}",
        cpe.logs()
    );
    let hwm = status_kib(cpe.pid().expect("running"), "VmHWM:");
    assert!(hwm <= RSS_BUDGET_KIB, "{what}: peak RSS {hwm} KiB");
    if common::xsd::available() {
        let checked = common::xsd::extract_body_child(&fault.body)
            .and_then(|(doc, v)| common::xsd::validate_doc(&doc, v));
        assert!(checked.is_ok(), "{what}: {checked:?}\n{}", fault.body);
    }
}

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .args(["-c", "-9"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = data.to_vec();
    let w = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("gzip output");
    let _ = w.join();
    out.stdout
}

#[test]
fn over_budget_requests_get_9004_and_the_session_goes_on() {
    let empties = "<a/>".repeat(200_000);
    assert_answered_9004(
        &format!("<cwmp:GetParameterValues><ParameterNames>{empties}</ParameterNames></cwmp:GetParameterValues>"),
        true,
        "200k empty elements",
    );
    // 50k names fit the 4 MiB message budget but not the names budget.
    let names: String = (0..50_000)
        .map(|i| format!("<string>Device.DeviceInfo.X{i}</string>"))
        .collect();
    assert_answered_9004(
        &format!("<cwmp:GetParameterValues><ParameterNames>{names}</ParameterNames></cwmp:GetParameterValues>"),
        true,
        "GPV of 50k names",
    );
    let params: String = (0..10_000)
        .map(|i| format!("<ParameterValueStruct><Name>Device.X.P{i}</Name><Value>v</Value></ParameterValueStruct>"))
        .collect();
    assert_answered_9004(
        &format!("<cwmp:SetParameterValues><ParameterList>{params}</ParameterList><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>"),
        false,
        "SPV of 10k parameters",
    );
    // 40k namespace declarations on an element inside the request, 4k children.
    let decls: String = (0..40_000)
        .map(|i| format!(" xmlns:n{i}=\"urn:x:{i}\""))
        .collect();
    let children = "<string>Device.</string>".repeat(4_000);
    assert_answered_9004(
        &format!("<cwmp:GetParameterValues><ParameterNames{decls}>{children}</ParameterNames></cwmp:GetParameterValues>"),
        false,
        "namespace flood",
    );
}

#[test]
fn a_message_over_the_size_budget_after_decompression_fails_the_session_and_is_retried() {
    // 150k names: 6 MB once unzipped, from 40 KB on the wire.
    let names: String = (0..150_000)
        .map(|i| format!("<string>Device.DeviceInfo.X{i}</string>"))
        .collect();
    let body = envelope(
        "9",
        &format!("<cwmp:GetParameterValues><ParameterNames>{names}</ParameterNames></cwmp:GetParameterValues>"),
    );
    let acs = after_inform(Step::Send(http_200(
        &gzip_bytes(body.as_bytes()),
        "Content-Encoding: gzip\r\n",
    )));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "GPV of 150k names");
    assert!(cpe.logs().contains("too large"), "{}", cpe.logs());
}

#[test]
fn a_namespace_flood_on_the_request_element_fails_the_session_cheaply() {
    // The flood sits on the method element itself: there is no request to answer.
    let decls: String = (0..40_000)
        .map(|i| format!(" xmlns:n{i}=\"urn:x:{i}\""))
        .collect();
    let children = "<string>Device.</string>".repeat(4_000);
    let body = envelope(
        "9",
        &format!("<cwmp:GetParameterValues{decls}><ParameterNames>{children}</ParameterNames></cwmp:GetParameterValues>"),
    );
    let acs = after_inform(Step::Send(http_200(body.as_bytes(), "")));
    let mut cpe = cpe_for(&acs);
    assert_recovers(&acs, &mut cpe, "namespace flood on the method");
}
