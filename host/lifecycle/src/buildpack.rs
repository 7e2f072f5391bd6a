//! Buildpack references: a `.wasm` component file, a directory with `buildpack.toml` and the
//! component, or the id of a buildpack embedded in the `kiln` binary.

use std::path::{Path, PathBuf};

use kiln_spec::BuildpackId;
use serde::Deserialize;

use kiln_runtime::bindings::types;
use kiln_runtime::{LoadedComponent, Runtime, RuntimeError};

/// Buildpacks shipped inside a binary: (id, component bytes), in default order.
pub type EmbeddedBuildpacks = [(&'static str, &'static [u8])];

/// The component file a buildpack directory holds when `buildpack.toml` names none.
pub const DEFAULT_COMPONENT_FILE: &str = "buildpack.wasm";

/// Errors resolving or loading a buildpack.
#[derive(Debug, thiserror::Error)]
pub enum BuildpackError {
    /// The reference names nothing Kiln can load.
    #[error(
        "buildpack {reference:?} is not a .wasm file, a directory with buildpack.toml, or an embedded buildpack (embedded: {embedded})"
    )]
    Unknown {
        /// The reference as given.
        reference: String,
        /// Ids of the embedded buildpacks.
        embedded: String,
    },
    /// A file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `buildpack.toml` is malformed.
    #[error("{path}: {reason}")]
    Descriptor {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The component's own description is invalid.
    #[error("{origin}: {reason}")]
    Describe {
        /// Where the component came from.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// Two buildpacks in one build share an id.
    #[error("buildpack {id} is given twice ({first} and {second})")]
    Duplicate {
        /// The id.
        id: String,
        /// First origin.
        first: String,
        /// Second origin.
        second: String,
    },
    /// Loading or calling the component failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A buildpack artifact could not be fetched or is not a Kiln buildpack.
    #[error("buildpack {reference}: {reason}")]
    Artifact {
        /// The reference as given.
        reference: String,
        /// What went wrong and what to do.
        reason: String,
    },
}

/// A platform a buildpack supports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// OCI os.
    pub os: String,
    /// OCI arch (empty: any).
    pub arch: String,
    /// Distribution name (`/etc/os-release` `ID`; empty: any).
    pub distro_name: String,
    /// Distribution version (`VERSION_ID`; empty: any).
    pub distro_version: String,
}

/// What the host knows about a buildpack (from `describe`, checked against `buildpack.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The validated id.
    pub id: BuildpackId,
    /// Version `X.Y.Z`.
    pub version: String,
    /// Display name.
    pub name: String,
    /// Homepage, possibly empty.
    pub homepage: String,
    /// Buildpack API version.
    pub api: String,
    /// Supported targets (empty: linux, any arch).
    pub targets: Vec<Target>,
    /// Do not export the platform env as variables.
    pub clear_env: bool,
}

/// A buildpack ready to run.
#[derive(Clone)]
pub struct Buildpack {
    /// Facts about it.
    pub descriptor: Descriptor,
    /// The compiled component.
    pub component: LoadedComponent,
    /// Where it came from (path or `embedded:<id>`), for messages.
    pub origin: String,
    /// Variables the host sets for this buildpack alone, over every other (an inline
    /// buildpack's script).
    pub env: Vec<(String, String)>,
}

impl Buildpack {
    /// The id, escaped for use as a directory name.
    pub fn escaped_id(&self) -> String {
        kiln_spec::escape_id(self.descriptor.id.as_str())
    }

    /// Whether the buildpack supports `os`/`arch`.
    pub fn supports(&self, os: &str, arch: &str) -> bool {
        if self.descriptor.targets.is_empty() {
            return os == "linux";
        }
        self.descriptor
            .targets
            .iter()
            .any(|t| t.os == os && (t.arch.is_empty() || arch.is_empty() || t.arch == arch))
    }

    /// Whether the buildpack may run on the distribution `name` `version` (from a build image's
    /// `/etc/os-release`): true when none of its targets names a distribution, or one matches.
    pub fn supports_distro(&self, name: &str, version: &str) -> bool {
        let named: Vec<&Target> = self
            .descriptor
            .targets
            .iter()
            .filter(|t| !t.distro_name.is_empty())
            .collect();
        named.is_empty()
            || named.iter().any(|t| {
                t.distro_name == name
                    && (t.distro_version.is_empty() || t.distro_version == version)
            })
    }
}

/// Ids of the `embedded` buildpacks, in default order.
pub fn embedded_ids(embedded: &EmbeddedBuildpacks) -> Vec<&'static str> {
    embedded.iter().map(|(id, _)| *id).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildpackToml {
    api: Option<String>,
    buildpack: BuildpackTable,
    #[serde(default)]
    targets: Vec<TargetTable>,
    #[serde(default)]
    metadata: Option<toml::Table>,
    #[serde(default)]
    stacks: Option<toml::Value>,
    #[serde(default)]
    order: Option<toml::Value>,
}

#[derive(Deserialize)]
struct BuildpackTable {
    id: String,
    version: String,
}

#[derive(Deserialize)]
struct TargetTable {
    os: Option<String>,
    arch: Option<String>,
}

/// Load a buildpack unpacked from an artifact: its directory (with `buildpack.toml`) if it
/// has one, else its bare component; `origin` names the artifact.
pub fn load_unpacked(
    dir: Option<&Path>,
    component: &Path,
    origin: &str,
    runtime: &Runtime,
) -> Result<Buildpack, BuildpackError> {
    let mut buildpack = if let Some(dir) = dir {
        load_dir(dir, runtime)?
    } else {
        let bytes = std::fs::read(component).map_err(|source| BuildpackError::Read {
            path: component.to_path_buf(),
            source,
        })?;
        load_bytes(&bytes, origin, runtime)?
    };
    origin.clone_into(&mut buildpack.origin);
    Ok(buildpack)
}

/// Resolve and load one local buildpack reference: a directory, a `.wasm` file, or the id of
/// one of the `embedded` buildpacks.
pub fn load(
    reference: &str,
    runtime: &Runtime,
    embedded: &EmbeddedBuildpacks,
) -> Result<Buildpack, BuildpackError> {
    let path = Path::new(reference);
    if path.is_dir() {
        return load_dir(path, runtime);
    }
    let wasm_suffix = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wasm"));
    if path.is_file() || wasm_suffix {
        let bytes = std::fs::read(path).map_err(|source| BuildpackError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        return load_bytes(&bytes, &path.display().to_string(), runtime);
    }
    let id = reference.split('@').next().unwrap_or(reference);
    if let Some((id, bytes)) = embedded.iter().find(|(e, _)| *e == id) {
        return load_bytes(bytes, &format!("embedded:{id}"), runtime);
    }
    Err(BuildpackError::Unknown {
        reference: reference.to_owned(),
        embedded: embedded_ids(embedded).join(", "),
    })
}

/// The component file `buildpack.toml` names (`[metadata.kiln] component`), else
/// [`DEFAULT_COMPONENT_FILE`].
fn component_file(parsed: &BuildpackToml) -> String {
    parsed
        .metadata
        .as_ref()
        .and_then(|m| m.get("kiln"))
        .and_then(|k| k.get("component"))
        .and_then(toml::Value::as_str)
        .unwrap_or(DEFAULT_COMPONENT_FILE)
        .to_owned()
}

/// The files of a buildpack directory: `buildpack.toml`'s text and the component's path.
pub fn dir_files(dir: &Path) -> Result<(String, PathBuf), BuildpackError> {
    let toml_path = dir.join("buildpack.toml");
    let text = std::fs::read_to_string(&toml_path).map_err(|source| BuildpackError::Read {
        path: toml_path.clone(),
        source,
    })?;
    let parsed: BuildpackToml = toml::from_str(&text).map_err(|e| BuildpackError::Descriptor {
        path: toml_path.clone(),
        reason: format!("invalid buildpack.toml: {}", e.message()),
    })?;
    let component = dir.join(component_file(&parsed));
    Ok((text, component))
}

fn load_dir(dir: &Path, runtime: &Runtime) -> Result<Buildpack, BuildpackError> {
    let toml_path = dir.join("buildpack.toml");
    let text = std::fs::read_to_string(&toml_path).map_err(|source| BuildpackError::Read {
        path: toml_path.clone(),
        source,
    })?;
    let bad = |reason: String| BuildpackError::Descriptor {
        path: toml_path.clone(),
        reason,
    };
    let parsed: BuildpackToml = toml::from_str(&text)
        .map_err(|e| bad(format!("invalid buildpack.toml: {}", e.message())))?;
    if parsed.order.is_some() {
        return Err(bad("composite buildpacks ([[order]]) are not supported yet; list the buildpacks with --buildpack".into()));
    }
    let _ = parsed.stacks;
    let component_path = dir.join(component_file(&parsed));
    let bytes = std::fs::read(&component_path).map_err(|source| BuildpackError::Read {
        path: component_path.clone(),
        source,
    })?;
    let mut buildpack = load_bytes(&bytes, &component_path.display().to_string(), runtime)?;
    let d = &mut buildpack.descriptor;
    if parsed.buildpack.id != d.id.as_str() || parsed.buildpack.version != d.version {
        return Err(bad(format!(
            "[buildpack] says {}@{} but the component describes itself as {}@{}; make them agree",
            parsed.buildpack.id, parsed.buildpack.version, d.id, d.version
        )));
    }
    if let Some(api) = parsed.api {
        d.api = api;
    }
    if !parsed.targets.is_empty() {
        d.targets = parsed
            .targets
            .into_iter()
            .map(|t| Target {
                os: t.os.unwrap_or_else(|| "linux".into()),
                arch: t.arch.unwrap_or_default(),
                ..Target::default()
            })
            .collect();
    }
    Ok(buildpack)
}

/// Load a component from bytes and describe it.
pub fn load_bytes(
    bytes: &[u8],
    origin: &str,
    runtime: &Runtime,
) -> Result<Buildpack, BuildpackError> {
    let component = runtime.load(bytes, origin)?;
    let info = runtime.describe(&component, origin)?;
    let descriptor = validate_info(info, origin)?;
    Ok(Buildpack {
        descriptor,
        component,
        origin: origin.to_owned(),
        env: Vec::new(),
    })
}

/// A buildpack defined by a project descriptor: the component `runner` (bytes) under the
/// entry's own `id` and `version`, with `env` set for it alone.
pub fn load_as(
    runner: &[u8],
    id: BuildpackId,
    version: &str,
    origin: &str,
    env: Vec<(String, String)>,
    runtime: &Runtime,
) -> Result<Buildpack, BuildpackError> {
    let mut buildpack = load_bytes(runner, origin, runtime)?;
    buildpack.descriptor.name = id.to_string();
    buildpack.descriptor.id = id;
    version.clone_into(&mut buildpack.descriptor.version);
    buildpack.env = env;
    Ok(buildpack)
}

fn validate_info(info: types::BuildpackInfo, origin: &str) -> Result<Descriptor, BuildpackError> {
    let bad = |reason: String| BuildpackError::Describe {
        origin: origin.to_owned(),
        reason,
    };
    let id = BuildpackId::new(info.id).map_err(|e| bad(e.to_string()))?;
    if !is_version(&info.version) {
        return Err(bad(format!(
            "version {:?} of {id} is not X.Y.Z (non-negative, no leading zeros)",
            info.version
        )));
    }
    if !matches!(info.api.as_str(), "0.10" | "0.11" | "0.12") {
        return Err(bad(format!(
            "{id} declares Buildpack API {:?}; Kiln supports 0.10 to 0.12",
            info.api
        )));
    }
    Ok(Descriptor {
        id,
        version: info.version,
        name: info.name,
        homepage: info.homepage,
        api: info.api,
        targets: info
            .targets
            .into_iter()
            .map(|t| Target {
                os: t.os,
                arch: t.arch,
                distro_name: t.distro_name,
                distro_version: t.distro_version,
            })
            .collect(),
        clear_env: info.clear_env,
    })
}

fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_version("0.1.0"));
        assert!(is_version("10.20.30"));
        assert!(!is_version("01.1.0"));
        assert!(!is_version("1.0"));
        assert!(!is_version("1.0.x"));
    }
}
