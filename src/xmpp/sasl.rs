//! SASL for the XMPP client (RFC 6120 section 6): PLAIN (RFC 4616) and SCRAM-SHA-1 (RFC 5802),
//! with PBKDF2-HMAC-SHA1 (RFC 8018) for SCRAM's salted password.

use crate::crypto::{base64_encode, ct_eq, hmac_sha1, sha1};
use std::fmt;

/// The most PBKDF2 iterations a server may ask for: bounds the CPU a hostile server can cost
/// (servers use 4096 to 10000).
pub const MAX_ITERATIONS: u32 = 100_000;

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslError {
    /// The server's message is not what RFC 5802 allows.
    Malformed(&'static str),
    /// The server nonce does not extend ours.
    NonceMismatch,
    /// The iteration count is 0 or over [`MAX_ITERATIONS`].
    Iterations(u32),
    /// The server's signature is wrong: it does not know the password.
    ServerSignature,
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslError::Malformed(w) => write!(f, "malformed SCRAM message: {w}"),
            SaslError::NonceMismatch => write!(f, "SCRAM server nonce does not extend ours"),
            SaslError::Iterations(i) => write!(f, "SCRAM iteration count {i} out of range"),
            SaslError::ServerSignature => write!(f, "SCRAM server signature wrong"),
        }
    }
}

impl std::error::Error for SaslError {}

/// The initial response of PLAIN: `\0user\0password`, base64.
pub fn plain(user: &str, password: &str) -> String {
    base64_encode(format!("\0{user}\0{password}").as_bytes())
}

/// PBKDF2-HMAC-SHA1 with a 20-byte output (SCRAM's `Hi`).
pub fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 20] {
    pbkdf2_block(password, salt, iterations, 1)
}

/// PBKDF2-HMAC-SHA1 (RFC 8018 section 5.2) of any length.
pub fn pbkdf2_hmac_sha1(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    for (i, chunk) in out.chunks_mut(20).enumerate() {
        // Block indexes start at 1; `out` is never anywhere near 2^32 blocks long.
        let block = pbkdf2_block(password, salt, iterations, i as u32 + 1);
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

fn pbkdf2_block(password: &[u8], salt: &[u8], iterations: u32, index: u32) -> [u8; 20] {
    let mut msg = salt.to_vec();
    msg.extend_from_slice(&index.to_be_bytes());
    let mut u = hmac_sha1(password, &msg);
    let mut t = u;
    for _ in 1..iterations {
        u = hmac_sha1(password, &u);
        t.iter_mut().zip(u).for_each(|(a, b)| *a ^= b);
    }
    t
}

/// Escapes a SCRAM user name (`=` and `,`, RFC 5802 section 5.1).
fn saslname(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// A SCRAM-SHA-1 client exchange, without channel binding (`n,,`).
#[derive(Debug)]
pub struct Scram {
    password: String,
    client_first_bare: String,
    cnonce: String,
    server_signature: Option<[u8; 20]>,
}

impl Scram {
    /// Starts an exchange with a client nonce (printable, no `,`), e.g. base64 of random bytes.
    pub fn new(user: &str, password: &str, cnonce: &str) -> Scram {
        Scram {
            password: password.to_owned(),
            client_first_bare: format!("n={},r={cnonce}", saslname(user)),
            cnonce: cnonce.to_owned(),
            server_signature: None,
        }
    }

    /// The client-first-message (to base64 into `<auth mechanism='SCRAM-SHA-1'>`).
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Takes the server-first-message, returns the client-final-message.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, SaslError> {
        let (mut nonce, mut salt, mut iters) = (None, None, None);
        for part in server_first.split(',') {
            match part.split_once('=') {
                Some(("r", v)) => nonce = Some(v),
                Some(("s", v)) => salt = Some(v),
                Some(("i", v)) => iters = Some(v),
                Some(("m", _)) => return Err(SaslError::Malformed("mandatory extension")),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(SaslError::Malformed("no nonce"))?;
        if nonce.len() <= self.cnonce.len() || !nonce.starts_with(&self.cnonce) {
            return Err(SaslError::NonceMismatch);
        }
        let salt = salt
            .and_then(|s| openssl::base64::decode_block(s).ok())
            .ok_or(SaslError::Malformed("salt"))?;
        let iters: u32 = iters
            .and_then(|i| i.parse().ok())
            .ok_or(SaslError::Malformed("iteration count"))?;
        if iters == 0 || iters > MAX_ITERATIONS {
            return Err(SaslError::Iterations(iters));
        }
        let salted = hi(self.password.as_bytes(), &salt, iters);
        let client_key = hmac_sha1(&salted, b"Client Key");
        let stored_key = sha1(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac_sha1(&stored_key, auth_message.as_bytes());
        let mut proof = client_key;
        proof.iter_mut().zip(signature).for_each(|(a, b)| *a ^= b);
        let server_key = hmac_sha1(&salted, b"Server Key");
        self.server_signature = Some(hmac_sha1(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", base64_encode(&proof)))
    }

    /// Checks the server-final-message (`v=...`, the `<success>` payload).
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), SaslError> {
        let want = self
            .server_signature
            .ok_or(SaslError::Malformed("server-final before server-first"))?;
        if server_final.starts_with("e=") {
            return Err(SaslError::ServerSignature);
        }
        let got = server_final
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .and_then(|v| openssl::base64::decode_block(v).ok())
            .ok_or(SaslError::Malformed("no verifier"))?;
        if ct_eq(&got, &want) {
            Ok(())
        } else {
            Err(SaslError::ServerSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Password, salt, iterations, output length, expected hex.
    type Vector = (&'static [u8], &'static [u8], u32, usize, &'static str);

    #[test]
    fn pbkdf2_rfc6070_vectors() {
        let cases: [Vector; 4] = [
            (
                b"password",
                b"salt",
                1,
                20,
                "0c60c80f961f0e71f3a9b524af6012062fe037a6",
            ),
            (
                b"password",
                b"salt",
                2,
                20,
                "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957",
            ),
            (
                b"password",
                b"salt",
                4096,
                20,
                "4b007901b765489abead49d926f721d065a429c1",
            ),
            (
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                25,
                "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038",
            ),
        ];
        for (p, s, c, len, want) in cases {
            let mut out = vec![0u8; len];
            pbkdf2_hmac_sha1(p, s, c, &mut out);
            assert_eq!(hex(&out), want, "c={c}");
        }
        let mut out = [0u8; 16];
        pbkdf2_hmac_sha1(b"pass\0word", b"sa\0lt", 4096, &mut out);
        assert_eq!(hex(&out), "56fa6aa75548099dcc37d7f03425e0c3");
    }

    #[test]
    fn scram_sha1_rfc5802_example() {
        let mut s = Scram::new("user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(s.client_first(), "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let fin = s
            .client_final("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
            .unwrap();
        assert_eq!(
            fin,
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        s.verify_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
            .unwrap();
        assert_eq!(
            s.verify_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKA="),
            Err(SaslError::ServerSignature)
        );
        assert_eq!(
            s.verify_server_final("e=invalid-proof"),
            Err(SaslError::ServerSignature)
        );
    }

    #[test]
    fn scram_refuses_hostile_server_first() {
        let cn = "abc";
        let cases = [
            ("r=xyz1,s=QSXCR+Q6sek8bf92,i=4096", SaslError::NonceMismatch),
            ("r=abc,s=QSXCR+Q6sek8bf92,i=4096", SaslError::NonceMismatch),
            ("r=abcd,s=QSXCR+Q6sek8bf92,i=0", SaslError::Iterations(0)),
            (
                "r=abcd,s=QSXCR+Q6sek8bf92,i=4000000000",
                SaslError::Iterations(4_000_000_000),
            ),
            ("r=abcd,s=!!,i=4096", SaslError::Malformed("salt")),
            (
                "r=abcd,s=QSXCR+Q6sek8bf92",
                SaslError::Malformed("iteration count"),
            ),
            (
                "m=x,r=abcd,s=QSXCR+Q6sek8bf92,i=1",
                SaslError::Malformed("mandatory extension"),
            ),
            ("", SaslError::Malformed("no nonce")),
        ];
        for (msg, want) in cases {
            let mut s = Scram::new("u", "p", cn);
            assert_eq!(s.client_final(msg), Err(want), "{msg}");
        }
        // No verifier accepted before the exchange got that far.
        let s = Scram::new("u", "p", cn);
        assert!(s
            .verify_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
            .is_err());
    }

    #[test]
    fn plain_and_name_escaping() {
        assert_eq!(plain("cpe", "pw"), base64_encode(b"\0cpe\0pw"));
        let s = Scram::new("a=b,c", "p", "n");
        assert_eq!(s.client_first(), "n,,n=a=3Db=2Cc,r=n");
    }
}
