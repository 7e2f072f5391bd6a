//! Export: turn the layers directory and the app into an OCI image on top of the run image.
//!
//! Layer order (bottom to top): run image layers, each buildpack's `launch` layers (group
//! order, then layer name), the app layer, the config layer (`/layers/config/metadata.toml`).

mod image_config;
pub mod labels;
mod layers;
mod records;
pub mod run_image;
pub mod slices;
pub mod time;

use std::path::Path;

use crate::analyze::PreviousImage;
use crate::build::BuiltBuildpack;
use crate::buildpack::Buildpack;
use crate::env::Env;
use crate::files::LaunchMetadata;
use kiln_oci::blob_cache::BlobCache;
use kiln_oci::{
    BlobCompression, Descriptor, Digest, ImageError, LayerIds, LayerOwnership, OciLayout,
    VerifiedLayers,
};
use labels::RunImageMetadata;
use layers::Source;
use records::LayerRecords;
pub use run_image::{RunImage, RunImageError};

/// What the exporter needs.
pub struct ExportInputs<'a> {
    /// The run image.
    pub run_image: &'a RunImage,
    /// All buildpacks (indexed by `built`).
    pub buildpacks: &'a [Buildpack],
    /// The group's results in order.
    pub built: &'a [BuiltBuildpack],
    /// Merged launch metadata.
    pub launch: &'a LaunchMetadata,
    /// Host layers root.
    pub layers_dir: &'a Path,
    /// Host app dir (after build).
    pub app_dir: &'a Path,
    /// Owner of app and buildpack layer files.
    pub ownership: LayerOwnership,
    /// `created` and layer mtimes come from this.
    pub epoch_seconds: u64,
    /// The execution environment, recorded as the `io.buildpacks.exec-env` label.
    pub exec_env: &'a str,
    /// The previous image, whose layers are reused when their diff_id matches.
    pub previous: Option<&'a PreviousImage>,
    /// Compressed blobs of layers seen before, by diff_id.
    pub blob_cache: Option<&'a BlobCache>,
    /// How new layer blobs are compressed.
    pub compression: &'a BlobCompression,
    /// How the app layer is sliced.
    pub app_slices: &'a slices::SliceRules,
    /// Diff_ids remembered by layer identity (unchanged files are not read again).
    pub layer_ids: &'a LayerIds,
    /// Which layer blobs have been checked against their diff_id (previous-image layers are
    /// reused only when they pass).
    pub verified: &'a VerifiedLayers,
    /// The launcher executable for each architecture: (OCI architecture, bytes).
    pub launchers: &'a [(&'a str, &'a [u8])],
    /// The `io.buildpacks.project.metadata` label (JSON; `None`: `{}`).
    pub project_metadata: Option<&'a str>,
    /// More labels, set last (e.g. `io.kiln.build.inputs` of a fleet build).
    pub extra_labels: &'a std::collections::BTreeMap<String, String>,
}

/// One layer the exporter wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedLayer {
    /// Human name, e.g. `kiln/procfile:web` or `app`.
    pub name: String,
    /// diffID.
    pub diff_id: Digest,
    /// Compressed size.
    pub size: u64,
    /// Taken from the previous image (same diff_id) instead of written.
    pub reused: bool,
}

/// The result of an export.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// Manifest digest (the image digest users see).
    pub manifest_digest: Digest,
    /// Config digest (image ID).
    pub config_digest: Digest,
    /// Layers added on top of the run image.
    pub layers: Vec<ExportedLayer>,
    /// Blobs this export added to the layout (layers, config, manifest).
    pub blobs_written: usize,
    /// For a `docker-archive:` output, the image ID (config digest) `docker load` reports.
    pub archive_image_id: Option<Digest>,
    /// Why layers of the previous image were not reused (for the log).
    pub notes: Vec<String>,
}

/// Export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Image I/O.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A slice glob is invalid.
    #[error(transparent)]
    SliceGlob(#[from] slices::SliceGlobError),
    /// A platform file could not be written.
    #[error(transparent)]
    Files(#[from] crate::layers_dir::LayersDirError),
    /// Kiln has no launcher for the run image's architecture.
    #[error(
        "the run image is for architecture {arch}, but Kiln only embeds launchers for amd64 and arm64"
    )]
    NoLauncher {
        /// The run image's architecture.
        arch: String,
    },
    /// A layer kept by metadata alone cannot be reused: the previous image's blob is bad.
    #[error(
        "layer {layer} was kept without contents, but the previous image's layer {sha} failed its check ({problem}); rebuild it (delete its metadata) or build without that previous image"
    )]
    PreviousLayerBad {
        /// `<buildpack>:<layer>`.
        layer: String,
        /// The diff_id the metadata named.
        sha: String,
        /// What the check found.
        problem: kiln_oci::LayerProblem,
    },
    /// A layer the lifecycle label must name was not placed (a bug in the exporter).
    #[error("the {what} layer was not exported; this is a bug in Kiln, please report it")]
    LayerMissing {
        /// Which layer.
        what: &'static str,
    },
    /// A layer kept by metadata alone has nothing to reuse.
    #[error(
        "layer {layer} was kept without contents, but the previous image has no layer {sha} to reuse; rebuild it (delete its metadata)"
    )]
    NothingToReuse {
        /// `<buildpack>:<layer>`.
        layer: String,
        /// The diff_id the metadata named.
        sha: String,
    },
}

/// Path of the launcher in the image (without the leading `/`).
pub const LAUNCHER_PATH: &str = "cnb/lifecycle/launcher";

/// Write the image into `layout` under `tag`: the layers of [`layers`] in order, each placed
/// (reused by diff_id, taken from the blob cache, or written) and recorded in the lifecycle
/// label as it is placed; then the config and the manifest.
pub fn export(
    inputs: &ExportInputs<'_>,
    layout: &OciLayout,
    tag: &str,
) -> Result<ExportReport, ExportError> {
    let mut pending = layers::buildpack_layers(inputs)?;
    pending.extend(layers::sbom_layer(inputs)?);
    pending.extend(layers::app_layers(inputs)?);
    pending.push(layers::launcher_layer(inputs)?);
    pending.push(layers::config_layer(inputs)?);
    pending.extend(layers::process_types_layer(inputs)?);

    inputs.run_image.copy_blobs_to(layout)?;
    let mut descriptors: Vec<Descriptor> = inputs.run_image.layers();
    let mut diff_ids = inputs.run_image.config.diff_ids()?;
    let top_layer = diff_ids.last().map(ToString::to_string).unwrap_or_default();
    let mut records = LayerRecords::new(inputs.built.iter().map(|b| {
        let d = &inputs.buildpacks[b.index].descriptor;
        (d.id.to_string(), d.version.clone())
    }));
    let mut written = Vec::new();
    let mut notes = Vec::new();
    let mut blobs_written = 0;
    for p in &pending {
        let (diff_id, descriptor, reused) = place_layer(p, inputs, layout, &mut notes)?;
        records.record(&p.role, &diff_id);
        if !reused {
            blobs_written += 1;
        }
        diff_ids.push(diff_id.clone());
        written.push(ExportedLayer {
            name: p.name.clone(),
            diff_id,
            size: descriptor.size,
            reused,
        });
        descriptors.push(descriptor);
    }
    let lifecycle = records.finish(RunImageMetadata {
        top_layer,
        reference: inputs.run_image.digest(),
        image: inputs.run_image.name().to_owned(),
    })?;
    let history: Vec<&str> = pending.iter().map(|p| p.created_by.as_str()).collect();
    let config = image_config::image_config(inputs, &lifecycle, &history, &diff_ids)?;
    kiln_fs::fault::point("export-layers-written");
    let blobs_before = count_blobs(layout);
    let image = layout.write_image(tag, &config, descriptors)?;
    blobs_written += count_blobs(layout).saturating_sub(blobs_before);
    Ok(ExportReport {
        manifest_digest: image.manifest.digest.clone(),
        config_digest: image.config.digest.clone(),
        layers: written,
        blobs_written,
        archive_image_id: None,
        notes,
    })
}

fn count_blobs(layout: &OciLayout) -> usize {
    std::fs::read_dir(layout.blobs().dir()).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .count()
    })
}

/// Put one layer into `layout`: reuse the previous image's blob when the diff_id matches
/// (no compression, no write), otherwise tar, compress and write it.
fn place_layer(
    p: &layers::PendingLayer,
    inputs: &ExportInputs<'_>,
    layout: &OciLayout,
    notes: &mut Vec<String>,
) -> Result<(Digest, Descriptor, bool), ExportError> {
    // The previous image's blob for `diff_id` (of media type `wanted`, when given), copied
    // into the output once it passed its check; `Err` carries why a blob the previous image
    // has could not be used.
    let reuse =
        |diff_id: &Digest, wanted: Option<&str>| -> Result<Option<Descriptor>, ReuseRefused> {
            let Some(prev) = inputs.previous else {
                return Ok(None);
            };
            let Some(desc) = prev
                .descriptor_for(diff_id)
                .filter(|d| wanted.is_none_or(|w| d.media_type == w))
            else {
                return Ok(None);
            };
            let stamp = inputs
                .verified
                .check_stamped(prev.layout().blobs(), &desc, diff_id)
                .map_err(ReuseRefused::Check)?;
            layout
                .blobs()
                .copy_verified_from(prev.layout().blobs(), &desc, &stamp)
                .map_err(ReuseRefused::Io)?;
            Ok(Some(desc))
        };
    match &p.source {
        Source::Reuse(sha) => {
            let diff_id = Digest::parse(sha)?;
            let desc = match reuse(&diff_id, None) {
                Ok(Some(desc)) => desc,
                Ok(None) => {
                    return Err(ExportError::NothingToReuse {
                        layer: p.name.clone(),
                        sha: sha.clone(),
                    });
                }
                Err(ReuseRefused::Io(e)) => return Err(e.into()),
                Err(ReuseRefused::Check(problem)) => {
                    return Err(ExportError::PreviousLayerBad {
                        layer: p.name.clone(),
                        sha: sha.clone(),
                        problem,
                    });
                }
            };
            Ok((diff_id, desc, true))
        }
        Source::Build(builder) => {
            let identity = builder.identity();
            let diff_id = if let Some((diff_id, _)) = inputs.layer_ids.get(&identity) {
                diff_id
            } else {
                let (diff_id, size) = builder.diff_id()?;
                // A file changed within the last clock tick could change again unseen.
                if builder.is_settled(std::time::SystemTime::now()) {
                    inputs.layer_ids.put(&identity, &diff_id, size);
                }
                diff_id
            };
            let wanted = inputs.compression.format.media_type();
            match reuse(&diff_id, Some(wanted)) {
                Ok(Some(desc)) => return Ok((diff_id, desc, true)),
                Ok(None) => {}
                Err(ReuseRefused::Io(e)) => return Err(e.into()),
                Err(ReuseRefused::Check(problem)) => notes.push(format!(
                    "not reusing layer {} from the previous image: {problem}; writing it anew",
                    p.name
                )),
            }
            let gzip = wanted == kiln_oci::MEDIA_TYPE_OCI_LAYER_GZIP;
            if let Some(desc) = inputs
                .blob_cache
                .filter(|_| gzip)
                .and_then(|c| c.fetch(&diff_id, layout.blobs()))
            {
                inputs.verified.remember(layout.blobs(), &desc, &diff_id);
                return Ok((diff_id, desc, false));
            }
            let w = builder.write_with(layout.blobs(), inputs.compression)?;
            if w.diff_id != diff_id && builder.is_settled(std::time::SystemTime::now()) {
                // The files changed under the same identity (only a clock that went backwards
                // or a tool that forges ctimes can do this): remember what was written.
                inputs
                    .layer_ids
                    .put(&identity, &w.diff_id, w.uncompressed_size);
            }
            if let Some(c) = inputs.blob_cache {
                c.put(&w.diff_id, layout.blobs(), &w.descriptor);
            }
            inputs
                .verified
                .remember(layout.blobs(), &w.descriptor, &w.diff_id);
            Ok((w.diff_id, w.descriptor, false))
        }
    }
}

/// Why a previous-image layer was not reused.
enum ReuseRefused {
    /// Its blob failed the content check.
    Check(kiln_oci::LayerProblem),
    /// It could not be copied.
    Io(ImageError),
}

/// The image `Env`: the run image's env plus the CNB directories and `/cnb/process` and
/// `/cnb/lifecycle` in front of `PATH`. Buildpack env changes are applied by the launcher at
/// run time, so each process gets its own.
pub fn image_env(inputs: &ExportInputs<'_>) -> Env {
    let env_strings = inputs.run_image.config.env();
    let mut env = Env::from_pairs(env_strings.iter().map(String::as_str));
    let path = match env.get("PATH") {
        Some(p) if !p.is_empty() => format!("/cnb/process:/cnb/lifecycle:{p}"),
        _ => "/cnb/process:/cnb/lifecycle".to_owned(),
    };
    env.set("PATH", path);
    env.set("CNB_LAYERS_DIR", kiln_spec::LAYERS_DIR);
    env.set("CNB_APP_DIR", kiln_spec::APP_DIR);
    env.set("CNB_PLATFORM_API", kiln_spec::PLATFORM_API);
    env
}

#[cfg(test)]
mod tests;
