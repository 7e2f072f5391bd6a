//! `kiln rebase`: put an app image on a new run image without touching the app layers.
//!
//! Only the manifest and config change: the run image's layers (up to the recorded
//! `runImage.topLayer`) are swapped for the new run image's, every layer above is kept as the
//! same blob, and the base labels and `runImage` metadata are updated. The cost does not depend
//! on the size of the app layers.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::export::RunImage;
use kiln_oci::{CopyOutcome, Digest, HistoryEntry, ImageError, OciLayout};
use kiln_spec::labels::LIFECYCLE_METADATA;

/// Label that, when exactly `"false"`, forbids rebasing without `--force`.
pub const REBASABLE_LABEL: &str = kiln_spec::labels::REBASABLE;

/// Why a rebase could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RebaseError {
    /// The image is marked not rebasable.
    #[error("image {image} is marked {REBASABLE_LABEL}=false; pass --force to rebase it anyway")]
    NotRebasable {
        /// The image reference.
        image: String,
    },
    /// The image lacks what a rebase needs.
    #[error("image {image} cannot be rebased: {reason}")]
    NotABuildpacksImage {
        /// The image reference.
        image: String,
        /// What is missing.
        reason: String,
    },
    /// The new run image is for another platform.
    #[error(
        "run image {run_image} is {new} but image {image} is {old}; pass --force to rebase anyway"
    )]
    PlatformMismatch {
        /// The app image.
        image: String,
        /// The new run image.
        run_image: String,
        /// App image platform.
        old: String,
        /// Run image platform.
        new: String,
    },
    /// Reading or writing the image failed.
    #[error("image {image}: {source}")]
    Image {
        /// The image reference.
        image: String,
        /// Cause.
        #[source]
        source: ImageError,
    },
}

/// The result of a rebase.
#[derive(Debug, Clone)]
pub struct RebaseReport {
    /// New manifest digest.
    pub manifest_digest: Digest,
    /// Old run image top layer.
    pub old_top_layer: String,
    /// New run image top layer.
    pub new_top_layer: String,
    /// Number of app layers carried over unchanged.
    pub kept_layers: usize,
    /// How each of the new run image's layer blobs got into the layout (bottom first).
    pub base_copies: Vec<CopyOutcome>,
}

/// Rebase the image tagged `tag` in `layout` (called `image` in messages) onto `run_image`,
/// in place.
pub fn rebase(
    image: &str,
    layout: &OciLayout,
    tag: &str,
    run_image: &RunImage,
    force: bool,
) -> Result<RebaseReport, RebaseError> {
    rebase_with_labels(image, layout, tag, run_image, force, &BTreeMap::new())
}

/// [`rebase`], setting `extra_labels` on the rebased image (over every other label).
pub fn rebase_with_labels(
    image: &str,
    layout: &OciLayout,
    tag: &str,
    run_image: &RunImage,
    force: bool,
    extra_labels: &BTreeMap<String, String>,
) -> Result<RebaseReport, RebaseError> {
    let img_err = |source| RebaseError::Image {
        image: image.to_owned(),
        source,
    };
    let not_cnb = |reason: &str| RebaseError::NotABuildpacksImage {
        image: image.to_owned(),
        reason: reason.to_owned(),
    };
    let app = layout.resolve(Some(tag)).map_err(img_err)?;
    let mut config = app.config.clone();
    if config.label(REBASABLE_LABEL) == Some("false") && !force {
        return Err(RebaseError::NotRebasable {
            image: image.to_owned(),
        });
    }
    let mut lifecycle: Value = config
        .label(LIFECYCLE_METADATA)
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| not_cnb("it has no readable io.buildpacks.lifecycle.metadata label"))?;
    let old_top = lifecycle["runImage"]["topLayer"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let diff_ids = config.diff_ids().map_err(img_err)?;
    let base_len = if old_top.is_empty() {
        0
    } else {
        diff_ids
            .iter()
            .position(|d| d.as_str() == old_top)
            .map(|i| i + 1)
            .ok_or_else(|| {
                not_cnb(&format!(
                    "its run image top layer {old_top} is not among its layers"
                ))
            })?
    };
    let (new_os, new_arch) = run_image.target();
    let (old_os, old_arch) = (
        config.os().unwrap_or("linux").to_owned(),
        config.architecture().unwrap_or("").to_owned(),
    );
    if (new_os != old_os || new_arch != old_arch) && !force {
        return Err(RebaseError::PlatformMismatch {
            image: image.to_owned(),
            run_image: run_image.reference.clone(),
            old: format!("{old_os}/{old_arch}"),
            new: format!("{new_os}/{new_arch}"),
        });
    }

    // Layers: the new base, then every app layer above the old base, as the same blobs.
    let mut descriptors = run_image.layers();
    let mut new_diff_ids = run_image.config.diff_ids().map_err(img_err)?;
    let new_top = new_diff_ids
        .last()
        .map(ToString::to_string)
        .unwrap_or_default();
    let kept = app.manifest.layers.len().saturating_sub(base_len);
    descriptors.extend(app.manifest.layers.iter().skip(base_len).cloned());
    new_diff_ids.extend(diff_ids.iter().skip(base_len).cloned());

    // Config: the app's, with the new base's platform and base labels.
    config.set_top_level_str("os", Some(&new_os));
    config.set_top_level_str("architecture", Some(&new_arch));
    config.set_top_level_str("variant", run_image.config.variant());
    config.set_top_level_str("os.version", run_image.config.os_version());
    let mut labels = config.labels();
    labels.retain(|k, _| !is_base_label(k));
    labels.extend(
        run_image
            .config
            .labels()
            .into_iter()
            .filter(|(k, _)| is_base_label(k)),
    );
    lifecycle["runImage"]["topLayer"] = Value::from(new_top.clone());
    lifecycle["runImage"]["reference"] = Value::from(run_image.digest());
    lifecycle["runImage"]["image"] = Value::from(run_image.name());
    lifecycle["stack"]["runImage"]["image"] = Value::from(run_image.name());
    labels.insert(LIFECYCLE_METADATA.to_owned(), lifecycle.to_string());
    labels.extend(extra_labels.clone());
    config.set_labels(&labels);
    config
        .set_history(&rebased_history(
            &app.config.history(),
            base_len,
            &run_image.config.history(),
            run_image.layers().len(),
        ))
        .map_err(img_err)?;
    config.set_diff_ids(&new_diff_ids);

    let base_copies = run_image.copy_blobs_to(layout).map_err(img_err)?;
    let written = layout
        .write_image(tag, &config, descriptors)
        .map_err(img_err)?;
    Ok(RebaseReport {
        manifest_digest: written.manifest.digest,
        old_top_layer: old_top,
        new_top_layer: new_top,
        kept_layers: kept,
        base_copies,
    })
}

fn is_base_label(key: &str) -> bool {
    key.starts_with("io.buildpacks.base.") || key.starts_with("io.buildpacks.stack.")
}

/// New base history followed by the app's history above its old base, when both line up
/// with their layers; otherwise no history (a mismatched history is worse than none).
fn rebased_history(
    app: &[HistoryEntry],
    old_base_layers: usize,
    base: &[HistoryEntry],
    new_base_layers: usize,
) -> Vec<HistoryEntry> {
    let layer_entries =
        |h: &[HistoryEntry]| h.iter().filter(|e| e.empty_layer != Some(true)).count();
    if layer_entries(base) != new_base_layers {
        return Vec::new();
    }
    let mut seen = 0;
    let Some(cut) = app.iter().position(|e| {
        if e.empty_layer != Some(true) {
            seen += 1;
        }
        seen > old_base_layers
    }) else {
        return Vec::new();
    };
    let mut out = base.to_vec();
    out.extend_from_slice(&app[cut..]);
    out
}

#[cfg(test)]
mod tests;
