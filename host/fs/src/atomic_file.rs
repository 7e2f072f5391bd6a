//! Replace a file atomically: write a temporary file beside it, fsync, rename over it. A
//! reader sees the old file or the new one, never a part.

use std::io::Write as _;
use std::path::Path;

/// Write `bytes` to `path` atomically (its directory must exist).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the path has no parent directory"))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
