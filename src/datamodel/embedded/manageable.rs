//! The manageable devices file (TR-111 part 1, `ManagementServer.ManageableDevice.{i}.`):
//! one line per device the LAN's DHCP hook saw announce itself in option 125, read bounded
//! whatever the LAN announces.

use crate::datamodel::ConfigStore;
use std::path::PathBuf;

/// Where the LAN's DHCP hook lists manageable devices unless `cpe.manageable_devices_file`
/// says otherwise (volatile: the list is rebuilt from the leases after a reboot).
pub(crate) const MANAGEABLE_DEVICES_FILE: &str = "/var/run/icwmpd/manageable_devices";

/// Most devices read from the file: the table stays bounded whatever the LAN announces.
const MAX_MANAGEABLE_DEVICES: usize = 1024;

/// One line of the manageable devices file: `OUI<TAB>serial<TAB>product class[<TAB>host]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ManageableDevice {
    pub oui: String,
    pub serial: String,
    pub class: String,
    pub host: String,
}

/// The devices listed in `text`, in file order; lines without an OUI and a serial number,
/// and repeats of an (OUI, serial) pair, are skipped.
pub(crate) fn parse_manageable_devices(text: &str) -> Vec<ManageableDevice> {
    let mut out: Vec<ManageableDevice> = Vec::new();
    for line in text.lines() {
        let mut f = line.split('\t').map(str::trim);
        let d = ManageableDevice {
            oui: f.next().unwrap_or("").to_ascii_uppercase(),
            serial: f.next().unwrap_or("").to_string(),
            class: f.next().unwrap_or("").to_string(),
            host: f.next().unwrap_or("").to_string(),
        };
        let fits = |s: &str, max: usize| s.len() <= max && !s.chars().any(char::is_control);
        let ok = d.oui.len() == 6
            && d.oui.bytes().all(|b| b.is_ascii_hexdigit())
            && !d.serial.is_empty()
            && fits(&d.serial, 64)
            && fits(&d.class, 64)
            && fits(&d.host, 1024);
        if ok && !out.iter().any(|o| o.oui == d.oui && o.serial == d.serial) {
            out.push(d);
            if out.len() == MAX_MANAGEABLE_DEVICES {
                break;
            }
        }
    }
    out
}

/// The file: `cpe.manageable_devices_file`, else [`MANAGEABLE_DEVICES_FILE`].
pub(crate) fn file(config: &dyn ConfigStore) -> PathBuf {
    let path = config
        .get("cpe", "manageable_devices_file")
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| MANAGEABLE_DEVICES_FILE.into());
    PathBuf::from(path.trim())
}

/// The devices of the file (none when it is missing), read bounded: a hook writes it from
/// what LAN devices send.
pub(crate) fn read(config: &dyn ConfigStore) -> Vec<ManageableDevice> {
    let mut text = String::new();
    if let Ok(f) = std::fs::File::open(file(config)) {
        use std::io::Read;
        let _ = f.take(256 * 1024).read_to_string(&mut text);
    }
    parse_manageable_devices(&text)
}
