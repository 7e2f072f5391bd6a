//! Opening an image for reading, once per transport: `scratch`, an `oci:` layout, a
//! `docker-archive:` file (imported into a private layout), or a registry image (pulled into
//! the local store). Everything past this point works on a [`LocalImage`].

use kiln_oci::{DockerArchiveRef, ImageError, LocalImage};

use crate::image_ref::ImageRef;
use kiln_registry::{PullOptions, Registries, RegistryError, RegistryRef};

/// An image opened through its transport.
pub struct Opened {
    /// The reference it was opened by.
    pub reference: ImageRef,
    /// The image, or `None` for `scratch`.
    pub image: Option<LocalImage>,
    /// For registry images: blobs and bytes downloaded to open it.
    pub downloaded: (usize, u64),
    /// For registry images: the registry was unreachable and the store's copy was used.
    pub offline: bool,
}

impl Opened {
    fn local(reference: &ImageRef, image: Option<LocalImage>) -> Self {
        Self {
            reference: reference.clone(),
            image,
            downloaded: (0, 0),
            offline: false,
        }
    }

    /// The registry reference, for a registry image.
    pub fn registry(&self) -> Option<&RegistryRef> {
        match &self.reference {
            ImageRef::Registry(r) => Some(r),
            _ => None,
        }
    }

    /// A name for labels that does not depend on where a layout sits on disk: the registry
    /// reference, `<layout dir name>:<tag>`, the archive's `NAME:TAG` (else its file name),
    /// or `scratch`.
    pub fn stable_name(&self) -> String {
        let file_name = |p: &std::path::Path, default: &str| {
            p.file_name()
                .map_or_else(|| default.to_owned(), |n| n.to_string_lossy().into_owned())
        };
        match &self.reference {
            ImageRef::Scratch => crate::image_ref::SCRATCH.to_owned(),
            ImageRef::Layout { dir, tag } => format!("{}:{tag}", file_name(dir, "image")),
            ImageRef::DockerArchive(a) => a
                .name_tag()
                .unwrap_or_else(|| file_name(&a.file, "archive")),
            ImageRef::Registry(r) => r.whole(),
        }
    }
}

/// An image could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A layout or archive is missing or damaged.
    #[error("{reference}: {source}")]
    Image {
        /// The reference.
        reference: String,
        /// Cause.
        #[source]
        source: ImageError,
    },
    /// The registry failed; the error names the image and what to do.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl OpenError {
    fn image(reference: &ImageRef) -> impl FnOnce(ImageError) -> Self + '_ {
        move |source| Self::Image {
            reference: reference.to_string(),
            source,
        }
    }
}

/// How much of a registry image to download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Manifest, config and layers.
    Layers,
    /// Manifest and config only (e.g. `kiln inspect`).
    ConfigOnly,
}

/// Open `reference`; `Ok(None)` when it does not exist (no layout, no such tag, or no such
/// registry image). A damaged image is an error.
pub fn open(registries: &Registries, reference: &ImageRef) -> Result<Option<Opened>, OpenError> {
    open_to(registries, reference, Depth::Layers)
}

/// [`open`], downloading only to `depth` for a registry image.
pub fn open_to(
    registries: &Registries,
    reference: &ImageRef,
    depth: Depth,
) -> Result<Option<Opened>, OpenError> {
    let image = match reference {
        ImageRef::Scratch => None,
        ImageRef::Layout { dir, tag } => {
            match LocalImage::open_if_present(dir, tag).map_err(OpenError::image(reference))? {
                Some(image) => Some(image),
                None => return Ok(None),
            }
        }
        ImageRef::DockerArchive(archive) => {
            if !archive.file.exists() {
                return Ok(None);
            }
            Some(import(reference, archive)?)
        }
        ImageRef::Registry(r) => return pull(registries, reference, r, depth),
    };
    Ok(Some(Opened::local(reference, image)))
}

/// Open `reference`; a missing image is an error naming it.
pub fn open_existing(registries: &Registries, reference: &ImageRef) -> Result<Opened, OpenError> {
    open_existing_to(registries, reference, Depth::Layers)
}

/// [`open_existing`], downloading only to `depth` for a registry image.
pub fn open_existing_to(
    registries: &Registries,
    reference: &ImageRef,
    depth: Depth,
) -> Result<Opened, OpenError> {
    let image = match reference {
        ImageRef::Scratch => None,
        ImageRef::Layout { dir, tag } => {
            Some(LocalImage::open(dir, tag).map_err(OpenError::image(reference))?)
        }
        ImageRef::DockerArchive(archive) => Some(import(reference, archive)?),
        ImageRef::Registry(r) => {
            return pull(registries, reference, r, depth)?.ok_or_else(|| {
                OpenError::Registry(RegistryError::NotFound {
                    reference: r.whole(),
                    registry: r.registry().to_owned(),
                    what: "manifest".into(),
                })
            });
        }
    };
    Ok(Opened::local(reference, image))
}

fn import(reference: &ImageRef, archive: &DockerArchiveRef) -> Result<LocalImage, OpenError> {
    LocalImage::import_docker_archive(&archive.file, archive.name_tag().as_deref())
        .map_err(OpenError::image(reference))
}

fn pull(
    registries: &Registries,
    reference: &ImageRef,
    r: &RegistryRef,
    depth: Depth,
) -> Result<Option<Opened>, OpenError> {
    let options = PullOptions {
        layers: depth == Depth::Layers,
    };
    let Some(pulled) = registries.pull(r, options)? else {
        return Ok(None);
    };
    let resolved = pulled
        .layout
        .resolve(Some(&pulled.tag))
        .map_err(OpenError::image(reference))?;
    Ok(Some(Opened {
        reference: reference.clone(),
        downloaded: (pulled.blobs_downloaded, pulled.bytes_downloaded),
        offline: pulled.offline,
        image: Some(LocalImage::new(pulled.layout, resolved)),
    }))
}
