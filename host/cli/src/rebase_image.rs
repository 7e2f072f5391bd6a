//! `kiln rebase` wherever the image is: an `oci:` layout in place, or a registry image pulled
//! into the local store, rebased there and pushed back.

use kiln_lifecycle::export::RunImage;
use std::collections::BTreeMap;

use kiln_lifecycle::rebase::{RebaseError, RebaseReport, rebase_with_labels};
use kiln_oci::{ImageError, OciLayout};
use kiln_registry::{PullOptions, PushReport, Registries, RegistryError, RegistryRef};

use crate::image_ref::ImageRef;

/// Rebasing failed.
#[derive(Debug, thiserror::Error)]
pub enum RebaseImageError {
    /// The rebase itself was refused or failed.
    #[error(transparent)]
    Rebase(#[from] RebaseError),
    /// Pulling or pushing the image failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Rebase `image` wherever it is: an `oci:DIR[:TAG]` layout is rewritten in place; a registry
/// image is pulled into the local store (blobs it already has are not downloaded), rebased
/// there, and pushed back. The push uploads only the new config and manifest: every app layer
/// is already in the repository, and the new run image's layers are mounted from its
/// repository (`run_image_registry`) when the registry allows it.
pub fn rebase_anywhere(
    registries: &Registries,
    image: &ImageRef,
    run_image: &RunImage,
    run_image_registry: Option<&RegistryRef>,
    force: bool,
    extra_labels: &BTreeMap<String, String>,
) -> Result<(RebaseReport, Option<PushReport>), RebaseImageError> {
    let name = image.to_string();
    let img_err = |source: ImageError| RebaseError::Image {
        image: name.clone(),
        source,
    };
    let (layout, tag) = match image {
        ImageRef::Layout { dir, tag } => (OciLayout::open(dir).map_err(img_err)?, tag.clone()),
        ImageRef::Registry(r) => {
            let pulled = registries
                .pull(r, PullOptions { layers: true })?
                .ok_or_else(|| RegistryError::NotFound {
                    reference: r.whole(),
                    registry: r.registry().to_owned(),
                    what: "manifest".into(),
                })?;
            (pulled.layout, pulled.tag)
        }
        ImageRef::Scratch | ImageRef::DockerArchive(_) => {
            return Err(RebaseError::NotABuildpacksImage {
                image: name,
                reason: "only an oci: layout or a registry image can be rebased in place".into(),
            }
            .into());
        }
    };
    let report = rebase_with_labels(&name, &layout, &tag, run_image, force, extra_labels)?;
    let ImageRef::Registry(dest) = image else {
        return Ok((report, None));
    };
    let mount_from: Vec<_> = run_image_registry.into_iter().cloned().collect();
    let pushed = registries.push(&layout, &tag, dest, &[], &mount_from)?;
    Ok((report, Some(pushed)))
}
