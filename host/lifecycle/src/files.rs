//! Platform files: `group.toml`, `plan.toml` and `config/metadata.toml`, plus the merge of
//! processes and labels across buildpacks that `metadata.toml` and the image labels share.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::build::BuiltBuildpack;
use super::layers_dir::{LayersDirError, write_new_file};
use super::plan::Entry;
use crate::buildpack::Buildpack;

/// A process as the image sees it, after merging across buildpacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchProcess {
    /// Process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// Command.
    pub command: Vec<String>,
    /// Default args.
    pub args: Vec<String>,
    /// Always true: buildpack processes are executed directly.
    pub direct: bool,
    /// Working directory.
    #[serde(rename = "working-dir")]
    pub working_dir: String,
    /// The buildpack that declared it.
    #[serde(rename = "buildpack-id")]
    pub buildpack_id: String,
}

/// A buildpack of the final group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    /// Id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Buildpack API.
    pub api: String,
    /// Homepage.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub homepage: String,
}

/// What the launch contract needs: group, processes, default, labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchMetadata {
    /// Default process type, if any.
    #[serde(
        rename = "buildpack-default-process-type",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_process: Option<String>,
    /// The group.
    pub buildpacks: Vec<GroupMember>,
    /// Processes sorted by type.
    pub processes: Vec<LaunchProcess>,
    /// Labels from buildpacks (a later buildpack wins), sorted by key.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
    /// App layer slices of every buildpack, in group order.
    #[serde(skip)]
    pub slices: Vec<Vec<String>>,
}

/// Group members in order.
pub fn group_members(buildpacks: &[Buildpack], group: &[usize]) -> Vec<GroupMember> {
    group
        .iter()
        .map(|&i| {
            let d = &buildpacks[i].descriptor;
            GroupMember {
                id: d.id.to_string(),
                version: d.version.clone(),
                api: d.api.clone(),
                homepage: d.homepage.clone(),
            }
        })
        .collect()
}

/// Merge processes (a later buildpack replaces the same type; the last default wins; a
/// non-default replacement of the default clears it) and labels.
pub fn merge_launch(
    buildpacks: &[Buildpack],
    group: &[usize],
    built: &[BuiltBuildpack],
) -> LaunchMetadata {
    let mut processes: BTreeMap<String, LaunchProcess> = BTreeMap::new();
    let mut default: Option<String> = None;
    let mut labels = BTreeMap::new();
    let mut slices = Vec::new();
    for b in built {
        slices.extend(b.output.slices.iter().cloned());
        let id = buildpacks[b.index].descriptor.id.to_string();
        for p in &b.output.processes {
            let t = p.process_type.to_string();
            if p.default {
                default = Some(t.clone());
            } else if default.as_deref() == Some(t.as_str()) {
                default = None;
            }
            processes.insert(
                t.clone(),
                LaunchProcess {
                    process_type: t,
                    command: p.command.clone(),
                    args: p.args.clone(),
                    direct: true,
                    working_dir: p.working_dir.clone(),
                    buildpack_id: id.clone(),
                },
            );
        }
        for (k, v) in &b.output.labels {
            labels.insert(k.clone(), v.clone());
        }
    }
    LaunchMetadata {
        default_process: default,
        buildpacks: group_members(buildpacks, group),
        processes: processes.into_values().collect(),
        labels,
        slices,
    }
}

fn toml_text<T: Serialize>(value: &T, what: &str) -> Result<String, LayersDirError> {
    toml::to_string(value).map_err(|e| LayersDirError::Toml {
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

/// `config/metadata.toml` text.
pub fn metadata_toml(launch: &LaunchMetadata) -> Result<String, LayersDirError> {
    toml_text(launch, "config/metadata.toml")
}

#[derive(Serialize)]
struct GroupToml<'a> {
    group: &'a [GroupMember],
}

#[derive(Serialize)]
struct PlanToml {
    entries: Vec<PlanEntryToml>,
}

#[derive(Serialize)]
struct PlanEntryToml {
    providers: Vec<ProviderToml>,
    requires: Vec<RequireToml>,
}

#[derive(Serialize)]
struct ProviderToml {
    id: String,
    version: String,
}

#[derive(Serialize)]
struct RequireToml {
    name: String,
    metadata: serde_json::Value,
}

/// `group.toml` text.
pub fn group_toml(members: &[GroupMember]) -> Result<String, LayersDirError> {
    toml_text(&GroupToml { group: members }, "group.toml")
}

/// `plan.toml` text.
pub fn plan_toml(buildpacks: &[Buildpack], plan: &[Entry]) -> Result<String, LayersDirError> {
    let doc = PlanToml {
        entries: plan
            .iter()
            .map(|e| PlanEntryToml {
                providers: e
                    .providers
                    .iter()
                    .map(|&i| ProviderToml {
                        id: buildpacks[i].descriptor.id.to_string(),
                        version: buildpacks[i].descriptor.version.clone(),
                    })
                    .collect(),
                requires: e
                    .requires
                    .iter()
                    .map(|r| RequireToml {
                        name: r.name.clone(),
                        metadata: r.metadata.clone(),
                    })
                    .collect(),
            })
            .collect(),
    };
    toml_text(&doc, "plan.toml")
}

/// Write `group.toml` and `plan.toml` into the layers root.
pub fn write_detect_files(
    layers_dir: &Path,
    buildpacks: &[Buildpack],
    group: &[usize],
    plan: &[Entry],
) -> Result<(), LayersDirError> {
    write_new_file(
        &layers_dir.join("group.toml"),
        group_toml(&group_members(buildpacks, group))?.as_bytes(),
    )?;
    write_new_file(
        &layers_dir.join("plan.toml"),
        plan_toml(buildpacks, plan)?.as_bytes(),
    )
}

/// Write `config/metadata.toml` into the layers root.
pub fn write_metadata(layers_dir: &Path, launch: &LaunchMetadata) -> Result<(), LayersDirError> {
    let dir = layers_dir.join("config");
    std::fs::create_dir_all(&dir).map_err(|source| LayersDirError::Io {
        action: "create",
        path: dir.clone(),
        source,
    })?;
    write_new_file(
        &dir.join("metadata.toml"),
        metadata_toml(launch)?.as_bytes(),
    )
}
