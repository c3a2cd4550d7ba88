//! Atomic persistence: every file that must survive a power cut goes through [`write_atomic`]
//! (or [`write_private`]), and every state file is read back through [`load_json`].
//!
//! Failure rules, so that a full or read-only disk never leaves a half file or a stray one:
//! a write goes to `<path>.tmp`, which is removed again if anything fails; stale `.tmp` files
//! a crash left behind are removed at start-up ([`clean_stale_tmp`]). A rewrite keeps the
//! replaced file's mode and owner (a 0600 file holding passwords stays 0600). A state file
//! that cannot be understood is logged once and set aside as `<path>.corrupt` (kept for
//! diagnosis, never silently overwritten), so each file recovers on its own.

use serde_json::Value;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Suffix of the temporary file a write goes through.
const TMP_SUFFIX: &str = ".tmp";
/// Suffix a corrupt state file is renamed to.
pub const CORRUPT_SUFFIX: &str = ".corrupt";

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Writes `data` to `path` so that a reader (or a reboot) sees either the old or the new
/// content, never a mix: write `<path>.tmp`, fsync it, rename over `path`, fsync the directory.
/// An existing file's mode and owner are kept; a new file gets the default mode (umask).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_with_mode(path, data, None)
}

/// As [`write_atomic`], for files holding secrets: a new file is created 0600 (an existing
/// one keeps its mode, which a user may have tightened or deliberately relaxed).
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    write_with_mode(path, data, Some(0o600))
}

fn write_with_mode(path: &Path, data: &[u8], new_mode: Option<u32>) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        fs::create_dir_all(dir)?;
    }
    let old = fs::metadata(path).ok();
    let tmp = with_suffix(path, TMP_SUFFIX);
    let mut written = write_and_rename(path, &tmp, data, old.as_ref(), new_mode);
    if let (Err(e), Some(dir), Some(old)) = (&written, dir, &old) {
        let reserve = dir.join(RESERVE_FILE);
        // A write that does not grow the file (an acknowledgement removing delivered
        // events) must not fail for lack of space, or a delivered event would be sent
        // again: the reserve makes room for the moment the old and new copies coexist.
        if is_no_space(e) && data.len() as u64 <= old.len() && fs::remove_file(&reserve).is_ok() {
            log::warn!("{}: disk full, written using the reserve", path.display());
            written = write_and_rename(path, &tmp, data, Some(old), new_mode);
            ensure_reserve(dir);
        }
    }
    report(path, &written);
    written?;
    if let Some(dir) = dir {
        // Makes the rename itself durable; failure to open a directory is not fatal on
        // filesystems that do not support it.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Logs a failed write once per file and kind of failure (a read-only or full disk would
/// otherwise repeat the same line at every save), and the recovery when it works again.
fn report(path: &Path, r: &io::Result<()>) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static FAILING: Mutex<Option<HashMap<PathBuf, io::ErrorKind>>> = Mutex::new(None);
    // A poisoned lock only means a panic elsewhere mid-log: the map is still usable.
    let mut failing = FAILING.lock().unwrap_or_else(|p| p.into_inner());
    let failing = failing.get_or_insert_with(HashMap::new);
    match r {
        Ok(()) => {
            if failing.remove(path).is_some() {
                log::warn!("{} written again", path.display());
            }
        }
        Err(e) => {
            if failing.insert(path.to_path_buf(), e.kind()) == Some(e.kind()) {
                log::debug!("still cannot write {}: {e}", path.display());
            } else {
                log::error!(
                    "cannot write {}: {e}; the previous content is kept (repeats logged at \
                     debug level until a write succeeds)",
                    path.display()
                );
            }
        }
    }
}

/// Writes the temporary and renames it over `path`; the temporary is removed on failure
/// (a half-written one would only fill a full disk further).
fn write_and_rename(
    path: &Path,
    tmp: &Path,
    data: &[u8],
    old: Option<&fs::Metadata>,
    new_mode: Option<u32>,
) -> io::Result<()> {
    let r = write_tmp(tmp, data, old, new_mode).and_then(|()| {
        #[cfg(test)]
        faults::check(path)?;
        fs::rename(tmp, path)
    });
    if r.is_err() {
        let _ = fs::remove_file(tmp);
    }
    r
}

fn is_no_space(e: &io::Error) -> bool {
    // ENOSPC, EDQUOT.
    matches!(e.raw_os_error(), Some(28 | 122)) || e.kind() == io::ErrorKind::StorageFull
}

/// The file kept in the state directory as room for acknowledgements on a full disk.
pub const RESERVE_FILE: &str = ".reserve";
/// Its size: several times the largest state file an acknowledgement rewrites.
const RESERVE_SIZE: usize = 32 * 1024;

/// Makes sure `<dir>/.reserve` exists (best effort: on a full disk it cannot be made, and is
/// tried again at the next start or use). Filled with pseudo-random bytes so that a
/// compressing filesystem (jffs2, ubifs) really sets the space aside.
pub fn ensure_reserve(dir: &Path) {
    let path = dir.join(RESERVE_FILE);
    if path.exists() {
        return;
    }
    let mut x = u64::from(std::process::id()) | 1;
    let mut data = Vec::with_capacity(RESERVE_SIZE);
    while data.len() < RESERVE_SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    if let Err(e) = write_and_rename(&path, &with_suffix(&path, TMP_SUFFIX), &data, None, None) {
        log::warn!("cannot set space aside in {}: {e}", path.display());
    }
}

/// Creates `tmp` with the replaced file's mode and owner (or `new_mode`), writes and syncs it.
fn write_tmp(
    tmp: &Path,
    data: &[u8],
    old: Option<&fs::Metadata>,
    new_mode: Option<u32>,
) -> io::Result<()> {
    let mode = old.map(|m| m.mode() & 0o7777).or(new_mode);
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if let Some(mode) = mode {
        // Created with the final mode so the secret is never readable by others, even
        // briefly; the explicit chmod below overrides the umask.
        opts.mode(mode & 0o700);
    }
    let mut f = opts.open(tmp)?;
    if let Some(mode) = mode {
        f.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    if let Some(m) = old {
        if m.uid() != f.metadata()?.uid() || m.gid() != f.metadata()?.gid() {
            // Only root may give a file away; anyone else keeps their own ownership.
            if let Err(e) = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid())) {
                log::debug!("{}: owner not kept: {e}", tmp.display());
            }
        }
    }
    f.write_all(data)?;
    f.sync_all()
}

/// Reads a file that [`write_atomic`] wrote; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Parses a JSON document read from a file. As text, not with `serde_json::from_slice`: the
/// binary then carries one serde_json reader instead of two (about 6 KB on the router). The
/// same documents parse: `from_slice` refuses invalid UTF-8 in strings too, and anywhere else
/// a non-ASCII byte is a syntax error either way.
pub fn parse_json(data: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// What [`load_json`] found.
#[derive(Debug, PartialEq)]
pub enum Loaded {
    /// No such file.
    Missing,
    /// The file holds a JSON object.
    Object(Value),
    /// The file exists but could not be read or understood (already logged).
    Unusable,
}

impl Loaded {
    /// The object, or `Value::Null` (every field lookup then gives nothing).
    pub fn value(self) -> Value {
        match self {
            Loaded::Object(v) => v,
            Loaded::Missing | Loaded::Unusable => Value::Null,
        }
    }
}

/// Reads a state file that must hold a JSON object. A file that cannot be read, is not JSON
/// or not an object is logged in one line (path, reason, what is lost: `what`) and, when
/// it could be read, renamed to `<path>.corrupt` so the next write does not destroy the
/// evidence and the next start does not stumble on it again.
pub fn load_json(path: &Path, what: &str) -> Loaded {
    let data = match read_optional(path) {
        Ok(Some(d)) => d,
        Ok(None) => return Loaded::Missing,
        Err(e) => {
            log::error!(
                "cannot read {}: {e}; starting without {what}",
                path.display()
            );
            return Loaded::Unusable;
        }
    };
    let reason = match parse_json(&data) {
        Ok(v) if v.is_object() => return Loaded::Object(v),
        Ok(v) => format!("a JSON {} where an object was expected", json_type(&v)),
        Err(_) if data.iter().all(u8::is_ascii_whitespace) => "empty".to_string(),
        Err(e) => format!("not valid JSON: {e}"),
    };
    let aside = with_suffix(path, CORRUPT_SUFFIX);
    let kept = match fs::rename(path, &aside) {
        Ok(()) => format!("kept as {}", aside.display()),
        Err(e) => format!("could not be set aside: {e}"),
    };
    log::error!(
        "{} is unusable ({reason}, {} bytes); starting without {what}; {kept}",
        path.display(),
        data.len()
    );
    Loaded::Unusable
}

/// The array `v[key]` of a loaded state file; a field present with another type is logged
/// (its content is lost) and read as empty.
pub fn array_field<'a>(v: &'a Value, key: &str, path: &Path) -> &'a [Value] {
    match &v[key] {
        Value::Array(a) => a,
        Value::Null => &[],
        other => {
            log::error!(
                "{}: '{key}' is a JSON {} where an array was expected; its content is lost",
                path.display(),
                json_type(other)
            );
            &[]
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Removes the `<file>.tmp` leftovers of writes a crash interrupted in `dir` (logged).
pub fn clean_stale_tmp(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let is_tmp = name.to_str().is_some_and(|n| n.ends_with(TMP_SUFFIX));
        if is_tmp && e.file_type().is_ok_and(|t| t.is_file()) {
            remove_stale(&e.path());
        }
    }
}

/// Removes the temporary of an interrupted write of `path`, if there is one.
pub fn clean_stale_tmp_of(path: &Path) {
    let tmp = with_suffix(path, TMP_SUFFIX);
    if tmp.is_file() {
        remove_stale(&tmp);
    }
}

fn remove_stale(tmp: &Path) {
    match fs::remove_file(tmp) {
        Ok(()) => log::warn!("removed {} left by an interrupted write", tmp.display()),
        Err(e) => log::warn!("cannot remove stale {}: {e}", tmp.display()),
    }
}

/// Test-only write failures: a write to a path ending with an armed suffix fails after the
/// temporary was written (the worst moment: the disk is full just before the rename).
#[cfg(test)]
pub mod faults {
    use std::cell::RefCell;
    use std::io;
    use std::path::Path;

    thread_local! {
        /// (path suffix, failures left).
        static ARMED: RefCell<Vec<(String, u32)>> = const { RefCell::new(Vec::new()) };
    }

    /// Makes writes to paths ending with `suffix` fail with ENOSPC on this thread.
    pub fn fail_writes(suffix: &str) {
        fail_writes_times(suffix, u32::MAX);
    }

    /// Makes the next `n` writes to paths ending with `suffix` fail with ENOSPC.
    pub fn fail_writes_times(suffix: &str, n: u32) {
        ARMED.with(|a| a.borrow_mut().push((suffix.to_string(), n)));
    }

    /// Disarms every injected failure of this thread.
    pub fn clear() {
        ARMED.with(|a| a.borrow_mut().clear());
    }

    pub(super) fn check(path: &Path) -> io::Result<()> {
        let p = path.to_string_lossy();
        ARMED.with(|a| {
            let mut a = a.borrow_mut();
            match a
                .iter_mut()
                .find(|(s, n)| *n > 0 && p.ends_with(s.as_str()))
            {
                Some((_, n)) => {
                    *n -= 1;
                    Err(io::Error::from_raw_os_error(28))
                }
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("icwmp-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = temp("replace");
        let path = dir.join("sub/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(read_optional(&path).unwrap().unwrap(), b"two");
        assert!(!dir.join("sub/state.json.tmp").exists());
        assert_eq!(read_optional(&dir.join("missing")).unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temp_file() {
        let dir = temp("fail");
        let path = dir.join("state.json");
        write_atomic(&path, b"old").unwrap();
        faults::fail_writes("state.json");
        let e = write_atomic(&path, b"new").unwrap_err();
        faults::clear();
        assert_eq!(e.raw_os_error(), Some(28));
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert!(!dir.join("state.json.tmp").exists());
        // A directory in the way of the temporary: creation itself fails.
        fs::create_dir(dir.join("x.tmp")).unwrap();
        assert!(write_atomic(&dir.join("x"), b"1").is_err());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_rewrite_keeps_the_mode_and_new_private_files_are_0600() {
        let dir = temp("mode");
        let path = dir.join("cwmp");
        fs::write(&path, "x").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&path, b"y").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        write_private(&path, b"z").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        let secret = dir.join("transfers.json");
        write_private(&secret, b"{}").unwrap();
        assert_eq!(fs::metadata(&secret).unwrap().mode() & 0o7777, 0o600);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unusable_json_is_set_aside() {
        let dir = temp("load");
        let path = dir.join("s.json");
        assert_eq!(load_json(&path, "x"), Loaded::Missing);
        for bad in [
            "", " \n", "{\"a\":", "garbage", "[1,2]", "\"s\"", "null", "42",
        ] {
            fs::write(&path, bad).unwrap();
            assert_eq!(load_json(&path, "x"), Loaded::Unusable, "{bad:?}");
            assert!(!path.exists(), "{bad:?}");
            assert_eq!(fs::read_to_string(dir.join("s.json.corrupt")).unwrap(), bad);
        }
        // Invalid UTF-8 inside a string, or outside one.
        for bad in [&b"{\"a\":\"\xff\"}"[..], b"{\"a\":1}\xff"] {
            fs::write(&path, bad).unwrap();
            assert_eq!(load_json(&path, "x"), Loaded::Unusable, "{bad:?}");
            assert_eq!(fs::read(dir.join("s.json.corrupt")).unwrap(), bad);
        }
        fs::write(&path, "{\"a\":1, \"\u{e9}\":\"\\u00e9\u{e9}\"}").unwrap();
        let v = load_json(&path, "x").value();
        assert_eq!(
            (&v["a"], v["\u{e9}"].as_str()),
            (&Value::from(1), Some("\u{e9}\u{e9}"))
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_reserve_is_only_for_writes_that_do_not_grow() {
        let dir = temp("reserve");
        ensure_reserve(&dir);
        let reserve = dir.join(RESERVE_FILE);
        assert_eq!(fs::metadata(&reserve).unwrap().len(), RESERVE_SIZE as u64);
        let path = dir.join("state.json");
        write_atomic(&path, b"[1,2,3]").unwrap();
        // Full once: a write that does not grow goes through, and the reserve is rebuilt.
        faults::fail_writes_times("state.json", 1);
        write_atomic(&path, b"[1]").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"[1]");
        assert_eq!(fs::metadata(&reserve).unwrap().len(), RESERVE_SIZE as u64);
        // A growing write fails, and leaves the reserve alone.
        faults::fail_writes_times("state.json", 1);
        assert!(write_atomic(&path, b"[1,2]").is_err());
        faults::clear();
        assert_eq!(fs::read(&path).unwrap(), b"[1]");
        assert!(reserve.exists() && !dir.join("state.json.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let dir = temp("stale");
        fs::write(dir.join("state.json.tmp"), "half").unwrap();
        fs::write(dir.join("state.json"), "{}").unwrap();
        fs::create_dir(dir.join("d.tmp")).unwrap();
        clean_stale_tmp(&dir);
        assert!(!dir.join("state.json.tmp").exists());
        assert!(dir.join("state.json").exists() && dir.join("d.tmp").is_dir());
        let cfg = dir.join("cwmp");
        fs::write(dir.join("cwmp.tmp"), "half").unwrap();
        clean_stale_tmp_of(&cfg);
        assert!(!dir.join("cwmp.tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
