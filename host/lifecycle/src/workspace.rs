//! The host-side working directories of one build: a private copy of the app, the platform
//! dir with the user's env files, and the layers root.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::env::Env;

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
        "no space left for the build's private copy of the app in {} (while copying {}); free space there or set TMPDIR to a larger disk",
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
    // Field order: the interrupt registration and the lock go before the directory.
    _on_interrupt: kiln_fs::interrupt::Registration,
    _lock: std::fs::File,
    _temp: tempfile::TempDir,
    /// Copy of the app (guest `/workspace`).
    pub app: PathBuf,
    /// Platform dir (guest `/platform`).
    pub platform: PathBuf,
    /// Layers root.
    pub layers: PathBuf,
    /// Digest of the app's paths, kinds and sizes.
    pub app_fingerprint: [u8; 32],
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
        let app = temp.path().join("workspace");
        let mut hasher = Sha256::new();
        let stamp =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(epoch_seconds);
        let copy = Copy {
            hasher: &mut hasher,
            stamp,
            include,
        };
        copy.tree(app_src, &app, Path::new(""))?;
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
            _temp: temp,
            app,
            platform,
            layers,
            app_fingerprint: hasher.finalize().into(),
        })
    }
}

/// One copy of the app: the fingerprint being hashed, the stamp and the filter.
struct Copy<'a> {
    hasher: &'a mut Sha256,
    stamp: std::time::SystemTime,
    include: &'a dyn Fn(&Path, bool) -> bool,
}

impl Copy<'_> {
    /// Copy a tree without following symlinks (they are recreated as symlinks); regular files
    /// keep their permission bits. Entries are visited in sorted order so the fingerprint is
    /// stable.
    fn tree(mut self, src: &Path, dst: &Path, rel: &Path) -> Result<(), WorkspaceError> {
        self.copy_dir(src, dst, rel)
    }

    fn copy_dir(&mut self, src: &Path, dst: &Path, rel: &Path) -> Result<(), WorkspaceError> {
        std::fs::create_dir_all(dst).map_err(io("create", dst))?;
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(io("read", src))?
            .collect::<Result<_, _>>()
            .map_err(io("read", src))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let from = entry.path();
            let to = dst.join(entry.file_name());
            let rel = rel.join(entry.file_name());
            let meta = std::fs::symlink_metadata(&from).map_err(io("inspect", &from))?;
            let ft = meta.file_type();
            if !(self.include)(&rel, ft.is_dir()) {
                continue;
            }
            self.hasher.update(rel.to_string_lossy().as_bytes());
            if ft.is_symlink() {
                let target = std::fs::read_link(&from).map_err(io("read symlink", &from))?;
                self.hasher.update(b"l");
                self.hasher.update(target.to_string_lossy().as_bytes());
                symlink(&target, &to).map_err(io("create symlink", &to))?;
            } else if ft.is_dir() {
                self.hasher.update(b"d");
                self.copy_dir(&from, &to, &rel)?;
            } else if ft.is_file() {
                self.hasher.update(b"f");
                self.hasher.update(meta.len().to_le_bytes());
                std::fs::copy(&from, &to).map_err(|e| {
                    if is_no_space(&e) {
                        WorkspaceError::NoSpace {
                            dir: dst.to_path_buf(),
                            file: from.clone(),
                        }
                    } else {
                        io("copy", &from)(e)
                    }
                })?;
                set_mtime(&to, self.stamp)?;
            } else {
                return Err(WorkspaceError::SpecialFile(from));
            }
        }
        set_mtime(dst, self.stamp)
    }
}

fn set_mtime(path: &Path, stamp: std::time::SystemTime) -> Result<(), WorkspaceError> {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .or_else(|_| std::fs::File::open(path))
        .map_err(io("open", path))?;
    let times = std::fs::FileTimes::new()
        .set_accessed(stamp)
        .set_modified(stamp);
    file.set_times(times).map_err(io("set the times of", path))
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::windows::fs::symlink_file(target, link)
}
