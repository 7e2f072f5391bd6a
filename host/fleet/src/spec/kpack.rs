//! kpack's `Image` resource (`kind: Image`, `apiVersion: kpack.io/v1alpha2`), in YAML, for
//! teams coming from kpack. The mapping (also in `docs/fleet.md`):
//!
//! | kpack | Kiln |
//! |---|---|
//! | `metadata.name` | `name` |
//! | `spec.tag` | `tag` |
//! | `spec.source.git.url` / `.revision` | `source.git` |
//! | `spec.source.blob.url` (+ Kiln's `digest`, required) | `source.blob` |
//! | `spec.source.subPath` | `source.sub-path` |
//! | `spec.build.env` (`name`/`value` list) | `build.env` |
//! | `spec.builder` (inline: `buildpacks`, `runImage`, `buildImage`) | `build.*` |
//! | `spec.cache.registry.tag` | `cache.image` |
//! | `spec.successBuildHistoryLimit` / `failedBuildHistoryLimit` | `history.*` |
//!
//! `metadata.namespace`, `labels`, `annotations` and `spec.serviceAccountName` are accepted
//! and have no effect (registry credentials come from the docker config). A `spec.builder`
//! that names a kpack `Builder`/`ClusterBuilder` resource is refused: Kiln has no builder
//! resources, so the builder is written inline.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Builder, HistoryLimits, ImageSpec, RawGit, Source, SourceKind, default_name};
use crate::error::SpecError;

/// The only kind read.
const KIND: &str = "Image";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Root {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: Metadata,
    spec: Spec,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: Option<String>,
    #[serde(rename = "namespace")]
    _namespace: Option<IgnoredAny>,
    #[serde(rename = "labels")]
    _labels: Option<IgnoredAny>,
    #[serde(rename = "annotations")]
    _annotations: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    tag: String,
    builder: RawBuilder,
    source: RawSource,
    #[serde(default)]
    build: RawBuild,
    cache: Option<RawCache>,
    #[serde(rename = "serviceAccountName")]
    _service_account_name: Option<IgnoredAny>,
    success_build_history_limit: Option<u32>,
    failed_build_history_limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBuilder {
    kind: Option<String>,
    name: Option<String>,
    #[serde(default)]
    buildpacks: Vec<String>,
    run_image: Option<String>,
    build_image: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSource {
    git: Option<RawGit>,
    blob: Option<RawBlob>,
    sub_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlob {
    url: String,
    digest: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    #[serde(default)]
    env: Vec<EnvVar>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvVar {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    registry: RawRegistryCache,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistryCache {
    tag: String,
}

/// Parse a kpack `Image` (not yet validated).
pub(super) fn parse(text: &str, file: &Path) -> Result<ImageSpec, SpecError> {
    let de = serde_norway::Deserializer::from_str(text);
    let root: Root = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        if key == "." {
            SpecError::Syntax {
                file: file.to_path_buf(),
                message: inner.to_string(),
            }
        } else {
            SpecError::Invalid {
                file: file.to_path_buf(),
                key,
                message: inner.to_string(),
            }
        }
    })?;
    let invalid = |key: &str, message: String| SpecError::Invalid {
        file: file.to_path_buf(),
        key: key.to_owned(),
        message,
    };
    if root.kind != KIND {
        return Err(invalid(
            "kind",
            format!(
                "is `{}`; Kiln reads kpack `kind: {KIND}` resources",
                root.kind
            ),
        ));
    }
    if !root.api_version.starts_with("kpack.io/") {
        return Err(invalid(
            "apiVersion",
            format!(
                "is `{}`; expected kpack.io/v1alpha2 (or another kpack.io version)",
                root.api_version
            ),
        ));
    }
    let spec = root.spec;
    if spec.builder.kind.is_some() || spec.builder.name.is_some() {
        return Err(invalid(
            "spec.builder",
            "names a kpack Builder resource (kind/name); Kiln has no builder resources, so write the builder inline: `buildpacks`, `runImage` and optionally `buildImage`".into(),
        ));
    }
    let kind = match (spec.source.git, spec.source.blob) {
        (Some(g), None) => SourceKind::Git {
            url: g.url,
            revision: g.revision,
        },
        (None, Some(b)) => SourceKind::Blob {
            digest: b.digest.ok_or_else(|| {
                invalid(
                    "spec.source.blob.digest",
                    "missing; Kiln needs the archive pinned: add `digest: sha256:<hex>`".into(),
                )
            })?,
            url: b.url,
        },
        _ => {
            return Err(invalid(
                "spec.source",
                "give exactly one of `git: {url, revision}` or `blob: {url, digest}`".into(),
            ));
        }
    };
    let run_image = spec.builder.run_image.ok_or_else(|| {
        invalid(
            "spec.builder.runImage",
            "missing; name the run image to build on".into(),
        )
    })?;
    let mut env = BTreeMap::new();
    for (i, var) in spec.build.env.into_iter().enumerate() {
        if env.insert(var.name.clone(), var.value).is_some() {
            return Err(invalid(
                &format!("spec.build.env[{i}].name"),
                format!("`{}` is set twice", var.name),
            ));
        }
    }
    let defaults = HistoryLimits::default();
    Ok(ImageSpec {
        name: root.metadata.name.unwrap_or_else(|| default_name(file)),
        tag: spec.tag,
        source: Source {
            kind,
            sub_path: spec.source.sub_path,
        },
        env,
        builder: Builder {
            buildpacks: spec.builder.buildpacks,
            build_image: spec.builder.build_image,
            run_image,
        },
        cache_image: spec.cache.map(|c| c.registry.tag),
        history: HistoryLimits {
            successes: spec
                .success_build_history_limit
                .unwrap_or(defaults.successes),
            failures: spec.failed_build_history_limit.unwrap_or(defaults.failures),
        },
        file: file.to_path_buf(),
    })
}
