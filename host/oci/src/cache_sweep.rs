//! Sweeping Kiln's own cache directories (`kiln gc --cache`): the policy (how old is unused,
//! how old is a leftover temporary file), what was removed, and the sweeps of the caches this
//! crate owns (the blob cache, verified-layer records; the rootfs cache is in
//! [`crate::rootfs`]).
//!
//! "Last used" is a file's or directory's mtime: the caches that are read without being
//! written refresh it on use (at most once per [`TOUCH_AFTER`]).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A used cache entry older than this gets its mtime set to now.
pub const TOUCH_AFTER: Duration = Duration::from_hours(24);

/// What a sweep removes.
#[derive(Debug, Clone, Copy)]
pub struct SweepPolicy {
    /// Entries not used for longer than this are removed.
    pub max_age: Duration,
    /// Temporary files (`.tmp-*`) older than this are leftovers of killed writers.
    pub temp_age: Duration,
    /// The time the sweep compares against.
    pub now: SystemTime,
}

impl SweepPolicy {
    /// Unused after `max_age`, temporary files after an hour, compared with now.
    pub fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            temp_age: Duration::from_hours(1),
            now: SystemTime::now(),
        }
    }

    /// Whether `meta` was last modified more than `age` before [`Self::now`].
    pub fn older(&self, meta: &fs::Metadata, age: Duration) -> bool {
        meta.modified()
            .ok()
            .and_then(|m| self.now.duration_since(m).ok())
            .is_some_and(|a| a > age)
    }
}

/// One removed cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// What it was (`verified-layer record`, `blob cache entry`, `build image rootfs`, …).
    pub what: &'static str,
    /// Where it was.
    pub path: PathBuf,
    /// Bytes freed (the file's length, or the tree's total).
    pub bytes: u64,
}

/// Whether `name` is a temporary file of an atomic write (`.tmp-*`, tempfile's `.tmp*`).
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(".tmp")
}

/// Total length of the files under `path` (symlinks not followed; unreadable parts count 0).
pub fn tree_bytes(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path).map_or(0, |entries| {
        entries.flatten().map(|e| tree_bytes(&e.path())).sum()
    })
}

/// Remove the file or tree at `path` (read-only directories made writable first); returns
/// the bytes freed. Nothing there is fine.
pub fn remove_entry(path: &Path) -> io::Result<u64> {
    let bytes = tree_bytes(path);
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => remove_tree(path)?,
        Ok(_) => match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    }
    Ok(bytes)
}

/// Set the mtime of `path` to now when it is older than [`TOUCH_AFTER`] (best effort): the
/// "last used" stamp of a cache entry read without being written.
pub fn touch(path: &Path) {
    touch_if_older(path, TOUCH_AFTER);
}

/// Set the mtime of `path` to now when it is older than `after` (best effort; a recent
/// file is left alone, so frequent use does not rewrite its inode every time).
pub(crate) fn touch_if_older(path: &Path, after: Duration) {
    let Ok(file) = fs::File::open(path) else {
        return;
    };
    let now = SystemTime::now();
    let stale = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age > after);
    if stale {
        let _ = file.set_modified(now);
    }
}

/// Remove from the flat cache directory `dir` the temporary files older than the policy's
/// `temp_age` and the entries `keep` rejects or that were not used for `max_age`; errors
/// other than a missing `dir` are returned.
pub(crate) fn sweep_flat(
    dir: &Path,
    what: &'static str,
    policy: &SweepPolicy,
    keep: impl Fn(&str, &Path) -> bool,
) -> io::Result<Vec<Removed>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let doomed = if is_temp_name(&name) {
            policy.older(&meta, policy.temp_age)
        } else {
            meta.is_file() && (!keep(&name, &path) || policy.older(&meta, policy.max_age))
        };
        if doomed {
            let bytes = remove_entry(&path)?;
            let what = if is_temp_name(&name) {
                "temporary file"
            } else {
                what
            };
            removed.push(Removed { what, path, bytes });
        }
    }
    Ok(removed)
}

/// Remove the directory tree `path` (symlinks in it are removed, not followed); when that
/// fails, make its directories writable and try again. Nothing there is fine.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let not_found = |r: io::Result<()>| match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    };
    if not_found(fs::remove_dir_all(path)).is_ok() {
        return Ok(());
    }
    make_dirs_writable(path);
    not_found(fs::remove_dir_all(path))
}

/// Add `u+rwx` to `path` and every directory below it (best effort, symlinks not followed).
fn make_dirs_writable(path: &Path) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = (meta.mode() & 0o7777) | 0o700;
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
    if let Ok(entries) = fs::read_dir(path) {
        for e in entries.flatten() {
            make_dirs_writable(&e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        fs::File::open(path).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn old_temp_files_unused_and_rejected_entries_go_the_rest_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for name in ["old-tmp", "young-tmp"] {
            fs::write(d.join(format!(".tmp-{name}")), b"t").unwrap();
        }
        for name in ["fresh", "unused", "bad"] {
            fs::write(d.join(name), b"entry").unwrap();
        }
        age(&d.join(".tmp-old-tmp"), 7200);
        age(&d.join("unused"), 40 * 86400);
        let policy = SweepPolicy::new(Duration::from_hours(30 * 24));
        let mut removed: Vec<String> = sweep_flat(d, "entry", &policy, |n, _| n != "bad")
            .unwrap()
            .into_iter()
            .map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        assert_eq!(removed, [".tmp-old-tmp", "bad", "unused"]);
        assert!(d.join(".tmp-young-tmp").exists() && d.join("fresh").exists());
        assert!(
            sweep_flat(&d.join("absent"), "x", &policy, |_, _| true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn touch_refreshes_only_stale_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        fs::write(&f, b"x").unwrap();
        age(&f, 3 * 86400);
        touch(&f);
        let policy = SweepPolicy::new(Duration::from_hours(24));
        assert!(!policy.older(&fs::metadata(&f).unwrap(), Duration::from_hours(1)));
    }
}
