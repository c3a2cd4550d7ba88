//! Inform event codes and the pending-event queue with the delivery, retry and discard rules of
//! the digest (section 5.4). Pure: persistence is the caller's job ([`EventQueue::to_json`]).

use crate::soap::EventStruct;
use serde_json::{json, Value};
use std::fmt;

/// An Inform EventCode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EventCode {
    /// `0 BOOTSTRAP`.
    Bootstrap,
    /// `1 BOOT`.
    Boot,
    /// `2 PERIODIC`.
    Periodic,
    /// `3 SCHEDULED`.
    Scheduled,
    /// `4 VALUE CHANGE`.
    ValueChange,
    /// `5 KICKED`.
    Kicked,
    /// `6 CONNECTION REQUEST`.
    ConnectionRequest,
    /// `7 TRANSFER COMPLETE`.
    TransferComplete,
    /// `8 DIAGNOSTICS COMPLETE`.
    DiagnosticsComplete,
    /// `9 REQUEST DOWNLOAD`.
    RequestDownload,
    /// `10 AUTONOMOUS TRANSFER COMPLETE`.
    AutonomousTransferComplete,
    /// `11 DU STATE CHANGE COMPLETE`.
    DuStateChangeComplete,
    /// `12 AUTONOMOUS DU STATE CHANGE COMPLETE`.
    AutonomousDuStateChangeComplete,
    /// `13 WAKEUP`.
    Wakeup,
    /// `14 HEARTBEAT`.
    Heartbeat,
    /// `M <Method>`: one per invocation (`M Reboot`, `M ScheduleInform`, `M Download`...).
    Method(String),
    /// `X <OUI> <name>`: vendor event, kept as written.
    Vendor(String),
}

const NUMBERED: [(EventCode, &str); 15] = [
    (EventCode::Bootstrap, "0 BOOTSTRAP"),
    (EventCode::Boot, "1 BOOT"),
    (EventCode::Periodic, "2 PERIODIC"),
    (EventCode::Scheduled, "3 SCHEDULED"),
    (EventCode::ValueChange, "4 VALUE CHANGE"),
    (EventCode::Kicked, "5 KICKED"),
    (EventCode::ConnectionRequest, "6 CONNECTION REQUEST"),
    (EventCode::TransferComplete, "7 TRANSFER COMPLETE"),
    (EventCode::DiagnosticsComplete, "8 DIAGNOSTICS COMPLETE"),
    (EventCode::RequestDownload, "9 REQUEST DOWNLOAD"),
    (
        EventCode::AutonomousTransferComplete,
        "10 AUTONOMOUS TRANSFER COMPLETE",
    ),
    (
        EventCode::DuStateChangeComplete,
        "11 DU STATE CHANGE COMPLETE",
    ),
    (
        EventCode::AutonomousDuStateChangeComplete,
        "12 AUTONOMOUS DU STATE CHANGE COMPLETE",
    ),
    (EventCode::Wakeup, "13 WAKEUP"),
    (EventCode::Heartbeat, "14 HEARTBEAT"),
];

impl EventCode {
    /// Parses an EventCode string (`"6 CONNECTION REQUEST"`, `"M Reboot"`, `"X 00D09E FOO"`).
    /// A bare number (`"6"`) is accepted too. `None` for anything else.
    pub fn parse(s: &str) -> Option<EventCode> {
        let s = s.trim();
        if let Some(m) = s.strip_prefix("M ") {
            let m = m.trim();
            return (!m.is_empty() && !m.contains(char::is_whitespace))
                .then(|| EventCode::Method(m.to_string()));
        }
        if s.starts_with("X ") && s.len() > 2 {
            return Some(EventCode::Vendor(s.to_string()));
        }
        let upper = s.to_ascii_uppercase();
        NUMBERED
            .iter()
            .find(|(_, name)| *name == upper || name.split(' ').next() == Some(upper.as_str()))
            .map(|(c, _)| c.clone())
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
        match self {
            EventCode::Method(_) | EventCode::Vendor(_) => "",
            c => NUMBERED
                .iter()
                .find(|(n, _)| n == c)
                .map(|(_, s)| *s)
                .unwrap_or(""),
        }
    }

    /// True for `M` events: one entry per invocation, distinguished by CommandKey.
    pub fn is_multiple(&self) -> bool {
        matches!(self, EventCode::Method(_))
    }

    /// Whether the event is kept for the retry after a failed session (all but
    /// `6 CONNECTION REQUEST`: the ACS will ask again).
    pub fn retried_after_failure(&self) -> bool {
        !matches!(self, EventCode::ConnectionRequest)
    }

    /// Whether the event survives a restart of the daemon (icwmp's RETRY_AFTER_REBOOT flag;
    /// `1 BOOT` is recreated by the restart itself, value changes are resynced by it).
    pub fn kept_across_reboot(&self) -> bool {
        !matches!(
            self,
            EventCode::Boot
                | EventCode::ValueChange
                | EventCode::ConnectionRequest
                | EventCode::DiagnosticsComplete
        )
    }

    /// Events whose delivery is confirmed by a follow-up RPC's response rather than by the
    /// InformResponse (digest 5.4).
    pub fn needs_followup_rpc(&self) -> bool {
        match self {
            EventCode::TransferComplete
            | EventCode::AutonomousTransferComplete
            | EventCode::DuStateChangeComplete
            | EventCode::AutonomousDuStateChangeComplete
            | EventCode::RequestDownload
            | EventCode::Kicked => true,
            EventCode::Method(m) => {
                matches!(
                    m.as_str(),
                    "Download" | "Upload" | "ScheduleDownload" | "ChangeDUState"
                )
            }
            _ => false,
        }
    }
}

impl fmt::Display for EventCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventCode::Method(m) => write!(f, "M {m}"),
            EventCode::Vendor(v) => f.write_str(v),
            c => f.write_str(c.as_str()),
        }
    }
}

/// An event waiting to be delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEvent {
    /// The code.
    pub code: EventCode,
    /// Its CommandKey (empty for numbered events).
    pub command_key: String,
}

impl PendingEvent {
    /// The EventStruct to put in an Inform.
    pub fn to_struct(&self) -> EventStruct {
        EventStruct {
            code: self.code.to_string(),
            command_key: self.command_key.clone(),
        }
    }
}

/// The events not yet delivered to the ACS, in the order they were raised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventQueue {
    events: Vec<PendingEvent>,
}

/// Most EventStructs an Inform may carry (cwmp XSD: EventStruct[0..64]).
pub const MAX_EVENTS: usize = 64;

impl EventQueue {
    /// An empty queue.
    pub fn new() -> EventQueue {
        EventQueue::default()
    }

    /// The pending events, oldest first.
    pub fn events(&self) -> &[PendingEvent] {
        &self.events
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// True when `code` is pending (any CommandKey).
    pub fn contains(&self, code: &EventCode) -> bool {
        self.events.iter().any(|e| &e.code == code)
    }

    /// Raises an event. Single events merge into a pending one; `M` events merge only with
    /// the same CommandKey. `0 BOOTSTRAP` discards every other undelivered event (digest 1.6).
    /// Returns false when the event was already pending (nothing changed).
    pub fn add(&mut self, code: EventCode, command_key: &str) -> bool {
        if code == EventCode::Bootstrap {
            let had = self.events.len() == 1 && self.events[0].code == EventCode::Bootstrap;
            self.events.clear();
            self.events.push(PendingEvent {
                code,
                command_key: String::new(),
            });
            return !had;
        }
        let key = if code.is_multiple() { command_key } else { "" };
        let dup = self
            .events
            .iter()
            .any(|e| e.code == code && (!code.is_multiple() || e.command_key == key));
        if dup || self.events.len() >= MAX_EVENTS {
            return false;
        }
        self.events.push(PendingEvent {
            code,
            command_key: key.to_string(),
        });
        true
    }

    /// After a failed session: drops the events that are not retried.
    pub fn session_failed(&mut self) {
        self.events.retain(|e| e.code.retried_after_failure());
    }

    /// After an InformResponse for an Inform that carried `sent`: removes the delivered
    /// events, keeping those confirmed only by a follow-up RPC.
    pub fn inform_delivered(&mut self, sent: &[PendingEvent]) {
        self.events
            .retain(|e| e.code.needs_followup_rpc() || !sent.contains(e));
    }

    /// Removes one event (a follow-up RPC was answered).
    pub fn remove(&mut self, code: &EventCode, command_key: &str) {
        self.events
            .retain(|e| !(&e.code == code && e.command_key == command_key));
    }

    /// The part that survives a restart, as JSON.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.events
                .iter()
                .filter(|e| e.code.kept_across_reboot())
                .map(|e| json!({"code": e.code.to_string(), "command_key": e.command_key}))
                .collect(),
        )
    }

    /// Rebuilds a queue from [`EventQueue::to_json`] output; unknown entries are skipped.
    pub fn from_json(v: &Value) -> EventQueue {
        let mut q = EventQueue::new();
        for e in v.as_array().into_iter().flatten() {
            let code = e
                .get("code")
                .and_then(Value::as_str)
                .and_then(EventCode::parse);
            let key = e.get("command_key").and_then(Value::as_str).unwrap_or("");
            if let Some(code) = code {
                q.events.push(PendingEvent {
                    code,
                    command_key: key.to_string(),
                });
            }
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(q: &EventQueue) -> Vec<String> {
        q.events()
            .iter()
            .map(|e| format!("{}|{}", e.code, e.command_key))
            .collect()
    }

    #[test]
    fn parses_every_numbered_code_and_method_events() {
        for (code, s) in NUMBERED.iter() {
            assert_eq!(EventCode::parse(s).as_ref(), Some(code));
            assert_eq!(code.to_string(), *s);
        }
        assert_eq!(EventCode::parse("6"), Some(EventCode::ConnectionRequest));
        assert_eq!(
            EventCode::parse("M Reboot"),
            Some(EventCode::Method("Reboot".into()))
        );
        assert_eq!(EventCode::parse("M "), None);
        assert_eq!(EventCode::parse("15 NOPE"), None);
        assert_eq!(EventCode::parse("periodic"), None);
    }

    #[test]
    fn single_events_merge_and_method_events_stack_by_key() {
        let mut q = EventQueue::new();
        assert!(q.add(EventCode::Periodic, ""));
        assert!(!q.add(EventCode::Periodic, ""));
        assert!(q.add(EventCode::Method("ScheduleInform".into()), "a"));
        assert!(q.add(EventCode::Method("ScheduleInform".into()), "b"));
        assert!(!q.add(EventCode::Method("ScheduleInform".into()), "a"));
        assert_eq!(
            codes(&q),
            ["2 PERIODIC|", "M ScheduleInform|a", "M ScheduleInform|b"]
        );
    }

    #[test]
    fn bootstrap_discards_other_events() {
        let mut q = EventQueue::new();
        q.add(EventCode::Method("Download".into()), "k");
        q.add(EventCode::Periodic, "");
        q.add(EventCode::Bootstrap, "");
        q.add(EventCode::Boot, "");
        assert_eq!(codes(&q), ["0 BOOTSTRAP|", "1 BOOT|"]);
    }

    #[test]
    fn failed_session_drops_only_connection_request() {
        let mut q = EventQueue::new();
        q.add(EventCode::ConnectionRequest, "");
        q.add(EventCode::Boot, "");
        q.session_failed();
        assert_eq!(codes(&q), ["1 BOOT|"]);
    }

    #[test]
    fn delivery_keeps_events_awaiting_followup_and_new_ones() {
        let mut q = EventQueue::new();
        q.add(EventCode::Boot, "");
        q.add(EventCode::TransferComplete, "");
        q.add(EventCode::Method("Download".into()), "dl");
        let sent = q.events().to_vec();
        q.add(EventCode::ConnectionRequest, "");
        q.inform_delivered(&sent);
        assert_eq!(
            codes(&q),
            [
                "7 TRANSFER COMPLETE|",
                "M Download|dl",
                "6 CONNECTION REQUEST|"
            ]
        );
    }

    #[test]
    fn persistence_keeps_empty_command_keys_and_skips_volatile_events() {
        // The C icwmp lost pending events whose CommandKey was empty (its bug 17.1).
        let mut q = EventQueue::new();
        q.add(EventCode::Boot, "");
        q.add(EventCode::Periodic, "");
        q.add(EventCode::ConnectionRequest, "");
        q.add(EventCode::Method("Reboot".into()), "");
        let back = EventQueue::from_json(&q.to_json());
        assert_eq!(codes(&back), ["2 PERIODIC|", "M Reboot|"]);
    }
}
