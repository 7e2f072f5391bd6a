//! The content-addressed download cache shared by all builds: `<root>/<algorithm>/<hex>`
//! (`sha256`, `sha512`, or `h1` for Go module hashes, keyed by the hex of the `h1` bytes).
//!
//! Files are written to a temporary file in the same directory, verified, then renamed into
//! place, so a file under its digest name is always complete and verified. SHA digests are
//! computed as the bytes arrive; `h1` from the whole temporary file before the rename. A
//! URL→digest index (`<root>/index/<sha256 of the URL>`) remembers what unpinned URLs resolved
//! to; it is only a hint for `--offline` builds; the digest in the file name is authoritative.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use super::digest::{self, Algorithm, Digest, Hasher};

/// Where the guest sees the download cache (read-only, during build only).
pub const GUEST_DIR: &str = "/downloads";

/// Prefix of temporary files; never a valid hex name.
const PARTIAL_PREFIX: &str = ".partial-";

/// The download cache.
#[derive(Debug, Clone)]
pub struct DownloadCache {
    root: PathBuf,
}

/// Bytes being downloaded into the cache, hashed as they arrive (`h1`: when committed).
pub struct Pending {
    file: tempfile::NamedTempFile,
    /// `None` for `h1`, computed from the whole file in [`Pending::commit`].
    hasher: Option<Hasher>,
    size: u64,
}

/// A download whose bytes did not match the expected digest (the temporary file is gone).
#[derive(Debug, Clone)]
pub enum Mismatch {
    /// The bytes hash to another digest.
    Differs {
        /// What the bytes hash to.
        actual: Digest,
    },
    /// The bytes could not be hashed with the pinned algorithm: an `h1` pin on a file that is
    /// not a valid Go module zip (or is too large for one, or for a `go.mod`).
    Unhashable {
        /// Why, in one line (names no digest).
        reason: String,
    },
}

impl DownloadCache {
    /// A cache rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create the root (so it can be granted to guests even when empty).
    pub fn ensure(&self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.root)
    }

    /// Host path of the file with digest `d` (present or not).
    pub fn path_of(&self, d: &Digest) -> PathBuf {
        self.root.join(d.algorithm().name()).join(d.hex())
    }

    /// Guest path of the file with digest `d`.
    pub fn guest_path(d: &Digest) -> String {
        format!("{GUEST_DIR}/{}/{}", d.algorithm().name(), d.hex())
    }

    /// The size of the cached file with digest `d`, if it is present.
    pub fn lookup(&self, d: &Digest) -> Option<u64> {
        std::fs::metadata(self.path_of(d))
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
    }

    fn index_path(&self, url: &str) -> PathBuf {
        self.root
            .join("index")
            .join(hex::encode(sha2::Sha256::digest(url.as_bytes())))
    }

    /// The digest `url` resolved to last time, if remembered and still cached.
    pub fn hint(&self, url: &str) -> Option<Digest> {
        let text = std::fs::read_to_string(self.index_path(url)).ok()?;
        let d = Digest::parse(&text).ok()?;
        self.lookup(&d).map(|_| d)
    }

    /// Remember that `url` resolved to `d` (best effort).
    pub fn record_hint(&self, url: &str, d: &Digest) {
        let path = self.index_path(url);
        if let Some(dir) = path.parent()
            && std::fs::create_dir_all(dir).is_ok()
            && let Ok(mut tmp) = tempfile::NamedTempFile::with_prefix_in(PARTIAL_PREFIX, dir)
            && tmp.write_all(d.to_string().as_bytes()).is_ok()
        {
            let _ = kiln_fs::atomic_file::commit(
                tmp,
                &path,
                None,
                kiln_fs::atomic_file::Durability::BestEffort,
            );
        }
    }

    /// Start writing a file that will be hashed with `algorithm`.
    pub fn begin(&self, algorithm: Algorithm) -> std::io::Result<Pending> {
        let dir = self.root.join(algorithm.name());
        std::fs::create_dir_all(&dir)?;
        let file = tempfile::NamedTempFile::with_prefix_in(PARTIAL_PREFIX, &dir)?;
        Ok(Pending {
            file,
            hasher: Hasher::new(algorithm),
            size: 0,
        })
    }
}

impl Pending {
    /// Append bytes.
    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.size += data.len() as u64;
        self.file.write_all(data)
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Drop what was written (the temporary file is deleted).
    pub fn discard(self) {
        drop(self.file);
    }

    /// Verify against `expected` (if any) and move into place. On a mismatch the temporary
    /// file is deleted and the actual digest (or why there is none) returned. An `h1` file is
    /// hashed here, from the temporary file reopened by path: this reads the whole file.
    pub fn commit(
        self,
        cache: &DownloadCache,
        expected: Option<&Digest>,
    ) -> Result<std::io::Result<(Digest, u64)>, Mismatch> {
        let actual = if let Some(h) = self.hasher {
            h.finish()
        } else {
            match go_h1_of_temp(&self.file) {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => return Ok(Err(e)),
                Err(m) => {
                    drop(self.file);
                    return Err(m);
                }
            }
        };
        if let Some(want) = expected
            && *want != actual
        {
            drop(self.file);
            return Err(Mismatch::Differs { actual });
        }
        let target = cache.path_of(&actual);
        let size = self.size;
        Ok(kiln_fs::atomic_file::commit(
            self.file,
            &target,
            None,
            kiln_fs::atomic_file::Durability::Synced,
        )
        .map(|()| (actual, size)))
    }
}

/// The `h1` of the temporary file, reopened by path; `Ok(Err)` when it cannot be reopened.
fn go_h1_of_temp(file: &tempfile::NamedTempFile) -> Result<std::io::Result<Digest>, Mismatch> {
    let mut reopened = match file.reopen() {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    digest::go_h1_of_file(&mut reopened)
        .map(Ok)
        .map_err(|e| Mismatch::Unhashable {
            reason: e.message().to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_of(data: &[u8]) -> Digest {
        let mut h = Hasher::new(Algorithm::Sha256).unwrap();
        h.update(data);
        h.finish()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn verified_file_lands_under_its_digest() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(tmp.path());
        let want = sha256_of(b"hello");
        assert_eq!(cache.lookup(&want), None);
        let mut p = cache.begin(Algorithm::Sha256).unwrap();
        p.write(b"hel").unwrap();
        p.write(b"lo").unwrap();
        let (got, size) = p.commit(&cache, Some(&want)).unwrap().unwrap();
        assert_eq!(got, want);
        assert_eq!(size, 5);
        assert_eq!(cache.lookup(&want), Some(5));
        assert_eq!(std::fs::read(cache.path_of(&want)).unwrap(), b"hello");
        assert_eq!(names(&tmp.path().join("sha256")), vec![want.hex()]);
        assert_eq!(
            DownloadCache::guest_path(&want),
            format!("/downloads/sha256/{}", want.hex())
        );
    }

    #[test]
    fn mismatch_keeps_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(tmp.path());
        let want = sha256_of(b"good");
        let mut p = cache.begin(Algorithm::Sha256).unwrap();
        p.write(b"evil").unwrap();
        let err = p.commit(&cache, Some(&want)).unwrap_err();
        assert!(
            matches!(&err, Mismatch::Differs { actual } if *actual == sha256_of(b"evil")),
            "{err:?}"
        );
        assert!(names(&tmp.path().join("sha256")).is_empty());
    }

    /// `h1` of a lone go.mod `module golang.org/x/text\n` (a real go.sum line).
    const X_TEXT_GO_MOD_H1: &str = "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=";

    #[test]
    fn h1_files_are_hashed_whole_and_land_under_h1() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(tmp.path());
        let want = Digest::parse(X_TEXT_GO_MOD_H1).unwrap();
        let mut p = cache.begin(Algorithm::GoH1).unwrap();
        p.write(b"module golang.org/").unwrap();
        p.write(b"x/text\n").unwrap();
        let (got, size) = p.commit(&cache, Some(&want)).unwrap().unwrap();
        assert_eq!(got, want);
        assert_eq!(size, 25);
        assert_eq!(cache.lookup(&want), Some(25));
        assert_eq!(names(&tmp.path().join("h1")), vec![want.hex()]);
        assert_eq!(
            DownloadCache::guest_path(&want),
            format!("/downloads/h1/{}", want.hex())
        );
    }

    #[test]
    fn h1_mismatch_and_unhashable_keep_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(tmp.path());
        let want = Digest::parse(X_TEXT_GO_MOD_H1).unwrap();
        let mut p = cache.begin(Algorithm::GoH1).unwrap();
        p.write(b"module evil.example/x\n").unwrap();
        let err = p.commit(&cache, Some(&want)).unwrap_err();
        assert!(matches!(err, Mismatch::Differs { .. }), "{err:?}");
        // Starts like a zip, is not one.
        let mut p = cache.begin(Algorithm::GoH1).unwrap();
        p.write(b"PK\x03\x04 and then nothing").unwrap();
        let err = p.commit(&cache, Some(&want)).unwrap_err();
        assert!(
            matches!(&err, Mismatch::Unhashable { reason } if reason.contains("zip")),
            "{err:?}"
        );
        assert!(names(&tmp.path().join("h1")).is_empty());
    }

    #[test]
    fn hints_need_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(tmp.path());
        let d = sha256_of(b"x");
        cache.record_hint("http://h/x", &d);
        assert_eq!(cache.hint("http://h/x"), None, "file not cached yet");
        let mut p = cache.begin(Algorithm::Sha256).unwrap();
        p.write(b"x").unwrap();
        p.commit(&cache, None).unwrap().unwrap();
        assert_eq!(cache.hint("http://h/x"), Some(d));
        assert_eq!(cache.hint("http://h/y"), None);
    }
}
