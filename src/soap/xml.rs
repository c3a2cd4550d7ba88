//! A small owned element tree built with xml-rs, bounded against hostile input.
//!
//! Only what the decoder needs survives: local names, the few namespaces it cares about, the
//! attributes and the direct text of each element. Limits cap input size, depth and element
//! count so a malicious ACS (or a man in the middle on plain HTTP) cannot exhaust memory.

use super::types::CwmpNs;
use xml::reader::{ParserConfig, XmlEvent};

/// Largest envelope accepted, in bytes.
pub const MAX_INPUT: usize = 4 * 1024 * 1024;
/// Deepest element nesting accepted (CWMP needs about 8).
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in one envelope.
pub const MAX_ELEMENTS: usize = 200_000;

const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

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
    fn classify(uri: Option<&str>) -> Ns {
        match uri {
            None | Some("") => Ns::None,
            Some(SOAP_ENV) => Ns::SoapEnv,
            Some(XSI) => Ns::Xsi,
            Some(u) => CwmpNs::from_uri(u).map_or(Ns::Other, Ns::Cwmp),
        }
    }
}

/// One attribute.
#[derive(Clone, Debug)]
pub struct Attr {
    /// Its namespace.
    pub ns: Ns,
    /// Local name.
    pub name: String,
    /// Value, unescaped.
    pub value: String,
}

/// One element with its children and direct text.
#[derive(Clone, Debug)]
pub struct Element {
    /// Namespace of the element.
    pub ns: Ns,
    /// Local name.
    pub name: String,
    /// Attributes.
    pub attrs: Vec<Attr>,
    /// Child elements, in document order.
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element (not trimmed).
    pub text: String,
    /// The cwmp namespace declared in scope (by any prefix), if any.
    pub cwmp_in_scope: Option<CwmpNs>,
}

/// Why the bytes could not be turned into a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeError {
    /// Not well-formed XML (or a DOCTYPE, which SOAP forbids).
    Malformed(String),
    /// A size, depth or element-count limit was hit.
    TooBig(String),
}

impl Element {
    /// The first child with this local name, in any namespace.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name, in any namespace.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first element child, whatever its name.
    pub fn first_child(&self) -> Option<&Element> {
        self.children.first()
    }

    /// The value of an attribute by local name, preferring the given namespace.
    pub fn attr(&self, ns: Ns, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns == ns && a.name == name)
            .or_else(|| self.attrs.iter().find(|a| a.name == name))
            .map(|a| a.value.as_str())
    }
}

/// Parses `input` into a tree. Latin-1 input (declared, or simply not valid UTF-8) is
/// transcoded to UTF-8 first.
pub fn parse(input: &[u8]) -> Result<Element, TreeError> {
    if input.len() > MAX_INPUT {
        return Err(TreeError::TooBig(format!(
            "envelope of {} bytes exceeds {MAX_INPUT}",
            input.len()
        )));
    }
    let owned;
    let bytes = match to_utf8(input) {
        Some(v) => {
            owned = v;
            &owned[..]
        }
        None => input,
    };
    build(bytes)
}

/// Returns transcoded bytes when `input` is Latin-1, `None` when it can be parsed as is.
///
/// The XML declaration is dropped from a transcoded document so that xml-rs does not decode
/// it a second time.
fn to_utf8(input: &[u8]) -> Option<Vec<u8>> {
    let start = skip_ws(input);
    let decl_end = if input[start..].starts_with(b"<?xml") {
        input[start..]
            .windows(2)
            .position(|w| w == b"?>")
            .map(|p| start + p + 2)
    } else {
        None
    };
    let declared_latin1 = decl_end.is_some_and(|end| {
        let decl = String::from_utf8_lossy(&input[start..end]).to_ascii_lowercase();
        ["iso-8859-1", "iso_8859-1", "latin1", "latin-1", "iso8859-1"]
            .iter()
            .any(|e| decl.contains(e))
    });
    let utf16_bom = input.starts_with(&[0xFF, 0xFE]) || input.starts_with(&[0xFE, 0xFF]);
    if !declared_latin1 && (utf16_bom || std::str::from_utf8(input).is_ok()) {
        return None;
    }
    let body = &input[decl_end.unwrap_or(0)..];
    // Latin-1 maps each byte to the code point of the same value.
    Some(
        body.iter()
            .map(|&b| b as char)
            .collect::<String>()
            .into_bytes(),
    )
}

fn skip_ws(input: &[u8]) -> usize {
    let bom = if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    bom + input[bom..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

fn build(bytes: &[u8]) -> Result<Element, TreeError> {
    let reader = ParserConfig::new()
        .ignore_comments(true)
        .coalesce_characters(true)
        .cdata_to_characters(true)
        .whitespace_to_characters(true)
        .max_entity_expansion_depth(2)
        .max_entity_expansion_length(1024)
        .create_reader(bytes);
    // Open elements, innermost last.
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    for ev in reader {
        let ev = ev.map_err(|e| TreeError::Malformed(e.to_string()))?;
        match ev {
            XmlEvent::StartElement {
                name,
                attributes,
                namespace,
            } => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(TreeError::TooBig(format!(
                        "more than {MAX_ELEMENTS} elements"
                    )));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(TreeError::TooBig(format!(
                        "elements nested deeper than {MAX_DEPTH}"
                    )));
                }
                let cwmp_in_scope = namespace.0.values().find_map(|u| CwmpNs::from_uri(u));
                stack.push(Element {
                    ns: Ns::classify(name.namespace.as_deref()),
                    name: name.local_name,
                    attrs: attributes
                        .into_iter()
                        .map(|a| Attr {
                            ns: Ns::classify(a.name.namespace.as_deref()),
                            name: a.name.local_name,
                            value: a.value,
                        })
                        .collect(),
                    children: Vec::new(),
                    text: String::new(),
                    cwmp_in_scope,
                });
            }
            XmlEvent::EndElement { .. } => {
                let Some(done) = stack.pop() else {
                    return Err(TreeError::Malformed("unbalanced end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    // The root is complete: anything after it is ignored.
                    None => return Ok(done),
                }
            }
            XmlEvent::Characters(s) | XmlEvent::CData(s) | XmlEvent::Whitespace(s) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&s);
                }
            }
            XmlEvent::Doctype { .. } => {
                return Err(TreeError::Malformed("DOCTYPE not allowed in SOAP".into()));
            }
            XmlEvent::EndDocument => break,
            _ => {}
        }
    }
    Err(TreeError::Malformed("no complete root element".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_tree_with_namespaces_and_text() {
        let x = br#"<?xml version="1.0"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-3"><e:Body><c:X a="1"><![CDATA[a<b]]>&amp;c</c:X></e:Body></e:Envelope>"#;
        let root = parse(x).unwrap();
        assert_eq!(root.ns, Ns::SoapEnv);
        assert_eq!(root.name, "Envelope");
        assert_eq!(root.cwmp_in_scope, Some(CwmpNs::V1_3));
        let x = root.child("Body").unwrap().first_child().unwrap();
        assert_eq!(x.ns, Ns::Cwmp(CwmpNs::V1_3));
        assert_eq!(x.text, "a<b&c");
        assert_eq!(x.attr(Ns::None, "a"), Some("1"));
    }

    #[test]
    fn latin1_declared_and_undeclared() {
        let mut x = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>caf".to_vec();
        x.push(0xE9);
        x.extend_from_slice(b"</a>");
        assert_eq!(parse(&x).unwrap().text, "caf\u{e9}");
        let mut y = b"<a>caf".to_vec();
        y.push(0xE9);
        y.extend_from_slice(b"</a>");
        assert_eq!(parse(&y).unwrap().text, "caf\u{e9}");
    }

    #[test]
    fn limits_hold() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert!(matches!(parse(deep.as_bytes()), Err(TreeError::TooBig(_))));
        let wide = format!("<a>{}</a>", "<b/>".repeat(MAX_ELEMENTS));
        assert!(matches!(parse(wide.as_bytes()), Err(TreeError::TooBig(_))));
        let huge = vec![b' '; MAX_INPUT + 1];
        assert!(matches!(parse(&huge), Err(TreeError::TooBig(_))));
        let dtd = b"<!DOCTYPE a [<!ENTITY x \"xx\">]><a>&x;</a>";
        assert!(matches!(parse(dtd), Err(TreeError::Malformed(_))));
        assert!(parse(b"").is_err());
        assert!(parse(b"<a><b></a>").is_err());
    }
}
