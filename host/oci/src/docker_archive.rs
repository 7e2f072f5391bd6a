//! `docker-archive` tarballs: the format of `docker save`/`docker load`,
//! `podman save`/`podman load` and `skopeo copy … docker-archive:FILE`.
//!
//! # What Kiln writes
//!
//! [`write_docker_archive`] writes one image as an uncompressed tar with these
//! entries, in this order:
//!
//! 1. `manifest.json`: `[{"Config":"<config hex>.json","RepoTags":[…],"Layers":["<diff_id hex>.tar",…]}]`
//!    (compact JSON, keys in that order);
//! 2. `repositories` (only when there are RepoTags and layers): the legacy
//!    `{"NAME":{"TAG":"<top layer diff_id hex>"}}` map, keys sorted;
//! 3. `<config sha256 hex>.json`: the exact config bytes;
//! 4. `<diff_id hex>.tar` per layer, bottom first: the *uncompressed* layer
//!    tar (gzip blobs are decompressed while streaming, uncompressed blobs are
//!    copied as is). A diff_id that occurs twice is stored once and listed
//!    twice in `Layers`.
//!
//! Every entry is a ustar regular file with mode 0644, uid/gid 0, no
//! uname/gname and mtime [`NORMALIZED_MTIME`]; the
//! archive ends with two zero blocks. So the same image and tags always give
//! the same bytes. No legacy `<id>/layer.tar` directories are written:
//! `docker load` (since 1.10), `podman load` and skopeo all use `manifest.json`.
//!
//! The file is written to a temporary file in the target's directory, fsynced
//! and renamed over the target: a crash or an error never leaves a partial
//! archive, and an existing file survives any failure.
//!
//! # What Kiln reads
//!
//! [`read_docker_archive`] reads archives from `docker save` (the classic
//! layout and the Docker 25+ layout whose entries are `blobs/sha256/<hex>`),
//! `podman save` and `skopeo copy`: layers may be plain or gzip tars (detected
//! by their magic bytes), entries may be symlinks or hard links to other
//! entries. Layer content is checked against the config's `rootfs.diff_ids`
//! as it is streamed. [`ArchiveImage::import_into`] copies the layers into an
//! OCI blob store as **uncompressed** layers (`application/vnd.oci.image.layer.v1.tar`,
//! digest = diff_id): no recompression, so importing is fast, needs no
//! compression settings to be reproducible, and gives the same digests
//! whatever compression the archive used.
//!
//! # References
//!
//! [`DockerArchiveRef`] parses `docker-archive:FILE[:NAME:TAG]`; see
//! [`DockerArchiveRef::parse`] for how FILE and NAME:TAG are told apart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::distribution::Reference;

use flate2::bufread::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use super::spec::{MEDIA_TYPE_OCI_LAYER_TAR, to_json_bytes};
use super::{
    BlobStore, DEFAULT_TAG, Descriptor, Digest, ImageConfig, ImageError, NORMALIZED_MTIME,
    ResolvedImage, Result,
};

/// The transport prefix of a docker-archive reference.
pub const TRANSPORT: &str = "docker-archive:";
/// The entry that lists the images of an archive.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The legacy tag map entry.
pub const REPOSITORIES_FILE: &str = "repositories";

/// Mode of every entry Kiln writes, and of the archive file itself.
const FILE_MODE: u32 = 0o644;
/// tar block size.
const BLOCK: u64 = 512;
/// [`BLOCK`] as a length.
const BLOCK_LEN: usize = 512;
/// Largest `manifest.json` or config entry Kiln reads into memory.
const MAX_JSON_ENTRY: u64 = 64 << 20;
/// How many symlinks/hard links are followed to find an entry.
const MAX_LINK_HOPS: usize = 16;
/// Copy buffer size.
const COPY_BUF: usize = 256 * 1024;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

// ---------------------------------------------------------------------------
// NAME:TAG
// ---------------------------------------------------------------------------

/// An image name with an explicit tag, as in a docker-archive's `RepoTags`:
/// `[HOST[:PORT]/]PATH[/PATH…]:TAG`, e.g. `app:v1` or `localhost:5000/team/app:v1`.
///
/// The grammar is the distribution reference grammar without digests: path
/// components are lowercase letters and digits separated by `.`, `_`, `__`
/// or dashes; the first component is a registry host when there are at
/// least two and it contains `.` or `:`, is `localhost`, or has an uppercase
/// letter. Names are kept as written (no `docker.io/library/` added); see
/// [`RepoTag::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoTag {
    name: String,
    tag: String,
    /// The fully qualified form (registry, repository and tag).
    normalized: String,
}

impl RepoTag {
    /// Parses `NAME:TAG`; the tag is required.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: String| ImageError::InvalidTag {
            tag: input.to_owned(),
            reason,
        };
        if input.contains('@') {
            return Err(bad(
                "digest references (NAME@sha256:…) are not supported; use NAME:TAG".into(),
            ));
        }
        let Some((name, tag)) = split_name_tag(input) else {
            return Err(bad("missing :TAG (write NAME:TAG, e.g. app:latest)".into()));
        };
        check_name(name).map_err(|r| bad(format!("invalid image name {name:?}: {r}")))?;
        let reference =
            Reference::try_from(input).map_err(|r| bad(format!("invalid tag {tag:?}: {r}")))?;
        Ok(Self {
            name: name.to_owned(),
            tag: tag.to_owned(),
            normalized: reference.whole(),
        })
    }

    /// The name, e.g. `localhost:5000/app`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag, e.g. `v1`.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The fully qualified form, as skopeo and podman write it:
    /// `app:v1` → `docker.io/library/app:v1`, `team/app:v1` → `docker.io/team/app:v1`.
    pub fn normalized(&self) -> String {
        self.normalized.clone()
    }
}

impl fmt::Display for RepoTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

impl FromStr for RepoTag {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Splits `NAME:TAG` at the last `:` when it comes after the last `/`.
fn split_name_tag(s: &str) -> Option<(&str, &str)> {
    let colon = s.rfind(':')?;
    match s.rfind('/') {
        Some(slash) if slash > colon => None,
        _ => Some((&s[..colon], &s[colon + 1..])),
    }
}

/// Checks an image name (no tag) against the distribution reference grammar (the one
/// registry references are parsed with).
fn check_name(name: &str) -> Result<(), String> {
    if name.contains(['@', ':']) && !name.contains('/') {
        return Err("a name has no tag or digest".into());
    }
    // Parsed with a tag of its own, so a `:` in `name` cannot pass as one.
    match Reference::try_from(format!("{name}:{DEFAULT_TAG}")) {
        Ok(r) if r.tag() == Some(DEFAULT_TAG) && r.digest().is_none() => Ok(()),
        Ok(_) => Err("a name has no tag or digest".into()),
        Err(e) => Err(e.to_string()),
    }
}

// ---------------------------------------------------------------------------
// docker-archive:FILE[:NAME:TAG]
// ---------------------------------------------------------------------------

/// A `docker-archive:FILE[:NAME:TAG]` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerArchiveRef {
    /// The archive file.
    pub file: PathBuf,
    /// The image name and tag: for output, the archive's `RepoTags`; for input,
    /// which image of the archive to read.
    pub repo_tag: Option<RepoTag>,
}

impl DockerArchiveRef {
    /// Parses `docker-archive:FILE[:NAME:TAG]`.
    ///
    /// The rule, for FILE paths that contain `:` (a FILE without `:` is simply
    /// everything after the prefix, with an optional `:NAME:TAG`):
    ///
    /// 1. FILE ends at the **first** `:` whose remainder is a valid `NAME:TAG`
    ///    ([`RepoTag`] grammar; NAME may include a registry host and port, as
    ///    in `out.tar:localhost:5000/team/app:v1`).
    /// 2. Otherwise, if the remainder after the first `:` has the shape
    ///    `NAME:TAG` but is invalid (e.g. `out.tar:App:v1`), that is an error
    ///    naming what is wrong.
    /// 3. Otherwise, if the remainder after any `:` is a valid NAME without a
    ///    tag (`out.tar:app`, `/tmp/x:y/out.tar`), that is an error too: the
    ///    tag is required, and a FILE containing `:` followed by something
    ///    that reads as a name must be given with an explicit `:NAME:TAG`.
    /// 4. Otherwise the whole string is FILE (`/mnt/c:/out.tar`, `a:B.tar`).
    ///
    /// skopeo and podman split at the first `:` and default a missing tag to
    /// `latest`; for every reference they accept whose FILE has no `:` and
    /// whose tag is given, this rule gives the same FILE and NAME:TAG.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: String| ImageError::InvalidImageRef {
            input: input.to_owned(),
            reason,
        };
        let Some(rest) = input.strip_prefix(TRANSPORT) else {
            return Err(bad(format!("expected {TRANSPORT}FILE[:NAME:TAG]")));
        };
        let colons: Vec<usize> = rest.match_indices(':').map(|(i, _)| i).collect();
        for &i in &colons {
            if let Ok(repo_tag) = RepoTag::parse(&rest[i + 1..]) {
                if i == 0 {
                    return Err(bad("FILE is empty".into()));
                }
                return Ok(Self {
                    file: PathBuf::from(&rest[..i]),
                    repo_tag: Some(repo_tag),
                });
            }
        }
        if let Some(&first) = colons.first()
            && split_name_tag(&rest[first + 1..]).is_some()
            && let Err(e) = RepoTag::parse(&rest[first + 1..])
        {
            return Err(bad(match e {
                ImageError::InvalidTag { reason, .. } => reason,
                other => other.to_string(),
            }));
        }
        for &i in &colons {
            let remainder = &rest[i + 1..];
            if check_name(remainder).is_ok() {
                return Err(bad(format!(
                    "{remainder:?} reads as an image name without a tag; write {}:{remainder}:{DEFAULT_TAG} \
                     (a FILE containing ':' needs an explicit :NAME:TAG after it)",
                    &rest[..i]
                )));
            }
        }
        if rest.is_empty() {
            return Err(bad("FILE is empty".into()));
        }
        Ok(Self {
            file: PathBuf::from(rest),
            repo_tag: None,
        })
    }

    /// The `RepoTags` to write: the NAME:TAG, if one was given.
    pub fn repo_tags(&self) -> Vec<String> {
        self.repo_tag.iter().map(ToString::to_string).collect()
    }

    /// The NAME:TAG as a string, if one was given.
    pub fn name_tag(&self) -> Option<String> {
        self.repo_tag.as_ref().map(ToString::to_string)
    }
}

impl FromStr for DockerArchiveRef {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for DockerArchiveRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TRANSPORT}{}", self.file.display())?;
        if let Some(rt) = &self.repo_tag {
            write!(f, ":{rt}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// manifest.json
// ---------------------------------------------------------------------------

/// One image of `manifest.json`, as Kiln writes it (field order matters).
#[derive(Serialize)]
struct ManifestOut<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: &'a [String],
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// One image of `manifest.json`, as read (unknown fields ignored).
#[derive(Deserialize)]
struct ManifestIn {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// What [`write_docker_archive`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenArchive {
    /// The archive file.
    pub path: PathBuf,
    /// sha256 of the config bytes: the image ID `docker load` reports.
    pub image_id: Digest,
    /// The `RepoTags` written (duplicates dropped).
    pub repo_tags: Vec<String>,
    /// Number of layer entries written (distinct diff_ids).
    pub layer_entries: usize,
    /// Size of the archive in bytes.
    pub size: u64,
}

/// Prefix of the temporary file an archive named `file_name` is written to (beside it, then
/// renamed over it).
pub fn temp_prefix(file_name: &str) -> String {
    format!(".{file_name}.tmp-")
}

/// Writes a docker-archive at `path` (atomically; see the module docs) for the
/// image with `config` and `layers`.
///
/// `layers` are `(blob descriptor, diff_id)` pairs, bottom first, whose blobs
/// are in `blobs` (gzip or uncompressed; zstd is refused). Their diff_ids
/// must equal the config's `rootfs.diff_ids`, and each blob's uncompressed
/// content is checked against its diff_id while it is copied. `repo_tags`
/// are `NAME:TAG` strings (see [`RepoTag`]); empty gives an untagged image.
pub fn write_docker_archive(
    path: &Path,
    repo_tags: &[String],
    config: &ImageConfig,
    layers: &[(Descriptor, Digest)],
    blobs: &BlobStore,
) -> Result<WrittenArchive> {
    write_docker_archive_raw(path, repo_tags, &config.to_bytes()?, layers, blobs)
}

/// [`write_docker_archive`] with the exact config bytes (so the image ID is
/// the sha256 of these bytes, e.g. the config digest of an OCI image).
pub fn write_docker_archive_raw(
    path: &Path,
    repo_tags: &[String],
    config_bytes: &[u8],
    layers: &[(Descriptor, Digest)],
    blobs: &BlobStore,
) -> Result<WrittenArchive> {
    let mut tags: Vec<String> = Vec::new();
    for t in repo_tags {
        RepoTag::parse(t)?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let config = ImageConfig::from_bytes(config_bytes, "image config")?;
    let diff_ids = config.diff_ids()?;
    if diff_ids.len() != layers.len() {
        return Err(ImageError::InvalidConfig(format!(
            "rootfs.diff_ids has {} entries but {} layers were given",
            diff_ids.len(),
            layers.len()
        )));
    }
    for (i, (want, (_, have))) in diff_ids.iter().zip(layers).enumerate() {
        if want != have {
            return Err(ImageError::InvalidConfig(format!(
                "rootfs.diff_ids[{i}] is {want} but layer {i} has diff_id {have}"
            )));
        }
    }
    let image_id = Digest::of_bytes(config_bytes);
    let config_name = format!("{}.json", image_id.hex());
    let layer_names: Vec<String> = layers
        .iter()
        .map(|(_, d)| format!("{}.tar", d.hex()))
        .collect();
    let manifest = to_json_bytes(
        &[ManifestOut {
            config: config_name.clone(),
            repo_tags: &tags,
            layers: layer_names,
        }],
        MANIFEST_FILE,
    )?;
    let repositories = match layers.last() {
        Some((_, top)) if !tags.is_empty() => {
            let mut map: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            for t in &tags {
                let rt = RepoTag::parse(t)?;
                map.entry(rt.name)
                    .or_default()
                    .insert(rt.tag, top.hex().to_owned());
            }
            Some(to_json_bytes(&map, REPOSITORIES_FILE)?)
        }
        _ => None,
    };

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| archive_err(path, None, "the path has no file name".into()))?;
    fs::create_dir_all(&dir).map_err(super::io_err("create directory", &dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&file_name))
        .tempfile_in(&dir)
        .map_err(super::io_err("create a temporary file in", &dir))?;

    let mut w = TarWriter {
        out: BufWriter::with_capacity(COPY_BUF, tmp.as_file()),
        pos: 0,
        archive: path,
    };
    w.bytes_entry(MANIFEST_FILE, &manifest)?;
    if let Some(r) = &repositories {
        w.bytes_entry(REPOSITORIES_FILE, r)?;
    }
    w.bytes_entry(&config_name, config_bytes)?;
    let mut written: HashSet<&Digest> = HashSet::new();
    for (desc, diff_id) in layers {
        if written.insert(diff_id) {
            w.layer_entry(desc, diff_id, blobs)?;
        }
    }
    w.finish()?;
    let size = tmp
        .as_file()
        .metadata()
        .map_err(super::io_err("read metadata of", tmp.path()))?
        .len();
    kiln_fs::atomic_file::commit(
        tmp,
        path,
        Some(FILE_MODE),
        kiln_fs::atomic_file::Durability::Synced,
    )
    .map_err(super::io_err("write", path))?;
    tracing::debug!(path = %path.display(), %image_id, size, "wrote docker-archive");
    Ok(WrittenArchive {
        path: path.to_path_buf(),
        image_id,
        repo_tags: tags,
        layer_entries: written.len(),
        size,
    })
}

/// Writes the image read from an OCI layout as a docker-archive, keeping its
/// exact config bytes (so the image ID equals the OCI config digest).
pub fn write_docker_archive_from_resolved(
    path: &Path,
    repo_tags: &[String],
    image: &ResolvedImage,
    blobs: &BlobStore,
) -> Result<WrittenArchive> {
    let diff_ids = image.config.diff_ids()?;
    if diff_ids.len() != image.manifest.layers.len() {
        return Err(ImageError::InvalidConfig(format!(
            "config has {} diff_ids but the manifest has {} layers",
            diff_ids.len(),
            image.manifest.layers.len()
        )));
    }
    let layers: Vec<(Descriptor, Digest)> = image
        .manifest
        .layers
        .iter()
        .cloned()
        .zip(diff_ids)
        .collect();
    write_docker_archive_raw(path, repo_tags, &image.config_bytes, &layers, blobs)
}

/// A minimal tar writer over the (seekable) temporary archive file.
struct TarWriter<'a> {
    out: BufWriter<&'a File>,
    pos: u64,
    /// The target archive path, for errors.
    archive: &'a Path,
}

impl TarWriter<'_> {
    fn write_err(&self, entry: &str) -> impl FnOnce(io::Error) -> ImageError + use<> {
        let archive = self.archive.to_path_buf();
        let entry = entry.to_owned();
        move |source| ImageError::DockerArchiveIo {
            action: "write",
            archive,
            entry: Some(entry),
            source,
        }
    }

    fn header(&self, name: &str, size: u64) -> Result<Header> {
        let mut h = Header::new_ustar();
        h.set_path(name).map_err(self.write_err(name))?;
        h.set_entry_type(EntryType::Regular);
        h.set_mode(FILE_MODE);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(NORMALIZED_MTIME);
        h.set_size(size);
        h.set_cksum();
        Ok(h)
    }

    fn raw(&mut self, bytes: &[u8], entry: &str) -> Result<()> {
        self.out.write_all(bytes).map_err(self.write_err(entry))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self, size: u64, entry: &str) -> Result<()> {
        let rem = size % BLOCK;
        if rem != 0 {
            let zeros = [0u8; BLOCK_LEN];
            #[allow(clippy::cast_possible_truncation)] // < 512
            self.raw(&zeros[..(BLOCK - rem) as usize], entry)?;
        }
        Ok(())
    }

    fn bytes_entry(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let h = self.header(name, data.len() as u64)?;
        self.raw(h.as_bytes(), name)?;
        self.raw(data, name)?;
        self.pad(data.len() as u64, name)
    }

    /// Streams one layer blob, decompressed, as `<diff_id hex>.tar`. The
    /// header is written as a placeholder and patched once the size is known.
    fn layer_entry(
        &mut self,
        desc: &Descriptor,
        diff_id: &Digest,
        blobs: &BlobStore,
    ) -> Result<()> {
        let name = format!("{}.tar", diff_id.hex());
        let blob_path = blobs.path(&desc.digest);
        let file = blobs.open(&desc.digest)?;
        let len = file
            .metadata()
            .map_err(super::io_err("read metadata of", &blob_path))?
            .len();
        if len != desc.size {
            return Err(ImageError::SizeMismatch {
                path: blob_path,
                expected: desc.size,
                actual: len,
            });
        }
        let mut reader = BufReader::with_capacity(COPY_BUF, file);
        let magic = peek(&mut reader).map_err(super::io_err("read blob", &blob_path))?;
        let mut src: Box<dyn Read> = if magic.starts_with(GZIP_MAGIC) {
            Box::new(MultiGzDecoder::new(reader))
        } else if magic.starts_with(ZSTD_MAGIC) {
            return Err(archive_err(
                self.archive,
                Some(&name),
                format!(
                    "layer blob {} is zstd-compressed, which Kiln cannot decompress",
                    blob_path.display()
                ),
            ));
        } else {
            Box::new(reader)
        };

        let header_pos = self.pos;
        self.raw(&[0u8; BLOCK_LEN], &name)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; COPY_BUF];
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(super::io_err("read (decompress) blob", &blob_path)(e)),
            };
            hasher.update(&buf[..n]);
            self.raw(&buf[..n], &name)?;
            size += n as u64;
        }
        let actual = Digest::from_sha256(hasher.finalize().into());
        if &actual != diff_id {
            return Err(archive_err(
                self.archive,
                Some(&name),
                format!(
                    "layer blob {} uncompresses to content with sha256 {actual}, not its diff_id {diff_id}",
                    blob_path.display()
                ),
            ));
        }
        self.pad(size, &name)?;
        let end = self.pos;
        let h = self.header(&name, size)?;
        let werr = self.write_err(&name);
        self.out
            .seek(SeekFrom::Start(header_pos))
            .and_then(|_| self.out.write_all(h.as_bytes()))
            .and_then(|()| self.out.seek(SeekFrom::Start(end)))
            .map_err(werr)?;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.raw(&[0u8; 2 * BLOCK_LEN], "end of archive")?;
        let werr = self.write_err("end of archive");
        self.out.flush().map_err(werr)
    }
}

/// Returns up to the first 4 bytes of `r` without consuming them.
fn peek<R: Read>(r: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    use std::io::BufRead;
    let buf = r.fill_buf()?;
    Ok(buf[..buf.len().min(4)].to_vec())
}

fn archive_err(archive: &Path, entry: Option<&str>, reason: String) -> ImageError {
    ImageError::DockerArchive {
        archive: archive.to_path_buf(),
        entry: entry.map(str::to_owned),
        reason,
    }
}

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

/// How a layer is stored inside an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    /// A plain tar.
    None,
    /// A gzip-compressed tar.
    Gzip,
}

/// One layer of an [`ArchiveImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLayer {
    /// The name listed in `manifest.json` (e.g. `<hex>.tar`, `<id>/layer.tar`, `blobs/sha256/<hex>`).
    pub entry: String,
    /// The layer's diff_id, from the config's `rootfs.diff_ids`.
    pub diff_id: Digest,
    /// How the entry's bytes are stored.
    pub compression: LayerCompression,
    offset: u64,
    stored_size: u64,
}

impl ArchiveLayer {
    /// Size of the entry's stored bytes (compressed size for gzip layers).
    pub fn stored_size(&self) -> u64 {
        self.stored_size
    }
}

/// One image read from a docker-archive; layers are read on demand.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    /// The archive file.
    pub archive: PathBuf,
    /// The image's `RepoTags` as listed in `manifest.json`.
    pub repo_tags: Vec<String>,
    /// The image config (unknown fields preserved).
    pub config: ImageConfig,
    /// The exact config bytes.
    pub config_bytes: Vec<u8>,
    /// sha256 of the config bytes (the image ID).
    pub image_id: Digest,
    /// The layers, bottom first.
    pub layers: Vec<ArchiveLayer>,
}

/// Reads the image of the docker-archive at `path` tagged `name_tag`
/// (`NAME:TAG`; `app:v1` also matches `docker.io/library/app:v1` and vice
/// versa), or with `None` the archive's only image.
///
/// This reads `manifest.json` and the config and locates every layer entry;
/// layer content is read (and checked against its diff_id) by
/// [`ArchiveImage::open_layer`] and [`ArchiveImage::import_into`].
pub fn read_docker_archive(path: &Path, name_tag: Option<&str>) -> Result<ArchiveImage> {
    let index = TarIndex::build(path)?;
    let manifest_bytes = match index.read_entry(MANIFEST_FILE, MAX_JSON_ENTRY) {
        Ok(b) => b,
        Err(ImageError::DockerArchive { reason, .. }) if reason.starts_with("no entry") => {
            let hint = if index.entries.contains_key("oci-layout") {
                "it looks like an oci-archive (it has oci-layout); use oci-archive tools or extract it as an OCI layout"
            } else {
                "not a docker-archive (docker save, podman save and skopeo copy … docker-archive: write one)"
            };
            return Err(archive_err(
                path,
                Some(MANIFEST_FILE),
                format!("no {MANIFEST_FILE}: {hint}"),
            ));
        }
        Err(e) => return Err(e),
    };
    let entries: Vec<ManifestIn> =
        serde_json::from_slice(&manifest_bytes).map_err(|source| ImageError::Json {
            what: format!("docker-archive {} entry {MANIFEST_FILE}", path.display()),
            source,
        })?;
    let entry = select_image(path, &entries, name_tag)?;

    let config_bytes = index.read_entry(&entry.config, MAX_JSON_ENTRY)?;
    let image_id = Digest::of_bytes(&config_bytes);
    if let Some(named) = hex_in_name(&entry.config)
        && named != image_id.hex()
    {
        return Err(archive_err(
            path,
            Some(&entry.config),
            format!("the config's name says sha256 {named} but its content hashes to {image_id}"),
        ));
    }
    let config = ImageConfig::from_bytes(
        &config_bytes,
        &format!("docker-archive {} entry {}", path.display(), entry.config),
    )?;
    let diff_ids = config
        .diff_ids()
        .map_err(|e| archive_err(path, Some(&entry.config), e.to_string()))?;
    let layer_names = entry.layers.clone().unwrap_or_default();
    if diff_ids.len() != layer_names.len() {
        return Err(archive_err(
            path,
            Some(MANIFEST_FILE),
            format!(
                "the image lists {} layers but its config {} has {} rootfs.diff_ids",
                layer_names.len(),
                entry.config,
                diff_ids.len()
            ),
        ));
    }
    let mut file = File::open(path).map_err(super::io_err("open", path))?;
    let mut layers = Vec::with_capacity(layer_names.len());
    for (name, diff_id) in layer_names.into_iter().zip(diff_ids) {
        let (offset, stored_size) = index.locate(&name)?;
        let mut magic = [0u8; 4];
        #[allow(clippy::cast_possible_truncation)] // <= 4
        let n = stored_size.min(4) as usize;
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut magic[..n]))
            .map_err(|source| ImageError::DockerArchiveIo {
                action: "read",
                archive: path.to_path_buf(),
                entry: Some(name.clone()),
                source,
            })?;
        let compression = if magic[..n].starts_with(GZIP_MAGIC) {
            LayerCompression::Gzip
        } else if magic[..n].starts_with(ZSTD_MAGIC) {
            return Err(archive_err(
                path,
                Some(&name),
                "the layer is zstd-compressed, which Kiln cannot decompress".into(),
            ));
        } else {
            LayerCompression::None
        };
        layers.push(ArchiveLayer {
            entry: name,
            diff_id,
            compression,
            offset,
            stored_size,
        });
    }
    Ok(ArchiveImage {
        archive: path.to_path_buf(),
        repo_tags: entry.repo_tags.clone().unwrap_or_default(),
        config,
        config_bytes,
        image_id,
        layers,
    })
}

fn select_image<'a>(
    path: &Path,
    entries: &'a [ManifestIn],
    name_tag: Option<&str>,
) -> Result<&'a ManifestIn> {
    let all_tags = || -> String {
        let tags: Vec<&str> = entries
            .iter()
            .flat_map(|e| e.repo_tags.iter().flatten())
            .map(String::as_str)
            .collect();
        if tags.is_empty() {
            "(none)".into()
        } else {
            tags.join(", ")
        }
    };
    let Some(want) = name_tag else {
        return match entries {
            [only] => Ok(only),
            [] => Err(archive_err(
                path,
                Some(MANIFEST_FILE),
                "lists no images".into(),
            )),
            _ => Err(archive_err(
                path,
                Some(MANIFEST_FILE),
                format!(
                    "holds {} images; pick one with docker-archive:FILE:NAME:TAG; RepoTags: {}",
                    entries.len(),
                    all_tags()
                ),
            )),
        };
    };
    let want_norm = RepoTag::parse(want).ok().map(|r| r.normalized());
    let matches = |t: &String| {
        t == want
            || want_norm.is_some() && RepoTag::parse(t).ok().map(|r| r.normalized()) == want_norm
    };
    entries
        .iter()
        .find(|e| e.repo_tags.iter().flatten().any(|t| *t == want))
        .or_else(|| {
            entries
                .iter()
                .find(|e| e.repo_tags.iter().flatten().any(matches))
        })
        .ok_or_else(|| {
            archive_err(
                path,
                Some(MANIFEST_FILE),
                format!("no image tagged {want:?}; RepoTags: {}", all_tags()),
            )
        })
}

/// The 64-hex sha256 a config entry's name carries (`<hex>.json`,
/// `blobs/sha256/<hex>`), if any.
fn hex_in_name(name: &str) -> Option<&str> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base.strip_suffix(".json").unwrap_or(base);
    let is_hex = stem.len() == 64
        && stem
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    is_hex.then_some(stem)
}

impl ArchiveImage {
    /// The layers' diff_ids, bottom first.
    pub fn diff_ids(&self) -> Vec<Digest> {
        self.layers.iter().map(|l| l.diff_id.clone()).collect()
    }

    /// Opens layer `index` for reading its uncompressed tar. The reader fails
    /// (at the end, with an `InvalidData` error wrapping an
    /// [`ImageError::DockerArchive`]) if the content does not hash to the
    /// layer's diff_id.
    pub fn open_layer(&self, index: usize) -> Result<LayerReader> {
        let layer = self.layers.get(index).ok_or_else(|| {
            archive_err(
                &self.archive,
                None,
                format!(
                    "the image has {} layers, there is no layer {index}",
                    self.layers.len()
                ),
            )
        })?;
        let mut file = File::open(&self.archive).map_err(super::io_err("open", &self.archive))?;
        file.seek(SeekFrom::Start(layer.offset))
            .map_err(|source| ImageError::DockerArchiveIo {
                action: "read",
                archive: self.archive.clone(),
                entry: Some(layer.entry.clone()),
                source,
            })?;
        let raw = BufReader::with_capacity(COPY_BUF, file.take(layer.stored_size));
        let inner = match layer.compression {
            LayerCompression::None => LayerSource::Plain(raw),
            LayerCompression::Gzip => LayerSource::Gzip(MultiGzDecoder::new(raw)),
        };
        Ok(LayerReader {
            inner,
            hasher: Sha256::new(),
            archive: self.archive.clone(),
            entry: layer.entry.clone(),
            expected: layer.diff_id.clone(),
            state: Verdict::Reading,
        })
    }

    /// Reads layer `index`'s uncompressed tar into memory, checking its diff_id.
    pub fn read_layer(&self, index: usize) -> Result<Vec<u8>> {
        let mut reader = self.open_layer(index)?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| reader.error(e))?;
        Ok(out)
    }

    /// Copies every layer into `blobs` as an uncompressed OCI layer
    /// (`application/vnd.oci.image.layer.v1.tar`, digest = diff_id) and
    /// returns their descriptors, bottom first. Content is checked against
    /// the diff_ids before a blob is renamed into place; a blob already in the
    /// store is kept (trusted, as [`BlobStore`] does) and not read again.
    pub fn import_into(&self, blobs: &BlobStore) -> Result<Vec<Descriptor>> {
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let existing = fs::symlink_metadata(blobs.path(&layer.diff_id))
                .ok()
                .filter(|m| {
                    m.is_file()
                        && (layer.compression != LayerCompression::None
                            || m.len() == layer.stored_size)
                });
            if let Some(m) = existing {
                out.push(Descriptor::new(
                    MEDIA_TYPE_OCI_LAYER_TAR,
                    layer.diff_id.clone(),
                    m.len(),
                ));
                continue;
            }
            let mut reader = self.open_layer(i)?;
            let mut writer = blobs.writer()?;
            let mut buf = vec![0u8; COPY_BUF];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(reader.error(e)),
                };
                writer
                    .write_all(&buf[..n])
                    .map_err(super::io_err("write blob in", blobs.dir()))?;
            }
            let desc = writer.finish(MEDIA_TYPE_OCI_LAYER_TAR)?;
            if desc.digest != layer.diff_id {
                // The reader verified the content, so this cannot happen.
                return Err(archive_err(
                    &self.archive,
                    Some(&layer.entry),
                    format!("imported as {} instead of {}", desc.digest, layer.diff_id),
                ));
            }
            out.push(desc);
        }
        Ok(out)
    }
}

enum LayerSource {
    Plain(BufReader<io::Take<File>>),
    Gzip(MultiGzDecoder<BufReader<io::Take<File>>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Reading,
    Good,
    Bad,
}

/// Streams one layer's uncompressed tar out of an archive and checks it
/// against the layer's diff_id when the end is reached.
pub struct LayerReader {
    inner: LayerSource,
    hasher: Sha256,
    archive: PathBuf,
    entry: String,
    expected: Digest,
    state: Verdict,
}

impl LayerReader {
    /// Turns an error returned by [`Read::read`] into an [`ImageError`]
    /// naming the archive and entry (a diff_id mismatch comes back as the
    /// [`ImageError::DockerArchive`] it wraps).
    pub fn error(&self, e: io::Error) -> ImageError {
        let wraps_image_error = e
            .get_ref()
            .is_some_and(<dyn std::error::Error + Send + Sync>::is::<ImageError>);
        if wraps_image_error {
            return match e
                .into_inner()
                .map(<dyn std::error::Error + Send + Sync>::downcast::<ImageError>)
            {
                Some(Ok(img)) => *img,
                // cannot happen: the inner error was just checked to be an ImageError
                _ => archive_err(&self.archive, Some(&self.entry), "unreadable layer".into()),
            };
        }
        ImageError::DockerArchiveIo {
            action: "read layer",
            archive: self.archive.clone(),
            entry: Some(self.entry.clone()),
            source: e,
        }
    }

    fn mismatch(&self, actual: &Digest) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            archive_err(
                &self.archive,
                Some(&self.entry),
                format!(
                    "the layer's uncompressed content hashes to {actual}, not its diff_id {} (rootfs.diff_ids)",
                    self.expected
                ),
            ),
        )
    }
}

impl Read for LayerReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.state {
            Verdict::Good => return Ok(0),
            Verdict::Bad => return Err(self.mismatch(&Digest::of_bytes(b""))),
            Verdict::Reading => {}
        }
        let n = match &mut self.inner {
            LayerSource::Plain(r) => r.read(buf)?,
            LayerSource::Gzip(r) => r.read(buf)?,
        };
        if n == 0 && !buf.is_empty() {
            let actual = Digest::from_sha256(std::mem::take(&mut self.hasher).finalize().into());
            if actual == self.expected {
                self.state = Verdict::Good;
            } else {
                self.state = Verdict::Bad;
                return Err(self.mismatch(&actual));
            }
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Where each file of an archive is: built in one pass over the tar headers
/// (seeking over the content).
struct TarIndex {
    archive: PathBuf,
    len: u64,
    entries: HashMap<String, IndexEntry>,
}

enum IndexEntry {
    File { offset: u64, size: u64 },
    Symlink(String),
    HardLink(String),
}

impl TarIndex {
    fn build(path: &Path) -> Result<Self> {
        let io_e = |action: &'static str| {
            let archive = path.to_path_buf();
            move |source| ImageError::DockerArchiveIo {
                action,
                archive,
                entry: None,
                source,
            }
        };
        let mut file = File::open(path).map_err(super::io_err("open", path))?;
        let meta = file
            .metadata()
            .map_err(super::io_err("read metadata of", path))?;
        if !meta.is_file() {
            return Err(archive_err(path, None, "not a regular file".into()));
        }
        let mut magic = Vec::with_capacity(4);
        (&mut file)
            .take(4)
            .read_to_end(&mut magic)
            .map_err(io_e("read"))?;
        if magic.starts_with(GZIP_MAGIC) || magic.starts_with(ZSTD_MAGIC) {
            return Err(archive_err(
                path,
                None,
                "the archive itself is compressed; decompress it first (e.g. gunzip or zstd -d)"
                    .into(),
            ));
        }
        file.seek(SeekFrom::Start(0)).map_err(io_e("read"))?;
        let mut ar = tar::Archive::new(file);
        let mut entries = HashMap::new();
        for entry in ar
            .entries_with_seek()
            .map_err(io_e("read the tar headers of"))?
        {
            let entry = entry.map_err(io_e("read the tar headers of"))?;
            let Ok(name) = std::str::from_utf8(&entry.path_bytes()).map(str::to_owned) else {
                continue;
            };
            let Some(name) = normalize_entry_path(&name) else {
                continue;
            };
            let link = || {
                entry
                    .link_name_bytes()
                    .and_then(|l| std::str::from_utf8(&l).ok().map(str::to_owned))
            };
            let item = match entry.header().entry_type() {
                EntryType::Regular | EntryType::Continuous => IndexEntry::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                EntryType::Symlink => match link() {
                    Some(t) => IndexEntry::Symlink(t),
                    None => continue,
                },
                EntryType::Link => match link() {
                    Some(t) => IndexEntry::HardLink(t),
                    None => continue,
                },
                _ => continue,
            };
            entries.insert(name, item);
        }
        Ok(Self {
            archive: path.to_path_buf(),
            len: meta.len(),
            entries,
        })
    }

    /// Offset and size of the file `name` refers to, following links.
    fn locate(&self, name: &str) -> Result<(u64, u64)> {
        let err = |reason: String| archive_err(&self.archive, Some(name), reason);
        let mut cur = normalize_entry_path(name)
            .ok_or_else(|| err("the name points outside the archive".into()))?;
        for _ in 0..MAX_LINK_HOPS {
            match self.entries.get(&cur) {
                None if cur == name => return Err(err("no entry with this name".into())),
                None => {
                    return Err(err(format!(
                        "no entry with this name (via link to {cur:?})"
                    )));
                }
                Some(IndexEntry::File { offset, size }) => {
                    let end = offset.checked_add(*size).unwrap_or(u64::MAX);
                    if end > self.len {
                        return Err(err(format!(
                            "the entry is truncated: its header says {size} bytes but the archive ends {} bytes into it",
                            self.len.saturating_sub(*offset)
                        )));
                    }
                    return Ok((*offset, *size));
                }
                Some(IndexEntry::Symlink(target)) => {
                    let joined = if target.starts_with('/') {
                        target.clone()
                    } else {
                        match cur.rsplit_once('/') {
                            Some((dir, _)) => format!("{dir}/{target}"),
                            None => target.clone(),
                        }
                    };
                    cur = normalize_entry_path(&joined).ok_or_else(|| {
                        err(format!(
                            "a symlink to {target:?} points outside the archive"
                        ))
                    })?;
                }
                Some(IndexEntry::HardLink(target)) => {
                    cur = normalize_entry_path(target).ok_or_else(|| {
                        err(format!(
                            "a hard link to {target:?} points outside the archive"
                        ))
                    })?;
                }
            }
        }
        Err(err(format!("more than {MAX_LINK_HOPS} links to follow")))
    }

    /// Reads a whole (small) entry.
    fn read_entry(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let (offset, size) = self.locate(name)?;
        if size > limit {
            return Err(archive_err(
                &self.archive,
                Some(name),
                format!("{size} bytes is too large for this entry (limit {limit})"),
            ));
        }
        let io_e = |source| ImageError::DockerArchiveIo {
            action: "read",
            archive: self.archive.clone(),
            entry: Some(name.to_owned()),
            source,
        };
        let mut file = File::open(&self.archive).map_err(super::io_err("open", &self.archive))?;
        file.seek(SeekFrom::Start(offset)).map_err(io_e)?;
        let mut data = Vec::new();
        file.take(size).read_to_end(&mut data).map_err(io_e)?;
        if data.len() as u64 != size {
            return Err(archive_err(
                &self.archive,
                Some(name),
                format!(
                    "the entry is truncated: read {} of {size} bytes",
                    data.len()
                ),
            ));
        }
        Ok(data)
    }
}

/// `./a//b/../c/` → `a/c`; `None` if it climbs above the root or is empty.
fn normalize_entry_path(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::many_single_char_names)]
mod tests {
    use super::*;
    use crate::{LayerBuilder, LayerOwnership, MEDIA_TYPE_OCI_LAYER_GZIP, OciLayout, WrittenLayer};
    use std::os::unix::fs::PermissionsExt as _;
    use std::process::Command;

    /// A small image in a blob store: a gzip layer, an uncompressed layer, and
    /// the gzip layer again (duplicate diff_id).
    struct Sample {
        _dir: tempfile::TempDir,
        blobs: BlobStore,
        config: ImageConfig,
        layers: Vec<(Descriptor, Digest)>,
        tars: Vec<Vec<u8>>,
    }

    fn tar_of(files: &[(&str, &str)]) -> (LayerBuilder, Vec<u8>) {
        let mut b = LayerBuilder::new(LayerOwnership::ROOT);
        for (p, c) in files {
            b.add_file(p, c.as_bytes().to_vec(), 0o644).unwrap();
        }
        let tar = b.write_tar(Vec::new()).unwrap();
        (b, tar)
    }

    fn sample() -> Sample {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::new(dir.path().join("blobs/sha256"));
        let (b1, tar1) = tar_of(&[("etc/hello", "hello\n"), ("bin/x", "#!/bin/sh\n")]);
        let w1: WrittenLayer = b1.write_to(&blobs).unwrap();
        assert_eq!(w1.descriptor.media_type, MEDIA_TYPE_OCI_LAYER_GZIP);
        let (_, tar2) = tar_of(&[("workspace/app.txt", &"x".repeat(3000))]);
        let d2 = blobs.write_bytes(&tar2, MEDIA_TYPE_OCI_LAYER_TAR).unwrap();
        let diff2 = Digest::of_bytes(&tar2);
        let layers = vec![
            (w1.descriptor.clone(), w1.diff_id.clone()),
            (d2, diff2.clone()),
            (w1.descriptor.clone(), w1.diff_id.clone()),
        ];
        let mut config = ImageConfig::new("linux", "amd64");
        config.set_diff_ids(&[w1.diff_id.clone(), diff2, w1.diff_id.clone()]);
        config.set_env(vec!["PATH=/bin".into()]);
        config.set_label("which", "sample");
        Sample {
            _dir: dir,
            blobs,
            config,
            layers,
            tars: vec![tar1.clone(), tar2, tar1],
        }
    }

    fn write(s: &Sample, path: &Path, tags: &[&str]) -> Result<WrittenArchive> {
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        write_docker_archive(path, &tags, &s.config, &s.layers, &s.blobs)
    }

    struct Seen {
        name: String,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        no_owner_names: bool,
        data: Vec<u8>,
    }

    fn entries(path: &Path) -> Vec<Seen> {
        let mut ar = tar::Archive::new(File::open(path).unwrap());
        ar.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                assert_eq!(h.entry_type(), EntryType::Regular);
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                Seen {
                    name: e.path().unwrap().to_string_lossy().into_owned(),
                    mode: h.mode().unwrap(),
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    mtime: h.mtime().unwrap(),
                    no_owner_names: h.username_bytes().is_none_or(<[u8]>::is_empty)
                        && h.groupname_bytes().is_none_or(<[u8]>::is_empty),
                    data,
                }
            })
            .collect()
    }

    fn tmp_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("sub/out.tar");
        let w = write(
            &s,
            &path,
            &["localhost:5000/team/app:v1", "app:latest", "app:v1"],
        )
        .unwrap();
        let config_bytes = s.config.to_bytes().unwrap();
        assert_eq!(w.image_id, Digest::of_bytes(&config_bytes));
        assert_eq!(w.layer_entries, 2);
        assert_eq!(w.size, fs::metadata(&path).unwrap().len());
        assert_eq!(w.size % 512, 0);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );

        let seen = entries(&path);
        let names: Vec<&str> = seen.iter().map(|e| e.name.as_str()).collect();
        let (h1, h2) = (s.layers[0].1.hex(), s.layers[1].1.hex());
        let config_name = format!("{}.json", w.image_id.hex());
        assert_eq!(
            names,
            vec![
                "manifest.json".to_owned(),
                "repositories".to_owned(),
                config_name.clone(),
                format!("{h1}.tar"),
                format!("{h2}.tar"),
            ]
        );
        for e in &seen {
            assert_eq!(
                (e.mode, e.uid, e.gid, e.mtime),
                (0o644, 0, 0, NORMALIZED_MTIME),
                "{}",
                e.name
            );
            assert!(e.no_owner_names, "{}", e.name);
        }
        assert_eq!(
            String::from_utf8(seen[0].data.clone()).unwrap(),
            format!(
                r#"[{{"Config":"{config_name}","RepoTags":["localhost:5000/team/app:v1","app:latest","app:v1"],"Layers":["{h1}.tar","{h2}.tar","{h1}.tar"]}}]"#
            )
        );
        assert_eq!(
            String::from_utf8(seen[1].data.clone()).unwrap(),
            format!(
                r#"{{"app":{{"latest":"{h1}","v1":"{h1}"}},"localhost:5000/team/app":{{"v1":"{h1}"}}}}"#
            )
        );
        assert_eq!(seen[2].data, config_bytes);
        assert_eq!(seen[3].data, s.tars[0]);
        assert_eq!(seen[4].data, s.tars[1]);

        for sel in [
            None,
            Some("app:v1"),
            Some("docker.io/library/app:latest"),
            Some("localhost:5000/team/app:v1"),
        ] {
            let img = read_docker_archive(&path, sel).unwrap();
            assert_eq!(img.config_bytes, config_bytes, "{sel:?}");
            assert_eq!(img.image_id, w.image_id);
            assert_eq!(img.diff_ids(), s.config.diff_ids().unwrap());
            assert_eq!(img.repo_tags.len(), 3);
            for i in 0..3 {
                assert_eq!(img.read_layer(i).unwrap(), s.tars[i]);
                assert_eq!(img.layers[i].compression, LayerCompression::None);
            }
        }
        let e = read_docker_archive(&path, Some("app:v2"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("app:v2") && e.contains("app:latest") && e.contains("out.tar"),
            "{e}"
        );

        // import into an OCI layout: uncompressed layers whose digests are the diff_ids
        let lt = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(lt.path()).unwrap();
        let img = read_docker_archive(&path, None).unwrap();
        let descs = img.import_into(layout.blobs()).unwrap();
        for (d, (_, diff_id)) in descs.iter().zip(&s.layers) {
            assert_eq!(d.media_type, MEDIA_TYPE_OCI_LAYER_TAR);
            assert_eq!(&d.digest, diff_id);
            layout.blobs().read_descriptor(d).unwrap();
        }
        assert_eq!(img.import_into(layout.blobs()).unwrap(), descs);
        let written = layout
            .write_image("imported", &img.config, descs.clone())
            .unwrap();
        // and back out: same config bytes, so the same image ID
        let resolved = layout.resolve(Some("imported")).unwrap();
        let again = t.path().join("again.tar");
        let w2 =
            write_docker_archive_from_resolved(&again, &[], &resolved, layout.blobs()).unwrap();
        assert_eq!(w2.image_id, written.config.digest);
        let names2: Vec<String> = entries(&again).into_iter().map(|e| e.name).collect();
        assert!(!names2.contains(&"repositories".to_owned()), "{names2:?}");
        assert!(tmp_files(t.path()).is_empty());
        assert!(tmp_files(&t.path().join("sub")).is_empty());
    }

    #[test]
    fn deterministic() {
        let s = sample();
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a.tar");
        let b = t.path().join("b.tar");
        write(&s, &a, &["app:v1"]).unwrap();
        write(&s, &b, &["app:v1"]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap());
        // rewriting in place gives the same bytes too
        let before = fs::read(&a).unwrap();
        write(&s, &a, &["app:v1"]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), before);
        // a differently compressed store of the same layers gives the same archive
        let t2 = tempfile::tempdir().unwrap();
        let plain = BlobStore::new(t2.path().join("blobs"));
        let layers: Vec<(Descriptor, Digest)> = s
            .tars
            .iter()
            .map(|tar| {
                (
                    plain.write_bytes(tar, MEDIA_TYPE_OCI_LAYER_TAR).unwrap(),
                    Digest::of_bytes(tar),
                )
            })
            .collect();
        let c = t.path().join("c.tar");
        write_docker_archive(&c, &["app:v1".into()], &s.config, &layers, &plain).unwrap();
        assert_eq!(fs::read(&c).unwrap(), before);
    }

    #[test]
    fn failures_leave_existing_file_untouched() {
        let s = sample();
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("out.tar");
        fs::write(&path, b"previous archive").unwrap();

        let check = |e: ImageError, want: &str| {
            let msg = format!("{e}");
            assert!(msg.contains(want), "{want:?} not in {msg}");
            assert_eq!(fs::read(&path).unwrap(), b"previous archive");
            assert!(tmp_files(t.path()).is_empty(), "{:?}", tmp_files(t.path()));
        };

        // a layer blob whose content does not match its diff_id (detected after streaming)
        let mut bad = s.layers.clone();
        bad[1].1 = Digest::of_bytes(b"other");
        let mut cfg = s.config.clone();
        cfg.set_diff_ids(&bad.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>());
        let e = write_docker_archive(&path, &[], &cfg, &bad, &s.blobs).unwrap_err();
        check(e, "not its diff_id");

        // a missing blob
        let missing = s.blobs.path(&s.layers[1].0.digest);
        let keep = fs::read(&missing).unwrap();
        fs::remove_file(&missing).unwrap();
        check(write(&s, &path, &[]).unwrap_err(), "missing");
        fs::write(&missing, &keep).unwrap();

        // a truncated gzip blob
        let gz = s.blobs.path(&s.layers[0].0.digest);
        let good = fs::read(&gz).unwrap();
        fs::write(&gz, &good[..good.len() / 2]).unwrap();
        let mut short = s.layers.clone();
        for l in &mut short {
            if l.0.digest == s.layers[0].0.digest {
                l.0.size = (good.len() / 2) as u64;
            }
        }
        check(
            write_docker_archive(&path, &[], &s.config, &short, &s.blobs).unwrap_err(),
            "blob",
        );
        // ... and a size mismatch with the descriptor
        check(write(&s, &path, &[]).unwrap_err(), "descriptor says");
        fs::write(&gz, &good).unwrap();

        // diff_ids disagreeing with the config, and bad tags, fail before any write
        let mut cfg = s.config.clone();
        cfg.set_diff_ids(&[]);
        check(
            write_docker_archive(&path, &[], &cfg, &s.layers, &s.blobs).unwrap_err(),
            "rootfs.diff_ids has 0 entries",
        );
        check(write(&s, &path, &["App:v1"]).unwrap_err(), "App");
        check(write(&s, &path, &["app"]).unwrap_err(), "missing :TAG");

        // the target is a directory: the rename fails, nothing is left behind
        let dir_target = t.path().join("adir");
        fs::create_dir(&dir_target).unwrap();
        fs::write(dir_target.join("keep"), b"k").unwrap();
        assert!(write(&s, &dir_target, &[]).is_err());
        assert_eq!(fs::read(dir_target.join("keep")).unwrap(), b"k");
        assert!(tmp_files(t.path()).is_empty());

        // and finally a good write replaces it
        write(&s, &path, &[]).unwrap();
        read_docker_archive(&path, None).unwrap();
    }

    #[test]
    fn repo_tag_grammar() {
        for ok in [
            "app:v1",
            "a:latest",
            "team/app:1.0_rc-2",
            "localhost:5000/app:v1",
            "localhost/app:x",
            "registry.example.com/a/b/c:t",
            "Example.COM:443/app:T",
            "a__b.c-d---e/x:_",
            "127.0.0.1:5000/app:v1",
        ] {
            let rt = RepoTag::parse(ok).unwrap();
            assert_eq!(rt.to_string(), ok);
        }
        for bad in [
            "app",
            "app:",
            ":v1",
            "App:v1",
            "app:.v1",
            "app:-v1",
            "app@sha256:abc",
            "a//b:v1",
            "/app:v1",
            "app/:v1",
            "a-:v1",
            "a..b:v1",
            "a___b:v1",
            "local host:v1",
            "host:port/app:v1",
            "-bad.host/app:v1",
            "[zz]/app:v1",
            // IPv6 registry hosts are not in the grammar registry references use either.
            "[::1]:5000/app:v1",
            "app:with space",
            "localhost:5000/app",
            "é:v1",
        ] {
            assert!(RepoTag::parse(bad).is_err(), "{bad}");
        }
        assert!(RepoTag::parse(&format!("a:{}", "t".repeat(129))).is_err());
        assert!(RepoTag::parse(&format!("{}:t", "a".repeat(256))).is_err());
        let n = |s: &str| RepoTag::parse(s).unwrap().normalized();
        assert_eq!(n("busybox:v1"), "docker.io/library/busybox:v1");
        assert_eq!(n("team/app:v1"), "docker.io/team/app:v1");
        assert_eq!(
            n("index.docker.io/busybox:v1"),
            "docker.io/library/busybox:v1"
        );
        assert_eq!(n("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(n("localhost/app:v1"), "localhost/app:v1");
    }

    #[test]
    fn reference_parsing() {
        let r = |s: &str| DockerArchiveRef::parse(s).unwrap();
        let file = |s: &str| r(s).file.to_string_lossy().into_owned();
        let tag = |s: &str| r(s).name_tag();
        // the common cases
        assert_eq!(file("docker-archive:out.tar"), "out.tar");
        assert_eq!(tag("docker-archive:out.tar"), None);
        assert_eq!(file("docker-archive:/tmp/out.tar:app:v1"), "/tmp/out.tar");
        assert_eq!(
            tag("docker-archive:/tmp/out.tar:app:v1").as_deref(),
            Some("app:v1")
        );
        // registry host with a port, and a multi-component name
        let x = r("docker-archive:out.tar:localhost:5000/team/app:v1");
        assert_eq!(x.file, PathBuf::from("out.tar"));
        let rt = x.repo_tag.clone().unwrap();
        assert_eq!((rt.name(), rt.tag()), ("localhost:5000/team/app", "v1"));
        assert_eq!(x.repo_tags(), vec!["localhost:5000/team/app:v1".to_owned()]);
        assert_eq!(
            x.to_string(),
            "docker-archive:out.tar:localhost:5000/team/app:v1"
        );
        assert_eq!(r(&x.to_string()), x);
        // FILE with ':' followed by NAME:TAG: the first ':' that starts a valid NAME:TAG
        assert_eq!(
            file("docker-archive:/tmp/a:b/c.tar:app:v1"),
            "/tmp/a:b/c.tar"
        );
        assert_eq!(file("docker-archive:/tmp/x:Y:app:v1"), "/tmp/x:Y");
        assert_eq!(file("docker-archive:./im:v1.tar:app:latest"), "./im:v1.tar");
        // FILE with ':' and nothing name-like after it
        assert_eq!(file("docker-archive:/mnt/c:/out.tar"), "/mnt/c:/out.tar");
        assert_eq!(file("docker-archive:a:B.tar"), "a:B.tar");
        assert_eq!(tag("docker-archive:a:B.tar"), None);
        // errors
        for (bad, want) in [
            ("out.tar", "expected docker-archive:"),
            ("oci:out", "expected docker-archive:"),
            ("docker-archive:", "FILE is empty"),
            ("docker-archive::app:v1", "FILE is empty"),
            ("docker-archive:out.tar:app", "without a tag"),
            ("docker-archive:out.tar:localhost:5000/app", "without a tag"),
            ("docker-archive:/tmp/x:y/out.tar", "without a tag"),
            (
                "docker-archive:out.tar:App:v1",
                "invalid image name \"App\"",
            ),
            ("docker-archive:out.tar:app:bad tag", "invalid tag"),
            ("docker-archive:out.tar:app@sha256:00", "digest"),
        ] {
            let e = DockerArchiveRef::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains("invalid image reference") && e.contains(want),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            "docker-archive:f.tar:app:v1"
                .parse::<DockerArchiveRef>()
                .unwrap(),
            r("docker-archive:f.tar:app:v1")
        );
    }

    /// Builds a tar from `(name, kind)` items by hand (for foreign layouts).
    enum Item<'a> {
        File(&'a [u8]),
        Symlink(&'a str),
        HardLink(&'a str),
        Dir,
    }

    fn make_tar(items: &[(&str, Item<'_>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, item) in items {
            let mut h = Header::new_gnu();
            h.set_mode(0o444);
            match item {
                Item::File(data) => {
                    h.set_entry_type(EntryType::Regular);
                    h.set_size(data.len() as u64);
                    b.append_data(&mut h, name, *data).unwrap();
                }
                Item::Symlink(t) | Item::HardLink(t) => {
                    h.set_entry_type(if matches!(item, Item::Symlink(_)) {
                        EntryType::Symlink
                    } else {
                        EntryType::Link
                    });
                    h.set_size(0);
                    b.append_link(&mut h, name, t).unwrap();
                }
                Item::Dir => {
                    h.set_entry_type(EntryType::Directory);
                    h.set_size(0);
                    b.append_data(&mut h, name, io::empty()).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_docker_blobs_layout_with_links_and_gzip() {
        let (_, l1) = tar_of(&[("a", "1")]);
        let (_, l2) = tar_of(&[("b", "2")]);
        let (d1, d2) = (Digest::of_bytes(&l1), Digest::of_bytes(&l2));
        let l2gz = gzip(&l2);
        let gz_digest = Digest::of_bytes(&l2gz);
        let mut cfg = ImageConfig::new("linux", "arm64");
        cfg.set_diff_ids(&[d1.clone(), d2.clone()]);
        let cfg_bytes = cfg.to_bytes().unwrap();
        let cfg_digest = Digest::of_bytes(&cfg_bytes);
        let manifest = format!(
            r#"[{{"Config":"blobs/sha256/{}","RepoTags":["docker.io/library/thing:v2"],"Layers":["blobs/sha256/{}","./legacy/layer.tar"],"LayerSources":{{}}}}]"#,
            cfg_digest.hex(),
            d1.hex()
        );
        let b1 = format!("blobs/sha256/{}", d1.hex());
        let bgz = format!("blobs/sha256/{}", gz_digest.hex());
        let bcfg = format!("blobs/sha256/{}", cfg_digest.hex());
        let tar = make_tar(&[
            ("blobs/", Item::Dir),
            ("blobs/sha256/", Item::Dir),
            (&b1, Item::File(&l1)),
            (&bgz, Item::File(&l2gz)),
            ("cfg-real", Item::File(&cfg_bytes)),
            (&bcfg, Item::HardLink("cfg-real")),
            ("legacy/", Item::Dir),
            ("legacy/layer.tar", Item::Symlink("../blobs/sha256/link2")),
            ("blobs/sha256/link2", Item::Symlink(gz_digest.hex())),
            ("index.json", Item::File(b"{}")),
            ("oci-layout", Item::File(b"{}")),
            ("./manifest.json", Item::File(manifest.as_bytes())),
        ]);
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("new.tar");
        fs::write(&p, &tar).unwrap();
        let img = read_docker_archive(&p, Some("thing:v2")).unwrap();
        assert_eq!(img.config_bytes, cfg_bytes);
        assert_eq!(img.layers[0].compression, LayerCompression::None);
        assert_eq!(img.layers[1].compression, LayerCompression::Gzip);
        assert_eq!(img.layers[1].stored_size(), l2gz.len() as u64);
        assert_eq!(img.read_layer(0).unwrap(), l1);
        assert_eq!(img.read_layer(1).unwrap(), l2);
        let store = BlobStore::new(t.path().join("oci/blobs/sha256"));
        let descs = img.import_into(&store).unwrap();
        assert_eq!(descs[1].digest, d2);
        assert_eq!(descs[1].size, l2.len() as u64);
        assert_eq!(store.read(&d2).unwrap(), l2);
        // streaming through the public reader
        let mut r = img.open_layer(1).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, l2);
        assert!(img.open_layer(2).is_err());
    }

    fn expect_err(path: &Path, tag: Option<&str>, want: &[&str]) {
        let e = match read_docker_archive(path, tag) {
            Ok(img) => {
                let mut err = None;
                for i in 0..img.layers.len() {
                    if let Err(e) = img.read_layer(i) {
                        err = Some(e);
                        break;
                    }
                }
                err.expect("expected an error")
            }
            Err(e) => e,
        };
        let mut chain = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            chain = format!("{chain}: {s}");
            src = s.source();
        }
        assert!(chain.contains(&path.display().to_string()), "{chain}");
        for w in want {
            assert!(chain.contains(w), "{w:?} not in {chain}");
        }
    }

    #[test]
    fn malformed_archives_give_clear_errors() {
        let s = sample();
        let t = tempfile::tempdir().unwrap();
        let good = t.path().join("good.tar");
        let w = write(&s, &good, &["app:v1"]).unwrap();
        let bytes = fs::read(&good).unwrap();
        let p = t.path().join("bad.tar");
        let put = |data: &[u8]| fs::write(&p, data).unwrap();
        let config_name = format!("{}.json", w.image_id.hex());
        let layer0 = format!("{}.tar", s.layers[0].1.hex());

        put(b"");
        expect_err(&p, None, &["no manifest.json", "not a docker-archive"]);
        put(b"this is not a tar archive at all");
        expect_err(&p, None, &["tar"]);
        put(&[7u8; 2048]);
        expect_err(&p, None, &["tar headers"]);
        put(&gzip(&bytes));
        expect_err(&p, None, &["compressed", "gunzip"]);
        put(&make_tar(&[
            ("oci-layout", Item::File(b"{}")),
            ("index.json", Item::File(b"{}")),
        ]));
        expect_err(&p, None, &["oci-archive"]);
        put(&make_tar(&[("manifest.json", Item::File(b"[{"))]));
        expect_err(&p, None, &["JSON", "manifest.json"]);
        put(&make_tar(&[("manifest.json", Item::File(b"[]"))]));
        expect_err(&p, None, &["lists no images"]);
        put(&make_tar(&[(
            "manifest.json",
            Item::File(br#"[{"Config":"c.json","Layers":[]},{"Config":"d.json"}]"#),
        )]));
        expect_err(&p, None, &["holds 2 images", "NAME:TAG"]);
        put(&make_tar(&[(
            "manifest.json",
            Item::File(br#"[{"Config":"c.json","Layers":[]}]"#),
        )]));
        expect_err(&p, None, &["c.json", "no entry"]);
        put(&make_tar(&[
            (
                "manifest.json",
                Item::File(br#"[{"Config":"c.json","Layers":[]}]"#),
            ),
            ("c.json", Item::File(b"[1]")),
        ]));
        expect_err(&p, None, &["c.json", "not a JSON object"]);
        put(&make_tar(&[
            (
                "manifest.json",
                Item::File(br#"[{"Config":"c.json","Layers":["x.tar"]}]"#),
            ),
            ("c.json", Item::File(br#"{"rootfs":{"diff_ids":[]}}"#)),
        ]));
        expect_err(&p, None, &["1 layers", "0 rootfs.diff_ids"]);
        put(&make_tar(&[
            (
                "manifest.json",
                Item::File(br#"[{"Config":"c.json","Layers":["x.tar"]}]"#),
            ),
            (
                "c.json",
                Item::File(br#"{"rootfs":{"diff_ids":["sha256:00"]}}"#),
            ),
        ]));
        expect_err(&p, None, &["c.json", "invalid digest"]);
        put(&make_tar(&[(
            "manifest.json",
            Item::File(br#"[{"Config":"../c.json","Layers":[]}]"#),
        )]));
        expect_err(&p, None, &["outside the archive"]);
        put(&make_tar(&[
            (
                "manifest.json",
                Item::File(br#"[{"Config":"a","Layers":[]}]"#),
            ),
            ("a", Item::Symlink("b")),
            ("b", Item::Symlink("a")),
        ]));
        expect_err(&p, None, &["links"]);

        // config named by a hash it does not have
        let wrong_name = format!("{}.json", "0".repeat(64));
        put(&make_tar(&[
            (
                "manifest.json",
                Item::File(format!(r#"[{{"Config":"{wrong_name}","Layers":[]}}]"#).as_bytes()),
            ),
            (&wrong_name, Item::File(b"{}")),
        ]));
        expect_err(&p, None, &[&wrong_name, "hashes to"]);

        // a layer whose content does not match its diff_id
        let mut tampered = bytes.clone();
        let at = find(&tampered, b"workspace/app.txt").unwrap();
        let data_at = at + 512 + 10; // inside the file content of the plain layer
        tampered[data_at] ^= 1;
        put(&tampered);
        let h2 = format!("{}.tar", s.layers[1].1.hex());
        expect_err(&p, None, &[&h2, "not its diff_id"]);
        let img = read_docker_archive(&p, None).unwrap();
        let store = BlobStore::new(t.path().join("store"));
        let e = img.import_into(&store).unwrap_err().to_string();
        assert!(e.contains("not its diff_id") && e.contains(&h2), "{e}");
        assert!(!store.has(&s.layers[1].1));
        assert!(tmp_files(store.dir()).is_empty());

        // truncated in the middle of the last layer, or in the middle of a header
        let layer_off = find(&bytes, format!("{h2}\0").as_bytes()).unwrap();
        put(&bytes[..layer_off + 512 + 100]);
        expect_err(&p, None, &[&h2, "truncated"]);
        put(&bytes[..layer_off + 200]);
        expect_err(&p, None, &["tar"]);

        // a missing layer entry
        let renamed: Vec<u8> = {
            let mut b = bytes.clone();
            let at = find(&b, format!("{layer0}\0").as_bytes()).unwrap();
            b[at] = b'z';
            // fix the header checksum
            let hstart = at - at % 512;
            let mut h = Header::new_old();
            h.as_mut_bytes().copy_from_slice(&b[hstart..hstart + 512]);
            h.set_cksum();
            b[hstart..hstart + 512].copy_from_slice(h.as_bytes());
            b
        };
        put(&renamed);
        expect_err(&p, None, &[&layer0, "no entry"]);

        // gzip layer inside the archive that is corrupt
        let (_, l) = tar_of(&[("x", "y")]);
        let mut lgz = gzip(&l);
        let n = lgz.len();
        lgz[n - 12] ^= 0xff;
        let mut cfg = ImageConfig::new("linux", "amd64");
        cfg.set_diff_ids(&[Digest::of_bytes(&l)]);
        put(&make_tar(&[
            (
                "manifest.json",
                Item::File(br#"[{"Config":"c.json","Layers":["l.tar.gz"]}]"#),
            ),
            ("c.json", Item::File(&cfg.to_bytes().unwrap())),
            ("l.tar.gz", Item::File(&lgz)),
        ]));
        expect_err(&p, None, &["l.tar.gz"]);
        let _ = config_name;
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn never_panics_on_truncation_or_corruption() {
        let s = sample();
        let t = tempfile::tempdir().unwrap();
        let good = t.path().join("good.tar");
        write(&s, &good, &["app:v1"]).unwrap();
        let bytes = fs::read(&good).unwrap();
        let p = t.path().join("cut.tar");
        let store = BlobStore::new(t.path().join("store"));
        let mut ok = 0;
        for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1024]) {
            fs::write(&p, &bytes[..cut]).unwrap();
            if let Ok(img) = read_docker_archive(&p, None)
                && img.import_into(&store).is_ok()
            {
                ok += 1;
            }
        }
        // only cuts inside the trailing zero blocks can still be complete
        assert!(ok <= 11, "{ok}");
        for i in (0..bytes.len()).step_by(131) {
            let mut b = bytes.clone();
            b[i] ^= 0x5a;
            fs::write(&p, &b).unwrap();
            if let Ok(img) = read_docker_archive(&p, None) {
                let _ = img.import_into(&BlobStore::new(t.path().join(format!("s{i}"))));
            }
        }
    }

    // ---- real tools ------------------------------------------------------

    fn have(cmd: &str) -> bool {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(cmd).is_file()))
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn skopeo_reads_what_kiln_writes() {
        if !have("skopeo") {
            eprintln!("note: skopeo is not on PATH; skipping skopeo_reads_what_kiln_writes");
            return;
        }
        let s = sample();
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("kiln.tar");
        let w = write(&s, &path, &["localhost:5000/kiln/sample:v1"]).unwrap();
        let arg = format!("docker-archive:{}", path.display());
        let inspect: serde_json::Value =
            serde_json::from_str(&run(Command::new("skopeo").args(["inspect", &arg]))).unwrap();
        assert_eq!(inspect["Labels"]["which"], "sample", "{inspect}");
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3, "{inspect}");
        let config = run(Command::new("skopeo").args(["inspect", "--config", "--raw", &arg]));
        assert_eq!(Digest::of_bytes(config.as_bytes()), w.image_id);
        // a digest-checking copy into an OCI layout
        let oci = t.path().join("oci");
        run(Command::new("skopeo").args([
            "copy",
            "-q",
            &format!("{arg}:localhost:5000/kiln/sample:v1"),
            &format!("oci:{}:copied", oci.display()),
        ]));
        let layout = OciLayout::open(&oci).unwrap();
        let r = layout.resolve(Some("copied")).unwrap();
        assert_eq!(r.config.diff_ids().unwrap(), s.config.diff_ids().unwrap());
    }

    /// The project's image tools, `<workspace>/tools`.
    fn project_tools() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools")
    }

    #[test]
    fn kiln_reads_what_skopeo_writes() {
        if !have("skopeo") {
            eprintln!("note: skopeo is not on PATH; skipping kiln_reads_what_skopeo_writes");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("busybox");
        let script = project_tools().join("make-busybox-base.sh");
        if script.is_file() {
            let work = std::env::var_os("KILN_TOOLS_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/kiln-tools"),
                PathBuf::from,
            );
            run(Command::new("bash")
                .arg(&script)
                .arg(&base)
                .arg("latest")
                .env("KILN_TOOLS_DIR", work));
        } else {
            eprintln!(
                "note: {} is missing; using a layout built in-process",
                script.display()
            );
            let layout = OciLayout::create_or_open(&base).unwrap();
            let s = sample();
            let mut descs = Vec::new();
            for (d, _) in &s.layers {
                let bytes = s.blobs.read_descriptor(d).unwrap();
                descs.push(layout.blobs().write_bytes(&bytes, &d.media_type).unwrap());
            }
            layout.write_image("latest", &s.config, descs).unwrap();
        }
        let layout = OciLayout::open(&base).unwrap();
        let oci = layout.resolve(Some("latest")).unwrap();
        let archive = t.path().join("skopeo.tar");
        run(Command::new("skopeo").args([
            "copy",
            "-q",
            &format!("oci:{}:latest", base.display()),
            &format!(
                "docker-archive:{}:localhost:5000/base/busybox:v1",
                archive.display()
            ),
        ]));
        // skopeo writes the name normalised; any spelling of it selects the image
        for sel in [None, Some("localhost:5000/base/busybox:v1")] {
            let img = read_docker_archive(&archive, sel).unwrap();
            assert_eq!(
                img.repo_tags,
                vec!["localhost:5000/base/busybox:v1".to_owned()]
            );
            assert_eq!(img.diff_ids(), oci.config.diff_ids().unwrap());
            assert_eq!(img.config.env(), oci.config.env());
        }
        let img = read_docker_archive(&archive, None).unwrap();
        let store_dir = t.path().join("run-image");
        let run_layout = OciLayout::create_or_open(&store_dir).unwrap();
        let descs = img.import_into(run_layout.blobs()).unwrap();
        for (d, diff_id) in descs.iter().zip(img.diff_ids()) {
            assert_eq!(d.digest, diff_id);
            assert_eq!(d.media_type, MEDIA_TYPE_OCI_LAYER_TAR);
            run_layout.blobs().read_descriptor(d).unwrap();
        }
        run_layout
            .write_image("imported", &img.config, descs)
            .unwrap();
        run(Command::new("skopeo")
            .args(["inspect", &format!("oci:{}:imported", store_dir.display())]));
        // and Kiln's own archive of the imported image is loadable by skopeo again
        let again = t.path().join("again.tar");
        let resolved = run_layout.resolve(Some("imported")).unwrap();
        write_docker_archive_from_resolved(
            &again,
            &["kiln/busybox:v1".into()],
            &resolved,
            run_layout.blobs(),
        )
        .unwrap();
        run(Command::new("skopeo").args([
            "copy",
            "-q",
            &format!("docker-archive:{}", again.display()),
            &format!("oci:{}:roundtrip", t.path().join("rt").display()),
        ]));
    }
}
