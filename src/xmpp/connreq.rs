//! The Annex K `connectionRequest` iq (cwmp-xmppConnReq-1-0.xsd) and the other iqs the CPE's
//! XMPP client must answer: what to send back, and whether a `6 CONNECTION REQUEST` session
//! follows.

use super::xml::{escape, Element};
use crate::crypto::ct_eq;

/// The namespace of the `connectionRequest` element.
pub const NS_CONNREQ: &str = "urn:broadband-forum-org:cwmp:xmppConnReq-1-0";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_PING: &str = "urn:xmpp:ping";

/// What a connection request is checked against.
#[derive(Debug, Clone, Default)]
pub struct ConnReqPolicy {
    /// The CR user name (cpe.userid / ConnectionRequestUsername).
    pub username: String,
    /// The CR password (cpe.passwd / ConnectionRequestPassword).
    pub password: String,
    /// `ConnReqAllowedJabberIDs`: empty allows any sender; a bare JID matches all its resources.
    pub allowed_jids: Vec<String>,
}

/// The outcome of one incoming iq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IqOutcome {
    /// A valid connection request: send `reply`, then start a session.
    Accepted { reply: String, from: String },
    /// A connection request refused (bad credentials or sender): send `reply`, log `reason`.
    Refused {
        reply: String,
        from: String,
        reason: &'static str,
    },
    /// Any other iq, answered with `reply` (ping result, or service-unavailable).
    Other { reply: String },
    /// Nothing to send (a result/error iq addressed to us, e.g. for our own bind request).
    Ignore,
}

/// The bare part of a JID (`user@domain` of `user@domain/resource`).
pub fn bare_jid(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// Whether `from` may send connection requests.
pub fn jid_allowed(from: &str, allowed: &[String]) -> bool {
    let allowed: Vec<&str> = allowed
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    allowed.is_empty()
        || allowed.iter().any(|a| {
            if a.contains('/') {
                a.eq_ignore_ascii_case(from)
            } else {
                a.eq_ignore_ascii_case(bare_jid(from))
            }
        })
}

fn reply_head(iq: &Element, kind: &str) -> String {
    let mut s = format!("<iq type='{kind}'");
    if let Some(id) = iq.attr("id") {
        s.push_str(&format!(" id='{}'", escape(id)));
    }
    if let Some(to) = iq.attr("to") {
        s.push_str(&format!(" from='{}'", escape(to)));
    }
    if let Some(from) = iq.attr("from") {
        s.push_str(&format!(" to='{}'", escape(from)));
    }
    s
}

fn error_reply(iq: &Element, condition: &str) -> String {
    format!(
        "{}><error type='cancel'><{condition} xmlns='{NS_STANZAS}'/></error></iq>",
        reply_head(iq, "error")
    )
}

/// Handles an `<iq>` stanza from the server.
pub fn handle_iq(iq: &Element, policy: &ConnReqPolicy) -> IqOutcome {
    let kind = iq.attr("type").unwrap_or("");
    if kind != "get" && kind != "set" {
        return IqOutcome::Ignore;
    }
    let from = iq.attr("from").unwrap_or("").to_owned();
    let payload = iq.children.first();
    match payload {
        Some(p) if p.local() == "connectionRequest" && p.attr("xmlns") == Some(NS_CONNREQ) => {
            if !jid_allowed(&from, &policy.allowed_jids) {
                return IqOutcome::Refused {
                    reply: error_reply(iq, "service-unavailable"),
                    from,
                    reason: "sender not in ConnReqAllowedJabberIDs",
                };
            }
            let user = p.child("username").map_or("", |e| e.text.as_str());
            let pass = p.child("password").map_or("", |e| e.text.as_str());
            // Both compared in full (no early exit) so timing does not tell which one was wrong.
            let user_ok = ct_eq(user.as_bytes(), policy.username.as_bytes());
            let pass_ok = ct_eq(pass.as_bytes(), policy.password.as_bytes());
            if user_ok & pass_ok && !policy.username.is_empty() {
                IqOutcome::Accepted {
                    reply: format!("{}/>", reply_head(iq, "result")),
                    from,
                }
            } else {
                IqOutcome::Refused {
                    reply: error_reply(iq, "not-authorized"),
                    from,
                    reason: "wrong connection request credentials",
                }
            }
        }
        Some(p) if p.local() == "ping" && p.attr("xmlns") == Some(NS_PING) && kind == "get" => {
            IqOutcome::Other {
                reply: format!("{}/>", reply_head(iq, "result")),
            }
        }
        _ => IqOutcome::Other {
            reply: error_reply(iq, "service-unavailable"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::xml::{Event, StreamReader};

    fn parse(stanza: &str) -> Element {
        let mut r = StreamReader::new();
        r.feed(b"<stream:stream xmlns='jabber:client'>").unwrap();
        r.feed(stanza.as_bytes()).unwrap();
        r.next_event().unwrap();
        match r.next_event().unwrap() {
            Some(Event::Stanza(e)) => e,
            e => panic!("{e:?}"),
        }
    }

    fn cr(from: &str, user: &str, pass: &str) -> Element {
        parse(&format!(
            "<iq type='get' id='cr001' from='{from}' to='cpe@x.example/cwmp'>\
<connectionRequest xmlns='{NS_CONNREQ}'><username>{user}</username>\
<password>{pass}</password></connectionRequest></iq>"
        ))
    }

    fn policy(allowed: &[&str]) -> ConnReqPolicy {
        ConnReqPolicy {
            username: "cr-user".into(),
            password: "s3cr&t".into(),
            allowed_jids: allowed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn valid_request_is_accepted_with_a_result() {
        let out = handle_iq(
            &cr("acs@x.example/acs", "cr-user", "s3cr&amp;t"),
            &policy(&[]),
        );
        assert_eq!(
            out,
            IqOutcome::Accepted {
                reply: "<iq type='result' id='cr001' from='cpe@x.example/cwmp' \
to='acs@x.example/acs'/>"
                    .into(),
                from: "acs@x.example/acs".into()
            }
        );
    }

    #[test]
    fn wrong_credentials_are_not_authorized() {
        for (u, p) in [("cr-user", "bad"), ("other", "s3cr&amp;t"), ("", "")] {
            match handle_iq(&cr("acs@x.example/acs", u, p), &policy(&[])) {
                IqOutcome::Refused { reply, .. } => {
                    assert!(reply.contains("type='error'"), "{reply}");
                    assert!(reply.contains("<not-authorized"), "{reply}");
                    assert!(reply.contains("id='cr001'"), "{reply}");
                }
                o => panic!("{u}/{p}: {o:?}"),
            }
        }
        // An empty configured user name never matches an empty one sent.
        let mut p = policy(&[]);
        p.username.clear();
        p.password.clear();
        assert!(matches!(
            handle_iq(&cr("acs@x.example/acs", "", ""), &p),
            IqOutcome::Refused { .. }
        ));
    }

    #[test]
    fn allow_list_bare_and_full_jids() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(jid_allowed("a@x/r", &l(&[])));
        assert!(jid_allowed("a@x/r", &l(&["", " "])));
        assert!(jid_allowed("a@x/r", &l(&["b@x", "a@x"])));
        assert!(jid_allowed("a@x/r", &l(&["A@X/r"])));
        assert!(!jid_allowed("a@x/other", &l(&["a@x/r"])));
        assert!(!jid_allowed("evil@x/r", &l(&["a@x"])));
        assert!(!jid_allowed("a@x.evil/r", &l(&["a@x"])));

        let out = handle_iq(
            &cr("evil@x.example/acs", "cr-user", "s3cr&amp;t"),
            &policy(&["acs@x.example"]),
        );
        match out {
            IqOutcome::Refused { reply, reason, .. } => {
                assert!(reply.contains("<service-unavailable"), "{reply}");
                assert!(reason.contains("ConnReqAllowedJabberIDs"));
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn other_iqs() {
        let ping =
            parse("<iq type='get' id='p1' from='x.example'><ping xmlns='urn:xmpp:ping'/></iq>");
        assert_eq!(
            handle_iq(&ping, &policy(&[])),
            IqOutcome::Other {
                reply: "<iq type='result' id='p1' to='x.example'/>".into()
            }
        );
        let q = parse("<iq type='get' id='v' from='a@x'><query xmlns='jabber:iq:version'/></iq>");
        match handle_iq(&q, &policy(&[])) {
            IqOutcome::Other { reply } => assert!(reply.contains("service-unavailable")),
            o => panic!("{o:?}"),
        }
        // A connectionRequest in the wrong namespace is not one.
        let fake = parse("<iq type='get' id='f'><connectionRequest xmlns='x'/></iq>");
        assert!(matches!(
            handle_iq(&fake, &policy(&[])),
            IqOutcome::Other { .. }
        ));
        let res = parse("<iq type='result' id='b1'/>");
        assert_eq!(handle_iq(&res, &policy(&[])), IqOutcome::Ignore);
        // Attribute values are escaped in the reply.
        let q = parse("<iq type='get' id='a&apos;b' from='x'/>");
        match handle_iq(&q, &policy(&[])) {
            IqOutcome::Other { reply } => assert!(reply.contains("id='a&apos;b'"), "{reply}"),
            o => panic!("{o:?}"),
        }
    }
}
