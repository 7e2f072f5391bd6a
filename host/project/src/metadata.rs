//! The `io.buildpacks.project.metadata` label a project descriptor implies.
//!
//! The label is the JSON form of the platform's `project-metadata.toml` (Platform API 0.15),
//! whose only table is `[source]` with `type`, `[source.version]` and `[source.metadata]`.
//! It is **not** a copy of `project.toml`: the lifecycle never reads the descriptor. What a
//! platform puts into `[source]` is up to it; `pack` (the reference platform) derives it from
//! `_.version` and `_.source-url` of the descriptor as a source of type `project`, and Kiln
//! does the same, so the same descriptor yields the same label under both tools.

use serde::Serialize;

use crate::descriptor::ProjectDescriptor;

/// `{"source": …}`.
#[derive(Serialize)]
struct Label<'a> {
    source: Source<'a>,
}

/// `[source]`. Fields are declared in key order so the JSON keys come out sorted.
#[derive(Serialize)]
struct Source<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<SourceMetadata<'a>>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<SourceVersion<'a>>,
}

/// `[source.metadata]` of a `project` source.
#[derive(Serialize)]
struct SourceMetadata<'a> {
    url: &'a str,
}

/// `[source.version]` of a `project` source.
#[derive(Serialize)]
struct SourceVersion<'a> {
    declared: &'a str,
}

impl ProjectDescriptor {
    /// The value of the `io.buildpacks.project.metadata` label this descriptor implies, or
    /// `None` when it declares neither a version nor a source URL (then a platform looks
    /// elsewhere, e.g. at git, or writes `{}` as the lifecycle does with no input).
    ///
    /// The shape, compact JSON with keys sorted (so equal descriptors give byte-equal
    /// labels whatever the key order in the file):
    ///
    /// ```json
    /// {"source":{"metadata":{"url":"<source-url>"},"type":"project","version":{"declared":"<version>"}}}
    /// ```
    ///
    /// `<version>` and `<source-url>` are `_.version` and `_.source-url` (legacy:
    /// `project.version`, `project.source-url`). Where `pack` writes an empty string for the
    /// one that is missing, Kiln leaves out `metadata` or `version` instead.
    pub fn project_metadata_label(&self) -> Option<String> {
        let version = self.project.version.as_deref().filter(|v| !v.is_empty());
        let url = self.project.source_url.as_deref().filter(|u| !u.is_empty());
        if version.is_none() && url.is_none() {
            return None;
        }
        let label = Label {
            source: Source {
                metadata: url.map(|url| SourceMetadata { url }),
                kind: "project",
                version: version.map(|declared| SourceVersion { declared }),
            },
        };
        // Serializing these structs of strings cannot fail.
        serde_json::to_string(&label).ok()
    }
}
