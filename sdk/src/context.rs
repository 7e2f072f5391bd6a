//! What a buildpack is told about the build: typed views of the WIT context records.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::bindings::kiln::buildpack::types as wit;
use crate::layer::{Layer, LayerTypes};
use crate::{Error, LayerName};

/// The platform the image is built for (the run image's platform).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// OCI operating system, e.g. `linux`.
    pub os: String,
    /// OCI architecture, e.g. `amd64`.
    pub arch: String,
    /// Architecture variant, possibly empty.
    pub variant: String,
    /// Distribution name, possibly empty.
    pub distro_name: String,
    /// Distribution version, possibly empty.
    pub distro_version: String,
}

impl From<wit::Target> for Target {
    fn from(t: wit::Target) -> Self {
        Self {
            os: t.os,
            arch: t.arch,
            variant: t.variant,
            distro_name: t.distro_name,
            distro_version: t.distro_version,
        }
    }
}

/// Input to [`crate::Buildpack::detect`].
#[derive(Debug, Clone)]
pub struct DetectContext {
    /// This buildpack's id.
    pub buildpack_id: String,
    /// This buildpack's version.
    pub buildpack_version: String,
    /// The application directory (read-only during detect).
    pub app_dir: PathBuf,
    /// The platform directory (read-only).
    pub platform_dir: PathBuf,
    /// The user's platform environment (`kiln build --env`).
    pub platform_env: BTreeMap<String, String>,
    /// The target platform.
    pub target: Target,
    /// The execution environment, e.g. `production`.
    pub exec_env: String,
}

impl DetectContext {
    /// True if `relative` exists in the application directory.
    pub fn app_has(&self, relative: &str) -> bool {
        self.app_dir.join(relative).exists()
    }
}

impl From<wit::Context> for DetectContext {
    fn from(c: wit::Context) -> Self {
        Self {
            buildpack_id: c.buildpack_id,
            buildpack_version: c.buildpack_version,
            app_dir: PathBuf::from(c.app_dir),
            platform_dir: PathBuf::from(c.platform_dir),
            platform_env: c
                .platform_env
                .into_iter()
                .map(|kv| (kv.key, kv.value))
                .collect(),
            target: c.target.into(),
            exec_env: c.exec_env,
        }
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
        serde_json::from_value(self.metadata.clone()).map_err(|e| {
            Error::msg(format!(
                "plan entry {:?} has unexpected metadata: {e}",
                self.name
            ))
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
    /// The application directory (read-write during build).
    pub fn app_dir(&self) -> &std::path::Path {
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

    /// Delete a restored layer: its contents go, and since it is not returned in the build
    /// result, its metadata is not kept either.
    pub fn discard_layer(&self, name: &LayerName) -> Result<(), Error> {
        let path = self.layers_dir.join(name.as_str());
        match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("discard layer", &path, &e)),
        }
    }

    /// Keep a restored layer as it is when `keep(metadata)` says so; otherwise start it afresh.
    ///
    /// This is the usual caching pattern: store what the layer was built from (a version, a
    /// checksum) as metadata and compare it with what the build needs now.
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
        // A launch-only layer can be kept without contents: the host then reuses the
        // previous image's layer.
        let keepable = |r: &RestoredLayer| r.has_contents || (types.launch && !types.cache);
        match restored {
            Some(r) if keepable(r) => match serde_json::from_value::<M>(r.metadata.clone()) {
                Ok(meta) if keep(&meta) => Ok((
                    Layer::keep(&self.layers_dir, name, types, r.metadata.clone()),
                    LayerState::Restored,
                )),
                Ok(_) => Ok((self.create_layer(name, types)?, LayerState::Stale)),
                Err(_) => Ok((self.create_layer(name, types)?, LayerState::BadMetadata)),
            },
            _ => Ok((self.create_layer(name, types)?, LayerState::Empty)),
        }
    }
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

impl From<wit::BuildContext> for BuildContext {
    fn from(c: wit::BuildContext) -> Self {
        Self {
            detect: c.base.into(),
            layers_dir: PathBuf::from(c.layers_dir),
            plan: c
                .plan
                .into_iter()
                .map(|e| PlanEntry {
                    name: e.name,
                    metadata: serde_json::from_str(&e.metadata)
                        .unwrap_or(serde_json::Value::Object(serde_json::Map::new())),
                })
                .collect(),
            restored: c
                .restored_layers
                .into_iter()
                .map(|l| {
                    (
                        l.name,
                        RestoredLayer {
                            metadata: serde_json::from_str(&l.metadata)
                                .unwrap_or(serde_json::Value::Null),
                            has_contents: l.has_contents,
                        },
                    )
                })
                .collect(),
            build_layers: c.build_layers.into_iter().map(PathBuf::from).collect(),
        }
    }
}
