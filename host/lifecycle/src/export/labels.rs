//! The `io.buildpacks.*` labels of the app image (CNB Platform API image contract).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::files::LaunchMetadata;

pub use kiln_spec::labels::{BUILD_METADATA, EXEC_ENV, LIFECYCLE_METADATA, PROJECT_METADATA};

/// A layer reference by diffID.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sha {
    /// `sha256:<hex>` of the uncompressed layer.
    pub sha: String,
}

/// One exported buildpack layer in the lifecycle label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LayerMetadata {
    /// diffID.
    pub sha: String,
    /// The layer's `[metadata]`.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Types.
    pub build: bool,
    /// Types.
    pub launch: bool,
    /// Types.
    pub cache: bool,
}

/// One buildpack in the lifecycle label.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BuildpackLayers {
    /// Buildpack id.
    pub key: String,
    /// Version.
    pub version: String,
    /// Launch layers by name.
    pub layers: BTreeMap<String, LayerMetadata>,
}

/// `runImage` in the lifecycle label.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RunImageMetadata {
    /// diffID of the run image's top layer (empty for scratch).
    pub top_layer: String,
    /// Digest reference of the run image (empty for scratch).
    pub reference: String,
    /// The run image name as given.
    pub image: String,
}

/// `io.buildpacks.lifecycle.metadata`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleMetadata {
    /// App layers.
    pub app: Vec<Sha>,
    /// Config layer.
    pub config: Sha,
    /// Launcher layer.
    pub launcher: Sha,
    /// SBOM layer, when a launch layer has an SBOM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<Sha>,
    /// Process-types layer, when there are processes.
    #[serde(rename = "process-types", skip_serializing_if = "Option::is_none")]
    pub process_types: Option<Sha>,
    /// Buildpacks and their launch layers.
    pub buildpacks: Vec<BuildpackLayers>,
    /// The run image.
    pub run_image: RunImageMetadata,
    /// Deprecated copy for older readers.
    pub stack: StackMetadata,
}

/// Deprecated `stack` key.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StackMetadata {
    /// `{image}`.
    pub run_image: StackRunImage,
}

/// Deprecated `stack.runImage`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StackRunImage {
    /// Name.
    pub image: String,
}

/// A process in the build label.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BuildProcess {
    /// Type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// Command.
    pub command: Vec<String>,
    /// Args.
    pub args: Vec<String>,
    /// Always true.
    pub direct: bool,
    /// Working directory.
    #[serde(rename = "working-dir")]
    pub working_dir: String,
    /// Declaring buildpack (camelCase, as CNB writes it here).
    #[serde(rename = "buildpackID")]
    pub buildpack_id: String,
}

/// A buildpack in the build label.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BuildBuildpack {
    /// Id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Homepage, omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub homepage: String,
}

/// `io.buildpacks.build.metadata`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BuildMetadata {
    /// Processes sorted by type.
    pub processes: Vec<BuildProcess>,
    /// The group.
    pub buildpacks: Vec<BuildBuildpack>,
    /// The launcher Kiln put in the image.
    pub launcher: LauncherInfo,
    /// Default process type.
    #[serde(
        rename = "buildpack-default-process-type",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_process: Option<String>,
}

/// `launcher` in the build label.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LauncherInfo {
    /// Version of the launcher (Kiln's version).
    pub version: String,
    /// Where it comes from.
    pub source: LauncherSource,
}

/// `launcher.source`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LauncherSource {
    /// Always `kiln-launcher`.
    pub name: String,
}

impl BuildMetadata {
    /// From the merged launch metadata.
    pub fn from_launch(launch: &LaunchMetadata) -> Self {
        Self {
            processes: launch
                .processes
                .iter()
                .map(|p| BuildProcess {
                    process_type: p.process_type.clone(),
                    command: p.command.clone(),
                    args: p.args.clone(),
                    direct: true,
                    working_dir: p.working_dir.clone(),
                    buildpack_id: p.buildpack_id.clone(),
                })
                .collect(),
            buildpacks: launch
                .buildpacks
                .iter()
                .map(|b| BuildBuildpack {
                    id: b.id.clone(),
                    version: b.version.clone(),
                    homepage: b.homepage.clone(),
                })
                .collect(),
            launcher: LauncherInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                source: LauncherSource {
                    name: "kiln-launcher".to_owned(),
                },
            },
            default_process: launch.default_process.clone(),
        }
    }
}

/// Compact JSON for a label value.
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}
