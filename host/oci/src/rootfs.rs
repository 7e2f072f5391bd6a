//! Build images unpacked into read-only root filesystems, once per manifest digest, for native
//! build steps that run in them with bubblewrap (`--ro-bind <rootfs> /`).
//!
//! An entry `<dir>/<manifest hex>/` holds the tree in `root/` and a completion record
//! `rootfs.json`. It is unpacked into a temporary directory `<dir>/.tmp-<hex>-*` and renamed
//! into place only when complete, under a lock per digest (`<dir>/.locks`), so a crash leaves
//! nothing that looks complete and concurrent builds wait for one unpack and share it.
//!
//! The record holds a hash of a listing of the tree (path, type, size, mode, symlink target;
//! no mtimes, no contents), checked again before every reuse: a tree that is damaged, partial
//! or has no record is deleted and unpacked again. The check only reads metadata, so it misses
//! a file whose content was changed in place without changing its size or mode.
//!
//! Layers are applied in order with OCI semantics: each blob is checked with
//! [`VerifiedLayers::check`] first and its uncompressed stream is hashed again while it is
//! applied. Rules:
//! - entry names have a leading `/` or `./` stripped; a name with a `..` component is an error;
//! - no write or deletion follows a symlink out of the tree: symlinks in the parent directories
//!   of an entry are resolved inside the root as a chroot would (`bin/foo` with `bin -> usr/bin`
//!   lands in `usr/bin/foo`; `a -> /etc` or `a -> ../..` stays inside); the entry's own name
//!   is never followed (it is replaced);
//! - whiteouts `.wh.<name>` delete `<name>` from lower layers and opaque markers
//!   `.wh..wh..opq` empty their directory of lower-layer content, keeping this layer's entries;
//! - device nodes and fifos are skipped and counted, ownership and xattrs are ignored (files
//!   belong to the unpacking user), setuid/setgid/sticky bits are dropped, directories get
//!   `u+rwx` and files `u+r` (so later layers and deletion always work), regular files keep
//!   their mtime (directories and symlinks do not);
//! - paths longer than `PATH_MAX` are an error.

mod apply;
mod tree;

use std::fs;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use kiln_fs::{DirLock, LockError};
use serde::{Deserialize, Serialize};

use crate::cache_sweep::{Removed, SweepPolicy};
use crate::digest::HashingReader;
use crate::{BlobStore, Descriptor, Digest, ImageError, LayerProblem, LocalImage, VerifiedLayers};

/// The tree inside an entry.
const ROOT_DIR: &str = "root";
/// The completion record inside an entry.
const RECORD_FILE: &str = "rootfs.json";
/// The version of the record and of the listing it hashes.
const RECORD_FORMAT: u32 = 1;
/// Names of temporary (staging or discarded) entries start with this.
const TEMP_PREFIX: &str = ".tmp-";
/// The lock files, one per digest.
const LOCKS_DIR: &str = ".locks";

/// A directory of unpacked build image rootfs trees, one per manifest digest (e.g.
/// [`kiln_fs::CachePaths::rootfs`]).
#[derive(Debug, Clone)]
pub struct RootfsCache {
    dir: PathBuf,
}

/// An unpacked build image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    /// The root directory (`<dir>/<hex>/root`), to bind read-only as `/`; never write to it.
    pub path: PathBuf,
    /// The manifest digest of the image it was unpacked from.
    pub manifest_digest: Digest,
    /// Whether a complete tree from an earlier unpack was used (`false`: unpacked now, also
    /// when an earlier tree was partial or damaged).
    pub reused: bool,
    /// Device nodes, fifos and entries of unknown types in the layers, left out.
    pub skipped_special: u64,
}

/// Why a build image could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A file-system operation on the cache failed.
    #[error("cannot {action} {} (check the permissions and free space of the rootfs cache)", path.display())]
    Io {
        /// What was being done, e.g. "create".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The lock of an entry could not be taken.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The image config is invalid.
    #[error("the build image's config is invalid")]
    Config(#[source] ImageError),
    /// The config's diff_ids do not match the manifest's layers.
    #[error(
        "the build image's manifest has {layers} layers but its config lists {diff_ids} diff_ids; the image is malformed, rebuild or re-pull it"
    )]
    LayerCount {
        /// Layers in the manifest.
        layers: usize,
        /// Entries of `rootfs.diff_ids`.
        diff_ids: usize,
    },
    /// A layer has a media type that cannot be unpacked.
    #[error(
        "layer {index} ({digest}) of the build image has media type {media_type:?}; only tar, tar+gzip and tar+zstd layers can be unpacked, use an image built with those"
    )]
    MediaType {
        /// Its position in the manifest, from 1 (bottom).
        index: usize,
        /// Its blob digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// A layer blob failed its content check.
    #[error(
        "layer {index} ({digest}) of the build image: {problem}; pull or import the image again"
    )]
    BadLayer {
        /// Its position in the manifest, from 1 (bottom).
        index: usize,
        /// Its blob digest.
        digest: Digest,
        /// What is wrong.
        problem: LayerProblem,
    },
    /// A layer holds an entry that is refused (`..`, a hard link to nothing, ...).
    #[error(
        "layer {index} ({digest}) of the build image: entry {path:?} {reason}; the image cannot be used as a build rootfs"
    )]
    Entry {
        /// Its position in the manifest, from 1 (bottom).
        index: usize,
        /// Its blob digest.
        digest: Digest,
        /// The entry name in the tar.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading a layer or writing one of its entries failed.
    #[error(
        "layer {index} ({digest}) of the build image: cannot {action}{}",
        for_entry(path)
    )]
    EntryIo {
        /// Its position in the manifest, from 1 (bottom).
        index: usize,
        /// Its blob digest.
        digest: Digest,
        /// What was being done, e.g. "create the file".
        action: &'static str,
        /// The entry name in the tar (empty when reading the tar itself failed).
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn for_entry(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" for entry {path:?}")
    }
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RootfsError {
    let path = path.to_path_buf();
    move |source| RootfsError::Io {
        action,
        path,
        source,
    }
}

/// The completion record of an entry.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    format: u32,
    manifest: Digest,
    listing: Digest,
    skipped_special: u64,
}

impl RootfsCache {
    /// Trees kept in `dir` (created when needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The unpacked rootfs of `image`, unpacking it first when absent, partial or damaged.
    /// Waits while another process unpacks the same image.
    pub fn unpack(
        &self,
        image: &LocalImage,
        verified: &VerifiedLayers,
    ) -> Result<Rootfs, RootfsError> {
        let digest = image.resolved.manifest_digest().clone();
        let layers = layers_of(image)?;
        let entry = self.dir.join(digest.hex());
        fs::create_dir_all(&self.dir).map_err(io_err("create", &self.dir))?;
        let _lock = DirLock::acquire(
            &self.dir.join(LOCKS_DIR),
            &entry,
            "build image rootfs",
            true,
            &|_| {
                tracing::info!(
                    "waiting for another kiln process to unpack {}",
                    entry.display()
                );
            },
        )?;
        self.remove_leftovers(digest.hex())?;
        let done = |record: Record, reused| Rootfs {
            path: entry.join(ROOT_DIR),
            manifest_digest: digest.clone(),
            reused,
            skipped_special: record.skipped_special,
        };
        if let Some(record) = complete_record(&entry, &digest) {
            crate::cache_sweep::touch(&entry);
            return Ok(done(record, true));
        }
        if fs::symlink_metadata(&entry).is_ok() {
            tracing::warn!(
                "the unpacked build image {} is partial or damaged; unpacking it again",
                entry.display()
            );
            self.discard(&entry, digest.hex())?;
        }
        tracing::info!("unpacking build image {digest} into {}", entry.display());
        let (staged, record) = self.stage(image, &layers, verified, &digest)?;
        Ok(done(install(&staged, record, &entry, &digest)?, false))
    }

    /// Unpack every layer into a new temporary entry; returns its path and record.
    fn stage(
        &self,
        image: &LocalImage,
        layers: &[(&Descriptor, Digest)],
        verified: &VerifiedLayers,
        digest: &Digest,
    ) -> Result<(PathBuf, Record), RootfsError> {
        let temp = tempfile::Builder::new()
            .prefix(&format!("{TEMP_PREFIX}{}-", digest.hex()))
            .tempdir_in(&self.dir)
            .map_err(io_err("create a temporary directory in", &self.dir))?;
        let root = temp.path().join(ROOT_DIR);
        tree::make_dir(&root, 0o755).map_err(io_err("create", &root))?;
        let mut tree = apply::Tree::new(root.clone());
        let store = image.layout.blobs();
        for (i, (desc, diff_id)) in layers.iter().enumerate() {
            let bad = |problem| RootfsError::BadLayer {
                index: i + 1,
                digest: desc.digest.clone(),
                problem,
            };
            verified.check(store, desc, diff_id).map_err(bad)?;
            apply_layer(&mut tree, store, desc, diff_id, i + 1)?;
        }
        let record = Record {
            format: RECORD_FORMAT,
            manifest: digest.clone(),
            listing: tree::listing_digest(&root).map_err(io_err("list", &root))?,
            skipped_special: tree.skipped_special(),
        };
        write_record(temp.path(), &record)?;
        sync_filesystem(temp.path());
        Ok((temp.keep(), record))
    }

    /// Delete what crashed unpacks left behind: this digest's temporary entries (its lock is
    /// held) and those of other digests whose lock is free.
    fn remove_leftovers(&self, own_hex: &str) -> Result<(), RootfsError> {
        let names = fs::read_dir(&self.dir)
            .map_err(io_err("list", &self.dir))?
            .filter_map(|e| e.ok().map(|e| e.file_name()));
        for name in names {
            let Some(hex) = name
                .to_str()
                .and_then(|n| n.strip_prefix(TEMP_PREFIX))
                .and_then(|n| n.split_once('-'))
                .map(|(hex, _)| hex.to_owned())
            else {
                continue;
            };
            let _other_lock = if hex == own_hex {
                None
            } else {
                let lock = &self.dir.join(LOCKS_DIR);
                match DirLock::acquire(
                    lock,
                    &self.dir.join(&hex),
                    "build image rootfs",
                    false,
                    &|_| {},
                ) {
                    Ok(l) => Some(l),
                    Err(_) => continue,
                }
            };
            let path = self.dir.join(&name);
            tracing::debug!("removing the partial unpack {}", path.display());
            if let Err(e) = tree::remove_tree(&path) {
                tracing::warn!("cannot remove the partial unpack {}: {e}", path.display());
            }
        }
        Ok(())
    }

    /// Remove the entries not used (unpacked or reused) for the policy's `max_age`, each
    /// under its lock taken without waiting (an entry a build is unpacking or about to use
    /// is skipped), and the temporary entries of crashed unpacks whose lock is free.
    pub fn sweep(&self, policy: &SweepPolicy) -> Result<Vec<Removed>, RootfsError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &self.dir)(e)),
        };
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let (hex, temp) = match name.strip_prefix(TEMP_PREFIX) {
                Some(rest) => (rest.split_once('-').map_or(rest, |(h, _)| h), true),
                None => (name.as_str(), false),
            };
            if Digest::parse(&format!("sha256:{hex}")).is_err() {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let age = if temp {
                policy.temp_age
            } else {
                policy.max_age
            };
            if !meta.is_dir() || !policy.older(&meta, age) {
                continue;
            }
            let Ok(_lock) = DirLock::acquire(
                &self.dir.join(LOCKS_DIR),
                &self.dir.join(hex),
                "build image rootfs",
                false,
                &|_| {},
            ) else {
                continue;
            };
            // Looked at again under the lock: a build may have just used it.
            if !fs::symlink_metadata(&path).is_ok_and(|m| policy.older(&m, age)) {
                continue;
            }
            let bytes = crate::cache_sweep::tree_bytes(&path);
            if temp {
                tree::remove_tree(&path).map_err(io_err("remove", &path))?;
            } else {
                self.discard(&path, hex)?;
            }
            removed.push(Removed {
                what: "build image rootfs",
                path,
                bytes,
            });
        }
        Ok(removed)
    }

    /// Remove a partial or damaged entry (moved aside first, so a crash midway leaves only a
    /// temporary entry).
    fn discard(&self, entry: &Path, hex: &str) -> Result<(), RootfsError> {
        let aside = self.dir.join(format!("{TEMP_PREFIX}{hex}-damaged"));
        tree::remove_tree(&aside).map_err(io_err("remove", &aside))?;
        let doomed = if fs::rename(entry, &aside).is_ok() {
            aside
        } else {
            entry.to_path_buf()
        };
        tree::remove_tree(&doomed).map_err(io_err("remove", &doomed))
    }
}

/// The manifest's layers with their diff_ids, checked for count and media type.
fn layers_of(image: &LocalImage) -> Result<Vec<(&Descriptor, Digest)>, RootfsError> {
    let layers = &image.resolved.manifest.layers;
    let diff_ids = image
        .resolved
        .config
        .diff_ids()
        .map_err(RootfsError::Config)?;
    if layers.len() != diff_ids.len() {
        return Err(RootfsError::LayerCount {
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    for (i, desc) in layers.iter().enumerate() {
        if !VerifiedLayers::accepts(&desc.media_type) {
            return Err(RootfsError::MediaType {
                index: i + 1,
                digest: desc.digest.clone(),
                media_type: desc.media_type.clone(),
            });
        }
    }
    Ok(layers.iter().zip(diff_ids).collect())
}

/// Apply one layer blob, hashing its uncompressed stream again: it must still be `diff_id`.
fn apply_layer(
    tree: &mut apply::Tree,
    store: &BlobStore,
    desc: &Descriptor,
    diff_id: &Digest,
    index: usize,
) -> Result<(), RootfsError> {
    let read_err = |source| RootfsError::EntryIo {
        index,
        digest: desc.digest.clone(),
        action: "read the layer",
        path: String::new(),
        source,
    };
    let file = fs::File::open(store.path(&desc.digest)).map_err(read_err)?;
    let file = BufReader::with_capacity(256 * 1024, file);
    // `VerifiedLayers::accepts` allowed only tar, gzip and zstd types.
    let stream: Box<dyn Read> = if desc.media_type.ends_with("gzip") {
        Box::new(GzDecoder::new(file))
    } else if desc.media_type.ends_with("zstd") {
        Box::new(zstd::stream::read::Decoder::with_buffer(file).map_err(read_err)?)
    } else {
        Box::new(file)
    };
    let mut hashed = HashingReader::new(stream);
    tree.apply(&mut hashed)
        .map_err(|f| f.into_error(index, &desc.digest))?;
    io::copy(&mut hashed, &mut io::sink()).map_err(read_err)?;
    let actual = hashed.finish();
    if actual != *diff_id {
        return Err(RootfsError::BadLayer {
            index,
            digest: desc.digest.clone(),
            problem: LayerProblem::DiffIdMismatch {
                expected: diff_id.clone(),
                actual,
            },
        });
    }
    Ok(())
}

/// The record of `entry` if it is complete and its tree still matches the record's listing.
fn complete_record(entry: &Path, digest: &Digest) -> Option<Record> {
    let text = fs::read(entry.join(RECORD_FILE)).ok()?;
    let record: Record = serde_json::from_slice(&text).ok()?;
    let listing = tree::listing_digest(&entry.join(ROOT_DIR)).ok()?;
    (record.format == RECORD_FORMAT && record.manifest == *digest && record.listing == listing)
        .then_some(record)
}

fn write_record(entry: &Path, record: &Record) -> Result<(), RootfsError> {
    let path = entry.join(RECORD_FILE);
    let bytes = serde_json::to_vec(record).map_err(|e| RootfsError::Io {
        action: "write",
        path: path.clone(),
        source: io::Error::other(e),
    })?;
    kiln_fs::atomic_file::write(&path, &bytes).map_err(io_err("write", &path))
}

/// Rename the staged entry (with `record`) into place; when another process put a complete
/// entry there meanwhile, use that one and delete ours. Returns the record of the entry used.
fn install(
    staged: &Path,
    record: Record,
    entry: &Path,
    digest: &Digest,
) -> Result<Record, RootfsError> {
    match fs::rename(staged, entry) {
        Ok(()) => {
            sync_dir(entry.parent());
            Ok(record)
        }
        Err(e) => {
            let _ = tree::remove_tree(staged);
            complete_record(entry, digest)
                .ok_or_else(|| io_err("move the unpacked rootfs into place at", entry)(e))
        }
    }
}

/// Flush the unpacked files to disk before the entry is renamed into place (best effort).
fn sync_filesystem(dir: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(d) = fs::File::open(dir) {
        let _ = rustix::fs::syncfs(&d);
    }
    #[cfg(not(target_os = "linux"))]
    sync_dir(Some(dir));
}

fn sync_dir(dir: Option<&Path>) {
    if let Some(d) = dir.and_then(|d| fs::File::open(d).ok()) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
