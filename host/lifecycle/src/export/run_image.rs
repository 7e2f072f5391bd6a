//! The run image: the base the app layers go on top of (`scratch` or an OCI layout).

use kiln_oci::{
    CopyOutcome, Descriptor, FileStamp, ImageConfig, ImageError, LocalImage, OciLayout,
    VerifiedLayers,
};

/// A run image that has been read and checked.
pub struct RunImage {
    /// The reference as the user gave it.
    pub reference: String,
    /// A name for labels that does not depend on where a layout sits on disk.
    name: String,
    /// The image, or `None` for `scratch`.
    pub source: Option<LocalImage>,
    /// Its config (a fresh one for `scratch`).
    pub config: ImageConfig,
    /// The stamp of each layer's blob file as it passed its check (bottom first).
    checked: Vec<FileStamp>,
}

/// The run image could not be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "run image {reference}: {source}; check the path and tag, or rebuild it (e.g. with make-busybox-base.sh)"
)]
pub struct RunImageError {
    /// The reference.
    pub reference: String,
    /// What went wrong.
    #[source]
    pub source: ImageError,
}

impl RunImage {
    /// Check the run image `source` (`None`: `scratch`) opened by `reference`: its config
    /// and manifest agree, and every layer blob matches its digest and diff_id (checked once
    /// per blob, remembered in `verified`). `name` is its name for labels.
    pub fn new(
        reference: &str,
        name: String,
        source: Option<LocalImage>,
        verified: &VerifiedLayers,
    ) -> Result<Self, RunImageError> {
        let wrap = |source| RunImageError {
            reference: reference.to_owned(),
            source,
        };
        let mut checked = Vec::new();
        let config = match &source {
            None => ImageConfig::new("linux", kiln_spec::platform::host_arch()),
            Some(image) => {
                let config = image.resolved.config.clone();
                let layers = &image.resolved.manifest.layers;
                let diff_ids = config.diff_ids().map_err(wrap)?;
                if diff_ids.len() != layers.len() {
                    return Err(wrap(ImageError::InvalidConfig(format!(
                        "config has {} diff_ids but the manifest has {} layers",
                        diff_ids.len(),
                        layers.len()
                    ))));
                }
                for (i, (layer, diff_id)) in layers.iter().zip(&diff_ids).enumerate() {
                    let stamp = verified
                        .check_stamped(image.layout.blobs(), layer, diff_id)
                        .map_err(|problem| {
                            wrap(ImageError::BadLayer {
                                index: i + 1,
                                digest: layer.digest.clone(),
                                problem,
                            })
                        })?;
                    checked.push(stamp);
                }
                config
            }
        };
        Ok(Self {
            reference: reference.to_owned(),
            name,
            source,
            config,
            checked,
        })
    }

    /// The run image's layer descriptors (bottom first).
    pub fn layers(&self) -> Vec<Descriptor> {
        self.source
            .as_ref()
            .map(|i| i.resolved.manifest.layers.clone())
            .unwrap_or_default()
    }

    /// A name for labels that does not depend on where the layout sits on disk: the
    /// registry reference, `<layout dir name>:<tag>`, the archive's `NAME:TAG`, or `scratch`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Manifest digest, or empty for `scratch`.
    pub fn digest(&self) -> String {
        self.source
            .as_ref()
            .map(|i| i.resolved.manifest_descriptor.digest.to_string())
            .unwrap_or_default()
    }

    /// OS and architecture from its config.
    pub fn target(&self) -> (String, String) {
        (
            self.config.os().unwrap_or("linux").to_owned(),
            self.config
                .architecture()
                .unwrap_or(kiln_spec::platform::host_arch())
                .to_owned(),
        )
    }

    /// The distribution `(name, version)` the run image's `io.buildpacks.base.distro.*`
    /// labels name, when both are set.
    pub fn distro(&self) -> Option<(String, String)> {
        let name = self.config.label(kiln_spec::labels::BASE_DISTRO_NAME)?;
        let version = self.config.label(kiln_spec::labels::BASE_DISTRO_VERSION)?;
        (!name.is_empty() && !version.is_empty()).then(|| (name.to_owned(), version.to_owned()))
    }

    /// Copy the run image's layer blobs into `dest` and say how each got there: blobs
    /// already present (with the right size) are skipped; a blob file unchanged since it
    /// passed its check in [`Self::new`] is copied without reading it; any other is read
    /// and its digest checked (see [`kiln_oci::BlobStore::copy_verified_from`]).
    pub fn copy_blobs_to(&self, dest: &OciLayout) -> Result<Vec<CopyOutcome>, ImageError> {
        let Some(image) = &self.source else {
            return Ok(Vec::new());
        };
        image
            .resolved
            .manifest
            .layers
            .iter()
            .zip(&self.checked)
            .map(|(layer, stamp)| {
                dest.blobs()
                    .copy_verified_from(image.layout.blobs(), layer, stamp)
            })
            .collect()
    }
}
