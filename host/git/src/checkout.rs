//! Write the tree of a commit into a directory, safely and exactly.
//!
//! Every path is created fresh (`create_dir`, `O_CREAT|O_EXCL` files, `symlink`), so nothing is
//! ever written through an existing entry, including a symlink the checkout itself created:
//! a second entry of the same name fails instead. Entry names are validated before use.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::{BStr, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::validate::path::component;

use crate::error::{GitError, reason};

/// Write the tree `tree` into `dest`, which must be absent or an empty directory.
///
/// On failure, whatever was written is removed again (best effort).
pub(crate) fn write_tree(
    repo: &gix::Repository,
    commit: &str,
    tree: ObjectId,
    dest: &Path,
) -> Result<(), GitError> {
    let created = prepare_dest(dest)?;
    let result = write_all(repo, tree, dest);
    if let Err(err) = result {
        clean(dest, created);
        return Err(match err {
            Failure::Io(path, source) => GitError::Io { path, source },
            Failure::Other(reason) => GitError::Checkout {
                commit: commit.to_owned(),
                reason,
            },
        });
    }
    Ok(())
}

enum Failure {
    Io(PathBuf, std::io::Error),
    Other(String),
}

/// Create `dest` or check that it is an empty directory; `true` if it was created.
fn prepare_dest(dest: &Path) -> Result<bool, GitError> {
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(GitError::DestinationNotEmpty {
                    path: dest.to_owned(),
                });
            }
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent).map_err(|e| GitError::io(parent, e))?;
            }
            make_dir(dest).map_err(|e| GitError::io(dest, e))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(GitError::DestinationNotEmpty {
                path: dest.to_owned(),
            })
        }
        Err(e) => Err(GitError::io(dest, e)),
    }
}

/// Remove what a failed checkout wrote; never follows symlinks.
fn clean(dest: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dest);
    } else if let Ok(entries) = fs::read_dir(dest) {
        for entry in entries.flatten() {
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let _ = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// Walk trees with an explicit stack (deep trees cannot overflow the call stack).
fn write_all(repo: &gix::Repository, root: ObjectId, dest: &Path) -> Result<(), Failure> {
    let mut stack = vec![(root, dest.to_owned())];
    while let Some((tree_id, dir)) = stack.pop() {
        let tree = repo
            .find_tree(tree_id)
            .map_err(|e| Failure::Other(format!("reading tree {tree_id}: {}", reason(&e))))?;
        for entry in tree.iter() {
            let entry = entry
                .map_err(|e| Failure::Other(format!("decoding tree {tree_id}: {}", reason(&e))))?;
            let name = entry.filename();
            let path = dir.join(file_name(name).map_err(Failure::Other)?);
            let id = entry.object_id();
            let io = |e| Failure::Io(path.clone(), e);
            match entry.mode().kind() {
                EntryKind::Tree => {
                    make_dir(&path).map_err(io)?;
                    stack.push((id, path.clone()));
                }
                EntryKind::Commit => make_dir(&path).map_err(io)?,
                EntryKind::Blob => write_file(&path, &blob(repo, id)?, false).map_err(io)?,
                EntryKind::BlobExecutable => {
                    write_file(&path, &blob(repo, id)?, true).map_err(io)?;
                }
                EntryKind::Link => make_symlink(&blob(repo, id)?, &path).map_err(io)?,
            }
        }
    }
    Ok(())
}

fn blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, Failure> {
    repo.find_blob(id)
        .map(|b| b.detach().data)
        .map_err(|e| Failure::Other(format!("reading blob {id}: {}", reason(&e))))
}

/// Validate a tree entry name and turn it into a single path component.
fn file_name(name: &BStr) -> Result<&std::ffi::OsStr, String> {
    let shown = name.to_str_lossy();
    if name.is_empty() {
        return Err("the tree has an entry with an empty name".to_owned());
    }
    if name.contains(&b'/') || name.contains(&0) {
        return Err(format!(
            "the tree has an entry named {shown:?} containing `/` or NUL; refusing to write it"
        ));
    }
    if name == "." || name == ".." || name.eq_ignore_ascii_case(b".git") {
        return Err(format!(
            "the tree has an entry named {shown:?}; refusing to write it"
        ));
    }
    let options = component::Options {
        protect_windows: false,
        protect_hfs: true,
        protect_ntfs: true,
    };
    component(name, None, options).map_err(|e| {
        format!("the tree has an unsafe entry named {shown:?} ({e}); refusing to write it")
    })?;
    os_str(name)
}

#[cfg(unix)]
#[allow(clippy::unnecessary_wraps)] // the same signature as the non-Unix version
fn os_str(name: &BStr) -> Result<&std::ffi::OsStr, String> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::ffi::OsStr::from_bytes(name))
}

#[cfg(not(unix))]
fn os_str(name: &BStr) -> Result<&std::ffi::OsStr, String> {
    name.to_str().map(std::ffi::OsStr::new).map_err(|_| {
        format!(
            "the entry name {:?} is not valid UTF-8",
            name.to_str_lossy()
        )
    })
}

#[cfg(unix)]
fn make_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new().mode(0o755).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_dir(path: &Path) -> std::io::Result<()> {
    fs::create_dir(path)
}

/// Create a new file (never opening an existing one) with mode 0644 or 0755, regardless of umask.
fn write_file(path: &Path, data: &[u8], executable: bool) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    // `create_new` is `O_CREAT|O_EXCL`: it fails on any existing entry, symlinks included.
    options.write(true).create_new(true);
    let mut file = options.open(path)?;
    file.write_all(data)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o755 } else { 0o644 };
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = executable;
    Ok(())
}

#[cfg(unix)]
fn make_symlink(target: &[u8], path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), path)
}

#[cfg(not(unix))]
fn make_symlink(_target: &[u8], _path: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "symlinks are only supported on Unix",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for bad in [
            "", ".", "..", ".git", ".GIT", "a/b", "a\0b", "git~1", ".git ",
        ] {
            assert!(file_name(bad.into()).is_err(), "{bad:?} should be refused");
        }
        for good in ["a", ".gitignore", ".github", "..a", "weird name"] {
            assert!(file_name(good.into()).is_ok(), "{good:?} should be allowed");
        }
    }
}
