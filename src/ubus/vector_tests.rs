//! The recorded ubusd traffic (`../shared/ubus/vectors.json`): every vector decodes to its
//! recorded form and re-encodes to the same bytes; truncations and bit flips never panic;
//! the test broker answers with the recorded shapes.

use super::blobmsg::table_to_json;
use super::broker::Broker;
use super::msg::{self, Attr, MsgType, UbusMsg};
use serde_json::{json, Value as Json};
use std::io::{Cursor, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub(super) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The vectors as (label, bytes, decoded), or None (with a note) when ../shared is absent.
fn vectors() -> Option<Vec<(String, Vec<u8>, Json)>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/ubus/vectors.json");
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("note: {path} absent, ubus vector test skipped");
        return None;
    };
    let v: Json = serde_json::from_str(&text).unwrap();
    let list = v["vectors"].as_array().unwrap();
    Some(
        list.iter()
            .map(|v| {
                let label = v["label"].as_str().unwrap().to_string();
                (
                    label,
                    unhex(v["hex"].as_str().unwrap()),
                    v["decoded"].clone(),
                )
            })
            .collect(),
    )
}

fn vector(label: &str) -> Option<Vec<u8>> {
    vectors()?.into_iter().find(|v| v.0 == label).map(|v| v.1)
}

fn type_name(t: MsgType) -> &'static str {
    const NAMES: [&str; 12] = [
        "HELLO",
        "STATUS",
        "DATA",
        "PING",
        "LOOKUP",
        "INVOKE",
        "ADD_OBJECT",
        "REMOVE_OBJECT",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "NOTIFY",
        "MONITOR",
    ];
    NAMES.get(usize::from(t.to_u8())).copied().unwrap_or("?")
}

/// The decoded form used in vectors.json.
fn decoded(m: &UbusMsg) -> Json {
    let mut attrs = serde_json::Map::new();
    for a in &m.attrs {
        let (k, v) = match a {
            Attr::Status(v) => ("STATUS", json!(v)),
            Attr::ObjPath(s) => ("OBJPATH", json!(s)),
            Attr::ObjId(v) => ("OBJID", json!(v)),
            Attr::Method(s) => ("METHOD", json!(s)),
            Attr::ObjType(v) => ("OBJTYPE", json!(v)),
            Attr::Signature(t) => ("SIGNATURE", table_to_json(t)),
            Attr::Data(t) => ("DATA", table_to_json(t)),
            Attr::Target(v) => ("TARGET", json!(v)),
            Attr::Active(b) => ("ACTIVE", json!(u8::from(*b))),
            Attr::NoReply(b) => ("NO_REPLY", json!(u8::from(*b))),
            Attr::Subscribers(v) => ("SUBSCRIBERS", json!(v)),
            Attr::User(s) => ("USER", json!(s)),
            Attr::Group(s) => ("GROUP", json!(s)),
            Attr::Unknown { id, .. } => panic!("unknown attribute {id} in a vector"),
        };
        attrs.insert(k.into(), v);
    }
    json!({"version": 0, "type": type_name(m.typ), "seq": m.seq, "peer": m.peer, "attrs": attrs})
}

#[test]
fn every_vector_decodes_and_reencodes_exactly() {
    let Some(vs) = vectors() else { return };
    assert!(vs.len() >= 19, "only {} vectors", vs.len());
    for (label, bytes, want) in &vs {
        let m = UbusMsg::parse(bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(&decoded(&m), want, "{label}: decoded form");
        assert_eq!(&m.to_bytes(), bytes, "{label}: re-encoding");
        let framed = msg::read_frame(&mut Cursor::new(bytes)).unwrap();
        assert_eq!(&framed, bytes, "{label}: framing");
    }
}

#[test]
fn truncations_and_bit_flips_never_panic() {
    let Some(vs) = vectors() else { return };
    for (label, bytes, _) in &vs {
        for n in 0..bytes.len() {
            assert!(UbusMsg::parse(&bytes[..n]).is_err(), "{label} cut at {n}");
            assert!(msg::read_frame(&mut Cursor::new(&bytes[..n])).is_err());
        }
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            if let Ok(m) = UbusMsg::parse(&b) {
                // Whatever parses re-encodes to something that parses the same.
                let again = m.to_bytes();
                assert_eq!(UbusMsg::parse(&again).as_ref(), Ok(&m), "{label} bit {bit}");
            }
            if let Ok(f) = msg::read_frame(&mut Cursor::new(&b)) {
                let _ = UbusMsg::parse(&f);
            }
        }
    }
}

/// A client speaking raw bytes to the broker.
pub(super) struct RawClient {
    s: UnixStream,
    /// Our client id from HELLO.
    pub(super) id: u32,
    /// The HELLO bytes.
    pub(super) hello: Vec<u8>,
}

impl RawClient {
    pub(super) fn connect(path: &Path) -> RawClient {
        let mut s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let hello = msg::read_frame(&mut s).unwrap();
        let id = UbusMsg::parse(&hello).unwrap().peer;
        RawClient { s, id, hello }
    }

    pub(super) fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    pub(super) fn recv(&mut self) -> Vec<u8> {
        msg::read_frame(&mut self.s).unwrap()
    }

    pub(super) fn recv_msg(&mut self) -> UbusMsg {
        UbusMsg::parse(&self.recv()).unwrap()
    }

    /// Registers an object (named, with an empty signature, or anonymous); returns its id.
    pub(super) fn add_object(&mut self, name: Option<&str>) -> u32 {
        let attrs = match name {
            Some(n) => vec![Attr::ObjPath(n.into()), Attr::Signature(vec![])],
            None => vec![],
        };
        self.send(&UbusMsg::new(MsgType::AddObject, 77, 0, attrs).to_bytes());
        let id = self.recv_msg().objid().unwrap();
        assert_eq!(self.recv_msg().status(), Some(0));
        id
    }
}

pub(super) fn temp_socket(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "icwmp-ubus-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("ubus.sock")
}

/// Replaces the recorded ids (4-byte aligned words) by ours.
fn patch(bytes: &[u8], map: &[(u32, u32)]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for w in out.chunks_mut(4) {
        if let Ok(arr) = <[u8; 4]>::try_from(&*w) {
            let v = u32::from_be_bytes(arr);
            if let Some((_, new)) = map.iter().find(|(old, _)| *old == v) {
                w.copy_from_slice(&new.to_be_bytes());
            }
        }
    }
    out
}

fn set_seq(mut bytes: Vec<u8>, seq: &[u8]) -> Vec<u8> {
    bytes[2..4].copy_from_slice(seq);
    bytes
}

#[test]
fn broker_hello_lookup_and_registration_have_recorded_shapes() {
    let Some(hello) = vector("hello") else { return };
    let v = |l: &str| vector(l).unwrap();
    let path = temp_socket("shapes");
    let _broker = Broker::start(&path).unwrap();
    let mut a = RawClient::connect(&path);
    assert_eq!(a.hello, patch(&hello, &[(0x3f05c254, a.id)]));
    assert!(a.id >= 1024);
    a.send(&v("lookup_request"));
    assert_eq!(a.recv(), v("lookup_not_found"));

    a.send(&v("add_object_tr069"));
    let data = a.recv();
    let m = UbusMsg::parse(&data).unwrap();
    let (id, typ) = (m.objid().unwrap(), m.objtype().unwrap());
    let ids = [(916484028, id), (2113511276, typ)];
    assert_eq!(data, patch(&v("add_object_reply"), &ids));
    assert_eq!(a.recv(), unhex("00010001000000000000000c0100000800000000"));
    // The same name again: STATUS 2.
    a.send(&v("add_object_tr069"));
    assert_eq!(a.recv_msg().status(), Some(2));

    let mut b = RawClient::connect(&path);
    b.send(&v("lookup_request"));
    assert_eq!(b.recv(), patch(&v("lookup_reply_data"), &ids));
    assert_eq!(b.recv(), unhex("00010001000000000000000c0100000800000000"));
}

#[test]
fn broker_relays_invoke_data_status_as_recorded() {
    let Some(at_object) = vector("invoke_at_object_get") else {
        return;
    };
    let v = |l: &str| vector(l).unwrap();
    let path = temp_socket("relay");
    let _broker = Broker::start(&path).unwrap();
    let mut obj = RawClient::connect(&path);
    let mut caller = RawClient::connect(&path);
    let objid = obj.add_object(Some("bbfdm"));
    // The caller's INVOKE is V1: the forwarded one without USER/GROUP, peer = object id.
    let mut invoke = UbusMsg::parse(&at_object).unwrap();
    invoke
        .attrs
        .retain(|a| !matches!(a, Attr::User(_) | Attr::Group(_)));
    invoke.peer = 0xc0c3483b;
    caller.send(&patch(&invoke.to_bytes(), &[(0xc0c3483b, objid)]));
    let ids = [(0xa67bfc99, caller.id), (0xc0c3483b, objid)];
    assert_eq!(obj.recv(), patch(&at_object, &ids));

    obj.send(&patch(&v("object_reply_data_get"), &ids));
    obj.send(&patch(
        &v("object_reply_status"),
        &[(0xc6b96705, caller.id), (0x36a06fbc, objid)],
    ));
    assert_eq!(caller.recv(), patch(&v("caller_gets_data"), &ids));
    let status = caller.recv_msg();
    assert_eq!(
        (status.seq, status.peer, status.status()),
        (2, objid, Some(0))
    );
    assert_eq!(status.objid(), Some(objid));

    // A reply for an object the sender does not own is dropped; unknown ids get STATUS 4.
    caller.send(&patch(
        &v("object_reply_status"),
        &[(0xc6b96705, obj.id), (0x36a06fbc, objid)],
    ));
    caller.send(&v("invoke_request_status"));
    assert_eq!(
        caller.recv(),
        unhex("0001000236a06fbc0000000c0100000800000004")
    );
}

#[test]
fn broker_events_and_subscriptions_have_recorded_shapes() {
    let Some(delivery) = vector("event_delivery") else {
        return;
    };
    let v = |l: &str| vector(l).unwrap();
    let path = temp_socket("events");
    let _broker = Broker::start(&path).unwrap();
    let mut listener = RawClient::connect(&path);
    let mut sender = RawClient::connect(&path);
    let anon = listener.add_object(None);
    listener.send(&patch(&v("event_register"), &[(0xaf795685, anon)]));
    assert_eq!(
        listener.recv(),
        unhex("00010002000000010000000c0100000800000000")
    );

    sender.send(&v("event_send"));
    assert_eq!(
        sender.recv(),
        unhex("00010001000000010000000c0100000800000000")
    );
    // Same event name as the recorded delivery, so its bytes are comparable.
    let d = UbusMsg::parse(&delivery).unwrap();
    let mut send = UbusMsg::parse(&v("event_send")).unwrap();
    send.attrs[2] = Attr::Data(vec![
        (
            "id".into(),
            super::BlobmsgValue::String("bbfdm.event".into()),
        ),
        (
            "data".into(),
            super::BlobmsgValue::Table(d.data().unwrap().clone()),
        ),
    ]);
    sender.send(&send.to_bytes());
    assert_eq!(sender.recv_msg().status(), Some(0));
    // test.event did not match the pattern; bbfdm.event did.
    let got = listener.recv();
    assert_eq!(
        got,
        set_seq(patch(&delivery, &[(0xaf795685, anon)]), &got[2..4])
    );

    // Subscribe / notify.
    let mut owner = RawClient::connect(&path);
    let mut sub = RawClient::connect(&path);
    let target = owner.add_object(Some("tr069"));
    let s = sub.add_object(None);
    let ids = [(0xec58f854, s), (0x53871c16, target)];
    sub.send(&patch(&v("subscribe"), &ids));
    assert_eq!(sub.recv_msg().status(), Some(0));
    let active = owner.recv();
    assert_eq!(
        active,
        set_seq(patch(&v("notify_active"), &ids), &active[2..4])
    );
    owner.send(&patch(&v("notify_send"), &ids));
    let inv = sub.recv_msg();
    assert_eq!(
        (inv.typ, inv.peer, inv.objid()),
        (MsgType::Invoke, owner.id, Some(s))
    );
    assert_eq!(inv.method(), Some("tr069.changed"));
    assert_eq!(owner.recv(), patch(&v("notify_status_subscribers"), &ids));
}

#[test]
fn broker_answers_unknown_types_and_ping() {
    let path = temp_socket("misc");
    let _broker = Broker::start(&path).unwrap();
    let mut c = RawClient::connect(&path);
    c.send(&UbusMsg::new(MsgType::Unknown(42), 9, 5, vec![]).to_bytes());
    assert_eq!(c.recv(), unhex("00010009000000050000000c0100000800000001"));
    let ping = UbusMsg::new(MsgType::Ping, 3, 0, vec![Attr::ObjPath("x".into())]);
    c.send(&ping.to_bytes());
    let echo = c.recv_msg();
    assert_eq!((echo.typ, echo.attrs.clone()), (MsgType::Data, ping.attrs));
    assert_eq!(c.recv_msg().status(), Some(0));
}
