//! A tiny DOM over xml-rs so tests can look into the CPE's SOAP messages by local name.

use xml::reader::{ParserConfig, XmlEvent};

/// One element: local name, namespace URI, attributes (local name, value), children, text.
#[derive(Clone, Debug, Default)]
pub struct Element {
    /// Local name (`Inform`, `ParameterValueStruct`...).
    pub name: String,
    /// Namespace URI, empty when unqualified.
    pub ns: String,
    /// Attributes by local name.
    pub attrs: Vec<(String, String)>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// Concatenated character data directly inside this element.
    pub text: String,
}

impl Element {
    /// First child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// Text of the first child with this local name ("" when absent).
    pub fn child_text(&self, name: &str) -> String {
        self.child(name)
            .map(|c| c.text.trim().to_string())
            .unwrap_or_default()
    }

    /// Every descendant (depth first, self excluded) with this local name.
    pub fn find_all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.find_all(name, out);
        }
    }

    /// Every descendant with this local name, as a new vector.
    pub fn all(&self, name: &str) -> Vec<&Element> {
        let mut v = Vec::new();
        self.find_all(name, &mut v);
        v
    }

    /// First descendant with this local name.
    pub fn first(&self, name: &str) -> Option<&Element> {
        self.all(name).into_iter().next()
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a whole document into its root element.
pub fn parse(text: &str) -> Result<Element, String> {
    let reader = ParserConfig::new()
        .trim_whitespace(false)
        .create_reader(text.as_bytes());
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    for ev in reader {
        match ev.map_err(|e| e.to_string())? {
            XmlEvent::StartElement {
                name, attributes, ..
            } => stack.push(Element {
                name: name.local_name,
                ns: name.namespace.unwrap_or_default(),
                attrs: attributes
                    .into_iter()
                    .map(|a| (a.name.local_name, a.value))
                    .collect(),
                ..Element::default()
            }),
            XmlEvent::EndElement { .. } => {
                let done = stack.pop().ok_or("unbalanced document")?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => root = Some(done),
                }
            }
            XmlEvent::Characters(t) | XmlEvent::CData(t) | XmlEvent::Whitespace(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t);
                }
            }
            _ => {}
        }
    }
    root.ok_or_else(|| "no root element".to_string())
}

/// The single child of the SOAP Body of an envelope.
pub fn body_child(envelope: &Element) -> Option<&Element> {
    envelope.child("Body").and_then(|b| b.children.first())
}
