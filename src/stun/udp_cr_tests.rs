use super::*;

const NOW: i64 = 1_780_000_000;

fn msg(ts: i64, id: &str, un: &str, cn: &str, sig: &str) -> Vec<u8> {
    format!(
        "GET http://192.0.2.1:7547?ts={ts}&id={id}&un={un}&cn={cn}&sig={sig} HTTP/1.1\r\nHost: 192.0.2.1:7547\r\n\r\n"
    )
    .into_bytes()
}

fn signed(ts: i64, id: &str) -> Vec<u8> {
    msg(
        ts,
        id,
        "acs",
        "c0ffee",
        &signature(ts, id, "acs", "c0ffee", "pw"),
    )
}

#[test]
fn signature_is_hmac_sha1_of_the_four_fields() {
    // Python: hmac.new(b"pw", b"1780000000" b"42" b"acs" b"c0ffee", hashlib.sha1).hexdigest()
    let want = crate::crypto::hmac_sha1(b"pw", b"178000000042acsc0ffee");
    let hex: String = want.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signature(NOW, "42", "acs", "c0ffee", "pw"), hex);
}

#[test]
fn parses_the_genieacs_form() {
    let cr = parse(&msg(NOW, "7", "a%20b", "x+y", "AB")).unwrap();
    assert_eq!(
        cr,
        UdpCr {
            ts: NOW,
            id: "7".into(),
            un: "a b".into(),
            cn: "x y".into(),
            sig: "AB".into()
        }
    );
}

#[test]
fn accepts_a_valid_message_once() {
    let mut auth = UdpCrAuth::new();
    assert_eq!(auth.check(&signed(NOW, "1"), NOW, "acs", "pw"), Ok(()));
    // The ACS sends each message about three times: the copies are refused.
    assert_eq!(
        auth.check(&signed(NOW, "1"), NOW, "acs", "pw"),
        Err(Refusal::Replayed)
    );
    assert_eq!(auth.check(&signed(NOW, "2"), NOW + 1, "acs", "pw"), Ok(()));
}

#[test]
fn upper_case_signature_is_accepted() {
    let sig = signature(NOW, "9", "acs", "c0ffee", "pw").to_uppercase();
    let mut auth = UdpCrAuth::new();
    assert_eq!(
        auth.check(&msg(NOW, "9", "acs", "c0ffee", &sig), NOW, "acs", "pw"),
        Ok(())
    );
}

#[test]
fn refusals() {
    let mut auth = UdpCrAuth::new();
    let bad_sig = msg(NOW, "1", "acs", "c0ffee", &"0".repeat(40));
    assert_eq!(
        auth.check(&bad_sig, NOW, "acs", "pw"),
        Err(Refusal::BadSignature)
    );
    assert_eq!(
        auth.check(&signed(NOW, "1"), NOW, "acs", "other"),
        Err(Refusal::BadSignature)
    );
    assert_eq!(
        auth.check(&signed(NOW, "1"), NOW, "someone", "pw"),
        Err(Refusal::BadUsername)
    );
    assert_eq!(
        auth.check(&signed(NOW, "1"), NOW, "", ""),
        Err(Refusal::NotConfigured)
    );
    assert_eq!(
        auth.check(&signed(NOW - TS_WINDOW - 1, "1"), NOW, "acs", "pw"),
        Err(Refusal::Stale)
    );
    assert_eq!(
        auth.check(&signed(NOW + TS_WINDOW + 1, "1"), NOW, "acs", "pw"),
        Err(Refusal::Stale)
    );
    // Refusals remember nothing: the same id, now valid, passes.
    assert_eq!(auth.check(&signed(NOW, "1"), NOW, "acs", "pw"), Ok(()));
    // Older than the last accepted one, though within the window.
    assert_eq!(
        auth.check(&signed(NOW - 10, "2"), NOW, "acs", "pw"),
        Err(Refusal::Stale)
    );
}

#[test]
fn unset_clock_skips_the_window_but_not_the_ordering() {
    let mut auth = UdpCrAuth::new();
    assert_eq!(auth.check(&signed(NOW, "1"), 100, "acs", "pw"), Ok(()));
    assert_eq!(
        auth.check(&signed(NOW - 1, "2"), 100, "acs", "pw"),
        Err(Refusal::Stale)
    );
}

#[test]
fn replay_memory_is_bounded() {
    let mut auth = UdpCrAuth::new();
    for i in 0..(SEEN_IDS + 10) {
        assert_eq!(
            auth.check(&signed(NOW, &i.to_string()), NOW, "acs", "pw"),
            Ok(())
        );
    }
    assert_eq!(auth.seen.len(), SEEN_IDS);
    // The newest ids are still refused.
    let last = (SEEN_IDS + 9).to_string();
    assert_eq!(
        auth.check(&signed(NOW, &last), NOW, "acs", "pw"),
        Err(Refusal::Replayed)
    );
}

#[test]
fn malformed_messages() {
    let cases: [&[u8]; 9] = [
        b"",
        b"GET",
        b"POST http://h?ts=1&id=1&un=a&cn=b&sig=c HTTP/1.1\r\n\r\n",
        b"GET http://h HTTP/1.1\r\n\r\n",
        b"GET http://h?ts=1&id=1&un=a&cn=b HTTP/1.1\r\n\r\n",
        b"GET http://h?ts=x&id=1&un=a&cn=b&sig=c HTTP/1.1\r\n\r\n",
        b"GET http://h?ts=1&id=&un=a&cn=b&sig=c HTTP/1.1\r\n\r\n",
        b"GET http://h?ts=1&id=1&un=a&cn=b&sig=c FTP/1.0\r\n\r\n",
        b"\xff\xfe GET",
    ];
    for c in cases {
        assert_eq!(
            parse(c),
            Err(Refusal::Malformed),
            "{:?}",
            String::from_utf8_lossy(c)
        );
    }
    assert_eq!(parse(&vec![b'G'; MAX_MESSAGE + 1]), Err(Refusal::Malformed));
    // Truncated escapes do not panic.
    for s in ["%", "%4", "%zz", "a%"] {
        let m = format!("GET http://h?ts=1&id=1&un={s}&cn=b&sig=c HTTP/1.1\r\n\r\n");
        assert!(parse(m.as_bytes()).is_ok());
    }
}
