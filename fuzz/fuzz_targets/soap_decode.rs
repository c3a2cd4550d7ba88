//! What an ACS sends: `soap::decode` (src/soap/) on any bytes, and the masking of the same
//! bytes for the SOAP transcript (`logging::mask_secrets`). Neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = icwmp::soap::decode(data);
    let text = String::from_utf8_lossy(data);
    let masked = icwmp::logging::mask_secrets(&text);
    // Masking only ever shortens secrets to "***"; it cannot grow a message without bound.
    assert!(masked.len() <= text.len() + 3 * (text.matches('>').count() + 1));
});
