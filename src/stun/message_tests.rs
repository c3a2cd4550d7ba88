use super::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RFC 5769 §2.2: sample IPv4 response (SOFTWARE, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY,
/// FINGERPRINT).
const RFC5769_V4: &str = "0101 003c 2112 a442 b7e7 a701 bc34 d686 fa87 dfae
    8022 000b 7465 7374 2076 6563 746f 7220
    0020 0008 0001 a147 e112 a643
    0008 0014 2b91 f599 fd9e 90c3 8c74 89f9 2af9 ba53 f06b e7d7
    8028 0004 c07d 4c96";

/// Checks MESSAGE-INTEGRITY the way a server does (RFC 5389 §15.4): HMAC over the message up
/// to the attribute, with the length field counting up to the end of it.
fn integrity_ok(msg: &[u8], key: &[u8]) -> bool {
    let mut at = 20;
    while at + 4 <= msg.len() {
        let ty = u16::from_be_bytes([msg[at], msg[at + 1]]);
        let len = usize::from(u16::from_be_bytes([msg[at + 2], msg[at + 3]]));
        if ty == ATTR_MESSAGE_INTEGRITY {
            let mut head = msg[..at].to_vec();
            let l = (at + 24 - 20) as u16;
            head[2..4].copy_from_slice(&l.to_be_bytes());
            return hmac_sha1(key, &head)[..] == msg[at + 4..at + 24];
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    false
}

#[test]
fn decodes_the_rfc5769_ipv4_response() {
    let msg = unhex(RFC5769_V4);
    assert_eq!(
        decode_response(&msg),
        Ok(Response::Mapped("192.0.2.1:32853".parse().unwrap()))
    );
    assert!(integrity_ok(&msg, b"VOkJxbRl1RmTxUk/WvJxBt"));
    assert!(!integrity_ok(&msg, b"wrong"));
}

#[test]
fn plain_mapped_address_and_xor_preferred() {
    let mut msg =
        unhex("0101 000c 2112 a442 000000000000000000000001 0001 0008 0001 1f90 0a000001");
    assert_eq!(
        decode_response(&msg),
        Ok(Response::Mapped("10.0.0.1:8080".parse().unwrap()))
    );
    // An RFC 3489 server (no cookie) only has MAPPED-ADDRESS; XOR would be meaningless.
    msg[4..8].copy_from_slice(&[9, 9, 9, 9]);
    assert_eq!(
        decode_response(&msg),
        Ok(Response::Mapped("10.0.0.1:8080".parse().unwrap()))
    );
}

#[test]
fn error_response_gives_its_code() {
    let msg =
        unhex("0111 0010 2112 a442 000000000000000000000001 0009 000c 00000401 556e617574686f72");
    assert_eq!(decode_response(&msg), Ok(Response::Error(401)));
}

#[test]
fn request_carries_the_annex_g_attributes() {
    let txid = [7u8; 12];
    let plain = encode_request(&BindingRequest {
        txid,
        ..Default::default()
    });
    assert_eq!(plain.len(), 20 + 24);
    assert_eq!(&plain[..4], &[0, 1, 0, 24]);
    assert_eq!(&plain[4..8], &MAGIC_COOKIE.to_be_bytes());
    assert_eq!(&plain[8..20], &txid);
    assert_eq!(&plain[20..24], &[0xc0, 0x01, 0, 20]);
    assert_eq!(&plain[24..44], b"dslforum.org/TR-111 ");
    assert!(is_stun(&plain));
    assert_eq!(super::txid(&plain), Some(txid));

    let changed = encode_request(&BindingRequest {
        txid,
        binding_change: true,
        credentials: None,
    });
    assert_eq!(&changed[44..], &[0xc0, 0x02, 0, 0]);
    assert_eq!(&changed[2..4], &[0, 28]);
}

#[test]
fn request_with_credentials_has_valid_integrity() {
    let msg = encode_request(&BindingRequest {
        txid: [1; 12],
        binding_change: false,
        credentials: Some(("cpe", "secret")),
    });
    assert!(is_stun(&msg));
    // USERNAME "cpe" padded to 4, then MESSAGE-INTEGRITY last.
    assert_eq!(&msg[44..52], &[0, 6, 0, 3, b'c', b'p', b'e', 0]);
    assert_eq!(&msg[52..56], &[0, 8, 0, 20]);
    assert_eq!(msg.len(), 76);
    assert!(integrity_ok(&msg, b"secret"));
    assert!(!integrity_ok(&msg, b"other"));
}

#[test]
fn garbage_is_refused_without_panic() {
    assert_eq!(decode_response(b""), Err(DecodeError::NotStun));
    assert_eq!(
        decode_response(b"GET http://x?ts=1 HTTP/1.1\r\n\r\n"),
        Err(DecodeError::NotStun)
    );
    // An attribute running past the end.
    let bad = unhex("0101 0008 2112 a442 000000000000000000000001 0020 00ff 0001 0000");
    assert_eq!(decode_response(&bad), Err(DecodeError::NotStun));
    // A request is not a response.
    let req = encode_request(&BindingRequest::default());
    assert_eq!(decode_response(&req), Err(DecodeError::Unexpected(1)));
    // Success without an address; an address with a bad family.
    let none = unhex("0101 0000 2112 a442 000000000000000000000001");
    assert_eq!(decode_response(&none), Err(DecodeError::NoAddress));
    let fam = unhex("0101 000c 2112 a442 000000000000000000000001 0001 0008 0003 1f90 0a000001");
    assert_eq!(decode_response(&fam), Err(DecodeError::NoAddress));
    // Every prefix and every single-byte corruption of a valid message is handled.
    let good = unhex(RFC5769_V4);
    for n in 0..good.len() {
        let _ = decode_response(&good[..n]);
        for b in [0u8, 0xff] {
            let mut m = good.clone();
            m[n] = b;
            let _ = decode_response(&m);
        }
    }
}

#[test]
fn ipv6_xor_mapped_address() {
    // RFC 5769 §2.3: 2001:db8:1234:5678:11:2233:4455:6677 port 32853.
    let msg = unhex(
        "0101 0018 2112 a442 b7e7 a701 bc34 d686 fa87 dfae
         0020 0014 0002 a147 0113 a9fa a5d3 f179 bc25 f4b5 bed2 b9d9",
    );
    assert_eq!(
        decode_response(&msg),
        Ok(Response::Mapped(
            "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                .parse()
                .unwrap()
        ))
    );
}
