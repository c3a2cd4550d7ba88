//! `icwmpd`: command line of the daemon. Parses options, loads the config and hands over to the
//! agent's main loop or to the CLI.

use icwmp::agent::{self, tr069, Agent, Options, UbusLink};
use icwmp::config::{Config, InstanceMode, UciConfigStore};
use icwmp::datamodel::bbfdm::BbfdmDataModel;
use icwmp::datamodel::embedded::EmbeddedDataModel;
use icwmp::datamodel::DataModel;
use icwmp::ubus::{client::DEFAULT_SOCKETS, UbusError, UbusHandle, UbusThread};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const DEFAULT_CONFIG: &str = "/etc/config/cwmp";
const DEFAULT_STATE_DIR: &str = "/etc/icwmpd";

fn usage(opts: &getopts::Options) -> String {
    let brief = "Usage: icwmpd [options]\n       icwmpd -c <command> [args]\n\n\
        CLI commands: get <path> | get_names <path> <next-level> | set <path> <value> [key] |\n\
        add <object> [key] | del <object> [key] | get_notif <path> | set_notif <path> <0-6>";
    opts.usage(brief)
}

fn options() -> getopts::Options {
    let mut o = getopts::Options::new();
    o.optflag("b", "boot-event", "report 1 BOOT in the first session");
    o.optflag("g", "get-rpc-methods", "send GetRPCMethods to the ACS");
    o.optflag("c", "cli", "run a CLI command on the data model and exit");
    o.optflag("h", "help", "print this help");
    o.optflag("v", "version", "print the version");
    o.optopt(
        "",
        "config",
        "UCI config file (default /etc/config/cwmp)",
        "FILE",
    );
    o.optopt(
        "",
        "state-dir",
        "persistent state directory (default /etc/icwmpd)",
        "DIR",
    );
    o.optopt(
        "",
        "datamodel",
        "data-model backend: embedded, bbfdm or auto",
        "KIND",
    );
    o.optopt(
        "",
        "ubus-socket",
        "ubusd socket (default /var/run/ubus/ubus.sock, then /var/run/ubus.sock)",
        "PATH",
    );
    o.optopt(
        "",
        "log-level",
        "log severity (overrides cpe.log_severity); also logs to stderr",
        "LEVEL",
    );
    o
}

/// How long `--datamodel bbfdm` waits for bbfdm at start (as the C one).
const BBFDM_WAIT: Duration = Duration::from_secs(60);

/// bbfdm's daemon: when installed, `auto` waits for it rather than falling back.
const BBFDMD: &str = "/usr/sbin/bbfdmd";

/// Whether a ubusd socket file exists where the client will look.
fn ubus_socket_exists(socket: Option<&Path>) -> bool {
    match socket {
        Some(p) => p.exists(),
        None => DEFAULT_SOCKETS.iter().any(|p| Path::new(p).exists()),
    }
}

/// `--datamodel auto`: whether `bbfdm` is on the bus now (waits up to 3 s for the connection;
/// none when there is no ubusd socket at all).
fn bbfdm_present(ubus: &UbusHandle, socket: Option<&Path>) -> bool {
    if !ubus_socket_exists(socket) {
        return false;
    }
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        match ubus.lookup("bbfdm", Duration::from_secs(1)) {
            Ok(objs) => return !objs.is_empty(),
            Err(UbusError::NotConnected) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(_) => return false,
        }
    }
}

/// Opens the data-model backend named on the command line.
fn open_datamodel(
    kind: &str,
    state_dir: &Path,
    config_path: &Path,
    config: &Config,
    ubus: Option<(&UbusHandle, Option<&Path>)>,
) -> Result<Box<dyn DataModel>, String> {
    let embedded = || -> Box<dyn DataModel> {
        let store = Box::new(UciConfigStore::new(config_path));
        Box::new(EmbeddedDataModel::new(state_dir, store))
    };
    let bbfdm = |ubus: &UbusHandle, wait| -> Result<Box<dyn DataModel>, String> {
        let mut dm = BbfdmDataModel::connect(ubus.clone(), wait)?;
        dm.set_alias_mode(config.cpe.instance_mode == InstanceMode::Alias);
        Ok(Box::new(dm))
    };
    match (kind, ubus) {
        ("embedded", _) | ("auto", None) => Ok(embedded()),
        ("auto", Some((h, socket))) => {
            if bbfdm_present(h, socket) {
                bbfdm(h, Duration::from_secs(5))
            } else if Path::new(BBFDMD).exists() {
                // Installed but not up yet (boot order): wait for it as `bbfdm` does.
                bbfdm(h, BBFDM_WAIT)
            } else {
                log::info!("no bbfdm on ubus: embedded data model");
                Ok(embedded())
            }
        }
        ("bbfdm", Some((h, _))) => bbfdm(h, BBFDM_WAIT),
        ("bbfdm", None) => Err("the bbfdm data model needs ubus".into()),
        (other, _) => Err(format!(
            "unknown data model '{other}' (embedded, bbfdm or auto)"
        )),
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let opts = options();
    let m = match opts.parse(&argv[1..]) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("icwmpd: {e}\n{}", usage(&opts));
            return ExitCode::from(2);
        }
    };
    if m.opt_present("h") {
        print!("{}", usage(&opts));
        return ExitCode::SUCCESS;
    }
    if m.opt_present("v") {
        println!("icwmpd {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let config_path = PathBuf::from(m.opt_str("config").unwrap_or_else(|| DEFAULT_CONFIG.into()));
    let state_dir = PathBuf::from(
        m.opt_str("state-dir")
            .unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
    );
    let dm_kind = m.opt_str("datamodel").unwrap_or_else(|| "auto".into());

    let (config, warnings) = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            return ExitCode::from(1);
        }
    };
    let level = m
        .opt_str("log-level")
        .as_deref()
        .and_then(icwmp::logging::parse_severity);
    if m.opt_present("c") {
        // The CLI prints its own results; only problems go to the console.
        icwmp::logging::init(level.unwrap_or(log::LevelFilter::Warn));
    } else {
        let mut log_cfg = icwmp::logging::LogConfig::from_cpe(&config.cpe, level);
        // A level given on the command line means someone watches stderr.
        log_cfg.console |= level.is_some();
        icwmp::logging::init_with(log_cfg);
    }
    for w in warnings {
        log::warn!("{w}");
    }
    if let Err(e) = std::fs::create_dir_all(&state_dir) {
        eprintln!(
            "icwmpd: cannot create state dir {}: {e}",
            state_dir.display()
        );
        return ExitCode::from(1);
    }
    let socket = m.opt_str("ubus-socket").map(PathBuf::from);
    let cli = m.opt_present("c");
    if !cli {
        agent::tune_allocator();
        agent::block_signals();
    }
    // The daemon always runs the ubus thread (the tr069 object appears whenever a ubusd does);
    // the CLI only when its data model may need it.
    let status = tr069::SharedStatus::default();
    let (tr069_tx, tr069_rx) = crossbeam_channel::unbounded();
    // `request_download` talks to the running daemon over ubus, whatever the data model.
    let request_download = cli && m.free.first().map(String::as_str) == Some("request_download");
    let ubus = if cli && dm_kind == "embedded" && !request_download {
        None
    } else {
        let objects = if cli {
            Vec::new()
        } else {
            vec![tr069::object(status.clone(), tr069_tx)]
        };
        let listeners = if cli {
            Vec::new()
        } else {
            agent::LISTENERS.iter().map(|s| s.to_string()).collect()
        };
        match UbusThread::spawn(socket.clone(), objects, listeners) {
            Ok(u) => Some(u),
            Err(e) => {
                log::error!("ubus thread not started: {e}");
                None
            }
        }
    };
    if !cli && !ubus_socket_exists(socket.as_deref()) {
        log::info!("no ubusd socket yet: the tr069 object is registered once ubusd is up");
    }
    if request_download {
        let handle = ubus.as_ref().and_then(|(h, events)| {
            // The thread connects in the background: wait for it (or give up) first.
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match events.recv_timeout(left) {
                    Ok(icwmp::ubus::UbusEvent::Connected { .. }) => return Some(h),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
        });
        return ExitCode::from(icwmp::cli::request_download(&m.free[1..], handle));
    }
    let dm = match open_datamodel(
        &dm_kind,
        &state_dir,
        &config_path,
        &config,
        ubus.as_ref().map(|(h, _)| (h, socket.as_deref())),
    ) {
        Ok(dm) => dm,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            return ExitCode::from(1);
        }
    };

    if cli {
        let code = icwmp::cli::run(&m.free, dm, &state_dir, &config_path, &config);
        return ExitCode::from(code);
    }
    if !m.free.is_empty() {
        eprintln!(
            "icwmpd: unexpected argument '{}'\n{}",
            m.free[0],
            usage(&opts)
        );
        return ExitCode::from(2);
    }

    let sig_rx = match agent::spawn_signal_thread() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("icwmpd: cannot start signal thread: {e}");
            return ExitCode::from(1);
        }
    };
    let options = Options {
        config_path,
        state_dir,
        boot_event: m.opt_present("b"),
        get_rpc_methods: m.opt_present("g"),
        argv,
    };
    let mut agent = Agent::new(options, config, dm, sig_rx);
    if let Some((handle, events)) = ubus {
        agent.attach_ubus(UbusLink {
            handle,
            events,
            requests: tr069_rx,
            status,
        });
    }
    ExitCode::from(agent.run() as u8)
}
