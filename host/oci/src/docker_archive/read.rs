//! Reading `docker save` tarballs.

use super::*;

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
    let mut file = File::open(path).map_err(crate::io_err("open", path))?;
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
        let mut file = File::open(&self.archive).map_err(crate::io_err("open", &self.archive))?;
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
                    .map_err(crate::io_err("write blob in", blobs.dir()))?;
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
        let mut file = File::open(path).map_err(crate::io_err("open", path))?;
        let meta = file
            .metadata()
            .map_err(crate::io_err("read metadata of", path))?;
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
        let mut file = File::open(&self.archive).map_err(crate::io_err("open", &self.archive))?;
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
