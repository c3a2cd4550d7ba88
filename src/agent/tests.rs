//! The main loop on a virtual clock: when sessions start, how often the loop wakes, what the
//! retry carries. The ACS is a real HTTP server on loopback; only the clock is virtual.

use super::timers::{Clock, Now};
use super::{Agent, Inputs, Options};
use crate::config::Config;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

static N: AtomicUsize = AtomicUsize::new(0);

fn tmpdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "icwmp-agent-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// An ACS answering each POST with the next scripted (status, body), then as a plain ACS
/// would (InformResponse, then 204); it records the bodies it receives.
struct ScriptedAcs {
    url: String,
    script: Arc<Mutex<VecDeque<(u16, String)>>>,
    received: Arc<Mutex<Vec<String>>>,
}

impl ScriptedAcs {
    fn start() -> ScriptedAcs {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("acs");
        let port = server.server_addr().to_ip().expect("ip").port();
        let script = Arc::new(Mutex::new(VecDeque::<(u16, String)>::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (script.clone(), received.clone());
        std::thread::spawn(move || {
            for mut req in server.incoming_requests() {
                let mut body = String::new();
                let _ = std::io::Read::read_to_string(req.as_reader(), &mut body);
                // Unscripted: an Inform gets its response, anything else 204.
                let default = if body.contains("<cwmp:Inform>") {
                    (200, INFORM_RESPONSE.to_string())
                } else {
                    (204, String::new())
                };
                r.lock().unwrap().push(body);
                let (status, answer) = s.lock().unwrap().pop_front().unwrap_or(default);
                let _ =
                    req.respond(tiny_http::Response::from_string(answer).with_status_code(status));
            }
        });
        ScriptedAcs {
            url: format!("http://127.0.0.1:{port}/acs"),
            script,
            received,
        }
    }

    fn push(&self, status: u16, body: &str) {
        self.script
            .lock()
            .unwrap()
            .push_back((status, body.to_string()));
    }

    fn informs(&self) -> Vec<String> {
        let r = self.received.lock().unwrap();
        r.iter()
            .filter(|b| b.contains("<cwmp:Inform>"))
            .cloned()
            .collect()
    }
}

const INFORM_RESPONSE: &str = r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>"#;

/// An agent with a fake data model, talking to `url`, on a virtual clock starting now.
fn agent(url: &str, extra_acs: &str) -> (Agent, Arc<Mutex<Now>>, PathBuf) {
    let dir = tmpdir();
    let config_path = dir.join("cwmp");
    let text = format!(
        "config acs 'acs'\n\toption url '{url}'\n\toption periodic_inform_enable '0'\n\
         \toption get_rpc_methods '0'\n{extra_acs}\
         \nconfig cpe 'cpe'\n\toption port '{}'\n\toption cr_host '127.0.0.1'\n\
         \toption periodic_notify_enable '0'\n",
        free_port()
    );
    std::fs::write(&config_path, &text).expect("config");
    let (config, _) = Config::from_str(&text, "cwmp").expect("config parses");
    let opts = Options {
        config_path,
        state_dir: dir.clone(),
        boot_event: true,
        get_rpc_methods: false,
        argv: Vec::new(),
    };
    let dm = Box::new(crate::rpc::fake::FakeDm::new());
    let mut agent = Agent::new(opts, config, dm, Inputs::default());
    let now = Arc::new(Mutex::new(Clock::system().now()));
    agent.use_clock(Clock::Virtual(now.clone()));
    (agent, now, dir)
}

fn advance(clock: &Mutex<Now>, d: Duration) {
    let mut now = clock.lock().unwrap();
    now.mono += d.as_millis() as u64;
    now.wall_ms += d.as_millis() as i64;
}

fn elapsed_ms(clock: &Mutex<Now>, since: Now) -> u64 {
    clock.lock().unwrap().mono - since.mono
}

/// Runs the loop on the virtual clock for `span`, as `Agent::run` would with no input:
/// returns the wake-ups and the virtual times (ms from the start) at which sessions started.
fn run_for(agent: &mut Agent, clock: &Mutex<Now>, span: Duration) -> (u32, Vec<u64>) {
    let start = *clock.lock().unwrap();
    let mut wakeups = 0;
    let mut starts = Vec::new();
    loop {
        let before = agent.stats.success + agent.stats.failure;
        let t = elapsed_ms(clock, start);
        let wait = agent.turn();
        let after = agent.stats.success + agent.stats.failure;
        for _ in before..after {
            starts.push(t);
        }
        let left = span.saturating_sub(Duration::from_millis(elapsed_ms(clock, start)));
        if left.is_zero() {
            return (wakeups, starts);
        }
        advance(clock, wait.min(left));
        wakeups += 1;
        assert!(wakeups < 10_000, "the loop spins: {wakeups} wake-ups");
    }
}

#[test]
fn a_failure_after_the_inform_response_is_retried_on_schedule_with_retry_count_1() {
    let acs = ScriptedAcs::start();
    // The InformResponse empties the event queue, then a truncated envelope fails the session.
    acs.push(200, INFORM_RESPONSE);
    acs.push(200, &INFORM_RESPONSE[..INFORM_RESPONSE.len() / 2]);
    let (mut agent, clock, _dir) = agent(&acs.url, "");
    let t0 = *clock.lock().unwrap();
    agent.turn();
    assert_eq!(agent.stats.failure, 1, "the first session fails");
    assert_eq!(acs.informs().len(), 1);
    assert!(
        agent.state.events.is_empty(),
        "the InformResponse delivered the events"
    );
    // An hour of nothing: the retry comes once, 5-10 s after the failure (defaults m=5,
    // k=2000), and the loop then sleeps; it never spins.
    let (wakeups, _) = run_for(&mut agent, &clock, Duration::from_secs(3600));
    assert_eq!(agent.stats.success, 1, "the retry session succeeded");
    let informs = acs.informs();
    assert_eq!(informs.len(), 2, "exactly one retry");
    assert!(
        informs[1].contains("<RetryCount>1</RetryCount>"),
        "{}",
        informs[1]
    );
    let retried_at = agent.stats.last_start.unwrap() - t0.unix();
    assert!((5..=11).contains(&retried_at), "retry after {retried_at} s");
    assert!(wakeups <= 4, "{wakeups} wake-ups in an idle hour");
    assert_eq!(agent.retry_count, 0, "reset by the successful retry");
}

#[test]
fn a_dead_acs_is_retried_on_the_backoff_schedule_and_the_loop_sleeps_between() {
    // Connection refused: a transport error at the first POST.
    let url = format!("http://127.0.0.1:{}/acs", free_port());
    let (mut agent, clock, _dir) = agent(&url, "");
    let (wakeups, starts) = run_for(&mut agent, &clock, Duration::from_secs(3600));
    // Sessions at 0, then each wait within [5·2^(n-1), 5·2^n] s.
    assert!(
        starts.len() >= 8 && starts.len() <= 10,
        "sessions at {starts:?}"
    );
    for (n, pair) in starts.windows(2).enumerate() {
        let gap = (pair[1] - pair[0]) / 1000;
        let (lo, hi) = crate::schedule::retry_window(n as u32 + 1, 5, 2000);
        assert!(
            gap >= lo && gap <= hi + 1,
            "retry {}: {gap} s, not in [{lo}, {hi}]",
            n + 1
        );
    }
    assert_eq!(agent.retry_count as usize, starts.len());
    assert!(
        wakeups as usize <= starts.len() + 2,
        "{wakeups} wake-ups for {} sessions",
        starts.len()
    );
    // The events are still owed.
    assert!(!agent.state.events.is_empty());
}

#[test]
fn an_http_error_status_and_a_fault_to_the_inform_are_retried() {
    let acs = ScriptedAcs::start();
    acs.push(500, "oops");
    let fault = INFORM_RESPONSE.replace(
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
        "<soap-env:Fault><faultcode>Server</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>8002</FaultCode><FaultString>Internal error</FaultString></cwmp:Fault></detail></soap-env:Fault>",
    );
    acs.push(200, &fault);
    let (mut agent, clock, _dir) = agent(&acs.url, "");
    let (_, starts) = run_for(&mut agent, &clock, Duration::from_secs(600));
    assert_eq!(starts.len(), 3, "sessions at {starts:?}");
    let informs = acs.informs();
    for (i, inform) in informs.iter().enumerate() {
        assert!(
            inform.contains(&format!("<RetryCount>{i}</RetryCount>")),
            "{inform}"
        );
        // BOOT is owed until an InformResponse acknowledges it.
        assert!(inform.contains("1 BOOT"), "{inform}");
    }
    assert_eq!(agent.stats.success, 1);
}

#[test]
fn heartbeats_start_on_their_due_second_without_the_notify_poll() {
    let acs = ScriptedAcs::start();
    // Phase: every 60 s from a time 10 s ahead of the clock.
    let start = Clock::system().now();
    let phase = crate::time::format_datetime(start.unix() + 10);
    let extra = format!(
        "\toption heartbeat_enable '1'\n\toption heartbeat_interval '60'\n\
         \toption heartbeat_time '{phase}'\n"
    );
    let (mut agent, clock, _dir) = agent(&acs.url, &extra);
    *clock.lock().unwrap() = start;
    agent.use_clock(Clock::Virtual(clock.clone()));
    let (wakeups, starts) = run_for(&mut agent, &clock, Duration::from_secs(200));
    // The boot session at 0, then heartbeats due at 10, 70, 130, 190 s: each started within
    // the second it is due (the wall clock started mid-second).
    assert_eq!(starts.len(), 5, "sessions at {starts:?}");
    for (k, t) in starts[1..].iter().enumerate() {
        let due = 10_000 + 60_000 * k as u64 - (start.wall_ms.rem_euclid(1000) as u64);
        assert!(
            *t >= due && *t < due + 1000,
            "heartbeat {k} at {t} ms, due {due}"
        );
    }
    let informs = acs.informs();
    for hb in &informs[1..] {
        assert!(hb.contains("<EventCode>14 HEARTBEAT</EventCode>"), "{hb}");
        assert!(
            hb.contains("cwmp:EventStruct[1]"),
            "a heartbeat goes alone: {hb}"
        );
    }
    assert!(wakeups <= 8, "{wakeups} wake-ups");
}

/// The virtual times (ms from the start) of the sessions whose Inform carried `code`.
fn starts_with_event(acs: &ScriptedAcs, starts: &[u64], code: &str) -> Vec<u64> {
    acs.informs()
        .iter()
        .zip(starts)
        .filter(|(inform, _)| inform.contains(&format!("<EventCode>{code}</EventCode>")))
        .map(|(_, t)| *t)
        .collect()
}

#[test]
fn periodic_informs_fall_on_the_phase_of_periodic_inform_time() {
    let acs = ScriptedAcs::start();
    let start = Clock::system().now();
    let phase = crate::time::format_datetime(start.unix() + 5);
    let extra = format!(
        "\toption periodic_inform_enable '1'\n\toption periodic_inform_interval '30'\n\
         \toption periodic_inform_time '{phase}'\n"
    );
    let (mut agent, clock, _dir) = agent(&acs.url, &extra);
    *clock.lock().unwrap() = start;
    agent.use_clock(Clock::Virtual(clock.clone()));
    let (wakeups, starts) = run_for(&mut agent, &clock, Duration::from_secs(100));
    let periodic = starts_with_event(&acs, &starts, "2 PERIODIC");
    let frac = start.wall_ms.rem_euclid(1000) as u64;
    let due: Vec<u64> = [5_000, 35_000, 65_000, 95_000]
        .iter()
        .map(|d| d - frac)
        .collect();
    assert_eq!(periodic, due, "sessions at {starts:?}");
    assert!(wakeups <= 6, "{wakeups} wake-ups");
}

/// A change made on the device, not by the ACS.
fn set_local(agent: &mut Agent, name: &str, value: &str) {
    let set = [crate::datamodel::SetValue {
        name: name.into(),
        value: value.into(),
        type_hint: None,
    }];
    agent.dm.set_values(&set).expect("set");
}

#[test]
fn the_notify_poll_runs_every_interval_and_an_active_change_waits_for_the_throttle() {
    let acs = ScriptedAcs::start();
    let (mut agent, clock, _dir) = agent(&acs.url, "");
    let code = "Device.DeviceInfo.ProvisioningCode";
    agent.config.cpe.periodic_notify_enable = true;
    agent.config.cpe.periodic_notify_interval = 10;
    agent.config.cpe.active_notif_throttle = 25;
    agent.attrs.set_notification(code, 2);
    agent.use_clock(Clock::Virtual(clock.clone()));
    // The boot session, then an idle minute: one wake-up per poll.
    let (wakeups, starts) = run_for(&mut agent, &clock, Duration::from_secs(60));
    assert_eq!(starts, [0], "only the boot session");
    assert!((6..=7).contains(&wakeups), "{wakeups} wake-ups for 6 polls");
    // A local change at 60 s: found by the poll at 70 s, and held until 25 s after the
    // boot session ended (t = 0), which has passed: it goes at once.
    set_local(&mut agent, code, "changed");
    let (_, starts) = run_for(&mut agent, &clock, Duration::from_secs(15));
    assert_eq!(starts, [10_000], "a session at the next poll");
    // Another change right after that session: the throttle holds it 25 s from its end.
    set_local(&mut agent, code, "again");
    let (_, starts) = run_for(&mut agent, &clock, Duration::from_secs(60));
    // Now is t = 15 s after the previous session at 10 s; found at the poll at 20 s (t=5 s
    // here), held until 10 + 25 = 35 s, that is 20 s from here (the session's end is kept
    // in whole wall-clock seconds: within a second of that).
    assert_eq!(starts.len(), 1, "sessions at {starts:?}");
    assert!(
        (19_000..=21_000).contains(&starts[0]),
        "throttled session at {starts:?}"
    );
    let informs = acs.informs();
    assert!(informs.last().unwrap().contains("again"));
}

#[test]
fn a_scheduled_inform_starts_on_its_due_second_and_a_reboot_grace_holds_sessions() {
    let acs = ScriptedAcs::start();
    let (mut agent, clock, _dir) = agent(&acs.url, "");
    let (_, starts) = run_for(&mut agent, &clock, Duration::from_secs(1));
    assert_eq!(starts, [0]);
    let now = *clock.lock().unwrap();
    agent.state.scheduled.push(super::state::ScheduledInform {
        due: now.unix() + 7,
        command_key: "k7".into(),
    });
    let (_, starts) = run_for(&mut agent, &clock, Duration::from_secs(20));
    let due = 7_000 - now.wall_ms.rem_euclid(1000) as u64;
    assert_eq!(starts, [due], "sessions at {starts:?}");
    assert!(acs.informs().last().unwrap().contains("M ScheduleInform"));
    // A reboot asked of the system holds every session until its grace ends.
    let now = *clock.lock().unwrap();
    agent.timers.set(
        super::timers::Timer::RebootGrace,
        now.after(Duration::from_secs(300)),
    );
    agent.raise(crate::events::EventCode::ConnectionRequest, "");
    let (_, starts) = run_for(&mut agent, &clock, Duration::from_secs(400));
    assert_eq!(starts, [300_000], "sessions at {starts:?}");
}
