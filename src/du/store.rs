//! `<state_dir>/du.json`: the deployment units installed through ChangeDUState (UUID, name,
//! version, URL, instance number). With a package-manager hook it maps UUIDs to package
//! names; without one (the embedded data model on a host without opkg) it *is* the store.

use crate::store;
use serde_json::{json, Value};
use std::path::Path;

/// The file name in the state directory.
pub const FILE_NAME: &str = "du.json";

/// One installed deployment unit.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Du {
    /// Instance number of `Device.SoftwareModules.DeploymentUnit.{i}`.
    pub instance: u32,
    /// UUID.
    pub uuid: String,
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Where it came from (reused by an Update without URL).
    pub url: String,
}

impl Du {
    /// `Device.SoftwareModules.DeploymentUnit.{i}`.
    pub fn du_ref(&self) -> String {
        format!("Device.SoftwareModules.DeploymentUnit.{}", self.instance)
    }

    /// Its one execution unit, `Device.SoftwareModules.ExecutionUnit.{i}`.
    pub fn eu_ref(&self) -> String {
        format!("Device.SoftwareModules.ExecutionUnit.{}", self.instance)
    }
}

/// The installed deployment units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DuStore {
    /// In install order.
    pub units: Vec<Du>,
}

impl DuStore {
    /// Loads `<dir>/du.json`; missing gives an empty store; unusable is logged, set aside
    /// and gives an empty store (see [`store::load_json`]); unreadable units are logged.
    pub fn load(dir: &Path) -> DuStore {
        let path = dir.join(FILE_NAME);
        let v = store::load_json(&path, "the installed deployment units").value();
        let s = |u: &Value, k: &str| u[k].as_str().unwrap_or_default().to_string();
        let unit = |u: &Value| {
            Some(Du {
                instance: u32::try_from(u["instance"].as_u64()?).ok()?,
                uuid: s(u, "uuid"),
                name: s(u, "name"),
                version: s(u, "version"),
                url: s(u, "url"),
            })
        };
        let mut units = Vec::new();
        for u in store::array_field(&v, "units", &path) {
            match unit(u) {
                Some(du) => units.push(du),
                None => log::error!("{FILE_NAME}: unreadable unit skipped: {u}"),
            }
        }
        DuStore { units }
    }

    /// Writes `<dir>/du.json` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let units: Vec<Value> = self
            .units
            .iter()
            .map(|u| {
                json!({"instance": u.instance, "uuid": u.uuid, "name": u.name,
                       "version": u.version, "url": u.url})
            })
            .collect();
        let v = json!({"version": 1, "units": units});
        store::write_atomic(&dir.join(FILE_NAME), v.to_string().as_bytes())
    }

    /// The unit with this UUID (case-insensitive).
    pub fn by_uuid(&self, uuid: &str) -> Option<&Du> {
        self.units
            .iter()
            .find(|u| u.uuid.eq_ignore_ascii_case(uuid))
    }

    /// The unit installed from this URL.
    pub fn by_url(&self, url: &str) -> Option<&Du> {
        self.units.iter().find(|u| u.url == url)
    }

    /// Adds a unit with the next instance number; returns it.
    pub fn add(&mut self, uuid: &str, name: &str, version: &str, url: &str) -> Du {
        // Saturating: a hand-edited du.json may hold any instance number.
        let instance = (self.units.iter().map(|u| u.instance).max().unwrap_or(0)).saturating_add(1);
        let du = Du {
            instance,
            uuid: uuid.into(),
            name: name.into(),
            version: version.into(),
            url: url.into(),
        };
        self.units.push(du.clone());
        du
    }

    /// Removes the unit with this UUID; returns it.
    pub fn remove(&mut self, uuid: &str) -> Option<Du> {
        let i = self
            .units
            .iter()
            .position(|u| u.uuid.eq_ignore_ascii_case(uuid))?;
        Some(self.units.remove(i))
    }
}

/// Name and version of a downloaded package: from `Package:`/`Version:` control lines at the
/// top of the file when it is a plain control-style text, else from the URL's file name in
/// opkg's `name_version_arch.ipk` form (name alone when it has no `_`).
pub fn package_identity(content: &[u8], url: &str) -> (String, String) {
    let head = &content[..content.len().min(4096)];
    if let Ok(text) = std::str::from_utf8(head) {
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        if let Some(name) = field("Package:").filter(|n| !n.is_empty()) {
            return (name, field("Version:").unwrap_or_default());
        }
    }
    let path = url.split(['?', '#']).next().unwrap_or("");
    let file = path.rsplit('/').next().unwrap_or("");
    let stem = file
        .strip_suffix(".ipk")
        .or_else(|| file.strip_suffix(".apk"))
        .unwrap_or(file);
    let mut parts = stem.split('_');
    let name = parts.next().unwrap_or("").to_string();
    let version = parts.next().unwrap_or("").to_string();
    (name, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_control_text_or_file_name() {
        let c = b"Package: hello\nVersion: 1.2-3\nArchitecture: all\n";
        assert_eq!(
            package_identity(c, "http://h/x.ipk"),
            ("hello".into(), "1.2-3".into())
        );
        assert_eq!(
            package_identity(
                b"\x1f\x8b\x08binary",
                "http://h/d/luci-app_2.0-1_all.ipk?a=b"
            ),
            ("luci-app".into(), "2.0-1".into())
        );
        assert_eq!(
            package_identity(b"", "ftp://h/tool"),
            ("tool".into(), String::new())
        );
    }

    #[test]
    fn store_round_trips_and_numbers_instances() {
        let dir = std::env::temp_dir().join(format!("icwmp-du-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = DuStore::default();
        let a = s.add("u-a", "a", "1", "http://h/a");
        let b = s.add("u-b", "b", "2", "http://h/b");
        assert_eq!((a.instance, b.instance), (1, 2));
        assert_eq!(a.du_ref(), "Device.SoftwareModules.DeploymentUnit.1");
        s.save(&dir).unwrap();
        let mut back = DuStore::load(&dir);
        assert_eq!(back, s);
        assert_eq!(back.remove("U-A").map(|d| d.name), Some("a".into()));
        assert_eq!(back.add("u-c", "c", "", "").instance, 3);
        assert!(back.by_uuid("u-a").is_none() && back.by_url("http://h/b").is_some());
        for bad in [
            "{garbage",
            "[]",
            "{\"units\":\"x\"}",
            "{\"units\":[{\"uuid\":1}]}",
        ] {
            std::fs::write(dir.join(FILE_NAME), bad).unwrap();
            assert!(DuStore::load(&dir).units.is_empty(), "{bad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
