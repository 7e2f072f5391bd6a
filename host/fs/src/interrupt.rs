//! SIGINT and SIGTERM: remove what this process was writing and exit with 130 or 143, as
//! shells expect. The previous image stays tagged (its `index.json` is only ever replaced by
//! a rename). What a SIGKILL leaves behind is swept by later builds
//! ([`sweep_stale_builds`], [`sweep_temp_files`]).
//!
//! Code that creates temporary state registers it here; the registration is dropped (and
//! nothing is removed) when the state is cleaned up normally.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// What to remove on an interrupt.
#[derive(Debug, Clone)]
enum Litter {
    /// A whole directory tree.
    Tree(PathBuf),
    /// Files in a directory whose names start with a prefix (blob temp files).
    Prefixed(PathBuf, String),
}

static REGISTERED: Mutex<Vec<(u64, Litter)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A registration; dropping it forgets the litter (it was cleaned up normally).
#[derive(Debug)]
#[must_use = "the registration ends when this is dropped"]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        registered().retain(|(id, _)| *id != self.0);
    }
}

fn registered() -> std::sync::MutexGuard<'static, Vec<(u64, Litter)>> {
    REGISTERED.lock().unwrap_or_else(PoisonError::into_inner)
}

fn register(litter: Litter) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    registered().push((id, litter));
    Registration(id)
}

/// Remove the tree at `dir` if the process is interrupted.
pub fn remove_tree_on_interrupt(dir: &Path) -> Registration {
    register(Litter::Tree(dir.to_path_buf()))
}

/// Remove the files named `prefix*` in `dir` if the process is interrupted.
pub fn remove_temp_files_on_interrupt(dir: &Path, prefix: &str) -> Registration {
    register(Litter::Prefixed(dir.to_path_buf(), prefix.to_owned()))
}

/// Remove everything registered.
fn clean_up() {
    let litter: Vec<Litter> = registered().iter().map(|(_, l)| l.clone()).collect();
    litter.iter().for_each(remove);
}

fn remove(litter: &Litter) {
    match litter {
        Litter::Tree(dir) => {
            let _ = crate::remove_tree::remove_tree(dir, crate::remove_tree::default_threads());
        }
        Litter::Prefixed(dir, prefix) => remove_prefixed(dir, prefix, None),
    }
}

/// Remove files `prefix*` in `dir`, only those modified before `before` when given.
fn remove_prefixed(dir: &Path, prefix: &str, before: Option<SystemTime>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let old_enough = before.is_none_or(|limit| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < limit)
        });
        if old_enough {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Install the SIGINT/SIGTERM handler (once, from the CLI).
pub fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("kiln-signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    eprintln!("kiln: interrupted; removing temporary files");
                    clean_up();
                    std::process::exit(128 + signal);
                }
            });
    }
}

/// After a SIGKILL: remove temp files (`prefix*`) in `dir` older than `started`. Call it
/// only while holding the lock of the directory they belong to.
pub fn sweep_temp_files(dir: &Path, prefix: &str, started: SystemTime) {
    remove_prefixed(dir, prefix, Some(started));
}

/// Name of the lock file each build holds inside its temporary build directory.
pub const BUILD_DIR_LOCK: &str = ".kiln-build.lock";

/// Unlocked build directories older than this are left by killed builds.
const STALE_BUILD_DIR: Duration = Duration::from_mins(1);

/// After a SIGKILL: remove `<temp>/<prefix>*` build directories no running build holds (their
/// lock file is free) and that are older than a minute.
pub fn sweep_stale_builds(temp: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let path = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_BUILD_DIR));
        let Ok(lock) = std::fs::File::open(path.join(BUILD_DIR_LOCK)) else {
            continue;
        };
        if old && lock.try_lock().is_ok() {
            let _ = crate::remove_tree::remove_tree(&path, crate::remove_tree::default_threads());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_litter_is_removed_and_dropped_registrations_are_forgotten() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        let kept = tmp.path().join("kept");
        std::fs::create_dir_all(tree.join("sub")).unwrap();
        std::fs::create_dir_all(&kept).unwrap();
        std::fs::write(tmp.path().join(".tmp-1"), "x").unwrap();
        std::fs::write(tmp.path().join("blob"), "x").unwrap();
        let a = remove_tree_on_interrupt(&tree);
        let b = remove_temp_files_on_interrupt(tmp.path(), ".tmp-");
        let dropped = remove_tree_on_interrupt(&kept);
        let dropped_id = dropped.0;
        drop(dropped);
        // Only this test's registrations (other tests may register theirs meanwhile).
        let mine: Vec<Litter> = registered()
            .iter()
            .filter(|(id, _)| [a.0, b.0, dropped_id].contains(id))
            .map(|(_, l)| l.clone())
            .collect();
        assert_eq!(mine.len(), 2);
        mine.iter().for_each(remove);
        assert!(!tree.exists());
        assert!(kept.exists());
        assert!(!tmp.path().join(".tmp-1").exists());
        assert!(tmp.path().join("blob").exists());
    }
}
