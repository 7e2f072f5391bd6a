//! File operations on paths longer than the OS takes in one call (`PATH_MAX`, 4096 bytes on
//! Linux). A buildpack may create such paths inside its layer (it works relative to its own
//! directory), so the host's walk, export, cache save and restore must reach them too: where a
//! plain call fails with "File name too long", the directories on the way are opened in
//! chunks (`openat`) so that every call gets a short path. Elsewhere the plain calls are used.

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

/// Whether `e` is ENAMETOOLONG.
fn too_long(e: &io::Error) -> bool {
    #[cfg(target_os = "linux")]
    {
        e.raw_os_error() == Some(rustix::io::Errno::NAMETOOLONG.raw_os_error())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = e;
        false
    }
}

/// Open `path` for reading.
pub fn open(path: &Path) -> io::Result<File> {
    match File::open(path) {
        Err(e) if too_long(&e) => imp::open(path),
        other => other,
    }
}

/// The metadata of `path` itself (a symlink is not followed).
pub fn symlink_metadata(path: &Path) -> io::Result<Metadata> {
    match std::fs::symlink_metadata(path) {
        Err(e) if too_long(&e) => imp::symlink_metadata(path),
        other => other,
    }
}

/// The target of the symlink at `path`.
pub fn read_link(path: &Path) -> io::Result<PathBuf> {
    match std::fs::read_link(path) {
        Err(e) if too_long(&e) => imp::read_link(path),
        other => other,
    }
}

/// The names in the directory `path` (without `.` and `..`).
pub fn read_dir_names(path: &Path) -> io::Result<Vec<OsString>> {
    match std::fs::read_dir(path) {
        Ok(entries) => entries.map(|e| e.map(|e| e.file_name())).collect(),
        Err(e) if too_long(&e) => imp::read_dir_names(path),
        Err(e) => Err(e),
    }
}

/// Whether `path` is too long for a plain call (so the unpacker must go by directory).
pub fn is_long(path: &Path) -> bool {
    path.as_os_str().len() >= 4000
}

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::OsString;
    use std::fs::{File, Metadata};
    use std::io;
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStringExt as _;
    use std::path::{Component, Path, PathBuf};

    use rustix::fs::{CWD, Mode, OFlags, openat};

    /// Bytes of path given to one `openat` (well under `PATH_MAX`).
    const CHUNK: usize = 2048;

    fn open_dir_at(at: Option<&OwnedFd>, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let flags = flags | OFlags::DIRECTORY | OFlags::CLOEXEC;
        Ok(match at {
            Some(dir) => openat(dir, rel, flags, Mode::empty())?,
            None => openat(CWD, rel, flags, Mode::empty())?,
        })
    }

    /// The directory `dir`, opened in chunks.
    pub fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
        let mut fd: Option<OwnedFd> = None;
        let mut chunk = PathBuf::new();
        for c in dir.components() {
            let part = match c {
                Component::RootDir => Path::new("/"),
                Component::Normal(n) => Path::new(n),
                Component::ParentDir => Path::new(".."),
                Component::CurDir | Component::Prefix(_) => continue,
            };
            if chunk.as_os_str().len() + part.as_os_str().len() + 1 > CHUNK {
                fd = Some(open_dir_at(fd.as_ref(), &chunk, OFlags::PATH)?);
                chunk = PathBuf::new();
            }
            chunk.push(part);
        }
        if chunk.as_os_str().is_empty() {
            chunk.push(".");
        }
        open_dir_at(fd.as_ref(), &chunk, OFlags::RDONLY)
    }

    /// The directory holding `path`, and `path`'s last component.
    fn parent(path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no name"))?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        Ok((open_dir(dir)?, PathBuf::from(name)))
    }

    pub fn open(path: &Path) -> io::Result<File> {
        let (dir, name) = parent(path)?;
        let fd = openat(&dir, &name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(File::from(fd))
    }

    pub fn symlink_metadata(path: &Path) -> io::Result<Metadata> {
        let (dir, name) = parent(path)?;
        // An O_PATH descriptor of the entry itself; fstat on it describes the entry.
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = openat(&dir, &name, flags, Mode::empty())?;
        File::from(fd).metadata()
    }

    pub fn read_link(path: &Path) -> io::Result<PathBuf> {
        let (dir, name) = parent(path)?;
        let target = rustix::fs::readlinkat(&dir, &name, Vec::new())?;
        Ok(PathBuf::from(OsString::from_vec(target.into_bytes())))
    }

    pub fn read_dir_names(path: &Path) -> io::Result<Vec<OsString>> {
        let fd = open_dir(path)?;
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let name = entry?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.push(OsString::from_vec(name));
            }
        }
        Ok(names)
    }

    /// Create the directories of `rel` (plain components only) under `root`, never through a
    /// symlink, and return the last one with the final component.
    pub fn make_parents(root: &Path, rel: &Path) -> io::Result<(OwnedFd, PathBuf)> {
        let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(n) => parts.push(n),
                Component::CurDir => {}
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{} leaves the directory", rel.display()),
                    ));
                }
            }
        }
        let name = parts
            .pop()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty path"))?;
        let mut dir = open_dir(root)?;
        for part in parts {
            match rustix::fs::mkdirat(&dir, part, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW;
            dir = open_dir_at(Some(&dir), Path::new(part), flags)?;
        }
        Ok((dir, PathBuf::from(name)))
    }

    /// Create the directory `name` in `dir` (no error if it is one already).
    pub fn make_dir(dir: &OwnedFd, name: &Path, mode: u32) -> io::Result<()> {
        match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Create the new file `name` in `dir`.
    pub fn create_file(dir: &OwnedFd, name: &Path, mode: u32) -> io::Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(openat(
            dir,
            name,
            flags,
            Mode::from_raw_mode(mode),
        )?))
    }

    /// Create the symlink `name` -> `target` in `dir`.
    pub fn make_symlink(dir: &OwnedFd, name: &Path, target: &Path) -> io::Result<()> {
        Ok(rustix::fs::symlinkat(target, dir, name)?)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::ffi::OsString;
    use std::fs::{File, Metadata};
    use std::io;
    use std::path::{Path, PathBuf};

    fn unsupported() -> io::Error {
        io::Error::other("paths this long are supported on Linux only")
    }

    pub fn open(_: &Path) -> io::Result<File> {
        Err(unsupported())
    }
    pub fn symlink_metadata(_: &Path) -> io::Result<Metadata> {
        Err(unsupported())
    }
    pub fn read_link(_: &Path) -> io::Result<PathBuf> {
        Err(unsupported())
    }
    pub fn read_dir_names(_: &Path) -> io::Result<Vec<OsString>> {
        Err(unsupported())
    }
}

/// Unpack one tar entry at `rel` under `root` when the path is too long for plain calls:
/// directories on the way are created (never through a symlink), files are created new.
/// Directories, regular files and symlinks only.
#[cfg(target_os = "linux")]
pub fn unpack_long<R: io::Read>(
    root: &Path,
    rel: &Path,
    entry: &mut tar::Entry<'_, R>,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let header = entry.header();
    let kind = header.entry_type();
    let mode = header.mode().unwrap_or(0o644) & 0o7777;
    let mtime = header.mtime().unwrap_or(0);
    let (dir, name) = imp::make_parents(root, rel)?;
    if kind.is_dir() {
        imp::make_dir(&dir, &name, mode)
    } else if kind.is_symlink() {
        let target = entry
            .link_name()?
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "symlink without target"))?
            .into_owned();
        imp::make_symlink(&dir, &name, &target)
    } else if kind.is_file() {
        let mut file = imp::create_file(&dir, &name, 0o600)?;
        io::copy(entry, &mut file)?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))?;
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unsupported entry type for {}", rel.display()),
        ))
    }
}

/// On other systems long paths are not supported.
#[cfg(not(target_os = "linux"))]
pub fn unpack_long<R: io::Read>(
    _root: &Path,
    rel: &Path,
    _entry: &mut tar::Entry<'_, R>,
) -> io::Result<()> {
    Err(io::Error::other(format!(
        "{} is too long to unpack on this system",
        rel.display()
    )))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A 4,400-byte path below `root` (over PATH_MAX): 22 directories of 199 bytes and a file.
    fn deep(root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for i in 0..22 {
            p.push(format!("{i:02}{}", "d".repeat(197)));
        }
        p.join("file.txt")
    }

    #[test]
    fn long_paths_are_reached_by_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = deep(tmp.path());
        assert!(is_long(&file));
        let rel = file.strip_prefix(tmp.path()).unwrap().to_path_buf();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, &rel, &b"hello"[..]).unwrap();
        let bytes = b.into_inner().unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().into_owned();
            unpack_long(tmp.path(), &path, &mut entry).unwrap();
        }
        assert!(std::fs::metadata(&file).is_err(), "plain calls fail on it");
        assert!(symlink_metadata(&file).unwrap().is_file());
        let mut text = String::new();
        io::Read::read_to_string(&mut open(&file).unwrap(), &mut text).unwrap();
        assert_eq!(text, "hello");
        let names = read_dir_names(file.parent().unwrap()).unwrap();
        assert_eq!(names, vec![OsString::from("file.txt")]);
    }
}
