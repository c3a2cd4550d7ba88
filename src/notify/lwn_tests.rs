use super::*;
use crate::soap::xsd_check::{validate_lwn_with_xmllint, xmllint_available};
use std::path::PathBuf;

fn id() -> Identity {
    Identity {
        username: "acs<user>".into(),
        oui: "00147f".into(),
        product_class: "Box & Co".into(),
        serial_number: "SN1".into(),
    }
}

fn pv(name: &str, value: &str, ty: ParamType) -> ParamValue {
    ParamValue {
        name: name.into(),
        value: value.into(),
        ty,
    }
}

/// The schema dir, or None when xmllint or ../shared is missing (the test then only checks
/// what it can without them).
fn xsd_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/spec/xsd");
    let ok = dir
        .join("cwmp-UDPLightweightNotification-1-0.xsd")
        .is_file();
    if !ok || !xmllint_available() {
        eprintln!("note: xmllint or ../shared missing; skipping XSD validation");
        return None;
    }
    Some(dir)
}

/// The body of a datagram, after checking its framing and signature.
fn body_of(d: &[u8], password: &str) -> String {
    verify(d, password).unwrap_or_else(|e| panic!("{e}")).1
}

#[test]
fn message_validates_against_the_xsd_with_every_type_and_escaping() {
    let params = [
        pv("Device.A.S", "x <&> \"y\" 'z'", ParamType::String),
        pv("Device.A.I", "-3", ParamType::Int),
        pv("Device.A.U", "7", ParamType::UnsignedInt),
        pv("Device.A.L", "-9000000000", ParamType::Long),
        pv("Device.A.UL", "9000000000", ParamType::UnsignedLong),
        pv("Device.A.B", "true", ParamType::Boolean),
        pv("Device.A.D", "2024-01-02T03:04:05Z", ParamType::DateTime),
        pv("Device.A.B64", "aGVsbG8=", ParamType::Base64),
        pv("Device.A.H", "0aFF", ParamType::HexBinary),
        pv("Device.A.Empty", "", ParamType::String),
    ];
    let xml = encode_xml(1_700_000_000, "0123abcd", &id(), &params);
    assert!(xml.contains("<lwn:UN>acs&lt;user&gt;</lwn:UN>"), "{xml}");
    assert!(
        xml.contains("<lwn:OUI>00147F</lwn:OUI>"),
        "OUI upper-cased: {xml}"
    );
    assert!(xml.contains("<lwn:TS>1700000000</lwn:TS>"), "{xml}");
    if let Some(dir) = xsd_dir() {
        validate_lwn_with_xmllint(xml.as_bytes(), &dir).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn the_xsd_check_is_not_vacuous() {
    let Some(dir) = xsd_dir() else { return };
    let good = encode_xml(1, "c", &id(), &[pv("Device.X", "1", ParamType::String)]);
    // Unqualified children (the digest's example form), no Param, a bad OUI: all invalid.
    let unqualified = good
        .replace("<lwn:TS>", "<TS>")
        .replace("</lwn:TS>", "</TS>");
    let no_param = encode_xml(1, "c", &id(), &[]);
    let bad_oui = good.replace("00147F", "0014ZZ");
    for bad in [unqualified, no_param, bad_oui] {
        assert!(
            validate_lwn_with_xmllint(bad.as_bytes(), &dir).is_err(),
            "accepted: {bad}"
        );
    }
}

#[test]
fn over_long_fields_are_cut_to_the_xsd_limits() {
    let long = Identity {
        username: "u".repeat(300),
        oui: "00147F".into(),
        product_class: "é".repeat(100),
        serial_number: "s".repeat(65),
    };
    let name = format!("Device.{}", "N".repeat(300));
    let xml = encode_xml(1, "c", &long, &[pv(&name, "v", ParamType::String)]);
    assert!(xml.contains(&format!("<lwn:UN>{}</lwn:UN>", "u".repeat(256))));
    assert!(xml.contains(&format!(
        "<lwn:ProductClass>{}</lwn:ProductClass>",
        "é".repeat(64)
    )));
    if let Some(dir) = xsd_dir() {
        validate_lwn_with_xmllint(xml.as_bytes(), &dir).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn signature_is_hmac_sha1_of_the_body_with_the_acs_password() {
    let body = encode_xml(5, "cn", &id(), &[pv("Device.X", "1", ParamType::String)]);
    let d = datagram("10.0.0.1:7547", "s3cret", &body);
    let text = String::from_utf8(d.clone()).unwrap();
    assert!(
        text.starts_with("POST / HTTP/1.1\r\nHost: 10.0.0.1:7547\r\n"),
        "{text}"
    );
    assert!(text.contains("\r\nContent-Type: text/xml; charset=utf-8\r\n"));
    // Independent HMAC: OpenSSL's.
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let key = PKey::hmac(b"s3cret").unwrap();
    let mut s = Signer::new(MessageDigest::sha1(), &key).unwrap();
    s.update(body.as_bytes()).unwrap();
    let want: String = s
        .sign_to_vec()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert!(
        text.contains(&format!("\r\nSignature: {want}\r\n\r\n")),
        "{text}"
    );
    assert_eq!(body_of(&d, "s3cret"), body);
    // The wrong key, a changed body, a wrong length: all refused.
    assert!(verify(&d, "other").is_err());
    let tampered = text.replace("<lwn:TS>5<", "<lwn:TS>6<");
    assert!(verify(tampered.as_bytes(), "s3cret").is_err());
    let longer = format!("{text} ");
    assert!(verify(longer.as_bytes(), "s3cret").is_err());
}

#[test]
fn host_header_brackets_ipv6() {
    assert_eq!(host_header("::1", 7547), "[::1]:7547");
    assert_eq!(host_header("acs.example", 9), "acs.example:9");
}

#[test]
fn many_changes_split_into_datagrams_under_the_target_each_signed_with_its_cnonce() {
    let params: Vec<ParamValue> = (0..60)
        .map(|i| {
            pv(
                &format!("Device.X.{i}.Value"),
                &"v".repeat(40),
                ParamType::String,
            )
        })
        .collect();
    let mut n = 0;
    let packed = pack(9, &id(), &params, "h:1", "pw", || {
        n += 1;
        format!("cn{n}")
    });
    assert!(packed.datagrams.len() > 1, "60 x ~100 bytes need several");
    assert!(packed.dropped.is_empty());
    let mut names = Vec::new();
    for (i, d) in packed.datagrams.iter().enumerate() {
        assert!(
            d.len() <= TARGET_DATAGRAM,
            "datagram {i}: {} bytes",
            d.len()
        );
        let body = body_of(d, "pw");
        assert!(body.contains(&format!("<lwn:CN>cn{}</lwn:CN>", i + 1)));
        names.extend(
            body.split("<lwn:Name>")
                .skip(1)
                .map(|s| s.split('<').next().unwrap().to_string()),
        );
        if let Some(dir) = xsd_dir() {
            validate_lwn_with_xmllint(body.as_bytes(), &dir).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let want: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, want, "every change once, in order");
}

#[test]
fn a_large_value_goes_alone_and_an_oversized_one_is_dropped() {
    let params = [
        pv("Device.Small", "1", ParamType::String),
        pv("Device.Big", &"b".repeat(5000), ParamType::String),
        pv("Device.Huge", &"h".repeat(MAX_DATAGRAM), ParamType::String),
        pv("Device.After", "2", ParamType::String),
    ];
    let packed = pack(1, &id(), &params, "h:1", "pw", || "c".into());
    assert_eq!(packed.dropped, ["Device.Huge"]);
    let bodies: Vec<String> = packed.datagrams.iter().map(|d| body_of(d, "pw")).collect();
    assert_eq!(bodies.len(), 3, "small | big | after");
    assert!(bodies[1].contains("Device.Big") && !bodies[1].contains("Device.Small"));
    assert!(packed.datagrams.iter().all(|d| d.len() <= MAX_DATAGRAM));
    assert!(pack(1, &id(), &[], "h:1", "pw", || "c".into())
        .datagrams
        .is_empty());
}

#[test]
fn destination_defaults_to_the_acs_host() {
    assert_eq!(
        destination_host(" lwn.example ", "http://acs:1/").as_deref(),
        Some("lwn.example")
    );
    assert_eq!(
        destination_host("", "http://ACS.example:7557/x").as_deref(),
        Some("acs.example")
    );
    assert_eq!(
        destination_host("", "http://[fe80::1]:80/").as_deref(),
        Some("fe80::1")
    );
    assert_eq!(destination_host("[::1]", "").as_deref(), Some("::1"));
    assert_eq!(destination_host("", "not a url"), None);
}

#[test]
fn trigger_follows_interval_and_phase_and_zero_disables_it() {
    assert_eq!(next_trigger(1000, 0, None, 0), None);
    assert_eq!(next_trigger(1000, 60, Some(30), 0), Some(1050));
    assert_eq!(
        next_trigger(1050, 60, Some(30), 0),
        Some(1110),
        "strictly after now"
    );
    // The Unknown Time: the phase is the start time.
    assert_eq!(
        next_trigger(1000, 60, Some(UNKNOWN_TIME_UNIX), 995),
        Some(1055)
    );
}

#[test]
fn levels() {
    let lw: Vec<u8> = (0..=7).filter(|l| is_lightweight(*l)).collect();
    assert_eq!(lw, [3, 4, 5, 6]);
    let active: Vec<u8> = (0..=7).filter(|l| is_active_lightweight(*l)).collect();
    assert_eq!(active, [5, 6]);
}

#[test]
fn verify_rejects_garbage_without_panicking() {
    for bad in [
        &b""[..],
        b"\xff\xfe",
        b"GET / HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\nSignature: 00\r\n\r\n",
    ] {
        assert!(verify(bad, "pw").is_err());
    }
}
