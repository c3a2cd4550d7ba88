//! The C-era STUN UCI, next to `cwmp` in the same directory, mapped both ways onto the
//! `cpe.stun_*` options (Device.ManagementServer.STUN*).
//!
//! On routers of the C world STUN lived in a package of its own: the newer iopsys `stunc`
//! (`/etc/config/stunc`, section `stunc`, with an `enabled` option) or the older `icwmp_stund`
//! (`/etc/config/cwmp_stun`, section `stun`, enabled by its init script: no UCI option).
//! LuCI and other tools edit those files, and the bbfdm plugins read the client's results from
//! their UCI state (see `crate::stun::varstate`).
//!
//! Precedence: when such a file exists it is the source of truth for the options it holds
//! (what LuCI or `uci` wrote there must take effect); the `cpe.stun_*` options of `cwmp` fill
//! what it leaves unset or empty. `stunc` wins over `cwmp_stun` when both exist. Writes of a
//! STUN parameter (SPV, `icwmpd -c set`) go to both files, so they agree.

use super::uci::Document;
use super::write::find_section;
use super::ConfigError;
use std::path::{Path, PathBuf};

/// Which C-era STUN config is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legacy {
    /// The iopsys `stunc` package: `/etc/config/stunc`, section `stunc`.
    Stunc,
    /// The older `icwmp_stund`: `/etc/config/cwmp_stun`, section `stun`.
    CwmpStun,
}

/// `(cwmp option, stunc option)`. Only `enabled` is verified for stunc (bbfdm's
/// managementserver plugin reads it); the other names follow icwmp_stund, whose source the
/// stunc package descends from.
const STUNC: [(&str, &str); 8] = [
    ("stun_enable", "enabled"),
    ("stun_server_address", "server_address"),
    ("stun_server_port", "server_port"),
    ("stun_username", "username"),
    ("stun_password", "password"),
    ("stun_min_keepalive", "min_keepalive"),
    ("stun_max_keepalive", "max_keepalive"),
    ("stun_client_port", "client_port"),
];

/// The `cpe.stun_*` values of the shipped `/etc/config/cwmp` (the defaults).
const SHIPPED: [(&str, &str); 5] = [
    ("stun_enable", "0"),
    ("stun_server_port", "3478"),
    ("stun_min_keepalive", "0"),
    ("stun_max_keepalive", "-1"),
    ("stun_client_port", "0"),
];

impl Legacy {
    /// Both kinds, the preferred one first.
    pub const ALL: [Legacy; 2] = [Legacy::Stunc, Legacy::CwmpStun];

    /// The UCI config name (file name under the config directory).
    pub fn config(self) -> &'static str {
        match self {
            Legacy::Stunc => "stunc",
            Legacy::CwmpStun => "cwmp_stun",
        }
    }

    /// The section the options live in (by name; else the last of that type).
    pub fn section(self) -> &'static str {
        match self {
            Legacy::Stunc => "stunc",
            Legacy::CwmpStun => "stun",
        }
    }

    /// The file of this config next to the `cwmp` file at `config_path`.
    pub fn path(self, config_path: &Path) -> PathBuf {
        config_path.with_file_name(self.config())
    }

    /// The option of this config that holds `cwmp_option` of section `cpe`, if any
    /// (icwmp_stund has no enable option: its init script's state is not UCI).
    pub fn option_for(self, cwmp_option: &str) -> Option<&'static str> {
        STUNC
            .iter()
            .find(|(c, _)| *c == cwmp_option)
            .map(|(_, l)| *l)
            .filter(|l| self == Legacy::Stunc || *l != "enabled")
    }

    /// The legacy config present next to `config_path`, preferred one first.
    pub fn find(config_path: &Path) -> Option<Legacy> {
        Legacy::ALL
            .into_iter()
            .find(|l| l.path(config_path).is_file())
    }
}

/// The files a change of which changes the STUN settings, besides `cwmp` itself.
pub fn files(config_path: &Path) -> Vec<PathBuf> {
    Legacy::ALL.iter().map(|l| l.path(config_path)).collect()
}

/// The legacy config in use and its parsed file; `Err` (a message for the log) when it
/// exists but cannot be read or parsed.
pub fn load(config_path: &Path) -> Option<(Legacy, Result<Document, String>)> {
    let legacy = Legacy::find(config_path)?;
    let path = legacy.path(config_path);
    let name = path.display().to_string();
    let doc = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {name}: {e}"))
        .and_then(|t| Document::parse(&t, &name).map_err(|e| e.to_string()));
    Some((legacy, doc))
}

/// The value the legacy document gives for `cwmp_option` of section `cpe` (set and not
/// empty), which wins over `cwmp`'s.
pub fn value(legacy: Legacy, doc: &Document, cwmp_option: &str) -> Option<String> {
    let opt = legacy.option_for(cwmp_option)?;
    let sel = find_section(doc, legacy.section())?;
    let v = doc.get(&sel, opt)?.joined(",");
    (!v.is_empty()).then_some(v)
}

/// Puts the legacy file's STUN options into the `cpe` section of the `cwmp` document, over
/// what it holds there. Returns warnings: a `cwmp` value overridden by a different one.
pub fn overlay(cwmp: &mut Document, legacy: Legacy, doc: &Document) -> Vec<String> {
    let mut warnings = Vec::new();
    let found: Vec<(&str, String)> = STUNC
        .iter()
        .filter_map(|(c, _)| value(legacy, doc, c).map(|v| (*c, v)))
        .collect();
    if found.is_empty() {
        return warnings;
    }
    let cpe = match cwmp.sections_of_type("cpe").last() {
        Some(s) => s.name.clone(),
        None => match cwmp.add_section("cpe", Some("cpe")) {
            Ok(s) => s,
            Err(_) => return warnings,
        },
    };
    for (opt, v) in found {
        let old = cwmp.get(&cpe, opt).map(|o| o.joined(","));
        // The package's `cwmp` sets every option to its default: only a value someone chose
        // is worth a warning.
        let chosen = |o: &String| !o.is_empty() && *o != v && !SHIPPED.contains(&(opt, o));
        if let Some(old) = old.filter(chosen) {
            let shown = if opt == "stun_password" { "***" } else { &v };
            let was = if opt == "stun_password" { "***" } else { &old };
            warnings.push(format!(
                "{}: {}.{} '{shown}' overrides cwmp cpe.{opt} '{was}'",
                legacy.config(),
                legacy.section(),
                legacy.option_for(opt).unwrap_or(opt)
            ));
        }
        // `opt` is a valid option name and the section exists: cannot fail.
        let _ = cwmp.set_option(&cpe, opt, &v);
    }
    warnings
}

/// Mirrors the `cpe.stun_*` ones among `changes` (`(section, option, value)` as given to
/// [`super::set_options`]) into the legacy file next to `config_path`, if one exists.
///
/// # Errors
/// The legacy file cannot be read, parsed or written.
pub fn mirror<S: AsRef<str>>(config_path: &Path, changes: &[(S, S, S)]) -> Result<(), ConfigError> {
    let Some(legacy) = Legacy::find(config_path) else {
        return Ok(());
    };
    let mapped: Vec<(&str, &str, &str)> = changes
        .iter()
        .filter(|(s, _, _)| s.as_ref() == "cpe")
        .filter_map(|(_, o, v)| {
            let opt = legacy.option_for(o.as_ref())?;
            Some((legacy.section(), opt, v.as_ref()))
        })
        .collect();
    if mapped.is_empty() {
        return Ok(());
    }
    super::set_options(&legacy.path(config_path), &mapped)
}

#[cfg(test)]
#[path = "stun_legacy_tests.rs"]
mod tests;
