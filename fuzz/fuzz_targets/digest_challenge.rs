//! What an ACS answers in `WWW-Authenticate` (src/http/digest.rs): the challenge parser, the
//! choice of a Digest challenge and the `Authorization` built from it, which must parse back
//! as one Digest credential naming the same realm and nonce.
#![no_main]

use icwmp::http::digest::{parse_challenges, ClientDigest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // One header line per challenge header the ACS sent.
    let challenges = parse_challenges(text.split('\n'));
    let Some(mut client) = ClientDigest::from_challenges(&challenges) else {
        return;
    };
    let header = client.authorization("user", "pass", "POST", "/acs?x=1", "0a4f113b");
    assert_eq!(client.nc(), 1);
    let creds = parse_challenges([header.as_str()]);
    assert_eq!(creds.len(), 1, "{header}");
    assert!(creds[0].is("Digest"), "{header}");
    assert_eq!(creds[0].get("username"), Some("user"), "{header}");
    let offered = challenges.iter().filter(|c| c.is("Digest")).any(|c| {
        c.get("nonce") == creds[0].get("nonce")
            && c.get("realm").unwrap_or("") == creds[0].get("realm").unwrap_or("")
    });
    assert!(
        offered,
        "the credentials name a nonce and realm the ACS offered: {header}"
    );
});
