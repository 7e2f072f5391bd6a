//! The lifecycle label, filled in as each layer is placed: every layer records its own
//! diff_id by its role, so no layer is looked up by name and none can be silently missing.

use std::collections::BTreeMap;

use kiln_oci::Digest;

use super::ExportError;
use super::labels::{
    BuildpackLayers, LayerMetadata, LifecycleMetadata, RunImageMetadata, Sha, StackMetadata,
    StackRunImage,
};
use super::layers::Role;

/// The diff_ids placed so far, by role.
pub(super) struct LayerRecords {
    buildpacks: Vec<BuildpackLayers>,
    app: Vec<Sha>,
    config: Option<Sha>,
    launcher: Option<Sha>,
    sbom: Option<Sha>,
    process_types: Option<Sha>,
}

impl LayerRecords {
    /// Records for a group of `buildpacks`: (id, version) in group order.
    pub fn new(buildpacks: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            buildpacks: buildpacks
                .into_iter()
                .map(|(key, version)| BuildpackLayers {
                    key,
                    version,
                    layers: BTreeMap::new(),
                })
                .collect(),
            app: Vec::new(),
            config: None,
            launcher: None,
            sbom: None,
            process_types: None,
        }
    }

    /// Record that the layer with `role` was placed with `diff_id`.
    pub fn record(&mut self, role: &Role, diff_id: &Digest) {
        let sha = || Sha {
            sha: diff_id.to_string(),
        };
        match role {
            Role::Buildpack {
                group_index,
                record,
            } => {
                if let Some(b) = self.buildpacks.get_mut(*group_index) {
                    b.layers.insert(
                        record.name.to_string(),
                        LayerMetadata {
                            sha: diff_id.to_string(),
                            data: record.metadata.clone(),
                            build: record.build,
                            launch: record.launch,
                            cache: record.cache,
                        },
                    );
                }
            }
            Role::Sbom => self.sbom = Some(sha()),
            Role::App => self.app.push(sha()),
            Role::Launcher => self.launcher = Some(sha()),
            Role::Config => self.config = Some(sha()),
            Role::ProcessTypes => self.process_types = Some(sha()),
        }
    }

    /// The label, once the app, launcher and config layers are placed.
    pub fn finish(self, run_image: RunImageMetadata) -> Result<LifecycleMetadata, ExportError> {
        let missing = |what: &'static str| ExportError::LayerMissing { what };
        let name = run_image.image.clone();
        Ok(LifecycleMetadata {
            app: if self.app.is_empty() {
                return Err(missing("app"));
            } else {
                self.app
            },
            config: self.config.ok_or_else(|| missing("config"))?,
            launcher: self.launcher.ok_or_else(|| missing("launcher"))?,
            sbom: self.sbom,
            process_types: self.process_types,
            buildpacks: self.buildpacks,
            run_image,
            stack: StackMetadata {
                run_image: StackRunImage { image: name },
            },
        })
    }
}
