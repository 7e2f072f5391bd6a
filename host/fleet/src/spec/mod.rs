//! One image spec: what to build (source, buildpacks, build and run image, env) and where it
//! goes (`tag`, cache image), in one model whatever file format it was written in.
//!
//! Two formats are read: Kiln's own TOML (`*.toml`, [`kiln_toml`]) and kpack's `Image`
//! resource in YAML (`*.yaml`, `*.yml`, [`kpack`]). Both refuse unknown keys, naming the
//! file and the key path; both are validated by [`ImageSpec::validate`].

mod kiln_toml;
mod kpack;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::SpecError;

/// File extensions read as image specs.
pub const SPEC_EXTENSIONS: &[&str] = &["toml", "yaml", "yml"];

/// Default number of successful builds kept in an image's history.
pub const DEFAULT_SUCCESS_HISTORY: u32 = 10;
/// Default number of failed builds kept in an image's history.
pub const DEFAULT_FAILURE_HISTORY: u32 = 10;

/// One image of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The image's name in the fleet (kpack `metadata.name`, Kiln `name`; default: the file
    /// stem). Unique within a spec directory.
    pub name: String,
    /// Where the image goes: a registry reference (`host/repo:tag`) or `oci:DIR:TAG`.
    pub tag: String,
    /// Where the app comes from.
    pub source: Source,
    /// Build-time env (`--env`).
    pub env: BTreeMap<String, String>,
    /// What builds it.
    pub builder: Builder,
    /// The layer cache as a registry image (`--cache-image`).
    pub cache_image: Option<String>,
    /// How many builds the history keeps.
    pub history: HistoryLimits,
    /// The file the spec was read from.
    pub file: PathBuf,
}

/// Where an app's source comes from, and the directory inside it that is the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The source itself.
    #[serde(flatten)]
    pub kind: SourceKind,
    /// The app's directory inside the source (`spec.source.subPath`), relative, no `..`.
    #[serde(rename = "subPath", skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
}

/// The kinds of source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SourceKind {
    /// A git repository (local path, `file://`, `https://`) at a branch, tag or commit.
    Git {
        /// The remote.
        url: String,
        /// Branch, tag, `refs/...` or a full commit id.
        revision: String,
    },
    /// A tar or zip archive at a URL, pinned by its digest.
    Blob {
        /// The archive's URL (`https://`, `http://`, or `file://`).
        url: String,
        /// Its digest, `sha256:<hex>`.
        digest: String,
    },
    /// A directory on this machine (a Kiln extension, for trying specs out); its revision is
    /// a digest of its files.
    Path {
        /// The directory, relative to the spec file.
        path: String,
    },
}

/// The builder: buildpacks, build image, run image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Builder {
    /// Buildpack references, in order, as `kiln build --buildpack` takes them: an embedded
    /// id, a path, `docker://HOST/REPO:TAG` or `...@sha256:` artifact, `oci:DIR:TAG`. Empty:
    /// Kiln's embedded buildpacks.
    pub buildpacks: Vec<String>,
    /// The build image native steps run in (`--build-image`).
    #[serde(rename = "buildImage", skip_serializing_if = "Option::is_none")]
    pub build_image: Option<String>,
    /// The run image (`--run-image`).
    #[serde(rename = "runImage")]
    pub run_image: String,
}

/// How many builds an image's history keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// Successful builds kept.
    pub successes: u32,
    /// Failed builds kept.
    pub failures: u32,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self {
            successes: DEFAULT_SUCCESS_HISTORY,
            failures: DEFAULT_FAILURE_HISTORY,
        }
    }
}

/// What of a spec decides the image: everything but its name, file and history limits.
#[derive(Serialize)]
struct Hashed<'a> {
    tag: &'a str,
    source: &'a Source,
    env: &'a BTreeMap<String, String>,
    builder: &'a Builder,
    #[serde(rename = "cacheImage")]
    cache_image: &'a Option<String>,
}

impl ImageSpec {
    /// Read and validate the spec in `file`; the format follows the extension.
    pub fn load(file: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(file).map_err(|source| SpecError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Self::parse(&text, file)
    }

    /// Parse and validate `text`, read from `file` (its extension picks the format).
    pub fn parse(text: &str, file: &Path) -> Result<Self, SpecError> {
        let extension = file
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let spec = match extension.as_str() {
            "toml" => kiln_toml::parse(text, file)?,
            "yaml" | "yml" => kpack::parse(text, file)?,
            _ => {
                return Err(SpecError::Format {
                    file: file.to_path_buf(),
                });
            }
        };
        spec.validate()?;
        Ok(spec)
    }

    /// `sha256:<hex>` of the parts of the spec that decide the image (sorted keys), so a
    /// change of any of them is a `CONFIG` change and a change of the name, the file or the
    /// history limits is not.
    pub fn config_hash(&self) -> String {
        let hashed = Hashed {
            tag: &self.tag,
            source: &self.source,
            env: &self.env,
            builder: &self.builder,
            cache_image: &self.cache_image,
        };
        // Serializing these plain maps, strings and vectors cannot fail.
        let value = serde_json::to_value(&hashed).unwrap_or_default();
        crate::sha256_text(&value.to_string())
    }

    /// The directory a relative `path` source is resolved against: the spec file's.
    pub fn base_dir(&self) -> &Path {
        self.file.parent().unwrap_or_else(|| Path::new("."))
    }
}

/// A git source as both formats write it: `{ url, revision }`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGit {
    url: String,
    revision: String,
}

/// The file stem of `file`, the default name of the image it describes.
fn default_name(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
