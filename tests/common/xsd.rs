//! Validates the CPE's SOAP messages against the BBF CWMP schema with `xmllint`.
//!
//! The Body's child is cut out into a standalone document (keeping every namespace declaration
//! in scope, since `xsi:type="xsd:string"` values need the `xsd` prefix) and checked against
//! `cwmp-1-N.xsd` of its namespace. The schemas are copied to a temp dir with their SOAP
//! imports pointed at the local copies, so no network is needed.

use super::acs::Msg;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use xml::reader::{ParserConfig, XmlEvent};
use xml::writer::EmitterConfig;

/// The schema dir, or None (with a note printed once) when xmllint or ../shared is missing.
fn schema_dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let Some(shared) = super::shared_dir() else {
            eprintln!("note: ../shared missing; skipping XSD validation");
            return None;
        };
        if Command::new("xmllint").arg("--version").output().is_err() {
            eprintln!(
                "note: xmllint missing (apt-get install libxml2-utils); skipping XSD validation"
            );
            return None;
        }
        let dir = super::temp_dir("xsd");
        for name in [
            "cwmp-1-0.xsd",
            "cwmp-1-1.xsd",
            "cwmp-1-2.xsd",
            "soap-envelope.xsd",
            "soap-encoding.xsd",
        ] {
            let text = std::fs::read_to_string(shared.join("spec/xsd").join(name)).ok()?;
            let text = text
                .replace(
                    "schemaLocation=\"http://schemas.xmlsoap.org/soap/envelope/\"",
                    "schemaLocation=\"soap-envelope.xsd\"",
                )
                .replace(
                    "schemaLocation=\"http://schemas.xmlsoap.org/soap/encoding/\"",
                    "schemaLocation=\"soap-encoding.xsd\"",
                );
            std::fs::write(dir.join(name), text).ok()?;
        }
        Some(dir)
    })
    .as_ref()
}

/// The Body's child of `envelope` as a standalone document, and its cwmp namespace version
/// (0, 1 or 2; 2 for a SOAP Fault in an unknown namespace).
pub fn extract_body_child(envelope: &str) -> Result<(String, u8), String> {
    let reader = ParserConfig::new().create_reader(envelope.as_bytes());
    let mut out = Vec::new();
    let mut writer = EmitterConfig::new()
        .write_document_declaration(true)
        .create_writer(&mut out);
    let mut path: Vec<String> = Vec::new();
    let mut depth_in = 0usize; // >0 while copying the Body's child
    let mut version = None;
    for ev in reader {
        let ev = ev.map_err(|e| format!("not XML: {e}"))?;
        match &ev {
            XmlEvent::StartElement {
                name, namespace, ..
            } => {
                if depth_in == 0 && path.last().map(String::as_str) == Some("Body") {
                    depth_in = 1;
                    // Take the cwmp namespace in scope, whatever prefix it uses.
                    version = namespace
                        .0
                        .values()
                        .find_map(|u| u.strip_prefix("urn:dslforum-org:cwmp-1-"))
                        .and_then(|v| v.parse::<u8>().ok())
                        .map(|v| v.min(2));
                } else if depth_in > 0 {
                    depth_in += 1;
                }
                path.push(name.local_name.clone());
            }
            XmlEvent::EndElement { .. } => {
                path.pop();
            }
            _ => {}
        }
        if depth_in > 0 {
            if let Some(w) = ev.as_writer_event() {
                writer
                    .write(w)
                    .map_err(|e| format!("cannot re-emit: {e}"))?;
            }
            if matches!(ev, XmlEvent::EndElement { .. }) {
                depth_in -= 1;
                if depth_in == 0 {
                    break;
                }
            }
        }
    }
    drop(writer);
    if out.is_empty() {
        return Err("no Body child".into());
    }
    let text = String::from_utf8(out).map_err(|e| e.to_string())?;
    Ok((text, version.unwrap_or(2)))
}

/// Validates one document against `cwmp-1-<version>.xsd`; Err carries xmllint's complaint.
pub fn validate_doc(doc: &str, version: u8) -> Result<(), String> {
    let Some(dir) = schema_dir() else {
        return Ok(());
    };
    let file = super::temp_dir("xsd-doc").join("msg.xml");
    std::fs::write(&file, doc).map_err(|e| e.to_string())?;
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(dir.join(format!("cwmp-1-{version}.xsd")))
        .arg(&file)
        .output()
        .map_err(|e| format!("xmllint: {e}"))?;
    let _ = std::fs::remove_dir_all(file.parent().unwrap_or(&file));
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Whether validation can run here.
pub fn available() -> bool {
    schema_dir().is_some()
}

/// Validates every non-empty message; returns the failures (summary, xmllint output, body).
pub fn validate_all(msgs: &[Msg]) -> Vec<String> {
    let mut failures = Vec::new();
    if !available() {
        return failures;
    }
    for m in msgs.iter().filter(|m| !m.is_empty()) {
        let r = extract_body_child(&m.body).and_then(|(doc, v)| validate_doc(&doc, v));
        if let Err(e) = r {
            failures.push(format!("{}: {e}\n{}", m.summary(), m.body));
        }
    }
    failures
}
