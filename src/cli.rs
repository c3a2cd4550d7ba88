//! `icwmpd -c <command>`: the C icwmp's debug CLI, served by the same RPC handlers as the ACS
//! so validation and faults are identical. Output: `Path => value`, errors `Fault 9005: ...`.

use crate::config::Config;
use crate::datamodel::{DataModel, SetValue};
use crate::fault::Fault;
use crate::notify::NotifyAttributes;
use crate::rpc::{self, Action, RpcContext};
use crate::soap::{AcsRequest, CpeResponse, SetAttribute};
use std::path::Path;

/// What `icwmpd -c help` prints: every CLI command with its arguments.
pub const HELP: &str = "\
Usage: icwmpd -c <command> [args]

Commands:
    help                              print this list
    get <path>                        GetParameterValues: prints `path => value` lines
    get_names <path> [next-level]     GetParameterNames: `name => writable` (next-level 1/true)
    set <path> <value> [key]          SetParameterValues, key stored as the ParameterKey
    add <object> [key]                AddObject: prints `object.N. => added`
    del <object> [key]                DeleteObject
    get_notif <path>                  GetParameterAttributes: prints `path => notification`
    set_notif <path> <0-6>            SetParameterAttributes (notification only)
    request_download <FileType> [name=value]...
                                      ask the running daemon to send RequestDownload
";

/// `icwmpd -c help`: prints [`HELP`]; needs neither the data model nor the daemon.
pub fn help() -> u8 {
    print!("{HELP}");
    0
}

/// Runs one CLI command; returns the process exit code (0 ok, 1 fault, 2 usage).
pub fn run(
    args: &[String],
    mut dm: Box<dyn DataModel>,
    state_dir: &Path,
    config_path: &Path,
    config: &Config,
) -> u8 {
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("icwmpd -c: missing command (icwmpd -c help lists them)");
        return 2;
    };
    let arg = |i: usize| rest.get(i).cloned().unwrap_or_default();
    let req = match (cmd.as_str(), rest.len()) {
        ("get", 1) => AcsRequest::GetParameterValues {
            names: vec![arg(0)],
        },
        ("get_names", 1 | 2) => AcsRequest::GetParameterNames {
            path: arg(0),
            next_level: matches!(arg(1).as_str(), "1" | "true"),
        },
        ("set", 2 | 3) => AcsRequest::SetParameterValues {
            values: vec![SetValue {
                name: arg(0),
                value: arg(1),
                type_hint: None,
            }],
            parameter_key: arg(2),
        },
        ("add", 1 | 2) => AcsRequest::AddObject {
            object_name: arg(0),
            parameter_key: arg(1),
        },
        ("del", 1 | 2) => AcsRequest::DeleteObject {
            object_name: arg(0),
            parameter_key: arg(1),
        },
        ("get_notif", 1) => AcsRequest::GetParameterAttributes {
            names: vec![arg(0)],
        },
        ("set_notif", 2) => match arg(1).parse::<u8>() {
            Ok(n) => AcsRequest::SetParameterAttributes {
                attributes: vec![SetAttribute {
                    name: arg(0),
                    notification_change: true,
                    notification: n,
                    access_list_change: false,
                    access_list: vec![],
                }],
            },
            Err(_) => {
                println!("{}", Fault::invalid_args("notification must be 0-6"));
                return 1;
            }
        },
        _ => {
            eprintln!(
                "icwmpd -c: unknown command or wrong arguments: {}",
                args.join(" ")
            );
            return 2;
        }
    };
    let mut attrs = NotifyAttributes::load(state_dir);
    let forced: Vec<String> = crate::agent::inform::FORCED_INFORM
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut ctx = RpcContext {
        dm: dm.as_mut(),
        attrs: &mut attrs,
        amd_version: config.cpe.amd_version,
        now: crate::time::now_unix(),
        forced_inform: &forced,
        queued_schedule_informs: 0,
        transfers: &[],
        du_jobs: 0,
    };
    let (resp, actions) = rpc::handle(&req, &mut ctx);
    if let (AcsRequest::SetParameterValues { values, .. }, false) =
        (&req, matches!(resp, CpeResponse::Fault(_)))
    {
        // bbfdm keeps the values; the daemon runs the test it asks for (the embedded
        // model notes it itself).
        if dm.is_bbfdm() && !crate::diag::bbfdm::changes(values).is_empty() {
            let mut s = crate::diag::store::DiagStore::load(state_dir);
            crate::diag::bbfdm::note_spv(&mut s, values);
            if let Err(e) = s.save(state_dir) {
                eprintln!("icwmpd -c: cannot store the diagnostics request: {e}");
            }
        }
    }
    for a in actions {
        match a {
            Action::SetParameterKey(key) => {
                let change = [("cpe".into(), "ParameterKey".into(), key)];
                if let Err(e) = crate::config::set_options(config_path, &change) {
                    eprintln!("icwmpd -c: cannot store ParameterKey: {e}");
                }
            }
            Action::AttributesChanged => {
                if let Err(e) = attrs.save(state_dir) {
                    eprintln!("icwmpd -c: cannot store notifications: {e}");
                }
            }
            _ => {}
        }
    }
    dm.end_of_session();
    print_response(&resp, &req)
}

fn print_response(resp: &CpeResponse, req: &AcsRequest) -> u8 {
    match resp {
        CpeResponse::Fault(f) => {
            // The C icwmp's format on stdout; the specific reason on stderr.
            println!("Fault {}: {}", f.code, f.code.default_string());
            if f.message != f.code.default_string() {
                eprintln!("{}", f.message);
            }
            for p in &f.param_faults {
                println!("  {} => Fault {}: {}", p.name, p.code, p.message);
            }
            return 1;
        }
        CpeResponse::GetParameterValues { values } => {
            for v in values {
                println!("{} => {}", v.name, v.value);
            }
        }
        CpeResponse::GetParameterNames { names } => {
            for n in names {
                println!("{} => {}", n.name, u8::from(n.writable));
            }
        }
        CpeResponse::GetParameterAttributes { attributes } => {
            for a in attributes {
                println!("{} => {}", a.name, a.notification);
            }
        }
        CpeResponse::AddObject { instance, .. } => {
            if let AcsRequest::AddObject { object_name, .. } = req {
                println!("{object_name}{instance}. => added");
            }
        }
        CpeResponse::DeleteObject { .. } => {
            if let AcsRequest::DeleteObject { object_name, .. } = req {
                println!("{object_name} => deleted");
            }
        }
        CpeResponse::SetParameterValues { .. } => {
            if let AcsRequest::SetParameterValues { values, .. } = req {
                for v in values {
                    println!("{} => {}", v.name, v.value);
                }
            }
        }
        CpeResponse::SetParameterAttributes => {
            if let AcsRequest::SetParameterAttributes { attributes } = req {
                for a in attributes {
                    println!("{} => {}", a.name, a.notification);
                }
            }
        }
        _ => {}
    }
    0
}

/// `icwmpd -c request_download <FileType> [name=value...]`: asks the running daemon, through
/// its ubus `tr069` object, to send a RequestDownload. Exit code 0 when it accepted, 1 when
/// the daemon cannot be reached, 2 for a usage error.
pub fn request_download(args: &[String], ubus: Option<&crate::ubus::UbusHandle>) -> u8 {
    let Some((file_type, rest)) = args.split_first() else {
        eprintln!("icwmpd -c request_download: usage: request_download <FileType> [name=value...]");
        return 2;
    };
    let mut table = serde_json::Map::new();
    for a in rest {
        let Some((n, v)) = a.split_once('=') else {
            eprintln!("icwmpd -c request_download: '{a}' is not name=value");
            return 2;
        };
        table.insert(
            n.trim().to_string(),
            serde_json::Value::String(v.to_string()),
        );
    }
    let Some(ubus) = ubus else {
        eprintln!("icwmpd -c request_download: no ubus connection: is ubusd running?");
        return 1;
    };
    let msg = serde_json::json!({"file_type": file_type, "args": table});
    match ubus.call(
        crate::agent::tr069::OBJECT,
        "request_download",
        &msg,
        std::time::Duration::from_secs(5),
    ) {
        Ok(r) => {
            let reply = r.into_iter().next().unwrap_or_default();
            if reply.get("status").and_then(serde_json::Value::as_i64) == Some(1) {
                println!("RequestDownload queued");
                0
            } else {
                eprintln!("icwmpd -c request_download: refused: {reply}");
                1
            }
        }
        Err(e) => {
            eprintln!("icwmpd -c request_download: cannot reach icwmpd over ubus: {e}");
            1
        }
    }
}
