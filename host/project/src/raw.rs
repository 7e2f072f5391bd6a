//! The TOML shapes of both schemas, exactly as written, before validation.
//!
//! Tables Kiln owns the meaning of refuse unknown keys (`deny_unknown_fields`); the top level
//! and `[io]` do not, because other tools keep their own tables there.

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

/// The whole file. Which of the tables count depends on the schema version.
#[derive(Debug, Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct Root {
    #[serde(rename = "_")]
    pub underscore: Option<Underscore>,
    pub io: Option<Io>,
    pub project: Option<LegacyProject>,
    pub build: Option<LegacyBuild>,
    pub metadata: Option<toml::Table>,
}

/// `[_]` (schema 0.2).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct Underscore {
    /// Checked before this struct is read.
    #[serde(rename = "schema-version")]
    pub _schema_version: Option<IgnoredAny>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub authors: Option<Vec<String>>,
    pub documentation_url: Option<String>,
    pub source_url: Option<String>,
    pub licenses: Option<Vec<License>>,
    pub metadata: Option<toml::Table>,
}

/// `[project]` (schema 0.1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct LegacyProject {
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub authors: Option<Vec<String>>,
    pub documentation_url: Option<String>,
    pub source_url: Option<String>,
    pub licenses: Option<Vec<License>>,
}

/// `[[_.licenses]]` / `[[project.licenses]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct License {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub uri: Option<String>,
}

/// `[build]` (schema 0.1).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct LegacyBuild {
    pub builder: Option<String>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub buildpacks: Option<Vec<Spanned<Entry>>>,
    pub env: Option<Vec<Spanned<EnvVar>>>,
}

/// `[io]`: only `buildpacks` and `kiln` are Kiln's business.
#[derive(Debug, Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct Io {
    pub buildpacks: Option<IoBuildpacks>,
    pub kiln: Option<IoKiln>,
}

/// `[io.buildpacks]` (schema 0.2).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct IoBuildpacks {
    /// The spec lets every non-`_` table carry its own version; it changes nothing here.
    #[serde(rename = "schema-version")]
    pub _schema_version: Option<String>,
    pub builder: Option<String>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub group: Option<Vec<Spanned<Entry>>>,
    pub pre: Option<GroupTable>,
    pub post: Option<GroupTable>,
    pub build: Option<BuildTable>,
    /// The deprecated 0.2 spelling `[[io.buildpacks.env.build]]`, which `pack` still reads.
    pub env: Option<DeprecatedEnvTable>,
}

/// `[io.buildpacks.pre]` / `[io.buildpacks.post]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct GroupTable {
    pub group: Option<Vec<Spanned<Entry>>>,
}

/// `[io.buildpacks.build]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct BuildTable {
    pub env: Option<Vec<Spanned<EnvVar>>>,
}

/// `[io.buildpacks.env]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct DeprecatedEnvTable {
    pub build: Option<Vec<Spanned<EnvVar>>>,
}

/// One `[[...group]]` / `[[build.buildpacks]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct Entry {
    pub id: Option<String>,
    pub version: Option<String>,
    pub uri: Option<String>,
    pub script: Option<Script>,
}

/// `[io.buildpacks.group.script]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct Script {
    pub api: Option<String>,
    pub inline: Option<String>,
    pub shell: Option<String>,
}

/// One `[[...env]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct EnvVar {
    pub name: String,
    pub value: String,
}

/// `[io.kiln]`: Kiln's own table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", expecting = "a table")]
pub(crate) struct IoKiln {
    pub build_image: Option<String>,
    pub run_image: Option<String>,
    pub slices: Option<Vec<Slice>>,
}

/// `[[io.kiln.slices]]`: one app layer slice (CNB `launch.toml` `[[slices]]` form).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `paths`")]
pub(crate) struct Slice {
    pub paths: Vec<String>,
}
