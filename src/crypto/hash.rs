//! One-shot MD5 (RFC 1321), SHA-1 and SHA-256 (FIPS 180-4).
//!
//! All three are Merkle-Damgård hashes over 64-byte blocks with the same padding (a 0x80 byte,
//! zeros, the message length in bits as 64 bits), so [`blocks`] feeds any of them.

/// Calls `f` on each 64-byte block of `data` followed by the padding: 0x80, zeros, and the bit
/// length in the last 8 bytes (little-endian for MD5, big-endian for SHA).
fn blocks(data: &[u8], big_endian_len: bool, mut f: impl FnMut(&[u8])) {
    let mut chunks = data.chunks_exact(64);
    for c in &mut chunks {
        f(c);
    }
    let rem = chunks.remainder();
    let mut tail = [0u8; 128];
    tail[..rem.len()].copy_from_slice(rem);
    tail[rem.len()] = 0x80;
    // The length needs 8 bytes after the 0x80: one block when the remainder is below 56 bytes.
    let n = if rem.len() < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8);
    let len = if big_endian_len {
        bits.to_be_bytes()
    } else {
        bits.to_le_bytes()
    };
    tail[n - 8..n].copy_from_slice(&len);
    tail[..n].chunks_exact(64).for_each(f);
}

/// Word `i` of a block, little-endian (MD5) or big-endian (SHA).
fn word(block: &[u8], i: usize, big_endian: bool) -> u32 {
    let b = [
        block[4 * i],
        block[4 * i + 1],
        block[4 * i + 2],
        block[4 * i + 3],
    ];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// Serialises the state words into the digest bytes.
fn out<const N: usize>(state: &[u32], big_endian: bool) -> [u8; N] {
    let mut d = [0u8; N];
    for (c, w) in d.chunks_exact_mut(4).zip(state) {
        c.copy_from_slice(&if big_endian {
            w.to_be_bytes()
        } else {
            w.to_le_bytes()
        });
    }
    d
}

/// MD5 additive constants: floor(|sin(i + 1)| * 2^32) (RFC 1321 section 3.4).
const MD5_T: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// MD5 rotation amounts: four per round, repeated over the round's 16 steps.
const MD5_S: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

/// The MD5 digest of `data` (HTTP Digest `MD5`; not for anything needing collision resistance).
pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut h: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    blocks(data, false, |blk| {
        let [mut a, mut b, mut c, mut d] = h;
        for (i, t) in MD5_T.iter().enumerate() {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((b & d) | (c & !d), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let x = a
                .wrapping_add(f)
                .wrapping_add(*t)
                .wrapping_add(word(blk, g, false));
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(x.rotate_left(MD5_S[i / 16][i % 4]));
        }
        for (s, v) in h.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    });
    out(&h, false)
}

/// The SHA-1 digest of `data` (name-based UUIDv5).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    blocks(data, true, |blk| {
        // The message schedule as a 16-word ring: W[t] only looks back 16 words.
        let mut w = [0u32; 16];
        for (i, x) in w.iter_mut().enumerate() {
            *x = word(blk, i, true);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for t in 0..80 {
            if t >= 16 {
                let x = w[(t + 13) % 16] ^ w[(t + 8) % 16] ^ w[(t + 2) % 16] ^ w[t % 16];
                w[t % 16] = x.rotate_left(1);
            }
            let (f, k) = match t / 20 {
                0 => ((b & c) | (!b & d), 0x5a827999),
                1 => (b ^ c ^ d, 0x6ed9eba1),
                2 => ((b & c) | (b & d) | (c & d), 0x8f1bbcdc),
                _ => (b ^ c ^ d, 0xca62c1d6),
            };
            let tmp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(w[t % 16]);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = tmp;
        }
        for (s, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *s = s.wrapping_add(v);
        }
    });
    out(&h, true)
}

/// SHA-256 constants: the first 32 bits of the fractional parts of the cube roots of the
/// first 64 primes (FIPS 180-4 section 4.2.2).
const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The SHA-256 digest of `data` (HTTP Digest `SHA-256`).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    blocks(data, true, |blk| {
        let mut w = [0u32; 16];
        for (i, x) in w.iter_mut().enumerate() {
            *x = word(blk, i, true);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for (t, k) in SHA256_K.iter().enumerate() {
            if t >= 16 {
                // W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], in a 16-word ring.
                let w2 = w[(t + 14) % 16];
                let w15 = w[(t + 1) % 16];
                let s0 = w15.rotate_right(7) ^ w15.rotate_right(18) ^ (w15 >> 3);
                let s1 = w2.rotate_right(17) ^ w2.rotate_right(19) ^ (w2 >> 10);
                w[t % 16] = w[t % 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[(t + 9) % 16])
                    .wrapping_add(s1);
            }
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(*k)
                .wrapping_add(w[t % 16]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (s, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *s = s.wrapping_add(v);
        }
    });
    out(&h, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::digest::to_hex;
    use openssl::hash::{hash, MessageDigest};

    const ABC448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    const ABC896: &[u8] = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

    #[test]
    fn md5_rfc1321_suite() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(
                to_hex(&md5(msg)),
                want,
                "MD5({:?})",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn sha1_fips_vectors() {
        let a_million = vec![b'a'; 1_000_000];
        let cases: [(&[u8], &str); 5] = [
            (b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (ABC448, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
            (ABC896, "a49b2446a02c645bf419f995b67091253a04a259"),
            (&a_million, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
        ];
        for (msg, want) in cases {
            assert_eq!(to_hex(&sha1(msg)), want, "SHA-1 of {} bytes", msg.len());
        }
    }

    #[test]
    fn sha256_fips_vectors() {
        let a_million = vec![b'a'; 1_000_000];
        let cases: [(&[u8], &str); 5] = [
            (
                b"",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                b"abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                ABC448,
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                ABC896,
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
            (
                &a_million,
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(to_hex(&sha256(msg)), want, "SHA-256 of {} bytes", msg.len());
        }
    }

    /// Deterministic pseudo-random bytes (xorshift) so a failure can be reproduced.
    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn check_against_openssl(data: &[u8]) {
        let cmp = |md: MessageDigest, ours: &[u8], name: &str| {
            let want = hash(md, data).expect("openssl hash");
            assert_eq!(ours, &want[..], "{name} of {} bytes", data.len());
        };
        cmp(MessageDigest::md5(), &md5(data), "MD5");
        cmp(MessageDigest::sha1(), &sha1(data), "SHA-1");
        cmp(MessageDigest::sha256(), &sha256(data), "SHA-256");
    }

    #[test]
    fn padding_boundaries_match_openssl() {
        // 55 fits the length in one block, 56..63 need a second, 64 is exactly one block.
        for len in [55, 56, 63, 64, 65, 119, 120, 128] {
            check_against_openssl(&vec![b'x'; len]);
        }
    }

    #[test]
    fn every_length_up_to_300_matches_openssl() {
        for len in 0..300 {
            check_against_openssl(&noise(len, (len as u32).wrapping_mul(2654435761)));
        }
    }
}
