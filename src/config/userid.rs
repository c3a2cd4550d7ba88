//! First start: empty ACS and Connection Request user names (`acs.userid`, `cpe.userid`)
//! become `<OUI>-<serial>`, the default the C icwmp's package sets. Done by the daemon itself
//! rather than a boot script: asking the data model from a uci-defaults script blocked boot
//! (bbfdmd starts later), and on plain OpenWrt the data model's defaults are the same on every
//! device. The identifiers are real ones: the `cpe` overrides when set, else a network
//! interface's factory MAC address (its first three bytes are the maker's OUI), else
//! /etc/machine-id.

use super::{set_options, Config, ConfigError};
use std::path::Path;

/// Interfaces whose MAC is preferred, in order (OpenWrt's LAN bridge, the first Ethernet).
const PREFERRED: [&str; 3] = ["br-lan", "eth0", "lan"];

/// MAC addresses of the interfaces under `net_dir` (/sys/class/net), preferred ones first,
/// then by name. Loopback, all-zero, multicast and locally administered (random) ones are
/// left out.
pub fn interface_macs(net_dir: &Path) -> Vec<(String, [u8; 6])> {
    let mut out: Vec<(String, [u8; 6])> = std::fs::read_dir(net_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(e.path().join("address")).ok()?;
            Some((name, parse_mac(text.trim())?))
        })
        .filter(|(_, m)| m[0] & 0x03 == 0 && m.iter().any(|&b| b != 0))
        .collect();
    let rank = |n: &str| {
        PREFERRED
            .iter()
            .position(|p| *p == n)
            .unwrap_or(PREFERRED.len())
    };
    out.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then_with(|| a.0.cmp(&b.0)));
    out
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut m = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut m {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(m)
}

/// The default user name from the `cpe` overrides, a MAC address or a machine id; `None`
/// when nothing identifies the device.
pub fn default_userid(
    oui: Option<&str>,
    serial: Option<&str>,
    mac: Option<[u8; 6]>,
    machine_id: Option<&str>,
) -> Option<String> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    let oui = oui
        .map(str::trim)
        .filter(|o| o.len() == 6 && o.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_uppercase)
        .or_else(|| mac.map(|m| hex(&m[..3])))?;
    let serial = serial
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| mac.map(|m| hex(&m)))
        .or_else(|| machine_id.map(|s| s.trim().chars().take(32).collect()))
        .filter(|s| !s.is_empty())?;
    Some(format!("{oui}-{serial}"))
}

/// Fills empty `acs.userid` / `cpe.userid` in the config file at `path` and in `config`.
/// Returns the user name written, if any.
pub fn fill_empty_userids(path: &Path, config: &mut Config) -> Result<Option<String>, ConfigError> {
    if !config.acs.userid.is_empty() && !config.cpe.userid.is_empty() {
        return Ok(None);
    }
    let mac = interface_macs(Path::new("/sys/class/net"))
        .first()
        .map(|m| m.1);
    let machine_id = std::fs::read_to_string("/etc/machine-id").ok();
    let Some(id) = default_userid(
        config.cpe.identity.manufacturer_oui.as_deref(),
        config.cpe.identity.serial_number.as_deref(),
        mac,
        machine_id.as_deref(),
    ) else {
        return Ok(None);
    };
    let mut changes = Vec::new();
    if config.acs.userid.is_empty() {
        changes.push(("acs", "userid", id.as_str()));
    }
    if config.cpe.userid.is_empty() {
        changes.push(("cpe", "userid", id.as_str()));
    }
    set_options(path, &changes)?;
    if config.acs.userid.is_empty() {
        config.acs.userid = id.clone();
    }
    if config.cpe.userid.is_empty() {
        config.cpe.userid = id.clone();
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_name_from_overrides_then_mac_then_machine_id() {
        let mac = Some([0x00, 0xa0, 0xbc, 0x12, 0x34, 0x56]);
        assert_eq!(
            default_userid(Some("00a0bc"), Some("SN42"), mac, None).as_deref(),
            Some("00A0BC-SN42")
        );
        assert_eq!(
            default_userid(None, None, mac, Some("abc")).as_deref(),
            Some("00A0BC-00A0BC123456")
        );
        // A bad OUI override falls back to the MAC's.
        assert_eq!(
            default_userid(Some("xyz"), Some("SN1"), mac, None).as_deref(),
            Some("00A0BC-SN1")
        );
        // No MAC: only an OUI override with the machine id makes a name.
        assert_eq!(
            default_userid(Some("00A0BC"), None, None, Some("0123abcd\n")).as_deref(),
            Some("00A0BC-0123abcd")
        );
        assert_eq!(default_userid(None, Some("SN1"), None, Some("x")), None);
        assert_eq!(default_userid(Some("00A0BC"), None, None, None), None);
    }

    #[test]
    fn macs_skip_loopback_random_and_broken_ones_and_prefer_the_lan() {
        let dir = std::env::temp_dir().join(format!("icwmp-userid-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, addr) in [
            ("lo", "00:00:00:00:00:00"),
            ("wlan0", "02:11:22:33:44:55"),
            ("eth1", "00:11:22:33:44:66"),
            ("br-lan", "00:11:22:33:44:77"),
            ("bad", "00:11:22:33:44"),
            ("mcast", "01:00:5e:00:00:01"),
        ] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(dir.join(name).join("address"), format!("{addr}\n")).unwrap();
        }
        let names: Vec<String> = interface_macs(&dir).into_iter().map(|m| m.0).collect();
        assert_eq!(names, ["br-lan", "eth1"]);
        assert!(interface_macs(&dir.join("none")).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn fills_only_empty_user_names_and_writes_them() {
        let dir = std::env::temp_dir().join(format!("icwmp-userid-fill-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cwmp");
        std::fs::write(
            &path,
            "config acs 'acs'\n\toption url 'http://acs/'\nconfig cpe 'cpe'\n\
             \toption userid 'keep-me'\n\toption manufacturer_oui '00A0BC'\n\
             \toption serial_number 'SN42'\n",
        )
        .unwrap();
        let (mut config, _) = Config::load(&path).unwrap();
        let id = fill_empty_userids(&path, &mut config).unwrap();
        assert_eq!(id.as_deref(), Some("00A0BC-SN42"));
        assert_eq!(config.acs.userid, "00A0BC-SN42");
        assert_eq!(config.cpe.userid, "keep-me");
        let (again, _) = Config::load(&path).unwrap();
        assert_eq!(again.acs.userid, "00A0BC-SN42");
        assert_eq!(again.cpe.userid, "keep-me");
        // Set now: nothing more to do.
        let mut again = again;
        assert_eq!(fill_empty_userids(&path, &mut again).unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
