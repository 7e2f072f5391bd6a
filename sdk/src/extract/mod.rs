//! Safe extraction of `.tar`, `.tar.gz`/`.tgz` archives into a layer.
//!
//! Every entry path must stay inside the destination: absolute paths, `..` components, and
//! entries under a symlink are rejected. Symlinks must be relative and point inside the
//! destination without passing through another link; hard links become copies of an earlier
//! entry. Devices and FIFOs are skipped. File modes are not applied (WASI has none): the
//! report lists executable files so the layer can mark them.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::Error;

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
    Error::msg(format!("{}: {}", archive.display(), e.message())).with_detail(e.detail())
}

/// Extract an uncompressed tar stream into `dest` (created if missing).
pub fn extract_tar(
    reader: impl Read,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io("create", dest, &e))?;
    let mut archive = tar::Archive::new(reader);
    let mut report = ExtractReport::default();
    let mut links: BTreeSet<PathBuf> = BTreeSet::new();
    let mut executables = BTreeSet::new();
    let entries = archive
        .entries()
        .map_err(|e| Error::msg(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::msg(format!("corrupt tar archive: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| Error::msg(format!("bad entry name: {e}")))?
            .into_owned();
        let Some(rel) = safe_relative(&raw, options.strip_components)? else {
            continue;
        };
        if let Some(link) = links.iter().find(|l| rel.starts_with(l) && **l != rel) {
            return Err(Error::msg(format!(
                "entry {} lies under the symlink {}; refusing to write through links",
                raw.display(),
                link.display()
            )));
        }
        let target = dest.join(&rel);
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| Error::io("create", &target, &e))?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            make_parent(&target)?;
            let mode = entry.header().mode().unwrap_or(0o644);
            let mut out =
                std::fs::File::create(&target).map_err(|e| Error::io("create", &target, &e))?;
            let n =
                std::io::copy(&mut entry, &mut out).map_err(|e| Error::io("write", &target, &e))?;
            report.files += 1;
            report.bytes += n;
            if mode & 0o111 != 0 {
                executables.insert(slash_path(&rel));
            } else {
                executables.remove(&slash_path(&rel));
            }
        } else if kind.is_symlink() {
            let link_target = entry
                .link_name()
                .map_err(|e| Error::msg(format!("bad link target: {e}")))?
                .ok_or_else(|| Error::msg(format!("symlink {} has no target", raw.display())))?
                .into_owned();
            check_link(&rel, &link_target, &links)?;
            make_parent(&target)?;
            remove_existing(&target)?;
            symlink(&link_target, &target)?;
            links.insert(rel);
            report.symlinks += 1;
        } else if kind.is_hard_link() {
            let source = entry
                .link_name()
                .map_err(|e| Error::msg(format!("bad link target: {e}")))?
                .ok_or_else(|| Error::msg(format!("hard link {} has no target", raw.display())))?
                .into_owned();
            let Some(source_rel) = safe_relative(&source, options.strip_components)? else {
                return Err(Error::msg(format!(
                    "hard link {} points outside the extracted tree",
                    raw.display()
                )));
            };
            if links.iter().any(|l| source_rel.starts_with(l)) {
                return Err(Error::msg(format!(
                    "hard link {} points through a symlink",
                    raw.display()
                )));
            }
            make_parent(&target)?;
            let from = dest.join(&source_rel);
            let n = std::fs::copy(&from, &target).map_err(|e| Error::io("copy", &from, &e))?;
            report.files += 1;
            report.bytes += n;
            if executables.contains(&slash_path(&source_rel)) {
                executables.insert(slash_path(&rel));
            }
        }
        // Devices, FIFOs, and pax/GNU metadata entries are skipped.
    }
    report.executables = executables.into_iter().collect();
    Ok(report)
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

fn make_parent(target: &Path) -> Result<(), Error> {
    match target.parent() {
        Some(p) => std::fs::create_dir_all(p).map_err(|e| Error::io("create", p, &e)),
        None => Ok(()),
    }
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
