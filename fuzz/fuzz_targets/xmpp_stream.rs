//! What an XMPP server sends (src/xmpp/): the stream bytes cut into chunks as they arrive,
//! read into stanzas within the reader's budgets, and every `<iq>` answered by the Annex K
//! connection-request handler. A reply must never carry a line break or an unescaped quote
//! from the peer (it goes back on the stream as is).
#![no_main]

use icwmp::xmpp::connreq::{handle_iq, ConnReqPolicy, IqOutcome};
use icwmp::xmpp::xml::{Event, StreamReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte sets the chunk size the "network" delivers.
    let Some((&chunk, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let policy = ConnReqPolicy {
        username: "cr".into(),
        password: "secret".into(),
        allowed_jids: vec!["acs@example.org".into()],
    };
    let mut reader = StreamReader::new();
    for piece in rest.chunks(chunk) {
        if reader.feed(piece).is_err() {
            return;
        }
        loop {
            match reader.next_event() {
                Ok(Some(Event::Stanza(el))) if el.local() == "iq" => {
                    let reply = match handle_iq(&el, &policy) {
                        IqOutcome::Accepted { reply, .. }
                        | IqOutcome::Refused { reply, .. }
                        | IqOutcome::Other { reply } => reply,
                        _ => continue,
                    };
                    assert!(reply.starts_with("<iq "), "{reply}");
                }
                Ok(Some(Event::StreamClose)) | Err(_) => return,
                Ok(Some(_)) => {}
                Ok(None) => break,
            }
        }
    }
});
