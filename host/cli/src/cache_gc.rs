//! `kiln gc --cache`: remove from Kiln's cache directory what nothing uses any more.
//!
//! - the registry store: blobs no `index.json` entry reaches, once older than an hour (pulls
//!   and builds write it without a lock; a young blob may belong to an image not yet tagged),
//!   and old `.tmp-*` files ([`kiln_oci::collect_garbage_with`]);
//! - verified-layer records, blob-cache entries and build-image rootfs trees not used for
//!   `max_age` (their last-used stamp, the mtime, is refreshed on use), records that can
//!   never match, and leftover temporary files ([`kiln_oci::cache_sweep`]);
//! - per-output layer caches (`build-cache/*`) and `docker-archive:` staging layouts
//!   (`archive-layouts/*`) not written for `max_age`, each under the lock a build of it
//!   holds (taken without waiting: one in use is skipped).
//!
//! Downloads, compiled components and unpacked buildpack artifacts are left alone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln_fs::{CachePaths, DirLock};
use kiln_oci::blob_cache::BlobCache;
use kiln_oci::cache_sweep::{Removed, SweepPolicy};
use kiln_oci::rootfs::RootfsCache;
use kiln_oci::{GcReport, OciLayout, VerifiedLayers};

use crate::error::{Error, Result};
use crate::pipeline::Reporter;

/// The default `--max-age`, in days.
pub const DEFAULT_MAX_AGE_DAYS: u64 = 30;

/// What a sweep of the cache directory removed.
#[derive(Debug, Default)]
pub struct CacheGcReport {
    /// Cache entries removed, with their sizes.
    pub removed: Vec<Removed>,
    /// Unreferenced blobs removed from the registry store.
    pub store: GcReport,
}

impl CacheGcReport {
    /// Bytes freed in all.
    pub fn freed_bytes(&self) -> u64 {
        self.removed.iter().map(|r| r.bytes).sum::<u64>() + self.store.freed_bytes
    }

    /// `Removed 4 cache entries and 2 registry-store blobs (12.0 MB) from DIR`.
    pub fn summary(&self, base: &Path) -> String {
        let n = self.removed.len();
        format!(
            "Removed {n} cache entr{} and {} registry-store blob{} ({}) from {}",
            if n == 1 { "y" } else { "ies" },
            self.store.removed,
            if self.store.removed == 1 { "" } else { "s" },
            kiln_registry::human_bytes(self.freed_bytes()),
            base.display()
        )
    }
}

/// Sweep the cache directory of `caches` (see the module docs): entries unused for
/// `max_age` go. Problems with one cache are warnings; the others are still swept.
pub fn run(
    caches: &CachePaths,
    max_age: Duration,
    reporter: &dyn Reporter,
) -> Result<CacheGcReport> {
    if caches.base().is_none() {
        return Err(Error::InvalidInput(
            "there is no cache directory to sweep (set KILN_CACHE_DIR)".into(),
        ));
    }
    let policy = SweepPolicy::new(max_age);
    let mut report = CacheGcReport::default();
    let warn = |what: &str, path: &Path, e: &dyn std::error::Error| {
        reporter.warn(&format!(
            "could not sweep the {what} {}: {}",
            path.display(),
            kiln_spec::error_chain(e)
        ));
    };

    let store = caches.registry_store();
    if store.join(kiln_oci::layout::OCI_LAYOUT_FILE).is_file() {
        match OciLayout::open(&store)
            .and_then(|l| kiln_oci::collect_garbage_with(&l, Some(policy.temp_age)))
        {
            Ok(r) => report.store = r,
            Err(e) => warn("registry store", &store, &e),
        }
    }
    if let Some(dir) = caches.verified_layers() {
        match VerifiedLayers::new(Some(dir.clone())).sweep(&policy) {
            Ok(r) => report.removed.extend(r),
            Err(e) => warn("verified-layer records", &dir, &e),
        }
    }
    if let Some(dir) = caches.layer_blobs() {
        match BlobCache::new(&dir).sweep(&policy) {
            Ok(r) => report.removed.extend(r),
            Err(e) => warn("blob cache", &dir, &e),
        }
    }
    let rootfs = caches.rootfs();
    match RootfsCache::new(&rootfs).sweep(&policy) {
        Ok(r) => report.removed.extend(r),
        Err(e) => warn("build image rootfs cache", &rootfs, &e),
    }
    let locks = caches.locks();
    let locked_dirs = [
        (caches.build_caches(), "layer cache", "layer cache"),
        (
            Some(caches.archive_layouts()),
            "output",
            "docker-archive staging layout",
        ),
    ];
    for (dir, lock_what, what) in locked_dirs {
        let Some(dir) = dir else { continue };
        match sweep_locked(&dir, &locks, lock_what, what, &policy) {
            Ok(r) => report.removed.extend(r),
            Err(e) => warn(what, &dir, &e),
        }
    }
    Ok(report)
}

/// Remove the subdirectories of `dir` not written for `max_age` (their own, `index.json`'s
/// or `blobs/sha256`'s mtime, whichever is newest), each under the `lock_what` lock a build
/// of it takes; one whose lock is held is skipped.
fn sweep_locked(
    dir: &Path,
    locks: &Path,
    lock_what: &'static str,
    what: &'static str,
    policy: &SweepPolicy,
) -> std::io::Result<Vec<Removed>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let unused = |path: &Path| {
        [
            path.to_path_buf(),
            path.join("index.json"),
            path.join("blobs/sha256"),
        ]
        .iter()
        .filter_map(|p| std::fs::symlink_metadata(p).ok())
        .all(|m| policy.older(&m, policy.max_age))
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path: PathBuf = entry.path();
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) || !unused(&path) {
            continue;
        }
        let Ok(_lock) = DirLock::acquire(locks, &path, lock_what, false, &|_| {}) else {
            continue;
        };
        if !unused(&path) {
            continue;
        }
        let bytes = kiln_oci::cache_sweep::remove_entry(&path)?;
        removed.push(Removed { what, path, bytes });
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn age(path: &Path, days: u64) {
        let t = SystemTime::now() - Duration::from_hours(24 * days);
        std::fs::File::open(path).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn layer_caches_unused_for_max_age_go_unless_a_build_holds_them() {
        let tmp = tempfile::tempdir().unwrap();
        let caches = CachePaths::at(tmp.path());
        let build_caches = caches.build_caches().unwrap();
        for name in ["old", "busy", "fresh"] {
            let d = build_caches.join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("layer.tar"), b"cached").unwrap();
        }
        age(&build_caches.join("old"), 40);
        age(&build_caches.join("busy"), 40);
        let _busy = DirLock::acquire(
            &caches.locks(),
            &build_caches.join("busy"),
            "layer cache",
            false,
            &|_| {},
        )
        .unwrap();
        let report = run(
            &caches,
            Duration::from_hours(24 * 30),
            &crate::pipeline::Silent,
        )
        .unwrap();
        assert_eq!(report.removed.len(), 1, "{:?}", report.removed);
        assert_eq!(report.removed[0].path, build_caches.join("old"));
        assert_eq!(report.freed_bytes(), 6);
        assert!(build_caches.join("busy").exists() && build_caches.join("fresh").exists());
        assert!(
            report
                .summary(tmp.path())
                .starts_with("Removed 1 cache entry and 0")
        );
    }

    #[test]
    fn without_a_cache_dir_there_is_nothing_to_sweep() {
        let err = run(
            &CachePaths::none(),
            Duration::from_hours(1),
            &crate::pipeline::Silent,
        )
        .unwrap_err();
        assert!(err.to_string().contains("KILN_CACHE_DIR"), "{err}");
    }
}
