//! What the STUN client learnt, as the UCI state the C-era data-model plugins read: bbfdm's
//! managementserver plugin takes UDPConnectionRequestAddress from `stunc.stunc.crudp_address`
//! and NATDetected from `stunc.stunc.nat_detected` (older ones: `cwmp_stun.stun.*`), through
//! `uci -P /var/state`.
//!
//! A UCI state file (`/var/state/<config>`) holds deltas over `/etc/config/<config>`, one a
//! line, as `uci -P` writes them: `cfg.sect.opt='value'` sets, `-cfg.sect.opt` deletes,
//! `cfg.sect=type` adds a section. Our two options are replaced in place of older lines about
//! them; every other line is kept. Written atomically (write, fsync, rename).

use super::status::StunStatus;
use crate::config::stun_legacy::Legacy;
use crate::config::Document;
use std::io;
use std::path::{Path, PathBuf};

/// The option holding UDPConnectionRequestAddress (`a.b.c.d:port`).
pub const ADDRESS: &str = "crudp_address";
/// The option holding NATDetected: `1` when a NAT is detected, absent otherwise (what the C
/// client's `uci set ...=''` left: the option deleted).
pub const NAT: &str = "nat_detected";

/// The state file of `legacy` under `state_dir`.
pub fn path(state_dir: &Path, legacy: Legacy) -> PathBuf {
    state_dir.join(legacy.config())
}

/// The key of a delta line (`cfg.sect.opt` of `-cfg.sect.opt`, `cfg.sect.opt='v'`...).
fn key(line: &str) -> &str {
    let l = line.trim_start_matches(['-', '+', '@', '^', '|', '~']);
    l.split('=').next().unwrap_or(l).trim()
}

/// A value quoted as uci writes it (`'` inside becomes `'\''`).
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// The state text `old` with our options replaced by `status` (removed when `None`).
/// `add_section`: the config file has no section of that name, so the delta must create it
/// (else `uci` ignores the options).
pub fn update(old: &str, legacy: Legacy, status: Option<&StunStatus>, add_section: bool) -> String {
    let (cfg, sect) = (legacy.config(), legacy.section());
    let ours = [
        format!("{cfg}.{sect}.{ADDRESS}"),
        format!("{cfg}.{sect}.{NAT}"),
    ];
    let section_line = format!("{cfg}.{sect}={sect}");
    let mut out = String::with_capacity(old.len() + 64);
    let mut has_section = false;
    for line in old.lines() {
        if ours.iter().any(|k| k == key(line)) {
            continue;
        }
        has_section |= line.trim() == section_line;
        out.push_str(line);
        out.push('\n');
    }
    let Some(st) = status.filter(|s| !s.address.is_empty()) else {
        return out;
    };
    if add_section && !has_section {
        out.push_str(&section_line);
        out.push('\n');
    }
    out.push_str(&format!("{}={}\n", ours[0], quote(&st.address)));
    if st.nat_detected {
        out.push_str(&format!("{}='1'\n", ours[1]));
    }
    out
}

/// Publishes `status` (`None`: withdraws it) in the UCI state of `legacy` under `state_dir`,
/// `config_path` being the `cwmp` file next to the legacy one.
///
/// # Errors
/// The state file cannot be read or written.
pub fn write(
    state_dir: &Path,
    config_path: &Path,
    legacy: Legacy,
    status: Option<&StunStatus>,
) -> io::Result<()> {
    let file = path(state_dir, legacy);
    let old = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let named = std::fs::read_to_string(legacy.path(config_path))
        .ok()
        .and_then(|t| Document::parse(&t, legacy.config()).ok())
        .is_some_and(|d| d.section(legacy.section()).is_some());
    let new = update(&old, legacy, status, !named);
    if new == old {
        return Ok(());
    }
    if new.is_empty() {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    crate::store::write_atomic(&file, new.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(address: &str, nat: bool) -> StunStatus {
        StunStatus {
            address: address.into(),
            nat_detected: nat,
        }
    }

    #[test]
    fn replaces_our_lines_and_keeps_the_others() {
        let old = "stunc.stunc.crudp_address='1.1.1.1:1'\nnetwork.wan.up='1'\n\
                   -stunc.stunc.nat_detected\nstunc.stunc.other='x'\n";
        let new = update(
            old,
            Legacy::Stunc,
            Some(&st("198.51.100.7:4000", true)),
            false,
        );
        assert_eq!(
            new,
            "network.wan.up='1'\nstunc.stunc.other='x'\n\
             stunc.stunc.crudp_address='198.51.100.7:4000'\nstunc.stunc.nat_detected='1'\n"
        );
        // No NAT: the option is absent, as the C client's `uci set ...=''` left it.
        let new = update(
            &new,
            Legacy::Stunc,
            Some(&st("[2001:db8::1]:7547", false)),
            false,
        );
        assert_eq!(
            new,
            "network.wan.up='1'\nstunc.stunc.other='x'\n\
             stunc.stunc.crudp_address='[2001:db8::1]:7547'\n"
        );
        // Withdrawn: only the others are left.
        assert_eq!(
            update(&new, Legacy::Stunc, None, false),
            "network.wan.up='1'\nstunc.stunc.other='x'\n"
        );
        // An unknown address is withdrawn too.
        assert_eq!(
            update(&new, Legacy::Stunc, Some(&st("", true)), false)
                .lines()
                .count(),
            2
        );
    }

    #[test]
    fn icwmp_stund_names_section_creation_and_quoting() {
        let new = update("", Legacy::CwmpStun, Some(&st("a'b", false)), true);
        assert_eq!(
            new,
            "cwmp_stun.stun=stun\ncwmp_stun.stun.crudp_address='a'\\''b'\n"
        );
        // The section line is not repeated, nor dropped on withdrawal (not ours alone).
        let again = update(&new, Legacy::CwmpStun, Some(&st("1.2.3.4:5", false)), true);
        assert_eq!(again.matches("cwmp_stun.stun=stun").count(), 1);
        // Another config's lines of the same option name are not ours.
        let other = "stunc.stunc.crudp_address='9.9.9.9:9'\n";
        assert_eq!(update(other, Legacy::CwmpStun, None, false), other);
    }

    #[test]
    fn writes_atomically_and_removes_an_emptied_file() {
        let dir = std::env::temp_dir().join(format!("icwmp-varstate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (conf, state) = (dir.join("config"), dir.join("state"));
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("stunc"), "config stunc 'stunc'\n").unwrap();
        let cwmp = conf.join("cwmp");
        write(&state, &cwmp, Legacy::Stunc, Some(&st("1.2.3.4:5", true))).unwrap();
        let file = path(&state, Legacy::Stunc);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "stunc.stunc.crudp_address='1.2.3.4:5'\nstunc.stunc.nat_detected='1'\n"
        );
        write(&state, &cwmp, Legacy::Stunc, None).unwrap();
        assert!(!file.exists(), "nothing left: no file");
        std::fs::write(&file, "stunc.stunc.enabled='0'\n").unwrap();
        write(&state, &cwmp, Legacy::Stunc, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "stunc.stunc.enabled='0'\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
