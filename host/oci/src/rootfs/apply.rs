//! Applying layer tars to a tree with OCI semantics, never writing or deleting outside it.
//!
//! Every entry's parent directories are resolved inside the root first (`Tree::resolve_dir`):
//! symlinks among them are followed as a chroot would, with absolute targets and `..` taken
//! from the root and never above it, so the resolved path has no symlink in it. The entry's
//! own name is never followed: what is there is removed before the entry is created (a
//! directory over a directory is merged). The tree is private to one unpack while it is
//! written, so nothing changes between the resolution and the write.

use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use tar::EntryType;

use super::{RootfsError, tree};
use crate::Digest;

/// Names starting with this hide a lower layer's entry.
const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name that empties its directory of lower layers' entries.
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// Symlinks followed while resolving one path before giving up (Linux's limit).
const MAX_SYMLINK_FOLLOWS: usize = 40;

/// An entry that could not be applied.
pub(super) struct Failure {
    /// The entry name (empty when the tar itself could not be read).
    path: String,
    problem: Problem,
}

enum Problem {
    /// The entry is refused; says why.
    Refused(String),
    /// An I/O operation failed: what was being done.
    Io(&'static str, io::Error),
}

type Step<T = ()> = Result<T, Problem>;

fn io_step(action: &'static str) -> impl FnOnce(io::Error) -> Problem {
    move |e| Problem::Io(action, e)
}

impl Failure {
    /// The error for this failure in layer `index` (`digest`).
    pub(super) fn into_error(self, index: usize, digest: &Digest) -> RootfsError {
        let digest = digest.clone();
        match self.problem {
            Problem::Refused(reason) => RootfsError::Entry {
                index,
                digest,
                path: self.path,
                reason,
            },
            Problem::Io(action, source) => RootfsError::EntryIo {
                index,
                digest,
                action,
                path: self.path,
                source,
            },
        }
    }
}

/// A tree being built from layers.
pub(super) struct Tree {
    root: PathBuf,
    /// Paths (resolved, relative to the root) the current layer wrote, with their ancestors:
    /// the layer's own entries, which its whiteouts and opaque markers keep.
    this_layer: HashSet<PathBuf>,
    /// Device nodes, fifos and entries of unknown types left out.
    skipped_special: u64,
}

impl Tree {
    /// A tree in the existing directory `root`.
    pub(super) fn new(root: PathBuf) -> Self {
        Self {
            root,
            this_layer: HashSet::new(),
            skipped_special: 0,
        }
    }

    /// Device nodes, fifos and entries of unknown types left out so far.
    pub(super) fn skipped_special(&self) -> u64 {
        self.skipped_special
    }

    /// Apply the layer tar `reader` on top of what is there.
    pub(super) fn apply(&mut self, reader: impl Read) -> Result<(), Failure> {
        self.this_layer.clear();
        let unreadable = |e| Failure {
            path: String::new(),
            problem: Problem::Io("read the layer", e),
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(unreadable)? {
            let mut entry = entry.map_err(unreadable)?;
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            self.entry(&mut entry)
                .map_err(|problem| Failure { path, problem })?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Step {
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let parts = components(&entry.path_bytes()).ok_or_else(|| {
            Problem::Refused("has a `..` component, which could reach outside the rootfs".into())
        })?;
        // The root directory itself keeps its own mode.
        let Some((name, parents)) = parts.split_last() else {
            return Ok(());
        };
        if name.as_bytes() == OPAQUE_MARKER {
            return self.opaque(parents);
        }
        if let Some(hidden) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(parents, hidden);
        }
        match kind {
            EntryType::Directory => self.dir(parents, name, mode_of(entry)?),
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(parents, name, entry)
            }
            EntryType::Symlink => self.symlink(parents, name, &link_target(entry)?),
            EntryType::Link => self.hard_link(parents, name, &link_target(entry)?),
            _ => {
                self.skipped_special += 1;
                Ok(())
            }
        }
    }

    fn dir(&mut self, parents: &[OsString], name: &OsStr, mode: u32) -> Step {
        let (rel, full) = self.place(parents, name)?;
        let mode = (mode & 0o777) | 0o700;
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => fs::set_permissions(&full, fs::Permissions::from_mode(mode))
                .map_err(io_step("set the mode of the directory"))?,
            Ok(_) => {
                tree::remove_entry(&full).map_err(io_step("replace"))?;
                tree::make_dir(&full, mode).map_err(io_step("create the directory"))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tree::make_dir(&full, mode).map_err(io_step("create the directory"))?;
            }
            Err(e) => return Err(Problem::Io("inspect", e)),
        }
        self.note(&rel);
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        parents: &[OsString],
        name: &OsStr,
        entry: &mut tar::Entry<'_, R>,
    ) -> Step {
        let mode = (mode_of(entry)? & 0o777) | 0o400;
        let mtime = entry.header().mtime().ok();
        let (rel, full) = self.place(parents, name)?;
        tree::remove_entry(&full).map_err(io_step("replace"))?;
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&full)
            .map_err(io_step("create the file"))?;
        io::copy(entry, &mut out).map_err(io_step("unpack the file"))?;
        out.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_step("set the mode of the file"))?;
        if let Some(secs) = mtime {
            let _ = out.set_modified(UNIX_EPOCH + Duration::from_secs(secs));
        }
        self.note(&rel);
        Ok(())
    }

    /// A symlink to `target`, stored verbatim (it is only resolved later, in the sandbox).
    fn symlink(&mut self, parents: &[OsString], name: &OsStr, target: &[u8]) -> Step {
        let (rel, full) = self.place(parents, name)?;
        tree::remove_entry(&full).map_err(io_step("replace"))?;
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &full)
            .map_err(io_step("create the symlink"))?;
        self.note(&rel);
        Ok(())
    }

    /// A hard link to `target`, a path in the tree that must already be a non-directory
    /// (a symlink there is linked itself, not followed).
    fn hard_link(&mut self, parents: &[OsString], name: &OsStr, target: &[u8]) -> Step {
        let missing = || {
            Problem::Refused(format!(
                "is a hard link to {:?}, which is not a file in the rootfs (so far)",
                String::from_utf8_lossy(target)
            ))
        };
        let parts = components(target).ok_or_else(missing)?;
        let (target_name, target_parents) = parts.split_last().ok_or_else(missing)?;
        let source = self
            .resolve_dir(target_parents, false)?
            .map(|dir| dir.join(target_name))
            .filter(|s| fs::symlink_metadata(self.root.join(s)).is_ok_and(|m| !m.is_dir()))
            .ok_or_else(missing)?;
        let (rel, full) = self.place(parents, name)?;
        if rel == source {
            return Ok(());
        }
        tree::remove_entry(&full).map_err(io_step("replace"))?;
        fs::hard_link(self.root.join(&source), &full).map_err(io_step("create the hard link"))?;
        self.note(&rel);
        Ok(())
    }

    /// Delete `hidden` in `parents` unless this layer wrote it.
    fn whiteout(&mut self, parents: &[OsString], hidden: &[u8]) -> Step {
        match hidden {
            b"" | b"." | b".." => {
                return Err(Problem::Refused("is a whiteout that names no entry".into()));
            }
            // aufs metadata (`.wh..wh.plnk`, ...), not a whiteout.
            h if h.starts_with(WHITEOUT_PREFIX) => return Ok(()),
            _ => {}
        }
        let Some(dir) = self.resolve_dir(parents, false)? else {
            return Ok(());
        };
        let rel = dir.join(OsStr::from_bytes(hidden));
        if self.this_layer.contains(&rel) {
            return Ok(());
        }
        tree::remove_entry(&self.root.join(rel)).map_err(io_step("remove a whited-out entry"))
    }

    /// Empty the directory `parents` of what lower layers put there.
    fn opaque(&mut self, parents: &[OsString]) -> Step {
        match self.resolve_dir(parents, false)? {
            Some(dir) => self.remove_lower(&dir),
            None => Ok(()),
        }
    }

    fn remove_lower(&self, rel: &Path) -> Step {
        let names = tree::sorted_names(&self.root.join(rel)).map_err(io_step("list"))?;
        for name in names {
            let child = rel.join(name);
            let full = self.root.join(&child);
            if !self.this_layer.contains(&child) {
                tree::remove_entry(&full).map_err(io_step("remove a lower layer's entry"))?;
            } else if fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
                self.remove_lower(&child)?;
            }
        }
        Ok(())
    }

    /// The relative and full path of entry `name` in the (created) directory `parents`.
    fn place(&mut self, parents: &[OsString], name: &OsStr) -> Step<(PathBuf, PathBuf)> {
        let rel = self
            .resolve_dir(parents, true)?
            .unwrap_or_default()
            .join(name);
        let full = self.root.join(&rel);
        Ok((rel, full))
    }

    /// The real directory (relative to the root, no symlink in it) that `parents` names,
    /// following symlinks inside the root as a chroot would. Missing directories are created
    /// (mode 0755) when `create`, else the answer is `None`.
    fn resolve_dir(&mut self, parents: &[OsString], create: bool) -> Step<Option<PathBuf>> {
        let mut pending: VecDeque<OsString> = parents.iter().cloned().collect();
        let mut at = PathBuf::new();
        let mut follows = 0;
        while let Some(part) = pending.pop_front() {
            match part.as_bytes() {
                b"" | b"." => continue,
                b".." => {
                    at.pop();
                    continue;
                }
                _ => {}
            }
            let next = at.join(&part);
            let full = self.root.join(&next);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => at = next,
                Ok(m) if m.file_type().is_symlink() => {
                    follows += 1;
                    if follows > MAX_SYMLINK_FOLLOWS {
                        return Err(Problem::Refused(
                            "lies under too many levels of symlinks".into(),
                        ));
                    }
                    let target = fs::read_link(&full).map_err(io_step("read a symlink"))?;
                    let target = target.as_os_str().as_bytes();
                    if target.starts_with(b"/") {
                        at = PathBuf::new();
                    }
                    for p in target.split(|b| *b == b'/').rev() {
                        pending.push_front(OsStr::from_bytes(p).to_owned());
                    }
                }
                Ok(_) => {
                    return Err(Problem::Refused(format!(
                        "lies under {}, which is not a directory",
                        next.display()
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    tree::make_dir(&full, 0o755).map_err(io_step("create a parent directory"))?;
                    self.note(&next);
                    at = next;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Problem::Io("inspect a parent directory", e)),
            }
        }
        Ok(Some(at))
    }

    /// Record that this layer wrote `rel` (and so its ancestors).
    fn note(&mut self, rel: &Path) {
        for a in rel.ancestors() {
            if !self.this_layer.insert(a.to_path_buf()) {
                break;
            }
        }
    }
}

/// The components of an entry name, without empty and `.` ones (so a leading `/` or `./`
/// is dropped); `None` when one is `..`.
fn components(raw: &[u8]) -> Option<Vec<OsString>> {
    let mut parts = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            p => parts.push(OsStr::from_bytes(p).to_owned()),
        }
    }
    Some(parts)
}

fn mode_of<R: Read>(entry: &tar::Entry<'_, R>) -> Step<u32> {
    entry
        .header()
        .mode()
        .map_err(|e| Problem::Refused(format!("has an unreadable mode field: {e}")))
}

fn link_target<R: Read>(entry: &tar::Entry<'_, R>) -> Step<Vec<u8>> {
    entry
        .link_name_bytes()
        .map(std::borrow::Cow::into_owned)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Problem::Refused("is a link without a target".into()))
}
