//! `--cache-image REF`: the layer cache kept in a registry image, as `pack` does.
//!
//! The cache image is an OCI image whose layers are the cache's uncompressed layer tars
//! (`application/vnd.oci.image.layer.v1.tar`, so each blob digest is the tar's diff_id) and
//! whose config carries the cache metadata in the `io.buildpacks.lifecycle.cache.metadata`
//! label. Before a build it is pulled into the local store and mirrored into a local cache
//! directory; after the build the directory is published back. Both directions move only the
//! blobs the other side lacks.

use std::path::PathBuf;

use kiln_lifecycle::cache::{Cache, CacheMetadata};
use kiln_oci::spec::MEDIA_TYPE_OCI_LAYER_TAR;
use kiln_oci::{Descriptor, Digest, ImageConfig, ImageError};
use kiln_registry::{PullOptions, PushReport, Registries, RegistryError, RegistryRef};

/// Label holding the cache metadata JSON.
pub const CACHE_METADATA_LABEL: &str = "io.buildpacks.lifecycle.cache.metadata";

/// A cache image and its local mirror.
pub struct CacheImage {
    reference: RegistryRef,
    mirror: Cache,
    registries: Registries,
}

impl CacheImage {
    /// A cache image at `reference`, mirrored in a per-reference directory of the user cache.
    pub fn new(reference: RegistryRef, services: &crate::services::Services) -> Self {
        let dir = kiln_lifecycle::cache::default_dir(
            &services.caches,
            &format!("cache-image:{}", reference.whole()),
        )
        .unwrap_or_else(|| std::env::temp_dir().join("kiln-cache-image"));
        Self {
            mirror: Cache::new(dir),
            reference,
            registries: services.registries.clone(),
        }
    }

    /// The local mirror the build reads and writes.
    pub fn cache(&self) -> &Cache {
        &self.mirror
    }

    /// The reference.
    pub fn reference(&self) -> &RegistryRef {
        &self.reference
    }

    /// Pull the cache image and make the mirror hold exactly its contents (an absent image
    /// means an empty cache). Returns the number of cached layers.
    pub fn restore(&self) -> Result<usize, RegistryError> {
        let Some(pulled) = self
            .registries
            .pull(&self.reference, PullOptions { layers: true })?
        else {
            self.mirror.discard();
            return Ok(0);
        };
        let resolved = pulled.layout.resolve(Some(&pulled.tag))?;
        let label = resolved.config.label(CACHE_METADATA_LABEL).ok_or_else(|| {
            RegistryError::BadManifest {
                reference: self.reference.whole(),
                reason: format!(
                    "has no {CACHE_METADATA_LABEL} label: it is not a Kiln cache image; pass another --cache-image"
                ),
            }
        })?;
        let metadata: CacheMetadata =
            serde_json::from_str(label).map_err(|e| RegistryError::BadManifest {
                reference: self.reference.whole(),
                reason: format!("its {CACHE_METADATA_LABEL} label does not parse ({e})"),
            })?;
        let blobs = pulled.layout.blobs().clone();
        let tar_for = |sha: &str| -> PathBuf {
            Digest::parse(sha).map_or_else(|_| PathBuf::from(sha), |d| blobs.path(&d))
        };
        self.mirror
            .import(&metadata, &tar_for)
            .map_err(|e| RegistryError::Store(ImageError::InvalidConfig(e.to_string())))?;
        Ok(metadata.buildpacks.iter().map(|b| b.layers.len()).sum())
    }

    /// Publish the mirror as the cache image.
    pub fn publish(&self) -> Result<PushReport, RegistryError> {
        let metadata = self
            .mirror
            .load()
            .map_err(|e| RegistryError::Store(ImageError::InvalidConfig(e.to_string())))?
            .unwrap_or_default();
        let layout = self.registries.store()?;
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in metadata.buildpacks.iter().flat_map(|b| b.layers.values()) {
            let digest = Digest::parse(&layer.sha)?;
            if diff_ids.contains(&digest) {
                continue;
            }
            let path = self.mirror.layer_tar(&layer.sha);
            let size = std::fs::metadata(&path)
                .map_err(|source| ImageError::Io {
                    action: "read",
                    path: path.clone(),
                    source,
                })?
                .len();
            let desc = Descriptor::new(MEDIA_TYPE_OCI_LAYER_TAR, digest.clone(), size);
            if !layout.blobs().has(&digest) {
                let blob_path = layout.blobs().path(&digest);
                if std::fs::hard_link(&path, &blob_path).is_err() {
                    copy_tar(&path, &desc, layout.blobs())?;
                }
            }
            layers.push(desc);
            diff_ids.push(digest);
        }
        let mut config = ImageConfig::new("linux", kiln_spec::platform::host_arch());
        config.set_label(
            CACHE_METADATA_LABEL,
            &serde_json::to_string(&metadata).unwrap_or_default(),
        );
        config.set_diff_ids(&diff_ids);
        let tag = kiln_registry::store::tag_for(&self.reference);
        layout.write_image(&tag, &config, layers)?;
        self.registries
            .push(&layout, &tag, &self.reference, &[], &[])
    }
}

/// Copy a cache tar into the store, verifying its digest.
fn copy_tar(
    path: &std::path::Path,
    desc: &Descriptor,
    store: &kiln_oci::BlobStore,
) -> Result<(), RegistryError> {
    let mut file = std::fs::File::open(path).map_err(|source| ImageError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let mut writer = store.writer()?;
    std::io::copy(&mut file, &mut writer).map_err(|source| ImageError::Io {
        action: "copy",
        path: path.to_owned(),
        source,
    })?;
    let written = writer.finish(&desc.media_type)?;
    if written.digest != desc.digest {
        let _ = std::fs::remove_file(store.path(&written.digest));
        return Err(RegistryError::Store(ImageError::DigestMismatch {
            path: path.to_owned(),
            expected: desc.digest.clone(),
            actual: written.digest,
        }));
    }
    Ok(())
}
