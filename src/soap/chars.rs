//! Character-level XML for the reader: the input's encoding to UTF-8, name and character
//! checks, and character data to text (entity and character references, CDATA sections, line
//! ends and attribute-value white space: XML 1.0 sections 2.11, 3.3.3, 4.6). Unescaping runs
//! only when the decoder asks for a text, on data the reader has checked.

use std::borrow::Cow;

/// The input as UTF-8 text.
///
/// The XML declaration is dropped from a transcoded document: it names the old encoding.
pub(super) fn to_utf8(input: &[u8]) -> Result<Cow<'_, str>, String> {
    let utf16 = |be: bool| {
        if input.len() % 2 != 0 {
            return Err("odd length of UTF-16 input".to_string());
        }
        let units = input[2..].chunks_exact(2).map(|c| {
            let pair = [c[0], c[1]];
            if be {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map(Cow::Owned)
            .map_err(|e| format!("bad UTF-16: {e}"))
    };
    if input.starts_with(&[0xFF, 0xFE]) {
        return utf16(false);
    }
    if input.starts_with(&[0xFE, 0xFF]) {
        return utf16(true);
    }
    let bom = if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let start = bom
        + input[bom..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    let decl_end = if input[start..].starts_with(b"<?xml") {
        find(input, start, b"?>").map(|p| p + 2)
    } else {
        None
    };
    let declared_latin1 = decl_end.is_some_and(|end| {
        let decl = String::from_utf8_lossy(&input[start..end]).to_ascii_lowercase();
        ["iso-8859-1", "iso_8859-1", "latin1", "latin-1", "iso8859-1"]
            .iter()
            .any(|e| decl.contains(e))
    });
    if !declared_latin1 {
        if let Ok(s) = std::str::from_utf8(&input[bom..]) {
            return Ok(Cow::Borrowed(s));
        }
    }
    // Latin-1 maps each byte to the code point of the same value.
    Ok(Cow::Owned(
        input[decl_end.unwrap_or(0)..]
            .iter()
            .map(|&b| b as char)
            .collect(),
    ))
}

/// Position of `pat` in `s` at or after `from`.
pub(super) fn find(s: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    let first = *pat.first()?;
    let mut i = from;
    while i + pat.len() <= s.len() {
        let p = i + s[i..].iter().position(|&b| b == first)?;
        if s[p..].starts_with(pat) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

/// A name must be non-empty, not start like a number, and have at most one `:` between
/// non-empty parts.
pub(super) fn check_name(n: &[u8]) -> Result<(), String> {
    let colons = n.iter().filter(|&&b| b == b':').count();
    let ok = match n.first() {
        None => false,
        Some(b) if b.is_ascii_digit() || matches!(b, b'-' | b'.' | b':') => false,
        _ => colons == 0 || (colons == 1 && n.last() != Some(&b':')),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("bad name '{}'", String::from_utf8_lossy(n)))
    }
}

/// Character data must hold only XML characters and known entity references (none in CDATA).
pub(super) fn check_chars(b: &[u8], cdata: bool) -> Result<(), String> {
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'&' if !cdata => {
                let semi = b[i..]
                    .iter()
                    .take(12)
                    .position(|&c| c == b';')
                    .ok_or("unterminated entity reference")?;
                if entity(&b[i + 1..i + semi]).is_none() {
                    return Err(format!(
                        "unknown entity &{};",
                        String::from_utf8_lossy(&b[i + 1..i + semi])
                    ));
                }
                i += semi;
            }
            c if c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r') => {
                return Err("control character in text".into())
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The character an entity reference (between `&` and `;`) stands for.
fn entity(name: &[u8]) -> Option<char> {
    Some(match name {
        b"lt" => '<',
        b"gt" => '>',
        b"amp" => '&',
        b"quot" => '"',
        b"apos" => '\'',
        [b'#', b'x', hex @ ..] => char_ref(hex, 16)?,
        [b'#', dec @ ..] => char_ref(dec, 10)?,
        _ => return None,
    })
}

fn char_ref(digits: &[u8], radix: u32) -> Option<char> {
    let n = u32::from_str_radix(std::str::from_utf8(digits).ok()?, radix).ok()?;
    char::from_u32(n).filter(|&c| c != '\0' && (c >= ' ' || matches!(c, '\t' | '\n' | '\r')))
}

/// Resolves entity references in a checked stretch of text, starting at `&`; returns the
/// character and the length of the reference.
fn take_entity(s: &str) -> (char, usize) {
    let semi = s.find(';').unwrap_or(0);
    let c = entity(s.as_bytes().get(1..semi).unwrap_or(b"")).unwrap_or('\u{FFFD}');
    (c, semi + 1)
}

/// Raw element content to text: entities resolved, CDATA unwrapped, comments and processing
/// instructions dropped, line ends normalised to `\n` (XML 2.11).
pub(super) fn unescape_text(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| matches!(b, b'&' | b'<' | b'\r')) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(p) = rest.find(['&', '<', '\r']) {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let skip = if rest.starts_with('&') {
            let (c, n) = take_entity(rest);
            out.push(c);
            n
        } else if rest.starts_with('\r') {
            out.push('\n');
            if rest.starts_with("\r\n") {
                2
            } else {
                1
            }
        } else if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let e = body.find("]]>").unwrap_or(body.len());
            out.push_str(&body[..e].replace("\r\n", "\n").replace('\r', "\n"));
            9 + e + 3
        } else if rest.starts_with("<!--") {
            rest.find("-->").map_or(rest.len(), |e| e + 3)
        } else {
            rest.find("?>").map_or(rest.len(), |e| e + 2)
        };
        rest = rest.get(skip..).unwrap_or("");
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Raw attribute value to text: entities resolved, each white-space character (a `\r\n` pair
/// counting as one) made a space (XML 3.3.3).
pub(super) fn unescape_attr(raw: &str) -> Cow<'_, str> {
    if !raw
        .bytes()
        .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
    {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(p) = rest.find(['&', '\t', '\n', '\r']) {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let skip = if rest.starts_with('&') {
            let (c, n) = take_entity(rest);
            out.push(c);
            n
        } else {
            out.push(' ');
            if rest.starts_with("\r\n") {
                2
            } else {
                1
            }
        };
        rest = rest.get(skip..).unwrap_or("");
    }
    out.push_str(rest);
    Cow::Owned(out)
}
