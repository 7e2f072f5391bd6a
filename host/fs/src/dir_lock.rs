//! One build at a time per output layout and per layer cache: an advisory file lock held
//! for the whole build. The lock files live in Kiln's own directory
//! (`<cache base>/locks/<sha256 of the canonical path>.lock`), so nothing is added to the
//! user's output or cache directories and a path that does not exist yet can be locked.
//! A second build waits (saying so) or, with `--no-wait`, fails at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// A held lock; released on drop (and by the OS when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// A lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another build holds it and waiting was not allowed.
    #[error(
        "another kiln build is using the {what} {}; wait for it to finish, or drop --no-wait to wait",
        path.display()
    )]
    Busy {
        /// What is locked (`output`, `layer cache`).
        what: &'static str,
        /// The locked path.
        path: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock the {what} {}: {source} (lock file {})", path.display(), lock_file.display())]
    Io {
        /// What is locked.
        what: &'static str,
        /// The locked path.
        path: PathBuf,
        /// The lock file.
        lock_file: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// `path` made absolute and canonical as far as it exists (its parent, for a new path).
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(parent), Some(name)) => parent
            .canonicalize()
            .map_or_else(|_| absolute.clone(), |p| p.join(name)),
        _ => absolute,
    }
}

impl DirLock {
    /// Lock `path` (the `what` for messages) with a lock file in `locks_dir`. When another
    /// build holds it: wait, after calling `on_wait` with a message, or fail with
    /// [`LockError::Busy`] if `!wait`.
    pub fn acquire(
        locks_dir: &Path,
        path: &Path,
        what: &'static str,
        wait: bool,
        on_wait: &dyn Fn(&str),
    ) -> Result<Self, LockError> {
        let path = canonical(path);
        let dir = locks_dir;
        let lock_file = dir.join(format!(
            "{}.lock",
            hex::encode(Sha256::digest(path.as_os_str().as_encoded_bytes()))
        ));
        let io = |source| LockError::Io {
            what,
            path: path.clone(),
            lock_file: lock_file.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_file)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) if wait => {
                on_wait(&format!(
                    "waiting for another kiln build to finish with the {what} {} (--no-wait fails instead)",
                    path.display()
                ));
                file.lock().map_err(io)?;
            }
            Err(TryLockError::WouldBlock) => return Err(LockError::Busy { what, path }),
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // For people looking at the locks dir: which path this lock is for.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", path.display());
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_busy_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let locks = tmp.path().join("locks");
        let target = tmp.path().join("not-yet");
        let first = DirLock::acquire(&locks, &target, "output", false, &|_| {}).unwrap();
        let err = DirLock::acquire(&locks, &target, "output", false, &|_| {}).unwrap_err();
        assert!(matches!(err, LockError::Busy { .. }), "{err}");
        drop(first);
        DirLock::acquire(&locks, &target, "output", false, &|_| {}).unwrap();
    }
}
