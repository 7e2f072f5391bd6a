//! What a buildpack is told about the build: typed contexts for detect and build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::layer::{Layer, LayerTypes};
use crate::platform::{ExecEnv, Target};
use crate::{BuildpackId, Error, LayerName};

/// Input to [`crate::Buildpack::detect`].
#[derive(Debug, Clone)]
pub struct DetectContext {
    /// This buildpack's id.
    pub buildpack_id: BuildpackId,
    /// This buildpack's version.
    pub buildpack_version: String,
    /// The application directory (read-only during detect).
    pub app_dir: PathBuf,
    /// The platform directory (read-only).
    pub platform_dir: PathBuf,
    /// The user's platform environment (`kiln build --env`).
    pub platform_env: BTreeMap<String, String>,
    /// The target platform (the run image's).
    pub target: Target,
    /// The execution environment.
    pub exec_env: ExecEnv,
}

impl DetectContext {
    /// A context for `app_dir`, as a test would build one: version `0.0.0`, platform dir
    /// `/platform`, no env, linux on any architecture, production.
    pub fn new(buildpack_id: BuildpackId, app_dir: impl Into<PathBuf>) -> Self {
        Self {
            buildpack_id,
            buildpack_version: "0.0.0".to_owned(),
            app_dir: app_dir.into(),
            platform_dir: PathBuf::from(kiln_spec::PLATFORM_DIR),
            platform_env: BTreeMap::new(),
            target: Target::default(),
            exec_env: ExecEnv::Production,
        }
    }

    /// Builder: set a platform environment variable.
    #[must_use]
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.platform_env.insert(name.into(), value.into());
        self
    }

    /// True if `relative` exists in the application directory.
    pub fn app_has(&self, relative: &str) -> bool {
        self.app_dir.join(relative).exists()
    }

    /// The platform environment variable `name`, if set.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.platform_env.get(name).map(String::as_str)
    }
}

/// A build plan entry this buildpack must provide: one per require, with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEntry {
    /// Dependency name.
    pub name: String,
    /// Merged metadata (a JSON object).
    pub metadata: serde_json::Value,
}

impl PlanEntry {
    /// Deserialize the metadata into a typed value.
    pub fn metadata_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(self.metadata.clone()).map_err(|source| Error::InvalidMetadata {
            what: format!("plan entry {:?}", self.name),
            source,
        })
    }
}

/// A layer left by a previous build.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredLayer {
    /// Its metadata from the previous build.
    pub metadata: serde_json::Value,
    /// Whether its files are present.
    pub has_contents: bool,
}

/// Input to [`crate::Buildpack::build`].
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// Facts shared with detect (app dir is writable during build).
    pub detect: DetectContext,
    /// This buildpack's own layers directory.
    pub layers_dir: PathBuf,
    /// Plan entries this buildpack must provide.
    pub plan: Vec<PlanEntry>,
    /// Layers restored from the previous build, by name.
    pub restored: BTreeMap<String, RestoredLayer>,
    /// Earlier buildpacks' `build=true` layers (read-only).
    pub build_layers: Vec<PathBuf>,
}

impl BuildContext {
    /// A build context with no plan entries, nothing restored and no earlier layers.
    pub fn new(detect: DetectContext, layers_dir: impl Into<PathBuf>) -> Self {
        Self {
            detect,
            layers_dir: layers_dir.into(),
            plan: Vec::new(),
            restored: BTreeMap::new(),
            build_layers: Vec::new(),
        }
    }

    /// Builder: a layer restored from a previous build (its files, if any, must already be
    /// under `layers_dir`).
    #[must_use]
    pub fn with_restored(mut self, name: &LayerName, layer: RestoredLayer) -> Self {
        self.restored.insert(name.as_str().to_owned(), layer);
        self
    }

    /// The application directory (read-write during build).
    pub fn app_dir(&self) -> &Path {
        &self.detect.app_dir
    }

    /// The plan entry named `name`, if this buildpack was asked to provide it.
    pub fn plan_entry(&self, name: &str) -> Option<&PlanEntry> {
        self.plan.iter().find(|e| e.name == name)
    }

    /// Typed metadata of a restored layer, or `None` if there is none or it does not parse
    /// as `M` (metadata from an older buildpack version is treated as absent).
    pub fn restored_metadata<M: DeserializeOwned>(&self, name: &LayerName) -> Option<M> {
        let restored = self.restored.get(name.as_str())?;
        serde_json::from_value(restored.metadata.clone()).ok()
    }

    /// Start a fresh, empty layer: any restored contents are deleted.
    pub fn create_layer(&self, name: LayerName, types: LayerTypes) -> Result<Layer, Error> {
        Layer::create(&self.layers_dir, name, types)
    }

    /// A layer whose directory a native step (see [`crate::exec`]) already filled: its
    /// contents are kept as they are (created empty when missing).
    pub fn adopt_layer(&self, name: LayerName, types: LayerTypes) -> Result<Layer, Error> {
        let path = self.layers_dir.join(name.as_str());
        std::fs::create_dir_all(&path).map_err(|e| Error::io("create layer", &path, e))?;
        Ok(Layer::keep(
            &self.layers_dir,
            name,
            types,
            serde_json::Value::Object(serde_json::Map::new()),
        ))
    }

    /// Delete a restored layer: its contents go, and since it is not returned in the build
    /// result, its metadata is not kept either.
    pub fn discard_layer(&self, name: &LayerName) -> Result<(), Error> {
        let path = self.layers_dir.join(name.as_str());
        match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("discard layer", &path, e)),
        }
    }

    /// Keep a restored layer as it is when `keep(metadata)` says so; otherwise start it afresh.
    /// The simple form of [`BuildContext::cached`], without causes or migration.
    pub fn cached_layer<M, F>(
        &self,
        name: LayerName,
        types: LayerTypes,
        keep: F,
    ) -> Result<(Layer, LayerState), Error>
    where
        M: DeserializeOwned,
        F: FnOnce(&M) -> bool,
    {
        let restored = self.restored.get(name.as_str());
        match restored {
            Some(r) if keepable(r, types) => {
                match serde_json::from_value::<M>(r.metadata.clone()) {
                    Ok(meta) if keep(&meta) => Ok((
                        Layer::keep(&self.layers_dir, name, types, r.metadata.clone()),
                        LayerState::Restored,
                    )),
                    Ok(_) => Ok((self.create_layer(name, types)?, LayerState::Stale)),
                    Err(_) => Ok((self.create_layer(name, types)?, LayerState::BadMetadata)),
                }
            }
            _ => Ok((self.create_layer(name, types)?, LayerState::Empty)),
        }
    }
}

/// A restored layer can be kept with its contents, or without them when it is launch-only
/// (the host then reuses the previous image's layer).
pub(crate) fn keepable(r: &RestoredLayer, types: LayerTypes) -> bool {
    r.has_contents || (types.launch && !types.cache)
}

/// What [`BuildContext::cached_layer`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerState {
    /// Restored contents were kept.
    Restored,
    /// Nothing was restored; the layer is empty.
    Empty,
    /// Restored contents were out of date and were deleted.
    Stale,
    /// Restored metadata did not parse; the contents were deleted.
    BadMetadata,
}
