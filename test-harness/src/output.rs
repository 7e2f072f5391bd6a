//! What a test build produced, read back from the CNB layers directory and the image
//! layout the host wrote: typed, so tests assert on data instead of scraping logs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::HarnessError;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Verbose.
    Debug,
    /// Progress.
    Info,
    /// A warning.
    Warn,
    /// An error.
    Error,
}

/// One line of the build log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The buildpack that wrote it, or `None` for the host's own lines.
    pub buildpack: Option<String>,
    /// Its severity.
    pub severity: Severity,
    /// The text.
    pub text: String,
}

impl LogLine {
    pub(crate) fn host(severity: Severity, text: String) -> Self {
        Self {
            buildpack: None,
            severity,
            text,
        }
    }

    pub(crate) fn buildpack(id: &str, severity: Severity, text: String) -> Self {
        Self {
            buildpack: Some(id.to_owned()),
            severity,
            text,
        }
    }
}

/// A buildpack of the chosen group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupMember {
    /// Id.
    pub id: String,
    /// Version.
    pub version: String,
}

/// One resolved build plan entry: its providers and requires.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanEntry {
    /// Who provides it.
    #[serde(default)]
    pub providers: Vec<GroupMember>,
    /// The requires (name and metadata).
    #[serde(default)]
    pub requires: Vec<toml::Table>,
}

/// A launch process of the image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProcessInfo {
    /// Process type.
    #[serde(rename = "type")]
    pub process_type: String,
    /// Command.
    pub command: Vec<String>,
    /// Default arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory, or empty.
    #[serde(default, rename = "working-dir")]
    pub working_dir: String,
    /// The buildpack that declared it.
    #[serde(rename = "buildpack-id")]
    pub buildpack_id: String,
}

/// One environment file of a layer (`env/`, `env.build/`, `env.launch/`, `env.launch/<type>/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// The directory relative to the layer: `env`, `env.build`, `env.launch/web`, …
    pub scope: String,
    /// The file name: `NAME.override`, `PATH.prepend`, `PATH.delim`, …
    pub file: String,
    /// Its contents.
    pub value: String,
}

/// A layer a buildpack returned, as the host wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerOutput {
    /// The buildpack's id.
    pub buildpack: String,
    /// The layer name.
    pub name: String,
    /// Its directory in the kept layers directory.
    pub path: PathBuf,
    /// `launch`, `build`, `cache`.
    pub launch: bool,
    /// See `launch`.
    pub build: bool,
    /// See `launch`.
    pub cache: bool,
    /// Its metadata (`[metadata]` of `<layer>.toml`).
    pub metadata: toml::Table,
    /// Layer-relative paths of its files and symlinks (not the `env*` dirs), sorted.
    pub files: Vec<String>,
    /// Its environment files.
    pub env: Vec<EnvFile>,
}

impl LayerOutput {
    /// The value of the environment file `file` in `scope` (e.g. `("env", "NODE_PATH.override")`).
    pub fn env_value(&self, scope: &str, file: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|e| e.scope == scope && e.file == file)
            .map(|e| e.value.as_str())
    }

    /// True when the layer has the file or symlink `relative`.
    pub fn has_file(&self, relative: &str) -> bool {
        self.files.iter().any(|f| f == relative)
    }
}

/// The image the build wrote: an OCI layout on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOutput {
    /// The layout directory.
    pub layout: PathBuf,
    /// Its tag.
    pub tag: String,
    /// The manifest digest.
    pub digest: String,
}

impl ImageOutput {
    /// `oci:DIR:TAG`, as `kiln` and the tools take it.
    pub fn reference(&self) -> String {
        format!("oci:{}:{}", self.layout.display(), self.tag)
    }
}

#[derive(Deserialize)]
struct GroupFile {
    #[serde(default)]
    group: Vec<GroupMember>,
}

#[derive(Deserialize)]
struct PlanFile {
    #[serde(default)]
    entries: Vec<PlanEntry>,
}

#[derive(Deserialize)]
struct MetadataFile {
    #[serde(default)]
    processes: Vec<ProcessInfo>,
}

#[derive(Deserialize, Default)]
struct LayerTypes {
    #[serde(default)]
    launch: bool,
    #[serde(default)]
    build: bool,
    #[serde(default)]
    cache: bool,
}

#[derive(Deserialize)]
struct LayerFile {
    #[serde(default)]
    types: LayerTypes,
    #[serde(default)]
    metadata: toml::Table,
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(HarnessError::io("read", path))?;
    toml::from_str(&text).map_err(|source| HarnessError::Toml {
        path: path.to_path_buf(),
        source,
    })
}

/// Parse `group.toml` text.
pub(crate) fn parse_group(text: &str, path: &Path) -> Result<Vec<GroupMember>, HarnessError> {
    let file: GroupFile = toml::from_str(text).map_err(|source| HarnessError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(file.group)
}

/// Parse `plan.toml` text.
pub(crate) fn parse_plan(text: &str, path: &Path) -> Result<Vec<PlanEntry>, HarnessError> {
    let file: PlanFile = toml::from_str(text).map_err(|source| HarnessError::Toml {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(file.entries)
}

/// What the layers directory holds after a build.
pub(crate) struct LayersDir {
    pub group: Vec<GroupMember>,
    pub plan: Vec<PlanEntry>,
    pub layers: Vec<LayerOutput>,
    pub processes: Vec<ProcessInfo>,
}

pub(crate) fn read_layers_dir(dir: &Path) -> Result<LayersDir, HarnessError> {
    let group_path = dir.join("group.toml");
    let group_text =
        std::fs::read_to_string(&group_path).map_err(HarnessError::io("read", &group_path))?;
    let group = parse_group(&group_text, &group_path)?;
    let plan_path = dir.join("plan.toml");
    let plan = match std::fs::read_to_string(&plan_path) {
        Ok(text) => parse_plan(&text, &plan_path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(HarnessError::io("read", &plan_path)(e)),
    };
    let metadata = dir.join("config/metadata.toml");
    let processes = if metadata.is_file() {
        read_toml::<MetadataFile>(&metadata)?.processes
    } else {
        Vec::new()
    };
    let mut layers = Vec::new();
    for member in &group {
        let bp_dir = dir.join(kiln_spec::escape_id(&member.id));
        layers.extend(read_buildpack_layers(&member.id, &bp_dir)?);
    }
    Ok(LayersDir {
        group,
        plan,
        layers,
        processes,
    })
}

fn read_buildpack_layers(id: &str, bp_dir: &Path) -> Result<Vec<LayerOutput>, HarnessError> {
    let entries = match std::fs::read_dir(bp_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(HarnessError::io("list", bp_dir)(e)),
    };
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(HarnessError::io("list", bp_dir))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(name) = file.strip_suffix(".toml")
            && !matches!(name, "launch" | "build" | "store")
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let record: LayerFile = read_toml(&bp_dir.join(format!("{name}.toml")))?;
            let path = bp_dir.join(&name);
            let (files, env) = walk_layer(&path)?;
            Ok(LayerOutput {
                buildpack: id.to_owned(),
                name,
                path,
                launch: record.types.launch,
                build: record.types.build,
                cache: record.types.cache,
                metadata: record.metadata,
                files,
                env,
            })
        })
        .collect()
}

/// Files and symlinks under a layer dir (without following links), and its env files.
fn walk_layer(root: &Path) -> Result<(Vec<String>, Vec<EnvFile>), HarnessError> {
    let mut files = Vec::new();
    let mut env = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(HarnessError::io("list", &dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(HarnessError::io("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let kind = entry
                .file_type()
                .map_err(HarnessError::io("inspect", entry.path()))?;
            if rel.is_empty() && kind.is_dir() && (name == "env" || name.starts_with("env.")) {
                env.extend(read_env_dir(&entry.path(), &name)?);
            } else if kind.is_dir() {
                stack.push((entry.path(), child_rel));
            } else {
                files.push(child_rel);
            }
        }
    }
    files.sort();
    env.sort_by(|a, b| (&a.scope, &a.file).cmp(&(&b.scope, &b.file)));
    Ok((files, env))
}

fn read_env_dir(dir: &Path, scope: &str) -> Result<Vec<EnvFile>, HarnessError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(HarnessError::io("list", dir))? {
        let entry = entry.map_err(HarnessError::io("list", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            out.extend(read_env_dir(&entry.path(), &format!("{scope}/{name}"))?);
        } else {
            let value = std::fs::read_to_string(entry.path())
                .map_err(HarnessError::io("read", entry.path()))?;
            out.push(EnvFile {
                scope: scope.to_owned(),
                file: name,
                value,
            });
        }
    }
    Ok(out)
}

/// Everything a test build produced.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    /// The chosen group.
    pub group: Vec<GroupMember>,
    /// The resolved build plan.
    pub plan: Vec<PlanEntry>,
    /// Every layer the group's buildpacks returned.
    pub layers: Vec<LayerOutput>,
    /// The image's launch processes.
    pub processes: Vec<ProcessInfo>,
    /// The default process type.
    pub default_process: Option<String>,
    /// The image.
    pub image: ImageOutput,
    /// The build log: the host's lines and every buildpack line.
    pub logs: Vec<LogLine>,
    /// The kept CNB layers directory.
    pub layers_dir: PathBuf,
    pub(crate) rebuild: crate::build::TestBuild,
}

impl BuildOutput {
    /// The layer `name` of the buildpack `buildpack`.
    pub fn layer(&self, buildpack: &str, name: &str) -> Option<&LayerOutput> {
        self.layers
            .iter()
            .find(|l| l.buildpack == buildpack && l.name == name)
    }

    /// The process of type `process_type`.
    pub fn process(&self, process_type: &str) -> Option<&ProcessInfo> {
        self.processes
            .iter()
            .find(|p| p.process_type == process_type)
    }

    /// Lines written by `buildpack`.
    pub fn buildpack_logs(&self, buildpack: &str) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|l| l.buildpack.as_deref() == Some(buildpack))
            .map(|l| l.text.as_str())
            .collect()
    }

    /// True when some log line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.logs.iter().any(|l| l.text.contains(needle))
    }

    /// The whole log as text (`[buildpack] line`), for assertion messages.
    pub fn log_text(&self) -> String {
        self.logs
            .iter()
            .map(|l| match &l.buildpack {
                Some(id) => format!("[{id}] {}\n", l.text),
                None => format!("{}\n", l.text),
            })
            .collect()
    }

    /// A build of the same app into the same image, with the same layer cache and this image
    /// as the previous one; change it (e.g. [`crate::TestBuild::app`]) before running it.
    pub fn rebuild(&self) -> crate::build::TestBuild {
        self.rebuild.clone()
    }

    /// Environment files of every layer, as `(buildpack, layer, scope, file) -> value`.
    pub fn env_files(&self) -> BTreeMap<(String, String, String, String), String> {
        self.layers
            .iter()
            .flat_map(|l| {
                l.env.iter().map(|e| {
                    (
                        (
                            l.buildpack.clone(),
                            l.name.clone(),
                            e.scope.clone(),
                            e.file.clone(),
                        ),
                        e.value.clone(),
                    )
                })
            })
            .collect()
    }
}

/// What detection chose, without building.
#[derive(Debug, Clone)]
pub struct DetectOutput {
    /// The chosen group.
    pub group: Vec<GroupMember>,
    /// The resolved build plan.
    pub plan: Vec<PlanEntry>,
    /// The log.
    pub logs: Vec<LogLine>,
}
