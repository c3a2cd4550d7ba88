//! A compact element tree over the message bytes, read by a small XML reader with budgets.
//!
//! Hostile input must not cost memory or time out of proportion to the budgets in
//! [`super::limits`]: a node is a few integers pointing into the input (no allocation per
//! element, name or attribute), namespace URIs are classified once when declared, each byte is
//! looked at a bounded number of times, and reading stops at the first budget passed. Text and
//! attribute values are unescaped only when the decoder asks for them.
//!
//! Only what the decoder needs survives: local names, the namespaces it tells apart, the
//! attributes and the character content of each element up to its first child element.
//! No DTD: a DOCTYPE is refused, and only the five predefined entities and character
//! references are known.

use super::chars::{check_chars, check_name, find, to_utf8, unescape_attr, unescape_text};
use super::limits::{Limits, MAX_ATTRS, MAX_DEPTH, MAX_NS_IN_SCOPE};
use super::types::CwmpNs;
use std::borrow::Cow;

const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// "No node" in the child and sibling links.
const NONE: u32 = u32::MAX;

/// The namespaces the decoder tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    /// No namespace (unqualified element).
    None,
    /// SOAP 1.1 envelope.
    SoapEnv,
    /// XML Schema instance (`xsi:type`).
    Xsi,
    /// A cwmp namespace.
    Cwmp(CwmpNs),
    /// Anything else.
    Other,
}

impl Ns {
    fn classify(uri: &str) -> Ns {
        match uri {
            "" => Ns::None,
            SOAP_ENV => Ns::SoapEnv,
            XSI => Ns::Xsi,
            u => CwmpNs::from_uri(u).map_or(Ns::Other, Ns::Cwmp),
        }
    }
}

/// A byte range of the input.
#[derive(Clone, Copy, Debug, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn of(start: usize, end: usize) -> Span {
        // The input is at most `u32::MAX` bytes (checked in `parse`).
        Span {
            start: start as u32,
            end: end as u32,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Local name.
    name: Span,
    /// Raw content from the start tag to the first child element or the end tag.
    text: Span,
    first_child: u32,
    next_sibling: u32,
    /// First attribute in `Doc::attrs`.
    attrs: u32,
    n_attrs: u8,
    ns: Ns,
    cwmp_in_scope: Option<CwmpNs>,
}

#[derive(Clone, Copy, Debug)]
struct AttrNode {
    ns: Ns,
    /// Local name.
    name: Span,
    /// Raw value between the quotes.
    value: Span,
}

/// A parsed message: the input and the tree of its elements (node 0 is the root).
#[derive(Debug)]
pub struct Doc<'a> {
    src: Cow<'a, str>,
    nodes: Vec<Node>,
    attrs: Vec<AttrNode>,
}

impl<'a> Doc<'a> {
    /// The root element (`None` only for a partial tree cut before the first element).
    pub fn root(&self) -> Option<Element<'_>> {
        (!self.nodes.is_empty()).then_some(Element { doc: self, i: 0 })
    }

    fn str(&self, s: Span) -> &str {
        // Spans are cut at ASCII delimiters of a valid `str`, so this cannot fail; an empty
        // string would only hide a bug.
        self.src.get(s.start as usize..s.end as usize).unwrap_or("")
    }
}

/// One element of a [`Doc`].
#[derive(Clone, Copy)]
pub struct Element<'d> {
    doc: &'d Doc<'d>,
    i: u32,
}

impl std::fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{}>", self.name())
    }
}

impl<'d> Element<'d> {
    fn node(&self) -> &'d Node {
        &self.doc.nodes[self.i as usize]
    }

    /// Local name.
    pub fn name(&self) -> &'d str {
        self.doc.str(self.node().name)
    }

    /// Namespace of the element.
    pub fn ns(&self) -> Ns {
        self.node().ns
    }

    /// The cwmp namespace declared in scope (by any prefix), if any.
    pub fn cwmp_in_scope(&self) -> Option<CwmpNs> {
        self.node().cwmp_in_scope
    }

    /// Character data directly inside the element (entities resolved, CDATA unwrapped, not
    /// trimmed), up to its first child element.
    pub fn text(&self) -> Cow<'d, str> {
        unescape_text(self.doc.str(self.node().text))
    }

    /// Child elements, in document order.
    pub fn children(&self) -> Children<'d> {
        Children {
            doc: self.doc,
            next: self.node().first_child,
        }
    }

    /// The first child with this local name, in any namespace.
    pub fn child(&self, name: &str) -> Option<Element<'d>> {
        self.children().find(|c| c.name() == name)
    }

    /// All children with this local name, in any namespace.
    pub fn children_named<'n>(&self, name: &'n str) -> impl Iterator<Item = Element<'d>> + 'n
    where
        'd: 'n,
    {
        self.children().filter(move |c| c.name() == name)
    }

    /// The first element child, whatever its name.
    pub fn first_child(&self) -> Option<Element<'d>> {
        self.children().next()
    }

    /// The value of an attribute by local name, preferring the given namespace.
    pub fn attr(&self, ns: Ns, name: &str) -> Option<Cow<'d, str>> {
        let n = self.node();
        let all = &self.doc.attrs[n.attrs as usize..n.attrs as usize + n.n_attrs as usize];
        let named = |a: &&AttrNode| self.doc.str(a.name) == name;
        all.iter()
            .filter(named)
            .find(|a| a.ns == ns)
            .or_else(|| all.iter().find(named))
            .map(|a| unescape_attr(self.doc.str(a.value)))
    }
}

/// Iterator over the children of an [`Element`].
pub struct Children<'d> {
    doc: &'d Doc<'d>,
    next: u32,
}

impl<'d> Iterator for Children<'d> {
    type Item = Element<'d>;

    fn next(&mut self) -> Option<Element<'d>> {
        if self.next == NONE {
            return None;
        }
        let e = Element {
            doc: self.doc,
            i: self.next,
        };
        self.next = self.doc.nodes[self.next as usize].next_sibling;
        Some(e)
    }
}

/// Why the bytes could not be turned into a tree.
#[derive(Debug)]
pub enum TreeError<'a> {
    /// Not well-formed XML (or a DOCTYPE, which SOAP forbids).
    Malformed(String),
    /// A budget was passed. `partial` is the tree read up to that point, when there is one,
    /// so that the decoder can still answer a request with a fault.
    TooBig {
        /// Which budget.
        message: String,
        /// The elements read before the budget was passed.
        partial: Option<Doc<'a>>,
    },
}

/// Parses `input` into a tree within `limits`. Latin-1 input (declared, or simply not valid
/// UTF-8) and UTF-16 with a byte-order mark are transcoded to UTF-8 first.
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Doc<'a>, TreeError<'a>> {
    let max = limits.max_message.min(u32::MAX as usize / 2);
    if input.len() > max {
        return Err(TreeError::TooBig {
            message: format!("envelope of {} bytes exceeds {max}", input.len()),
            partial: None,
        });
    }
    let src = to_utf8(input).map_err(TreeError::Malformed)?;
    let mut nodes = Vec::new();
    let mut attrs = Vec::new();
    let r = Reader {
        s: src.as_bytes(),
        limits,
        nodes: &mut nodes,
        attrs: &mut attrs,
        stack: Vec::new(),
        bindings: Vec::new(),
        pending: Vec::new(),
    }
    .read();
    let doc = Doc { src, nodes, attrs };
    match r {
        Ok(()) => Ok(doc),
        Err(Fail::Malformed(m)) => Err(TreeError::Malformed(m)),
        Err(Fail::TooBig(message)) => Err(TreeError::TooBig {
            message,
            partial: Some(doc),
        }),
    }
}

enum Fail {
    Malformed(String),
    TooBig(String),
}

fn malformed<T>(m: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Malformed(m.into()))
}

/// An element whose end tag has not been read yet.
struct Open {
    node: u32,
    /// Qualified name, for matching the end tag.
    qname: Span,
    last_child: u32,
    /// Length of `bindings` before this element's declarations.
    mark: usize,
}

struct Reader<'s, 'o> {
    s: &'s [u8],
    limits: &'o Limits,
    nodes: &'o mut Vec<Node>,
    attrs: &'o mut Vec<AttrNode>,
    stack: Vec<Open>,
    /// Namespace declarations in scope: prefix (empty for the default) and its class.
    bindings: Vec<(Span, Ns)>,
    /// Attributes of the start tag being read: qualified name and raw value.
    pending: Vec<(Span, Span)>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_byte(b: u8) -> bool {
    !is_ws(b) && !matches!(b, b'<' | b'>' | b'/' | b'=' | b'"' | b'\'' | b'&' | b';')
}

impl Reader<'_, '_> {
    fn read(&mut self) -> Result<(), Fail> {
        let s = self.s;
        let mut i = 0;
        loop {
            let lt = s[i..].iter().position(|&b| b == b'<').map(|p| i + p);
            let end = lt.unwrap_or(s.len());
            if self.stack.is_empty() {
                if !s[i..end].iter().all(|&b| is_ws(b)) {
                    return malformed("text outside the root element");
                }
            } else {
                check_chars(&s[i..end], false).map_err(Fail::Malformed)?;
            }
            let Some(lt) = lt else {
                return malformed("unexpected end of document: no complete root element");
            };
            let rest = &s[lt..];
            i = if rest.starts_with(b"<!--") {
                find(s, lt + 4, b"-->").ok_or_else(|| bad("unterminated comment"))? + 3
            } else if rest.starts_with(b"<![CDATA[") {
                if self.stack.is_empty() {
                    return malformed("CDATA outside the root element");
                }
                let e = find(s, lt + 9, b"]]>").ok_or_else(|| bad("unterminated CDATA"))?;
                check_chars(&s[lt + 9..e], true).map_err(Fail::Malformed)?;
                e + 3
            } else if rest.starts_with(b"<!") {
                return malformed("DOCTYPE not allowed in SOAP");
            } else if rest.starts_with(b"<?") {
                find(s, lt + 2, b"?>").ok_or_else(|| bad("unterminated processing instruction"))?
                    + 2
            } else if rest.starts_with(b"</") {
                let gt = find(s, lt, b">").ok_or_else(|| bad("unterminated end tag"))?;
                let Some(open) = self.stack.pop() else {
                    return malformed("unbalanced end tag");
                };
                let name = trim_end(&s[lt + 2..gt]);
                if name != &s[open.qname.start as usize..open.qname.end as usize] {
                    return malformed("end tag does not match its start tag");
                }
                self.close(&open, lt);
                if self.stack.is_empty() {
                    // The root is complete: anything after it is ignored.
                    return Ok(());
                }
                gt + 1
            } else {
                match self.start_tag(lt)? {
                    Some(next) => next,
                    None => return Ok(()),
                }
            };
        }
    }

    /// Ends the text of `open`'s node at `at` if no child did, and leaves its scope.
    fn close(&mut self, open: &Open, at: usize) {
        let node = &mut self.nodes[open.node as usize];
        if node.first_child == NONE {
            node.text.end = at as u32;
        }
        self.bindings.truncate(open.mark);
    }

    /// Reads the start tag at `lt`; the position after it, or `None` when it closed the root.
    fn start_tag(&mut self, lt: usize) -> Result<Option<usize>, Fail> {
        let s = self.s;
        let name_end = lt + 1 + s[lt + 1..].iter().take_while(|&&b| is_name_byte(b)).count();
        let qname = Span::of(lt + 1, name_end);
        check_name(&s[lt + 1..name_end]).map_err(Fail::Malformed)?;
        let mark = self.bindings.len();
        self.pending.clear();
        let mut i = name_end;
        let empty = loop {
            let ws = s[i..].iter().take_while(|&&b| is_ws(b)).count();
            i += ws;
            match s.get(i) {
                Some(b'>') => break false,
                Some(b'/') if s.get(i + 1) == Some(&b'>') => {
                    i += 1;
                    break true;
                }
                None => return malformed("unterminated start tag"),
                Some(_) if ws == 0 => return malformed("attributes must be separated by space"),
                Some(_) => {}
            }
            let an_end = i + s[i..].iter().take_while(|&&b| is_name_byte(b)).count();
            let aname = &s[i..an_end];
            check_name(aname).map_err(Fail::Malformed)?;
            let mut j = an_end + s[an_end..].iter().take_while(|&&b| is_ws(b)).count();
            if s.get(j) != Some(&b'=') {
                return malformed("attribute without a value");
            }
            j += 1;
            j += s[j..].iter().take_while(|&&b| is_ws(b)).count();
            let q = match s.get(j) {
                Some(&q @ (b'"' | b'\'')) => q,
                _ => return malformed("attribute value without quotes"),
            };
            let v_end = j
                + 1
                + s[j + 1..]
                    .iter()
                    .position(|&b| b == q)
                    .ok_or_else(|| bad("unterminated attribute value"))?;
            let value = &s[j + 1..v_end];
            if value.contains(&b'<') {
                return malformed("'<' in an attribute value");
            }
            check_chars(value, false).map_err(Fail::Malformed)?;
            let vspan = Span::of(j + 1, v_end);
            if aname == b"xmlns" || aname.starts_with(b"xmlns:") {
                if self.bindings.len() >= MAX_NS_IN_SCOPE {
                    return Err(Fail::TooBig(format!(
                        "more than {MAX_NS_IN_SCOPE} namespace declarations in scope"
                    )));
                }
                let prefix = Span::of((i + 6).min(an_end), an_end);
                let uri = unescape_attr(std::str::from_utf8(value).unwrap_or(""));
                self.bindings.push((prefix, Ns::classify(&uri)));
            } else {
                if self.pending.len() >= MAX_ATTRS {
                    return Err(Fail::TooBig(format!(
                        "more than {MAX_ATTRS} attributes on one element"
                    )));
                }
                if self.attrs.len() + self.pending.len() >= self.limits.max_attributes() {
                    return Err(Fail::TooBig(format!(
                        "more than {} attributes",
                        self.limits.max_attributes()
                    )));
                }
                let aspan = Span::of(i, an_end);
                if self.pending.iter().any(|(n, _)| self.bytes(*n) == aname) {
                    return malformed("duplicate attribute");
                }
                self.pending.push((aspan, vspan));
            }
            i = v_end + 1;
        };
        let after = i + 1;
        if self.nodes.len() >= self.limits.max_elements() {
            return Err(Fail::TooBig(format!(
                "more than {} elements",
                self.limits.max_elements()
            )));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(Fail::TooBig(format!(
                "elements nested deeper than {MAX_DEPTH}"
            )));
        }
        let (ns, name) = self.resolve(qname, true)?;
        let first_attr = self.attrs.len() as u32;
        for k in 0..self.pending.len() {
            let (aq, value) = self.pending[k];
            let (ans, aname) = self.resolve(aq, false)?;
            self.attrs.push(AttrNode {
                ns: ans,
                name: aname,
                value,
            });
        }
        let parent_cwmp = self
            .stack
            .last()
            .and_then(|p| self.nodes[p.node as usize].cwmp_in_scope);
        let own_cwmp = self.bindings[mark..].iter().find_map(|(_, ns)| match ns {
            Ns::Cwmp(v) => Some(*v),
            _ => None,
        });
        let idx = self.nodes.len() as u32;
        self.nodes.push(Node {
            name,
            text: Span::of(after, after),
            first_child: NONE,
            next_sibling: NONE,
            attrs: first_attr,
            n_attrs: self.pending.len() as u8,
            ns,
            cwmp_in_scope: own_cwmp.or(parent_cwmp),
        });
        if let Some(parent) = self.stack.last_mut() {
            let p = parent.node as usize;
            if parent.last_child == NONE {
                self.nodes[p].text.end = lt as u32;
                self.nodes[p].first_child = idx;
            } else {
                self.nodes[parent.last_child as usize].next_sibling = idx;
            }
            parent.last_child = idx;
        }
        let open = Open {
            node: idx,
            qname,
            last_child: NONE,
            mark,
        };
        if empty {
            self.close(&open, after);
            if self.stack.is_empty() {
                return Ok(None);
            }
        } else {
            self.stack.push(open);
        }
        Ok(Some(after))
    }

    fn bytes(&self, s: Span) -> &[u8] {
        &self.s[s.start as usize..s.end as usize]
    }

    /// The namespace and local name of a qualified name. Unprefixed attributes are in no
    /// namespace; unprefixed elements in the default one.
    fn resolve(&self, q: Span, element: bool) -> Result<(Ns, Span), Fail> {
        let b = self.bytes(q);
        let (prefix, local) = match b.iter().position(|&c| c == b':') {
            Some(c) => (&b[..c], Span::of(q.start as usize + c + 1, q.end as usize)),
            None if !element => return Ok((Ns::None, q)),
            None => (&b[..0], q),
        };
        if prefix == b"xml" {
            return Ok((Ns::Other, local));
        }
        match self
            .bindings
            .iter()
            .rev()
            .find(|(p, _)| self.bytes(*p) == prefix)
        {
            Some((_, ns)) => Ok((*ns, local)),
            None if prefix.is_empty() => Ok((Ns::None, local)),
            None => malformed(format!(
                "unbound namespace prefix {}",
                String::from_utf8_lossy(prefix)
            )),
        }
    }
}

fn bad(m: &str) -> Fail {
    Fail::Malformed(m.to_string())
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b.iter().rev().take_while(|&&c| is_ws(c)).count();
    &b[..b.len() - n]
}
