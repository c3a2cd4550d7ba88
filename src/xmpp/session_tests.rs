use super::*;
use crate::xmpp::connreq::NS_CONNREQ;

const HDR: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' id='x' from='x.example' version='1.0'>";

fn account(use_tls: bool) -> Account {
    Account {
        username: "user".into(),
        domain: "x.example".into(),
        password: "pencil".into(),
        resource: "cwmp".into(),
        use_tls,
    }
}

fn policy() -> ConnReqPolicy {
    ConnReqPolicy {
        username: "cr".into(),
        password: "crpw".into(),
        allowed_jids: vec!["acs@x.example".into()],
    }
}

fn out(s: &mut Session) -> String {
    String::from_utf8(s.take_output()).unwrap()
}

fn b64(s: &str) -> String {
    base64_encode(s.as_bytes())
}

const SCRAM_FEATURES: &str =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
<mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>";

/// Runs STARTTLS and SCRAM (the RFC 5802 example) up to the bind request.
fn to_bind(s: &mut Session, p: &ConnReqPolicy) {
    assert!(out(s).contains("<stream:stream to='x.example'"));
    let feats = format!(
        "{HDR}<stream:features><starttls xmlns='{NS_TLS}'><required/></starttls></stream:features>"
    );
    assert_eq!(s.receive(feats.as_bytes(), p).unwrap(), []);
    assert_eq!(out(s), format!("<starttls xmlns='{NS_TLS}'/>"));
    let acts = s
        .receive(format!("<proceed xmlns='{NS_TLS}'/>junk").as_bytes(), p)
        .unwrap();
    assert_eq!(acts, [Action::StartTls]);
    s.tls_started();
    assert!(out(s).starts_with("<?xml version='1.0'?><stream:stream"));
    s.receive(format!("{HDR}{SCRAM_FEATURES}").as_bytes(), p)
        .unwrap();
    assert_eq!(
        out(s),
        format!(
            "<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{}</auth>",
            b64("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
        )
    );
    let first = b64("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    s.receive(
        format!("<challenge xmlns='{NS_SASL}'>{first}</challenge>").as_bytes(),
        p,
    )
    .unwrap();
    assert_eq!(
        out(s),
        format!(
            "<response xmlns='{NS_SASL}'>{}</response>",
            b64("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
        )
    );
}

#[test]
fn starttls_scram_bind_and_connection_request() {
    let p = policy();
    let mut s = Session::new(account(true), "fyko+d2lbbFgONRv9qkxdawL");
    to_bind(&mut s, &p);
    let fin = b64("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
    s.receive(
        format!("<success xmlns='{NS_SASL}'>{fin}</success>").as_bytes(),
        &p,
    )
    .unwrap();
    assert!(out(&mut s).contains("<stream:stream"), "stream restarted");
    s.receive(
        format!("{HDR}<stream:features><bind xmlns='{NS_BIND}'/></stream:features>").as_bytes(),
        &p,
    )
    .unwrap();
    assert!(out(&mut s).contains("<resource>cwmp</resource>"));
    assert!(!s.ready());
    let acts = s
        .receive(
            format!(
                "<iq type='result' id='bind1'><bind xmlns='{NS_BIND}'>\
<jid>user@x.example/cwmp</jid></bind></iq>"
            )
            .as_bytes(),
            &p,
        )
        .unwrap();
    assert_eq!(acts, [Action::Bound("user@x.example/cwmp".into())]);
    assert!(s.ready());
    assert_eq!(out(&mut s), "<presence/>");

    let cr = |from: &str, pw: &str| {
        format!(
            "<iq type='get' id='c1' from='{from}' to='user@x.example/cwmp'>\
<connectionRequest xmlns='{NS_CONNREQ}'><username>cr</username><password>{pw}</password>\
</connectionRequest></iq>"
        )
    };
    // Split across reads: nothing happens until the stanza is whole.
    let ok = cr("acs@x.example/a", "crpw");
    let (a, b) = ok.split_at(40);
    assert_eq!(s.receive(a.as_bytes(), &p).unwrap(), []);
    assert_eq!(
        s.receive(b.as_bytes(), &p).unwrap(),
        [Action::ConnReq("acs@x.example/a".into())]
    );
    assert!(out(&mut s).contains("type='result' id='c1'"));
    let acts = s
        .receive(cr("acs@x.example/a", "no").as_bytes(), &p)
        .unwrap();
    assert!(matches!(&acts[..], [Action::Refused { .. }]), "{acts:?}");
    assert!(out(&mut s).contains("not-authorized"));
    let acts = s
        .receive(cr("evil@x.example/a", "crpw").as_bytes(), &p)
        .unwrap();
    assert!(matches!(&acts[..], [Action::Refused { .. }]), "{acts:?}");
    assert!(out(&mut s).contains("service-unavailable"));

    s.keepalive();
    assert_eq!(out(&mut s), " ");
    assert_eq!(s.receive(b"</stream:stream>", &p), Err(XmppError::Closed));
}

#[test]
fn wrong_server_signature_or_failure_is_an_auth_error() {
    let p = policy();
    let mut s = Session::new(account(true), "fyko+d2lbbFgONRv9qkxdawL");
    to_bind(&mut s, &p);
    let fin = b64("v=AAAApqV8S7suAoZWja4dJRkFsKQ=");
    let r = s.receive(
        format!("<success xmlns='{NS_SASL}'>{fin}</success>").as_bytes(),
        &p,
    );
    assert!(matches!(r, Err(XmppError::Auth(_))), "{r:?}");

    let mut s = Session::new(account(true), "fyko+d2lbbFgONRv9qkxdawL");
    to_bind(&mut s, &p);
    let r = s.receive(
        format!("<failure xmlns='{NS_SASL}'><not-authorized/></failure>").as_bytes(),
        &p,
    );
    assert_eq!(r, Err(XmppError::Auth("not-authorized".into())));
}

#[test]
fn tls_required_and_plain_only_when_allowed() {
    let p = policy();
    // UseTLS on, no STARTTLS offered: never authenticates in the clear.
    let mut s = Session::new(account(true), "n");
    let r = s.receive(format!("{HDR}{SCRAM_FEATURES}").as_bytes(), &p);
    assert!(matches!(r, Err(XmppError::Protocol(_))), "{r:?}");
    assert!(!out(&mut s).contains("<auth"));

    // UseTLS off and only PLAIN offered: PLAIN.
    let mut s = Session::new(account(false), "n");
    out(&mut s);
    let feats = format!(
        "{HDR}<stream:features><mechanisms xmlns='{NS_SASL}'><mechanism>PLAIN</mechanism>\
</mechanisms></stream:features>"
    );
    s.receive(feats.as_bytes(), &p).unwrap();
    assert_eq!(
        out(&mut s),
        format!(
            "<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{}</auth>",
            plain("user", "pencil")
        )
    );
    // A server without a usable mechanism.
    let mut s = Session::new(account(false), "n");
    let feats = format!(
        "{HDR}<stream:features><mechanisms xmlns='{NS_SASL}'><mechanism>X</mechanism>\
</mechanisms></stream:features>"
    );
    assert!(matches!(
        s.receive(feats.as_bytes(), &p),
        Err(XmppError::Auth(_))
    ));
    // A stream error ends the connection.
    let mut s = Session::new(account(false), "n");
    let r = s.receive(
        format!("{HDR}<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>").as_bytes(),
        &p,
    );
    assert_eq!(r, Err(XmppError::Protocol("stream error conflict".into())));
}
