//! HMAC (RFC 2104) over the crate's own SHA-1: the signature of UDP Lightweight
//! Notifications (TR-069 Annex M).

use super::sha1;

/// SHA-1's block size in bytes.
const BLOCK: usize = 64;

/// HMAC-SHA1 of `data` under `key` (RFC 2104; keys longer than a block are hashed first).
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&sha1(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Vec::with_capacity(BLOCK + data.len());
    inner.extend(k.iter().map(|b| b ^ 0x36));
    inner.extend_from_slice(data);
    let inner_hash = sha1(&inner);
    let mut outer = Vec::with_capacity(BLOCK + inner_hash.len());
    outer.extend(k.iter().map(|b| b ^ 0x5c));
    outer.extend_from_slice(&inner_hash);
    sha1(&outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn rfc2202_vectors() {
        let cases: [(&[u8], &[u8], &str); 5] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b617318655057264e28bc0b6fb378c8ef146be00",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
            ),
            (
                &[0xaa; 20],
                &[0xdd; 50],
                "125d7342b9ac11cd91a39af48aa17b4f63f175d3",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "aa4ae5e15272d00e95705637ce8a3b55ed402112",
            ),
            (
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
                "e8e99d0f45237d786d6bbaa7965c7808bbff1a91",
            ),
        ];
        for (key, data, want) in cases {
            assert_eq!(hex(&hmac_sha1(key, data)), want);
        }
        // An empty key (OpenSSL refuses one; Python's hmac module gives this).
        assert_eq!(
            hex(&hmac_sha1(b"", b"")),
            "fbdb1d1b18aa6c08324b7d64b71fb76370690e1d"
        );
    }

    #[test]
    fn matches_openssl_for_key_and_data_lengths_around_the_block() {
        use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
        let bytes: Vec<u8> = (0..200u8).collect();
        for klen in [1, 63, 64, 65, 130] {
            for dlen in [0, 1, 55, 56, 64, 119, 200] {
                let (key, data) = (&bytes[..klen], &bytes[..dlen]);
                let pkey = PKey::hmac(key).unwrap();
                let mut s = Signer::new(MessageDigest::sha1(), &pkey).unwrap();
                s.update(data).unwrap();
                assert_eq!(
                    hmac_sha1(key, data).to_vec(),
                    s.sign_to_vec().unwrap(),
                    "key {klen} data {dlen}"
                );
            }
        }
    }
}
