//! Following the config file from a thread of its own (the STUN and XMPP clients): the file
//! is re-read only when it, or a C-era STUN config next to it (merged in by
//! [`Config::load`]), changed on disk.

use super::Config;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What identifies one version of a file on disk: mtime, size and inode (an atomic rewrite
/// changes the inode even within one mtime tick).
pub type Stamp = (SystemTime, u64, u64);

/// The [`Stamp`] of the file at `path`, `None` when it cannot be read.
pub fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// Hands out the config each time the file changed.
#[derive(Debug)]
pub struct ConfigFollower {
    path: PathBuf,
    /// The files read: the config, then the C-era STUN configs next to it.
    files: Vec<PathBuf>,
    seen: Option<Vec<Option<Stamp>>>,
}

impl ConfigFollower {
    /// Follows the file at `path`; the first [`ConfigFollower::changed`] reads it.
    pub fn new(path: &Path) -> ConfigFollower {
        let mut files = vec![path.to_path_buf()];
        files.extend(super::stun_legacy::files(path));
        ConfigFollower {
            path: path.to_path_buf(),
            files,
            seen: None,
        }
    }

    /// The config when the file changed since the last call and parses; `None` otherwise (a
    /// broken file keeps what runs, as the agent does).
    pub fn changed(&mut self) -> Option<Config> {
        let now: Vec<Option<Stamp>> = self.files.iter().map(|f| stamp(f)).collect();
        if now[0].is_some() && self.seen.as_ref() == Some(&now) {
            return None;
        }
        self.seen = Some(now);
        Config::load(&self.path).ok().map(|(c, _)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_once_per_version_and_keeps_quiet_on_a_broken_file() {
        let dir = std::env::temp_dir().join(format!("icwmp-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cwmp");
        std::fs::write(&path, "config cpe 'cpe'\n\toption port '7000'\n").unwrap();
        let mut f = ConfigFollower::new(&path);
        assert_eq!(f.changed().map(|c| c.cpe.port), Some(7000));
        assert!(f.changed().is_none(), "unchanged file read again");
        // An atomic rewrite (new inode) is seen even with the same size and mtime tick.
        let tmp = dir.join("cwmp.tmp");
        std::fs::write(&tmp, "config cpe 'cpe'\n\toption port '7001'\n").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_eq!(f.changed().map(|c| c.cpe.port), Some(7001));
        // A C-era STUN config appearing next to it is a change, and is merged in.
        std::fs::write(
            dir.join("stunc"),
            "config stunc 'stunc'\n\toption enabled '1'\n",
        )
        .unwrap();
        assert_eq!(f.changed().map(|c| c.stun.enable), Some(true));
        assert!(f.changed().is_none(), "unchanged files read again");
        std::fs::write(&path, "config cpe 'cpe'\n\toption port 'abc'\n").unwrap();
        assert!(f.changed().is_none(), "a broken file is not handed out");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
