//! UCI files (OpenWrt `/etc/config/*`): parser, ordered document model and writer.
//!
//! Pure: text in, [`Document`] out, text back. Syntax accepted (as libuci reads it):
//! `package <name>`, `config <type> [<name>]`, `option <name> <value>`, `list <name> <value>`;
//! values unquoted, `'single'` (literal) or `"double"` quoted (backslash escapes, as unquoted),
//! adjacent parts concatenated, quoted values may span lines, a backslash before a newline
//! continues the line, `#` starts a comment where a token would start (also right after one),
//! CRLF line ends. The writer emits what `uci commit` writes; comments are not kept.

use super::ConfigError;

/// The value of an option: a single string (`option`) or a list (`list`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `option name 'value'`.
    Single(String),
    /// One or more `list name 'value'` lines.
    List(Vec<String>),
}

impl Value {
    /// The items: a single value is a one-item list.
    pub fn items(&self) -> Vec<&str> {
        match self {
            Value::Single(v) => vec![v.as_str()],
            Value::List(l) => l.iter().map(String::as_str).collect(),
        }
    }

    /// One string: a single value as is, list items joined with `sep`.
    pub fn joined(&self, sep: &str) -> String {
        self.items().join(sep)
    }
}

/// One option of a section, with the line it came from (0 when set through the API).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UciOption {
    /// Option name (`[A-Za-z0-9_]+`).
    pub name: String,
    /// Its value.
    pub value: Value,
    /// 1-based line of its (last) definition; 0 when not read from a file.
    pub line: usize,
}

/// A `config` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Section type (`acs`, `inform_parameter`...).
    pub stype: String,
    /// Section name; for an anonymous section the name uci generates (`cfg01a2b3`).
    pub name: String,
    /// True when the file gives no name (the writer then emits none either).
    pub anonymous: bool,
    /// Options in file order.
    pub options: Vec<UciOption>,
    /// 1-based line of the `config` line; 0 when added through the API.
    pub line: usize,
}

impl Section {
    /// The option called `name`.
    pub fn option(&self, name: &str) -> Option<&UciOption> {
        self.options.iter().find(|o| o.name == name)
    }

    /// The value of option `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.option(name).map(|o| &o.value)
    }
}

/// A parsed UCI file: sections in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Document {
    /// Name given by a `package` line, kept so the writer re-emits it.
    pub package: Option<String>,
    sections: Vec<Section>,
    file: String,
}

/// `[A-Za-z0-9_]+`: what uci accepts for section and option names.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Section types: printable ASCII without spaces (what uci accepts).
fn valid_type(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| (33..=126).contains(&c))
}

fn valid_package(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// libuci's djb hash (kept to 31 bits) used to name anonymous sections.
fn djb(mut h: u32, s: &str) -> u32 {
    for c in s.bytes() {
        h = (h << 5).wrapping_add(h).wrapping_add(u32::from(c));
    }
    h & 0x7fff_ffff
}

/// The name uci gives an anonymous section: `cfg` + position (1-based, 2 hex digits) +
/// 16 bits of a hash of its type (libuci hashes when the section is created, before it
/// has options: the first firewall `defaults` section is `cfg01e63d` everywhere).
fn generated_name(index: usize, stype: &str) -> String {
    format!("cfg{:02x}{:04x}", index, djb(5381, stype) % (1 << 16))
}

/// Quotes a value the way `uci commit` does: `'...'` with `'` written as `'\''`; so that
/// every value reads back byte for byte, a carriage return goes out as a double-quoted part
/// of its own, `'"\r"'` (the parser turns CRLF line ends into LF before reading values, and
/// there no LF can follow the CR).
fn quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '\r' => out.push_str("'\"\r\"'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Byte cursor with a line counter.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips blanks and backslash-newline continuations, not newlines.
    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | 0x0b | 0x0c) => self.pos += 1,
                Some(b'\\') if self.s.get(self.pos + 1) == Some(&b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                _ => return,
            }
        }
    }

    /// Skips to just after the next newline (comment or blank line).
    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\n' {
                self.line += 1;
                return;
            }
        }
    }

    /// True at end of command: end of input, newline or comment.
    fn at_eol(&mut self) -> bool {
        self.skip_ws();
        matches!(self.peek(), None | Some(b'\n' | b'#'))
    }

    /// One backslash escape (the backslash already consumed): the next byte literally,
    /// or nothing for a line continuation.
    fn escape(&mut self, out: &mut Vec<u8>) {
        match self.peek() {
            None => {}
            Some(b'\n') => {
                self.pos += 1;
                self.line += 1;
            }
            Some(c) => {
                out.push(c);
                self.pos += 1;
            }
        }
    }

    /// The next token, `None` at end of command; `Err((line, what))` on a bad token.
    fn token(&mut self) -> Result<Option<String>, (usize, &'static str)> {
        if self.at_eol() {
            return Ok(None);
        }
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b'\'' | b'"' => {
                    let start = self.line;
                    self.pos += 1;
                    loop {
                        let Some(q) = self.peek() else {
                            return Err((start, "unterminated quote"));
                        };
                        self.pos += 1;
                        if q == c {
                            break;
                        } else if q == b'\\' && c == b'"' {
                            self.escape(&mut out);
                        } else {
                            if q == b'\n' {
                                self.line += 1;
                            }
                            out.push(q);
                        }
                    }
                }
                b'\\' => {
                    self.pos += 1;
                    self.escape(&mut out);
                }
                b'#' => break,
                c if c.is_ascii_whitespace() => break,
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out)
            .map(Some)
            .map_err(|_| (self.line, "invalid UTF-8"))
    }
}

impl Document {
    /// An empty document; `file` names it in error messages.
    pub fn new(file: &str) -> Document {
        Document {
            package: None,
            sections: Vec::new(),
            file: file.to_string(),
        }
    }

    /// Parses UCI text; `file` is used in error messages (`file:line: what`).
    pub fn parse(text: &str, file: &str) -> Result<Document, ConfigError> {
        let normalized;
        let text = if text.contains('\r') {
            normalized = text.replace("\r\n", "\n");
            &normalized
        } else {
            text
        };
        let mut doc = Document::new(file);
        let mut lx = Lexer {
            s: text.as_bytes(),
            pos: 0,
            line: 1,
        };
        let err = |line: usize, msg: String| ConfigError::new(file, line, msg);
        // Index of the section `option` lines go to.
        let mut cur: Option<usize> = None;
        loop {
            lx.skip_ws();
            match lx.peek() {
                None => break,
                Some(b'\n' | b'#') => {
                    lx.skip_line();
                    continue;
                }
                Some(_) => {}
            }
            let line = lx.line;
            let kw = lx
                .token()
                .map_err(|(l, m)| err(l, m.to_string()))?
                .unwrap_or_default();
            let ctx = match kw.as_str() {
                "package" => "package line".to_string(),
                "config" => "section header".to_string(),
                "option" | "list" => format!("{kw} line"),
                _ => return Err(err(line, format!("unknown keyword '{kw}'"))),
            };
            let arg = |lx: &mut Lexer, ctx: &str| {
                lx.token().map_err(|(l, m)| err(l, format!("{m} in {ctx}")))
            };
            match kw.as_str() {
                "package" => {
                    let name = arg(&mut lx, &ctx)?
                        .ok_or_else(|| err(line, "missing package name".into()))?;
                    if !valid_package(&name) {
                        return Err(err(line, format!("invalid package name '{name}'")));
                    }
                    doc.package = Some(name);
                }
                "config" => {
                    let stype = arg(&mut lx, &ctx)?
                        .ok_or_else(|| err(line, "missing section type after 'config'".into()))?;
                    if !valid_type(&stype) {
                        return Err(err(line, format!("invalid section type '{stype}'")));
                    }
                    let name = arg(&mut lx, &format!("section '{stype}'"))?.unwrap_or_default();
                    if !name.is_empty() && !valid_name(&name) {
                        return Err(err(line, format!("invalid section name '{name}'")));
                    }
                    if let Some(i) = doc
                        .sections
                        .iter()
                        .position(|s| !name.is_empty() && s.name == name)
                    {
                        // libuci merges a repeated name into the earlier section.
                        if doc.sections[i].stype != stype {
                            return Err(err(
                                line,
                                format!("section '{name}' redefined with another type ('{stype}')"),
                            ));
                        }
                        cur = Some(i);
                    } else {
                        let anonymous = name.is_empty();
                        let name = if anonymous {
                            generated_name(doc.sections.len() + 1, &stype)
                        } else {
                            name
                        };
                        doc.sections.push(Section {
                            stype,
                            anonymous,
                            name,
                            options: Vec::new(),
                            line,
                        });
                        cur = Some(doc.sections.len() - 1);
                    }
                }
                _ => {
                    let Some(i) = cur else {
                        return Err(err(line, format!("'{kw}' before any 'config' section")));
                    };
                    let name = arg(&mut lx, &ctx)?
                        .ok_or_else(|| err(line, format!("missing name after '{kw}'")))?;
                    if !valid_name(&name) {
                        return Err(err(line, format!("invalid {kw} name '{name}'")));
                    }
                    let ctx = format!("{kw} '{name}'");
                    let value = arg(&mut lx, &ctx)?.unwrap_or_default();
                    if !lx.at_eol() {
                        return Err(err(line, format!("extra text after the value of {ctx}")));
                    }
                    let s = &mut doc.sections[i];
                    if kw == "list" {
                        s.push_list(&name, value, line);
                    } else {
                        s.put(&name, Value::Single(value), line);
                    }
                    continue;
                }
            }
            if !lx.at_eol() {
                return Err(err(line, format!("extra text in {ctx}")));
            }
        }
        Ok(doc)
    }

    /// The file name used in messages.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// All sections in order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// Sections of one type, in order.
    pub fn sections_of_type<'a>(&'a self, stype: &'a str) -> impl Iterator<Item = &'a Section> {
        self.sections.iter().filter(move |s| s.stype == stype)
    }

    /// Index of a section given by name (also a generated one) or `@type[N]` (N < 0 counts
    /// from the end).
    fn index(&self, sel: &str) -> Option<usize> {
        if let Some(rest) = sel.strip_prefix('@') {
            let (stype, n) = rest.strip_suffix(']')?.split_once('[')?;
            let n: i64 = n.parse().ok()?;
            let idx: Vec<usize> = (0..self.sections.len())
                .filter(|&i| self.sections[i].stype == stype)
                .collect();
            let k = if n < 0 { idx.len() as i64 + n } else { n };
            return usize::try_from(k).ok().and_then(|k| idx.get(k).copied());
        }
        self.sections.iter().position(|s| s.name == sel)
    }

    /// The section given by name or `@type[N]`.
    pub fn section(&self, sel: &str) -> Option<&Section> {
        self.index(sel).map(|i| &self.sections[i])
    }

    /// The value of `option` in section `sel`.
    pub fn get(&self, sel: &str, option: &str) -> Option<&Value> {
        self.section(sel)?.get(option)
    }

    fn section_mut(&mut self, sel: &str, option: &str) -> Result<&mut Section, ConfigError> {
        if !valid_name(option) {
            return Err(ConfigError::new(
                &self.file,
                0,
                format!("invalid option name '{option}'"),
            ));
        }
        match self.index(sel) {
            Some(i) => Ok(&mut self.sections[i]),
            None => Err(ConfigError::new(
                &self.file,
                0,
                format!("no section '{sel}'"),
            )),
        }
    }

    /// Sets `option` of section `sel` to a single value (replacing a list).
    pub fn set_option(&mut self, sel: &str, option: &str, value: &str) -> Result<(), ConfigError> {
        let s = self.section_mut(sel, option)?;
        s.put(option, Value::Single(value.to_string()), 0);
        Ok(())
    }

    /// Appends one item to list `option` (a single value becomes the list's first item).
    pub fn add_list(&mut self, sel: &str, option: &str, value: &str) -> Result<(), ConfigError> {
        let s = self.section_mut(sel, option)?;
        s.push_list(option, value.to_string(), 0);
        Ok(())
    }

    /// Replaces `option` by a list of `values` (removes it when `values` is empty).
    pub fn set_list<S: AsRef<str>>(
        &mut self,
        sel: &str,
        option: &str,
        values: &[S],
    ) -> Result<(), ConfigError> {
        let s = self.section_mut(sel, option)?;
        if values.is_empty() {
            s.options.retain(|o| o.name != option);
        } else {
            let l = values.iter().map(|v| v.as_ref().to_string()).collect();
            s.put(option, Value::List(l), 0);
        }
        Ok(())
    }

    /// Removes every item equal to `value` from list `option`; true if one was removed.
    pub fn del_list(&mut self, sel: &str, option: &str, value: &str) -> Result<bool, ConfigError> {
        let s = self.section_mut(sel, option)?;
        let Some(pos) = s.options.iter().position(|o| o.name == option) else {
            return Ok(false);
        };
        let removed = match &mut s.options[pos].value {
            Value::List(l) => {
                let n = l.len();
                l.retain(|v| v != value);
                n != l.len()
            }
            Value::Single(v) => v == value,
        };
        let empty = match &s.options[pos].value {
            Value::List(l) => l.is_empty(),
            Value::Single(_) => removed,
        };
        if empty {
            s.options.remove(pos);
        }
        Ok(removed)
    }

    /// Removes `option` from section `sel`; true if it was there.
    pub fn delete_option(&mut self, sel: &str, option: &str) -> Result<bool, ConfigError> {
        let s = self.section_mut(sel, option)?;
        let n = s.options.len();
        s.options.retain(|o| o.name != option);
        Ok(n != s.options.len())
    }

    /// Adds a section at the end and returns its name. A named section that already exists
    /// with the same type is kept as is (uci semantics); with another type it is an error.
    pub fn add_section(&mut self, stype: &str, name: Option<&str>) -> Result<String, ConfigError> {
        let e = |m: String| ConfigError::new(&self.file, 0, m);
        if !valid_type(stype) {
            return Err(e(format!("invalid section type '{stype}'")));
        }
        if let Some(name) = name {
            if !valid_name(name) {
                return Err(e(format!("invalid section name '{name}'")));
            }
            if let Some(s) = self.sections.iter().find(|s| s.name == name) {
                if s.stype != stype {
                    return Err(e(format!(
                        "section '{name}' exists with type '{}'",
                        s.stype
                    )));
                }
                return Ok(name.to_string());
            }
        }
        let mut s = Section {
            stype: stype.to_string(),
            name: name.unwrap_or_default().to_string(),
            anonymous: name.is_none(),
            options: Vec::new(),
            line: 0,
        };
        if s.anonymous {
            // Generated names must stay unique even after deletions reuse a position.
            let mut i = self.sections.len() + 1;
            loop {
                let n = generated_name(i, stype);
                if !self.sections.iter().any(|x| x.name == n) {
                    s.name = n;
                    break;
                }
                i += 1;
            }
        }
        let name = s.name.clone();
        self.sections.push(s);
        Ok(name)
    }

    /// Removes section `sel`; true if it existed.
    pub fn delete_section(&mut self, sel: &str) -> bool {
        match self.index(sel) {
            Some(i) => {
                self.sections.remove(i);
                true
            }
            None => false,
        }
    }

    /// The document as `uci commit` writes it (every value single-quoted).
    pub fn serialize(&self) -> String {
        let mut out = String::new();
        if let Some(p) = &self.package {
            out.push_str("package ");
            out.push_str(p);
            out.push('\n');
        }
        for s in &self.sections {
            out.push_str("\nconfig ");
            if s.stype
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                out.push_str(&s.stype);
            } else {
                out.push_str(&quote(&s.stype));
            }
            if !s.anonymous {
                out.push(' ');
                out.push_str(&quote(&s.name));
            }
            out.push('\n');
            for o in &s.options {
                let kw = match o.value {
                    Value::Single(_) => "option",
                    Value::List(_) => "list",
                };
                for v in o.value.items() {
                    out.push_str(&format!("\t{kw} {} {}\n", o.name, quote(v)));
                }
            }
        }
        out.push('\n');
        out
    }
}

impl Section {
    /// Sets an option, replacing any previous value in place (keeps option order).
    fn put(&mut self, name: &str, value: Value, line: usize) {
        match self.options.iter_mut().find(|o| o.name == name) {
            Some(o) => {
                o.value = value;
                o.line = line;
            }
            None => self.options.push(UciOption {
                name: name.to_string(),
                value,
                line,
            }),
        }
    }

    /// Appends a list item; an existing single value becomes the first item (libuci).
    fn push_list(&mut self, name: &str, item: String, line: usize) {
        match self.options.iter_mut().find(|o| o.name == name) {
            Some(o) => {
                match &mut o.value {
                    Value::List(l) => l.push(item),
                    Value::Single(v) => o.value = Value::List(vec![std::mem::take(v), item]),
                }
                o.line = line;
            }
            None => self.options.push(UciOption {
                name: name.to_string(),
                value: Value::List(vec![item]),
                line,
            }),
        }
    }
}

#[cfg(test)]
#[path = "uci_tests.rs"]
mod tests;
