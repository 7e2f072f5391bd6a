//! The validated project descriptor and how it is read from `project.toml`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use kiln_spec::BuildpackId;
use toml::Spanned;

use crate::error::{ProjectError, line_column};
use crate::filter::AppFilter;
use crate::raw;

/// The descriptor's file name in the app directory.
pub const FILE_NAME: &str = "project.toml";

/// The default shell of an inline buildpack script.
pub const DEFAULT_SHELL: &str = "/bin/sh";

/// The version an inline buildpack gets when it declares none, as `pack` gives it.
pub const DEFAULT_INLINE_VERSION: &str = "0.0.0";

/// Which project descriptor schema the file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaVersion {
    /// The legacy schema: `[project]`, `[build]`, `[metadata]`; what a file without
    /// `_.schema-version` is read as.
    V0_1,
    /// The current schema: `[_]`, `[io.buildpacks]`.
    V0_2,
}

impl SchemaVersion {
    /// The version as written in `_.schema-version`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1 => "0.1",
            Self::V0_2 => "0.2",
        }
    }
}

/// What the project says about itself: `[_]` (0.2) or `[project]` (0.1), without metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectInfo {
    /// Machine-readable id, e.g. `com.example.app`.
    pub id: Option<String>,
    /// Human-readable name.
    pub name: Option<String>,
    /// Free-form version of the project.
    pub version: Option<String>,
    /// Names or e-mail addresses of the authors.
    pub authors: Vec<String>,
    /// Where the project's documentation is.
    pub documentation_url: Option<String>,
    /// Where the project's source code is.
    pub source_url: Option<String>,
    /// The project's licenses.
    pub licenses: Vec<License>,
}

/// One `[[_.licenses]]` entry; at least one of the two is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    /// The `type` key: an SPDX expression or free text.
    pub kind: Option<String>,
    /// Where a non-standard license is.
    pub uri: Option<String>,
}

/// One buildpack of `io.buildpacks.group` (or `pre.group`, `post.group`,
/// legacy `build.buildpacks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEntry {
    /// A buildpack by id, from the builder or a registry; no version means the latest.
    Id {
        /// The buildpack id.
        id: BuildpackId,
        /// The requested version, if one is pinned.
        version: Option<String>,
    },
    /// A buildpack by location (`docker://…`, `https://…`, a local path, `urn:cnb:…`), kept
    /// as written.
    Uri {
        /// The location.
        uri: String,
    },
    /// A buildpack defined in the descriptor by a shell script.
    Inline(InlineBuildpack),
}

/// An inline buildpack: an entry with a `[...group.script]` table. It always passes detect
/// and runs `inline` with `shell` as its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineBuildpack {
    /// The buildpack id (required).
    pub id: BuildpackId,
    /// The buildpack version; [`DEFAULT_INLINE_VERSION`] when the entry gives none.
    pub version: String,
    /// The Buildpack API the script is written for, e.g. `0.10` (required).
    pub api: String,
    /// The interpreter of the script; [`DEFAULT_SHELL`] unless the entry says otherwise.
    pub shell: String,
    /// The script (non-empty).
    pub inline: String,
}

/// A build-time environment variable (`[[io.buildpacks.build.env]]`), which the platform
/// writes as `<platform>/env/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildEnvVar {
    /// The variable name; a valid env file name (non-empty, no `=`, `/`, `.`, `\`, NUL).
    pub name: String,
    /// The value (no NUL); may be empty.
    pub value: String,
}

/// A validated `project.toml`, in either schema, reduced to what a platform acts on.
#[derive(Debug, Clone)]
pub struct ProjectDescriptor {
    /// The file it was read from (or the name given to [`ProjectDescriptor::parse`]).
    pub file: PathBuf,
    /// The schema the file is written in.
    pub schema: SchemaVersion,
    /// `[_]` / `[project]`.
    pub project: ProjectInfo,
    /// `[_.metadata]` / `[metadata]`: free-form, not validated; empty when absent.
    pub metadata: toml::Table,
    /// `io.buildpacks.builder` / `build.builder`: the builder image, as written.
    pub builder: Option<String>,
    /// Which app files go into the build (`include` / `exclude`).
    pub filter: AppFilter,
    /// The buildpacks for this app, in order; empty means "use the builder's order".
    pub group: Vec<GroupEntry>,
    /// Buildpacks put before every group of the order.
    pub pre_group: Vec<GroupEntry>,
    /// Buildpacks put after every group of the order.
    pub post_group: Vec<GroupEntry>,
    /// Build-time environment, in file order; names are unique.
    pub build_env: Vec<BuildEnvVar>,
    /// `io.kiln.build-image`: the build image reference, as written.
    pub build_image: Option<String>,
    /// `io.kiln.run-image`: the run image reference, as written.
    pub run_image: Option<String>,
    /// `[[io.kiln.slices]]`: app layer slices, each a list of globs relative to the app dir.
    pub slices: Vec<Vec<String>>,
}

impl ProjectDescriptor {
    /// Read `app_dir/project.toml`; `Ok(None)` when there is no such file.
    pub fn load(app_dir: &Path) -> Result<Option<Self>, ProjectError> {
        let file = app_dir.join(FILE_NAME);
        match std::fs::read_to_string(&file) {
            Ok(text) => Self::parse(&text, &file).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ProjectError::Read { file, source }),
        }
    }

    /// Parse and validate descriptor `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ProjectError> {
        let cx = Cx { file, text };
        let table: toml::Table = toml::from_str(text).map_err(|e| cx.syntax(&e))?;
        let schema = schema_version(&table, &cx)?;
        check_tables(&table, schema, &cx)?;
        let root: raw::Root = cx.deserialize()?;
        Self::from_raw(root, schema, &cx)
    }

    fn from_raw(root: raw::Root, schema: SchemaVersion, cx: &Cx<'_>) -> Result<Self, ProjectError> {
        let mut descriptor = Self {
            file: cx.file.to_path_buf(),
            schema,
            project: ProjectInfo::default(),
            metadata: toml::Table::new(),
            builder: None,
            filter: AppFilter::all(),
            group: Vec::new(),
            pre_group: Vec::new(),
            post_group: Vec::new(),
            build_env: Vec::new(),
            build_image: None,
            run_image: None,
            slices: Vec::new(),
        };
        let mut env = EnvCollector::default();
        match schema {
            SchemaVersion::V0_2 => {
                if let Some(u) = root.underscore {
                    descriptor.project = project_info(
                        "_",
                        cx,
                        ProjectFields {
                            id: u.id,
                            name: u.name,
                            version: u.version,
                            authors: u.authors,
                            documentation_url: u.documentation_url,
                            source_url: u.source_url,
                            licenses: u.licenses,
                        },
                    )?;
                    descriptor.metadata = u.metadata.unwrap_or_default();
                }
                if let Some(bp) = root.io.as_ref().and_then(|io| io.buildpacks.as_ref()) {
                    descriptor.builder =
                        non_empty("io.buildpacks.builder", bp.builder.clone(), cx)?;
                    descriptor.filter = filter(
                        "io.buildpacks",
                        bp.include.as_deref(),
                        bp.exclude.as_deref(),
                        cx,
                    )?;
                    descriptor.group = entries("io.buildpacks.group", bp.group.as_deref(), cx)?;
                    descriptor.pre_group = entries(
                        "io.buildpacks.pre.group",
                        bp.pre.as_ref().and_then(|t| t.group.as_deref()),
                        cx,
                    )?;
                    descriptor.post_group = entries(
                        "io.buildpacks.post.group",
                        bp.post.as_ref().and_then(|t| t.group.as_deref()),
                        cx,
                    )?;
                    env.add(
                        "io.buildpacks.build.env",
                        bp.build.as_ref().and_then(|t| t.env.as_deref()),
                        cx,
                    )?;
                    env.add(
                        "io.buildpacks.env.build",
                        bp.env.as_ref().and_then(|t| t.build.as_deref()),
                        cx,
                    )?;
                }
            }
            SchemaVersion::V0_1 => {
                if let Some(p) = root.project {
                    descriptor.project = project_info(
                        "project",
                        cx,
                        ProjectFields {
                            id: p.id,
                            name: p.name,
                            version: p.version,
                            authors: p.authors,
                            documentation_url: p.documentation_url,
                            source_url: p.source_url,
                            licenses: p.licenses,
                        },
                    )?;
                }
                descriptor.metadata = root.metadata.unwrap_or_default();
                if let Some(build) = root.build {
                    descriptor.builder = non_empty("build.builder", build.builder, cx)?;
                    descriptor.filter = filter(
                        "build",
                        build.include.as_deref(),
                        build.exclude.as_deref(),
                        cx,
                    )?;
                    descriptor.group =
                        entries("build.buildpacks", build.buildpacks.as_deref(), cx)?;
                    env.add("build.env", build.env.as_deref(), cx)?;
                }
            }
        }
        if let Some(kiln) = root.io.and_then(|io| io.kiln) {
            descriptor.build_image = non_empty("io.kiln.build-image", kiln.build_image, cx)?;
            descriptor.run_image = non_empty("io.kiln.run-image", kiln.run_image, cx)?;
            for (i, slice) in kiln.slices.unwrap_or_default().into_iter().enumerate() {
                let key = format!("io.kiln.slices[{i}].paths");
                if slice.paths.is_empty() || slice.paths.iter().any(|p| p.trim().is_empty()) {
                    return Err(cx.invalid(&key, None, "must list one or more non-empty globs"));
                }
                if let Some(bad) = slice
                    .paths
                    .iter()
                    .find(|p| globset::Glob::new(p.trim_start_matches("./")).is_err())
                {
                    return Err(cx.invalid(&key, None, format!("{bad:?} is not a valid glob")));
                }
                descriptor.slices.push(slice.paths);
            }
        }
        descriptor.build_env = env.vars;
        Ok(descriptor)
    }
}

/// The file being read, for errors.
struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn line(&self, span: Option<Range<usize>>) -> Option<usize> {
        span.map(|s| line_column(self.text, s.start).0)
    }

    fn syntax(&self, e: &toml::de::Error) -> ProjectError {
        let at = e.span().map(|s| line_column(self.text, s.start));
        ProjectError::Syntax {
            file: self.file.to_path_buf(),
            line: at.map(|(l, _)| l),
            column: at.map(|(_, c)| c),
            message: e.message().trim().to_owned(),
        }
    }

    fn invalid(
        &self,
        key: impl Into<String>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ProjectError {
        ProjectError::Invalid {
            file: self.file.to_path_buf(),
            key: key.into(),
            line: self.line(span),
            message: message.into(),
        }
    }

    /// Deserialize the whole file, reporting the key path of whatever does not fit.
    fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProjectError> {
        let de = toml::Deserializer::parse(self.text).map_err(|e| self.syntax(&e))?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = key_path(e.path());
            let inner = e.into_inner();
            let message = inner
                .message()
                .trim()
                .replace("unknown field", "unknown key");
            self.invalid(key, inner.span(), message)
        })
    }
}

/// `a.b[0].c` for a serde path, without the wrapper segments of [`Spanned`].
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    use std::fmt::Write as _;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(out, "[{index}]");
            }
            Segment::Map { key } if key.starts_with("$__serde_spanned_private") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    if out.is_empty() {
        out.push_str("(top level)");
    }
    out
}

/// `_.schema-version`, refusing versions Kiln does not read.
fn schema_version(table: &toml::Table, cx: &Cx<'_>) -> Result<SchemaVersion, ProjectError> {
    let Some(underscore) = table.get("_") else {
        return Ok(SchemaVersion::V0_1);
    };
    let Some(underscore) = underscore.as_table() else {
        return Err(cx.invalid("_", None, "must be a table ([_])"));
    };
    match underscore.get("schema-version") {
        None => Err(cx.invalid(
            "_.schema-version",
            None,
            "is required when [_] is present; write schema-version = \"0.2\"",
        )),
        Some(toml::Value::String(v)) => match v.as_str() {
            "0.1" => Ok(SchemaVersion::V0_1),
            "0.2" => Ok(SchemaVersion::V0_2),
            _ => Err(ProjectError::UnsupportedSchema {
                file: cx.file.to_path_buf(),
                version: v.clone(),
            }),
        },
        Some(other) => Err(cx.invalid(
            "_.schema-version",
            None,
            format!(
                "must be a string such as \"0.2\", not a {}",
                other.type_str()
            ),
        )),
    }
}

/// Refuse tables of the other schema, which would otherwise be silently ignored.
fn check_tables(
    table: &toml::Table,
    schema: SchemaVersion,
    cx: &Cx<'_>,
) -> Result<(), ProjectError> {
    match schema {
        SchemaVersion::V0_2 => {
            for (key, instead) in [
                ("project", "[_]"),
                ("build", "[io.buildpacks]"),
                ("metadata", "[_.metadata]"),
            ] {
                if table.contains_key(key) {
                    return Err(cx.invalid(
                        key,
                        None,
                        format!(
                            "[{key}] belongs to the legacy schema 0.1 and is not read with \
                             _.schema-version = \"0.2\"; use {instead}"
                        ),
                    ));
                }
            }
        }
        SchemaVersion::V0_1 => {
            let io_buildpacks = table
                .get("io")
                .and_then(toml::Value::as_table)
                .is_some_and(|io| io.contains_key("buildpacks"));
            if io_buildpacks {
                return Err(cx.invalid(
                    "io.buildpacks",
                    None,
                    "is read only with schema 0.2: add [_] with schema-version = \"0.2\", \
                     or use the legacy [build] table",
                ));
            }
            if let Some(underscore) = table.get("_").and_then(toml::Value::as_table)
                && let Some(key) = underscore.keys().find(|k| *k != "schema-version")
            {
                return Err(cx.invalid(
                    format!("_.{key}"),
                    None,
                    "is a schema 0.2 key, but _.schema-version is \"0.1\"; \
                     use [project] or schema-version = \"0.2\"",
                ));
            }
        }
    }
    Ok(())
}

/// The fields `[_]` and `[project]` share.
struct ProjectFields {
    id: Option<String>,
    name: Option<String>,
    version: Option<String>,
    authors: Option<Vec<String>>,
    documentation_url: Option<String>,
    source_url: Option<String>,
    licenses: Option<Vec<raw::License>>,
}

fn project_info(table: &str, cx: &Cx<'_>, f: ProjectFields) -> Result<ProjectInfo, ProjectError> {
    let mut licenses = Vec::new();
    for (i, l) in f.licenses.unwrap_or_default().into_iter().enumerate() {
        if l.kind.is_none() && l.uri.is_none() {
            return Err(cx.invalid(
                format!("{table}.licenses[{i}]"),
                None,
                "needs a type or a uri",
            ));
        }
        licenses.push(License {
            kind: l.kind,
            uri: l.uri,
        });
    }
    Ok(ProjectInfo {
        id: f.id,
        name: f.name,
        version: f.version,
        authors: f.authors.unwrap_or_default(),
        documentation_url: f.documentation_url,
        source_url: f.source_url,
        licenses,
    })
}

fn non_empty(
    key: &str,
    value: Option<String>,
    cx: &Cx<'_>,
) -> Result<Option<String>, ProjectError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(cx.invalid(key, None, "must not be empty")),
        v => Ok(v),
    }
}

fn filter(
    table: &str,
    include: Option<&[String]>,
    exclude: Option<&[String]>,
    cx: &Cx<'_>,
) -> Result<AppFilter, ProjectError> {
    let pattern_error = |list: &str, e: crate::filter::PatternError| {
        cx.invalid(format!("{table}.{list}[{}]", e.index), None, e.to_string())
    };
    match (include, exclude) {
        (Some(_), Some(_)) => Err(cx.invalid(
            table,
            None,
            "include and exclude cannot both be set; keep one of them",
        )),
        (Some(include), None) => {
            AppFilter::include(include).map_err(|e| pattern_error("include", e))
        }
        (None, Some(exclude)) => {
            AppFilter::exclude(exclude).map_err(|e| pattern_error("exclude", e))
        }
        (None, None) => Ok(AppFilter::all()),
    }
}

fn entries(
    key: &str,
    raw: Option<&[Spanned<raw::Entry>]>,
    cx: &Cx<'_>,
) -> Result<Vec<GroupEntry>, ProjectError> {
    raw.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, e)| entry(&format!("{key}[{i}]"), e, cx))
        .collect()
}

fn entry(
    key: &str,
    spanned: &Spanned<raw::Entry>,
    cx: &Cx<'_>,
) -> Result<GroupEntry, ProjectError> {
    let e = spanned.get_ref();
    let err = |suffix: &str, message: String| {
        cx.invalid(format!("{key}{suffix}"), Some(spanned.span()), message)
    };
    let id = |id: &str| {
        BuildpackId::new(id).map_err(|e| err(".id", format!("buildpack id {id:?} {}", e.rule)))
    };
    let version = || match &e.version {
        Some(v) if v.trim().is_empty() => Err(err(
            ".version",
            "must not be empty (leave it out for the latest)".into(),
        )),
        v => Ok(v.clone()),
    };
    match (&e.id, &e.uri, &e.script) {
        (_, _, Some(script)) => {
            if e.uri.is_some() {
                return Err(err(
                    ".uri",
                    "an inline buildpack (with a script) takes no uri".into(),
                ));
            }
            let Some(raw_id) = &e.id else {
                return Err(err(
                    ".id",
                    "an inline buildpack (with a script) needs an id".into(),
                ));
            };
            let api = match &script.api {
                None => {
                    return Err(err(
                        ".script.api",
                        "is required: the Buildpack API the script is written for, e.g. \"0.10\""
                            .into(),
                    ));
                }
                Some(api) if !is_api_version(api) => {
                    return Err(err(
                        ".script.api",
                        format!("{api:?} is not a Buildpack API version such as \"0.10\""),
                    ));
                }
                Some(api) => api.clone(),
            };
            let inline = match &script.inline {
                Some(s) if !s.trim().is_empty() => s.clone(),
                _ => {
                    return Err(err(
                        ".script.inline",
                        "is required and must not be empty: the script to run".into(),
                    ));
                }
            };
            let shell = match &script.shell {
                None => DEFAULT_SHELL.to_owned(),
                Some(s) if s.trim().is_empty() => {
                    return Err(err(
                        ".script.shell",
                        format!("must not be empty (leave it out for {DEFAULT_SHELL})"),
                    ));
                }
                Some(s) => s.clone(),
            };
            Ok(GroupEntry::Inline(InlineBuildpack {
                id: id(raw_id)?,
                version: version()?.unwrap_or_else(|| DEFAULT_INLINE_VERSION.to_owned()),
                api,
                shell,
                inline,
            }))
        }
        (Some(raw_id), None, None) => Ok(GroupEntry::Id {
            id: id(raw_id)?,
            version: version()?,
        }),
        (None, Some(uri), None) => {
            if e.version.is_some() {
                return Err(err(
                    ".version",
                    "cannot be given with a uri (the uri says which buildpack it is)".into(),
                ));
            }
            if uri.trim().is_empty() {
                return Err(err(".uri", "must not be empty".into()));
            }
            Ok(GroupEntry::Uri { uri: uri.clone() })
        }
        (Some(_), Some(_), None) => Err(err(
            "",
            "has both an id and a uri; give exactly one of them".into(),
        )),
        (None, None, None) => Err(err(
            "",
            "needs an id (with an optional version), a uri, or an id with a script".into(),
        )),
    }
}

/// `<major>` or `<major>.<minor>`, digits only.
fn is_api_version(v: &str) -> bool {
    let mut parts = v.split('.');
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_some_and(digits) && parts.next().is_none_or(digits) && parts.next().is_none()
}

/// Build env entries from one or more lists, refusing duplicate names.
#[derive(Default)]
struct EnvCollector {
    vars: Vec<BuildEnvVar>,
    seen: HashMap<String, String>,
}

impl EnvCollector {
    fn add(
        &mut self,
        key: &str,
        raw: Option<&[Spanned<raw::EnvVar>]>,
        cx: &Cx<'_>,
    ) -> Result<(), ProjectError> {
        for (i, spanned) in raw.unwrap_or_default().iter().enumerate() {
            let var = spanned.get_ref();
            let this = format!("{key}[{i}]");
            let err = |message: String| cx.invalid(this.clone(), Some(spanned.span()), message);
            if let Some(problem) = kiln_spec::env_file::name_problem(&var.name) {
                return Err(err(format!("name {:?} {problem}", var.name)));
            }
            if var.value.contains('\0') {
                return Err(err(format!("value of {} must not contain NUL", var.name)));
            }
            if let Some(first) = self.seen.get(&var.name) {
                return Err(err(format!(
                    "{} is already set by {first}; Kiln refuses duplicate names rather than \
                     letting one win, so remove one of them",
                    var.name
                )));
            }
            self.seen.insert(var.name.clone(), this.clone());
            self.vars.push(BuildEnvVar {
                name: var.name.clone(),
                value: var.value.clone(),
            });
        }
        Ok(())
    }
}
