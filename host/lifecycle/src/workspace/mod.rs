//! The host-side working directories of one build: a private copy of the app, the platform
//! dir with the user's env files, and the layers root.
//!
//! The copy is either fresh (in the build's temporary directory) or a persistent snapshot of
//! the app kept between builds ([`Workspace::create_with_snapshot`]), brought up to date by
//! copying only what changed ([`sync`]). Either way a buildpack writes only the copy, never the
//! user's files.

mod index;
mod sync;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::env::Env;
use index::Index;
pub use sync::SyncStats;

/// Errors preparing the working directories.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The app dir is missing or not a directory.
    #[error(
        "app directory {0} does not exist or is not a directory; pass an existing directory with --path"
    )]
    MissingApp(PathBuf),
    /// The app contains a file Kiln cannot copy.
    #[error("app file {0} is a device, FIFO or socket; remove it from the app directory")]
    SpecialFile(PathBuf),
    /// The layers dir given by the user is not empty.
    #[error("layers directory {0} is not empty; pass an empty or new directory")]
    LayersNotEmpty(PathBuf),
    /// The disk holding the build's private copy of the app is full.
    #[error(
        "no space left for the build's private copy of the app in {} (while copying {}); free space there, or point KILN_CACHE_DIR (the app snapshot) or TMPDIR (a temporary copy) at a larger disk",
        dir.display(),
        file.display()
    )]
    NoSpace {
        /// The build directory.
        dir: PathBuf,
        /// The app file being copied.
        file: PathBuf,
    },
    /// I/O failure.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// ENOSPC or EDQUOT: the destination is full.
fn is_no_space(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError {
    let path = path.to_path_buf();
    move |source| WorkspaceError::Io {
        action,
        path,
        source,
    }
}

/// Prefix of the temporary build directories (in the system temp dir).
pub const BUILD_DIR_PREFIX: &str = "kiln-build-";

/// The working directories; the temporary ones are removed on drop.
pub struct Workspace {
    // Field order: the interrupt registration and the locks go before the directories.
    _on_interrupt: kiln_fs::interrupt::Registration,
    _lock: std::fs::File,
    _snapshot_lock: Option<std::fs::File>,
    _temp: BuildDir,
    /// Copy of the app (guest `/workspace`): in the temporary dir, or a persistent snapshot.
    pub app: PathBuf,
    /// Platform dir (guest `/platform`).
    pub platform: PathBuf,
    /// Layers root.
    pub layers: PathBuf,
    /// Digest of the app's paths, kinds and sizes.
    pub app_fingerprint: [u8; 32],
    /// What bringing the copy up to date did.
    pub sync: SyncStats,
    /// Whether the copy is a persistent snapshot (false: a fresh copy in the temporary dir).
    pub persistent: bool,
}

/// The temporary build directory, removed on drop on all cores: a buildpack may have left
/// hundreds of thousands of files in its layers.
struct BuildDir(tempfile::TempDir);

impl Drop for BuildDir {
    fn drop(&mut self) {
        let path = self.0.path();
        if let Err(e) =
            kiln_fs::remove_tree::remove_tree(path, kiln_fs::remove_tree::default_threads())
        {
            tracing::warn!(
                "could not remove the build directory {}: {e}",
                path.display()
            );
        }
    }
}

/// Where a persistent snapshot keeps its files.
struct SnapshotPaths {
    tree: PathBuf,
    index: PathBuf,
    lock: PathBuf,
}

impl SnapshotPaths {
    fn new(dir: &Path) -> Self {
        Self {
            tree: dir.join("tree"),
            index: dir.join("index"),
            lock: dir.join("lock"),
        }
    }
}

impl Workspace {
    /// Copy `app_src` into a new temporary workspace (every file and directory stamped with
    /// `epoch_seconds`, so guests cannot observe the source's mtimes or the copy time), write
    /// the platform env files, and use `layers` (must be empty or absent) or a temporary
    /// layers dir.
    pub fn create(
        app_src: &Path,
        platform_env: &Env,
        layers: Option<&Path>,
        epoch_seconds: u64,
    ) -> Result<Self, WorkspaceError> {
        Self::create_filtered(app_src, platform_env, layers, epoch_seconds, &|_, _| true)
    }

    /// [`Self::create`], copying only the app entries `include` accepts: it gets each path
    /// relative to the app dir and whether it is a directory; a directory it refuses is not
    /// entered (a project's `include`/`exclude`).
    pub fn create_filtered(
        app_src: &Path,
        platform_env: &Env,
        layers: Option<&Path>,
        epoch_seconds: u64,
        include: &dyn Fn(&Path, bool) -> bool,
    ) -> Result<Self, WorkspaceError> {
        Self::create_with_snapshot(app_src, None, platform_env, layers, epoch_seconds, include)
    }

    /// [`Self::create_filtered`], keeping the copy of the app in `snapshot` (a directory Kiln
    /// owns, one per app) between builds: only files that changed in the app, or that a
    /// buildpack changed in the copy, are copied again, and what vanished is removed. An
    /// unchanged app copies nothing and its files keep their inodes, so layers made from it
    /// are recognised without reading them. When another build holds the snapshot, or it
    /// cannot be brought up to date, the build gets a fresh temporary copy instead.
    pub fn create_with_snapshot(
        app_src: &Path,
        snapshot: Option<&Path>,
        platform_env: &Env,
        layers: Option<&Path>,
        epoch_seconds: u64,
        include: &dyn Fn(&Path, bool) -> bool,
    ) -> Result<Self, WorkspaceError> {
        if !app_src.is_dir() {
            return Err(WorkspaceError::MissingApp(app_src.to_path_buf()));
        }
        kiln_fs::interrupt::sweep_stale_builds(&std::env::temp_dir(), BUILD_DIR_PREFIX);
        let temp = tempfile::Builder::new()
            .prefix(BUILD_DIR_PREFIX)
            .tempdir()
            .map_err(io("create a temporary directory in", &std::env::temp_dir()))?;
        let on_interrupt = kiln_fs::interrupt::remove_tree_on_interrupt(temp.path());
        // Held while the build runs, so later builds can tell this dir is not stale.
        let lock_path = temp.path().join(kiln_fs::interrupt::BUILD_DIR_LOCK);
        let lock = std::fs::File::create(&lock_path).map_err(io("create", &lock_path))?;
        lock.lock().map_err(io("lock", &lock_path))?;
        let snapshot = snapshot.and_then(lock_snapshot);
        let (app, fingerprint, stats, snapshot_lock) =
            if let Some((paths, snapshot_lock)) = snapshot {
                let (fingerprint, stats) = sync_snapshot(app_src, &paths, epoch_seconds, include)?;
                (paths.tree, fingerprint, stats, Some(snapshot_lock))
            } else {
                let app = temp.path().join("workspace");
                let (fingerprint, stats, _) =
                    sync_into(app_src, &app, &Index::new(epoch_seconds), include)?;
                (app, fingerprint, stats, None)
            };
        let platform = temp.path().join("platform");
        let env_dir = platform.join("env");
        std::fs::create_dir_all(&env_dir).map_err(io("create", &env_dir))?;
        for (name, value) in platform_env.pairs() {
            let path = env_dir.join(&name);
            std::fs::write(&path, value).map_err(io("write", &path))?;
        }
        let layers = if let Some(dir) = layers {
            if dir.exists()
                && std::fs::read_dir(dir)
                    .map_err(io("read", dir))?
                    .next()
                    .is_some()
            {
                return Err(WorkspaceError::LayersNotEmpty(dir.to_path_buf()));
            }
            std::fs::create_dir_all(dir).map_err(io("create", dir))?;
            dir.to_path_buf()
        } else {
            let dir = temp.path().join("layers");
            std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
            dir
        };
        Ok(Self {
            _on_interrupt: on_interrupt,
            _lock: lock,
            persistent: snapshot_lock.is_some(),
            _snapshot_lock: snapshot_lock,
            _temp: BuildDir(temp),
            app,
            platform,
            layers,
            app_fingerprint: fingerprint,
            sync: stats,
        })
    }
}

/// The snapshot at `dir`, locked for this build; `None` (a fresh copy instead) when another
/// build holds it or it cannot be set up.
fn lock_snapshot(dir: &Path) -> Option<(SnapshotPaths, std::fs::File)> {
    let paths = SnapshotPaths::new(dir);
    let opened = std::fs::create_dir_all(dir).and_then(|()| {
        std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&paths.lock)
    });
    let file = match opened {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot use the app snapshot; copying the app afresh");
            return None;
        }
    };
    if file.try_lock().is_ok() {
        Some((paths, file))
    } else {
        tracing::info!(dir = %dir.display(), "the app snapshot is in use by another build; copying the app afresh");
        None
    }
}

/// Bring the snapshot up to date. The index is removed before the copy changes and written
/// again after, so an interrupted sync leaves no index and the next one starts over.
fn sync_snapshot(
    app_src: &Path,
    paths: &SnapshotPaths,
    epoch_seconds: u64,
    include: &dyn Fn(&Path, bool) -> bool,
) -> Result<([u8; 32], SyncStats), WorkspaceError> {
    let old = Index::load(&paths.index)
        .filter(|i| i.stamp() == epoch_seconds)
        .unwrap_or_else(|| Index::new(epoch_seconds));
    if old.is_empty() && paths.tree.exists() {
        // No usable index: nothing in the tree can be trusted to match the app.
        sync::remove_any(&paths.tree)?;
    }
    match std::fs::remove_file(&paths.index) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("remove", &paths.index)(e)),
    }
    let (fingerprint, stats, new) = match sync_into(app_src, &paths.tree, &old, include) {
        Ok(done) => done,
        Err(e @ (WorkspaceError::SpecialFile(_) | WorkspaceError::NoSpace { .. })) => {
            return Err(e);
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not update the app snapshot; copying the app afresh");
            if paths.tree.exists() {
                sync::remove_any(&paths.tree)?;
            }
            sync_into(app_src, &paths.tree, &Index::new(epoch_seconds), include)?
        }
    };
    if let Err(e) = new.save(&paths.index) {
        tracing::warn!(path = %paths.index.display(), error = %e, "could not save the app snapshot index; the next build copies the app again");
    }
    Ok((fingerprint, stats))
}

/// One sync of `app_src` into `dst` against `old`: the fingerprint, the counters and the new
/// index.
fn sync_into(
    app_src: &Path,
    dst: &Path,
    old: &Index,
    include: &dyn Fn(&Path, bool) -> bool,
) -> Result<([u8; 32], SyncStats, Index), WorkspaceError> {
    let stamp = old.stamp();
    let mut sync = sync::Sync {
        old,
        new: Index::new(stamp),
        hasher: Sha256::new(),
        stamp: std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(stamp),
        include,
        stats: SyncStats::default(),
        pending: Vec::new(),
        dirs: Vec::new(),
    };
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    sync.dir(app_src, dst, Path::new(""))?;
    sync.finish(std::thread::available_parallelism().map_or(1, std::num::NonZero::get))?;
    Ok((sync.hasher.finalize().into(), sync.stats, sync.new))
}

#[cfg(test)]
mod tests;
