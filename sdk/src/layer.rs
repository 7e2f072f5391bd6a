//! Typed layers: types, environment changes as data, metadata as a serde value.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use crate::{Error, LayerName, ProcessType};

/// Where a layer is used. Set again on every build; the host never restores types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct LayerTypes {
    /// Exported in the application image.
    pub launch: bool,
    /// Visible to later buildpacks during this build.
    pub build: bool,
    /// Kept in the cache for the next build.
    pub cache: bool,
}

impl LayerTypes {
    /// No types: the layer is ignored after build.
    pub const fn none() -> Self {
        Self {
            launch: false,
            build: false,
            cache: false,
        }
    }

    /// Set `launch`.
    pub const fn launch(mut self) -> Self {
        self.launch = true;
        self
    }

    /// Set `build`.
    pub const fn build(mut self) -> Self {
        self.build = true;
        self
    }

    /// Set `cache`.
    pub const fn cache(mut self) -> Self {
        self.cache = true;
        self
    }
}

/// How an [`EnvChange`] combines with the existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvAction {
    /// Replace the value.
    Override,
    /// Set only if unset or empty.
    Default,
    /// Add after the existing value.
    Append,
    /// Add before the existing value.
    Prepend,
}

/// When an [`EnvChange`] applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvScope {
    /// At build time (if the layer is `build`) and at launch (if `launch`).
    All,
    /// Only for later buildpacks during build.
    Build,
    /// Only at launch, for every process.
    Launch,
    /// Only at launch, for one process type.
    Process(ProcessType),
}

/// One environment modification, kept as data; the host writes the CNB `env*/` files.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct EnvChange {
    pub(crate) name: String,
    pub(crate) action: EnvAction,
    pub(crate) value: String,
    pub(crate) delimiter: Option<String>,
    pub(crate) scope: EnvScope,
}

impl EnvChange {
    fn new(name: impl Into<String>, action: EnvAction, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            action,
            value: value.into(),
            delimiter: None,
            scope: EnvScope::All,
        }
    }

    /// The variable's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How it combines with the existing value.
    pub fn action(&self) -> EnvAction {
        self.action
    }

    /// The value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The delimiter of append/prepend, if any.
    pub fn delimiter_str(&self) -> Option<&str> {
        self.delimiter.as_deref()
    }

    /// When it applies.
    pub fn scope(&self) -> &EnvScope {
        &self.scope
    }

    /// Set `name` to `value`, replacing any earlier value.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, EnvAction::Override, value)
    }

    /// Set `name` to `value` only if it is unset or empty.
    pub fn default_value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, EnvAction::Default, value)
    }

    /// Append `value` to `name`. Without [`EnvChange::delimiter`], nothing separates them.
    pub fn append(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, EnvAction::Append, value)
    }

    /// Prepend `value` to `name`. Without [`EnvChange::delimiter`], nothing separates them.
    pub fn prepend(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self::new(name, EnvAction::Prepend, value)
    }

    /// The separator used by append and prepend, e.g. `":"`.
    pub fn delimiter(mut self, delimiter: impl Into<String>) -> Self {
        self.delimiter = Some(delimiter.into());
        self
    }

    /// Apply only to later buildpacks during build.
    pub fn build_only(mut self) -> Self {
        self.scope = EnvScope::Build;
        self
    }

    /// Apply only at launch.
    pub fn launch_only(mut self) -> Self {
        self.scope = EnvScope::Launch;
        self
    }

    /// Apply only at launch, for the process `process_type`.
    pub fn for_process(mut self, process_type: ProcessType) -> Self {
        self.scope = EnvScope::Process(process_type);
        self
    }
}

/// A layer this buildpack is building. Write files under [`Layer::path`], then hand the layer
/// to [`crate::BuildResult::layer`].
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub(crate) name: LayerName,
    pub(crate) path: PathBuf,
    pub(crate) types: LayerTypes,
    pub(crate) env: Vec<EnvChange>,
    pub(crate) metadata: serde_json::Value,
    pub(crate) executables: Vec<String>,
    pub(crate) sbom: Option<String>,
}

impl Layer {
    pub(crate) fn create(
        layers_dir: &Path,
        name: LayerName,
        types: LayerTypes,
    ) -> Result<Self, Error> {
        let path = layers_dir.join(name.as_str());
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("clear layer", &path, e)),
        }
        std::fs::create_dir_all(&path).map_err(|e| Error::io("create layer", &path, e))?;
        Ok(Self {
            name,
            path,
            types,
            env: Vec::new(),
            metadata: serde_json::Value::Object(serde_json::Map::new()),
            executables: Vec::new(),
            sbom: None,
        })
    }

    pub(crate) fn keep(
        layers_dir: &Path,
        name: LayerName,
        types: LayerTypes,
        metadata: serde_json::Value,
    ) -> Self {
        Self {
            path: layers_dir.join(name.as_str()),
            name,
            types,
            env: Vec::new(),
            metadata,
            executables: Vec::new(),
            sbom: None,
        }
    }

    /// The layer's name.
    pub fn name(&self) -> &LayerName {
        &self.name
    }

    /// The layer's directory; write its files here.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `contents` to `relative` inside the layer, creating parent directories.
    pub fn write_file(
        &mut self,
        relative: &str,
        contents: impl AsRef<[u8]>,
    ) -> Result<PathBuf, Error> {
        let target = self.path.join(checked_relative(relative)?);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io("create directory", parent, e))?;
        }
        std::fs::write(&target, contents).map_err(|e| Error::io("write", &target, e))?;
        Ok(target)
    }

    /// Write an executable file (mode 0755 in the image).
    pub fn write_executable(
        &mut self,
        relative: &str,
        contents: impl AsRef<[u8]>,
    ) -> Result<PathBuf, Error> {
        let target = self.write_file(relative, contents)?;
        self.mark_executable(relative)?;
        Ok(target)
    }

    /// Mark a file of the layer as executable. Files under `bin/` always are.
    pub fn mark_executable(&mut self, relative: &str) -> Result<(), Error> {
        checked_relative(relative)?;
        self.executables
            .push(relative.trim_start_matches("./").to_owned());
        Ok(())
    }

    /// Add an environment change.
    pub fn add_env(&mut self, change: EnvChange) {
        self.env.push(change);
    }

    /// Builder form of [`Layer::add_env`].
    #[must_use]
    pub fn with_env(mut self, change: EnvChange) -> Self {
        self.add_env(change);
        self
    }

    /// Attach a CycloneDX JSON SBOM describing the layer's contents (see [`crate::Sbom`]).
    pub fn set_sbom(&mut self, sbom: &crate::Sbom) {
        self.sbom = Some(sbom.to_json());
    }

    /// Store metadata (must serialise to a JSON object) for the next build to compare.
    pub fn set_metadata<M: Serialize>(&mut self, metadata: &M) -> Result<(), Error> {
        let what = || format!("layer {}", self.name);
        let value = serde_json::to_value(metadata).map_err(|source| Error::InvalidMetadata {
            what: what(),
            source,
        })?;
        if !value.is_object() {
            return Err(Error::MetadataNotAnObject { what: what() });
        }
        self.metadata = value;
        Ok(())
    }

    /// The layer's types.
    pub fn types(&self) -> LayerTypes {
        self.types
    }

    /// The metadata stored so far (a JSON object).
    pub fn metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    /// The environment changes added so far.
    pub fn env(&self) -> &[EnvChange] {
        &self.env
    }

    /// Layer-relative paths marked executable so far.
    pub fn executables(&self) -> &[String] {
        &self.executables
    }
}

fn checked_relative(relative: &str) -> Result<&Path, Error> {
    let path = Path::new(relative);
    let ok = !relative.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if ok {
        Ok(path)
    } else {
        Err(Error::LayerPath(relative.to_owned()))
    }
}
