//! The run image: the base the app layers go on top of (`scratch` or an OCI layout).

use sha2::{Digest as _, Sha256};

use crate::image::{
    Descriptor, Digest, ImageConfig, ImageError, ImageRef, OciLayout, ResolvedImage, platform_arch,
};

/// A run image that has been read and checked.
pub struct RunImage {
    /// The reference as the user gave it.
    pub reference: String,
    /// Its layout and resolved manifest, or `None` for `scratch`.
    pub source: Option<(OciLayout, ResolvedImage)>,
    /// Its config (a fresh one for `scratch`).
    pub config: ImageConfig,
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
    /// Open and check the run image named by `reference`.
    pub fn open(reference: &str) -> Result<Self, RunImageError> {
        let wrap = |source| RunImageError {
            reference: reference.to_owned(),
            source,
        };
        match ImageRef::parse(reference).map_err(wrap)? {
            ImageRef::Scratch => Ok(Self {
                reference: reference.to_owned(),
                source: None,
                config: ImageConfig::new("linux", platform_arch()),
            }),
            ImageRef::Layout { dir, tag } => {
                let layout = OciLayout::open(&dir).map_err(wrap)?;
                let resolved = layout.resolve(Some(&tag)).map_err(wrap)?;
                let config = resolved.config.clone();
                let diff_ids = config.diff_ids().map_err(wrap)?;
                if diff_ids.len() != resolved.manifest.layers.len() {
                    return Err(wrap(ImageError::InvalidConfig(format!(
                        "config has {} diff_ids but the manifest has {} layers",
                        diff_ids.len(),
                        resolved.manifest.layers.len()
                    ))));
                }
                for layer in &resolved.manifest.layers {
                    verify_blob(&layout, &layer.digest).map_err(wrap)?;
                }
                Ok(Self {
                    reference: reference.to_owned(),
                    source: Some((layout, resolved)),
                    config,
                })
            }
        }
    }

    /// The run image's layer descriptors (bottom first).
    pub fn layers(&self) -> Vec<Descriptor> {
        self.source
            .as_ref()
            .map(|(_, r)| r.manifest.layers.clone())
            .unwrap_or_default()
    }

    /// A name for labels that does not depend on where the layout sits on disk:
    /// `<layout dir name>:<tag>`, or `scratch`.
    pub fn name(&self) -> String {
        match ImageRef::parse(&self.reference) {
            Ok(ImageRef::Layout { dir, tag }) => {
                let base = dir
                    .file_name()
                    .map_or_else(|| "image".to_owned(), |n| n.to_string_lossy().into_owned());
                format!("{base}:{tag}")
            }
            _ => "scratch".to_owned(),
        }
    }

    /// Manifest digest, or empty for `scratch`.
    pub fn digest(&self) -> String {
        self.source
            .as_ref()
            .map(|(_, r)| r.manifest_descriptor.digest.to_string())
            .unwrap_or_default()
    }

    /// OS and architecture from its config.
    pub fn target(&self) -> (String, String) {
        (
            self.config.os().unwrap_or("linux").to_owned(),
            self.config
                .architecture()
                .unwrap_or(platform_arch())
                .to_owned(),
        )
    }

    /// Copy the run image's layer blobs into `dest`, verifying each digest. Blobs already
    /// present are skipped.
    pub fn copy_blobs_to(&self, dest: &OciLayout) -> Result<(), ImageError> {
        let Some((layout, resolved)) = &self.source else {
            return Ok(());
        };
        for layer in &resolved.manifest.layers {
            dest.blobs().copy_from(layout.blobs(), layer)?;
        }
        Ok(())
    }
}

/// Stream a blob through sha256 and compare with its name.
fn verify_blob(layout: &OciLayout, digest: &Digest) -> Result<(), ImageError> {
    let path = layout.blobs().path(digest);
    if !layout.blobs().has(digest) {
        return Err(ImageError::BlobMissing {
            digest: digest.clone(),
            path,
        });
    }
    let mut file = layout.blobs().open(digest)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| ImageError::Io {
        action: "read",
        path: path.clone(),
        source,
    })?;
    let actual = Digest::from_sha256(hasher.finalize().into());
    if &actual != digest {
        return Err(ImageError::DigestMismatch {
            path,
            expected: digest.clone(),
            actual,
        });
    }
    Ok(())
}
