//! Where Kiln keeps its caches, decided once from the environment and passed down as a value.

use std::path::{Path, PathBuf};

/// The environment variable that moves every cache (default: the user's cache dir `kiln`).
pub const CACHE_DIR_ENV: &str = "KILN_CACHE_DIR";

/// The cache directories of one Kiln process.
///
/// Built once ([`CachePaths::from_env`] or [`CachePaths::at`]); nothing else reads
/// `KILN_CACHE_DIR`. Caches that are only an optimisation (compiled components, layer blobs,
/// verified-layer records, layer caches) are absent without a base; what a build cannot do
/// without (locks, downloads, the registry store, staging layouts) falls back to
/// `<temp>/kiln`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePaths {
    base: Option<PathBuf>,
}

impl CachePaths {
    /// `$KILN_CACHE_DIR`, else the user's cache dir `kiln`, else none.
    pub fn from_env() -> Self {
        let base = std::env::var_os(CACHE_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("kiln")));
        Self { base }
    }

    /// Caches under `base`.
    pub fn at(base: impl Into<PathBuf>) -> Self {
        Self {
            base: Some(base.into()),
        }
    }

    /// No cache base: optional caches are off, required dirs go under `<temp>/kiln`.
    pub fn none() -> Self {
        Self { base: None }
    }

    /// The base directory, if there is one.
    pub fn base(&self) -> Option<&Path> {
        self.base.as_deref()
    }

    /// `<base>/<name>`, or `<temp>/kiln/<name>` without a base.
    fn required(&self, name: &str) -> PathBuf {
        self.base
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("kiln"))
            .join(name)
    }

    /// `<base>/<name>`, or none without a base.
    fn optional(&self, name: &str) -> Option<PathBuf> {
        self.base.as_ref().map(|b| b.join(name))
    }

    /// Lock files of builds in progress.
    pub fn locks(&self) -> PathBuf {
        self.required("locks")
    }

    /// The download cache of the buildpacks' `fetch` import.
    pub fn downloads(&self) -> PathBuf {
        self.required("downloads")
    }

    /// The local content-addressed store of registry images.
    pub fn registry_store(&self) -> PathBuf {
        self.required("registry-store")
    }

    /// Staging layouts of `docker-archive:` outputs, one per archive file.
    pub fn archive_layouts(&self) -> PathBuf {
        self.required("archive-layouts")
    }

    /// Buildpack directories unpacked from buildpack artifacts, one per artifact digest.
    pub fn buildpacks(&self) -> PathBuf {
        self.required("buildpacks")
    }

    /// Read-only root filesystems unpacked from build images, one per manifest digest.
    pub fn rootfs(&self) -> PathBuf {
        self.required("rootfs")
    }

    /// Precompiled components.
    pub fn components(&self) -> Option<PathBuf> {
        self.optional("components")
    }

    /// Compressed layer blobs kept between builds.
    pub fn layer_blobs(&self) -> Option<PathBuf> {
        self.optional("layer-blobs")
    }

    /// Records of layer blobs whose digests were checked.
    pub fn verified_layers(&self) -> Option<PathBuf> {
        self.optional("verified-layers")
    }

    /// Persistent snapshots of app directories (`workspaces/<hash of the app path>`).
    pub fn workspaces(&self) -> Option<PathBuf> {
        self.optional("workspaces")
    }

    /// Layer identities (the host files a layer was made from) mapped to their diff_ids.
    pub fn layer_ids(&self) -> Option<PathBuf> {
        self.optional("layer-ids")
    }

    /// Per-output layer caches (`build-cache/<hash>`).
    pub fn build_caches(&self) -> Option<PathBuf> {
        self.optional("build-cache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cache_is_under_the_base() {
        let paths = CachePaths::at("/c");
        assert_eq!(paths.locks(), Path::new("/c/locks"));
        assert_eq!(paths.downloads(), Path::new("/c/downloads"));
        assert_eq!(paths.registry_store(), Path::new("/c/registry-store"));
        assert_eq!(paths.rootfs(), Path::new("/c/rootfs"));
        assert_eq!(
            paths.components().as_deref(),
            Some(Path::new("/c/components"))
        );
        assert_eq!(
            paths.build_caches().as_deref(),
            Some(Path::new("/c/build-cache"))
        );
    }

    #[test]
    fn without_a_base_optional_caches_are_off_and_required_dirs_are_temporary() {
        let paths = CachePaths::none();
        assert_eq!(paths.components(), None);
        assert_eq!(paths.layer_blobs(), None);
        assert!(paths.locks().starts_with(std::env::temp_dir()));
        assert!(paths.rootfs().starts_with(std::env::temp_dir()));
    }
}
