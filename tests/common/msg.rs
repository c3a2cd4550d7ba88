//! One message the scripted ACS received, with readers for its SOAP content.

use super::soap;
use super::xml::{self, Element};
use std::time::{Instant, SystemTime};

/// One message the CPE sent (and the ACS accepted past authentication).
#[derive(Clone, Debug)]
pub struct Msg {
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, wall clock (to compare with times given to the daemon).
    pub wall: SystemTime,
    /// ACS session number (1-based) it belongs to.
    pub session: u32,
    /// Request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The (decompressed) body; empty for an empty POST.
    pub body: String,
    /// It carried this session's cookie (always true for the Inform, which sets it).
    pub cookie_ok: bool,
    /// Method name of the scripted request this message answered, if any.
    pub answer_to: Option<String>,
    /// The cwmp:ID of the scripted request this message answered, if any.
    pub answer_id: Option<String>,
    /// The answer echoed the scripted request's cwmp:ID.
    pub id_echoed: bool,
    /// HTTP status the ACS replied with.
    pub reply: u16,
}

impl Msg {
    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// True for an empty POST.
    pub fn is_empty(&self) -> bool {
        self.body.trim().is_empty()
    }

    /// The body's only child (the RPC element), parsed.
    pub fn rpc(&self) -> Option<Element> {
        let doc = xml::parse(&self.body).ok()?;
        xml::body_child(&doc).cloned()
    }

    /// Local name of the body's child (`Inform`, `GetParameterValuesResponse`, `Fault`), or "".
    pub fn method(&self) -> String {
        self.rpc().map(|e| e.name).unwrap_or_default()
    }

    /// Events of an Inform (empty for anything else).
    pub fn events(&self) -> Vec<(String, String)> {
        match self.rpc() {
            Some(e) if e.name == "Inform" => soap::inform_events(&e),
            _ => Vec::new(),
        }
    }

    /// Whether this is an Inform carrying event `code`.
    pub fn has_event(&self, code: &str) -> bool {
        self.events().iter().any(|(c, _)| c == code)
    }

    /// (Name, Value) pairs of the message (Inform ParameterList, GPV response...).
    pub fn values(&self) -> Vec<(String, String)> {
        self.rpc()
            .map(|e| soap::param_values(&e))
            .unwrap_or_default()
    }

    /// The CWMP fault the message carries: (code, SetParameterValuesFault list).
    pub fn fault(&self) -> Option<(u32, Vec<(String, u32)>)> {
        self.rpc().and_then(|e| soap::cwmp_fault(&e))
    }

    /// One line for failure reports.
    pub fn summary(&self) -> String {
        let mut s = format!("s{} {} ", self.session, self.reply);
        if self.is_empty() {
            s.push_str("<empty POST>");
        } else {
            s.push_str(&self.method());
        }
        let ev = self.events();
        if !ev.is_empty() {
            let list: Vec<String> = ev.iter().map(|(c, k)| format!("{c}/{k}")).collect();
            s.push_str(&format!(" [{}]", list.join(", ")));
        }
        if let Some(a) = &self.answer_to {
            s.push_str(&format!(" (answers {a})"));
        }
        if let Some((c, _)) = self.fault() {
            s.push_str(&format!(" fault {c}"));
        }
        s
    }
}
