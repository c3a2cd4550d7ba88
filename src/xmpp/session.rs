//! The client side of one XMPP connection (RFC 6120) as a state machine fed with the bytes
//! the server sent: STARTTLS, SASL (SCRAM-SHA-1 preferred, PLAIN only inside TLS or when TLS
//! is off by configuration), resource binding, then answering iqs. Writes go to an output
//! buffer the caller drains; TLS itself is done by the caller when asked.

use super::connreq::{handle_iq, ConnReqPolicy, IqOutcome};
use super::sasl::{plain, Scram};
use super::xml::{escape, Element, Event, StreamReader};
use crate::crypto::base64_encode;
use std::fmt;

const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const BIND_ID: &str = "bind1";

/// Who the client logs in as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    /// The local part of the JID (XMPP.Connection.{i}.Username).
    pub username: String,
    /// The domain part (XMPP.Connection.{i}.Domain).
    pub domain: String,
    /// The password (XMPP.Connection.{i}.Password).
    pub password: String,
    /// The resource asked for (XMPP.Connection.{i}.Resource).
    pub resource: String,
    /// Require STARTTLS (XMPP.Connection.{i}.UseTLS); PLAIN is only offered inside TLS then.
    pub use_tls: bool,
}

/// What the caller must do after feeding bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start TLS on the socket now, then call [`Session::tls_started`].
    StartTls,
    /// Logged in and bound: the full JID (ManagementServer.ConnReqJabberID).
    Bound(String),
    /// An accepted connection request from this JID: start a session.
    ConnReq(String),
    /// A refused connection request (already answered with an error iq): log it.
    Refused { from: String, reason: &'static str },
}

/// Why the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmppError {
    /// The stream is not readable XML or over budget.
    Xml(super::xml::XmlError),
    /// The server broke the protocol or offered nothing we can use.
    Protocol(String),
    /// Authentication failed (wrong account or password, or a server that is not who it says).
    Auth(String),
    /// The server closed the stream.
    Closed,
}

impl fmt::Display for XmppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmppError::Xml(e) => write!(f, "{e}"),
            XmppError::Protocol(m) => write!(f, "XMPP protocol error: {m}"),
            XmppError::Auth(m) => write!(f, "XMPP authentication failed: {m}"),
            XmppError::Closed => write!(f, "XMPP stream closed by the server"),
        }
    }
}

impl std::error::Error for XmppError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the stream header and features.
    Features,
    /// Sent `<starttls/>`, waiting for `<proceed/>`.
    TlsWait,
    /// Sent `<auth/>`, in the SASL exchange.
    Sasl,
    /// Sent the bind iq.
    Binding,
    /// Bound: answering iqs.
    Ready,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    account: Account,
    cnonce: String,
    state: State,
    reader: StreamReader,
    out: Vec<u8>,
    tls: bool,
    authed: bool,
    scram: Option<Scram>,
}

impl Session {
    /// A new connection; `cnonce` is the SCRAM client nonce (random, printable, no `,`).
    pub fn new(account: Account, cnonce: &str) -> Session {
        let mut s = Session {
            account,
            cnonce: cnonce.to_owned(),
            state: State::Features,
            reader: StreamReader::new(),
            out: Vec::new(),
            tls: false,
            authed: false,
            scram: None,
        };
        s.open_stream();
        s
    }

    /// Bytes to write to the server (drained).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the session is bound and answering connection requests.
    pub fn ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Queues a whitespace keep-alive (RFC 6120 section 4.6.1).
    pub fn keepalive(&mut self) {
        if self.ready() {
            self.out.push(b' ');
        }
    }

    /// TLS is up on the socket: the stream restarts inside it.
    pub fn tls_started(&mut self) {
        self.tls = true;
        self.open_stream();
    }

    fn open_stream(&mut self) {
        self.reader = StreamReader::new();
        self.state = State::Features;
        self.out.extend_from_slice(
            format!(
                "<?xml version='1.0'?><stream:stream to='{}' version='1.0' \
xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
                escape(&self.account.domain)
            )
            .as_bytes(),
        );
    }

    /// Feeds bytes from the server; returns what the caller must do (in order).
    pub fn receive(
        &mut self,
        bytes: &[u8],
        policy: &ConnReqPolicy,
    ) -> Result<Vec<Action>, XmppError> {
        self.reader.feed(bytes).map_err(XmppError::Xml)?;
        let mut actions = Vec::new();
        while let Some(ev) = self.reader.next_event().map_err(XmppError::Xml)? {
            match ev {
                Event::StreamOpen(_) => {}
                Event::StreamClose => return Err(XmppError::Closed),
                Event::Stanza(el) => {
                    if let Some(a) = self.stanza(&el, policy)? {
                        let stop = a == Action::StartTls;
                        actions.push(a);
                        // Whatever follows `<proceed/>` belongs to the TLS layer.
                        if stop {
                            break;
                        }
                    }
                }
            }
        }
        Ok(actions)
    }

    fn stanza(
        &mut self,
        el: &Element,
        policy: &ConnReqPolicy,
    ) -> Result<Option<Action>, XmppError> {
        if el.name == "stream:error" {
            let cond = el.children.first().map_or("unknown", |c| c.local());
            return Err(XmppError::Protocol(format!("stream error {cond}")));
        }
        match self.state {
            State::Features if el.name == "stream:features" => self.features(el),
            State::TlsWait if el.local() == "proceed" => Ok(Some(Action::StartTls)),
            State::TlsWait => Err(XmppError::Protocol("STARTTLS refused".into())),
            State::Sasl => self.sasl(el),
            State::Binding if el.local() == "iq" && el.attr("id") == Some(BIND_ID) => {
                let jid = el
                    .child("bind")
                    .and_then(|b| b.child("jid"))
                    .map(|j| j.text.trim().to_owned())
                    .filter(|j| el.attr("type") == Some("result") && !j.is_empty())
                    .ok_or_else(|| XmppError::Protocol("resource binding failed".into()))?;
                self.state = State::Ready;
                // Available presence: lets the ACS see the CPE online (Annex K needs no roster).
                self.out.extend_from_slice(b"<presence/>");
                Ok(Some(Action::Bound(jid)))
            }
            State::Ready if el.local() == "iq" => Ok(match handle_iq(el, policy) {
                IqOutcome::Accepted { reply, from } => {
                    self.out.extend_from_slice(reply.as_bytes());
                    Some(Action::ConnReq(from))
                }
                IqOutcome::Refused {
                    reply,
                    from,
                    reason,
                } => {
                    self.out.extend_from_slice(reply.as_bytes());
                    Some(Action::Refused { from, reason })
                }
                IqOutcome::Other { reply } => {
                    self.out.extend_from_slice(reply.as_bytes());
                    None
                }
                IqOutcome::Ignore => None,
            }),
            // Messages, presences and anything unexpected are ignored.
            _ => Ok(None),
        }
    }

    fn features(&mut self, el: &Element) -> Result<Option<Action>, XmppError> {
        if !self.tls && self.account.use_tls {
            if el.child("starttls").is_none() {
                return Err(XmppError::Protocol(
                    "the server offers no STARTTLS and UseTLS is on".into(),
                ));
            }
            self.out
                .extend_from_slice(format!("<starttls xmlns='{NS_TLS}'/>").as_bytes());
            self.state = State::TlsWait;
            return Ok(None);
        }
        if !self.authed {
            let mechs: Vec<&str> = el
                .child("mechanisms")
                .map(|m| m.children.iter().map(|c| c.text.trim()).collect())
                .unwrap_or_default();
            let a = &self.account;
            let auth = if mechs.contains(&"SCRAM-SHA-1") {
                let s = Scram::new(&a.username, &a.password, &self.cnonce);
                let first = base64_encode(s.client_first().as_bytes());
                self.scram = Some(s);
                format!("<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{first}</auth>")
            } else if mechs.contains(&"PLAIN") && (self.tls || !a.use_tls) {
                let p = plain(&a.username, &a.password);
                format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{p}</auth>")
            } else {
                return Err(XmppError::Auth(format!(
                    "no usable SASL mechanism in {mechs:?}"
                )));
            };
            self.out.extend_from_slice(auth.as_bytes());
            self.state = State::Sasl;
            return Ok(None);
        }
        if el.child("bind").is_none() {
            return Err(XmppError::Protocol("no resource binding offered".into()));
        }
        let res = escape(&self.account.resource);
        self.out.extend_from_slice(
            format!(
                "<iq type='set' id='{BIND_ID}'><bind xmlns='{NS_BIND}'>\
<resource>{res}</resource></bind></iq>"
            )
            .as_bytes(),
        );
        self.state = State::Binding;
        Ok(None)
    }

    fn sasl(&mut self, el: &Element) -> Result<Option<Action>, XmppError> {
        let decode = |t: &str| -> Result<String, XmppError> {
            let t = t.trim();
            if t.is_empty() || t == "=" {
                return Ok(String::new());
            }
            openssl::base64::decode_block(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| XmppError::Protocol("bad SASL payload".into()))
        };
        match el.local() {
            "challenge" => {
                let scram = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| XmppError::Protocol("unexpected SASL challenge".into()))?;
                let fin = scram
                    .client_final(&decode(&el.text)?)
                    .map_err(|e| XmppError::Auth(e.to_string()))?;
                self.out.extend_from_slice(
                    format!(
                        "<response xmlns='{NS_SASL}'>{}</response>",
                        base64_encode(fin.as_bytes())
                    )
                    .as_bytes(),
                );
                Ok(None)
            }
            "success" => {
                if let Some(s) = &self.scram {
                    s.verify_server_final(&decode(&el.text)?)
                        .map_err(|e| XmppError::Auth(e.to_string()))?;
                }
                self.authed = true;
                self.open_stream();
                Ok(None)
            }
            "failure" => {
                let cond = el.children.first().map_or("unknown", |c| c.local());
                Err(XmppError::Auth(cond.to_owned()))
            }
            _ => Err(XmppError::Protocol(format!(
                "unexpected <{}> in SASL",
                el.name
            ))),
        }
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
