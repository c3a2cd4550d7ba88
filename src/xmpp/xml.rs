//! The XMPP stream codec (RFC 6120 section 4): bytes from the server are fed in as they come and
//! whole top-level stanzas come out as small element trees.
//!
//! A stanza is kept only until it is complete and never grows past [`MAX_STANZA`] bytes or
//! [`MAX_DEPTH`] levels; each attempt to read a stanza is one linear pass over at most that many
//! bytes. No DTD, comments or processing instructions inside the stream (RFC 6120 section 11.1
//! forbids them); only the five predefined entities and character references are known.

use std::fmt;

/// The largest stanza kept while waiting for its end (Annex K stanzas are a few hundred bytes).
pub const MAX_STANZA: usize = 64 * 1024;
/// The deepest nesting of elements inside a stanza.
pub const MAX_DEPTH: usize = 16;
/// The most attributes on one element.
const MAX_ATTRS: usize = 16;
/// The most child elements of one element.
const MAX_CHILDREN: usize = 64;
/// The most elements in one stanza (bounds the tree's memory, not only its bytes).
pub const MAX_ELEMENTS: usize = 512;

/// Why the stream cannot be read any further (the connection is then closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlError {
    /// Not well-formed XML (or a construct XMPP forbids), with where it was found.
    Malformed(&'static str),
    /// A stanza passed [`MAX_STANZA`], [`MAX_DEPTH`] or another budget.
    TooBig,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::Malformed(what) => write!(f, "malformed XML stream: {what}"),
            XmlError::TooBig => write!(f, "XML stanza over budget"),
        }
    }
}

impl std::error::Error for XmlError {}

/// One element of a stanza: qualified name as written, attributes, children and the text
/// directly inside it (concatenated, unescaped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The name as written, with its prefix if any (`stream:features`).
    pub name: String,
    /// Attributes in document order, values unescaped.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Character content directly inside this element.
    pub text: String,
}

impl Element {
    /// The name without its prefix.
    pub fn local(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// The value of the attribute written as `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first child whose local name is `local`.
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local() == local)
    }
}

/// What the stream reader hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The server's `<stream:stream ...>` header (only its attributes matter).
    StreamOpen(Element),
    /// A complete top-level element inside the stream.
    Stanza(Element),
    /// `</stream:stream>`: the server closed the stream.
    StreamClose,
}

/// Sans-IO reader of the server's half of an XMPP stream.
#[derive(Debug, Default)]
pub struct StreamReader {
    buf: Vec<u8>,
    open: bool,
}

impl StreamReader {
    /// A reader expecting a new stream header (also after STARTTLS and SASL, which restart it).
    pub fn new() -> StreamReader {
        StreamReader::default()
    }

    /// Adds bytes read from the connection.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), XmlError> {
        // A pending stanza plus one read never exceeds the budget by more than the read.
        if self.buf.len() + bytes.len() > MAX_STANZA + 16 * 1024 {
            return Err(XmlError::TooBig);
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The next complete event, `Ok(None)` while more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, XmlError> {
        let skip = skip_ws(&self.buf, 0);
        let mut p = Parser {
            s: &self.buf,
            i: skip,
            elements: 0,
        };
        let ev = if !self.open {
            match p.stream_header() {
                Ok(el) => {
                    self.open = true;
                    Event::StreamOpen(el)
                }
                Err(Step::Incomplete) => return self.incomplete(),
                Err(Step::Bad(e)) => return Err(e),
            }
        } else if p.rest().starts_with(b"</") {
            match p.end_tag() {
                Ok(name) if name == "stream:stream" => {
                    self.open = false;
                    Event::StreamClose
                }
                Ok(_) => return Err(XmlError::Malformed("unexpected end tag")),
                Err(Step::Incomplete) => return self.incomplete(),
                Err(Step::Bad(e)) => return Err(e),
            }
        } else if p.i == self.buf.len() {
            return Ok(None);
        } else {
            match p.element(0) {
                Ok(el) => Event::Stanza(el),
                Err(Step::Incomplete) => return self.incomplete(),
                Err(Step::Bad(e)) => return Err(e),
            }
        };
        let used = p.i;
        self.buf.drain(..used);
        Ok(Some(ev))
    }

    fn incomplete(&self) -> Result<Option<Event>, XmlError> {
        if self.buf.len() > MAX_STANZA {
            Err(XmlError::TooBig)
        } else {
            Ok(None)
        }
    }
}

enum Step {
    Incomplete,
    Bad(XmlError),
}

fn bad(what: &'static str) -> Step {
    Step::Bad(XmlError::Malformed(what))
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.') || b >= 0x80
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    elements: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.s[self.i..]
    }

    fn byte(&self) -> Result<u8, Step> {
        self.s.get(self.i).copied().ok_or(Step::Incomplete)
    }

    fn name(&mut self) -> Result<String, Step> {
        let start = self.i;
        while self.byte().map(is_name_byte)? {
            self.i += 1;
        }
        if self.i == start {
            return Err(bad("expected a name"));
        }
        to_string(&self.s[start..self.i])
    }

    /// `<?xml ...?>` (optional) then the `<stream:stream ...>` start tag.
    fn stream_header(&mut self) -> Result<Element, Step> {
        if self.rest().starts_with(b"<?")
            || (self.rest().len() < 2 && b"<?".starts_with(self.rest()))
        {
            let end = find(self.rest(), b"?>").ok_or(Step::Incomplete)?;
            self.i = skip_ws(self.s, self.i + end + 2);
        }
        let (el, empty) = self.start_tag()?;
        if el.name != "stream:stream" || empty {
            return Err(bad("expected stream:stream"));
        }
        Ok(el)
    }

    /// A start tag; true when it is an empty-element tag.
    fn start_tag(&mut self) -> Result<(Element, bool), Step> {
        if self.byte()? != b'<' {
            return Err(bad("expected '<'"));
        }
        self.i += 1;
        let mut el = Element {
            name: self.name()?,
            ..Element::default()
        };
        loop {
            self.i = skip_ws(self.s, self.i);
            match self.byte()? {
                b'>' => {
                    self.i += 1;
                    return Ok((el, false));
                }
                b'/' => {
                    self.i += 1;
                    if self.byte()? != b'>' {
                        return Err(bad("expected '>'"));
                    }
                    self.i += 1;
                    return Ok((el, true));
                }
                _ => {
                    let n = self.name()?;
                    self.i = skip_ws(self.s, self.i);
                    if self.byte()? != b'=' {
                        return Err(bad("expected '='"));
                    }
                    self.i = skip_ws(self.s, self.i + 1);
                    let q = self.byte()?;
                    if q != b'"' && q != b'\'' {
                        return Err(bad("expected a quote"));
                    }
                    let len = self.rest()[1..]
                        .iter()
                        .position(|&b| b == q)
                        .ok_or(Step::Incomplete)?;
                    let raw = &self.s[self.i + 1..self.i + 1 + len];
                    if raw.contains(&b'<') {
                        return Err(bad("'<' in attribute"));
                    }
                    self.i += len + 2;
                    if el.attrs.len() == MAX_ATTRS {
                        return Err(Step::Bad(XmlError::TooBig));
                    }
                    if el.attrs.iter().any(|(a, _)| *a == n) {
                        return Err(bad("duplicate attribute"));
                    }
                    el.attrs.push((n, unescape(raw)?));
                }
            }
        }
    }

    /// `</name>`, returning the name.
    fn end_tag(&mut self) -> Result<String, Step> {
        self.i += 2;
        let n = self.name()?;
        self.i = skip_ws(self.s, self.i);
        if self.byte()? != b'>' {
            return Err(bad("expected '>'"));
        }
        self.i += 1;
        Ok(n)
    }

    /// A whole element with its content, `depth` levels below the stanza.
    fn element(&mut self, depth: usize) -> Result<Element, Step> {
        self.elements += 1;
        if depth >= MAX_DEPTH || self.elements > MAX_ELEMENTS {
            return Err(Step::Bad(XmlError::TooBig));
        }
        let (mut el, empty) = self.start_tag()?;
        if empty {
            return Ok(el);
        }
        loop {
            let len = self
                .rest()
                .iter()
                .position(|&b| b == b'<')
                .ok_or(Step::Incomplete)?;
            let text = &self.s[self.i..self.i + len];
            el.text.push_str(&unescape(text)?);
            self.i += len;
            let rest = self.rest();
            if rest.len() < 2 {
                return Err(Step::Incomplete);
            }
            match rest[1] {
                b'/' => {
                    let n = self.end_tag()?;
                    if n != el.name {
                        return Err(bad("mismatched end tag"));
                    }
                    return Ok(el);
                }
                b'!' | b'?' => return Err(bad("comment, DTD or PI in stream")),
                _ => {
                    if el.children.len() == MAX_CHILDREN {
                        return Err(Step::Bad(XmlError::TooBig));
                    }
                    el.children.push(self.element(depth + 1)?);
                }
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn to_string(b: &[u8]) -> Result<String, Step> {
    std::str::from_utf8(b)
        .map(str::to_owned)
        .map_err(|_| bad("invalid UTF-8"))
}

/// Replaces the predefined entities and character references.
fn unescape(raw: &[u8]) -> Result<String, Step> {
    let s = std::str::from_utf8(raw).map_err(|_| bad("invalid UTF-8"))?;
    if !s.contains('&') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..]
            .find(';')
            .ok_or_else(|| bad("unterminated entity"))?;
        let ent = &rest[amp + 1..amp + semi];
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = if let Some(h) = ent.strip_prefix("#x") {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = ent.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                n.and_then(char::from_u32)
                    .ok_or_else(|| bad("unknown entity"))?
            }
        };
        out.push(c);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Escapes text or an attribute value for writing into a stanza.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "xml_tests.rs"]
mod tests;
