//! Bringing a copy of the app up to date: the one walk that both makes a fresh copy and
//! refreshes a persistent snapshot.
//!
//! The walk visits the source in sorted order. A file is copied again only when its source
//! changed (size, mtime, inode, ctime or mode differ from the index) or when the copy itself
//! changed since the index was written (a buildpack wrote, replaced or removed it: its inode
//! or ctime differ; ctime cannot be set by a guest). Entries of the copy the source no longer
//! has (or the filter now refuses, or a buildpack created) are removed. Copies never follow a
//! symlink of the copy: every directory is checked with `lstat` before it is entered, and a
//! file is unlinked before it is written, so a link a buildpack planted cannot redirect a
//! write outside the copy.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::index::{FileStat, Index, IndexEntry};
use super::{WorkspaceError, io, is_no_space};

/// What a sync did, for the log and the tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncStats {
    /// Files and symlinks (re)created in the copy.
    pub copied: usize,
    /// Files and symlinks kept as they were.
    pub kept: usize,
    /// Entries removed from the copy.
    pub removed: usize,
}

/// One sync of `src` into a copy.
pub(super) struct Sync<'a> {
    /// The previous index (empty for a fresh copy).
    pub old: &'a Index,
    /// The index being built.
    pub new: Index,
    /// Digest of the app's paths, kinds and sizes (seeds guest randomness).
    pub hasher: Sha256,
    /// mtime of every file and directory of the copy.
    pub stamp: std::time::SystemTime,
    /// The app filter (relative path, is a directory).
    pub include: &'a dyn Fn(&Path, bool) -> bool,
    /// Counters.
    pub stats: SyncStats,
    /// Files to copy once the walk is done (copied on all cores by [`Self::finish`]).
    pub pending: Vec<PendingCopy>,
    /// Directories of the copy, stamped after the files are in them.
    pub dirs: Vec<std::path::PathBuf>,
}

/// A copied file's index key and entry.
type Copied = (Vec<u8>, IndexEntry);

/// A file the walk found changed: copied after the walk.
pub(super) struct PendingCopy {
    key: Vec<u8>,
    from: std::path::PathBuf,
    to: std::path::PathBuf,
    source: FileStat,
}

impl Sync<'_> {
    /// Make `dst` a copy of the directory `src` (`rel` is its path in the app).
    pub fn dir(&mut self, src: &Path, dst: &Path, rel: &Path) -> Result<(), WorkspaceError> {
        ensure_real_dir(dst)?;
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(io("read", src))?
            .collect::<Result<_, _>>()
            .map_err(io("read", src))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        let mut stale: HashSet<OsString> = std::fs::read_dir(dst)
            .map_err(io("read", dst))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(io("read", dst))?;
        for entry in entries {
            let from = entry.path();
            let to = dst.join(entry.file_name());
            let rel = rel.join(entry.file_name());
            let meta = std::fs::symlink_metadata(&from).map_err(io("inspect", &from))?;
            let ft = meta.file_type();
            if !(self.include)(&rel, ft.is_dir()) {
                continue;
            }
            stale.remove(&entry.file_name());
            self.hasher.update(rel.to_string_lossy().as_bytes());
            let key = path_bytes(&rel);
            if ft.is_symlink() {
                let target = std::fs::read_link(&from).map_err(io("read symlink", &from))?;
                self.hasher.update(b"l");
                self.hasher.update(target.to_string_lossy().as_bytes());
                self.symlink(key, &target, &to)?;
            } else if ft.is_dir() {
                self.hasher.update(b"d");
                self.dir(&from, &to, &rel)?;
            } else if ft.is_file() {
                self.hasher.update(b"f");
                self.hasher.update(meta.len().to_le_bytes());
                self.file(key, &from, &meta, &to)?;
            } else {
                return Err(WorkspaceError::SpecialFile(from));
            }
        }
        for name in stale {
            remove_any(&dst.join(name))?;
            self.stats.removed += 1;
        }
        self.dirs.push(dst.to_path_buf());
        Ok(())
    }

    /// Copy the pending files (on up to `threads` threads; each file is written to a new
    /// inode with its mode and the stamp, then recorded), then stamp every directory.
    pub fn finish(&mut self, threads: usize) -> Result<(), WorkspaceError> {
        let pending = std::mem::take(&mut self.pending);
        let threads = threads.clamp(1, 8).min(pending.len().max(1));
        let chunk = pending.len().div_ceil(threads).max(1);
        let stamp = self.stamp;
        let results: Vec<Result<Vec<Copied>, WorkspaceError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = pending
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|p| {
                                let copy = copy_file(&p.from, &p.to, stamp)?;
                                Ok((
                                    p.key.clone(),
                                    IndexEntry::File {
                                        source: p.source,
                                        copy,
                                    },
                                ))
                            })
                            .collect()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(WorkspaceError::Io {
                            action: "copy",
                            path: std::path::PathBuf::from("the app"),
                            source: std::io::Error::other("a copy thread panicked"),
                        })
                    })
                })
                .collect()
        });
        for part in results {
            for (key, entry) in part? {
                self.new.insert(key, entry);
                self.stats.copied += 1;
            }
        }
        for dir in std::mem::take(&mut self.dirs) {
            set_mtime(&dir, self.stamp)?;
        }
        Ok(())
    }

    fn file(
        &mut self,
        key: Vec<u8>,
        from: &Path,
        meta: &std::fs::Metadata,
        to: &Path,
    ) -> Result<(), WorkspaceError> {
        let source = FileStat::of(meta);
        if let Some(IndexEntry::File { source: s, copy }) = self.old.get(&key)
            && *s == source
            && std::fs::symlink_metadata(to).is_ok_and(|m| m.is_file() && FileStat::of(&m) == *copy)
        {
            self.new.insert(
                key,
                IndexEntry::File {
                    source,
                    copy: *copy,
                },
            );
            self.stats.kept += 1;
            return Ok(());
        }
        remove_if_present(to)?;
        self.pending.push(PendingCopy {
            key,
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            source,
        });
        Ok(())
    }

    fn symlink(&mut self, key: Vec<u8>, target: &Path, to: &Path) -> Result<(), WorkspaceError> {
        let target_bytes = path_bytes(target);
        let unchanged = matches!(self.old.get(&key), Some(IndexEntry::Symlink { target: t }) if *t == target_bytes)
            && std::fs::symlink_metadata(to).is_ok_and(|m| m.file_type().is_symlink())
            && std::fs::read_link(to).is_ok_and(|t| t == target);
        if unchanged {
            self.stats.kept += 1;
        } else {
            remove_if_present(to)?;
            symlink(target, to).map_err(io("create symlink", to))?;
            self.stats.copied += 1;
        }
        self.new.insert(
            key,
            IndexEntry::Symlink {
                target: target_bytes,
            },
        );
        Ok(())
    }
}

/// Copy `from` to the new file `to` (its permission bits, `stamp` as its times) and return
/// the copy's identity, all through the two open handles.
fn copy_file(
    from: &Path,
    to: &Path,
    stamp: std::time::SystemTime,
) -> Result<FileStat, WorkspaceError> {
    let no_space = |e: std::io::Error| {
        if is_no_space(&e) {
            WorkspaceError::NoSpace {
                dir: to.parent().unwrap_or(to).to_path_buf(),
                file: from.to_path_buf(),
            }
        } else {
            io("copy", from)(e)
        }
    };
    let mut src = std::fs::File::open(from).map_err(io("open", from))?;
    let perms = src.metadata().map_err(io("inspect", from))?.permissions();
    let mut dst = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(no_space)?;
    std::io::copy(&mut src, &mut dst).map_err(no_space)?;
    dst.set_permissions(perms)
        .map_err(io("set the mode of", to))?;
    dst.set_times(
        std::fs::FileTimes::new()
            .set_accessed(stamp)
            .set_modified(stamp),
    )
    .map_err(io("set the times of", to))?;
    Ok(FileStat::of(&dst.metadata().map_err(io("inspect", to))?))
}

/// The index key of an app-relative path.
#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().as_bytes().to_vec()
}

/// `dst` is a directory that is not a symlink (anything else there is removed first).
fn ensure_real_dir(dst: &Path) -> Result<(), WorkspaceError> {
    match std::fs::symlink_metadata(dst) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => remove_any(dst)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("inspect", dst)(e)),
    }
    std::fs::create_dir(dst).map_err(io("create", dst))
}

fn remove_if_present(path: &Path) -> Result<(), WorkspaceError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => remove_any(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("inspect", path)(e)),
    }
}

/// Remove a file, symlink or directory tree without following symlinks.
pub(super) fn remove_any(path: &Path) -> Result<(), WorkspaceError> {
    let meta = std::fs::symlink_metadata(path).map_err(io("inspect", path))?;
    if meta.is_dir() {
        make_tree_writable(path);
        std::fs::remove_dir_all(path).map_err(io("remove", path))
    } else {
        std::fs::remove_file(path).map_err(io("remove", path))
    }
}

/// Give the owner write and search permission on every directory under `dir`, so a tree a
/// buildpack made read-only can be removed.
#[cfg(unix)]
fn make_tree_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_tree_writable(&e.path());
            }
        }
    }
}

#[cfg(not(unix))]
fn make_tree_writable(_dir: &Path) {}

pub(super) fn set_mtime(path: &Path, stamp: std::time::SystemTime) -> Result<(), WorkspaceError> {
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
