//! The small cryptographic pieces the daemon needs outside TLS: MD5/SHA-256 for HTTP Digest,
//! SHA-1 for UUIDv5, HMAC-SHA1 for lightweight notifications, kernel randomness for nonces and
//! jitter, constant-time comparison and base64 for Basic credentials.
//!
//! Written here rather than taken from OpenSSL because any call into libcrypto's EVP or RAND
//! layer initialises OpenSSL 3's provider machinery, which faults in ~2 MB of libcrypto pages.
//! A daemon talking plain HTTP to its ACS then never touches libcrypto at all; TLS still uses
//! OpenSSL (src/http/tls.rs, src/transfer/ftp.rs).

mod hash;
mod hmac;

pub use hash::{md5, sha1, sha256};
pub use hmac::hmac_sha1;

use std::io;

/// Fills `buf` with random bytes from the kernel (getrandom(2), or /dev/urandom on kernels
/// without that syscall). Blocks only until the kernel's pool is first initialised at boot.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    fill(buf, |b| {
        // SAFETY: the pointer and length describe `b`, a live writable slice.
        let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
        // A negative return means failure with errno set; otherwise it is a byte count.
        usize::try_from(n).map_err(|_| io::Error::last_os_error())
    })
}

/// The loop of [`random_bytes`] around one getrandom-like call `sys`: partial reads continue,
/// EINTR retries, ENOSYS switches to /dev/urandom for the rest.
fn fill(buf: &mut [u8], mut sys: impl FnMut(&mut [u8]) -> io::Result<usize>) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match sys(&mut buf[done..]) {
            // getrandom never returns 0 for a non-empty buffer; guard against looping forever.
            Ok(0) => return Err(io::Error::other("getrandom returned no bytes")),
            Ok(n) => done += n.min(buf.len() - done),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                return urandom(&mut buf[done..]);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads `buf.len()` bytes from /dev/urandom (kernels before 3.17 have no getrandom).
fn urandom(buf: &mut [u8]) -> io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// Compares two byte strings in time that depends only on their lengths (secrets such as
/// Digest responses). Different lengths compare unequal.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b) {
        // black_box keeps the optimiser from turning the loop into an early exit.
        acc = std::hint::black_box(acc | (x ^ y));
    }
    acc == 0
}

/// Standard base64 (RFC 4648 section 4, with `=` padding), e.g. for Basic credentials.
pub fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let byte = |i: usize| u32::from(c.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        // A chunk of k bytes gives k + 1 significant characters, then padding up to 4.
        for i in 0..4 {
            if i <= c.len() {
                s.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (raw, want) in cases {
            assert_eq!(base64_encode(raw.as_bytes()), want, "base64({raw:?})");
        }
        // The last two alphabet characters and high bits.
        assert_eq!(base64_encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(base64_encode(b"cpe:pw"), "Y3BlOnB3");
    }

    #[test]
    fn base64_matches_openssl_for_all_short_lengths() {
        let data: Vec<u8> = (0..=255u8).rev().collect();
        for len in 0..data.len() {
            let d = &data[..len];
            assert_eq!(base64_encode(d), openssl::base64::encode_block(d), "{len}");
        }
    }

    #[test]
    fn ct_eq_cases() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"bbc"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"", b"a"));
        assert!(!ct_eq(&[0x80], &[0x00]));
    }

    #[test]
    fn random_bytes_fills_and_differs() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        random_bytes(&mut a).unwrap();
        random_bytes(&mut b).unwrap();
        // 2^-256 chance of a false failure for each assertion.
        assert_ne!(a, [0u8; 32]);
        assert_ne!(a, b);
        random_bytes(&mut []).unwrap();
    }

    #[test]
    fn fill_continues_partial_reads_and_retries_eintr() {
        let mut calls = 0;
        let mut buf = [0u8; 10];
        fill(&mut buf, |b| {
            calls += 1;
            match calls {
                1 => {
                    b[..3].fill(1);
                    Ok(3)
                }
                2 => Err(io::Error::from_raw_os_error(libc::EINTR)),
                _ => {
                    b.fill(2);
                    Ok(b.len())
                }
            }
        })
        .unwrap();
        assert_eq!(calls, 3);
        assert_eq!(buf, [1, 1, 1, 2, 2, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn fill_falls_back_to_urandom_on_enosys_and_reports_other_errors() {
        let mut buf = [0u8; 32];
        fill(&mut buf, |_| {
            Err(io::Error::from_raw_os_error(libc::ENOSYS))
        })
        .unwrap();
        assert_ne!(buf, [0u8; 32]);
        let e = fill(&mut buf, |_| {
            Err(io::Error::from_raw_os_error(libc::EFAULT))
        })
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EFAULT));
        assert!(fill(&mut buf, |_| Ok(0)).is_err());
    }
}
