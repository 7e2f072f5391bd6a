//! A cross-process lock on one mirror, using the operating system's advisory file lock.
//!
//! `std::fs::File::try_lock` / `try_lock_shared` (`flock(2)` on Unix, `LockFileEx` on Windows)
//! is polled until a deadline. The OS drops the lock when the holder exits, so a crashed
//! process never leaves a stale lock behind; the lock file itself is left in place.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::GitError;

/// Exclusive (fetching) or shared (reading) access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Shared,
    Exclusive,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

impl Lock {
    /// Wait up to `timeout` for `access` to the lock file at `path` (created if missing).
    pub(crate) fn acquire(
        path: &Path,
        access: Access,
        timeout: Duration,
        url: &str,
    ) -> Result<Self, GitError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| GitError::io(path, e))?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(10);
        loop {
            let attempt = match access {
                Access::Shared => file.try_lock_shared(),
                Access::Exclusive => file.try_lock(),
            };
            match attempt {
                Ok(()) => return Ok(Lock { _file: file }),
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(GitError::Locked {
                            url: url.to_owned(),
                            path: PathBuf::from(path),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(250));
                }
                Err(TryLockError::Error(e)) => return Err(GitError::io(path, e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.lock");
        let held = Lock::acquire(&path, Access::Exclusive, Duration::from_secs(1), "u").unwrap();
        let err =
            Lock::acquire(&path, Access::Shared, Duration::from_millis(100), "u").unwrap_err();
        assert!(matches!(err, GitError::Locked { .. }), "{err}");
        drop(held);
        let _a = Lock::acquire(&path, Access::Shared, Duration::from_secs(1), "u").unwrap();
        let _b = Lock::acquire(&path, Access::Shared, Duration::from_secs(1), "u").unwrap();
    }
}
