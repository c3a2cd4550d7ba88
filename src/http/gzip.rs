//! gzip framing (RFC 1952) around flate2's raw deflate, for request and response bodies.
//!
//! flate2's own gzip types pull in crc32fast, whose 16 KB slice-by-16 table and SIMD paths
//! cost about 20 KB of a router binary for bodies of a few kilobytes; a 1 KB table computed
//! at compile time does the same job here.

use std::io::{self, Read, Write};

use flate2::read::{DeflateDecoder, ZlibDecoder};
use flate2::write::DeflateEncoder;

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// The gzip trailer's CRC-32 of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Header flag bits (RFC 1952 section 2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;

/// Compresses `data` as one gzip member (no name, no time stamp, OS "unknown").
///
/// # Errors
/// Only what the deflate encoder reports (nothing for an in-memory buffer in practice).
pub fn compress(data: &[u8]) -> io::Result<Vec<u8>> {
    let header = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut e = DeflateEncoder::new(header.to_vec(), flate2::Compression::default());
    e.write_all(data)?;
    let mut out = e.finish()?;
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("gzip: {what}"))
}

/// Length of the member header at the start of `b` (RFC 1952 section 2.3).
fn header_len(b: &[u8]) -> io::Result<usize> {
    if b.len() < 10 || b[0] != 0x1f || b[1] != 0x8b {
        return Err(bad("not a gzip stream"));
    }
    if b[2] != 8 {
        return Err(bad("unknown compression method"));
    }
    let flags = b[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let xlen = b.get(at..at + 2).ok_or_else(|| bad("truncated header"))?;
        at += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = b.get(at..).ok_or_else(|| bad("truncated header"))?;
            let nul = rest
                .iter()
                .position(|&c| c == 0)
                .ok_or_else(|| bad("truncated header"))?;
            at += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    if at > b.len() {
        return Err(bad("truncated header"));
    }
    Ok(at)
}

/// Decompresses every gzip member of `data` in turn (as `gzip -d` does), failing once the
/// output passes `limit` bytes, on a wrong CRC or length, or on a truncated stream.
///
/// # Errors
/// `InvalidData` for a corrupt stream; the error of [`io::ErrorKind::FileTooLarge`] kind past
/// the limit.
pub fn decompress(data: &[u8], limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        rest = &rest[header_len(rest)?..];
        let start = out.len();
        let mut d = DeflateDecoder::new(rest);
        let budget = (limit + 1).saturating_sub(out.len() as u64);
        (&mut d).take(budget).read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "gzip: body too large",
            ));
        }
        // The decoder reads ahead through a buffer; `total_in` is what the stream used.
        let used = usize::try_from(d.total_in()).map_err(|_| bad("stream too long"))?;
        let trailer = rest
            .get(used..used + 8)
            .ok_or_else(|| bad("truncated stream"))?;
        let member = &out[start..];
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc != crc32(member) || size != member.len() as u32 {
            return Err(bad("checksum mismatch"));
        }
        rest = &rest[used + 8..];
        // Trailing zero padding after the last member is tolerated, as by gzip(1).
        if rest.iter().all(|&b| b == 0) {
            return Ok(out);
        }
    }
}

/// Reads a decoder to the end, failing past `limit` bytes (a small bomb stays small).
fn read_bounded(r: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            "deflate: body too large",
        ));
    }
    Ok(out)
}

/// Decompresses an HTTP `deflate` body: zlib (RFC 1950) as HTTP defines it, or the raw
/// deflate some servers send; fails once the output passes `limit` bytes.
///
/// # Errors
/// The [`io::ErrorKind::FileTooLarge`] kind past the limit (whichever framing), else the
/// raw-deflate decoder's error for a stream that is neither zlib nor raw deflate.
pub fn inflate(data: &[u8], limit: u64) -> io::Result<Vec<u8>> {
    match read_bounded(ZlibDecoder::new(data), limit) {
        // A bomb in a zlib frame is too large, not a corrupt raw stream.
        Err(e) if e.kind() != io::ErrorKind::FileTooLarge => {
            read_bounded(DeflateDecoder::new(data), limit)
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn sample() -> Vec<u8> {
        (0..20_000u32)
            .flat_map(|i| format!("<Name>Device.X.{i}</Name>").into_bytes())
            .collect()
    }

    #[test]
    fn crc32_matches_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn round_trip_and_flate2_agrees() {
        let data = sample();
        let z = compress(&data).unwrap();
        assert!(z.len() < data.len() / 4);
        assert_eq!(decompress(&z, 1 << 30).unwrap(), data);
        let mut other = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut other)
            .unwrap();
        assert_eq!(other, data);
        assert_eq!(decompress(&compress(b"").unwrap(), 10).unwrap(), b"");
    }

    /// A real gzip(1) stream, with a file name in its header, and two members concatenated.
    #[test]
    fn decodes_gzip_tool_output_and_multiple_members() {
        let run = |input: &[u8]| -> Option<Vec<u8>> {
            let mut c = Command::new("gzip")
                .args(["-c", "-N"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .ok()?;
            c.stdin.take()?.write_all(input).ok()?;
            Some(c.wait_with_output().ok()?.stdout)
        };
        let Some(a) = run(b"first member\n") else {
            eprintln!("no gzip(1) here: skipped");
            return;
        };
        assert_eq!(decompress(&a, 100).unwrap(), b"first member\n");
        let mut two = a.clone();
        two.extend(run(b"second\n").unwrap());
        assert_eq!(decompress(&two, 100).unwrap(), b"first member\nsecond\n");
    }

    #[test]
    fn header_fields_are_skipped() {
        let z = compress(b"payload").unwrap();
        let mut h = vec![
            0x1f,
            0x8b,
            8,
            FEXTRA | FNAME | FCOMMENT | FHCRC,
            0,
            0,
            0,
            0,
            0,
            3,
        ];
        h.extend([3, 0, b'a', b'b', b'c']);
        h.extend(b"name\0comment\0\x12\x34");
        h.extend(&z[10..]);
        assert_eq!(decompress(&h, 100).unwrap(), b"payload");
    }

    #[test]
    fn corrupt_truncated_and_oversized_streams_fail() {
        let data = sample();
        let z = compress(&data).unwrap();
        let mut crc = z.clone();
        let n = crc.len();
        crc[n - 8] ^= 1;
        assert_eq!(
            decompress(&crc, 1 << 30).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        for cut in [0, 5, 10, z.len() / 2, z.len() - 4] {
            assert!(decompress(&z[..cut], 1 << 30).is_err(), "cut at {cut}");
        }
        assert!(decompress(b"plain text, not gzip", 100).is_err());
        let mut bad_method = z.clone();
        bad_method[2] = 7;
        assert!(decompress(&bad_method, 1 << 30).is_err());
        assert_eq!(
            decompress(&z, 1000).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
        let mut name_unterminated = vec![0x1f, 0x8b, 8, FNAME, 0, 0, 0, 0, 0, 3];
        name_unterminated.extend(b"no end");
        assert!(decompress(&name_unterminated, 100).is_err());
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A zlib bomb was reported as "corrupt deflate stream": the raw-deflate retry hid the
    /// size error.
    #[test]
    fn deflate_bodies_in_either_framing_and_bombs_are_too_large() {
        let data = sample();
        assert_eq!(inflate(&zlib(&data), 1 << 30).unwrap(), data);
        let mut raw = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(&data).unwrap();
        let raw = raw.finish().unwrap();
        assert_eq!(inflate(&raw, 1 << 30).unwrap(), data);
        let bomb = zlib(&vec![0; 4 << 20]);
        assert!(bomb.len() < 8 << 10);
        let e = inflate(&bomb, 64 << 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge, "{e}");
        let e = inflate(&raw, 1000).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::FileTooLarge, "{e}");
        let e = inflate(b"neither zlib nor deflate", 1000).unwrap_err();
        assert_ne!(e.kind(), io::ErrorKind::FileTooLarge, "{e}");
        assert_eq!(inflate(&zlib(b""), 0).unwrap(), b"");
    }
}
