//! A spec's source: resolved to a revision (git commit, blob digest, directory digest) and
//! materialised as a directory the build reads (a checkout of exactly that commit, an
//! unpacked archive checked against its pin, or the directory itself).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use kiln_fleet::{EngineError, ImageSpec, ResolvedSource, SourceKind};
use kiln_git::GitSources;

use crate::services::Services;

/// Sources of one reconcile: git resolutions are asked once per (URL, revision).
pub struct Sources {
    git: GitSources,
    resolved: Mutex<HashMap<(String, String), String>>,
}

/// A source on disk for one build; a temporary checkout is removed on drop.
pub struct Materialized {
    /// The app directory (the source's `subPath`).
    pub app: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Sources {
    /// Sources whose git mirrors live in `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Self {
        Self {
            git: GitSources::new(cache_dir),
            resolved: Mutex::default(),
        }
    }

    /// Resolve `spec`'s source to what would be built.
    pub fn resolve(&self, spec: &ImageSpec) -> Result<ResolvedSource, EngineError> {
        let sub_path = spec.source.sub_path.clone();
        Ok(match &spec.source.kind {
            SourceKind::Git { url, revision } => {
                let url = local_or_remote(spec, url);
                let key = (url.clone(), revision.clone());
                let cached = self.resolved.lock().ok().and_then(|m| m.get(&key).cloned());
                let commit = if let Some(c) = cached {
                    c
                } else {
                    let commit = self.git.resolve(&url, revision)?.commit;
                    if let Ok(mut m) = self.resolved.lock() {
                        m.insert(key, commit.clone());
                    }
                    commit
                };
                ResolvedSource {
                    id: commit,
                    kind: "git".into(),
                    revision: Some(revision.clone()),
                    sub_path,
                    url,
                }
            }
            SourceKind::Blob { url, digest } => ResolvedSource {
                id: digest.clone(),
                kind: "blob".into(),
                revision: None,
                sub_path,
                url: url.clone(),
            },
            SourceKind::Path { path } => {
                let dir = spec.base_dir().join(path);
                let id = super::digests::tree_digest(&dir).map_err(|e| {
                    format!(
                        "{}: source.path {}: {e}",
                        spec.file.display(),
                        dir.display()
                    )
                })?;
                ResolvedSource {
                    id,
                    kind: "path".into(),
                    revision: None,
                    sub_path,
                    url: dir.display().to_string(),
                }
            }
        })
    }

    /// Put `resolved` on disk under `work` for a build.
    pub fn materialize(
        &self,
        spec: &ImageSpec,
        resolved: &ResolvedSource,
        work: &Path,
        services: &Services,
    ) -> Result<Materialized, EngineError> {
        std::fs::create_dir_all(work)?;
        let (root, temp) = match &spec.source.kind {
            SourceKind::Path { path } => (spec.base_dir().join(path), None),
            SourceKind::Git { .. } => {
                let temp = tempfile::Builder::new()
                    .prefix("checkout-")
                    .tempdir_in(work)?;
                let dest = temp.path().join("src");
                self.git.checkout(&resolved.url, &resolved.id, &dest)?;
                (dest, Some(temp))
            }
            SourceKind::Blob { url, digest } => {
                let temp = tempfile::Builder::new().prefix("blob-").tempdir_in(work)?;
                let dest = temp.path().join("src");
                fetch_blob(url, digest, temp.path(), &dest, services)?;
                (dest, Some(temp))
            }
        };
        let app = match &resolved.sub_path {
            Some(sub) => root.join(sub),
            None => root,
        };
        if !app.is_dir() {
            return Err(format!(
                "{}: the source has no directory {} (source.subPath)",
                spec.file.display(),
                resolved.sub_path.as_deref().unwrap_or(".")
            )
            .into());
        }
        Ok(Materialized { app, _temp: temp })
    }
}

/// A git URL that is a relative local path is relative to the spec file.
fn local_or_remote(spec: &ImageSpec, url: &str) -> String {
    let is_remote = url.contains("://") || url.contains('@');
    if !is_remote && Path::new(url).is_relative() {
        return spec.base_dir().join(url).display().to_string();
    }
    url.to_owned()
}

/// Download the archive at `url` into `scratch`, check it against `digest`, unpack it
/// into `dest` (tar, tar.gz/tgz, zip, by the URL's ending).
fn fetch_blob(
    url: &str,
    digest: &str,
    scratch: &Path,
    dest: &Path,
    services: &Services,
) -> Result<(), EngineError> {
    let bytes = if let Some(path) = url.strip_prefix("file://") {
        std::fs::read(path).map_err(|e| format!("source blob {url}: {e}"))?
    } else {
        services
            .runtime()
            .block_on(async {
                let response = reqwest::get(url).await?.error_for_status()?;
                response.bytes().await
            })
            .map_err(|e| format!("source blob {url}: {e}"))?
            .to_vec()
    };
    let actual = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
    if actual != digest {
        return Err(format!(
            "source blob {url} does not match its pin {digest}; check the URL, or update source.blob.digest if the archive was meant to change"
        )
        .into());
    }
    let archive = scratch.join("archive");
    std::fs::write(&archive, &bytes)?;
    let options = kiln_extract::ExtractOptions::default();
    let extension = Path::new(url)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let unpacked = if extension == "zip" {
        kiln_extract::extract_zip(&archive, dest, options).map(|_| ())
    } else if extension == "tar" {
        std::fs::File::open(&archive)
            .map_err(|e| kiln_extract::Error::msg(e.to_string()))
            .and_then(|f| kiln_extract::extract_tar(f, dest, options))
            .map(|_| ())
    } else {
        kiln_extract::extract_tar_gz(&archive, dest, options).map(|_| ())
    };
    unpacked.map_err(|e| format!("source blob {url}: {e}").into())
}
