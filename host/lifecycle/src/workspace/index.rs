//! The index of a persistent app snapshot: for every file, the source's and the copy's
//! identity when the copy was made; for every symlink, its target. Stored in a small binary
//! file Kiln owns; a file that does not parse is ignored (the next sync copies everything).

use std::collections::HashMap;
use std::path::Path;

use kiln_oci::FileStamp;

/// First bytes of an index file (the format version is part of it).
const MAGIC: &[u8; 16] = b"kiln-ws-index-1\n";

/// What identifies a file's content without reading it: its [`FileStamp`] (device, inode,
/// size, mtime, ctime) and mode. A write, a replacement or a `chmod` changes the ctime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    stamp: FileStamp,
    mode: u32,
}

impl FileStat {
    /// The identity of a file from its (not followed) metadata.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        Self {
            stamp: FileStamp::from_metadata(meta),
            mode: meta.mode(),
        }
    }
}

/// One entry of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexEntry {
    /// A regular file: the source's identity and the copy's identity after it was made.
    File {
        /// The user's file.
        source: FileStat,
        /// The snapshot's file.
        copy: FileStat,
    },
    /// A symlink with its target.
    Symlink {
        /// The target, verbatim.
        target: Vec<u8>,
    },
}

/// The index of one snapshot: the mtime stamp it was made with and its entries by
/// app-relative path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Index {
    stamp: u64,
    entries: HashMap<Vec<u8>, IndexEntry>,
}

impl Index {
    /// An empty index for copies stamped with `stamp` (seconds since the epoch).
    pub fn new(stamp: u64) -> Self {
        Self {
            stamp,
            entries: HashMap::new(),
        }
    }

    /// The stamp the snapshot's files carry.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The entry at `key`.
    pub fn get(&self, key: &[u8]) -> Option<&IndexEntry> {
        self.entries.get(key)
    }

    /// Record `entry` at `key`.
    pub fn insert(&mut self, key: Vec<u8>, entry: IndexEntry) {
        self.entries.insert(key, entry);
    }

    /// Whether the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index stored at `path`, or `None` when it is missing or does not parse.
    pub fn load(path: &Path) -> Option<Self> {
        let bytes = std::fs::read(path).ok()?;
        decode(&bytes)
    }

    /// Store the index at `path` (atomically).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        kiln_fs::atomic_file::write(path, &self.encode())
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.stamp.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (key, entry) in &self.entries {
            put_bytes(&mut out, key);
            match entry {
                IndexEntry::File { source, copy } => {
                    out.push(0);
                    put_stat(&mut out, source);
                    put_stat(&mut out, copy);
                }
                IndexEntry::Symlink { target } => {
                    out.push(1);
                    put_bytes(&mut out, target);
                }
            }
        }
        out
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_stat(out: &mut Vec<u8>, s: &FileStat) {
    let t = &s.stamp;
    out.extend_from_slice(&t.dev.to_le_bytes());
    out.extend_from_slice(&t.ino.to_le_bytes());
    out.extend_from_slice(&t.size.to_le_bytes());
    out.extend_from_slice(&t.mtime_ns.to_le_bytes());
    out.extend_from_slice(&t.ctime_ns.to_le_bytes());
    out.extend_from_slice(&s.mode.to_le_bytes());
}

/// A cursor over index bytes; every read is bounds-checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n).map(<[u8]>::to_vec)
    }
    fn stat(&mut self) -> Option<FileStat> {
        Some(FileStat {
            stamp: FileStamp {
                dev: self.u64()?,
                ino: self.u64()?,
                size: self.u64()?,
                mtime_ns: i128::from_le_bytes(self.array()?),
                ctime_ns: i128::from_le_bytes(self.array()?),
            },
            mode: u32::from_le_bytes(self.array()?),
        })
    }
}

fn decode(bytes: &[u8]) -> Option<Index> {
    let mut r = Reader(bytes);
    if r.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let stamp = r.u64()?;
    let count = r.u64()?;
    let mut entries = HashMap::new();
    for _ in 0..count {
        let key = r.bytes()?;
        let entry = match r.take(1)?[0] {
            0 => IndexEntry::File {
                source: r.stat()?,
                copy: r.stat()?,
            },
            1 => IndexEntry::Symlink { target: r.bytes()? },
            _ => return None,
        };
        entries.insert(key, entry);
    }
    r.0.is_empty().then_some(Index { stamp, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(n: u64) -> FileStat {
        FileStat {
            stamp: FileStamp {
                dev: n,
                ino: n + 1,
                size: n + 2,
                mtime_ns: -3,
                ctime_ns: i128::from(n) << 70,
            },
            mode: 0o100_644,
        }
    }

    #[test]
    fn an_index_round_trips() {
        let mut index = Index::new(315_532_801);
        index.insert(
            b"a/b.txt".to_vec(),
            IndexEntry::File {
                source: stat(1),
                copy: stat(9),
            },
        );
        index.insert(
            b"link".to_vec(),
            IndexEntry::Symlink {
                target: b"../x".to_vec(),
            },
        );
        assert_eq!(decode(&index.encode()), Some(index));
    }

    #[test]
    fn damaged_bytes_are_refused_not_trusted() {
        let mut index = Index::new(1);
        index.insert(
            b"f".to_vec(),
            IndexEntry::Symlink {
                target: b"t".to_vec(),
            },
        );
        let bytes = index.encode();
        for cut in 0..bytes.len() {
            assert_eq!(decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(decode(&extra), None);
        let mut bad_kind = bytes;
        let kind_at = MAGIC.len() + 16 + 8 + 1;
        bad_kind[kind_at] = 7;
        assert_eq!(decode(&bad_kind), None);
    }
}
