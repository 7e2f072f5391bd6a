//! Replace a file atomically: write a temporary file beside it, fsync, rename over it. A
//! reader sees the old file or the new one, never a part. Every "write a temp file, then
//! rename it into place" in Kiln goes through [`commit`].

use std::io::Write as _;
use std::path::Path;

use tempfile::NamedTempFile;

/// How durable a commit must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the directory after it: the file survives a
    /// power loss once this returns (image blobs, `index.json`, cache entries).
    Synced,
    /// Just rename: for caches that only save time and are checked when read.
    BestEffort,
}

/// Rename the finished temporary file `tmp` to `target` (in the same directory), first
/// setting its permission bits to `mode` when given.
pub fn commit(
    tmp: NamedTempFile,
    target: &Path,
    mode: Option<u32>,
    durability: Durability,
) -> std::io::Result<()> {
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    if durability == Durability::Synced {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(target).map_err(|e| e.error)?;
    if durability == Durability::Synced
        && let Some(dir) = target.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        // Make the rename durable; not all filesystems support syncing a directory.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Write `bytes` to `path` atomically and durably (its directory must exist), with the
/// permission bits `mode` when given; the temporary file is named `<prefix><random>`
/// (default: a hidden `.tmp` name).
pub fn write_with_prefix(
    path: &Path,
    prefix: Option<&str>,
    mode: Option<u32>,
    bytes: &[u8],
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the path has no parent directory"))?;
    let mut tmp = match prefix {
        Some(p) => tempfile::Builder::new().prefix(p).tempfile_in(dir)?,
        None => NamedTempFile::new_in(dir)?,
    };
    tmp.write_all(bytes)?;
    commit(tmp, path, mode, Durability::Synced)
}

/// Write `bytes` to `path` atomically and durably (its directory must exist).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_prefix(path, None, None, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("index.json");
        std::fs::write(&target, b"old").unwrap();
        write_with_prefix(&target, Some("index.json.tmp-"), None, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn the_mode_is_set_before_the_rename() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("blob");
        let mut tmp = NamedTempFile::new_in(dir.path()).unwrap();
        tmp.write_all(b"x").unwrap();
        commit(tmp, &target, Some(0o644), Durability::BestEffort).unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
