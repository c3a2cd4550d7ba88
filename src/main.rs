//! `icwmpd`: command line of the daemon. Parses options, loads the config and hands over to the
//! agent's main loop or to the CLI.

use icwmp::agent::{self, Agent, Options};
use icwmp::config::{Config, UciConfigStore};
use icwmp::datamodel::embedded::EmbeddedDataModel;
use icwmp::datamodel::DataModel;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
        "log-level",
        "log severity (overrides cpe.log_severity); also logs to stderr",
        "LEVEL",
    );
    o
}

/// Opens the data-model backend named on the command line.
fn open_datamodel(
    kind: &str,
    state_dir: &Path,
    config: &Path,
) -> Result<Box<dyn DataModel>, String> {
    match kind {
        "embedded" | "auto" => {
            let store = Box::new(UciConfigStore::new(config));
            Ok(Box::new(EmbeddedDataModel::new(state_dir, store)))
        }
        "bbfdm" => Err("the bbfdm backend is not available in this build".into()),
        other => Err(format!(
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
    let dm = match open_datamodel(&dm_kind, &state_dir, &config_path) {
        Ok(dm) => dm,
        Err(e) => {
            eprintln!("icwmpd: {e}");
            return ExitCode::from(1);
        }
    };

    if m.opt_present("c") {
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

    agent::tune_allocator();
    agent::block_signals();
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
    ExitCode::from(agent.run() as u8)
}
