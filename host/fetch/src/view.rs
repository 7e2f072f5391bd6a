//! One buildpack's view of the download cache in a build: what it sees at `/downloads`.
//!
//! The shared cache holds every file any build fetched; a buildpack must see only the files
//! this build fetched for it. The view is a fresh directory inside the cache root
//! (`<root>/.views/build-*`, so hard links always work), with `<algorithm>/<hex>` (`h1/<hex>`
//! for Go module hashes) linked (or, where links fail, copied) from the cache when a request
//! succeeds. It is removed when the build ends; views left by killed builds are removed by
//! later builds once stale.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::cache::DownloadCache;
use super::digest::Digest;

/// Where views live, under the cache root.
const VIEWS_DIR: &str = ".views";

/// A view older than this belongs to a build that did not end cleanly.
const STALE_AFTER: Duration = Duration::from_hours(24);

/// One build's `/downloads`.
#[derive(Debug)]
pub struct DownloadView {
    dir: tempfile::TempDir,
}

impl DownloadView {
    /// A new, empty view in `cache`'s root; stale views of earlier builds are removed.
    pub fn create(cache: &DownloadCache) -> std::io::Result<Self> {
        let parent = cache.root().join(VIEWS_DIR);
        std::fs::create_dir_all(&parent)?;
        remove_stale(&parent);
        let dir = tempfile::Builder::new()
            .prefix("build-")
            .tempdir_in(&parent)?;
        Ok(Self { dir })
    }

    /// The view's directory (granted read-only at `/downloads`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Make the cached file with digest `d` visible in the view.
    pub fn add(&self, cache: &DownloadCache, d: &Digest) -> std::io::Result<()> {
        let target = self.path_of(d);
        if target.is_file() {
            return Ok(());
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let source = cache.path_of(d);
        if std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target)?;
        }
        Ok(())
    }

    fn path_of(&self, d: &Digest) -> PathBuf {
        self.root().join(d.algorithm().name()).join(d.hex())
    }
}

fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > STALE_AFTER));
        if old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Algorithm, Hasher};

    #[test]
    fn a_view_shows_only_what_was_added_and_goes_away() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(tmp.path());
        let mut digests = Vec::new();
        for body in [b"one".as_slice(), b"two"] {
            let mut h = Hasher::new(Algorithm::Sha256).unwrap();
            h.update(body);
            let d = h.finish();
            std::fs::create_dir_all(cache.path_of(&d).parent().unwrap()).unwrap();
            std::fs::write(cache.path_of(&d), body).unwrap();
            digests.push(d);
        }
        let view = DownloadView::create(&cache).unwrap();
        view.add(&cache, &digests[0]).unwrap();
        view.add(&cache, &digests[0]).unwrap();
        let listed: Vec<_> = std::fs::read_dir(view.root().join("sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(listed, vec![digests[0].hex()]);
        let root = view.root().to_path_buf();
        drop(view);
        assert!(!root.exists());
    }
}
