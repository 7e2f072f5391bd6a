//! Layer blobs whose content Kiln has checked: the compressed bytes hash to the blob digest
//! and the uncompressed tar hashes to the config's diff_id. Layers read back from disk or a
//! registry (a previous image, a run image) are untrusted until checked; a check is done once
//! per blob and remembered in a directory Kiln owns (`<cache>/verified-layers/<hex>`, holding
//! the diff_id and the file's size and mtime, so a blob changed in place is checked again).

use std::io;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use flate2::read::GzDecoder;

use super::digest::HashingReader;
use super::spec::{
    MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_TAR,
    MEDIA_TYPE_OCI_LAYER_ZSTD,
};
use super::{BlobStore, Descriptor, Digest, HashingWriter};

/// Why a layer failed its check.
#[derive(Debug, thiserror::Error)]
pub enum LayerProblem {
    /// The blob file is missing or cannot be read.
    #[error("its blob {digest} cannot be read: {reason}")]
    Unreadable {
        /// The blob digest.
        digest: Digest,
        /// The I/O or decompression error.
        reason: String,
    },
    /// The file's bytes do not hash to its name.
    #[error("its blob file does not hash to {digest} (it was changed or damaged)")]
    BlobMismatch {
        /// The blob digest.
        digest: Digest,
    },
    /// The uncompressed content does not hash to the diff_id.
    #[error("its uncompressed content hashes to {actual}, not to the config's diff_id {expected}")]
    DiffIdMismatch {
        /// The diff_id the config claims.
        expected: Digest,
        /// What the content hashes to.
        actual: Digest,
    },
    /// Not a layer media type Kiln can check.
    #[error(
        "its media type {0:?} is not a layer type Kiln can verify (application/vnd.oci.image.layer.v1.tar, tar+gzip, tar+zstd, or the docker tar.gzip type)"
    )]
    MediaType(String),
}

/// How a layer's bytes are compressed, by media type.
enum Compression {
    Gzip,
    Zstd,
    None,
}

fn compression_of(media_type: &str) -> Option<Compression> {
    match media_type {
        MEDIA_TYPE_OCI_LAYER_GZIP
        | MEDIA_TYPE_DOCKER_LAYER_GZIP
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Compression::Gzip),
        MEDIA_TYPE_OCI_LAYER_ZSTD
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Some(Compression::Zstd),
        MEDIA_TYPE_OCI_LAYER_TAR
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
        _ => None,
    }
}

/// The record of checked blobs (`None`: no cache dir; every check reads the blob).
#[derive(Debug, Clone)]
pub struct VerifiedLayers {
    dir: Option<PathBuf>,
}

impl VerifiedLayers {
    /// Records kept in `dir`.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// Whether `media_type` is a layer type [`Self::check`] accepts.
    pub fn accepts(media_type: &str) -> bool {
        compression_of(media_type).is_some()
    }

    /// Check that the blob of `desc` in `store` is intact and decompresses to `diff_id`
    /// (answered from the record when this file was checked before).
    pub fn check(
        &self,
        store: &BlobStore,
        desc: &Descriptor,
        diff_id: &Digest,
    ) -> Result<(), LayerProblem> {
        let compression = compression_of(&desc.media_type)
            .ok_or_else(|| LayerProblem::MediaType(desc.media_type.clone()))?;
        let path = store.path(&desc.digest);
        let unreadable = |e: &dyn std::fmt::Display| LayerProblem::Unreadable {
            digest: desc.digest.clone(),
            reason: e.to_string(),
        };
        let stamp = file_stamp(&path).map_err(|e| unreadable(&e))?;
        let record = self.record_path(&desc.digest);
        if let Some(r) = &record
            && std::fs::read_to_string(r).ok().as_deref() == Some(&record_text(diff_id, &stamp))
        {
            return Ok(());
        }
        let file = std::fs::File::open(&path).map_err(|e| unreadable(&e))?;
        let mut compressed = HashingReader::new(file);
        let mut content = HashingWriter::new(io::sink());
        match compression {
            Compression::Gzip => {
                let mut gz = GzDecoder::new(&mut compressed);
                io::copy(&mut gz, &mut content).map_err(|e| unreadable(&e))?;
            }
            Compression::Zstd => {
                let mut zstd = zstd::stream::read::Decoder::new(&mut compressed)
                    .map_err(|e| unreadable(&e))?;
                io::copy(&mut zstd, &mut content).map_err(|e| unreadable(&e))?;
            }
            Compression::None => {
                io::copy(&mut compressed, &mut content).map_err(|e| unreadable(&e))?;
            }
        }
        // Bytes after the gzip stream still belong to the blob.
        io::copy(&mut compressed, &mut io::sink()).map_err(|e| unreadable(&e))?;
        if compressed.finish() != desc.digest {
            return Err(LayerProblem::BlobMismatch {
                digest: desc.digest.clone(),
            });
        }
        let (_, actual, _) = content.finish();
        if actual != *diff_id {
            return Err(LayerProblem::DiffIdMismatch {
                expected: diff_id.clone(),
                actual,
            });
        }
        if let Some(r) = record {
            write_record(&r, &record_text(diff_id, &stamp));
        }
        Ok(())
    }

    /// Remember a blob Kiln itself just wrote from known content.
    pub fn remember(&self, store: &BlobStore, desc: &Descriptor, diff_id: &Digest) {
        if let (Some(r), Ok(stamp)) = (
            self.record_path(&desc.digest),
            file_stamp(&store.path(&desc.digest)),
        ) {
            write_record(&r, &record_text(diff_id, &stamp));
        }
    }

    fn record_path(&self, blob: &Digest) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(blob.hex()))
    }
}

/// Size and modification time of a blob file, which a record must match.
fn file_stamp(path: &Path) -> io::Result<String> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{} {mtime}", meta.len()))
}

fn record_text(diff_id: &Digest, stamp: &str) -> String {
    format!("{diff_id} {stamp}\n")
}

/// Write a record; failures only cost a later re-check.
fn write_record(path: &Path, text: &str) {
    if let Some(dir) = path.parent()
        && std::fs::create_dir_all(dir).is_ok()
    {
        let _ = kiln_fs::atomic_file::write(path, text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OciLayout;

    fn layer(store: &BlobStore, content: &[u8]) -> (Descriptor, Digest) {
        let diff_id = Digest::of_bytes(content);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        io::Write::write_all(&mut gz, content).unwrap();
        let desc = store
            .write_bytes(&gz.finish().unwrap(), MEDIA_TYPE_OCI_LAYER_GZIP)
            .unwrap();
        (desc, diff_id)
    }

    #[test]
    fn checks_content_and_remembers_it() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(tmp.path().join("l")).unwrap();
        let verified = VerifiedLayers::new(Some(tmp.path().join("records")));
        let (desc, diff_id) = layer(layout.blobs(), b"layer bytes");
        verified.check(layout.blobs(), &desc, &diff_id).unwrap();
        assert!(tmp.path().join("records").join(desc.digest.hex()).is_file());
        verified.check(layout.blobs(), &desc, &diff_id).unwrap();

        let (_, other) = layer(layout.blobs(), b"other bytes");
        let err = verified.check(layout.blobs(), &desc, &other).unwrap_err();
        assert!(matches!(err, LayerProblem::DiffIdMismatch { .. }), "{err}");
    }

    #[test]
    fn a_blob_changed_in_place_is_checked_again() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(tmp.path().join("l")).unwrap();
        let verified = VerifiedLayers::new(Some(tmp.path().join("records")));
        let (desc, diff_id) = layer(layout.blobs(), b"layer bytes");
        verified.check(layout.blobs(), &desc, &diff_id).unwrap();
        let path = layout.blobs().path(&desc.digest);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(verified.check(layout.blobs(), &desc, &diff_id).is_err());
    }

    #[test]
    fn unknown_media_types_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(tmp.path().join("l")).unwrap();
        let (mut desc, diff_id) = layer(layout.blobs(), b"x");
        desc.media_type = "application/x-bogus".into();
        let err = VerifiedLayers::new(None)
            .check(layout.blobs(), &desc, &diff_id)
            .unwrap_err();
        assert!(matches!(err, LayerProblem::MediaType(_)));
    }
}
