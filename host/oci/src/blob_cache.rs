//! A user-wide cache of compressed layer blobs keyed by diff_id. A layer Kiln compressed
//! before (the launcher, an unchanged app built into another output) is copied from here
//! instead of being compressed again. Entries are checked against their diff_id when used.

use std::io;
use std::path::PathBuf;

use flate2::read::GzDecoder;

use super::cache_sweep::{Removed, SweepPolicy};
use super::spec::MEDIA_TYPE_OCI_LAYER_GZIP;
use super::{BlobStore, Descriptor, Digest, HashingWriter};

/// The file name suffix of an entry: the compressor (Kiln's block gzip v1, level 6). Entries
/// with another suffix (an older compressor's) are removed by [`BlobCache::sweep`].
const ENTRY_SUFFIX: &str = ".kgz1-6.tar.gz";

/// Larger blobs are not cached (they are read into memory when used).
const MAX_CACHED_BLOB: u64 = 32 << 20;

/// The cache directory.
#[derive(Debug, Clone)]
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    /// A cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Entries are named after the compressor that made them (Kiln's block gzip, level 6), so
    /// a blob another compressor made is never handed out as this one's output.
    fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(format!("{}{ENTRY_SUFFIX}", diff_id.hex()))
    }

    /// Put the cached blob of `diff_id` into `store`, if the cache has a good one.
    pub fn fetch(&self, diff_id: &Digest, store: &BlobStore) -> Option<Descriptor> {
        let path = self.path(diff_id);
        let bytes = std::fs::read(&path).ok()?;
        let mut hashing = HashingWriter::new(io::sink());
        let verified = io::copy(&mut GzDecoder::new(&bytes[..]), &mut hashing).is_ok()
            && hashing.finish().1 == *diff_id;
        if !verified {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        crate::cache_sweep::touch(&path);
        store.write_bytes(&bytes, MEDIA_TYPE_OCI_LAYER_GZIP).ok()
    }

    /// Remove the entries not used for the policy's `max_age`, files that are not entries
    /// (`<diff_id hex>.tar.gz`) and old temporary files. An entry is only an optimisation:
    /// one removed while a build reads it just gets compressed again.
    pub fn sweep(&self, policy: &SweepPolicy) -> io::Result<Vec<Removed>> {
        crate::cache_sweep::sweep_flat(&self.dir, "blob cache entry", policy, |name, _| {
            name.strip_suffix(ENTRY_SUFFIX)
                .is_some_and(|hex| Digest::parse(&format!("sha256:{hex}")).is_ok())
        })
    }

    /// Remember the blob `desc` (in `store`) as the compressed form of `diff_id`. Failures
    /// are ignored: the cache only saves time.
    pub fn put(&self, diff_id: &Digest, store: &BlobStore, desc: &Descriptor) {
        let target = self.path(diff_id);
        if desc.size > MAX_CACHED_BLOB
            || desc.media_type != MEDIA_TYPE_OCI_LAYER_GZIP
            || target.exists()
        {
            return;
        }
        let _ = std::fs::create_dir_all(&self.dir);
        let Ok(tmp) = tempfile::NamedTempFile::new_in(&self.dir) else {
            return;
        };
        if std::fs::copy(store.path(&desc.digest), tmp.path()).is_ok() {
            let _ = kiln_fs::atomic_file::commit(
                tmp,
                &target,
                None,
                kiln_fs::atomic_file::Durability::BestEffort,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LayerBuilder, LayerOwnership, OciLayout};

    #[test]
    fn fetch_returns_the_same_blob_and_rejects_a_corrupt_entry() {
        let dir = tempfile::tempdir().unwrap();
        let a = OciLayout::create_or_open(dir.path().join("a")).unwrap();
        let b = OciLayout::create_or_open(dir.path().join("b")).unwrap();
        let mut layer = LayerBuilder::new(LayerOwnership::ROOT);
        layer.add_file("x/y", b"hello".to_vec(), 0o644).unwrap();
        let written = layer.write_to(a.blobs()).unwrap();
        let cache = BlobCache::new(dir.path().join("cache"));
        assert!(cache.fetch(&written.diff_id, b.blobs()).is_none());
        cache.put(&written.diff_id, a.blobs(), &written.descriptor);
        let fetched = cache.fetch(&written.diff_id, b.blobs()).unwrap();
        assert_eq!(fetched.digest, written.descriptor.digest);
        assert!(b.blobs().has(&fetched.digest));

        let entry = cache.path(&written.diff_id);
        std::fs::write(&entry, b"not gzip").unwrap();
        let c = OciLayout::create_or_open(dir.path().join("c")).unwrap();
        assert!(cache.fetch(&written.diff_id, c.blobs()).is_none());
        assert!(!entry.exists(), "a corrupt entry is removed");
    }
}
