//! Safe extraction of `.tar`, `.tar.gz`/`.tgz` and `.zip` archives into a directory. Buildpacks
//! use it through `kiln_sdk::extract`; the host uses it for the `extract` import.
//!
//! Every entry path must stay inside the destination: absolute paths, `..` components, and
//! entries under a symlink are rejected. Symlinks must be relative and point inside the
//! destination without passing through another link; hard links become copies of an earlier
//! entry. Devices and FIFOs are skipped. File modes are not applied (WASI has none): the
//! report lists executable files so the layer can mark them.
//!
//! It also computes Go module hashes (`h1:` in `go.sum`) of module zips and `go.mod` files:
//! [`go_h1`].

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

mod error;
mod go_h1;
mod zip;

pub use error::Error;
pub use go_h1::{
    MAX_GO_MOD_SIZE, MAX_GO_ZIP_CONTENT, MAX_GO_ZIP_SIZE, go_h1, go_h1_file, go_h1_of_digests,
};

pub use zip::{extract_zip, extract_zip_from};

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractReport {
    /// Regular files written (hard links included).
    pub files: usize,
    /// Symlinks created.
    pub symlinks: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Destination-relative paths (with `/`) of files whose mode has an execute bit, sorted.
    pub executables: Vec<String>,
}

/// Options of an extraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Leading path components dropped from every entry (`tar --strip-components`); entries
    /// with no components left are skipped.
    pub strip_components: usize,
}

/// Extract the gzip-compressed tar at `archive` into `dest` (created if missing).
pub fn extract_tar_gz(
    archive: &Path,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    let file = std::fs::File::open(archive).map_err(|e| Error::io("open", archive, &e))?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::with_capacity(256 * 1024, file));
    extract_tar(gz, dest, options).map_err(|e| in_archive(archive, &e))
}

fn in_archive(archive: &Path, e: &Error) -> Error {
    Error::msg(format!("{}: {}", archive.display(), e.message()))
}

/// Extract an uncompressed tar stream into `dest` (created if missing).
pub fn extract_tar(
    reader: impl Read,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    let mut tree = Tree::new(dest, options)?;
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| Error::msg(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::msg(format!("corrupt tar archive: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| Error::msg(format!("bad entry name: {e}")))?
            .into_owned();
        let Some(rel) = tree.place(&raw)? else {
            continue;
        };
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            tree.dir(&rel)?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            let mode = entry.header().mode().unwrap_or(0o644);
            tree.file(&rel, &mut entry, mode & 0o111 != 0)?;
        } else if kind.is_symlink() {
            let link_target = entry
                .link_name()
                .map_err(|e| Error::msg(format!("bad link target: {e}")))?
                .ok_or_else(|| Error::msg(format!("symlink {} has no target", raw.display())))?
                .into_owned();
            tree.symlink(&rel, &link_target)?;
        } else if kind.is_hard_link() {
            let source = entry
                .link_name()
                .map_err(|e| Error::msg(format!("bad link target: {e}")))?
                .ok_or_else(|| Error::msg(format!("hard link {} has no target", raw.display())))?
                .into_owned();
            tree.hard_link(&rel, &source)?;
        }
        // Devices, FIFOs, and pax/GNU metadata entries are skipped.
    }
    Ok(tree.finish())
}

/// The destination tree of one extraction: every write goes through its checks.
pub(crate) struct Tree<'a> {
    dest: &'a Path,
    strip: usize,
    /// `dest` was empty at the start: nothing needs removing before a first write.
    fresh: bool,
    /// Relative paths written so far (files, links) and directories known to exist; these
    /// save a WASI call or two per entry, which matters for thousands of small files.
    written: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
    links: BTreeSet<PathBuf>,
    executables: BTreeSet<String>,
    report: ExtractReport,
}

impl<'a> Tree<'a> {
    pub(crate) fn new(dest: &'a Path, options: ExtractOptions) -> Result<Self, Error> {
        std::fs::create_dir_all(dest).map_err(|e| Error::io("create", dest, &e))?;
        let fresh = std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_none());
        Ok(Self {
            dest,
            strip: options.strip_components,
            fresh,
            written: BTreeSet::new(),
            dirs: BTreeSet::new(),
            links: BTreeSet::new(),
            executables: BTreeSet::new(),
            report: ExtractReport::default(),
        })
    }

    /// The safe relative path of entry `raw`, or `None` when stripping leaves nothing.
    pub(crate) fn place(&self, raw: &Path) -> Result<Option<PathBuf>, Error> {
        let Some(rel) = safe_relative(raw, self.strip)? else {
            return Ok(None);
        };
        if let Some(link) = self.links.iter().find(|l| rel.starts_with(l) && **l != rel) {
            return Err(Error::msg(format!(
                "entry {} lies under the symlink {}; refusing to write through links",
                raw.display(),
                link.display()
            )));
        }
        Ok(Some(rel))
    }

    pub(crate) fn dir(&mut self, rel: &Path) -> Result<(), Error> {
        if self.dirs.contains(rel) {
            return Ok(());
        }
        let target = self.dest.join(rel);
        std::fs::create_dir_all(&target).map_err(|e| Error::io("create", &target, &e))?;
        for a in rel.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            self.dirs.insert(a.to_path_buf());
        }
        Ok(())
    }

    /// Make the parent of `rel` and clear `rel` if something may be there.
    fn prepare(&mut self, rel: &Path) -> Result<PathBuf, Error> {
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.dir(parent)?;
        }
        let target = self.dest.join(rel);
        if !self.fresh || self.written.contains(rel) || self.dirs.contains(rel) {
            remove_existing(&target)?;
            self.dirs.remove(rel);
        }
        self.written.insert(rel.to_path_buf());
        Ok(target)
    }

    pub(crate) fn file(
        &mut self,
        rel: &Path,
        data: &mut impl Read,
        executable: bool,
    ) -> Result<u64, Error> {
        let target = self.prepare(rel)?;
        let mut out =
            std::fs::File::create(&target).map_err(|e| Error::io("create", &target, &e))?;
        let n = std::io::copy(data, &mut out).map_err(|e| Error::io("write", &target, &e))?;
        self.report.files += 1;
        self.report.bytes += n;
        if executable {
            self.executables.insert(slash_path(rel));
        } else {
            self.executables.remove(&slash_path(rel));
        }
        Ok(n)
    }

    pub(crate) fn symlink(&mut self, rel: &Path, link_target: &Path) -> Result<(), Error> {
        check_link(rel, link_target, &self.links)?;
        let target = self.prepare(rel)?;
        symlink(link_target, &target)?;
        self.links.insert(rel.to_path_buf());
        self.report.symlinks += 1;
        Ok(())
    }

    pub(crate) fn hard_link(&mut self, rel: &Path, source: &Path) -> Result<(), Error> {
        let Some(source_rel) = safe_relative(source, self.strip)? else {
            return Err(Error::msg(format!(
                "hard link {} points outside the extracted tree",
                rel.display()
            )));
        };
        if self.links.iter().any(|l| source_rel.starts_with(l)) {
            return Err(Error::msg(format!(
                "hard link {} points through a symlink",
                rel.display()
            )));
        }
        let target = self.prepare(rel)?;
        let from = self.dest.join(&source_rel);
        let n = std::fs::copy(&from, &target).map_err(|e| Error::io("copy", &from, &e))?;
        self.report.files += 1;
        self.report.bytes += n;
        if self.executables.contains(&slash_path(&source_rel)) {
            self.executables.insert(slash_path(rel));
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> ExtractReport {
        self.report.executables = self.executables.into_iter().collect();
        self.report
    }
}

/// The entry path made relative with `strip` leading components dropped; errors on absolute
/// paths and `..`; `None` when nothing is left.
fn safe_relative(path: &Path, strip: usize) -> Result<Option<PathBuf>, Error> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::msg(format!(
                    "entry {} contains `..`; refusing path traversal",
                    path.display()
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::msg(format!(
                    "entry {} is an absolute path; refusing to write outside the destination",
                    path.display()
                )));
            }
        }
    }
    if parts.len() <= strip {
        return Ok(None);
    }
    Ok(Some(parts[strip..].iter().collect()))
}

/// A symlink at `rel` to `target` must be relative, stay inside the destination, and not
/// pass through another symlink.
fn check_link(rel: &Path, target: &Path, links: &BTreeSet<PathBuf>) -> Result<(), Error> {
    let escape = || {
        Error::msg(format!(
            "symlink {} -> {} points outside the destination",
            rel.display(),
            target.display()
        ))
    };
    let mut at: Vec<&std::ffi::OsStr> = rel
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(n) => Some(n),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    for c in target.components() {
        match c {
            Component::Normal(n) => {
                at.push(n);
                let so_far: PathBuf = at.iter().collect();
                if links.contains(&so_far) {
                    return Err(Error::msg(format!(
                        "symlink {} -> {} passes through the symlink {}",
                        rel.display(),
                        target.display(),
                        so_far.display()
                    )));
                }
            }
            Component::CurDir => {}
            Component::ParentDir => {
                if at.pop().is_none() {
                    return Err(escape());
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(escape()),
        }
    }
    Ok(())
}

fn remove_existing(target: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => {
            std::fs::remove_dir_all(target).map_err(|e| Error::io("replace", target, &e))
        }
        Ok(_) => std::fs::remove_file(target).map_err(|e| Error::io("replace", target, &e)),
        Err(_) => Ok(()),
    }
}

/// Create a symlink at `link` pointing to `target` (stored verbatim). Works in the guest
/// (through wasi-libc's `symlink`, since std's WASI symlink API is unstable) and natively.
pub fn symlink(target: &Path, link: &Path) -> Result<(), Error> {
    platform_symlink(target, link).map_err(|e| Error::io("create symlink", link, &e))
}

#[cfg(unix)]
fn platform_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(target_os = "wasi")]
fn platform_symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    unsafe extern "C" {
        /// wasi-libc's POSIX `symlink`, which resolves `link` against the preopens.
        fn symlink(target: *const std::ffi::c_char, link: *const std::ffi::c_char) -> i32;
    }
    let nul = |p: &Path| {
        p.to_str()
            .and_then(|s| CString::new(s).ok())
            .ok_or_else(|| std::io::Error::other("path is not UTF-8 or contains NUL"))
    };
    let (t, l) = (nul(target)?, nul(link)?);
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { symlink(t.as_ptr(), l.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(any(unix, target_os = "wasi")))]
fn platform_symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other(
        "symlinks are not supported on this platform",
    ))
}

fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests;
