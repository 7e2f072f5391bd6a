//! Reading and writing OCI image layout directories (`oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`).
//!
//! Writes are atomic: every file is written to a temporary name in the same
//! directory, fsynced, and renamed into place. `index.json` updates are
//! serialised between processes with an advisory lock on `oci-layout`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Prefix of blob files being written (renamed to their digest when complete).
pub const BLOB_TEMP_PREFIX: &str = ".tmp-";

/// Prefix of a new `index.json` being written (renamed over the old one when complete).
pub const INDEX_TEMP_PREFIX: &str = "index.json.tmp-";

use serde_json::Value;
use tempfile::NamedTempFile;

use super::spec::{
    Descriptor, ImageConfig, ImageIndex, ImageManifest, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, is_config_media_type, is_index_media_type,
    is_manifest_media_type,
};
use kiln_fs::atomic_file::{self, Durability};

use super::{DEFAULT_TAG, Digest, FileStamp, HashingWriter, ImageError, Result, io_err};

/// Name of the layout marker file.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// Name of the top-level index file.
pub const INDEX_FILE: &str = "index.json";
/// The only supported `imageLayoutVersion`.
pub const LAYOUT_VERSION: &str = "1.0.0";
/// Exact bytes Kiln writes to `oci-layout`.
const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// Mode of every file Kiln writes into a layout (umask-independent).
const FILE_MODE: u32 = 0o644;
/// How deep nested indexes are followed.
const MAX_INDEX_DEPTH: usize = 4;

/// How [`BlobStore::copy_verified_from`] (and [`crate::VerifiedLayers::copy`]) put a blob in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyOutcome {
    /// The destination already had it (with the right size); nothing was read or written.
    Present,
    /// Copied without reading it in Kiln (`copy_file_range` or a reflink), because the source
    /// file is the one Kiln checked.
    Cloned,
    /// Read, hashed and written (the source was not known to be checked, or it changed).
    Hashed,
}

/// Content-addressed blob storage: `<layout>/blobs/sha256/<hex>`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// A store rooted at `dir` (the `blobs/sha256` directory; created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The `blobs/sha256` directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the blob with `digest` is (or would be) stored.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    /// Whether a blob with `digest` is present (not verified).
    pub fn has(&self, digest: &Digest) -> bool {
        fs::symlink_metadata(self.path(digest)).is_ok_and(|m| m.is_file())
    }

    /// Opens a blob for streaming reads (content not verified).
    pub fn open(&self, digest: &Digest) -> Result<File> {
        let path = self.path(digest);
        File::open(&path).map_err(|source| blob_open_error(digest, path, source))
    }

    /// Reads a whole blob and verifies that its sha256 equals `digest`.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.path(digest);
        let mut data = Vec::new();
        self.open(digest)?
            .read_to_end(&mut data)
            .map_err(io_err("read blob", &path))?;
        let actual = Digest::of_bytes(&data);
        if &actual != digest {
            return Err(ImageError::DigestMismatch {
                path,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(data)
    }

    /// Reads the blob a descriptor points at, verifying digest and size.
    pub fn read_descriptor(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let data = self.read(&desc.digest)?;
        let actual = data.len() as u64;
        if actual != desc.size {
            return Err(ImageError::SizeMismatch {
                path: self.path(&desc.digest),
                expected: desc.size,
                actual,
            });
        }
        Ok(data)
    }

    /// Copies the blob `desc` from `source` into this store, verifying its digest while
    /// streaming. Returns false (and copies nothing) if it is already here.
    pub fn copy_from(&self, source: &BlobStore, desc: &Descriptor) -> Result<bool> {
        if self.has(&desc.digest) {
            return Ok(false);
        }
        self.hashing_copy(source, desc)?;
        Ok(true)
    }

    /// Read, hash and write the blob `desc` from `source`; a mismatch is an error and leaves
    /// nothing behind (a damaged blob already here is replaced only by a checked one).
    fn hashing_copy(&self, source: &BlobStore, desc: &Descriptor) -> Result<()> {
        let mut src = source.open(&desc.digest)?;
        let mut writer = self.writer()?;
        io::copy(&mut src, &mut writer).map_err(io_err("copy blob", source.path(&desc.digest)))?;
        writer
            .finish_expecting(&desc.media_type, &desc.digest)
            .map_err(|e| match e {
                ImageError::DigestMismatch {
                    expected, actual, ..
                } => ImageError::DigestMismatch {
                    path: source.path(&desc.digest),
                    expected,
                    actual,
                },
                other => other,
            })?;
        Ok(())
    }

    /// Copies the blob `desc` from `source`, whose file Kiln checked when it had the stamp
    /// `checked` (from [`crate::VerifiedLayers::check_stamped`] or a matching record),
    /// without reading it: nothing when this store has the blob with the right size, else
    /// `std::fs::copy` (`copy_file_range`, a reflink where the filesystem has them) into a
    /// temporary file renamed into place. When the source's stamp differs from `checked`
    /// before or after the copy, the copy is discarded and the hashing [`Self::copy_from`]
    /// decides instead.
    pub fn copy_verified_from(
        &self,
        source: &BlobStore,
        desc: &Descriptor,
        checked: &FileStamp,
    ) -> Result<CopyOutcome> {
        let target = self.path(&desc.digest);
        if self.has_with_size(&desc.digest, desc.size) {
            return Ok(CopyOutcome::Present);
        }
        let src = source.path(&desc.digest);
        let unchanged = || FileStamp::of(&src).is_ok_and(|s| s == *checked && s.size == desc.size);
        if unchanged() {
            fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
            let tmp = tempfile::Builder::new()
                .prefix(BLOB_TEMP_PREFIX)
                .tempfile_in(&self.dir)
                .map_err(io_err("create a temporary file in", &self.dir))?;
            let copied = fs::copy(&src, tmp.path()).map_err(io_err("copy blob", &src))?;
            if copied == desc.size && unchanged() {
                persist_file(tmp, &target)?;
                return Ok(CopyOutcome::Cloned);
            }
            tracing::warn!(
                "blob {} changed while it was copied; copying it again with its digest checked",
                src.display()
            );
        }
        // Not the file that was checked: only a copy whose digest checks out goes in place.
        self.hashing_copy(source, desc)?;
        Ok(CopyOutcome::Hashed)
    }

    /// Writes `bytes` as a blob (atomically; a no-op if a file with exactly these bytes is
    /// already there) and returns its descriptor.
    pub fn write_bytes(&self, bytes: &[u8], media_type: &str) -> Result<Descriptor> {
        let digest = Digest::of_bytes(bytes);
        let size = bytes.len() as u64;
        // A file already there counts only when it holds exactly these bytes (a damaged or
        // planted file of the right size is replaced, never taken for Kiln's own).
        let path = self.path(&digest);
        if self.has_with_size(&digest, size) && fs::read(&path).is_ok_and(|b| b == bytes) {
            freshen(&path);
            return Ok(Descriptor::new(media_type, digest, size));
        }
        let mut w = self.writer()?;
        w.write_all(bytes)
            .map_err(io_err("write blob", self.dir()))?;
        w.finish(media_type)
    }

    /// Starts streaming a new blob; see [`BlobWriter::finish`].
    pub fn writer(&self) -> Result<BlobWriter> {
        fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        let tmp = tempfile::Builder::new()
            .prefix(BLOB_TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(io_err("create a temporary file in", &self.dir))?;
        Ok(BlobWriter {
            inner: HashingWriter::new(BufWriter::new(tmp)),
            store: self.clone(),
        })
    }

    fn has_with_size(&self, digest: &Digest, size: u64) -> bool {
        fs::symlink_metadata(self.path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }
}

fn blob_open_error(digest: &Digest, path: PathBuf, source: io::Error) -> ImageError {
    if source.kind() == io::ErrorKind::NotFound {
        ImageError::BlobMissing {
            digest: digest.clone(),
            path,
        }
    } else {
        ImageError::Io {
            action: "read blob",
            path,
            source,
        }
    }
}

/// A blob being written: hashes and counts the bytes, then moves the
/// temporary file to `blobs/sha256/<hex>` on [`finish`](Self::finish).
/// Dropping it without finishing deletes the temporary file.
pub struct BlobWriter {
    inner: HashingWriter<BufWriter<NamedTempFile>>,
    store: BlobStore,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.inner.bytes_written()
    }

    /// Flushes, fsyncs and renames the blob into place (replacing a file of the same name);
    /// returns its descriptor.
    pub fn finish(self, media_type: &str) -> Result<Descriptor> {
        self.finish_inner(media_type, None)
    }

    /// [`Self::finish`], but when the content does not hash to `expected` nothing is put in
    /// place (the temporary file is dropped) and the error says so.
    pub fn finish_expecting(self, media_type: &str, expected: &Digest) -> Result<Descriptor> {
        self.finish_inner(media_type, Some(expected))
    }

    fn finish_inner(self, media_type: &str, expected: Option<&Digest>) -> Result<Descriptor> {
        let dir = self.store.dir.clone();
        let (buf, digest, size) = self.inner.finish();
        let tmp = buf.into_inner().map_err(|e| ImageError::Io {
            action: "write blob in",
            path: dir.clone(),
            source: e.into_error(),
        })?;
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(ImageError::DigestMismatch {
                path: dir,
                expected: expected.clone(),
                actual: digest,
            });
        }
        // Always ours in place, even over a file of the same name: callers remember what
        // they wrote as checked, so it must be these bytes.
        persist_file(tmp, &self.store.path(&digest))?;
        Ok(Descriptor::new(media_type, digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A blob a write found already present, older than this, gets a new mtime.
const FRESHEN_AFTER: std::time::Duration = std::time::Duration::from_mins(10);

/// Mark the existing blob `path` as just written (its mtime), so that a sweep with a grace
/// period ([`crate::collect_garbage_with`]) does not remove it before the image that now
/// uses it is tagged. Best effort; recent blobs are left alone.
fn freshen(path: &Path) {
    crate::cache_sweep::touch_if_older(path, FRESHEN_AFTER);
}

/// Sets mode 0644, fsyncs and renames `tmp` to `target`.
fn persist_file(tmp: NamedTempFile, target: &Path) -> Result<()> {
    atomic_file::commit(tmp, target, Some(FILE_MODE), Durability::Synced)
        .map_err(io_err("write", target))
}

/// Atomically replaces `dir/name` with `bytes` (temp file `name.tmp-*`, fsync, rename).
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let target = dir.join(name);
    atomic_file::write_with_prefix(
        &target,
        Some(&format!("{name}.tmp-")),
        Some(FILE_MODE),
        bytes,
    )
    .map_err(io_err("write", &target))
}

/// An image read from a layout.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The tag (`ref.name`) of the selected `index.json` entry, if it has one.
    pub tag: Option<String>,
    /// Descriptor of the image manifest (from index.json or a nested index).
    pub manifest_descriptor: Descriptor,
    /// The parsed manifest.
    pub manifest: ImageManifest,
    /// The exact manifest bytes.
    pub manifest_bytes: Vec<u8>,
    /// The image config (unknown fields preserved).
    pub config: ImageConfig,
    /// The exact config bytes.
    pub config_bytes: Vec<u8>,
}

impl ResolvedImage {
    /// The manifest digest (the image's identity in a registry).
    pub fn manifest_digest(&self) -> &Digest {
        &self.manifest_descriptor.digest
    }

    /// The config digest (the image ID).
    pub fn config_digest(&self) -> &Digest {
        &self.manifest.config.digest
    }

    /// The image config as a JSON value.
    pub fn config_value(&self) -> Value {
        self.config.to_value()
    }
}

/// What [`OciLayout::write_image`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenImage {
    /// The manifest descriptor as recorded in index.json (with the ref.name annotation).
    pub manifest: Descriptor,
    /// The config descriptor.
    pub config: Descriptor,
}

impl WrittenImage {
    /// sha256 of the exact manifest bytes written: the digest to show users.
    pub fn manifest_digest(&self) -> &Digest {
        &self.manifest.digest
    }
}

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    blobs: BlobStore,
}

impl OciLayout {
    /// Opens an existing layout; `oci-layout` (version 1.0.0) and `index.json` must exist.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        match fs::metadata(&root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ImageError::NotALayout {
                    path: root,
                    reason: "not a directory".into(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ImageError::NotALayout {
                    path: root,
                    reason: "OCI image layout directory does not exist".into(),
                });
            }
            Err(e) => return Err(io_err("access", root)(e)),
        }
        check_oci_layout_file(&root)?;
        let layout = Self::at(root);
        layout.index()?;
        Ok(layout)
    }

    /// Opens a layout, creating it (directory, `oci-layout`, empty `index.json`,
    /// `blobs/sha256`) as needed. Refuses a non-empty directory that is not a layout.
    pub fn create_or_open(dir: impl AsRef<Path>) -> Result<Self> {
        let root = dir.as_ref().to_path_buf();
        let marker = root.join(OCI_LAYOUT_FILE);
        match fs::metadata(&root) {
            Ok(m) if !m.is_dir() => {
                return Err(ImageError::NotALayout {
                    path: root,
                    reason: "exists and is not a directory".into(),
                });
            }
            Ok(_) => {
                let has_marker = fs::symlink_metadata(&marker).is_ok();
                if has_marker {
                    check_oci_layout_file(&root)?;
                } else {
                    let mut entries = fs::read_dir(&root).map_err(io_err("list", &root))?;
                    if entries.next().is_some() {
                        return Err(ImageError::NotALayout {
                            path: root,
                            reason: format!(
                                "directory is not empty and is not an OCI image layout (no {OCI_LAYOUT_FILE} file); refusing to write into it"
                            ),
                        });
                    }
                    write_atomic(&root, OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(&root).map_err(io_err("create directory", &root))?;
                write_atomic(&root, OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT)?;
            }
            Err(e) => return Err(io_err("access", root)(e)),
        }
        let layout = Self::at(root);
        fs::create_dir_all(layout.blobs.dir())
            .map_err(io_err("create directory", layout.blobs.dir()))?;
        if fs::symlink_metadata(layout.index_path()).is_err() {
            write_atomic(&layout.root, INDEX_FILE, &ImageIndex::new().to_bytes()?)?;
        }
        layout.index()?;
        Ok(layout)
    }

    fn at(root: PathBuf) -> Self {
        let blobs = BlobStore::new(root.join("blobs").join("sha256"));
        Self { root, blobs }
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob store of this layout.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Path of `index.json`.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// Reads and parses `index.json`.
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::NotALayout {
                    path: path.clone(),
                    reason: "missing (every OCI image layout has an index.json)".into(),
                }
            } else {
                io_err("read", path.clone())(e)
            }
        })?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
                what: path.display().to_string(),
                source,
            })?;
        if index.schema_version != 2 {
            return Err(ImageError::NotALayout {
                path,
                reason: format!("schemaVersion is {}, expected 2", index.schema_version),
            });
        }
        Ok(index)
    }

    /// The tags (`ref.name` annotations) in `index.json`, in index order.
    pub fn tags(&self) -> Result<Vec<String>> {
        Ok(tags_of(&self.index()?))
    }

    fn image_name(&self, tag: Option<&str>) -> String {
        format!("{}:{}", self.root.display(), tag.unwrap_or("<default>"))
    }

    /// Reads the image tagged `tag`. With `None`: the only image in the layout,
    /// or else the one tagged `latest`. A multi-platform index entry resolves
    /// to its `linux/<host arch>` manifest. Digests and sizes are verified.
    pub fn resolve(&self, tag: Option<&str>) -> Result<ResolvedImage> {
        let index = self.index()?;
        let entry = self.select_entry(&index, tag)?;
        let ref_name = entry.ref_name().map(str::to_owned);
        let image = self.image_name(ref_name.as_deref().or(tag));
        self.resolve_descriptor(entry.clone())
            .map(|mut r| {
                r.tag = ref_name;
                r
            })
            .map_err(|e| ImageError::Resolve {
                image,
                source: Box::new(e),
            })
    }

    fn select_entry<'a>(&self, index: &'a ImageIndex, tag: Option<&str>) -> Result<&'a Descriptor> {
        if let Some(t) = tag {
            return index
                .manifests
                .iter()
                .find(|d| d.ref_name() == Some(t))
                .ok_or_else(|| ImageError::TagNotFound {
                    layout: self.root.clone(),
                    tag: t.to_owned(),
                    available: tags_of(index),
                });
        }
        if let [only] = index.manifests.as_slice() {
            return Ok(only);
        }
        if let Some(d) = index
            .manifests
            .iter()
            .find(|d| d.ref_name() == Some(DEFAULT_TAG))
        {
            return Ok(d);
        }
        if index.manifests.is_empty() {
            Err(ImageError::TagNotFound {
                layout: self.root.clone(),
                tag: DEFAULT_TAG.to_owned(),
                available: Vec::new(),
            })
        } else {
            Err(ImageError::AmbiguousImage {
                layout: self.root.clone(),
                count: index.manifests.len(),
                available: tags_of(index),
            })
        }
    }

    /// Resolves a descriptor (manifest or index) to an image.
    pub fn resolve_descriptor(&self, desc: Descriptor) -> Result<ResolvedImage> {
        let mut desc = desc;
        for _ in 0..MAX_INDEX_DEPTH {
            if !is_index_media_type(&desc.media_type) {
                break;
            }
            desc = self.pick_platform(&desc)?;
        }
        let what = format!("manifest {}", self.blobs.path(&desc.digest).display());
        if !is_manifest_media_type(&desc.media_type) {
            return Err(ImageError::InvalidManifest {
                what,
                reason: format!(
                    "media type {:?} is not an image manifest or index",
                    desc.media_type
                ),
            });
        }
        let manifest_bytes = self.blobs.read_descriptor(&desc)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| ImageError::Json {
                what: what.clone(),
                source,
            })?;
        if manifest.schema_version != 2 {
            return Err(ImageError::InvalidManifest {
                what,
                reason: format!("schemaVersion is {}, expected 2", manifest.schema_version),
            });
        }
        if let Some(mt) = manifest
            .media_type
            .as_ref()
            .filter(|mt| **mt != desc.media_type)
        {
            return Err(ImageError::InvalidManifest {
                what,
                reason: format!(
                    "mediaType field {mt:?} differs from its descriptor's {:?}",
                    desc.media_type
                ),
            });
        }
        if !is_config_media_type(&manifest.config.media_type) {
            return Err(ImageError::InvalidManifest {
                what,
                reason: format!(
                    "config media type {:?} is not an image config (an artifact, not an image?)",
                    manifest.config.media_type
                ),
            });
        }
        let config_bytes = self.blobs.read_descriptor(&manifest.config)?;
        let config = ImageConfig::from_bytes(
            &config_bytes,
            &format!(
                "config {}",
                self.blobs.path(&manifest.config.digest).display()
            ),
        )?;
        Ok(ResolvedImage {
            tag: desc.ref_name().map(str::to_owned),
            manifest_descriptor: desc,
            manifest,
            manifest_bytes,
            config,
            config_bytes,
        })
    }

    fn pick_platform(&self, desc: &Descriptor) -> Result<Descriptor> {
        let what = format!("index {}", self.blobs.path(&desc.digest).display());
        let bytes = self.blobs.read_descriptor(desc)?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
                what: what.clone(),
                source,
            })?;
        let arch = kiln_spec::platform::host_arch();
        index
            .manifests
            .iter()
            .find(|d| {
                d.platform
                    .as_ref()
                    .is_some_and(|p| p.os == "linux" && p.architecture == arch)
            })
            .cloned()
            .ok_or_else(|| ImageError::PlatformNotFound {
                what,
                platform: format!("linux/{arch}"),
                available: index
                    .manifests
                    .iter()
                    .map(|d| match &d.platform {
                        Some(p) => match &p.variant {
                            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                            None => format!("{}/{}", p.os, p.architecture),
                        },
                        None => format!("{} (no platform)", d.digest),
                    })
                    .collect(),
            })
    }

    /// Writes the config blob and an OCI manifest for `layers` (whose blobs must
    /// already be in the store), then points `tag` at it in `index.json`.
    pub fn write_image(
        &self,
        tag: &str,
        config: &ImageConfig,
        layers: Vec<Descriptor>,
    ) -> Result<WrittenImage> {
        super::validate_tag(tag)?;
        let diff_ids = config.diff_ids()?;
        if diff_ids.len() != layers.len() {
            return Err(ImageError::InvalidConfig(format!(
                "rootfs.diff_ids has {} entries but the manifest has {} layers",
                diff_ids.len(),
                layers.len()
            )));
        }
        let config_desc = self
            .blobs
            .write_bytes(&config.to_bytes()?, MEDIA_TYPE_OCI_CONFIG)?;
        let manifest = ImageManifest::new_oci(config_desc.clone(), layers);
        let manifest_desc = self.put_manifest(tag, &manifest)?;
        Ok(WrittenImage {
            manifest: manifest_desc,
            config: config_desc,
        })
    }

    /// Writes `manifest` as a blob (its config and layer blobs must exist,
    /// with matching sizes) and points `tag` at it; returns the index entry.
    pub fn put_manifest(&self, tag: &str, manifest: &ImageManifest) -> Result<Descriptor> {
        super::validate_tag(tag)?;
        for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
            let path = self.blobs.path(&d.digest);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_file() && m.len() == d.size => {}
                Ok(m) => {
                    return Err(ImageError::SizeMismatch {
                        path,
                        expected: d.size,
                        actual: m.len(),
                    });
                }
                Err(_) => {
                    return Err(ImageError::BlobMissing {
                        digest: d.digest.clone(),
                        path,
                    });
                }
            }
        }
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| MEDIA_TYPE_OCI_MANIFEST.to_owned());
        let mut desc = self.blobs.write_bytes(&manifest.to_bytes()?, &media_type)?;
        // Make the blob renames durable before index.json can point at them.
        for dir in [self.blobs.dir(), self.root.as_path()] {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        desc.set_ref_name(tag);
        kiln_fs::fault::point("export-before-index");
        self.tag_descriptor(desc.clone())?;
        Ok(desc)
    }

    /// Adds `desc` to `index.json` under its `ref.name` annotation: an entry
    /// with the same name is replaced in place, otherwise it is appended.
    /// Other entries are kept. The update is atomic and locked.
    pub fn tag_descriptor(&self, desc: Descriptor) -> Result<()> {
        let marker = self.root.join(OCI_LAYOUT_FILE);
        let lock = File::open(&marker).map_err(io_err("open", &marker))?;
        lock.lock().map_err(io_err("lock", &marker))?;
        let mut index = self.index()?;
        let name = desc.ref_name().map(str::to_owned);
        let mut replaced = false;
        if let Some(name) = name.as_deref() {
            let mut new = Some(desc.clone());
            index.manifests.retain_mut(|d| {
                if d.ref_name() != Some(name) {
                    return true;
                }
                // replace the first match in place, drop any duplicates
                match new.take() {
                    Some(n) => {
                        *d = n;
                        replaced = true;
                        true
                    }
                    None => false,
                }
            });
        }
        if !replaced {
            index.manifests.push(desc);
        }
        index.schema_version = 2;
        index.media_type = Some(MEDIA_TYPE_OCI_INDEX.to_owned());
        let res = write_atomic(&self.root, INDEX_FILE, &index.to_bytes()?);
        let _ = lock.unlock();
        res
    }
}

fn tags_of(index: &ImageIndex) -> Vec<String> {
    index
        .manifests
        .iter()
        .filter_map(|d| d.ref_name().map(str::to_owned))
        .collect()
}

fn check_oci_layout_file(root: &Path) -> Result<()> {
    let path = root.join(OCI_LAYOUT_FILE);
    let bytes = fs::read(&path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            ImageError::NotALayout {
                path: path.clone(),
                reason: "missing: not an OCI image layout".into(),
            }
        } else {
            io_err("read", path.clone())(e)
        }
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
        what: path.display().to_string(),
        source,
    })?;
    match v.get("imageLayoutVersion").and_then(Value::as_str) {
        Some(LAYOUT_VERSION) => Ok(()),
        Some(other) => Err(ImageError::NotALayout {
            path,
            reason: format!(
                "imageLayoutVersion is {other:?}, only {LAYOUT_VERSION:?} is supported"
            ),
        }),
        None => Err(ImageError::NotALayout {
            path,
            reason: "no imageLayoutVersion string".into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::{
        HistoryEntry, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER_GZIP,
        MEDIA_TYPE_DOCKER_MANIFEST, Platform,
    };
    use crate::{LayerBuilder, LayerOwnership, WrittenLayer};
    use std::os::unix::fs::PermissionsExt as _;

    fn layer(layout: &OciLayout, content: &str) -> WrittenLayer {
        let mut b = LayerBuilder::new(LayerOwnership::ROOT);
        b.add_file("etc/content", content.as_bytes().to_vec(), 0o644)
            .unwrap();
        b.write_to(layout.blobs()).unwrap()
    }

    #[test]
    fn a_planted_file_of_the_right_size_is_replaced_by_what_kiln_writes() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let digest = Digest::of_bytes(b"real");
        fs::write(layout.blobs().path(&digest), b"fake").unwrap();
        layout.blobs().write_bytes(b"real", "x/y").unwrap();
        assert_eq!(fs::read(layout.blobs().path(&digest)).unwrap(), b"real");

        fs::write(layout.blobs().path(&digest), b"fake").unwrap();
        let mut w = layout.blobs().writer().unwrap();
        w.write_all(b"real").unwrap();
        w.finish("x/y").unwrap();
        assert_eq!(fs::read(layout.blobs().path(&digest)).unwrap(), b"real");
    }

    fn config_for(layers: &[&WrittenLayer], label: &str) -> ImageConfig {
        let mut c = ImageConfig::new("linux", kiln_spec::platform::host_arch());
        c.set_created(Some(crate::NORMALIZED_CREATED));
        c.set_label("which", label);
        c.set_env(vec!["PATH=/bin".into()]);
        c.set_diff_ids(&layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>());
        for l in layers {
            c.push_history(&HistoryEntry {
                created_by: Some(format!("layer {}", l.diff_id.short())),
                ..HistoryEntry::default()
            })
            .unwrap();
        }
        c
    }

    fn write(layout: &OciLayout, tag: &str, label: &str) -> WrittenImage {
        let l = layer(layout, label);
        let c = config_for(&[&l], label);
        layout
            .write_image(tag, &c, vec![l.descriptor.clone()])
            .unwrap()
    }

    fn tmp_names(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("tmp"))
            .collect()
    }

    #[test]
    fn create_writes_skeleton_and_reopens() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("out/layout");
        let l = OciLayout::create_or_open(&dir).unwrap();
        assert_eq!(
            fs::read(dir.join("oci-layout")).unwrap(),
            OCI_LAYOUT_CONTENT
        );
        assert_eq!(
            fs::read_to_string(dir.join("index.json")).unwrap(),
            format!(r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_OCI_INDEX}","manifests":[]}}"#)
        );
        assert!(dir.join("blobs/sha256").is_dir());
        assert!(l.tags().unwrap().is_empty());
        OciLayout::open(&dir).unwrap();
        OciLayout::create_or_open(&dir).unwrap();
        // an existing empty directory is initialised too
        let empty = t.path().join("empty");
        fs::create_dir(&empty).unwrap();
        OciLayout::create_or_open(&empty).unwrap();
        // oci-layout present but index.json missing: index is created
        fs::remove_file(empty.join("index.json")).unwrap();
        OciLayout::create_or_open(&empty).unwrap();
        assert!(empty.join("index.json").is_file());
    }

    #[test]
    fn create_refuses_foreign_directory_untouched() {
        let t = tempfile::tempdir().unwrap();
        fs::write(t.path().join("important.txt"), "keep").unwrap();
        let e = OciLayout::create_or_open(t.path()).unwrap_err().to_string();
        assert!(e.contains("not empty") && e.contains("oci-layout"), "{e}");
        let names: Vec<_> = fs::read_dir(t.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let f = t.path().join("a-file");
        fs::write(&f, "").unwrap();
        assert!(OciLayout::create_or_open(&f).is_err());
    }

    #[test]
    fn open_errors_name_the_problem() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("nope");
        let e = OciLayout::open(&missing).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("does not exist"), "{e}");

        let d = t.path().join("d");
        fs::create_dir(&d).unwrap();
        let e = OciLayout::open(&d).unwrap_err().to_string();
        assert!(e.contains("oci-layout") && e.contains("missing"), "{e}");

        fs::write(d.join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
        let e = OciLayout::open(&d).unwrap_err().to_string();
        assert!(e.contains("oci-layout") && e.contains("2.0.0"), "{e}");

        fs::write(d.join("oci-layout"), OCI_LAYOUT_CONTENT).unwrap();
        let e = OciLayout::open(&d).unwrap_err().to_string();
        assert!(e.contains("index.json") && e.contains("missing"), "{e}");

        fs::write(d.join("index.json"), "{not json").unwrap();
        let e = OciLayout::open(&d).unwrap_err().to_string();
        assert!(e.contains("index.json") && e.contains("JSON"), "{e}");
    }

    #[test]
    fn round_trip_keeps_other_tags_and_replaces_in_place() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let a1 = write(&layout, "a", "a1");
        let b = write(&layout, "b", "b");
        let a2 = write(&layout, "a", "a2");
        let c = write(&layout, "c", "c");
        assert_ne!(a1.manifest.digest, a2.manifest.digest);
        assert_eq!(layout.tags().unwrap(), vec!["a", "b", "c"]);
        let idx = layout.index().unwrap();
        assert_eq!(idx.manifests[0], a2.manifest);
        assert_eq!(idx.manifests[1], b.manifest);
        assert_eq!(idx.manifests[2], c.manifest);
        assert_eq!(a2.manifest.ref_name(), Some("a"));

        let ra = layout.resolve(Some("a")).unwrap();
        assert_eq!(ra.config.label("which"), Some("a2"));
        assert_eq!(ra.tag.as_deref(), Some("a"));
        assert_eq!(ra.manifest_digest(), a2.manifest_digest());
        // the digest shown to users is sha256 of the exact manifest bytes on disk
        let on_disk = fs::read(layout.blobs().path(a2.manifest_digest())).unwrap();
        assert_eq!(&Digest::of_bytes(&on_disk), a2.manifest_digest());
        assert_eq!(ra.manifest_bytes, on_disk);
        assert_eq!(ra.config_digest(), &a2.config.digest);
        assert_eq!(Digest::of_bytes(&ra.config_bytes), a2.config.digest);
        assert_eq!(
            layout.resolve(Some("b")).unwrap().config.label("which"),
            Some("b")
        );

        // blobs and index are 0644 and no temp files are left behind
        for p in [
            layout.index_path(),
            layout.blobs().path(a2.manifest_digest()),
        ] {
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
        assert!(tmp_names(t.path()).is_empty(), "{:?}", tmp_names(t.path()));
        assert!(tmp_names(layout.blobs().dir()).is_empty());

        // same inputs → same manifest digest (reproducible)
        let t2 = tempfile::tempdir().unwrap();
        let other = OciLayout::create_or_open(t2.path()).unwrap();
        assert_eq!(write(&other, "x", "a2").manifest.digest, a2.manifest.digest);
    }

    #[test]
    fn default_tag_selection() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let e = layout.resolve(None).unwrap_err().to_string();
        assert!(e.contains("(none)"), "{e}");
        write(&layout, "only", "only");
        assert_eq!(layout.resolve(None).unwrap().tag.as_deref(), Some("only"));
        write(&layout, "second", "second");
        let e = layout.resolve(None).unwrap_err().to_string();
        assert!(e.contains("only, second") && e.contains("latest"), "{e}");
        write(&layout, "latest", "l");
        assert_eq!(
            layout.resolve(None).unwrap().config.label("which"),
            Some("l")
        );
    }

    #[test]
    fn resolve_errors_name_tag_and_file() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let w = write(&layout, "v1", "x");
        let e = layout.resolve(Some("v2")).unwrap_err().to_string();
        assert!(
            e.contains("\"v2\"") && e.contains("available tags: v1"),
            "{e}"
        );

        // corrupt the manifest blob → digest mismatch naming the blob and image
        let mpath = layout.blobs().path(w.manifest_digest());
        let good = fs::read(&mpath).unwrap();
        fs::write(&mpath, b"{}").unwrap();
        let e = layout.resolve(Some("v1")).unwrap_err();
        let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(chain.contains("v1") && chain.contains("corrupt"), "{chain}");
        assert!(chain.contains(w.manifest_digest().hex()), "{chain}");
        fs::write(&mpath, &good).unwrap();

        // missing config blob
        let cpath = layout.blobs().path(&w.config.digest);
        let cfg = fs::read(&cpath).unwrap();
        fs::remove_file(&cpath).unwrap();
        let e = layout.resolve(Some("v1")).unwrap_err();
        let src = std::error::Error::source(&e).unwrap().to_string();
        assert!(
            src.contains("missing") && src.contains(w.config.digest.hex()),
            "{src}"
        );
        fs::write(&cpath, &cfg).unwrap();
        layout.resolve(Some("v1")).unwrap();

        // unparsable manifest JSON
        let junk = layout
            .blobs()
            .write_bytes(b"not json", MEDIA_TYPE_OCI_MANIFEST)
            .unwrap();
        let mut junk_entry = junk.clone();
        junk_entry.set_ref_name("junk");
        layout.tag_descriptor(junk_entry).unwrap();
        let e = layout.resolve(Some("junk")).unwrap_err();
        let src = std::error::Error::source(&e).unwrap().to_string();
        assert!(
            src.contains("JSON") && src.contains(junk.digest.hex()),
            "{src}"
        );
        assert!(e.to_string().contains("junk"), "{e}");

        // write_image refuses missing layers and diff_id count mismatches
        let c = ImageConfig::new("linux", "amd64");
        let fake = Descriptor::new(
            crate::MEDIA_TYPE_OCI_LAYER_GZIP,
            Digest::of_bytes(b"nope"),
            4,
        );
        assert!(layout.write_image("bad", &c, vec![fake.clone()]).is_err());
        let mut c2 = c.clone();
        c2.set_diff_ids(&[Digest::of_bytes(b"x")]);
        let e = layout
            .write_image("bad", &c2, vec![fake])
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing"), "{e}");
        assert!(layout.write_image("bad tag", &c, vec![]).is_err());
        assert!(!layout.tags().unwrap().contains(&"bad".to_owned()));
    }

    #[test]
    fn blob_store_verifies() {
        let t = tempfile::tempdir().unwrap();
        let store = BlobStore::new(t.path().join("blobs/sha256"));
        let d = store.write_bytes(b"hello", "text/plain").unwrap();
        assert_eq!(d.size, 5);
        assert!(store.has(&d.digest));
        assert_eq!(store.read(&d.digest).unwrap(), b"hello");
        let mut wrong = d.clone();
        wrong.size = 6;
        assert!(matches!(
            store.read_descriptor(&wrong),
            Err(ImageError::SizeMismatch { .. })
        ));
        fs::write(store.path(&d.digest), b"HELLO").unwrap();
        assert!(matches!(
            store.read(&d.digest),
            Err(ImageError::DigestMismatch { .. })
        ));
        let absent = Digest::of_bytes(b"absent");
        assert!(!store.has(&absent));
        assert!(matches!(
            store.read(&absent),
            Err(ImageError::BlobMissing { .. })
        ));
    }

    #[test]
    fn resolves_nested_index_and_docker_manifests() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(tmp.path()).unwrap();
        let base_layer = layer(&layout, "docker");
        let mut cfg = config_for(&[&base_layer], "docker");
        cfg.set_top_level_str("architecture", Some(kiln_spec::platform::host_arch()));
        let cdesc = layout
            .blobs()
            .write_bytes(&cfg.to_bytes().unwrap(), MEDIA_TYPE_DOCKER_CONFIG)
            .unwrap();
        let mut ldesc = base_layer.descriptor.clone();
        ldesc.media_type = MEDIA_TYPE_DOCKER_LAYER_GZIP.into();
        let mut manifest = ImageManifest::new_oci(cdesc, vec![ldesc]);
        manifest.media_type = Some(MEDIA_TYPE_DOCKER_MANIFEST.into());
        let mdesc = layout
            .blobs()
            .write_bytes(&manifest.to_bytes().unwrap(), MEDIA_TYPE_DOCKER_MANIFEST)
            .unwrap();
        let other = write(&layout, "tmp-other", "other");
        let plat = |arch: &str| Platform {
            architecture: arch.into(),
            os: "linux".into(),
            os_version: None,
            os_features: None,
            variant: None,
        };
        let foreign = if kiln_spec::platform::host_arch() == "s390x" {
            "ppc64le"
        } else {
            "s390x"
        };
        let mut e1 = other.manifest.clone();
        e1.annotations = None;
        e1.platform = Some(plat(foreign));
        let mut e2 = mdesc.clone();
        e2.platform = Some(plat(kiln_spec::platform::host_arch()));
        let mut idx = ImageIndex::new();
        idx.manifests = vec![e1.clone(), e2];
        let nested = layout
            .blobs()
            .write_bytes(&idx.to_bytes().unwrap(), MEDIA_TYPE_OCI_INDEX)
            .unwrap();
        let mut entry = nested.clone();
        entry.set_ref_name("multi");
        layout.tag_descriptor(entry).unwrap();
        let r = layout.resolve(Some("multi")).unwrap();
        assert_eq!(r.manifest_descriptor.digest, mdesc.digest);
        assert_eq!(r.tag.as_deref(), Some("multi"));
        assert_eq!(r.config.label("which"), Some("docker"));

        // an index without the host platform
        let mut idx2 = ImageIndex::new();
        idx2.manifests = vec![e1];
        let i2 = layout
            .blobs()
            .write_bytes(&idx2.to_bytes().unwrap(), MEDIA_TYPE_OCI_INDEX)
            .unwrap();
        let mut entry2 = i2;
        entry2.set_ref_name("foreign");
        layout.tag_descriptor(entry2).unwrap();
        let err = layout.resolve(Some("foreign")).unwrap_err();
        let src = std::error::Error::source(&err).unwrap().to_string();
        assert!(src.contains(&format!("linux/{foreign}")), "{src}");
    }

    #[test]
    fn summary_of_written_image() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let l1 = layer(&layout, "one");
        let l2 = layer(&layout, "two");
        let mut c = config_for(&[&l1, &l2], "sum");
        c.set_entrypoint(Some(vec!["/cnb/lifecycle/launcher".into()]));
        c.set_working_dir(Some("/workspace"));
        c.set_user(Some("1000:1000"));
        let w = layout
            .write_image("s", &c, vec![l1.descriptor.clone(), l2.descriptor.clone()])
            .unwrap();
        let s = crate::ImageSummary::from_layout(&layout, Some("s")).unwrap();
        assert_eq!(&s.manifest_digest, w.manifest_digest());
        assert_eq!(s.config_digest, w.config.digest);
        assert_eq!(s.layers.len(), 2);
        assert_eq!(s.layers[1].diff_id.as_ref(), Some(&l2.diff_id));
        assert_eq!(s.layers[1].digest, l2.descriptor.digest);
        assert_eq!(
            s.layers[0].created_by.as_deref(),
            Some(format!("layer {}", l1.diff_id.short()).as_str())
        );
        assert_eq!(s.labels.get("which").map(String::as_str), Some("sum"));
        assert_eq!(
            s.entrypoint,
            Some(vec!["/cnb/lifecycle/launcher".to_owned()])
        );
        assert_eq!(s.cmd, None);
        assert_eq!(s.env, vec!["PATH=/bin"]);
        assert_eq!(s.working_dir.as_deref(), Some("/workspace"));
        assert_eq!(s.user.as_deref(), Some("1000:1000"));
        assert_eq!(s.os.as_deref(), Some("linux"));
        assert_eq!(
            s.architecture.as_deref(),
            Some(kiln_spec::platform::host_arch())
        );
    }
}
