//! What an FTP server sends on the control connection (src/transfer/ftp.rs): the bytes cut
//! into lines as they arrive in chunks, lines assembled into replies, and the passive-mode
//! ports read from reply texts; plus the `ftp://` URL parser (the URL comes from the ACS).
#![no_main]

use icwmp::transfer::ftp::{epsv_port, pasv_port, take_line, FtpUrl, ReplyReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(url) = std::str::from_utf8(data) {
        if let Ok(u) = FtpUrl::parse(url) {
            assert!(!u.host.is_empty() && !u.path.is_empty() && !u.path.contains(['\r', '\n']));
        }
    }
    // The first byte sets the chunk size the "network" delivers.
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut buf = Vec::new();
    let mut reader = ReplyReader::default();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match take_line(&mut buf) {
                Ok(Some(line)) => match reader.line(&line) {
                    Ok(Some((code, text))) => {
                        assert!((0..=999).contains(&code));
                        let _ = (epsv_port(&text), pasv_port(&text));
                        reader = ReplyReader::default();
                    }
                    Ok(None) => {}
                    Err(_) => return,
                },
                Ok(None) => break,
                Err(_) => return,
            }
        }
        // What is left is never a whole line, and never more than one line's bound.
        assert!(!buf.contains(&b'\n') && buf.len() <= 8192);
    }
});
