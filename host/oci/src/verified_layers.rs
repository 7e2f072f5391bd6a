//! Layer blobs whose content Kiln has checked: the compressed bytes hash to the blob digest
//! and the uncompressed tar hashes to the config's diff_id. Layers read back from disk or a
//! registry (a previous image, a run image) are untrusted until checked; a check is done once
//! per blob and remembered in a directory Kiln owns (`<cache>/verified-layers/<hex>`, holding
//! the diff_id and the [`FileStamp`] of each checked copy, so a blob changed in place or
//! replaced is checked again).

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::read::GzDecoder;

use super::cache_sweep::{Removed, SweepPolicy};
use super::digest::HashingReader;
use super::file_stamp::FileStamp;
use super::layout::CopyOutcome;
use super::spec::{
    MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_TAR,
    MEDIA_TYPE_OCI_LAYER_ZSTD,
};
use super::{BlobStore, Descriptor, Digest, HashingWriter, ImageError};

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
///
/// A record `<dir>/<hex>` has one line per checked copy of the blob: its diff_id and the
/// [`FileStamp`] of the file that was checked (`<diff_id> <dev> <ino> <size> <mtime_ns>
/// <ctime_ns>`). A file matches only when every field does, so a blob rewritten in place
/// (new ctime) or replaced (new inode) is checked again; lines of another format (older
/// Kiln versions wrote `<diff_id> <size> <mtime>`) never match.
#[derive(Debug, Clone)]
pub struct VerifiedLayers {
    dir: Option<PathBuf>,
}

/// How many checked copies of one blob a record remembers (oldest dropped first).
const MAX_COPIES: usize = 8;

/// How many times a blob whose file changed during the check is checked again.
pub const CHECK_ATTEMPTS: u32 = 3;

/// Why one check did not pass.
enum Checked {
    /// The file's stamp changed while it was read: check the path again.
    Changed,
    /// A definite problem.
    Failed(LayerProblem),
}

impl From<LayerProblem> for Checked {
    fn from(problem: LayerProblem) -> Self {
        Self::Failed(problem)
    }
}

/// Name prefix of records being written (renamed into place when complete).
pub const RECORD_TEMP_PREFIX: &str = ".tmp-";

impl VerifiedLayers {
    /// Records kept in `dir`.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The directory the records are kept in, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
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
        self.check_stamped(store, desc, diff_id).map(|_| ())
    }

    /// [`Self::check`], returning the stamp of the file that passed: proof for
    /// [`BlobStore::copy_verified_from`] that this very file was checked.
    ///
    /// A file whose stamp changed while it was read is checked again (the path may now hold
    /// another copy: a concurrent Kiln process that pulled the same blob renames its copy
    /// over this one, which changes the ctime of the file being read), up to
    /// [`CHECK_ATTEMPTS`] times.
    pub fn check_stamped(
        &self,
        store: &BlobStore,
        desc: &Descriptor,
        diff_id: &Digest,
    ) -> Result<FileStamp, LayerProblem> {
        let mut attempt = 1;
        loop {
            match self.check_once(store, desc, diff_id) {
                Err(Checked::Changed) if attempt < CHECK_ATTEMPTS => attempt += 1,
                Err(Checked::Changed) => {
                    return Err(LayerProblem::Unreadable {
                        digest: desc.digest.clone(),
                        reason: format!(
                            "the file changed while it was being checked ({CHECK_ATTEMPTS} times); \
                             make sure nothing else writes it and run the command again"
                        ),
                    });
                }
                Err(Checked::Failed(problem)) => return Err(problem),
                Ok(stamp) => return Ok(stamp),
            }
        }
    }

    /// One check of the file now at the blob's path.
    fn check_once(
        &self,
        store: &BlobStore,
        desc: &Descriptor,
        diff_id: &Digest,
    ) -> Result<FileStamp, Checked> {
        let compression = compression_of(&desc.media_type)
            .ok_or_else(|| LayerProblem::MediaType(desc.media_type.clone()))?;
        let path = store.path(&desc.digest);
        let unreadable = |e: &dyn std::fmt::Display| LayerProblem::Unreadable {
            digest: desc.digest.clone(),
            reason: e.to_string(),
        };
        if let Some(stamp) = self.recorded(store, desc, diff_id) {
            return Ok(stamp);
        }
        let file = std::fs::File::open(&path).map_err(|e| unreadable(&e))?;
        let stamp = FileStamp::of_file(&file).map_err(|e| unreadable(&e))?;
        let stamped_at = SystemTime::now();
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
        let (file, blob_digest) = compressed.finish_with_inner();
        if blob_digest != desc.digest {
            return Err(LayerProblem::BlobMismatch {
                digest: desc.digest.clone(),
            }
            .into());
        }
        let (_, actual, _) = content.finish();
        if actual != *diff_id {
            return Err(LayerProblem::DiffIdMismatch {
                expected: diff_id.clone(),
                actual,
            }
            .into());
        }
        if FileStamp::of_file(&file).ok() != Some(stamp) {
            return Err(Checked::Changed);
        }
        if stamp.is_settled(stamped_at) {
            self.add_record(&desc.digest, diff_id, &stamp);
        }
        Ok(stamp)
    }

    /// The current stamp of the blob of `desc` in `store` when its record says this very
    /// file was checked and decompresses to `diff_id`; `None` otherwise (no record, another
    /// file, or the file changed since).
    pub fn recorded(
        &self,
        store: &BlobStore,
        desc: &Descriptor,
        diff_id: &Digest,
    ) -> Option<FileStamp> {
        let record = self.record_path(&desc.digest)?;
        let stamp = FileStamp::of(&store.path(&desc.digest)).ok()?;
        if stamp.size != desc.size {
            return None;
        }
        let line = record_line(diff_id, &stamp);
        let text = std::fs::read_to_string(&record).ok()?;
        let hit = text.lines().any(|l| l == line);
        if hit {
            crate::cache_sweep::touch(&record);
        }
        hit.then_some(stamp)
    }

    /// Remove the records not used (written or matched) for the policy's `max_age`, records
    /// without a line of the current format (they can never match), files that are not
    /// records, and old temporary files. Removing a record only costs a re-check; a record
    /// cannot say where its blob files are, so "not used for a while" is the rule, not
    /// "its blob is gone".
    pub fn sweep(&self, policy: &SweepPolicy) -> io::Result<Vec<Removed>> {
        let Some(dir) = &self.dir else {
            return Ok(Vec::new());
        };
        crate::cache_sweep::sweep_flat(dir, "verified-layer record", policy, |name, path| {
            Digest::parse(&format!("sha256:{name}")).is_ok()
                && std::fs::read_to_string(path)
                    .is_ok_and(|t| t.lines().any(|l| l.split(' ').count() == 6))
        })
    }

    /// Remember a blob Kiln itself just wrote from known content.
    pub fn remember(&self, store: &BlobStore, desc: &Descriptor, diff_id: &Digest) {
        if let Ok(stamp) = FileStamp::of(&store.path(&desc.digest)) {
            self.add_record(&desc.digest, diff_id, &stamp);
        }
    }

    /// Copy the layer `desc` (diff_id `diff_id`) from `source` into `target`: without reading
    /// it when its record says the source file was checked (see
    /// [`BlobStore::copy_verified_from`]), else with the hashing copy.
    pub fn copy(
        &self,
        source: &BlobStore,
        target: &BlobStore,
        desc: &Descriptor,
        diff_id: &Digest,
    ) -> Result<CopyOutcome, ImageError> {
        match self.recorded(source, desc, diff_id) {
            Some(stamp) => target.copy_verified_from(source, desc, &stamp),
            None => target.copy_from(source, desc).map(|copied| {
                if copied {
                    CopyOutcome::Hashed
                } else {
                    CopyOutcome::Present
                }
            }),
        }
    }

    fn record_path(&self, blob: &Digest) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(blob.hex()))
    }

    /// Add `stamp` to the record of `blob`, replacing lines of the same file (device and
    /// inode) and lines of other formats; failures only cost a later re-check.
    fn add_record(&self, blob: &Digest, diff_id: &Digest, stamp: &FileStamp) {
        let Some(path) = self.record_path(blob) else {
            return;
        };
        let new = record_line(diff_id, stamp);
        let same_file = format!(" {} {} ", stamp.dev, stamp.ino);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let mut lines: Vec<&str> = old
            .lines()
            .filter(|l| l.split(' ').count() == 6 && !l.contains(&same_file) && *l != new)
            .collect();
        lines.push(&new);
        let skip = lines.len().saturating_sub(MAX_COPIES);
        let mut text = lines[skip..].join("\n");
        text.push('\n');
        if let Some(dir) = path.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            let _ = kiln_fs::atomic_file::write_with_prefix(
                &path,
                Some(RECORD_TEMP_PREFIX),
                None,
                text.as_bytes(),
            );
        }
    }
}

fn record_line(diff_id: &Digest, stamp: &FileStamp) -> String {
    format!("{diff_id} {}", stamp.to_record())
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
        settle();
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

    /// Wait until a freshly written blob's stamp is settled, so its check is recorded.
    fn settle() {
        std::thread::sleep(std::time::Duration::from_millis(80));
    }

    #[test]
    fn a_record_is_not_honoured_after_a_rewrite_in_place_with_size_and_mtime_restored() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(tmp.path().join("l")).unwrap();
        let verified = VerifiedLayers::new(Some(tmp.path().join("records")));
        let (desc, diff_id) = layer(layout.blobs(), b"layer bytes");
        settle();
        verified.check(layout.blobs(), &desc, &diff_id).unwrap();
        assert!(verified.recorded(layout.blobs(), &desc, &diff_id).is_some());

        // Same length, same inode, mtime put back: only ctime tells.
        let path = layout.blobs().path(&desc.digest);
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let mut file = std::fs::File::options().write(true).open(&path).unwrap();
        io::Write::write_all(&mut file, &bytes).unwrap();
        file.set_times(std::fs::FileTimes::new().set_modified(mtime))
            .unwrap();
        drop(file);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);

        assert!(verified.recorded(layout.blobs(), &desc, &diff_id).is_none());
        let err = verified.check(layout.blobs(), &desc, &diff_id).unwrap_err();
        assert!(
            matches!(
                err,
                LayerProblem::BlobMismatch { .. } | LayerProblem::Unreadable { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn records_of_the_old_format_only_cause_a_recheck() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(tmp.path().join("l")).unwrap();
        let records = tmp.path().join("records");
        let verified = VerifiedLayers::new(Some(records.clone()));
        let (desc, diff_id) = layer(layout.blobs(), b"layer bytes");
        let meta = std::fs::metadata(layout.blobs().path(&desc.digest)).unwrap();
        let mtime = meta
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::fs::create_dir_all(&records).unwrap();
        let record = records.join(desc.digest.hex());
        std::fs::write(&record, format!("{diff_id} {} {mtime}\n", meta.len())).unwrap();
        assert!(verified.recorded(layout.blobs(), &desc, &diff_id).is_none());
        settle();
        verified.check(layout.blobs(), &desc, &diff_id).unwrap();
        let text = std::fs::read_to_string(&record).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(verified.recorded(layout.blobs(), &desc, &diff_id).is_some());
    }

    #[test]
    fn a_checked_blob_copies_without_rehashing_and_every_copy_is_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let a = OciLayout::create_or_open(tmp.path().join("a")).unwrap();
        let b = OciLayout::create_or_open(tmp.path().join("b")).unwrap();
        let c = OciLayout::create_or_open(tmp.path().join("c")).unwrap();
        let verified = VerifiedLayers::new(Some(tmp.path().join("records")));
        let (desc, diff_id) = layer(a.blobs(), b"layer bytes");

        // Never checked: the hashing copy.
        assert_eq!(
            verified
                .copy(a.blobs(), c.blobs(), &desc, &diff_id)
                .unwrap(),
            CopyOutcome::Hashed
        );
        settle();
        verified.check(a.blobs(), &desc, &diff_id).unwrap();
        assert_eq!(
            verified
                .copy(a.blobs(), b.blobs(), &desc, &diff_id)
                .unwrap(),
            CopyOutcome::Cloned
        );
        assert_eq!(
            b.blobs().read(&desc.digest).unwrap(),
            a.blobs().read(&desc.digest).unwrap()
        );
        assert_eq!(
            verified
                .copy(a.blobs(), b.blobs(), &desc, &diff_id)
                .unwrap(),
            CopyOutcome::Present
        );
        // Checking the copy keeps the original's line: both are answered from the record.
        settle();
        verified.check(b.blobs(), &desc, &diff_id).unwrap();
        assert!(verified.recorded(a.blobs(), &desc, &diff_id).is_some());
        assert!(verified.recorded(b.blobs(), &desc, &diff_id).is_some());
    }

    #[test]
    fn a_blob_changed_between_check_and_copy_is_copied_only_if_its_digest_checks_out() {
        let tmp = tempfile::tempdir().unwrap();
        let a = OciLayout::create_or_open(tmp.path().join("a")).unwrap();
        let b = OciLayout::create_or_open(tmp.path().join("b")).unwrap();
        let verified = VerifiedLayers::new(None);
        let (desc, diff_id) = layer(a.blobs(), b"layer bytes");
        let stamp = verified.check_stamped(a.blobs(), &desc, &diff_id).unwrap();
        let path = a.blobs().path(&desc.digest);

        // Rewritten with the same bytes: a new stamp, so the copy hashes (and succeeds).
        let bytes = std::fs::read(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            b.blobs()
                .copy_verified_from(a.blobs(), &desc, &stamp)
                .unwrap(),
            CopyOutcome::Hashed
        );

        // Damaged: the hashing copy refuses and leaves nothing in the destination.
        let c = OciLayout::create_or_open(tmp.path().join("c")).unwrap();
        let mut damaged = bytes.clone();
        damaged[0] ^= 1;
        std::fs::write(&path, &damaged).unwrap();
        let err = c
            .blobs()
            .copy_verified_from(a.blobs(), &desc, &stamp)
            .unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(!c.blobs().has(&desc.digest));
        assert_eq!(std::fs::read_dir(c.blobs().dir()).unwrap().count(), 0);
    }

    #[test]
    fn a_damaged_destination_blob_is_replaced_by_a_checked_copy() {
        let tmp = tempfile::tempdir().unwrap();
        let a = OciLayout::create_or_open(tmp.path().join("a")).unwrap();
        let b = OciLayout::create_or_open(tmp.path().join("b")).unwrap();
        let verified = VerifiedLayers::new(None);
        let (desc, diff_id) = layer(a.blobs(), b"layer bytes");
        let stamp = verified.check_stamped(a.blobs(), &desc, &diff_id).unwrap();
        std::fs::write(b.blobs().path(&desc.digest), b"short").unwrap();
        assert_eq!(
            b.blobs()
                .copy_verified_from(a.blobs(), &desc, &stamp)
                .unwrap(),
            CopyOutcome::Cloned
        );
        assert_eq!(
            b.blobs().read(&desc.digest).unwrap().len() as u64,
            desc.size
        );
    }

    #[test]
    fn a_sweep_keeps_used_records_and_removes_unused_and_unmatchable_ones() {
        use std::time::{Duration, SystemTime};
        let tmp = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(tmp.path().join("l")).unwrap();
        let records = tmp.path().join("records");
        let verified = VerifiedLayers::new(Some(records.clone()));
        let (used, used_id) = layer(layout.blobs(), b"used");
        let (unused, unused_id) = layer(layout.blobs(), b"unused");
        settle();
        verified.check(layout.blobs(), &used, &used_id).unwrap();
        verified.check(layout.blobs(), &unused, &unused_id).unwrap();
        let old = SystemTime::now() - Duration::from_hours(24 * 40);
        for d in [&used, &unused] {
            std::fs::File::open(records.join(d.digest.hex()))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        let old_format = records.join("a".repeat(64));
        std::fs::write(&old_format, format!("{used_id} 12 34\n")).unwrap();
        // Used again: the record's last-used stamp is refreshed.
        assert!(verified.recorded(layout.blobs(), &used, &used_id).is_some());

        let removed = verified
            .sweep(&SweepPolicy::new(Duration::from_hours(24 * 30)))
            .unwrap();
        let mut gone: Vec<_> = removed.iter().map(|r| r.path.clone()).collect();
        gone.sort();
        let mut expected = vec![records.join(unused.digest.hex()), old_format];
        expected.sort();
        assert_eq!(gone, expected);
        assert!(verified.recorded(layout.blobs(), &used, &used_id).is_some());
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
