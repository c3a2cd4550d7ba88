//! Test helper: validate the Body child of an envelope against the BBF cwmp XSD with
//! `xmllint`. Uses only `std`, so integration tests can reuse it with
//! `#[path = "../src/soap/xsd_check.rs"] mod xsd_check;`.
//!
//! The cwmp XSDs declare every RPC element globally, so the Body's child is validated on its
//! own (validating the whole envelope against soap-envelope.xsd would need `processContents`
//! tricks). The XSDs import the SOAP schemas by URL: they are copied into a temp directory
//! with their `schemaLocation`s pointing at the local copies, and xmllint runs with `--nonet`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Whether an `xmllint` binary can be run.
pub fn xmllint_available() -> bool {
    Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A fresh private directory under the system temp dir.
fn temp_dir(tag: &str) -> Result<PathBuf, String> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "icwmp-xsd-{tag}-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Copies the cwmp and SOAP schemas from `xsd_dir` to a temp dir, with imports made local.
fn local_schemas(xsd_dir: &Path) -> Result<PathBuf, String> {
    let dir = temp_dir("schemas")?;
    for name in [
        "soap-envelope.xsd",
        "soap-encoding.xsd",
        "cwmp-1-0.xsd",
        "cwmp-1-1.xsd",
        "cwmp-1-2.xsd",
        "cwmp-UDPLightweightNotification-1-0.xsd",
    ] {
        let src = xsd_dir.join(name);
        let text = std::fs::read_to_string(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        let text = text
            .replace(
                "schemaLocation=\"http://schemas.xmlsoap.org/soap/envelope/\"",
                "schemaLocation=\"soap-envelope.xsd\"",
            )
            .replace(
                "schemaLocation=\"http://schemas.xmlsoap.org/soap/encoding/\"",
                "schemaLocation=\"soap-encoding.xsd\"",
            );
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(dir)
}

/// Cuts the Body's first child out of `envelope` and copies the Envelope's namespace
/// declarations onto it (prefixes in `xsi:type` values need them too).
///
/// Works on envelopes whose Body child starts right after `<PREFIX:Body>` (our encoder's form).
pub fn extract_body_child(envelope: &str) -> Result<String, String> {
    let env_start = envelope.find(":Envelope").ok_or("no Envelope")?;
    let env_tag_end = env_start + envelope[env_start..].find('>').ok_or("bad Envelope")?;
    let decls: String = envelope[env_start + ":Envelope".len()..env_tag_end]
        .split_whitespace()
        .filter(|a| a.starts_with("xmlns"))
        .map(|a| format!(" {}", a.trim_end_matches('/')))
        .collect();
    let body_open = envelope.find(":Body>").ok_or("no Body")? + ":Body>".len();
    let body_close = envelope.rfind("</").ok_or("no end")?;
    let body_close = envelope[..body_close].rfind("</").ok_or("no Body end")?;
    let child = envelope[body_open..body_close].trim();
    let name_end = child
        .find(|c: char| c == '>' || c == '/' || c.is_whitespace())
        .ok_or("bad Body child")?;
    Ok(format!(
        "{}{decls}{}",
        &child[..name_end],
        &child[name_end..]
    ))
}

/// Validates the Body child of `xml` (a whole envelope) with xmllint against the cwmp XSD
/// matching the envelope's cwmp namespace (1-0, 1-1 or 1-2), read from `xsd_dir`.
pub fn validate_body_with_xmllint(xml: &[u8], xsd_dir: &Path) -> Result<(), String> {
    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let version = ["1-0", "1-1", "1-2"]
        .into_iter()
        .find(|v| text.contains(&format!("urn:dslforum-org:cwmp-{v}\"")))
        .ok_or("no cwmp-1-0/1-1/1-2 namespace in the envelope")?;
    let schemas = local_schemas(xsd_dir)?;
    let doc = schemas.join("body.xml");
    std::fs::write(&doc, extract_body_child(text)?).map_err(|e| e.to_string())?;
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(schemas.join(format!("cwmp-{version}.xsd")))
        .arg(&doc)
        .output()
        .map_err(|e| format!("cannot run xmllint: {e}"))?;
    let result = if out.status.success() {
        Ok(())
    } else {
        let body = std::fs::read_to_string(&doc).unwrap_or_default();
        Err(format!(
            "{}\n--- body ---\n{body}",
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    // Best effort: a leftover temp dir is harmless.
    let _ = std::fs::remove_dir_all(&schemas);
    result
}

/// Validates a UDP Lightweight Notification document (TR-069 Annex M) with xmllint against
/// `cwmp-UDPLightweightNotification-1-0.xsd` from `xsd_dir`.
pub fn validate_lwn_with_xmllint(doc: &[u8], xsd_dir: &Path) -> Result<(), String> {
    let schemas = local_schemas(xsd_dir)?;
    let name = "cwmp-UDPLightweightNotification-1-0.xsd";
    let file = schemas.join("lwn.xml");
    std::fs::write(&file, doc).map_err(|e| e.to_string())?;
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(schemas.join(name))
        .arg(&file)
        .output()
        .map_err(|e| format!("cannot run xmllint: {e}"))?;
    let result = if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}\n--- document ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(doc)
        ))
    };
    // Best effort: a leftover temp dir is harmless.
    let _ = std::fs::remove_dir_all(&schemas);
    result
}
