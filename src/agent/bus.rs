//! The main loop's side of ubus: requests from the `tr069` object, bus events
//! (`network.interface`, `bbfdm.event`), the `status` snapshot, and `rpc-sys` for reboots.

use super::timers::Timer;
use super::tr069::{SessionStatus, SharedStatus, Tr069Request};
use super::Agent;
use crate::events::EventCode;
use crate::ubus::{UbusEvent, UbusHandle};
use crossbeam_channel::Receiver;
use serde_json::{json, Value as Json};
use std::time::Duration;

/// Event names the daemon listens to.
pub const LISTENERS: [&str; 3] = ["network.interface", "bbfdm.event", BBF_CONFIG_CHANGE];

/// What `bbf.config` emits after it applied configuration changes (bbfdm has no value-change
/// event): values may have changed, so the notified ones are checked at once.
const BBF_CONFIG_CHANGE: &str = "bbf.config.change";

/// Everything the agent needs from the ubus thread.
pub struct UbusLink {
    /// Calls (rpc-sys...).
    pub handle: UbusHandle,
    /// Bus events and connection changes.
    pub events: Receiver<UbusEvent>,
    /// The snapshot `tr069 status` answers from.
    pub status: SharedStatus,
}

/// What the main loop must do after a ubus message.
pub(super) enum Next {
    /// Carry on.
    Continue,
    /// Exit cleanly.
    Exit,
}

/// Calls `rpc-sys <method>` when the object is on the bus and has it; true when it answered.
pub(super) fn rpc_sys(ubus: Option<&UbusHandle>, method: &str) -> bool {
    let Some(ubus) = ubus else { return false };
    let t = Duration::from_secs(5);
    match ubus.lookup("rpc-sys", t) {
        Ok(objs) if objs.iter().any(|o| o.has_method(method)) => {}
        _ => return false,
    }
    match ubus.call("rpc-sys", method, &json!({}), t) {
        Ok(_) => {
            log::info!("rpc-sys {method} accepted");
            true
        }
        Err(e) => {
            log::error!("rpc-sys {method} failed: {e}");
            false
        }
    }
}

impl Agent {
    /// Serves one `tr069` request.
    pub(super) fn on_tr069(&mut self, req: Tr069Request) -> Next {
        match req {
            Tr069Request::Inform {
                event,
                get_rpc_methods,
            } => {
                if get_rpc_methods {
                    self.want_get_rpc_methods = true;
                }
                match event {
                    Some(code) => {
                        log::info!("ubus inform: {code}");
                        self.raise(code, "");
                    }
                    // GetRPCMethods alone rides in a session opened for what is pending,
                    // or for a local "contact the ACS now".
                    None if self.wanted() != super::policy::Wanted::Regular => {
                        self.raise(EventCode::ConnectionRequest, "")
                    }
                    None => self.timers.stop(Timer::Retry),
                }
                Next::Continue
            }
            Tr069Request::Reload => {
                self.reload();
                Next::Continue
            }
            Tr069Request::Exit => Next::Exit,
            Tr069Request::RequestDownload { file_type, args } => {
                log::info!("ubus request_download: {file_type}");
                self.send_later(crate::soap::CpeRequest::RequestDownload { file_type, args });
                Next::Continue
            }
        }
    }

    /// Consumes one bus event.
    pub(super) fn on_ubus_event(&mut self, ev: UbusEvent) {
        match ev {
            UbusEvent::Connected { client_id } => {
                log::info!("ubus: connected (id {client_id:08x})")
            }
            UbusEvent::Disconnected => log::warn!("ubus: connection lost, reconnecting"),
            UbusEvent::Event { name, data } => self.on_bus_event(&name, &data),
            other => log::debug!("ubus: {other:?}"),
        }
    }

    pub(super) fn on_bus_event(&mut self, name: &str, data: &Json) {
        match name {
            "network.interface" => {
                let action = data.get("action").and_then(Json::as_str);
                let iface = data.get("interface").and_then(Json::as_str);
                if action == Some("ifup")
                    && iface == Some(self.config.cpe.default_wan_interface.as_str())
                    && self.stats.last_ok == Some(false)
                {
                    log::info!("WAN interface up after a failed session: retrying now");
                    self.timers.stop(Timer::Retry);
                    self.stalled = false;
                }
            }
            "bbfdm.event" => {
                let ev = data.get("name").and_then(Json::as_str).unwrap_or("?");
                let input = data.get("input").unwrap_or(&Json::Null);
                log::info!("bbfdm event {ev}: {input}");
                self.on_bbfdm_event(ev, input);
            }
            BBF_CONFIG_CHANGE => self.on_change_hint(Default::default()),
            other => log::debug!("ubus event {other} ignored"),
        }
    }

    /// Updates the snapshot `tr069 status` answers from.
    pub(super) fn publish_status(&self, running_since: Option<i64>) {
        let Some(shared) = &self.status else { return };
        let now = self.clock.now();
        let retry = self
            .timers
            .get(Timer::Retry)
            .map(|t| now.unix() + (t.saturating_sub(now.mono) / 1000) as i64);
        let sched = self.state.scheduled.iter().map(|s| s.due).min();
        let next = [sched, retry, self.next_periodic]
            .into_iter()
            .flatten()
            .filter(|t| *t > 0)
            .min();
        let last = match running_since {
            Some(start) => Some((SessionStatus::Running, start, None)),
            None => self.stats.last_start.map(|start| {
                let s = if self.stats.last_ok == Some(true) {
                    SessionStatus::Success
                } else {
                    SessionStatus::Failure
                };
                (s, start, self.stats.last_end)
            }),
        };
        let mut g = match shared.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.start_time = self.started_unix;
        g.acs_url = self.acs_url().to_string();
        g.last_session = last;
        g.next_session = next;
        g.success = self.stats.success;
        g.failure = self.stats.failure;
    }
}
