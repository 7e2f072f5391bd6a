//! Export: turn the layers directory and the app into an OCI image on top of the run image.
//!
//! Layer order (bottom to top): run image layers, each buildpack's `launch` layers (group
//! order, then layer name), the app layer, the config layer (`/layers/config/metadata.toml`).

pub mod labels;
pub mod run_image;
pub mod time;

use std::collections::BTreeMap;
use std::path::Path;

use crate::analyze::PreviousImage;
use crate::build::BuiltBuildpack;
use crate::buildpack::Buildpack;
use crate::env::Env;
use crate::files::{self, LaunchMetadata};
use kiln_oci::blob_cache::BlobCache;
use kiln_oci::{
    Descriptor, Digest, HistoryEntry, ImageError, LayerBuilder, LayerOwnership, OciLayout,
    VerifiedLayers,
};
use labels::{
    BuildMetadata, BuildpackLayers, LayerMetadata, LifecycleMetadata, RunImageMetadata, Sha,
    StackMetadata, StackRunImage,
};
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
    /// Which layer blobs have been checked against their diff_id (previous-image layers are
    /// reused only when they pass).
    pub verified: &'a VerifiedLayers,
    /// The launcher executable for each architecture: (OCI architecture, bytes).
    pub launchers: &'a [(&'a str, &'a [u8])],
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

/// Where a layer's bytes come from.
enum Source {
    /// Tar the files now (unless the previous image already has the same diff_id).
    Build(LayerBuilder),
    /// The previous image's layer with this diff_id.
    Reuse(String),
}

struct PendingLayer {
    name: String,
    created_by: String,
    source: Source,
}

/// Write the image into `layout` under `tag`.
pub fn export(
    inputs: &ExportInputs<'_>,
    layout: &OciLayout,
    tag: &str,
) -> Result<ExportReport, ExportError> {
    let mut pending = Vec::new();
    let mut label_buildpacks = Vec::new();
    for b in inputs.built {
        let bp = &inputs.buildpacks[b.index];
        let esc = bp.escaped_id();
        let mut layers = BTreeMap::new();
        for layer in b.output.layers.iter().filter(|l| l.launch) {
            let source = if let Some(sha) = &layer.reuse {
                Source::Reuse(sha.clone())
            } else {
                let host = inputs.layers_dir.join(&esc).join(layer.name.as_str());
                let mut builder = LayerBuilder::new(inputs.ownership);
                builder.add_dir_tree(
                    &host,
                    &layer_dest(&esc, layer.name.as_str()),
                    &|rel: &str| is_executable(&layer.executables, rel),
                )?;
                Source::Build(builder)
            };
            pending.push(PendingLayer {
                name: format!("{}:{}", bp.descriptor.id, layer.name),
                created_by: format!(
                    "Layer: '{}', Created by buildpack: {}@{}",
                    layer.name, bp.descriptor.id, bp.descriptor.version
                ),
                source,
            });
            layers.insert(layer.name.to_string(), layer.clone());
        }
        label_buildpacks.push((
            bp.descriptor.id.to_string(),
            bp.descriptor.version.clone(),
            layers,
        ));
    }
    let mut sbom = LayerBuilder::new(inputs.ownership);
    for b in inputs.built {
        let esc = inputs.buildpacks[b.index].escaped_id();
        for layer in b.output.layers.iter().filter(|l| l.launch) {
            if let Some(doc) = &layer.sbom {
                sbom.add_file(
                    &format!("layers/sbom/launch/{esc}/{}/sbom.cdx.json", layer.name),
                    doc.clone().into_bytes(),
                    0o644,
                )?;
            }
        }
    }
    if !sbom.is_empty() {
        pending.push(PendingLayer {
            name: "sbom".into(),
            created_by: "Software Bill-of-Materials".into(),
            source: Source::Build(sbom),
        });
    }
    let mut app = LayerBuilder::new(inputs.ownership);
    app.add_dir_tree(inputs.app_dir, kiln_spec::APP_DIR, &|_: &str| false)?;
    pending.push(PendingLayer {
        name: "app".into(),
        created_by: "Application Layer".into(),
        source: Source::Build(app),
    });
    let (_, arch) = inputs.run_image.target();
    let launcher = inputs
        .launchers
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, bytes)| *bytes)
        .ok_or_else(|| ExportError::NoLauncher { arch: arch.clone() })?;
    let mut launcher_layer = LayerBuilder::new(LayerOwnership::ROOT);
    launcher_layer.add_dir("cnb")?;
    launcher_layer.add_dir("cnb/lifecycle")?;
    launcher_layer.add_file(LAUNCHER_PATH, launcher.to_vec(), 0o755)?;
    pending.push(PendingLayer {
        name: "launcher".into(),
        created_by: "Buildpacks Application Launcher".into(),
        source: Source::Build(launcher_layer),
    });
    let mut config_layer = LayerBuilder::new(inputs.ownership);
    config_layer.add_file(
        "layers/config/metadata.toml",
        files::metadata_toml(inputs.launch)?.into_bytes(),
        0o644,
    )?;
    pending.push(PendingLayer {
        name: "config".into(),
        created_by: "Buildpacks Launcher Config".into(),
        source: Source::Build(config_layer),
    });
    if !inputs.launch.processes.is_empty() {
        let mut types = LayerBuilder::new(LayerOwnership::ROOT);
        types.add_dir("cnb")?;
        types.add_dir("cnb/process")?;
        for p in &inputs.launch.processes {
            types.add_symlink(
                &format!("cnb/process/{}", p.process_type),
                &format!("/{LAUNCHER_PATH}"),
            )?;
        }
        pending.push(PendingLayer {
            name: "process-types".into(),
            created_by: "Buildpacks Process Types".into(),
            source: Source::Build(types),
        });
    }

    inputs.run_image.copy_blobs_to(layout)?;
    let mut descriptors: Vec<Descriptor> = inputs.run_image.layers();
    let mut diff_ids = inputs.run_image.config.diff_ids()?;
    let top_layer = diff_ids.last().map(ToString::to_string).unwrap_or_default();
    let mut written = Vec::new();
    let mut notes = Vec::new();
    let mut blobs_written = 0;
    for p in &pending {
        let (diff_id, descriptor, reused) = place_layer(p, inputs, layout, &mut notes)?;
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

    let diff_of = |name: &str| {
        written
            .iter()
            .find(|w| w.name == name)
            .map(|w| w.diff_id.to_string())
            .unwrap_or_default()
    };
    let lifecycle = LifecycleMetadata {
        app: vec![Sha {
            sha: diff_of("app"),
        }],
        config: Sha {
            sha: diff_of("config"),
        },
        launcher: Sha {
            sha: diff_of("launcher"),
        },
        sbom: written.iter().any(|w| w.name == "sbom").then(|| Sha {
            sha: diff_of("sbom"),
        }),
        process_types: written
            .iter()
            .any(|w| w.name == "process-types")
            .then(|| Sha {
                sha: diff_of("process-types"),
            }),
        buildpacks: label_buildpacks
            .into_iter()
            .map(|(key, version, layers)| BuildpackLayers {
                layers: layers
                    .into_iter()
                    .map(|(name, l)| {
                        let meta = LayerMetadata {
                            sha: diff_of(&format!("{key}:{name}")),
                            data: l.metadata,
                            build: l.build,
                            launch: l.launch,
                            cache: l.cache,
                        };
                        (name, meta)
                    })
                    .collect(),
                key,
                version,
            })
            .collect(),
        run_image: RunImageMetadata {
            top_layer,
            reference: inputs.run_image.digest(),
            image: inputs.run_image.name().to_owned(),
        },
        stack: StackMetadata {
            run_image: StackRunImage {
                image: inputs.run_image.name().to_owned(),
            },
        },
    };

    let mut config = inputs.run_image.config.clone();
    let mut image_labels = config.labels();
    image_labels.extend(inputs.launch.labels.clone());
    image_labels.insert(
        labels::LIFECYCLE_METADATA.into(),
        labels::to_json(&lifecycle),
    );
    image_labels.insert(
        labels::BUILD_METADATA.into(),
        labels::to_json(&BuildMetadata::from_launch(inputs.launch)),
    );
    image_labels.insert(labels::PROJECT_METADATA.into(), "{}".into());
    image_labels.insert(labels::EXEC_ENV.into(), inputs.exec_env.to_owned());
    config.set_labels(&image_labels);
    config.set_env(image_env(inputs).to_strings());
    config.set_working_dir(Some(kiln_spec::APP_DIR));
    config.set_entrypoint(Some(vec![match &inputs.launch.default_process {
        Some(t) => format!("/cnb/process/{t}"),
        None => format!("/{LAUNCHER_PATH}"),
    }]));
    config.set_cmd(None);
    let created = time::rfc3339(inputs.epoch_seconds);
    config.set_created(Some(&created));
    let run_layers = inputs.run_image.layers().len();
    let history = config.history();
    let history_matches = history
        .iter()
        .filter(|h| h.empty_layer != Some(true))
        .count()
        == run_layers;
    if history_matches {
        let mut history = history;
        for p in &pending {
            history.push(HistoryEntry {
                created: Some(created.clone()),
                author: None,
                created_by: Some(p.created_by.clone()),
                comment: None,
                empty_layer: None,
            });
        }
        config.set_history(&history)?;
    } else {
        config.set_history(&[])?;
    }
    config.set_diff_ids(&diff_ids);
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

/// Path of a buildpack layer inside layer tars.
pub fn layer_dest(escaped_id: &str, layer: &str) -> String {
    format!("layers/{escaped_id}/{layer}")
}

/// Whether `rel` (a path inside a layer) is exported executable: files under `bin/` and the
/// paths the buildpack listed.
pub fn is_executable(executables: &[String], rel: &str) -> bool {
    rel.starts_with("bin/") || executables.iter().any(|e| e == rel)
}

/// Put one layer into `layout`: reuse the previous image's blob when the diff_id matches
/// (no compression, no write), otherwise tar, compress and write it.
fn place_layer(
    p: &PendingLayer,
    inputs: &ExportInputs<'_>,
    layout: &OciLayout,
    notes: &mut Vec<String>,
) -> Result<(Digest, Descriptor, bool), ExportError> {
    // The previous image's blob for `diff_id`, copied into the output once it passed its
    // check; `Err` carries why a blob the previous image has could not be used.
    let reuse = |diff_id: &Digest| -> Result<Option<Descriptor>, ReuseRefused> {
        let Some(prev) = inputs.previous else {
            return Ok(None);
        };
        let Some(desc) = prev.descriptor_for(diff_id) else {
            return Ok(None);
        };
        inputs
            .verified
            .check(prev.layout().blobs(), &desc, diff_id)
            .map_err(ReuseRefused::Check)?;
        layout
            .blobs()
            .copy_from(prev.layout().blobs(), &desc)
            .map_err(ReuseRefused::Io)?;
        Ok(Some(desc))
    };
    match &p.source {
        Source::Reuse(sha) => {
            let diff_id = Digest::parse(sha)?;
            let desc = match reuse(&diff_id) {
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
            let (diff_id, _) = builder.diff_id()?;
            match reuse(&diff_id) {
                Ok(Some(desc)) => return Ok((diff_id, desc, true)),
                Ok(None) => {}
                Err(ReuseRefused::Io(e)) => return Err(e.into()),
                Err(ReuseRefused::Check(problem)) => notes.push(format!(
                    "not reusing layer {} from the previous image: {problem}; writing it anew",
                    p.name
                )),
            }
            if let Some(desc) = inputs
                .blob_cache
                .and_then(|c| c.fetch(&diff_id, layout.blobs()))
            {
                inputs.verified.remember(layout.blobs(), &desc, &diff_id);
                return Ok((diff_id, desc, false));
            }
            let w = builder.write_to(layout.blobs())?;
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
