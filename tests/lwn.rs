//! UDP Lightweight Notifications (TR-069 Annex M) from the real daemon: a UDP receiver in the
//! test takes each datagram, checks its framing and HMAC-SHA1 signature with OpenSSL, and
//! validates the document against cwmp-UDPLightweightNotification-1-0.xsd with xmllint.

mod common;

#[allow(dead_code)]
#[path = "../src/soap/xsd_check.rs"]
mod xsd_check;

use common::acs::AcsOpts;
use common::soap::{self, value_of};
use common::{Rig, WAIT};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";
/// UCI lines for a value-change poll every second.
const NOTIFY_FAST: &str =
    "\toption periodic_notify_enable '1'\n\toption periodic_notify_interval '1'\n";

/// A UDP receiver on loopback and its port.
fn receiver() -> (UdpSocket, u16) {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let port = rx.local_addr().expect("local addr").port();
    (rx, port)
}

/// The next datagram within `wait`.
fn recv(rx: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    rx.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = vec![0u8; 65536];
    let (n, _) = rx.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// The `lwn` section: on, to 127.0.0.1:`port`.
fn lwn_section(enable: bool, port: u16) -> String {
    format!(
        "\nconfig lwn 'lwn'\n\toption enable '{}'\n\toption hostname '127.0.0.1'\n\
         \toption port '{port}'\n",
        u8::from(enable)
    )
}

/// What a receiver checks: an HTTP-like POST, Content-Length, a Signature that is the
/// HMAC-SHA1 of the body under the ACS password (OpenSSL's, not the daemon's code), and a
/// body valid against the XSD. Returns the body.
fn check(datagram: &[u8], password: &str) -> String {
    let text = String::from_utf8(datagram.to_vec()).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let mut lines = head.split("\r\n");
    assert_eq!(lines.next(), Some("POST / HTTP/1.1"), "{text}");
    let header = |name: &str| {
        head.split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    assert_eq!(
        header("Content-Type").as_deref(),
        Some("text/xml; charset=utf-8")
    );
    assert_eq!(header("Content-Length"), Some(body.len().to_string()));
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let key = PKey::hmac(password.as_bytes()).expect("hmac key");
    let mut signer = Signer::new(MessageDigest::sha1(), &key).expect("signer");
    signer.update(body.as_bytes()).expect("update");
    let want: String = signer
        .sign_to_vec()
        .expect("sign")
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(header("Signature"), Some(want), "{text}");
    let xsd = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/xsd");
    if xsd.is_dir() && xsd_check::xmllint_available() {
        xsd_check::validate_lwn_with_xmllint(body.as_bytes(), &xsd)
            .unwrap_or_else(|e| panic!("LWN not XSD-valid: {e}"));
    } else {
        eprintln!("note: xmllint or ../shared missing; LWN XSD validation skipped");
    }
    body.to_string()
}

/// `<lwn:Name>name</lwn:Name><lwn:Value xsi:type="ty">value</lwn:Value>` is in `body`.
fn carries(body: &str, name: &str, ty: &str, value: &str) -> bool {
    body.contains(&format!(
        "<lwn:Param><lwn:Name>{name}</lwn:Name><lwn:Value xsi:type=\"{ty}\">{value}</lwn:Value></lwn:Param>"
    ))
}

#[test]
fn an_active_lightweight_change_is_sent_signed_and_xsd_valid_without_a_session() {
    let (rx, port) = receiver();
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(PII, 5)])], |o| {
        o.extra_cpe = format!("{NOTIFY_FAST}{}", lwn_section(true, port));
    });
    rig.wait_answer("SetParameterAttributes", 1);
    rig.wait_settled();
    let before = rig.acs.msgs().len();
    let o = rig.cpe.cli(&["set", PII, "4321"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let changed = Instant::now();
    let d = recv(&rx, WAIT).unwrap_or_else(|| rig.fail("no lightweight notification", ""));
    let latency = changed.elapsed();
    let body = check(&d, "acspass");
    assert!(body.contains("<lwn:UN>acsuser</lwn:UN>"), "{body}");
    assert!(carries(&body, PII, "xsd:unsignedInt", "4321"), "{body}");
    // One poll period (1 s) plus slack.
    assert!(latency < Duration::from_secs(5), "sent after {latency:?}");
    // Level 5 is lightweight only: no session, and no second message for the same change.
    assert!(recv(&rx, Duration::from_secs(2)).is_none(), "sent twice");
    assert_eq!(rig.acs.msgs().len(), before, "level 5 opened a session");
    // GPA reads the level back and every message stays XSD-valid.
    let msgs = rig.session(&[soap::gpa(&[PII])]);
    let gpa = rig.answer(&msgs, "GetParameterAttributes");
    assert!(
        gpa.body.contains("<Notification>5</Notification>"),
        "{}",
        gpa.body
    );
    rig.assert_xsd_valid();
}

#[test]
fn level_6_sends_the_lightweight_notification_and_reports_passively_in_the_next_inform() {
    let (rx, port) = receiver();
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(PII, 6)])], |o| {
        o.extra_cpe = format!("{NOTIFY_FAST}{}", lwn_section(true, port));
    });
    rig.wait_settled();
    let before = rig.acs.msgs().len();
    let o = rig.cpe.cli(&["set", PII, "777"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let d = recv(&rx, WAIT).unwrap_or_else(|| rig.fail("no lightweight notification", ""));
    assert!(carries(
        &check(&d, "acspass"),
        PII,
        "xsd:unsignedInt",
        "777"
    ));
    // Passive on the CWMP side: no session of its own...
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(rig.acs.msgs().len(), before, "level 6 opened a session");
    // ...but the next session carries it with 4 VALUE CHANGE.
    rig.kick();
    let inform = rig.wait_inform("6 CONNECTION REQUEST", 1);
    assert!(inform.has_event("4 VALUE CHANGE"), "{}", inform.body);
    assert_eq!(
        value_of(&inform.values(), PII),
        Some("777"),
        "{}",
        inform.body
    );
    rig.wait_idle();
    rig.assert_xsd_valid();
}

#[test]
fn nothing_is_sent_with_lwn_enable_0() {
    let (rx, port) = receiver();
    let rig = Rig::with(AcsOpts::default(), &[soap::spa(&[(PII, 5)])], |o| {
        o.extra_cpe = format!("{NOTIFY_FAST}{}", lwn_section(false, port));
    });
    rig.wait_settled();
    let o = rig.cpe.cli(&["set", PII, "4321"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // Several poll periods: the change is seen, and not sent.
    assert!(
        recv(&rx, Duration::from_secs(4)).is_none(),
        "sent with lwn.enable 0"
    );
}

#[test]
fn the_acs_turns_lightweight_notifications_on_through_the_management_server_parameters() {
    let (rx, port) = receiver();
    let port_s = port.to_string();
    let ms = "Device.ManagementServer.";
    let used = format!("{ms}LightweightNotificationProtocolsUsed");
    let host = format!("{ms}UDPLightweightNotificationHost");
    let lwport = format!("{ms}UDPLightweightNotificationPort");
    let rig = Rig::with(
        AcsOpts::default(),
        &[
            soap::spv(
                &[
                    (&used, "UDP", "xsd:string"),
                    (&host, "127.0.0.1", "xsd:string"),
                    (&lwport, &port_s, "xsd:unsignedInt"),
                ],
                "lwn-on",
            ),
            soap::spa(&[(PII, 5)]),
        ],
        |o| o.extra_cpe = NOTIFY_FAST.into(),
    );
    rig.wait_idle();
    // Stored in the `lwn` section, and read back from it.
    let text = rig.cpe.config_text();
    assert!(text.contains("config lwn"), "{text}");
    assert!(text.contains("option hostname '127.0.0.1'"), "{text}");
    assert!(text.contains(&format!("option port '{port}'")), "{text}");
    let msgs = rig.session(&[soap::gpv(&[&used, &host, &lwport])]);
    let values = rig.answer(&msgs, "GetParameterValues").values();
    assert_eq!(value_of(&values, &used), Some("UDP"));
    assert_eq!(value_of(&values, &host), Some("127.0.0.1"));
    assert_eq!(value_of(&values, &lwport), Some(port_s.as_str()));
    let o = rig.cpe.cli(&["set", PII, "99"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let d = recv(&rx, WAIT).unwrap_or_else(|| rig.fail("no lightweight notification", ""));
    assert!(carries(&check(&d, "acspass"), PII, "xsd:unsignedInt", "99"));
    rig.assert_xsd_valid();
}
