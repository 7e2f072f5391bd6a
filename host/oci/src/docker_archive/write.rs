//! Writing `docker load` tarballs.

use super::*;

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
                map.entry(rt.name().to_owned())
                    .or_default()
                    .insert(rt.tag().to_owned(), top.hex().to_owned());
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
    fs::create_dir_all(&dir).map_err(crate::io_err("create directory", &dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&file_name))
        .tempfile_in(&dir)
        .map_err(crate::io_err("create a temporary file in", &dir))?;

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
        .map_err(crate::io_err("read metadata of", tmp.path()))?
        .len();
    kiln_fs::atomic_file::commit(
        tmp,
        path,
        Some(FILE_MODE),
        kiln_fs::atomic_file::Durability::Synced,
    )
    .map_err(crate::io_err("write", path))?;
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
            .map_err(crate::io_err("read metadata of", &blob_path))?
            .len();
        if len != desc.size {
            return Err(ImageError::SizeMismatch {
                path: blob_path,
                expected: desc.size,
                actual: len,
            });
        }
        let mut reader = BufReader::with_capacity(COPY_BUF, file);
        let magic = peek(&mut reader).map_err(crate::io_err("read blob", &blob_path))?;
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
                Err(e) => return Err(crate::io_err("read (decompress) blob", &blob_path)(e)),
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
