//! The identity of one version of a file, as far as `stat` tells it: device, inode, size,
//! modification time and status-change time (both in nanoseconds).
//!
//! A file rewritten in place keeps its device and inode but gets a new ctime (users cannot
//! set ctime; `touch -d` and `utimensat` update it too), and a replaced file gets a new
//! inode, so a stamp taken when Kiln checked a blob matches later only that very file,
//! unchanged.

use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// How recently a file may have changed before its stamp is "settled" on a filesystem with
/// nanosecond timestamps (their clock ticks every few milliseconds).
const SETTLE_FINE: std::time::Duration = std::time::Duration::from_millis(50);
/// The same on a filesystem whose timestamps have whole seconds (ctime without nanoseconds).
const SETTLE_COARSE: std::time::Duration = std::time::Duration::from_secs(2);

/// Device, inode, size, mtime and ctime of a file (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Length in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i128,
    /// Status-change time, nanoseconds since the Unix epoch.
    pub ctime_ns: i128,
}

impl FileStamp {
    /// The stamp of the file at `path` (symlinks followed).
    pub fn of(path: &Path) -> io::Result<Self> {
        Ok(Self::from_metadata(&std::fs::metadata(path)?))
    }

    /// The stamp of an open file.
    pub fn of_file(file: &std::fs::File) -> io::Result<Self> {
        Ok(Self::from_metadata(&file.metadata()?))
    }

    /// The stamp described by `meta`.
    pub fn from_metadata(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        let ns = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Whether the file last changed long enough before `now` that a change at `now` would
    /// get a different ctime. A stamp taken within a clock tick of a change is "racy": a
    /// second change in the same tick would keep every field, so such a stamp is not
    /// remembered (the file is simply checked again next time).
    pub fn is_settled(&self, now: SystemTime) -> bool {
        let Ok(now) = now.duration_since(UNIX_EPOCH) else {
            return false;
        };
        let window = if self.ctime_ns % 1_000_000_000 == 0 {
            SETTLE_COARSE
        } else {
            SETTLE_FINE
        };
        i128::try_from(now.as_nanos())
            .is_ok_and(|now| now - self.ctime_ns > window.as_nanos().cast_signed())
    }

    /// The stamp as record text: `dev ino size mtime_ns ctime_ns`.
    pub fn to_record(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewriting_in_place_with_the_old_mtime_changes_the_stamp() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"aaaa").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH).unwrap();
        let before = FileStamp::of(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"bbbb").unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH).unwrap();
        let after = FileStamp::of(&path).unwrap();
        assert_eq!(
            (before.dev, before.ino, before.size),
            (after.dev, after.ino, after.size)
        );
        assert_eq!(before.mtime_ns, after.mtime_ns);
        assert_ne!(before, after, "ctime must differ");
    }

    #[test]
    fn a_fresh_file_is_not_settled_an_old_one_is() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let stamp = FileStamp::of(&path).unwrap();
        assert!(!stamp.is_settled(SystemTime::now()));
        assert!(stamp.is_settled(SystemTime::now() + std::time::Duration::from_secs(3)));
    }
}
