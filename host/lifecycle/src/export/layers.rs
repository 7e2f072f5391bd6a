//! The layers export puts on top of the run image, one small step each, in image order:
//! buildpack launch layers (group order, then layer name), the SBOM layer, the app layer, the
//! launcher, the launcher config and the process-type links.

use kiln_oci::{LayerBuilder, LayerOwnership};

use super::{ExportError, ExportInputs, LAUNCHER_PATH, slices};
use crate::files;
use crate::layer_paths::{is_executable, layer_dest};
use crate::outcome::LayerRecord;

/// Where a layer's bytes come from.
pub(super) enum Source {
    /// Tar the files now (unless the previous image already has the same diff_id).
    Build(LayerBuilder),
    /// The previous image's layer with this diff_id.
    Reuse(String),
}

/// What a layer is for: where its diff_id is recorded in the lifecycle label.
pub(super) enum Role {
    /// A launch layer of the `group_index`th buildpack of the group, with its record.
    Buildpack {
        /// Position in the group.
        group_index: usize,
        /// The layer's record (name, types, metadata).
        record: Box<LayerRecord>,
    },
    /// The SBOM layer.
    Sbom,
    /// The app layer.
    App,
    /// The launcher.
    Launcher,
    /// The launcher config (`/layers/config/metadata.toml`).
    Config,
    /// The `/cnb/process/<type>` links.
    ProcessTypes,
}

/// A layer to place.
pub(super) struct PendingLayer {
    /// Human name, e.g. `kiln/procfile:web` or `app`.
    pub name: String,
    /// The history entry's `created_by`.
    pub created_by: String,
    /// What it is for.
    pub role: Role,
    /// Its bytes.
    pub source: Source,
}

/// Every launch layer of every buildpack of the group.
pub(super) fn buildpack_layers(
    inputs: &ExportInputs<'_>,
) -> Result<Vec<PendingLayer>, ExportError> {
    let mut pending = Vec::new();
    for (group_index, b) in inputs.built.iter().enumerate() {
        let bp = &inputs.buildpacks[b.index];
        let esc = bp.escaped_id();
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
                role: Role::Buildpack {
                    group_index,
                    record: Box::new(layer.clone()),
                },
                source,
            });
        }
    }
    Ok(pending)
}

/// The SBOM documents of the launch layers, if any has one.
pub(super) fn sbom_layer(inputs: &ExportInputs<'_>) -> Result<Option<PendingLayer>, ExportError> {
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
    Ok((!sbom.is_empty()).then(|| PendingLayer {
        name: "sbom".into(),
        created_by: "Software Bill-of-Materials".into(),
        role: Role::Sbom,
        source: Source::Build(sbom),
    }))
}

/// The app directory as built, at `/workspace`: one layer, or slices of it ([`slices`]).
pub(super) fn app_layers(inputs: &ExportInputs<'_>) -> Result<Vec<PendingLayer>, ExportError> {
    let mut app = LayerBuilder::new(inputs.ownership);
    app.add_dir_tree(inputs.app_dir, kiln_spec::APP_DIR, &|_: &str| false)?;
    let parts = slices::split(app, inputs.app_slices)?;
    let count = parts.len();
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| PendingLayer {
            name: if count == 1 {
                "app".into()
            } else {
                format!("app:{}", i + 1)
            },
            created_by: if count == 1 {
                "Application Layer".into()
            } else {
                format!("Application Slice: {}", i + 1)
            },
            role: Role::App,
            source: Source::Build(part),
        })
        .collect())
}

/// The launcher for the run image's architecture.
pub(super) fn launcher_layer(inputs: &ExportInputs<'_>) -> Result<PendingLayer, ExportError> {
    let (_, arch) = inputs.run_image.target();
    let launcher = inputs
        .launchers
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, bytes)| *bytes)
        .ok_or_else(|| ExportError::NoLauncher { arch: arch.clone() })?;
    let mut layer = LayerBuilder::new(LayerOwnership::ROOT);
    layer.add_dir("cnb")?;
    layer.add_dir("cnb/lifecycle")?;
    layer.add_file(LAUNCHER_PATH, launcher.to_vec(), 0o755)?;
    Ok(PendingLayer {
        name: "launcher".into(),
        created_by: "Buildpacks Application Launcher".into(),
        role: Role::Launcher,
        source: Source::Build(layer),
    })
}

/// `/layers/config/metadata.toml`: the processes the launcher reads.
pub(super) fn config_layer(inputs: &ExportInputs<'_>) -> Result<PendingLayer, ExportError> {
    let mut layer = LayerBuilder::new(inputs.ownership);
    layer.add_file(
        "layers/config/metadata.toml",
        files::metadata_toml(inputs.launch)?.into_bytes(),
        0o644,
    )?;
    Ok(PendingLayer {
        name: "config".into(),
        created_by: "Buildpacks Launcher Config".into(),
        role: Role::Config,
        source: Source::Build(layer),
    })
}

/// `/cnb/process/<type>` → the launcher, when there are processes.
pub(super) fn process_types_layer(
    inputs: &ExportInputs<'_>,
) -> Result<Option<PendingLayer>, ExportError> {
    if inputs.launch.processes.is_empty() {
        return Ok(None);
    }
    let mut types = LayerBuilder::new(LayerOwnership::ROOT);
    types.add_dir("cnb")?;
    types.add_dir("cnb/process")?;
    for p in &inputs.launch.processes {
        types.add_symlink(
            &format!("cnb/process/{}", p.process_type),
            &format!("/{LAUNCHER_PATH}"),
        )?;
    }
    Ok(Some(PendingLayer {
        name: "process-types".into(),
        created_by: "Buildpacks Process Types".into(),
        role: Role::ProcessTypes,
        source: Source::Build(types),
    }))
}
