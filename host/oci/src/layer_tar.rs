//! Reproducible layer tarballs.
//!
//! A [`LayerBuilder`] collects entries (from host directory trees or from
//! memory) and writes them as one tar+gzip blob. The output depends only on
//! the entries' in-image paths, contents, types, exec bits and the chosen
//! ownership, never on host mtimes, umask, directory listing order or the
//! absolute host path:
//!
//! - entries sorted by path (byte order), so parents precede children;
//!   every parent directory gets its own entry;
//! - relative names, directories with a trailing `/`;
//! - mtime 1980-01-01T00:00:01Z, empty uname/gname, uid/gid as configured;
//! - directories 0755, files 0644 or 0755 (exec bit or override), symlinks
//!   0777 with the target stored verbatim;
//! - GNU headers (long names and link targets via GNU extensions), no xattrs;
//! - gzip level 6 in 128 KiB blocks (the same bytes on any number of threads), no file name,
//!   mtime 0; or zstd ([`BlobCompression`]).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::{
    BlobStore, Descriptor, Digest, HashingWriter, ImageError, NORMALIZED_MTIME, Result, io_err,
};
use crate::FileStamp;
use kiln_fs::long_path;

/// Mode of every directory entry.
const DIR_MODE: u32 = 0o755;
/// Mode of non-executable files.
const FILE_MODE: u32 = 0o644;
/// Mode of executable files.
const EXEC_MODE: u32 = 0o755;
/// Mode of symlink entries.
const SYMLINK_MODE: u32 = 0o777;
/// Longest name/link target that fits a plain tar header field.
const HEADER_NAME_LEN: usize = 100;

/// Numeric owner of layer entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerOwnership {
    /// User id.
    pub uid: u64,
    /// Group id.
    pub gid: u64,
}

impl LayerOwnership {
    /// `0:0`.
    pub const ROOT: Self = Self { uid: 0, gid: 0 };

    /// `uid:gid`.
    pub fn new(uid: u64, gid: u64) -> Self {
        Self { uid, gid }
    }
}

/// How layer blobs are compressed: the format (gzip by default, or zstd) and the number of
/// threads (which never changes the bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobCompression {
    /// Format and level.
    pub format: kiln_compress::Compression,
    /// Compression threads (1 or more).
    pub threads: usize,
}

impl Default for BlobCompression {
    fn default() -> Self {
        Self {
            format: kiln_compress::Compression::default(),
            threads: kiln_compress::default_threads(),
        }
    }
}

/// The result of writing a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenLayer {
    /// sha256 of the uncompressed tar (goes into `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// Descriptor of the gzip blob (goes into the manifest's `layers`).
    pub descriptor: Descriptor,
    /// Size of the uncompressed tar in bytes.
    pub uncompressed_size: u64,
}

impl WrittenLayer {
    /// Digest of the compressed blob.
    pub fn digest(&self) -> &Digest {
        &self.descriptor.digest
    }

    /// Size of the compressed blob.
    pub fn size(&self) -> u64 {
        self.descriptor.size
    }
}

#[derive(Debug, Clone)]
enum FileSource {
    Bytes(Vec<u8>),
    /// A host file, identified by its metadata when it was found.
    Host {
        path: PathBuf,
        stat: FileStamp,
    },
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File(FileSource),
    Symlink(Vec<u8>),
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Kind,
    mode: u32,
    owner: LayerOwnership,
}

impl Entry {
    fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }

    fn dir(owner: LayerOwnership) -> Self {
        Self {
            kind: Kind::Dir,
            mode: DIR_MODE,
            owner,
        }
    }
}

/// Collects the entries of one layer and writes it reproducibly.
///
/// In-image paths are given without or with a leading `/` (it is dropped);
/// `.` components and repeated `/` are ignored, `..` is rejected. Adding a
/// path twice keeps the last addition, except that implicitly created parent
/// directories never replace an existing entry.
#[derive(Debug, Clone)]
pub struct LayerBuilder {
    owner: LayerOwnership,
    /// Keyed by the in-image path without a trailing `/`.
    entries: BTreeMap<Vec<u8>, Entry>,
}

impl LayerBuilder {
    /// An empty layer whose entries default to `ownership`.
    pub fn new(ownership: LayerOwnership) -> Self {
        Self {
            owner: ownership,
            entries: BTreeMap::new(),
        }
    }

    /// The default ownership.
    pub fn ownership(&self) -> LayerOwnership {
        self.owner
    }

    /// Number of entries (including implicit parent directories).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the layer has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The in-image paths in tar order (directories with a trailing `/`).
    pub fn paths(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(p, e)| {
                let mut s = String::from_utf8_lossy(p).into_owned();
                if e.is_dir() {
                    s.push('/');
                }
                s
            })
            .collect()
    }

    /// Adds the host directory tree `src` so it appears at `dest` in the image
    /// (`dest` empty or `/` means the image root). `dest` and its parents get
    /// directory entries. Symlinks are stored, never followed; hard links
    /// become regular files; sockets are skipped; devices and fifos are an error.
    ///
    /// `exec_override` gets each regular file's path relative to `src`
    /// (`/`-separated, e.g. `bin/build`); returning true makes it 0755 even
    /// without an exec bit on the host.
    pub fn add_dir_tree(
        &mut self,
        src: &Path,
        dest: &str,
        exec_override: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        let base = normalize_dest(dest)?;
        let meta = fs::symlink_metadata(src).map_err(io_err("read metadata of", src))?;
        if !meta.is_dir() {
            return Err(ImageError::LayerSource {
                path: src.to_path_buf(),
                reason: "not a directory (symlinks are not followed)".into(),
            });
        }
        if !base.is_empty() {
            self.insert(base.clone(), Entry::dir(self.owner))?;
        }
        // (host dir, path relative to src)
        let mut stack: Vec<(PathBuf, Vec<u8>)> = vec![(src.to_path_buf(), Vec::new())];
        while let Some((dir, rel)) = stack.pop() {
            let listing =
                long_path::read_dir_names(&dir).map_err(io_err("list directory", &dir))?;
            for file_name in listing {
                let host = dir.join(&file_name);
                let meta = long_path::symlink_metadata(&host)
                    .map_err(io_err("read metadata of", &host))?;
                let rel_child = join_path(&rel, file_name.as_bytes());
                let image_path = join_path(&base, &rel_child);
                let ft = meta.file_type();
                let entry = if ft.is_dir() {
                    stack.push((host.clone(), rel_child));
                    Entry::dir(self.owner)
                } else if ft.is_file() {
                    let exec = meta.mode() & 0o111 != 0
                        || exec_override(&String::from_utf8_lossy(&rel_child));
                    Entry {
                        kind: Kind::File(FileSource::Host {
                            path: host.clone(),
                            stat: FileStamp::from_metadata(&meta),
                        }),
                        mode: if exec { EXEC_MODE } else { FILE_MODE },
                        owner: self.owner,
                    }
                } else if ft.is_symlink() {
                    let target =
                        long_path::read_link(&host).map_err(io_err("read symlink", &host))?;
                    Entry {
                        kind: Kind::Symlink(target.as_os_str().as_bytes().to_vec()),
                        mode: SYMLINK_MODE,
                        owner: self.owner,
                    }
                } else if ft.is_socket() {
                    tracing::debug!(path = %host.display(), "skipping socket");
                    continue;
                } else {
                    let what = if ft.is_fifo() {
                        "a fifo"
                    } else if ft.is_block_device() {
                        "a block device"
                    } else if ft.is_char_device() {
                        "a character device"
                    } else {
                        "of an unsupported file type"
                    };
                    return Err(ImageError::LayerSource {
                        path: host,
                        reason: format!("is {what}; layers may not contain devices or fifos"),
                    });
                };
                self.insert(image_path, entry)?;
            }
        }
        Ok(())
    }

    /// Adds a regular file with `bytes` at `dest` with `mode` (permission bits only).
    pub fn add_file(&mut self, dest: &str, bytes: Vec<u8>, mode: u32) -> Result<()> {
        self.add_file_with_owner(dest, bytes, mode, self.owner)
    }

    /// [`add_file`](Self::add_file) with an explicit owner.
    pub fn add_file_with_owner(
        &mut self,
        dest: &str,
        bytes: Vec<u8>,
        mode: u32,
        owner: LayerOwnership,
    ) -> Result<()> {
        let path = normalize_nonroot(dest)?;
        self.insert(
            path,
            Entry {
                kind: Kind::File(FileSource::Bytes(bytes)),
                mode: mode & 0o7777,
                owner,
            },
        )
    }

    /// Adds the host file `src` (symlinks followed, since it is named
    /// explicitly) at `dest` with `mode`; its content is read when the layer is written.
    pub fn add_host_file(
        &mut self,
        src: &Path,
        dest: &str,
        mode: u32,
        owner: LayerOwnership,
    ) -> Result<()> {
        let path = normalize_nonroot(dest)?;
        let file = File::open(src).map_err(io_err("open", src))?;
        let meta = file.metadata().map_err(io_err("read metadata of", src))?;
        if !meta.is_file() {
            return Err(ImageError::LayerSource {
                path: src.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        self.insert(
            path,
            Entry {
                kind: Kind::File(FileSource::Host {
                    path: src.to_path_buf(),
                    stat: FileStamp::from_metadata(&meta),
                }),
                mode: mode & 0o7777,
                owner,
            },
        )
    }

    /// Adds a symlink at `dest` pointing to `target` (stored verbatim).
    pub fn add_symlink(&mut self, dest: &str, target: &str) -> Result<()> {
        self.add_symlink_with_owner(dest, target, self.owner)
    }

    /// [`add_symlink`](Self::add_symlink) with an explicit owner.
    pub fn add_symlink_with_owner(
        &mut self,
        dest: &str,
        target: &str,
        owner: LayerOwnership,
    ) -> Result<()> {
        let path = normalize_nonroot(dest)?;
        if target.is_empty() || target.contains('\0') {
            return Err(ImageError::LayerPath {
                path: dest.to_owned(),
                reason: "symlink target is empty or contains NUL".into(),
            });
        }
        self.insert(
            path,
            Entry {
                kind: Kind::Symlink(target.as_bytes().to_vec()),
                mode: SYMLINK_MODE,
                owner,
            },
        )
    }

    /// Adds a directory (mode 0755) at `dest`, plus its parents.
    pub fn add_dir(&mut self, dest: &str) -> Result<()> {
        self.add_dir_with_owner(dest, self.owner)
    }

    /// [`add_dir`](Self::add_dir) with an explicit owner (parents created
    /// implicitly still get the default owner).
    pub fn add_dir_with_owner(&mut self, dest: &str, owner: LayerOwnership) -> Result<()> {
        let path = normalize_nonroot(dest)?;
        self.insert(path, Entry::dir(owner))
    }

    fn insert(&mut self, path: Vec<u8>, entry: Entry) -> Result<()> {
        let conflict = |p: &[u8], reason: &str| ImageError::LayerPath {
            path: String::from_utf8_lossy(p).into_owned(),
            reason: reason.to_owned(),
        };
        for (i, b) in path.iter().enumerate() {
            if *b != b'/' {
                continue;
            }
            let parent = &path[..i];
            match self.entries.get(parent) {
                Some(e) if e.is_dir() => {}
                Some(_) => {
                    return Err(conflict(
                        &path,
                        &format!(
                            "parent {:?} is already a non-directory entry",
                            String::from_utf8_lossy(parent)
                        ),
                    ));
                }
                None => {
                    self.entries.insert(parent.to_vec(), Entry::dir(self.owner));
                }
            }
        }
        if !entry.is_dir() && self.entries.get(&path).is_some_and(Entry::is_dir) {
            let mut prefix = path.clone();
            prefix.push(b'/');
            if self
                .entries
                .range(prefix.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&prefix))
            {
                return Err(conflict(
                    &path,
                    "already a directory with entries; cannot replace it with a non-directory",
                ));
            }
        }
        self.entries.insert(path, entry);
        Ok(())
    }

    /// A digest of everything the layer is made of without reading host files: each entry's
    /// path, type, mode and owner, in-memory contents, symlink targets, and for host files
    /// their device, inode, size, mtime and ctime. Equal identities mean the same tar (a host
    /// file cannot change without its ctime changing), so a diff_id can be remembered by it.
    pub fn identity(&self) -> Digest {
        let mut h = HashingWriter::new(io::sink());
        let mut put = |bytes: &[u8]| {
            let _ = h.write_all(&(bytes.len() as u64).to_le_bytes());
            let _ = h.write_all(bytes);
        };
        put(b"kiln-layer-identity-1");
        for (path, e) in &self.entries {
            put(path);
            put(&e.mode.to_le_bytes());
            put(&e.owner.uid.to_le_bytes());
            put(&e.owner.gid.to_le_bytes());
            match &e.kind {
                Kind::Dir => put(b"d"),
                Kind::Symlink(target) => {
                    put(b"l");
                    put(target);
                }
                Kind::File(FileSource::Bytes(bytes)) => {
                    put(b"b");
                    put(Digest::of_bytes(bytes).hex().as_bytes());
                }
                Kind::File(FileSource::Host { stat, .. }) => {
                    put(b"h");
                    put(&stat.dev.to_le_bytes());
                    put(&stat.ino.to_le_bytes());
                    put(&stat.size.to_le_bytes());
                    put(&stat.mtime_ns.to_le_bytes());
                    put(&stat.ctime_ns.to_le_bytes());
                }
            }
        }
        let (_, digest, _) = h.finish();
        digest
    }

    /// Whether every host file of the layer last changed long enough ago that a change now
    /// would move its ctime ([`FileStamp::is_settled`]); only then may its identity stand for
    /// its contents in a record.
    pub fn is_settled(&self, now: std::time::SystemTime) -> bool {
        self.entries.values().all(|e| match &e.kind {
            Kind::File(FileSource::Host { stat, .. }) => stat.is_settled(now),
            _ => true,
        })
    }

    /// The entries in tar order with the size of each (0 for directories and symlinks).
    pub fn sizes(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.entries.iter().map(|(p, e)| {
            let size = match &e.kind {
                Kind::File(FileSource::Bytes(b)) => b.len() as u64,
                Kind::File(FileSource::Host { stat, .. }) => stat.size,
                Kind::Dir | Kind::Symlink(_) => 0,
            };
            (p.as_slice(), size)
        })
    }

    /// Split the layer into `count` layers: `assign` gets each entry's position in tar order
    /// and returns the layer it goes to (clamped to `count - 1`). Parent directories are
    /// repeated in every layer that needs them, with the same metadata.
    pub fn partition(self, count: usize, assign: impl Fn(usize) -> usize) -> Vec<LayerBuilder> {
        let count = count.max(1);
        let mut parts: Vec<LayerBuilder> = (0..count).map(|_| Self::new(self.owner)).collect();
        let all = self.entries;
        for (i, (path, entry)) in all.iter().enumerate() {
            let part = &mut parts[assign(i).min(count - 1)];
            for (j, b) in path.iter().enumerate() {
                if *b == b'/'
                    && let Some(parent) = all.get(&path[..j])
                {
                    part.entries
                        .entry(path[..j].to_vec())
                        .or_insert_with(|| parent.clone());
                }
            }
            part.entries.insert(path.clone(), entry.clone());
        }
        parts
    }

    /// Writes the uncompressed tar to `out`.
    pub fn write_tar<W: Write>(&self, out: W) -> Result<W> {
        let mut builder = tar::Builder::new(out);
        for (path, entry) in &self.entries {
            append_entry(&mut builder, path, entry)?;
        }
        builder.into_inner().map_err(|e| tar_err(&[], e))
    }

    /// The layer's diff_id (sha256 of the uncompressed tar) and uncompressed size, without
    /// writing anything: lets callers skip compression when the layer already exists.
    pub fn diff_id(&self) -> Result<(Digest, u64)> {
        let hasher = self.write_tar(HashingWriter::new(std::io::sink()))?;
        let (_, digest, size) = hasher.finish();
        Ok((digest, size))
    }

    /// Writes the layer as a gzip blob (level 6, on all cores) into `blobs`; see
    /// [`Self::write_with`].
    pub fn write_to(&self, blobs: &BlobStore) -> Result<WrittenLayer> {
        self.write_with(blobs, &BlobCompression::default())
    }

    /// Writes the layer as a blob compressed as `compression` says into `blobs` (atomically)
    /// and returns its diff_id and descriptor. Content is streamed in one pass: tar → sha256
    /// (diff_id) → compressor (blocks on worker threads; the bytes do not depend on their
    /// number) → sha256 (digest) → temp file → rename.
    pub fn write_with(
        &self,
        blobs: &BlobStore,
        compression: &BlobCompression,
    ) -> Result<WrittenLayer> {
        let blob = blobs.writer()?;
        let encoder = compression
            .format
            .encoder(blob, compression.threads)
            .map_err(|e| ImageError::Compression(e.to_string()))?;
        let tar_hasher = self.write_tar(HashingWriter::new(encoder))?;
        let (encoder, diff_id, uncompressed_size) = tar_hasher.finish();
        let blob = encoder
            .finish()
            .map_err(io_err("compress layer into", blobs.dir()))?;
        let descriptor = blob.finish(compression.format.media_type())?;
        tracing::debug!(
            %diff_id,
            digest = %descriptor.digest,
            size = descriptor.size,
            uncompressed_size,
            entries = self.entries.len(),
            "wrote layer"
        );
        Ok(WrittenLayer {
            diff_id,
            descriptor,
            uncompressed_size,
        })
    }
}

fn append_entry<W: Write>(builder: &mut tar::Builder<W>, path: &[u8], entry: &Entry) -> Result<()> {
    let mut header = Header::new_gnu();
    header.set_mtime(NORMALIZED_MTIME);
    header.set_uid(entry.owner.uid);
    header.set_gid(entry.owner.gid);
    header.set_mode(entry.mode);
    let res = match &entry.kind {
        Kind::Dir => {
            header.set_entry_type(EntryType::Directory);
            header.set_size(0);
            let mut name = path.to_vec();
            name.push(b'/');
            builder.append_data(&mut header, OsStr::from_bytes(&name), io::empty())
        }
        Kind::File(FileSource::Bytes(bytes)) => {
            header.set_entry_type(EntryType::Regular);
            header.set_size(bytes.len() as u64);
            builder.append_data(&mut header, OsStr::from_bytes(path), bytes.as_slice())
        }
        Kind::File(FileSource::Host { path: host, stat }) => {
            let file = kiln_fs::long_path::open(host).map_err(io_err("open", host))?;
            let meta = file.metadata().map_err(io_err("read metadata of", host))?;
            if !meta.is_file() || meta.dev() != stat.dev || meta.ino() != stat.ino {
                return Err(ImageError::LayerSource {
                    path: host.clone(),
                    reason: "was replaced while the layer was being built".into(),
                });
            }
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            let reader = ExactReader {
                inner: file.take(meta.len()),
                remaining: meta.len(),
            };
            builder
                .append_data(&mut header, OsStr::from_bytes(path), reader)
                .map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        ImageError::LayerSource {
                            path: host.clone(),
                            reason: "shrank while it was being read".into(),
                        }
                    } else {
                        io_err("read", host)(e)
                    }
                })?;
            return Ok(());
        }
        Kind::Symlink(target) => {
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            if target.len() >= HEADER_NAME_LEN {
                append_gnu_long_link(builder, target).map_err(|e| tar_err(path, e))?;
            }
            let n = target.len().min(HEADER_NAME_LEN);
            header.as_old_mut().linkname[..n].copy_from_slice(&target[..n]);
            builder.append_data(&mut header, OsStr::from_bytes(path), io::empty())
        }
    };
    res.map_err(|e| tar_err(path, e))
}

/// Emits a GNU `././@LongLink` ('K') record holding `target` verbatim.
fn append_gnu_long_link<W: Write>(builder: &mut tar::Builder<W>, target: &[u8]) -> io::Result<()> {
    let mut h = Header::new_gnu();
    let name = b"././@LongLink";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(target.len() as u64 + 1);
    h.set_entry_type(EntryType::GNULongLink);
    h.set_cksum();
    builder.append(&h, target.chain(&[0u8][..]))
}

fn tar_err(path: &[u8], e: io::Error) -> ImageError {
    ImageError::Io {
        action: "write tar entry",
        path: PathBuf::from(OsStr::from_bytes(path)),
        source: e,
    }
}

/// Reads exactly `remaining` bytes from `inner`, failing if it ends early.
struct ExactReader<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being read",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn join_path(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a.is_empty() {
        return b.to_vec();
    }
    let mut out = Vec::with_capacity(a.len() + 1 + b.len());
    out.extend_from_slice(a);
    out.push(b'/');
    out.extend_from_slice(b);
    out
}

/// Normalises an in-image path: drops leading `/`, empty and `.` components;
/// rejects `..` and NUL. The image root becomes an empty vector.
fn normalize_dest(dest: &str) -> Result<Vec<u8>> {
    let bad = |reason: &str| ImageError::LayerPath {
        path: dest.to_owned(),
        reason: reason.to_owned(),
    };
    if dest.contains('\0') {
        return Err(bad("contains NUL"));
    }
    let mut out: Vec<u8> = Vec::with_capacity(dest.len());
    for comp in dest.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(bad("contains a '..' component")),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c.as_bytes());
            }
        }
    }
    Ok(out)
}

fn normalize_nonroot(dest: &str) -> Result<Vec<u8>> {
    let p = normalize_dest(dest)?;
    if p.is_empty() {
        return Err(ImageError::LayerPath {
            path: dest.to_owned(),
            reason: "is the image root".into(),
        });
    }
    Ok(p)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::fs::Permissions;
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, SystemTime};

    const LONG_TARGET: &str = "../../../../some/really/long/target/path/that/is/definitely/longer/than/one/hundred/bytes/for/the/gnu/longlink/extension";

    fn set_mode(p: &Path, mode: u32) {
        fs::set_permissions(p, Permissions::from_mode(mode)).unwrap();
    }

    fn write(p: &Path, data: &str, mode: u32, mtime_secs: u64) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
        let f = File::options().write(true).open(p).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime_secs))
            .unwrap();
        set_mode(p, mode);
    }

    /// Builds the same logical tree with host-specific differences selected by `variant`.
    fn make_tree(root: &Path, variant: bool) {
        let (fmode, xmode, dmode, t) = if variant {
            (0o600, 0o700, 0o700, 1_000_000)
        } else {
            (0o664, 0o775, 0o777, 2_000_000_000)
        };
        let long_dir = "d".repeat(60);
        let mut files = vec![
            ("bin/run", "#!/bin/sh\n", xmode),
            ("lib/a.txt", "a", fmode),
            ("lib/b.txt", "bb", fmode),
            ("a-b", "dash", fmode),
            ("a/x", "x", fmode),
        ];
        let long_file = format!("{long_dir}/{long_dir}/file.txt");
        files.push((&long_file, "long", fmode));
        if variant {
            files.reverse();
        }
        for (p, d, m) in &files {
            write(&root.join(p), d, *m, t);
        }
        fs::create_dir_all(root.join("empty")).unwrap();
        std::os::unix::fs::symlink("lib/a.txt", root.join("link")).unwrap();
        std::os::unix::fs::symlink(LONG_TARGET, root.join("longlink")).unwrap();
        fs::hard_link(root.join("lib/a.txt"), root.join("hl")).unwrap();
        for d in ["bin", "lib", "a", "empty", &long_dir] {
            set_mode(&root.join(d), dmode);
        }
    }

    fn build(src: &Path, blobs_dir: &Path) -> (WrittenLayer, Vec<u8>) {
        let mut b = LayerBuilder::new(LayerOwnership::new(1000, 1001));
        b.add_dir_tree(src, "layers/acme_node/node", &|_| false)
            .unwrap();
        let store = BlobStore::new(blobs_dir);
        let w = b.write_to(&store).unwrap();
        let blob = fs::read(store.path(&w.descriptor.digest)).unwrap();
        (w, blob)
    }

    struct Seen {
        name: Vec<u8>,
        kind: EntryType,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        link: Option<Vec<u8>>,
        data: Vec<u8>,
        uname_empty: bool,
    }

    fn read_tar(tar_bytes: &[u8]) -> Vec<Seen> {
        let mut ar = tar::Archive::new(tar_bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let name = e.path_bytes().into_owned();
                let link = e.link_name_bytes().map(std::borrow::Cow::into_owned);
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                Seen {
                    name,
                    kind: h.entry_type(),
                    mode: h.mode().unwrap(),
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    mtime: h.mtime().unwrap(),
                    link,
                    data,
                    uname_empty: h.username_bytes().is_none_or(<[u8]>::is_empty)
                        && h.groupname_bytes().is_none_or(<[u8]>::is_empty),
                }
            })
            .collect()
    }

    fn gunzip(blob: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn same_tree_gives_identical_blobs() {
        let t1 = tempfile::tempdir().unwrap();
        let t2 = tempfile::tempdir().unwrap();
        let src1 = t1.path().join("src");
        let src2 = t2.path().join("some/much/deeper/other/location");
        make_tree(&src1, false);
        make_tree(&src2, true);
        let (w1, b1) = build(&src1, &t1.path().join("blobs"));
        let (w2, b2) = build(&src2, &t2.path().join("blobs"));
        assert_eq!(w1.diff_id, w2.diff_id);
        assert_eq!(w1.descriptor, w2.descriptor);
        assert_eq!(b1, b2);
        assert_eq!(Digest::of_bytes(&b1), w1.descriptor.digest);
        assert_eq!(b1.len() as u64, w1.descriptor.size);
        let tar = gunzip(&b1);
        assert_eq!(Digest::of_bytes(&tar), w1.diff_id);
        assert_eq!(tar.len() as u64, w1.uncompressed_size);
        // gzip header: no name, mtime 0, OS 255
        assert_eq!(&b1[..4], &[0x1f, 0x8b, 8, 0]);
        assert_eq!(&b1[4..8], &[0, 0, 0, 0]);
        assert_eq!(b1[9], 255);
        // writing again into the same store is a no-op with the same result
        let (w3, _) = build(&src1, &t1.path().join("blobs"));
        assert_eq!(w3, w1);
        let leftovers: Vec<_> = fs::read_dir(t1.path().join("blobs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn entries_are_normalised_and_sorted() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        make_tree(&src, true);
        let (_, blob) = build(&src, &t.path().join("blobs"));
        let seen = read_tar(&gunzip(&blob));
        let names: Vec<String> = seen
            .iter()
            .map(|s| String::from_utf8(s.name.clone()).unwrap())
            .collect();
        let long_dir = "d".repeat(60);
        let p = "layers/acme_node/node";
        let expected = vec![
            "layers/".to_owned(),
            "layers/acme_node/".to_owned(),
            format!("{p}/"),
            format!("{p}/a/"),
            // full-path byte order: '-' (0x2d) sorts before '/' (0x2f)
            format!("{p}/a-b"),
            format!("{p}/a/x"),
            format!("{p}/bin/"),
            format!("{p}/bin/run"),
            format!("{p}/{long_dir}/"),
            format!("{p}/{long_dir}/{long_dir}/"),
            format!("{p}/{long_dir}/{long_dir}/file.txt"),
            format!("{p}/empty/"),
            format!("{p}/hl"),
            format!("{p}/lib/"),
            format!("{p}/lib/a.txt"),
            format!("{p}/lib/b.txt"),
            format!("{p}/link"),
            format!("{p}/longlink"),
        ];
        assert_eq!(names, expected);
        for s in &seen {
            let name = String::from_utf8_lossy(&s.name);
            assert_eq!(s.mtime, NORMALIZED_MTIME, "{name}");
            assert_eq!((s.uid, s.gid), (1000, 1001), "{name}");
            assert!(s.uname_empty, "{name}");
            let want = match s.kind {
                EntryType::Directory => 0o755,
                EntryType::Symlink => 0o777,
                _ if name.ends_with("bin/run") => 0o755,
                _ => 0o644,
            };
            assert_eq!(s.mode, want, "{name}");
        }
        let by_name = |n: &str| {
            seen.iter()
                .find(|s| s.name == format!("{p}/{n}").as_bytes())
                .unwrap()
        };
        assert_eq!(by_name("hl").kind, EntryType::Regular);
        assert_eq!(by_name("hl").data, b"a");
        assert_eq!(by_name("link").kind, EntryType::Symlink);
        assert_eq!(by_name("link").link.as_deref(), Some(&b"lib/a.txt"[..]));
        assert_eq!(
            by_name("longlink").link.as_deref(),
            Some(LONG_TARGET.as_bytes())
        );
        assert_eq!(
            by_name(&format!("{long_dir}/{long_dir}/file.txt")).data,
            b"long"
        );
    }

    #[test]
    fn exec_bits_and_override() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("bp");
        write(&src.join("bin/build"), "x", 0o644, 5);
        write(&src.join("bin/detect"), "x", 0o744, 5);
        write(&src.join("bin/helper"), "x", 0o640, 5);
        write(&src.join("group-exec"), "x", 0o610, 5);
        let mut b = LayerBuilder::new(LayerOwnership::ROOT);
        b.add_dir_tree(&src, "/cnb/buildpacks/acme_node/1.0", &|rel| {
            rel == "bin/build"
        })
        .unwrap();
        let mut tar = Vec::new();
        tar = b.write_tar(tar).unwrap();
        let modes: Vec<(String, u32)> = read_tar(&tar)
            .into_iter()
            .filter(|s| s.kind == EntryType::Regular)
            .map(|s| (String::from_utf8(s.name).unwrap(), s.mode))
            .collect();
        let pre = "cnb/buildpacks/acme_node/1.0";
        assert_eq!(
            modes,
            vec![
                (format!("{pre}/bin/build"), 0o755),
                (format!("{pre}/bin/detect"), 0o755),
                (format!("{pre}/bin/helper"), 0o644),
                (format!("{pre}/group-exec"), 0o755),
            ]
        );
    }

    #[test]
    fn symlinks_are_stored_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        write(&outside.join("secret"), "s", 0o644, 1);
        let src = t.path().join("app");
        fs::create_dir_all(&src).unwrap();
        std::os::unix::fs::symlink(&outside, src.join("dirlink")).unwrap();
        std::os::unix::fs::symlink("../../../etc/passwd", src.join("escape")).unwrap();
        std::os::unix::fs::symlink("does/not/exist", src.join("dangling")).unwrap();
        std::os::unix::fs::symlink("./a//b/../c/", src.join("odd")).unwrap();
        let mut b = LayerBuilder::new(LayerOwnership::new(1000, 1000));
        b.add_dir_tree(&src, "workspace", &|_| false).unwrap();
        let seen = read_tar(&b.write_tar(Vec::new()).unwrap());
        let got: Vec<(String, Option<String>)> = seen
            .iter()
            .map(|s| {
                (
                    String::from_utf8(s.name.clone()).unwrap(),
                    s.link
                        .as_ref()
                        .map(|l| String::from_utf8(l.clone()).unwrap()),
                )
            })
            .collect();
        let outside_str = outside.to_str().unwrap().to_owned();
        assert_eq!(
            got,
            vec![
                ("workspace/".into(), None),
                ("workspace/dangling".into(), Some("does/not/exist".into())),
                ("workspace/dirlink".into(), Some(outside_str)),
                (
                    "workspace/escape".into(),
                    Some("../../../etc/passwd".into())
                ),
                ("workspace/odd".into(), Some("./a//b/../c/".into())),
            ]
        );
        // A root that is itself a symlink is refused, not followed.
        let e = b
            .add_dir_tree(&src.join("dirlink"), "x", &|_| false)
            .unwrap_err();
        assert!(e.to_string().contains("dirlink"), "{e}");
    }

    #[test]
    fn fifo_is_an_error_socket_is_skipped() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("app");
        fs::create_dir_all(&src).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
        write(&src.join("f"), "x", 0o644, 1);
        let mut b = LayerBuilder::new(LayerOwnership::ROOT);
        b.add_dir_tree(&src, "app", &|_| false).unwrap();
        assert_eq!(b.paths(), vec!["app/", "app/f"]);

        let fifo = src.join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if made {
            let e = LayerBuilder::new(LayerOwnership::ROOT)
                .add_dir_tree(&src, "app", &|_| false)
                .unwrap_err()
                .to_string();
            assert!(e.contains("pipe") && e.contains("fifo"), "{e}");
        }
    }

    #[test]
    fn in_memory_entries_and_ownership() {
        let mut b = LayerBuilder::new(LayerOwnership::new(1000, 1000));
        b.add_file_with_owner(
            "/cnb/lifecycle/launcher",
            b"ELF".to_vec(),
            0o755,
            LayerOwnership::ROOT,
        )
        .unwrap();
        b.add_dir_with_owner("cnb/process", LayerOwnership::ROOT)
            .unwrap();
        b.add_symlink_with_owner(
            "cnb/process/web",
            "/cnb/lifecycle/launcher",
            LayerOwnership::ROOT,
        )
        .unwrap();
        b.add_file("layers/config/metadata.toml", b"[x]\n".to_vec(), 0o644)
            .unwrap();
        b.add_dir("./layers//config").unwrap();
        let seen = read_tar(&b.write_tar(Vec::new()).unwrap());
        let got: Vec<(String, u64, u32)> = seen
            .iter()
            .map(|s| (String::from_utf8(s.name.clone()).unwrap(), s.uid, s.mode))
            .collect();
        assert_eq!(
            got,
            vec![
                ("cnb/".into(), 1000, 0o755),
                ("cnb/lifecycle/".into(), 1000, 0o755),
                ("cnb/lifecycle/launcher".into(), 0, 0o755),
                ("cnb/process/".into(), 0, 0o755),
                ("cnb/process/web".into(), 0, 0o777),
                ("layers/".into(), 1000, 0o755),
                ("layers/config/".into(), 1000, 0o755),
                ("layers/config/metadata.toml".into(), 1000, 0o644),
            ]
        );
    }

    #[test]
    fn bad_paths_and_conflicts() {
        let mut b = LayerBuilder::new(LayerOwnership::ROOT);
        assert!(b.add_file("a/../b", vec![], 0o644).is_err());
        assert!(b.add_file("/", vec![], 0o644).is_err());
        assert!(b.add_symlink("l", "").is_err());
        b.add_file("f", vec![1], 0o644).unwrap();
        let e = b.add_file("f/g", vec![], 0o644).unwrap_err().to_string();
        assert!(e.contains("f/g"), "{e}");
        b.add_file("d/child", vec![], 0o644).unwrap();
        assert!(b.add_symlink("d", "x").is_err());
        // replacing a file keeps the last one
        b.add_file("f", vec![2], 0o600).unwrap();
        let seen = read_tar(&b.write_tar(Vec::new()).unwrap());
        let f = seen.iter().find(|s| s.name == b"f").unwrap();
        assert_eq!((f.data.as_slice(), f.mode), (&[2u8][..], 0o600));
    }

    #[test]
    fn empty_layer_is_valid() {
        let t = tempfile::tempdir().unwrap();
        let w = LayerBuilder::new(LayerOwnership::ROOT)
            .write_to(&BlobStore::new(t.path()))
            .unwrap();
        assert_eq!(w.uncompressed_size, 1024);
        assert_eq!(w.diff_id, Digest::of_bytes(&[0u8; 1024]));
    }
}
