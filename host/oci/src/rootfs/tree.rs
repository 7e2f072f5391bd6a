//! File-tree helpers of the rootfs cache: the listing hash that detects damage, and removal
//! that never follows a symlink and gets past directories without write permission.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::Digest;

/// The hash of a listing of the tree at `root`: for every entry in name order its relative
/// path, type, permission bits, size (files) and target (symlinks). Reads metadata only.
pub(super) fn listing_digest(root: &Path) -> io::Result<Digest> {
    let mut hasher = Sha256::new();
    list(root, Path::new(""), &mut hasher)?;
    Ok(Digest::from_sha256(hasher.finalize().into()))
}

fn list(root: &Path, rel: &Path, hasher: &mut Sha256) -> io::Result<()> {
    let full = root.join(rel);
    let meta = fs::symlink_metadata(&full)?;
    let kind = meta.file_type();
    let mode = meta.mode() & 0o7777;
    hasher.update(rel.as_os_str().as_bytes());
    hasher.update([0]);
    if kind.is_dir() {
        hasher.update(format!("d {mode:o}\0"));
        for name in sorted_names(&full)? {
            list(root, &rel.join(name), hasher)?;
        }
    } else if kind.is_file() {
        hasher.update(format!("f {mode:o} {}\0", meta.len()));
    } else if kind.is_symlink() {
        hasher.update(b"l ");
        hasher.update(fs::read_link(&full)?.as_os_str().as_bytes());
        hasher.update([0]);
    } else {
        hasher.update(format!("o {mode:o}\0"));
    }
    Ok(())
}

/// The names in directory `dir`, sorted.
pub(super) fn sorted_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()?;
    names.sort();
    Ok(names)
}

/// Create the directory `path` with exactly the permission bits `mode` (no umask).
pub(super) fn make_dir(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().mode(0o700).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Remove whatever is at `path` (a directory with all it holds) without following a symlink;
/// nothing there is fine.
pub(super) fn remove_entry(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => remove_tree(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) use crate::cache_sweep::remove_tree;
