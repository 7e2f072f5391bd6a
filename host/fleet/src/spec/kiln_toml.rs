//! Kiln's own spec format, TOML:
//!
//! ```toml
//! name = "web"                                  # optional; default: the file stem
//! tag = "registry.example.com/apps/web:latest"  # or oci:DIR:TAG
//!
//! [source]
//! git = { url = "https://git.example.com/web.git", revision = "main" }
//! # blob = { url = "https://example.com/web.tar.gz", digest = "sha256:..." }
//! # path = "../web"                             # a local directory
//! sub-path = "services/web"                     # optional
//!
//! [build]
//! buildpacks = ["docker://registry.example.com/buildpacks/node:3"]
//! run-image = "registry.example.com/base/run:noble"
//! build-image = "registry.example.com/base/build:noble"   # optional
//! env = { NODE_ENV = "production" }
//!
//! [cache]
//! image = "registry.example.com/apps/web-cache:latest"   # optional
//!
//! [history]
//! successes = 10
//! failures = 10
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Builder, HistoryLimits, ImageSpec, RawGit, Source, SourceKind, default_name};
use crate::error::SpecError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Root {
    name: Option<String>,
    tag: String,
    source: RawSource,
    #[serde(default)]
    build: RawBuild,
    cache: Option<RawCache>,
    history: Option<RawHistory>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSource {
    git: Option<RawGit>,
    blob: Option<RawBlob>,
    path: Option<String>,
    sub_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlob {
    url: String,
    digest: String,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBuild {
    #[serde(default)]
    buildpacks: Vec<String>,
    build_image: Option<String>,
    run_image: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCache {
    image: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHistory {
    successes: Option<u32>,
    failures: Option<u32>,
}

/// Parse a Kiln TOML spec (not yet validated).
pub(super) fn parse(text: &str, file: &Path) -> Result<ImageSpec, SpecError> {
    let de = toml::Deserializer::parse(text).map_err(|e| SpecError::Syntax {
        file: file.to_path_buf(),
        message: e.message().trim().to_owned(),
    })?;
    let root: Root = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        SpecError::Invalid {
            file: file.to_path_buf(),
            key,
            message: e.into_inner().message().trim().to_owned(),
        }
    })?;
    let invalid = |key: &str, message: &str| SpecError::Invalid {
        file: file.to_path_buf(),
        key: key.to_owned(),
        message: message.to_owned(),
    };
    let kind = match (root.source.git, root.source.blob, root.source.path) {
        (Some(g), None, None) => SourceKind::Git {
            url: g.url,
            revision: g.revision,
        },
        (None, Some(b), None) => SourceKind::Blob {
            url: b.url,
            digest: b.digest,
        },
        (None, None, Some(path)) => SourceKind::Path { path },
        _ => {
            return Err(invalid(
                "source",
                "give exactly one of `git = { url, revision }`, `blob = { url, digest }` or `path`",
            ));
        }
    };
    let run_image = root
        .build
        .run_image
        .ok_or_else(|| invalid("build.run-image", "missing; name the run image to build on"))?;
    let history = root.history.map_or_else(HistoryLimits::default, |h| {
        let d = HistoryLimits::default();
        HistoryLimits {
            successes: h.successes.unwrap_or(d.successes),
            failures: h.failures.unwrap_or(d.failures),
        }
    });
    Ok(ImageSpec {
        name: root.name.unwrap_or_else(|| default_name(file)),
        tag: root.tag,
        source: Source {
            kind,
            sub_path: root.source.sub_path,
        },
        env: root.build.env,
        builder: Builder {
            buildpacks: root.build.buildpacks,
            build_image: root.build.build_image,
            run_image,
        },
        cache_image: root.cache.map(|c| c.image),
        history,
        file: file.to_path_buf(),
    })
}
