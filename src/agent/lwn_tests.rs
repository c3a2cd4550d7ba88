//! Lightweight notifications from the agent on a virtual clock, received on a real UDP socket.

use super::*;
use crate::agent::timers::Clock;
use crate::agent::{Inputs, Options};
use crate::config::Config;
use crate::datamodel::SetValue;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PII: &str = "Device.ManagementServer.PeriodicInformInterval";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A UDP receiver on loopback.
fn receiver() -> (UdpSocket, u16) {
    let rx = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let port = rx.local_addr().expect("addr").port();
    (rx, port)
}

/// The next datagram within `wait` (real time: the sender thread runs on its own).
fn recv(rx: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    rx.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = vec![0u8; 65536];
    let (n, _) = rx.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// An agent with the fake data model, sessions off (`cpe.enable 0`: only lightweight
/// notifications leave it), a poll every second, `lwn` as given; on a virtual clock.
fn agent(lwn: &str) -> (Agent, Arc<Mutex<Now>>) {
    let dir = std::env::temp_dir().join(format!(
        "icwmp-lwn-agent-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let text = format!(
        "config acs 'acs'\n\toption url 'http://127.0.0.1:1/acs'\n\toption userid 'cpe1'\n\
         \toption passwd 'pw'\n\toption periodic_inform_enable '0'\n\
         \nconfig cpe 'cpe'\n\toption enable '0'\n\toption port '{}'\n\
         \toption periodic_notify_enable '1'\n\toption periodic_notify_interval '1'\n\
         \nconfig lwn 'lwn'\n{lwn}",
        free_port()
    );
    let config_path = dir.join("cwmp");
    std::fs::write(&config_path, &text).expect("config");
    let (config, _) = Config::from_str(&text, "cwmp").expect("config parses");
    let opts = Options {
        config_path,
        state_dir: dir,
        boot_event: false,
        get_rpc_methods: false,
        argv: Vec::new(),
    };
    let dm = Box::new(crate::rpc::fake::FakeDm::new());
    let mut agent = Agent::new(opts, config, dm, Inputs::default());
    let now = Arc::new(Mutex::new(Clock::system().now()));
    agent.use_clock(Clock::Virtual(now.clone()));
    (agent, now)
}

/// Runs the loop on the virtual clock for `span`, as `Agent::run` would with no input.
fn run_for(agent: &mut Agent, clock: &Mutex<Now>, span: Duration) {
    let end = clock.lock().unwrap().mono + span.as_millis() as u64;
    for _ in 0..10_000 {
        let wait = agent.turn();
        let mut now = clock.lock().unwrap();
        if now.mono >= end {
            return;
        }
        let step = (wait.as_millis() as u64).min(end - now.mono);
        now.mono += step;
        now.wall_ms += step as i64;
    }
    panic!("the loop spins");
}

fn set(agent: &mut Agent, value: &str) {
    let v = SetValue {
        name: PII.into(),
        value: value.into(),
        type_hint: None,
    };
    agent.dm.set_values(&[v]).expect("set");
}

fn body(d: &[u8]) -> String {
    lwn::verify(d, "pw").unwrap_or_else(|e| panic!("{e}")).1
}

#[test]
fn an_active_lightweight_change_goes_out_at_the_next_poll_with_the_passive_ones() {
    let (rx, port) = receiver();
    let (mut agent, clock) = agent(&format!(
        "\toption enable '1'\n\toption hostname '127.0.0.1'\n\toption port '{port}'\n"
    ));
    agent.attrs.set_notification(PII, 5);
    agent
        .attrs
        .set_notification("Device.ManagementServer.URL", 3);
    run_for(&mut agent, &clock, Duration::from_secs(2));
    let pc = SetValue {
        name: "Device.ManagementServer.URL".into(),
        value: "http://other/".into(),
        type_hint: None,
    };
    agent.dm.set_values(&[pc]).expect("set");
    run_for(&mut agent, &clock, Duration::from_secs(3));
    assert!(
        recv(&rx, Duration::from_millis(300)).is_none(),
        "a passive lightweight change alone waits"
    );
    set(&mut agent, "1234");
    run_for(&mut agent, &clock, Duration::from_millis(1100));
    let d = recv(&rx, Duration::from_secs(5)).expect("a lightweight notification");
    let b = body(&d);
    assert!(b.contains("<lwn:UN>cpe1</lwn:UN>"), "{b}");
    assert!(
        b.contains(&format!(
            "<lwn:Name>{PII}</lwn:Name><lwn:Value xsi:type=\"xsd:unsignedInt\">1234</lwn:Value>"
        )),
        "{b}"
    );
    assert!(
        b.contains("<lwn:Value xsi:type=\"xsd:string\">http://other/</lwn:Value>"),
        "{b}"
    );
    // Sent once: nothing more while nothing changes.
    run_for(&mut agent, &clock, Duration::from_secs(5));
    assert!(recv(&rx, Duration::from_millis(300)).is_none());
}

#[test]
fn passive_lightweight_changes_go_out_on_the_trigger_second() {
    let (rx, port) = receiver();
    let start = Clock::system().now();
    // Every 60 s from 10 s ahead of the clock.
    let phase = crate::time::format_datetime(start.unix() + 10);
    let (mut agent, clock) = agent(&format!(
        "\toption enable '1'\n\toption hostname '127.0.0.1'\n\toption port '{port}'\n\
         \toption trigger_interval '60'\n\toption trigger_time '{phase}'\n"
    ));
    *clock.lock().unwrap() = start;
    agent.use_clock(Clock::Virtual(clock.clone()));
    agent.attrs.set_notification(PII, 4);
    run_for(&mut agent, &clock, Duration::from_secs(2));
    set(&mut agent, "77");
    // Due 10 s after the start (minus the part of the second already gone): not before.
    let due_ms = 10_000 - start.wall_ms.rem_euclid(1000) as u64;
    let until_due = due_ms - (clock.lock().unwrap().mono - start.mono) - 1;
    run_for(&mut agent, &clock, Duration::from_millis(until_due));
    assert!(recv(&rx, Duration::from_millis(300)).is_none(), "early");
    run_for(&mut agent, &clock, Duration::from_millis(2));
    let d = recv(&rx, Duration::from_secs(5)).expect("sent on the trigger");
    assert!(body(&d).contains(">77</lwn:Value>"));
    // Level 4 is passive on the Inform side too: kept for the next session.
    assert_eq!(agent.changes.pending().len(), 1);
    // The next trigger 60 s later has nothing to send.
    run_for(&mut agent, &clock, Duration::from_secs(61));
    assert!(recv(&rx, Duration::from_millis(300)).is_none());
    assert!(agent
        .lwn
        .next_trigger
        .is_some_and(|t| (t - start.unix() - 10) % 60 == 0));
}

#[test]
fn nothing_is_sent_when_lightweight_notifications_are_off() {
    let (rx, port) = receiver();
    let (mut agent, clock) = agent(&format!(
        "\toption enable '0'\n\toption hostname '127.0.0.1'\n\toption port '{port}'\n\
         \toption trigger_interval '5'\n"
    ));
    agent.attrs.set_notification(PII, 6);
    run_for(&mut agent, &clock, Duration::from_secs(2));
    set(&mut agent, "999");
    run_for(&mut agent, &clock, Duration::from_secs(12));
    assert!(recv(&rx, Duration::from_millis(500)).is_none());
    assert!(!agent.changes.has_lightweight(), "dropped, not hoarded");
    assert!(agent.lwn.next_trigger.is_none());
    // Level 6 still reports passively through the Inform.
    assert_eq!(agent.changes.pending().len(), 1);
}

#[test]
fn sender_delivers_every_datagram_of_a_batch_to_a_numeric_address() {
    let (rx, port) = receiver();
    let tx = spawn_sender();
    let datagrams = vec![b"one".to_vec(), b"two".to_vec()];
    tx.send(Batch {
        host: "127.0.0.1".into(),
        port,
        datagrams,
    })
    .unwrap();
    for want in [&b"one"[..], b"two"] {
        assert_eq!(recv(&rx, Duration::from_secs(5)).as_deref(), Some(want));
    }
}

#[test]
fn an_unresolvable_host_is_an_error_not_a_panic() {
    let batch = Batch {
        host: "no-such-host.invalid".into(),
        port: 1,
        datagrams: vec![b"x".to_vec()],
    };
    assert!(send(&batch).is_err());
}
