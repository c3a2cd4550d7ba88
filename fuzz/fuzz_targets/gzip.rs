//! Compressed bodies from the ACS (src/http/gzip.rs): the gzip framing on any bytes never
//! yields more than the limit, and whatever `compress` writes decompresses to the input.
#![no_main]

use icwmp::http::gzip::{compress, decompress};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = decompress(data, LIMIT) {
        assert!(out.len() as u64 <= LIMIT);
    }
    let packed = compress(data).expect("compressing into memory");
    assert_eq!(
        decompress(&packed, LIMIT).expect("our own gzip decompresses"),
        data
    );
    if !data.is_empty() {
        let short = decompress(&packed, data.len() as u64 - 1);
        assert!(short.is_err(), "the limit is enforced");
    }
});
