use super::*;

const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.com' version='1.0'>";

fn stanza(ev: Option<Event>) -> Element {
    match ev {
        Some(Event::Stanza(el)) => el,
        other => panic!("expected a stanza, got {other:?}"),
    }
}

#[test]
fn header_features_and_close_byte_by_byte() {
    let mut input = HEADER.to_vec();
    input.extend_from_slice(
        b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>\
</stream:stream>",
    );
    let mut r = StreamReader::new();
    let mut events = Vec::new();
    // One byte at a time: every split point of a token must wait, never fail.
    for b in &input {
        r.feed(&[*b]).unwrap();
        while let Some(ev) = r.next_event().unwrap() {
            events.push(ev);
        }
    }
    assert_eq!(events.len(), 3, "{events:?}");
    match &events[0] {
        Event::StreamOpen(el) => assert_eq!(el.attr("id"), Some("s1")),
        e => panic!("{e:?}"),
    }
    let Event::Stanza(f) = &events[1] else {
        panic!("{:?}", events[1])
    };
    assert_eq!(f.local(), "features");
    let mechs: Vec<&str> = f
        .child("mechanisms")
        .unwrap()
        .children
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(mechs, ["SCRAM-SHA-1", "PLAIN"]);
    assert_eq!(events[2], Event::StreamClose);
}

#[test]
fn entities_attributes_and_self_closing() {
    let mut r = StreamReader::new();
    r.feed(HEADER).unwrap();
    assert!(matches!(r.next_event(), Ok(Some(Event::StreamOpen(_)))));
    r.feed(b"<iq type=\"get\" id='a&amp;b'><x>1 &lt; 2 &#x41;&#66;</x><y/></iq><presence/>")
        .unwrap();
    let iq = stanza(r.next_event().unwrap());
    assert_eq!(iq.attr("id"), Some("a&b"));
    assert_eq!(iq.child("x").unwrap().text, "1 < 2 AB");
    assert!(iq.child("y").is_some());
    assert_eq!(stanza(r.next_event().unwrap()).name, "presence");
    assert_eq!(r.next_event().unwrap(), None);
}

#[test]
fn malformed_input_is_refused() {
    for bad in [
        &b"<iq><a></b></iq>"[..],
        b"<iq><!-- c --></iq>",
        b"<iq><!DOCTYPE x></iq>",
        b"<iq a='1' a='2'/>",
        b"<iq>&bogus;</iq>",
        b"<iq a=1/>",
        b"</other>",
        b"<iq>\xff</iq>",
    ] {
        let mut r = StreamReader::new();
        r.feed(HEADER).unwrap();
        r.next_event().unwrap();
        r.feed(bad).unwrap();
        assert!(
            matches!(r.next_event(), Err(XmlError::Malformed(_))),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    let mut r = StreamReader::new();
    r.feed(b"<iq/>").unwrap();
    assert!(r.next_event().is_err(), "a stanza before the stream header");
}

#[test]
fn budgets_stop_deep_and_endless_stanzas() {
    let mut r = StreamReader::new();
    r.feed(HEADER).unwrap();
    r.next_event().unwrap();
    r.feed(&b"<a>".repeat(MAX_DEPTH + 1)).unwrap();
    assert_eq!(r.next_event(), Err(XmlError::TooBig));

    // Many small elements: the tree is bounded, not only the bytes.
    let mut r = StreamReader::new();
    r.feed(HEADER).unwrap();
    r.next_event().unwrap();
    let mut many = b"<iq>".to_vec();
    for _ in 0..MAX_ELEMENTS / 32 + 1 {
        many.extend_from_slice(b"<a>");
        many.extend_from_slice(&b"<b/>".repeat(32));
        many.extend_from_slice(b"</a>");
    }
    many.extend_from_slice(b"</iq>");
    r.feed(&many).unwrap();
    assert_eq!(r.next_event(), Err(XmlError::TooBig));

    // An element that never ends: refused once it passes MAX_STANZA, memory stays bounded.
    let mut r = StreamReader::new();
    r.feed(HEADER).unwrap();
    r.next_event().unwrap();
    r.feed(b"<message><body>").unwrap();
    let chunk = vec![b'x'; 4096];
    let mut err = None;
    for _ in 0..(MAX_STANZA / 4096 + 8) {
        if let Err(e) = r.feed(&chunk).and_then(|_| r.next_event().map(|_| ())) {
            err = Some(e);
            break;
        }
    }
    assert_eq!(err, Some(XmlError::TooBig));
    assert!(r.buf.len() <= MAX_STANZA + 16 * 1024);
}

#[test]
fn escape_round_trips() {
    let s = "a<b>&\"c'";
    assert_eq!(escape(s), "a&lt;b&gt;&amp;&quot;c&apos;");
    assert_eq!(unescape(escape(s).as_bytes()).ok().unwrap(), s);
}
