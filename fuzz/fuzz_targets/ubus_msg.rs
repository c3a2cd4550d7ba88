//! ubus messages as read from the ubusd socket (src/ubus/msg.rs, blob.rs, blobmsg.rs): the
//! frame length check, the message decoder and the blobmsg table decoder. A decoded message
//! or table encodes to bytes that decode and encode to the same bytes again (compared as
//! bytes: a NaN double is not equal to itself).
#![no_main]

use icwmp::ubus::blobmsg::{emit_table, parse_table, table_to_json};
use icwmp::ubus::msg::{frame_len, PREFIX_LEN};
use icwmp::ubus::UbusMsg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(prefix) = data.first_chunk::<PREFIX_LEN>() {
        if let Ok(len) = frame_len(prefix) {
            assert!(len >= PREFIX_LEN);
        }
    }
    if let Ok(msg) = UbusMsg::parse(data) {
        let bytes = msg.to_bytes();
        let again = UbusMsg::parse(&bytes).expect("a re-encoded message decodes");
        assert_eq!(again.to_bytes(), bytes);
        let _ = msg.data().map(table_to_json);
    }
    if let Ok(table) = parse_table(data) {
        let mut bytes = Vec::new();
        emit_table(&table, &mut bytes);
        let again = parse_table(&bytes).expect("a re-encoded table decodes");
        let mut twice = Vec::new();
        emit_table(&again, &mut twice);
        assert_eq!(twice, bytes);
        let _ = table_to_json(&table);
    }
});
