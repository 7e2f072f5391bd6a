//! The run image: the base the app layers go on top of (`scratch` or an OCI layout).

use crate::image::docker_archive::{self, DockerArchiveRef};
use crate::image::{
    Descriptor, ImageConfig, ImageError, ImageRef, OciLayout, ResolvedImage, platform_arch,
};

/// A run image that has been read and checked.
pub struct RunImage {
    /// The reference as the user gave it.
    pub reference: String,
    /// Its layout and resolved manifest, or `None` for `scratch`.
    pub source: Option<(OciLayout, ResolvedImage)>,
    /// Its config (a fresh one for `scratch`).
    pub config: ImageConfig,
    /// The registry reference, for a run image pulled from a registry.
    pub registry: Option<crate::registry::RegistryRef>,
    /// Blobs and bytes downloaded to pull it.
    pub downloaded: (usize, u64),
    /// Its registry was unreachable and the local store's copy was used.
    pub offline: bool,
    /// Holds the layout a `docker-archive:` run image was imported into.
    _imported: Option<tempfile::TempDir>,
}

/// The run image could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_run_image_error(reference, source))]
pub struct RunImageError {
    /// The reference.
    pub reference: String,
    /// What went wrong.
    #[source]
    pub source: ImageError,
}

/// A registry error already names the image and says what to do; a layout error gets the
/// reference and advice for layouts.
fn describe_run_image_error(reference: &str, source: &ImageError) -> String {
    match source {
        ImageError::Registry(e) => format!("run image: {e}"),
        other => format!(
            "run image {reference}: {other}; check the path and tag, or rebuild it (e.g. with make-busybox-base.sh)"
        ),
    }
}

impl RunImage {
    /// Open and check the run image named by `reference`.
    pub fn open(reference: &str) -> Result<Self, RunImageError> {
        let wrap = |source| RunImageError {
            reference: reference.to_owned(),
            source,
        };
        if reference.starts_with(docker_archive::TRANSPORT) {
            return Self::open_archive(reference).map_err(wrap);
        }
        if crate::registry::is_registry_ref(reference) {
            let pulled = crate::registry::localize_existing(
                reference,
                crate::registry::PullOptions { layers: true },
            )
            .map_err(|e| wrap(e.into()))?;
            let mut image = Self::open(&pulled.local)?;
            reference.clone_into(&mut image.reference);
            image.registry = pulled.registry;
            image.downloaded = pulled.downloaded;
            image.offline = pulled.offline;
            return Ok(image);
        }
        match ImageRef::parse(reference).map_err(wrap)? {
            ImageRef::Scratch => Ok(Self::local(
                reference,
                None,
                ImageConfig::new("linux", platform_arch()),
                None,
            )),
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
                let verified = crate::pipeline::verified_layers();
                for (i, (layer, diff_id)) in
                    resolved.manifest.layers.iter().zip(&diff_ids).enumerate()
                {
                    verified
                        .check(layout.blobs(), layer, diff_id)
                        .map_err(|problem| {
                            wrap(ImageError::BadLayer {
                                index: i + 1,
                                digest: layer.digest.clone(),
                                problem,
                            })
                        })?;
                }
                Ok(Self::local(
                    reference,
                    Some((layout, resolved)),
                    config,
                    None,
                ))
            }
        }
    }

    /// Import a `docker-archive:FILE[:NAME:TAG]` into a private OCI layout (layers stay
    /// uncompressed, so their digests are their diff_ids and nothing is recompressed).
    fn open_archive(reference: &str) -> Result<Self, ImageError> {
        let parsed = DockerArchiveRef::parse(reference)?;
        let archive =
            docker_archive::read_docker_archive(&parsed.file, parsed.name_tag().as_deref())?;
        let temp = tempfile::Builder::new()
            .prefix("kiln-run-image-")
            .tempdir()
            .map_err(|source| ImageError::Io {
                action: "create a temporary directory in",
                path: std::env::temp_dir(),
                source,
            })?;
        let layout = OciLayout::create_or_open(temp.path().join("layout"))?;
        let layers = archive.import_into(layout.blobs())?;
        layout.write_image("latest", &archive.config, layers)?;
        let resolved = layout.resolve(Some("latest"))?;
        let config = resolved.config.clone();
        Ok(Self::local(
            reference,
            Some((layout, resolved)),
            config,
            Some(temp),
        ))
    }

    /// A run image that did not come from a registry.
    fn local(
        reference: &str,
        source: Option<(OciLayout, ResolvedImage)>,
        config: ImageConfig,
        imported: Option<tempfile::TempDir>,
    ) -> Self {
        Self {
            reference: reference.to_owned(),
            source,
            config,
            registry: None,
            downloaded: (0, 0),
            offline: false,
            _imported: imported,
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
    /// the registry reference, `<layout dir name>:<tag>`, the archive's `NAME:TAG` (else its file name), or `scratch`.
    pub fn name(&self) -> String {
        if let Some(r) = &self.registry {
            return r.whole();
        }
        if let Ok(archive) = DockerArchiveRef::parse(&self.reference) {
            return archive.name_tag().unwrap_or_else(|| {
                archive.file.file_name().map_or_else(
                    || "archive".to_owned(),
                    |n| n.to_string_lossy().into_owned(),
                )
            });
        }
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
