//! The `tr069` ubus object (`status`, `inform`, `command`), drop-in compatible with the C
//! icwmp's replies (icwmp-c.md section 4) but never blocked by a running session.
//!
//! The handler runs on the ubus thread. It answers `status` from a [`StatusSnapshot`] the
//! main loop keeps up to date, and hands `inform`/`command` to the main loop over a channel
//! without waiting for it: a request made during a session is served when the session ends,
//! which is exactly the deferral the C replies announce.

use crate::events::EventCode;
use crate::inbox::Inbox;
use crate::ubus::{BlobmsgType, UbusMethod, UbusObject};
use serde_json::{json, Value as Json};
use std::sync::{Arc, Mutex};

/// The object's path on the bus.
pub const OBJECT: &str = "tr069";

/// The C daemon's member order in its replies (`status` as `ubus_utils.c` builds it; then
/// `status` before `info`).
pub const C_KEY_ORDER: &[&str] = &[
    "cwmp",
    "last_session",
    "next_session",
    "statistics",
    "status",
    "start_time",
    "end_time",
    "acs_url",
    "success_sessions",
    "failure_sessions",
    "total_sessions",
];

/// What the `tr069` object asks of the main loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tr069Request {
    /// `inform`: raise `event` (when given) and open a session; with `get_rpc_methods`, also
    /// send a CPE GetRPCMethods in it.
    Inform {
        /// The event to raise; `None` for `{"GetRPCMethods":true}` alone.
        event: Option<EventCode>,
        /// Queue a GetRPCMethods to the ACS.
        get_rpc_methods: bool,
    },
    /// `command reload`: what SIGHUP does.
    Reload,
    /// `command exit`: clean exit.
    Exit,
    /// `request_download`: send a RequestDownload (event `9 REQUEST DOWNLOAD`).
    RequestDownload {
        /// FileType.
        file_type: String,
        /// FileTypeArg name/value pairs.
        args: Vec<(String, String)>,
    },
}

/// How the last session went, as `status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Running now.
    Running,
    /// Ended with an error.
    Failure,
    /// Ended well.
    Success,
}

impl SessionStatus {
    fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Running => "running",
            SessionStatus::Failure => "failure",
            SessionStatus::Success => "success",
        }
    }
}

/// What `status` reports; written by the main loop, read by the ubus thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// Daemon start (Unix time).
    pub start_time: i64,
    /// The ACS URL in use.
    pub acs_url: String,
    /// The last (or current) session: status, start, end (Unix times).
    pub last_session: Option<(SessionStatus, i64, Option<i64>)>,
    /// The earliest of the next ScheduleInform, retry and periodic inform (Unix time).
    pub next_session: Option<i64>,
    /// Sessions that ended well.
    pub success: u64,
    /// Sessions that failed.
    pub failure: u64,
    /// What `metrics` answers (src/metrics.rs), as the main loop last published it.
    pub metrics: Json,
}

impl StatusSnapshot {
    /// Whether a session is running now.
    pub fn running(&self) -> bool {
        matches!(self.last_session, Some((SessionStatus::Running, _, _)))
    }

    /// The `status` reply (times `%FT%T+hh:mm`, "N/A" when unknown).
    pub fn to_json(&self) -> Json {
        let t = |v: Option<i64>| v.map_or("N/A".to_string(), crate::time::format_datetime_offset);
        let (last_status, last_start, last_end) = match self.last_session {
            Some((s, start, end)) => (s.as_str(), t(Some(start)), t(end)),
            None => ("N/A", t(None), t(None)),
        };
        json!({
            "cwmp": {
                "status": "up",
                "start_time": t(Some(self.start_time)),
                "acs_url": self.acs_url,
            },
            "last_session": {
                "status": last_status,
                "start_time": last_start,
                "end_time": last_end,
            },
            "next_session": {
                "status": "waiting",
                "start_time": t(self.next_session),
                "end_time": "N/A",
            },
            "statistics": {
                "success_sessions": self.success,
                "failure_sessions": self.failure,
                "total_sessions": self.success + self.failure,
            },
        })
    }
}

/// The snapshot shared between the main loop and the ubus thread.
pub type SharedStatus = Arc<Mutex<StatusSnapshot>>;

/// The `tr069` object: `status {}`, `inform {GetRPCMethods, event}`, `command {command}`.
pub fn object(status: SharedStatus, tx: Inbox<Tr069Request>) -> UbusObject {
    let methods = vec![
        UbusMethod::new("command", &[("command", BlobmsgType::String)]),
        UbusMethod::new("status", &[]),
        UbusMethod::new("metrics", &[]),
        UbusMethod::new(
            "request_download",
            &[
                ("file_type", BlobmsgType::String),
                ("args", BlobmsgType::Table),
            ],
        ),
        UbusMethod::new(
            "inform",
            &[
                ("GetRPCMethods", BlobmsgType::Int8),
                ("event", BlobmsgType::String),
            ],
        ),
    ];
    UbusObject::new(OBJECT, methods, move |method, args| {
        // A poisoned lock only means the main loop panicked mid-update: the data is still
        // the best we have.
        let snap = match status.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        (0, Some(handle(method, &args, &snap, &tx)))
    })
    .with_key_order(C_KEY_ORDER)
}

/// Serves one call (pure but for the channel send); the reply is always a table, as the C
/// handlers always answer with DATA and status 0.
pub fn handle(method: &str, args: &Json, snap: &StatusSnapshot, tx: &Inbox<Tr069Request>) -> Json {
    match method {
        "status" => snap.to_json(),
        "metrics" => crate::metrics::with_live_connection_requests(&snap.metrics),
        "inform" => inform(args, snap, tx),
        "command" => command(args, snap, tx),
        "request_download" => request_download(args, tx),
        _ => json!({"status": -1, "info": format!("'{method}' is not a tr069 method")}),
    }
}

fn send(tx: &Inbox<Tr069Request>, req: Tr069Request) -> bool {
    if !tx.send(req) {
        log::error!("tr069: the main loop is gone");
        return false;
    }
    true
}

fn gone() -> Json {
    json!({"status": -1, "info": "icwmpd is stopping"})
}

/// `GetRPCMethods` as libubus would read it, and a little more lenient: a bool, a number or
/// "1"/"true" (the C docs show `{"GetRPCMethods":"1"}`).
fn truthy(v: Option<&Json>) -> bool {
    match v {
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
        Some(Json::String(s)) => matches!(s.trim(), "1" | "true"),
        _ => false,
    }
}

fn inform(args: &Json, snap: &StatusSnapshot, tx: &Inbox<Tr069Request>) -> Json {
    if truthy(args.get("GetRPCMethods")) {
        // Unlike the C one, no `2 PERIODIC` is invented: the main loop sends whatever is
        // pending, or `6 CONNECTION REQUEST` (a local "contact the ACS now") when nothing is.
        let req = Tr069Request::Inform {
            event: None,
            get_rpc_methods: true,
        };
        if !send(tx, req) {
            return gone();
        }
        return json!({"status": 1, "info": "Session with GetRPCMethods will start"});
    }
    // A missing or empty event is a connection request, as in the C one.
    let text = args
        .get("event")
        .and_then(Json::as_str)
        .unwrap_or("")
        .trim();
    let code = if text.is_empty() {
        Some(EventCode::ConnectionRequest)
    } else {
        EventCode::parse(text)
    };
    let Some(code) = code else {
        log::warn!("tr069 inform: unknown event code '{text}'");
        return json!({"status": -1, "info": "not able to get the event code"});
    };
    let req = Tr069Request::Inform {
        event: Some(code),
        get_rpc_methods: false,
    };
    if !send(tx, req) {
        return gone();
    }
    if snap.running() {
        json!({"status": 1, "info": "Session already running, event will be sent at the end of the session"})
    } else {
        json!({"status": 1, "info": "Session started"})
    }
}

/// `request_download {file_type, args:{name:value}}`: the main loop sends a RequestDownload.
fn request_download(args: &Json, tx: &Inbox<Tr069Request>) -> Json {
    let file_type = args
        .get("file_type")
        .and_then(Json::as_str)
        .unwrap_or("")
        .trim();
    if file_type.is_empty() || file_type.chars().count() > 64 {
        return json!({"status": -1, "info": "file_type (string(64)) is required"});
    }
    let mut pairs = Vec::new();
    if let Some(m) = args.get("args").and_then(Json::as_object) {
        for (name, v) in m {
            let value = match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            pairs.push((name.clone(), value));
        }
    }
    let req = Tr069Request::RequestDownload {
        file_type: file_type.to_string(),
        args: pairs,
    };
    if !send(tx, req) {
        return gone();
    }
    json!({"status": 1, "info": "RequestDownload will be sent"})
}

fn command(args: &Json, snap: &StatusSnapshot, tx: &Inbox<Tr069Request>) -> Json {
    let Some(cmd) = args.get("command").and_then(Json::as_str) else {
        return json!({"SupportedCommands": [
            {"command": "reload", "description": "Reload icwmpd with new configuration"},
            {"command": "exit", "description": "Stop icwmpd"},
        ]});
    };
    match cmd {
        "reload" => {
            log::info!("triggered ubus reload");
            if !send(tx, Tr069Request::Reload) {
                return gone();
            }
            if snap.running() {
                json!({"status": 0, "info": "Session running, reload at the end of the session"})
            } else {
                json!({"status": 0, "info": "icwmpd config reloaded"})
            }
        }
        "exit" => {
            log::info!("triggered ubus exit");
            if !send(tx, Tr069Request::Exit) {
                return gone();
            }
            json!({"status": 0, "info": "icwmpd daemon stopped"})
        }
        other => json!({
            "status": -1,
            "info": format!("'{other}' is not supported. Check the supported commands."),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, args: Json, snap: &StatusSnapshot) -> (Json, Vec<Tr069Request>) {
        let (tx, rx) = Inbox::channel();
        let reply = handle(method, &args, snap, &tx);
        (reply, rx.try_iter().collect())
    }

    #[test]
    fn status_has_the_c_shape_with_na_before_any_session() {
        let snap = StatusSnapshot {
            start_time: 0,
            acs_url: "http://acs".into(),
            ..Default::default()
        };
        let (r, reqs) = call("status", json!({}), &snap);
        assert!(reqs.is_empty());
        assert_eq!(
            r,
            json!({
                "cwmp": {"status": "up", "start_time": "1970-01-01T00:00:00+00:00", "acs_url": "http://acs"},
                "last_session": {"status": "N/A", "start_time": "N/A", "end_time": "N/A"},
                "next_session": {"status": "waiting", "start_time": "N/A", "end_time": "N/A"},
                "statistics": {"success_sessions": 0, "failure_sessions": 0, "total_sessions": 0},
            })
        );
    }

    #[test]
    fn status_reports_running_session_and_counters() {
        let snap = StatusSnapshot {
            start_time: 86400,
            last_session: Some((SessionStatus::Running, 86461, None)),
            next_session: Some(90000),
            success: 2,
            failure: 1,
            ..Default::default()
        };
        let r = snap.to_json();
        assert_eq!(r["last_session"]["status"], "running");
        assert_eq!(r["last_session"]["start_time"], "1970-01-02T00:01:01+00:00");
        assert_eq!(r["last_session"]["end_time"], "N/A");
        assert_eq!(r["next_session"]["start_time"], "1970-01-02T01:00:00+00:00");
        assert_eq!(r["statistics"]["total_sessions"], 3);
    }

    #[test]
    fn inform_queues_the_event_and_answers_at_once() {
        let idle = StatusSnapshot::default();
        let (r, reqs) = call("inform", json!({"event": "2 periodic"}), &idle);
        assert_eq!(r, json!({"status": 1, "info": "Session started"}));
        assert_eq!(
            reqs,
            vec![Tr069Request::Inform {
                event: Some(EventCode::Periodic),
                get_rpc_methods: false
            }]
        );
        let busy = StatusSnapshot {
            last_session: Some((SessionStatus::Running, 1, None)),
            ..Default::default()
        };
        let (r, _) = call("inform", json!({"event": "M Reboot"}), &busy);
        assert_eq!(
            r["info"],
            "Session already running, event will be sent at the end of the session"
        );
        // No event at all: a connection request.
        let (_, reqs) = call("inform", json!({}), &idle);
        assert_eq!(
            reqs,
            vec![Tr069Request::Inform {
                event: Some(EventCode::ConnectionRequest),
                get_rpc_methods: false
            }]
        );
    }

    #[test]
    fn inform_rejects_unknown_codes_and_get_rpc_methods_is_not_periodic() {
        let idle = StatusSnapshot::default();
        let (r, reqs) = call("inform", json!({"event": "42 NONSENSE"}), &idle);
        assert_eq!(
            r,
            json!({"status": -1, "info": "not able to get the event code"})
        );
        assert!(reqs.is_empty());
        for v in [json!(true), json!("1"), json!(1)] {
            let (r, reqs) = call("inform", json!({"GetRPCMethods": v}), &idle);
            assert_eq!(r["info"], "Session with GetRPCMethods will start");
            assert_eq!(
                reqs,
                vec![Tr069Request::Inform {
                    event: None,
                    get_rpc_methods: true
                }]
            );
        }
    }

    #[test]
    fn command_replies_like_the_c_one() {
        let idle = StatusSnapshot::default();
        let (r, reqs) = call("command", json!({"command": "reload"}), &idle);
        assert_eq!(r, json!({"status": 0, "info": "icwmpd config reloaded"}));
        assert_eq!(reqs, vec![Tr069Request::Reload]);
        let busy = StatusSnapshot {
            last_session: Some((SessionStatus::Running, 1, None)),
            ..Default::default()
        };
        let (r, _) = call("command", json!({"command": "reload"}), &busy);
        assert_eq!(
            r["info"],
            "Session running, reload at the end of the session"
        );
        let (r, reqs) = call("command", json!({"command": "foo"}), &idle);
        assert_eq!(
            r,
            json!({"status": -1, "info": "'foo' is not supported. Check the supported commands."})
        );
        assert!(reqs.is_empty());
        for bad in [json!({}), json!({"command": 5})] {
            let (r, reqs) = call("command", bad, &idle);
            assert_eq!(r["SupportedCommands"][0]["command"], "reload");
            assert!(reqs.is_empty());
        }
        let (r, reqs) = call("command", json!({"command": "exit"}), &idle);
        assert_eq!(r["status"], 0);
        assert_eq!(reqs, vec![Tr069Request::Exit]);
    }

    #[test]
    fn a_gone_main_loop_gives_an_error_reply() {
        let (tx, rx) = Inbox::channel();
        drop(rx);
        let r = handle(
            "command",
            &json!({"command": "reload"}),
            &StatusSnapshot::default(),
            &tx,
        );
        assert_eq!(r["status"], -1);
    }

    #[test]
    fn request_download_needs_a_file_type_and_stringifies_args() {
        let snap = StatusSnapshot::default();
        let args = json!({"file_type": " 1 Firmware Upgrade Image ", "args": {"V": "2", "N": 3}});
        let (r, reqs) = call("request_download", args, &snap);
        assert_eq!(r["status"], 1, "{r}");
        assert_eq!(
            reqs,
            vec![Tr069Request::RequestDownload {
                file_type: "1 Firmware Upgrade Image".into(),
                args: vec![("N".into(), "3".into()), ("V".into(), "2".into())],
            }]
        );
        let (r, reqs) = call("request_download", json!({"file_type": ""}), &snap);
        assert_eq!((r["status"].as_i64(), reqs.len()), (Some(-1), 0));
    }
}
