//! [`ConfigStore`] over a UCI file: what `Device.ManagementServer.*` and DeviceInfo
//! overrides read and write in the daemon.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::uci::Document;
use crate::datamodel::ConfigStore;

use super::follow::Stamp;
use super::stun_legacy::Legacy;

/// A [`ConfigStore`] backed by a UCI file (normally `/etc/config/cwmp`).
///
/// `get` re-reads the file when its mtime, size or inode changed (so edits by `uci` or
/// other tools are seen); `set` goes through [`super::set_options`] (atomic rewrite). The
/// `cpe.stun_*` options also read and write a C-era STUN config next to the file (`stunc`,
/// `cwmp_stun`; see [`super::stun_legacy`]), whose values win when set.
#[derive(Debug)]
pub struct UciConfigStore {
    path: PathBuf,
    cache: Cached,
    /// One cache per C-era STUN config, in [`Legacy::ALL`] order.
    legacy: [Cached; 2],
}

/// A parsed file, re-read when its stamp changes.
// Interior mutability: `get` takes `&self`; a Mutex keeps the store `Sync`.
#[derive(Debug, Default)]
struct Cached(Mutex<Option<(Stamp, Document)>>);

impl Cached {
    /// Runs `f` on the document of `path` (re-read if the file changed); `None` when the
    /// file is missing or unreadable (logged).
    fn with_doc<T>(&self, path: &Path, f: impl FnOnce(&Document) -> Option<T>) -> Option<T> {
        // A poisoned lock only means another thread panicked mid-update: the cache is
        // then rebuilt from the file.
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(stamp) = super::follow::stamp(path) else {
            *cache = None;
            return None;
        };
        if cache.as_ref().map(|(s, _)| *s) != Some(stamp) {
            let name = path.display().to_string();
            let doc = match std::fs::read_to_string(path) {
                Ok(text) => Document::parse(&text, &name),
                Err(e) => {
                    log::warn!("cannot read {name}: {e}");
                    *cache = None;
                    return None;
                }
            };
            match doc {
                Ok(doc) => *cache = Some((stamp, doc)),
                Err(e) => {
                    log::warn!("{e}");
                    *cache = None;
                    return None;
                }
            }
        }
        cache.as_ref().and_then(|(_, d)| f(d))
    }

    fn drop_cache(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl UciConfigStore {
    /// A store over the file at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> UciConfigStore {
        UciConfigStore {
            path: path.into(),
            cache: Cached::default(),
            legacy: Default::default(),
        }
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `cpe.<option>` a C-era STUN config gives, when one exists and sets it.
    fn legacy_get(&self, option: &str) -> Option<String> {
        let legacy = Legacy::find(&self.path)?;
        legacy.option_for(option)?;
        let i = Legacy::ALL.iter().position(|l| *l == legacy)?;
        self.legacy[i].with_doc(&legacy.path(&self.path), |doc| {
            super::stun_legacy::value(legacy, doc, option)
        })
    }
}

impl ConfigStore for UciConfigStore {
    /// The option's value; the section is found by name, else the last one of that type.
    /// List options are returned comma-joined.
    fn get(&self, section: &str, option: &str) -> Option<String> {
        if section == "cpe" {
            if let Some(v) = self.legacy_get(option) {
                return Some(v);
            }
        }
        self.cache.with_doc(&self.path, |doc| {
            let name = super::write::find_section(doc, section)?;
            doc.get(&name, option).map(|v| v.joined(","))
        })
    }

    fn set(&mut self, changes: &[(String, String, String)]) -> Result<(), String> {
        // cwmp first: the C-era file, whose values win, changes only once cwmp holds the
        // same (a failure between the two leaves the old value in force, and the SPV fails).
        let r = super::set_options(&self.path, changes)
            .and_then(|()| super::stun_legacy::mirror(&self.path, changes))
            .map_err(|e| e.to_string());
        // Drop the caches even on error: the files may or may not have changed.
        self.cache.drop_cache();
        for c in &self.legacy {
            c.drop_cache();
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("icwmp-cfgstore-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("cwmp")
    }

    #[test]
    fn gets_by_name_and_type_and_sees_external_edits() {
        let path = tmp("get");
        std::fs::write(
            &path,
            "config acs 'acs'\n\toption url 'http://a/'\nconfig cpe\n\toption port '7547'\n\tlist x 'a'\n\tlist x 'b'\n",
        )
        .unwrap();
        let store = UciConfigStore::new(&path);
        assert_eq!(store.get("acs", "url").as_deref(), Some("http://a/"));
        assert_eq!(store.get("cpe", "port").as_deref(), Some("7547"));
        assert_eq!(store.get("cpe", "x").as_deref(), Some("a,b"));
        assert_eq!(store.get("cpe", "missing"), None);
        assert_eq!(store.get("nosuch", "url"), None);
        // A different size guarantees a new stamp even with a coarse mtime.
        std::fs::write(
            &path,
            "config acs 'acs'\n\toption url 'http://changed.example/'\n",
        )
        .unwrap();
        assert_eq!(
            store.get("acs", "url").as_deref(),
            Some("http://changed.example/")
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(store.get("acs", "url"), None);
    }

    #[test]
    fn set_writes_atomically_and_keeps_the_rest() {
        let path = tmp("set");
        std::fs::write(
            &path,
            "# comment\nconfig acs 'acs'\n\toption url 'http://a/'\n\nconfig inform_parameter\n\toption parameter_name 'Device.X'\n\nconfig cpe 'cpe'\n\toption port '7547'\n",
        )
        .unwrap();
        let mut store = UciConfigStore::new(&path);
        assert_eq!(store.get("cpe", "port").as_deref(), Some("7547"));
        store
            .set(&[
                ("cpe".into(), "ParameterKey".into(), "it's".into()),
                ("acs".into(), "url".into(), "http://b/".into()),
                ("lwn".into(), "hostname".into(), "h".into()),
            ])
            .unwrap();
        assert_eq!(store.get("cpe", "ParameterKey").as_deref(), Some("it's"));
        assert_eq!(store.get("acs", "url").as_deref(), Some("http://b/"));
        assert_eq!(store.get("lwn", "hostname").as_deref(), Some("h"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "\nconfig acs 'acs'\n\toption url 'http://b/'\n\nconfig inform_parameter\n\toption parameter_name 'Device.X'\n\nconfig cpe 'cpe'\n\toption port '7547'\n\toption ParameterKey 'it'\\''s'\n\nconfig lwn 'lwn'\n\toption hostname 'h'\n\n"
        );
        assert!(!path.with_file_name("cwmp.tmp").exists());
        let (cfg, _) = Config::load(&path).unwrap();
        assert_eq!(cfg.cpe.parameter_key, "it's");
        assert_eq!(cfg.inform_parameters[0].parameter_name, "Device.X");
    }

    #[test]
    fn set_rejects_bad_option_names_and_broken_files() {
        let path = tmp("bad");
        let mut store = UciConfigStore::new(&path);
        // Missing file: created by set.
        store
            .set(&[("cpe".into(), "port".into(), "7548".into())])
            .unwrap();
        assert_eq!(store.get("cpe", "port").as_deref(), Some("7548"));
        let e = store.set(&[("cpe".into(), "bad-name".into(), "1".into())]);
        assert!(e.unwrap_err().contains("invalid option name 'bad-name'"));
        std::fs::write(&path, "config cpe 'cpe'\n\toption port '7547\n").unwrap();
        let e = store
            .set(&[("cpe".into(), "port".into(), "1".into())])
            .unwrap_err();
        assert!(e.contains(":2: unterminated quote in option 'port'"), "{e}");
        assert_eq!(store.get("cpe", "port"), None);
    }
}
