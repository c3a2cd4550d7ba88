//! `cargo bench --bench bbfdm` (or `make bench`): ubus round trips and wall time of a probe-like
//! boot session on the bbfdm backend.
//!
//! Starts OpenWrt's real `ubusd` on a private socket, hosts the in-tree fake bbfdm on it, runs
//! the release `icwmpd` with `--datamodel bbfdm` against a scripted ACS in this process, and
//! prints, for both bbfdm API generations: the bbfdm/bbf.config calls each step made (from the
//! fake's call log), the wall time of the boot session, and the CPU time the fake bbfdm side
//! spent. The same session on the embedded model is the reference. Figures only: nothing here
//! asserts a target.

#[path = "common/port.rs"]
mod port;
#[path = "common/ubusd.rs"]
mod ubusd;

use icwmp::datamodel::bbfdm::fake::FakeBbfdm;
use icwmp::datamodel::bbfdm::Api;
use icwmp::ubus::{UbusConfig, UbusThread};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Sessions per backend (each a fresh daemon, bus and fake); BENCH_RUNS overrides.
fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7)
}

/// The RPCs of the boot session after the Inform, named for the report.
fn script() -> Vec<(&'static str, String)> {
    vec![
        ("GPV Device.DeviceInfo.", "<cwmp:GetParameterValues><ParameterNames><string>Device.DeviceInfo.</string></ParameterNames></cwmp:GetParameterValues>".into()),
        ("GPV 3 names", "<cwmp:GetParameterValues><ParameterNames><string>Device.DeviceInfo.SerialNumber</string><string>Device.DeviceInfo.UpTime</string><string>Device.ManagementServer.PeriodicInformInterval</string></ParameterNames></cwmp:GetParameterValues>".into()),
        ("SPV 2 values", "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name><Value>3600</Value></ParameterValueStruct><ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformEnable</Name><Value>1</Value></ParameterValueStruct></ParameterList><ParameterKey>probe</ParameterKey></cwmp:SetParameterValues>".into()),
        ("AddObject", "<cwmp:AddObject><ObjectName>Device.Users.User.</ObjectName><ParameterKey>probe</ParameterKey></cwmp:AddObject>".into()),
        ("SPA 2 paths", "<cwmp:SetParameterAttributes><ParameterList><SetParameterAttributesStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name><NotificationChange>1</NotificationChange><Notification>2</Notification><AccessListChange>0</AccessListChange><AccessList></AccessList></SetParameterAttributesStruct><SetParameterAttributesStruct><Name>Device.DeviceInfo.</Name><NotificationChange>1</NotificationChange><Notification>1</Notification><AccessListChange>0</AccessListChange><AccessList></AccessList></SetParameterAttributesStruct></ParameterList></cwmp:SetParameterAttributes>".into()),
        ("GPA 2 paths", "<cwmp:GetParameterAttributes><ParameterNames><string>Device.DeviceInfo.</string><string>Device.ManagementServer.PeriodicInformInterval</string></ParameterNames></cwmp:GetParameterAttributes>".into()),
    ]
}

fn envelope(id: u32, body: &str) -> String {
    format!(
        r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">{id}</cwmp:ID></soap-env:Header><soap-env:Body>{body}</soap-env:Body></soap-env:Envelope>"#
    )
}

/// One HTTP request's body (`None` at EOF).
fn read_body<R: BufRead>(r: &mut R) -> Option<String> {
    let mut len = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

/// What the ACS saw: the instant each CPE message arrived (the Inform first, then the answer
/// to each RPC; the second is the empty POST after the InformResponse) and the body of each.
struct Seen {
    at: Vec<Instant>,
    bodies: Vec<String>,
}

/// Serves one session on `acs`: InformResponse, then `rpcs` in turn, then 204. `mark` runs
/// as each message arrives (the call log is snapshotted there).
fn serve_session(acs: &TcpListener, rpcs: &[String], mut mark: impl FnMut()) -> Seen {
    let mut seen = Seen {
        at: Vec::new(),
        bodies: Vec::new(),
    };
    let mut next = rpcs.iter();
    let mut id = 0;
    // The daemon may open a new connection for a later POST: serve each until the 204.
    loop {
        let (s, _) = acs.accept().expect("ACS accept");
        let _ = s.set_nodelay(true);
        let mut r = BufReader::new(s);
        while let Some(body) = read_body(&mut r) {
            seen.at.push(Instant::now());
            mark();
            id += 1;
            let reply = if body.contains("<cwmp:Inform>") {
                Some(envelope(
                    id,
                    "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
                ))
            } else {
                next.next().map(|b| envelope(id, b))
            };
            seen.bodies.push(body);
            let out = match &reply {
                Some(b) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{b}",
                    b.len()
                ),
                None => "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".to_string(),
            };
            if r.get_mut().write_all(out.as_bytes()).is_err() {
                break;
            }
            if reply.is_none() {
                return seen;
            }
        }
    }
}

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time (user + system) of this whole process: the fake bbfdm's thread does almost all
/// of its work during a session (the ACS side only reads a few small messages).
fn process_cpu() -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// One run's figures.
struct Run {
    /// Calls made before the Inform arrived, until the empty POST, for each RPC, and after
    /// the session ended.
    calls: Vec<usize>,
    /// Daemon start to Inform on the wire, and Inform to the 204.
    to_inform: Duration,
    session: Duration,
    /// CPU time of this process (the fake bbfdm) during the whole run.
    fake_cpu: Duration,
    /// Every call of the run, for BENCH_VERBOSE=1.
    log: Vec<String>,
}

fn verbose() -> bool {
    std::env::var_os("BENCH_VERBOSE").is_some()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn one_run(exe: &str, dir: &Path, api: Option<Api>) -> Run {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("temp dir");
    let bus = ubusd::Ubusd::start(&dir.join("ubus.sock"));
    let fake = api.map(FakeBbfdm::new);
    let _server = fake.as_ref().map(|f| {
        let mut cfg = UbusConfig::new(Some(bus.socket().to_path_buf()));
        cfg.objects = f.objects();
        let s = UbusThread::spawn_with(cfg).expect("fake bbfdm client");
        // Registered before the daemon looks (its first lookup then finds it at once).
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.0.lookup("bbfdm", Duration::from_secs(1)).is_err() {
            assert!(Instant::now() < deadline, "fake bbfdm never registered");
            std::thread::sleep(Duration::from_millis(5));
        }
        s
    });
    let acs = TcpListener::bind("127.0.0.1:0").expect("bind ACS");
    let acs_port = acs.local_addr().expect("addr").port();
    let config = dir.join("cwmp");
    std::fs::write(
        &config,
        format!(
            "config acs 'acs'\n\toption url 'http://127.0.0.1:{acs_port}/acs'\n\toption periodic_inform_enable '0'\n\toption get_rpc_methods '0'\n\n\
             config cpe 'cpe'\n\toption port '{}'\n\toption userid 'cr'\n\toption passwd 'crpass'\n\toption cr_host '127.0.0.1'\n\toption log_severity '{}'\n\toption log_to_console '1'\n",
            port::daemon_port(),
            if verbose() { "DEBUG" } else { "WARNING" }
        ),
    )
    .expect("config");
    let calls = |f: &Option<FakeBbfdm>| f.as_ref().map_or(0, |f| f.state().calls.len());
    let (rpcs, _): (Vec<String>, Vec<&str>) = script().into_iter().map(|(n, b)| (b, n)).unzip();
    let cpu0 = process_cpu();
    let start = Instant::now();
    let child = Command::new(exe)
        .args(["-b", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--ubus-socket")
        .arg(bus.socket())
        .args([
            "--datamodel",
            if api.is_some() { "bbfdm" } else { "embedded" },
        ])
        // BENCH_VERBOSE=1: the daemon's debug log, for where the calls come from.
        .stderr(match verbose() {
            true => Stdio::from(std::fs::File::create(dir.with_extension("log")).expect("log")),
            false => Stdio::null(),
        })
        .spawn()
        .expect("start icwmpd");
    let daemon = Daemon(child);
    let (tx, rx) = mpsc::channel();
    let fake2 = fake.clone();
    let t = std::thread::spawn(move || {
        let seen = serve_session(&acs, &rpcs, || {
            let _ = tx.send(calls(&fake2));
        });
        (seen, acs)
    });
    let (seen, _acs) = t.join().expect("ACS thread");
    let marks: Vec<usize> = rx.try_iter().collect();
    assert_eq!(
        seen.bodies.len(),
        // The Inform, the empty POST after the InformResponse, one answer per RPC.
        script().len() + 2,
        "session incomplete: {:?}",
        seen.bodies.last()
    );
    for (b, (name, _)) in seen.bodies[2..].iter().zip(script()) {
        assert!(!b.contains("Fault>"), "{name} answered a fault: {b}");
    }
    // The end-of-session work (notification baseline, deferred commits) follows the 204.
    let mut last = calls(&fake);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = calls(&fake);
        if now == last {
            break;
        }
        last = now;
    }
    let fake_cpu = process_cpu() - cpu0;
    let mut per = vec![marks[0]];
    per.extend(marks.windows(2).map(|w| w[1] - w[0]));
    per.push(last - marks[marks.len() - 1]);
    let log = fake.as_ref().map_or_else(Vec::new, |f| {
        f.state()
            .calls
            .iter()
            .map(|(m, a)| format!("{m} {a}"))
            .collect()
    });
    drop(daemon);
    Run {
        calls: per,
        to_inform: seen.at[0] - start,
        session: seen.at[seen.at.len() - 1] - seen.at[0],
        fake_cpu,
        log,
    }
}

fn report(label: &str, runs: &[Run]) -> f64 {
    let r0 = &runs[0];
    let total: usize = r0.calls.iter().sum();
    println!("== {label}");
    if total > 0 {
        let mut steps = vec![
            "before the Inform (Inform values, notification checks)".to_string(),
            "InformResponse -> empty POST".to_string(),
        ];
        steps.extend(script().iter().map(|(n, _)| n.to_string()));
        steps.push("after the 204 (notification baseline, deferred work)".into());
        for (s, n) in steps.iter().zip(&r0.calls) {
            println!("  {s:<56} {n:3} calls");
        }
        println!("  boot session total: {total} bbfdm/bbf.config calls");
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let session = median(runs.iter().map(|r| ms(r.session)).collect());
    println!(
        "  daemon start -> Inform on the wire: median {:.2} ms; Inform -> 204: median {:.2} ms ({} runs)",
        median(runs.iter().map(|r| ms(r.to_inform)).collect()),
        session,
        runs.len()
    );
    if total > 0 {
        println!(
            "  CPU time of the fake bbfdm side (this process) per run: median {:.2} ms",
            median(runs.iter().map(|r| ms(r.fake_cpu)).collect())
        );
    }
    if verbose() {
        for l in &r0.log {
            println!("    {l}");
        }
    }
    session
}

fn main() {
    // ICWMPD runs another build (a copy of an earlier one, for before/after figures).
    let exe = std::env::var("ICWMPD").unwrap_or_else(|_| env!("CARGO_BIN_EXE_icwmpd").into());
    let exe = exe.as_str();
    println!("binary: {exe}");
    let dir = std::env::temp_dir().join(format!("icwmp-bench-bbfdm-{}", std::process::id()));
    let backends = [
        ("embedded model (reference)", None),
        ("bbfdm, current API (bbf.config)", Some(Api::BbfConfig)),
        ("bbfdm 7.x API (transaction)", Some(Api::Transaction)),
    ];
    for (label, api) in backends {
        let runs: Vec<Run> = (0..runs()).map(|_| one_run(exe, &dir, api)).collect();
        report(label, &runs);
    }
    round_trip(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What one bbfdm call costs on the bus, whatever it asks: a client's `get` of one parameter
/// to the fake through ubusd, repeated.
fn round_trip(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("temp dir");
    let bus = ubusd::Ubusd::start(&dir.join("ubus.sock"));
    let fake = FakeBbfdm::new(Api::BbfConfig);
    let mut cfg = UbusConfig::new(Some(bus.socket().to_path_buf()));
    cfg.objects = fake.objects();
    let _server = UbusThread::spawn_with(cfg).expect("fake bbfdm client");
    let (client, _rx) =
        UbusThread::spawn_with(UbusConfig::new(Some(bus.socket().to_path_buf()))).expect("client");
    let args = serde_json::json!({"path": "Device.DeviceInfo.UpTime",
        "optional": {"proto": "cwmp", "format": "raw"}});
    let call = || client.call("bbfdm", "get", &args, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    while call().is_err() {
        assert!(Instant::now() < deadline, "fake bbfdm never answered");
        std::thread::sleep(Duration::from_millis(5));
    }
    let times: Vec<f64> = (0..500)
        .map(|_| {
            let t = Instant::now();
            call().expect("get");
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    println!(
        "== one bbfdm call through ubusd (client thread -> ubusd -> fake -> back): median {:.0} us (500 calls)",
        median(times)
    );
}
