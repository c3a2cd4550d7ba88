//! The ubus thread on real unix sockets, against the in-tree broker and (the same tests, in
//! `real_ubusd`) against OpenWrt's real ubusd from `make test-deps`. Only the garbage test,
//! which needs the broker's injection hook, runs on the broker alone.

use super::broker::Broker;
use super::msg::{Attr, MsgType, UbusMsg};
use super::vector_tests::{temp_socket, RawClient};
use super::*;
use crossbeam_channel::Receiver;
use serde_json::{json, Value as Json};
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(2);

fn spawn(
    path: &Path,
    objects: Vec<UbusObject>,
    listeners: &[&str],
) -> (UbusHandle, Receiver<UbusEvent>) {
    let mut cfg = UbusConfig::new(Some(path.to_path_buf()));
    cfg.objects = objects;
    cfg.listeners = listeners.iter().map(|s| s.to_string()).collect();
    cfg.backoff_min = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(200);
    UbusThread::spawn_with(cfg).unwrap()
}

/// Object `test` with `echo {"msg":String}` answering its arguments, and `fail` answering 8.
fn test_object() -> UbusObject {
    let methods = vec![
        UbusMethod::new("echo", &[("msg", BlobmsgType::String)]),
        UbusMethod::new("fail", &[]),
    ];
    UbusObject::new("test", methods, |method, args| match method {
        "echo" => (0, Some(args)),
        _ => (status::NOT_SUPPORTED, None),
    })
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn registered(broker: &Broker, name: &str) -> bool {
    broker.objects().iter().any(|(n, _)| n == name)
}

#[path = "../../benches/common/ubusd.rs"]
mod ubusd;

/// The bus a test runs on.
enum Bus {
    Broker(Broker),
    Real(ubusd::Ubusd),
}

impl Bus {
    /// The broker, or the real ubusd when `real`, on `path`.
    fn start(path: &Path, real: bool) -> Bus {
        if real {
            Bus::Real(ubusd::Ubusd::start(path))
        } else {
            Bus::Broker(Broker::start(path).unwrap())
        }
    }

    /// `ubus -s <socket> -v list <name>` of the real ubusd (`None` when absent).
    fn cli_list(u: &ubusd::Ubusd, name: &str) -> Option<String> {
        let out = std::process::Command::new(ubusd::openwrt_tools().join("bin/ubus"))
            .arg("-s")
            .arg(u.socket())
            .args(["-v", "list", name])
            .output()
            .expect("run ubus (make test-deps)");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn registered(&self, name: &str) -> bool {
        match self {
            Bus::Broker(b) => registered(b, name),
            Bus::Real(u) => Self::cli_list(u, name).is_some(),
        }
    }

    /// The ids of the objects called `name`.
    fn ids(&self, name: &str) -> Vec<String> {
        match self {
            Bus::Broker(b) => b
                .objects()
                .into_iter()
                .filter(|(n, _)| n == name)
                .map(|(_, id)| format!("{id:08x}"))
                .collect(),
            Bus::Real(u) => Self::cli_list(u, name)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once(" @").map(|(_, id)| id.to_string()))
                .collect(),
        }
    }

    fn stop(self) {
        match self {
            Bus::Broker(b) => b.stop(),
            Bus::Real(u) => drop(u),
        }
    }
}

fn next_event(rx: &Receiver<UbusEvent>, pred: impl Fn(&UbusEvent) -> bool) -> UbusEvent {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        let ev = rx.recv_timeout(left).expect("expected event");
        if pred(&ev) {
            return ev;
        }
    }
}

fn echo(h: &UbusHandle) -> Result<Vec<Json>, UbusError> {
    h.call("test", "echo", &json!({"msg": "hi"}), T)
}

#[test]
fn call_round_trip_between_two_clients() {
    call_round_trip_between_two_clients_on(false)
}

fn call_round_trip_between_two_clients_on(real: bool) {
    let path = temp_socket("call");
    let broker = Bus::start(&path, real);
    let (_owner, _) = spawn(&path, vec![test_object()], &[]);
    let (caller, _) = spawn(&path, vec![], &[]);
    wait_until("object test", || broker.registered("test"));

    assert_eq!(echo(&caller).unwrap(), vec![json!({"msg": "hi"})]);
    // The id is cached now; a second call goes straight to INVOKE.
    assert_eq!(echo(&caller).unwrap(), vec![json!({"msg": "hi"})]);
    assert_eq!(
        caller.call("test", "fail", &json!({}), T),
        Err(UbusError::Status(status::NOT_SUPPORTED))
    );
    assert_eq!(
        caller.call("test", "nope", &Json::Null, T),
        Err(UbusError::Status(status::METHOD_NOT_FOUND))
    );
    assert_eq!(
        caller.call("absent", "x", &json!({}), T),
        Err(UbusError::Status(status::NOT_FOUND))
    );
    assert!(matches!(
        caller.call("test", "echo", &json!([1]), T),
        Err(UbusError::InvalidRequest(_))
    ));
    let info = caller.lookup("test", T).unwrap();
    assert_eq!(info.len(), 1);
    assert!(info[0].has_method("echo") && !info[0].has_method("status"));
    assert_eq!(
        blobmsg::get(&info[0].signature, "echo"),
        Some(&BlobmsgValue::Table(vec![(
            "msg".into(),
            BlobmsgValue::Int32(3)
        )]))
    );
    assert_eq!(caller.lookup("", T).unwrap().len(), 1);
}

#[test]
fn call_to_a_silent_object_times_out_and_the_thread_goes_on() {
    call_to_a_silent_object_times_out_and_the_thread_goes_on_on(false)
}

fn call_to_a_silent_object_times_out_and_the_thread_goes_on_on(real: bool) {
    let path = temp_socket("timeout");
    let broker = Bus::start(&path, real);
    let (_owner, _) = spawn(&path, vec![test_object()], &[]);
    let (caller, _) = spawn(&path, vec![], &[]);
    let mut silent = RawClient::connect(&path);
    let silent_id = silent.add_object(Some("silent"));
    wait_until("object test", || broker.registered("test"));

    let start = Instant::now();
    let r = caller.call("silent", "x", &json!({}), Duration::from_millis(300));
    assert_eq!(r, Err(UbusError::Timeout));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(1),
        "{took:?}"
    );

    // The late answer is dropped; calls keep working.
    let inv = silent.recv_msg();
    assert_eq!(inv.typ, MsgType::Invoke);
    let late = vec![Attr::Status(0), Attr::ObjId(silent_id)];
    silent.send(&UbusMsg::new(MsgType::Status, inv.seq, inv.peer, late).to_bytes());
    assert_eq!(echo(&caller).unwrap(), vec![json!({"msg": "hi"})]);
}

#[test]
fn broker_restart_fails_pending_calls_then_reconnects_and_reregisters() {
    broker_restart_fails_pending_calls_then_reconnects_and_reregisters_on(false)
}

fn broker_restart_fails_pending_calls_then_reconnects_and_reregisters_on(real: bool) {
    let path = temp_socket("restart");
    let broker = Bus::start(&path, real);
    let (_owner, owner_ev) = spawn(&path, vec![test_object()], &[]);
    let (caller, caller_ev) = spawn(&path, vec![], &[]);
    let mut silent = RawClient::connect(&path);
    silent.add_object(Some("silent"));
    wait_until("object test", || broker.registered("test"));
    assert!(echo(&caller).is_ok());

    // A call waiting on 10 s fails as soon as the broker dies.
    let c2 = caller.clone();
    let pending = std::thread::spawn(move || {
        let start = Instant::now();
        (
            c2.call("silent", "x", &json!({}), Duration::from_secs(10)),
            start.elapsed(),
        )
    });
    let _ = silent.recv_msg(); // the INVOKE reached the object: the call is pending
    broker.stop();
    let (r, took) = pending.join().unwrap();
    assert_eq!(r, Err(UbusError::Disconnected));
    assert!(took < Duration::from_secs(2), "{took:?}");
    next_event(&caller_ev, |e| *e == UbusEvent::Disconnected);

    // While ubusd is away calls fail at once instead of hanging.
    let start = Instant::now();
    assert_eq!(echo(&caller), Err(UbusError::NotConnected));
    assert!(start.elapsed() < Duration::from_millis(500));

    let broker = Bus::start(&path, real);
    next_event(&caller_ev, |e| matches!(e, UbusEvent::Connected { .. }));
    next_event(&owner_ev, |e| matches!(e, UbusEvent::Connected { .. }));
    wait_until("object test again", || broker.registered("test"));
    assert_eq!(echo(&caller).unwrap(), vec![json!({"msg": "hi"})]);
}

#[test]
fn events_reach_listeners_and_not_the_sender() {
    events_reach_listeners_and_not_the_sender_on(false)
}

fn events_reach_listeners_and_not_the_sender_on(real: bool) {
    let path = temp_socket("events");
    let _broker = Bus::start(&path, real);
    let (_listener, ev) = spawn(&path, vec![], &["test.*"]);
    let (sender, sender_ev) = spawn(&path, vec![], &["test.*"]);
    next_event(&ev, |e| matches!(e, UbusEvent::Connected { .. }));
    // Registration is asynchronous: send until the listener is in place.
    let end = Instant::now() + Duration::from_secs(5);
    let got = loop {
        assert!(Instant::now() < end, "no event delivered");
        sender
            .send_event("test.ev", &json!({"a": 1, "b": "x"}), T)
            .unwrap();
        match ev.recv_timeout(Duration::from_millis(100)) {
            Ok(e @ UbusEvent::Event { .. }) => break e,
            _ => continue,
        }
    };
    let want = UbusEvent::Event {
        name: "test.ev".into(),
        data: json!({"a": 1, "b": "x"}),
    };
    assert_eq!(got, want);
    sender.send_event("other", &json!({}), T).unwrap();
    assert_eq!(
        sender.send_event("ubus.object.add", &json!({}), T),
        Err(UbusError::Status(status::PERMISSION_DENIED))
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !ev.try_iter()
            .any(|e| matches!(e, UbusEvent::Event { ref name, .. } if name != "test.ev")),
        "pattern not applied"
    );
    assert!(!sender_ev
        .try_iter()
        .any(|e| matches!(e, UbusEvent::Event { .. })));
}

#[test]
fn subscription_receives_notifications() {
    subscription_receives_notifications_on(false)
}

fn subscription_receives_notifications_on(real: bool) {
    let path = temp_socket("subscribe");
    let broker = Bus::start(&path, real);
    let (owner, owner_ev) = spawn(&path, vec![test_object()], &[]);
    let (sub, sub_ev) = spawn(&path, vec![], &[]);
    wait_until("object test", || broker.registered("test"));
    sub.subscribe("test", T).unwrap();
    let active = UbusEvent::Subscribers {
        object: "test".into(),
        active: true,
    };
    next_event(&owner_ev, |e| *e == active);
    owner.notify("test", "changed", &json!({"x": "1"})).unwrap();
    let n = next_event(&sub_ev, |e| matches!(e, UbusEvent::Notification { .. }));
    let want = UbusEvent::Notification {
        object: "test".into(),
        method: "changed".into(),
        data: json!({"x": "1"}),
    };
    assert_eq!(n, want);
    assert_eq!(
        sub.subscribe("absent", T),
        Err(UbusError::Status(status::NOT_FOUND))
    );
    // The target goes away: the subscriber is told.
    drop(owner);
    let gone = UbusEvent::Unsubscribed {
        object: "test".into(),
    };
    next_event(&sub_ev, |e| *e == gone);
}

#[test]
fn garbage_from_the_broker_is_survived() {
    let path = temp_socket("garbage");
    let broker = Broker::start(&path).unwrap();
    let (_owner, _) = spawn(&path, vec![test_object()], &[]);
    let (caller, ev) = spawn(&path, vec![], &[]);
    wait_until("object test", || registered(&broker, "test"));
    assert!(echo(&caller).is_ok());

    // A well-framed message with a broken attribute, an unknown type, a version-1 message
    // and a stray reply: dropped, the connection stays.
    broker.inject(vector_tests::unhex(
        "00020001000000000000000c0300000600010000",
    ));
    broker.inject(UbusMsg::new(MsgType::Unknown(99), 1, 0, vec![]).to_bytes());
    broker.inject(vector_tests::unhex("010200010000000000000004"));
    broker.inject(UbusMsg::new(MsgType::Status, 999, 7, vec![Attr::Status(0)]).to_bytes());
    assert_eq!(echo(&caller).unwrap(), vec![json!({"msg": "hi"})]);
    assert!(!ev.try_iter().any(|e| e == UbusEvent::Disconnected));

    // A 2 MB length field: the stream cannot be trusted any more, so reconnect.
    broker.inject(vector_tests::unhex("000200010000000000200000"));
    next_event(&ev, |e| *e == UbusEvent::Disconnected);
    next_event(&ev, |e| matches!(e, UbusEvent::Connected { .. }));
    wait_until("object test again", || registered(&broker, "test"));
    let end = Instant::now() + Duration::from_secs(5);
    while echo(&caller).is_err() {
        assert!(Instant::now() < end, "calls do not work again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_ubusd_means_immediate_errors() {
    no_ubusd_means_immediate_errors_on(false)
}

fn no_ubusd_means_immediate_errors_on(real: bool) {
    let path = temp_socket("absent");
    let (h, _) = spawn(&path, vec![test_object()], &["x"]);
    let start = Instant::now();
    assert_eq!(echo(&h), Err(UbusError::NotConnected));
    assert_eq!(
        h.send_event("a", &json!({}), T),
        Err(UbusError::NotConnected)
    );
    assert_eq!(
        h.notify("test", "m", &json!({})),
        Err(UbusError::NotConnected)
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    // A broker appearing later is found by the retries.
    let broker = Bus::start(&path, real);
    wait_until("object test", || broker.registered("test"));
}

#[test]
fn cached_id_of_a_restarted_object_is_looked_up_again() {
    cached_id_of_a_restarted_object_is_looked_up_again_on(false)
}

fn cached_id_of_a_restarted_object_is_looked_up_again_on(real: bool) {
    let path = temp_socket("stale");
    let broker = Bus::start(&path, real);
    let (owner, _) = spawn(&path, vec![test_object()], &[]);
    let (caller, _) = spawn(&path, vec![], &[]);
    wait_until("object test", || broker.registered("test"));
    assert!(echo(&caller).is_ok());
    let old = broker.ids("test");
    drop(owner);
    wait_until("object test gone", || !broker.registered("test"));
    let (_owner, _) = spawn(&path, vec![test_object()], &[]);
    wait_until("object test back", || broker.registered("test"));
    assert_ne!(broker.ids("test"), old);
    assert_eq!(echo(&caller).unwrap(), vec![json!({"msg": "hi"})]);
}

/// The same tests against OpenWrt's real ubusd.
mod real_ubusd {
    #[test]
    fn call_round_trip_between_two_clients() {
        super::call_round_trip_between_two_clients_on(true)
    }
    #[test]
    fn call_to_a_silent_object_times_out_and_the_thread_goes_on() {
        super::call_to_a_silent_object_times_out_and_the_thread_goes_on_on(true)
    }
    #[test]
    fn broker_restart_fails_pending_calls_then_reconnects_and_reregisters() {
        super::broker_restart_fails_pending_calls_then_reconnects_and_reregisters_on(true)
    }
    #[test]
    fn events_reach_listeners_and_not_the_sender() {
        super::events_reach_listeners_and_not_the_sender_on(true)
    }
    #[test]
    fn subscription_receives_notifications() {
        super::subscription_receives_notifications_on(true)
    }
    #[test]
    fn no_ubusd_means_immediate_errors() {
        super::no_ubusd_means_immediate_errors_on(true)
    }
    #[test]
    fn cached_id_of_a_restarted_object_is_looked_up_again() {
        super::cached_id_of_a_restarted_object_is_looked_up_again_on(true)
    }
}
