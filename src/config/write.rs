//! Writing options into the UCI file (SetParameterValues of a ManagementServer parameter,
//! `icwmpd -c set`, the daemon's own user ids): atomically, keeping everything else.

use super::uci::Document;
use super::ConfigError;
use std::path::Path;

/// Index of the section `section` names: by name, else the last one of that type (the one
/// the typed config uses).
pub(super) fn find_section(doc: &Document, section: &str) -> Option<String> {
    if let Some(s) = doc.section(section) {
        return Some(s.name.clone());
    }
    doc.sections_of_type(section).last().map(|s| s.name.clone())
}

/// Writes options into the config file atomically, keeping everything else.
///
/// Each change is `(section, option, value)`; the section is found by name, else by type
/// (the last of that type), else created as `config <section> '<section>'`. A missing
/// file is treated as empty (it is created). Comments in the file are not preserved.
pub fn set_options<S: AsRef<str>>(path: &Path, changes: &[(S, S, S)]) -> Result<(), ConfigError> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(ConfigError::new(
                &name,
                0,
                format!("cannot read {name}: {e}"),
            ))
        }
    };
    let mut doc = Document::parse(&text, &name)?;
    let before = doc.serialize();
    apply_changes(&mut doc, changes)?;
    let after = doc.serialize();
    if after == before && !text.is_empty() {
        // Nothing changed (an ACS writing back what it read): no rewrite, so nothing that
        // watches the file sees a change.
        return Ok(());
    }
    crate::store::write_atomic(path, after.as_bytes())
        .map_err(|e| ConfigError::new(&name, 0, format!("cannot write {name}: {e}")))
}

/// Applies `(section, option, value)` changes to a document (see [`set_options`]).
pub fn apply_changes<S: AsRef<str>>(
    doc: &mut Document,
    changes: &[(S, S, S)],
) -> Result<(), ConfigError> {
    for (section, option, value) in changes {
        let (section, option) = (section.as_ref(), option.as_ref());
        let sel = match find_section(doc, section) {
            Some(s) => s,
            None => doc.add_section(section, Some(section))?,
        };
        doc.set_option(&sel, option, value.as_ref())?;
    }
    Ok(())
}
