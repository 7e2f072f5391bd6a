//! Opening the run image through its transport and checking it.

use kiln_lifecycle::export::RunImage;
use kiln_oci::VerifiedLayers;
use kiln_registry::{self as registry, RegistryRef};

use super::{Reporter, Request};
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::services::Services;
use crate::transport;

/// A run image opened and checked, with where it came from.
pub struct OpenedRunImage {
    /// The checked run image.
    pub image: RunImage,
    /// Its registry reference, for registry images (their layers can be mounted from there
    /// when pushing).
    pub registry: Option<RegistryRef>,
    /// Blobs and bytes downloaded to pull it.
    pub downloaded: (usize, u64),
    /// Its registry was unreachable and the store's copy was used.
    pub offline: bool,
}
/// Open `reference` through its transport and check it as a run image.
pub fn open_run_image(reference: &ImageRef, services: &Services) -> Result<OpenedRunImage> {
    let opened =
        transport::open_existing(&services.registries, reference).map_err(Error::OpenRunImage)?;
    let registry = opened.registry().cloned();
    let (downloaded, offline) = (opened.downloaded, opened.offline);
    let image = RunImage::new(
        &opened.reference.to_string(),
        opened.stable_name(),
        opened.image,
        &VerifiedLayers::new(services.caches.verified_layers()),
    )?;
    Ok(OpenedRunImage {
        image,
        registry,
        downloaded,
        offline,
    })
}
/// [`open_run_image`] for a build, reporting what was pulled.
pub(super) fn report_run_image(
    request: &Request,
    reporter: &dyn Reporter,
) -> Result<OpenedRunImage> {
    let opened = open_run_image(&request.run_image, &request.services)?;
    reporter.info(&format!(
        "Run image: {}{}",
        request.run_image,
        match opened.image.digest() {
            d if d.is_empty() => String::new(),
            d => format!(" ({d})"),
        }
    ));
    if opened.offline {
        reporter.warn("the run image's registry is unreachable; using the copy in the local store");
    } else if opened.registry.is_some() {
        let (blobs, bytes) = opened.downloaded;
        reporter.info(&format!(
            "Pulled run image: {blobs} blobs downloaded ({})",
            registry::human_bytes(bytes)
        ));
    }
    Ok(opened)
}
