//! Notification attributes: path => (Notification 0-6, AccessList), persisted as JSON.
//!
//! Keys are the names the ACS gave to SetParameterAttributes: full parameter names or partial
//! paths (which cover everything beneath, including instances created later). A parameter's
//! effective attribute comes from the most specific key that covers it; each field
//! (notification, access list) is looked up on its own, so an AccessList-only request on a
//! child does not hide the parent's notification.

use crate::datamodel::{ActiveNotify, DataModel, ParamPath, ParamValue};
use crate::store;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::Path;

/// File name of the attributes inside the state directory.
pub const FILE_NAME: &str = "notifications.json";

/// Parameters that are always active whatever the ACS asks (icwmp-c section 10).
const FORCED_ACTIVE: [&str; 2] = [
    "Device.DeviceInfo.SoftwareVersion",
    "Device.DeviceInfo.ProvisioningCode",
];

/// Whether `name` is one of the parameters whose notification is always active.
pub fn is_forced_active(name: &str) -> bool {
    FORCED_ACTIVE.contains(&name)
}

/// Whether a Notification value asks for a prompt session or message (2, 5, 6).
pub fn is_active(level: u8) -> bool {
    matches!(level, 2 | 5 | 6)
}

/// The notification policy of a parameter: the forced list first, then the data model.
pub fn policy(name: &str, dm: &mut dyn DataModel) -> ActiveNotify {
    if is_forced_active(name) {
        ActiveNotify::ForceEnabled
    } else {
        dm.active_notify(name)
    }
}

/// What is stored for one path; `None` fields are inherited from a covering path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttrEntry {
    /// Notification 0-6.
    pub notification: Option<u8>,
    /// AccessList (only `Subscriber` is valid).
    pub access_list: Option<Vec<String>>,
}

impl AttrEntry {
    fn is_empty(&self) -> bool {
        self.notification.is_none() && self.access_list.is_none()
    }
}

/// The notification attributes the ACS set, owned by the agent.
#[derive(Clone, Debug, Default)]
pub struct NotifyAttributes {
    entries: BTreeMap<String, AttrEntry>,
    /// Identity of the file as last loaded or saved: another process (`icwmpd -c set_notif`)
    /// that rewrites it is noticed by [`NotifyAttributes::reload_if_changed`].
    stamp: Option<store_stamp::Stamp>,
}

/// Two attribute sets are equal when they hold the same entries, wherever they came from.
impl PartialEq for NotifyAttributes {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for NotifyAttributes {}

/// (modification time in ns, size, inode) of a file: atomic rewrites always change the inode.
mod store_stamp {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// A file's identity.
    pub type Stamp = (i128, u64, u64);

    /// The identity of `path`, `None` when it does not exist.
    pub fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some((
            m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            m.len(),
            m.ino(),
        ))
    }
}

/// Segments of a name or partial path, without the trailing empty one.
fn segments(path: &str) -> Vec<&str> {
    path.split('.').filter(|s| !s.is_empty()).collect()
}

fn is_partial(path: &str) -> bool {
    path.is_empty() || path.ends_with('.')
}

/// How specifically `key` covers `name` (a name or partial path), or `None` if it does not.
/// More segments win; on a tie, fewer `*` wildcards win.
fn coverage(key: &str, name: &str) -> Option<(usize, usize)> {
    let k = segments(key);
    let n = segments(name);
    let fits = if is_partial(key) {
        k.len() < n.len() || (k.len() == n.len() && is_partial(name))
    } else {
        !is_partial(name) && k.len() == n.len()
    };
    if !fits {
        return None;
    }
    let mut exact = 0;
    for (a, b) in k.iter().zip(&n) {
        if a == b {
            exact += 1;
        } else if *a != "*" {
            return None;
        }
    }
    Some((k.len(), exact))
}

impl NotifyAttributes {
    /// No attributes stored.
    pub fn new() -> NotifyAttributes {
        NotifyAttributes::default()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The stored entries, by path (for status output and tests).
    pub fn entries(&self) -> &BTreeMap<String, AttrEntry> {
        &self.entries
    }

    /// Sets the notification of `path`; entries beneath it lose theirs (the newest request on
    /// a parent applies to everything under it).
    pub fn set_notification(&mut self, path: &str, level: u8) {
        for (k, e) in self.entries.iter_mut() {
            if k != path && coverage(path, k).is_some() {
                e.notification = None;
            }
        }
        self.entries
            .entry(path.to_string())
            .or_default()
            .notification = Some(level);
        self.entries.retain(|_, e| !e.is_empty());
    }

    /// Sets the access list of `path`; entries beneath it lose theirs.
    pub fn set_access_list(&mut self, path: &str, list: Vec<String>) {
        for (k, e) in self.entries.iter_mut() {
            if k != path && coverage(path, k).is_some() {
                e.access_list = None;
            }
        }
        self.entries
            .entry(path.to_string())
            .or_default()
            .access_list = Some(list);
        self.entries.retain(|_, e| !e.is_empty());
    }

    /// Drops every entry at or beneath `path` (a deleted or new instance); true if any went.
    pub fn remove_under(&mut self, path: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|k, _| coverage(path, k).is_none());
        before != self.entries.len()
    }

    /// The most specific stored value of one field for `name`, and whether it was inherited
    /// from a partial path.
    fn lookup<T>(&self, name: &str, field: impl Fn(&AttrEntry) -> Option<T>) -> Option<(T, bool)> {
        let mut best: Option<((usize, usize), T, bool)> = None;
        for (k, e) in &self.entries {
            let Some(v) = field(e) else { continue };
            let Some(score) = coverage(k, name) else {
                continue;
            };
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                best = Some((score, v, is_partial(k)));
            }
        }
        best.map(|(_, v, inherited)| (v, inherited))
    }

    /// The effective Notification of parameter `name` under policy `policy`.
    ///
    /// ForceEnabled parameters are always 2. A canDeny parameter does not inherit an active
    /// value from a partial path (asked for directly it would be refused with 9009), so an
    /// ACS making a whole object active does not turn counters such as UpTime into a flood of
    /// sessions.
    pub fn notification(&self, name: &str, policy: ActiveNotify) -> u8 {
        if policy == ActiveNotify::ForceEnabled {
            return 2;
        }
        match self.lookup(name, |e| e.notification) {
            Some((lvl, true)) if policy == ActiveNotify::CanDeny && is_active(lvl) => 0,
            Some((lvl, _)) => lvl,
            None => 0,
        }
    }

    /// The effective Notification of `name`, asking the data model for its policy.
    pub fn effective(&self, name: &str, dm: &mut dyn DataModel) -> u8 {
        self.notification(name, policy(name, dm))
    }

    /// The effective AccessList of `name` (empty by default).
    pub fn access_list(&self, name: &str) -> Vec<String> {
        self.lookup(name, |e| e.access_list.clone())
            .map(|(l, _)| l)
            .unwrap_or_default()
    }

    /// Every parameter with an effective Notification other than 0, with its current value:
    /// the stored paths expanded through the data model, plus the forced-active parameters.
    /// Paths the data model no longer knows are skipped (logged at debug level).
    ///
    /// One data-model request (one bbfdm call) for all of them, by subtree: a path below a
    /// partial path that is also asked is not asked again.
    pub fn notified(&self, dm: &mut dyn DataModel) -> Vec<(ParamValue, u8)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let keys = self
            .entries
            .iter()
            .filter(|(_, e)| e.notification.is_some_and(|n| n != 0))
            .map(|(k, _)| k.as_str());
        let all: Vec<&str> = keys.chain(FORCED_ACTIVE).collect();
        let subtrees: Vec<&str> = all.iter().copied().filter(|k| is_partial(k)).collect();
        let asked: Vec<&str> = all
            .iter()
            .copied()
            .filter(|k| !subtrees.iter().any(|t| k != t && k.starts_with(t)))
            .collect();
        for (key, found) in asked.iter().zip(dm.get_values_many(&asked)) {
            let values = match found {
                Ok(v) => v,
                Err(f) => {
                    log::debug!("notification path {key}: {f}");
                    continue;
                }
            };
            for v in values {
                if !seen.insert(v.name.clone()) {
                    continue;
                }
                let lvl = self.effective(&v.name, dm);
                if lvl != 0 {
                    out.push((v, lvl));
                }
            }
        }
        out
    }

    /// The JSON form written to [`FILE_NAME`]: `{"<path>": {"notification": n,
    /// "access_list": [...]}}`, absent fields inherited.
    pub fn to_json(&self) -> String {
        let mut map = Map::new();
        for (k, e) in &self.entries {
            let mut obj = Map::new();
            if let Some(n) = e.notification {
                obj.insert("notification".into(), Value::from(n));
            }
            if let Some(l) = &e.access_list {
                obj.insert("access_list".into(), Value::from(l.clone()));
            }
            map.insert(k.clone(), Value::Object(obj));
        }
        // Serialising a Value built from strings and numbers cannot fail.
        serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default()
    }

    /// Parses [`NotifyAttributes::to_json`] output. A file that is not a JSON object is an
    /// error; single bad entries or fields are skipped with a warning.
    pub fn from_json(text: &str) -> Result<NotifyAttributes, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        NotifyAttributes::from_value(value)
    }

    /// Rebuilds attributes from the JSON object [`NotifyAttributes::to_json`] wrote.
    fn from_value(value: Value) -> Result<NotifyAttributes, String> {
        let Value::Object(map) = value else {
            return Err("not a JSON object".into());
        };
        let mut attrs = NotifyAttributes::new();
        for (path, v) in map {
            if ParamPath::parse(&path).is_err() {
                log::warn!("{FILE_NAME}: skipping invalid path {path:?}");
                continue;
            }
            let mut entry = AttrEntry::default();
            match v.get("notification").map(Value::as_u64) {
                None => {}
                Some(Some(n @ 0..=6)) => entry.notification = Some(n as u8),
                Some(_) => log::warn!("{FILE_NAME}: {path}: bad notification, ignored"),
            }
            match v.get("access_list").and_then(Value::as_array) {
                Some(list) => {
                    entry.access_list = Some(
                        list.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect(),
                    )
                }
                None if v.get("access_list").is_some() => {
                    log::warn!("{FILE_NAME}: {path}: bad access_list, ignored")
                }
                None => {}
            }
            if !entry.is_empty() {
                attrs.entries.insert(path, entry);
            }
        }
        Ok(attrs)
    }

    /// Loads `<state_dir>/notifications.json`. A missing file gives no attributes; an
    /// unusable one too, logged and set aside (the daemon must start anyway).
    pub fn load(state_dir: &Path) -> NotifyAttributes {
        let path = state_dir.join(FILE_NAME);
        let stamp = store_stamp::of(&path);
        let mut attrs = match store::load_json(&path, "notification attributes") {
            // An object always converts: the error case cannot happen.
            store::Loaded::Object(v) => NotifyAttributes::from_value(v).unwrap_or_default(),
            store::Loaded::Missing | store::Loaded::Unusable => NotifyAttributes::new(),
        };
        attrs.stamp = stamp;
        attrs
    }

    /// Writes `<state_dir>/notifications.json` atomically.
    pub fn save(&mut self, state_dir: &Path) -> io::Result<()> {
        let path = state_dir.join(FILE_NAME);
        store::write_atomic(&path, self.to_json().as_bytes())?;
        self.stamp = store_stamp::of(&path);
        Ok(())
    }

    /// Reloads `<state_dir>/notifications.json` when another process rewrote it since it was
    /// last loaded or saved here (`icwmpd -c set_notif` on a running daemon); true if it did.
    /// A file that disappeared leaves the attributes as they are.
    pub fn reload_if_changed(&mut self, state_dir: &Path) -> bool {
        let now = store_stamp::of(&state_dir.join(FILE_NAME));
        if now.is_none() || now == self.stamp {
            return false;
        }
        *self = NotifyAttributes::load(state_dir);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::fake::FakeDm;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("icwmp-attrs-{tag}-{}", std::process::id()))
    }

    #[test]
    fn inherits_from_nearest_ancestor() {
        let mut a = NotifyAttributes::new();
        a.set_notification("Device.DeviceInfo.", 1);
        a.set_notification("Device.DeviceInfo.UpTime", 0);
        let n = ActiveNotify::Normal;
        assert_eq!(a.notification("Device.DeviceInfo.Manufacturer", n), 1);
        assert_eq!(a.notification("Device.DeviceInfo.UpTime", n), 0);
        assert_eq!(a.notification("Device.Time.Enable", n), 0);
    }

    #[test]
    fn setting_parent_clears_children() {
        let mut a = NotifyAttributes::new();
        a.set_notification("Device.DeviceInfo.UpTime", 2);
        a.set_notification("Device.DeviceInfo.X.", 1);
        a.set_notification("Device.DeviceInfo.", 0);
        assert_eq!(a.entries().len(), 1);
        assert_eq!(
            a.notification("Device.DeviceInfo.UpTime", ActiveNotify::Normal),
            0
        );
    }

    #[test]
    fn keeps_child_access_list_when_parent_notification_changes() {
        let mut a = NotifyAttributes::new();
        a.set_access_list("Device.A.B", vec!["Subscriber".into()]);
        a.set_notification("Device.A.", 2);
        assert_eq!(a.access_list("Device.A.B"), ["Subscriber"]);
        assert_eq!(a.notification("Device.A.B", ActiveNotify::Normal), 2);
        assert!(a.access_list("Device.A.C").is_empty());
    }

    #[test]
    fn matches_wildcard_keys_less_specifically_than_exact_ones() {
        let mut a = NotifyAttributes::new();
        a.set_notification("Device.Hosts.Host.*.Active", 1);
        a.set_notification("Device.Hosts.Host.2.Active", 2);
        let n = ActiveNotify::Normal;
        assert_eq!(a.notification("Device.Hosts.Host.1.Active", n), 1);
        assert_eq!(a.notification("Device.Hosts.Host.2.Active", n), 2);
        assert_eq!(a.notification("Device.Hosts.Host.1.IP", n), 0);
    }

    #[test]
    fn forces_and_denies_by_policy() {
        let mut a = NotifyAttributes::new();
        a.set_notification("Device.", 2);
        assert_eq!(a.notification("Device.X", ActiveNotify::CanDeny), 0);
        assert_eq!(a.notification("Device.X", ActiveNotify::ForceEnabled), 2);
        a.set_notification("Device.", 0);
        assert_eq!(a.notification("Device.X", ActiveNotify::ForceEnabled), 2);
        a.set_notification("Device.", 1);
        assert_eq!(a.notification("Device.X", ActiveNotify::CanDeny), 1);
    }

    #[test]
    fn removes_entries_under_deleted_instance_only() {
        let mut a = NotifyAttributes::new();
        a.set_notification("Device.Hosts.Host.1.", 1);
        a.set_notification("Device.Hosts.Host.1.IP", 2);
        a.set_notification("Device.Hosts.Host.10.IP", 2);
        assert!(a.remove_under("Device.Hosts.Host.1."));
        assert_eq!(
            a.entries().keys().collect::<Vec<_>>(),
            ["Device.Hosts.Host.10.IP"]
        );
        assert!(!a.remove_under("Device.Hosts.Host.1."));
    }

    #[test]
    fn persists_and_reloads() {
        let dir = temp_dir("persist");
        let mut a = NotifyAttributes::new();
        a.set_notification("Device.DeviceInfo.", 1);
        a.set_access_list("Device.DeviceInfo.UpTime", vec!["Subscriber".into()]);
        a.save(&dir).unwrap();
        let b = NotifyAttributes::load(&dir);
        assert_eq!(a, b);
        let text = std::fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        assert!(text.contains("\"notification\": 1"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reloads_only_what_another_process_wrote() {
        let dir = temp_dir("reload");
        let mut mine = NotifyAttributes::new();
        assert!(!mine.reload_if_changed(&dir), "no file: nothing to reload");
        mine.set_notification("Device.A.", 1);
        mine.save(&dir).unwrap();
        assert!(!mine.reload_if_changed(&dir), "our own write");
        // Another process (the CLI) loads, changes and saves.
        let mut other = NotifyAttributes::load(&dir);
        other.set_notification("Device.B", 2);
        other.save(&dir).unwrap();
        assert!(mine.reload_if_changed(&dir));
        assert_eq!(mine.notification("Device.B", ActiveNotify::Normal), 2);
        assert!(!mine.reload_if_changed(&dir), "already seen");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn loads_missing_or_corrupt_file_as_empty() {
        let dir = temp_dir("corrupt");
        assert!(NotifyAttributes::load(&dir).is_empty());
        std::fs::create_dir_all(&dir).unwrap();
        for bad in ["{not json", "[1,2]", "\u{0}\u{ff}"] {
            std::fs::write(dir.join(FILE_NAME), bad).unwrap();
            assert!(NotifyAttributes::load(&dir).is_empty(), "{bad}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn skips_bad_entries_on_load() {
        let a = NotifyAttributes::from_json(
            r#"{"Device.A.": {"notification": 9}, "Device..B": {"notification": 1},
                "Device.C": {"notification": 2, "access_list": "x"}}"#,
        )
        .unwrap();
        assert_eq!(a.entries().len(), 1);
        assert_eq!(a.notification("Device.C", ActiveNotify::Normal), 2);
    }

    #[test]
    fn lists_notified_parameters_with_values() {
        let mut dm = FakeDm::new();
        let mut a = NotifyAttributes::new();
        let levels = |a: &NotifyAttributes, dm: &mut FakeDm| {
            let mut got: Vec<(String, String, u8)> = a
                .notified(dm)
                .into_iter()
                .map(|(v, l)| (v.name, v.value, l))
                .collect();
            got.sort();
            got
        };
        let forced = |v: &str| {
            [
                (
                    "Device.DeviceInfo.ProvisioningCode".to_string(),
                    String::new(),
                    2,
                ),
                (
                    "Device.DeviceInfo.SoftwareVersion".to_string(),
                    v.to_string(),
                    2,
                ),
            ]
        };
        assert_eq!(levels(&a, &mut dm), forced("1.0"));

        a.set_notification("Device.DeviceInfo.", 1);
        a.set_notification("Device.DeviceInfo.Manufacturer", 0);
        a.set_notification("Device.Gone.", 2);
        let mut want = forced("1.0").to_vec();
        // HardwareVersion is forceEnabled in the fake; UpTime is canDeny but passive is allowed.
        want.push(("Device.DeviceInfo.HardwareVersion".into(), "hw1".into(), 2));
        want.push(("Device.DeviceInfo.UpTime".into(), "100".into(), 1));
        want.sort();
        assert_eq!(levels(&a, &mut dm), want);
    }
}
