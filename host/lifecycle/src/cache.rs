//! The layer cache (`--cache-dir`): `cache=true` layers saved with their metadata after a
//! build and restored before the next one.
//!
//! On disk: `<dir>/committed/metadata.json` and one uncompressed tar per layer,
//! `<dir>/committed/layers/<diff_id hex>.tar`. A save builds a complete `staging-*` directory,
//! then swaps it in with two renames (`committed` → `previous`, staging → `committed`); a
//! crash between them is repaired on the next open. Every tar is checked against its name
//! before use, so a corrupt, partial or foreign cache is detected, discarded and reported,
//! and never fails a build.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use kiln_oci::{Digest, HashingWriter, LayerBuilder, LayerOwnership};

/// File name of the cache metadata inside `committed/`.
const METADATA: &str = "metadata.json";
/// Version of the on-disk format; a cache with another version is discarded.
const FORMAT: u32 = 1;

/// One cached layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// diff_id of the layer tar (`sha256:…`).
    pub sha: String,
    /// The layer's metadata.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Types when it was saved.
    pub build: bool,
    /// Types when it was saved.
    pub launch: bool,
    /// Always true.
    pub cache: bool,
}

/// One buildpack's cached layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedBuildpack {
    /// Buildpack id.
    pub key: String,
    /// Version that saved them.
    pub version: String,
    /// Layers by name.
    pub layers: BTreeMap<String, CachedLayer>,
}

/// `metadata.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CacheMetadata {
    /// On-disk format version.
    pub format: u32,
    /// Buildpacks in group order.
    pub buildpacks: Vec<CachedBuildpack>,
}

impl CacheMetadata {
    /// The cached layers of buildpack `id`.
    pub fn buildpack(&self, id: &str) -> Option<&CachedBuildpack> {
        self.buildpacks.iter().find(|b| b.key == id)
    }
}

/// A cache problem. Only saving can fail a build, and callers turn that into a warning.
#[derive(Debug, thiserror::Error)]
#[error("cache {path}: {reason}")]
pub struct CacheError {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

fn err(path: &Path, reason: impl std::fmt::Display) -> CacheError {
    CacheError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// A layer to save.
pub struct LayerToSave<'a> {
    /// Buildpack id.
    pub buildpack: &'a str,
    /// Buildpack version.
    pub version: &'a str,
    /// Layer name.
    pub name: &'a str,
    /// Host directory of the layer.
    pub host_dir: &'a Path,
    /// Path of the layer in tars (`layers/<escaped id>/<name>`).
    pub dest: String,
    /// Types.
    pub build: bool,
    /// Types.
    pub launch: bool,
    /// Metadata.
    pub metadata: &'a serde_json::Map<String, serde_json::Value>,
    /// Layer-relative paths the buildpack marked executable (files under `bin/` always are).
    pub executables: &'a [String],
}

impl Cache {
    /// The cache in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn committed(&self) -> PathBuf {
        self.dir.join("committed")
    }

    fn previous(&self) -> PathBuf {
        self.dir.join("previous")
    }

    fn tar_path(dir: &Path, sha: &str) -> PathBuf {
        dir.join("layers")
            .join(format!("{}.tar", sha.trim_start_matches("sha256:")))
    }

    /// Read the committed metadata. A missing cache gives `Ok(None)`; a damaged one is
    /// discarded and reported in the `Err`, which callers print as a warning.
    pub fn load(&self) -> Result<Option<CacheMetadata>, CacheError> {
        self.remove_stale_staging();
        let committed = self.committed();
        if !committed.exists() && self.previous().is_dir() {
            // A crash between the two commit renames: the previous state is complete.
            std::fs::rename(self.previous(), &committed).map_err(|e| err(&committed, e))?;
        }
        let path = committed.join(METADATA);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if committed.exists() {
                    self.discard();
                    return Err(err(&path, "is missing; the cache was discarded"));
                }
                return Ok(None);
            }
            Err(e) => return Err(err(&path, e)),
        };
        match serde_json::from_slice::<CacheMetadata>(&bytes) {
            Ok(m) if m.format == FORMAT => Ok(Some(m)),
            Ok(m) => {
                self.discard();
                Err(err(
                    &path,
                    format!(
                        "has format {} (this Kiln writes {FORMAT}); the cache was discarded",
                        m.format
                    ),
                ))
            }
            Err(e) => {
                self.discard();
                Err(err(
                    &path,
                    format!("is not valid cache metadata ({e}); the cache was discarded"),
                ))
            }
        }
    }

    /// Remove `staging-*` directories left by a save that crashed before committing (one
    /// cache directory serves one build at a time).
    fn remove_stale_staging(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.filter_map(Result::ok) {
            if e.file_name().to_string_lossy().starts_with("staging-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Delete the committed state.
    pub fn discard(&self) {
        let _ = std::fs::remove_dir_all(self.committed());
    }

    /// Extract the cached layer `layer` into `target` (which must not exist), after checking
    /// the tar against its digest. `dest` is the layer's path inside the tar.
    pub fn restore_layer(
        &self,
        layer: &CachedLayer,
        dest: &str,
        target: &Path,
    ) -> Result<(), CacheError> {
        let tar_path = Self::tar_path(&self.committed(), &layer.sha);
        let mut file = std::fs::File::open(&tar_path).map_err(|e| err(&tar_path, e))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(|e| err(&tar_path, e))?;
        let actual = Digest::from_sha256(hasher.finalize().into());
        if actual.as_str() != layer.sha {
            // Never let a later save link the bad file back in.
            let _ = std::fs::remove_file(&tar_path);
            return Err(err(
                &tar_path,
                format!(
                    "is corrupt (content hashes to {actual}, expected {})",
                    layer.sha
                ),
            ));
        }
        let file = std::fs::File::open(&tar_path).map_err(|e| err(&tar_path, e))?;
        // Unpack under a scratch root with `unpack_in`, which refuses entries that would land
        // outside it (`..`, or through a symlink), then move the layer into place.
        let scratch = target.with_extension("restoring");
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).map_err(|e| err(&scratch, e))?;
        if let Err(e) = unpack_layer_tar(file, &tar_path, dest, &scratch) {
            // Leave nothing half-unpacked where the buildpack would see it.
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
        let unpacked = scratch.join(dest.trim_matches('/'));
        let result = if unpacked.is_dir() {
            std::fs::rename(&unpacked, target).map_err(|e| err(target, e))
        } else {
            std::fs::create_dir_all(target).map_err(|e| err(target, e))
        };
        let _ = std::fs::remove_dir_all(&scratch);
        result
    }

    /// Save `layers` as the new committed state. Tars whose digest is already committed are
    /// linked, not rewritten. Returns the number of tars written.
    pub fn save(
        &self,
        layers: &[LayerToSave<'_>],
        ownership: LayerOwnership,
    ) -> Result<usize, CacheError> {
        let (staging, staging_layers) = self.new_staging()?;
        let mut metadata = CacheMetadata {
            format: FORMAT,
            buildpacks: Vec::new(),
        };
        let mut written = 0;
        for l in layers {
            let mut builder = LayerBuilder::new(ownership);
            builder
                .add_dir_tree(l.host_dir, &l.dest, &|rel: &str| {
                    crate::layer_paths::is_executable(l.executables, rel)
                })
                .map_err(|e| err(l.host_dir, e))?;
            let (diff_id, _) = builder.diff_id().map_err(|e| err(l.host_dir, e))?;
            let sha = diff_id.to_string();
            let target = Self::tar_path(staging.path(), &sha);
            let existing = Self::tar_path(&self.committed(), &sha);
            if !target.exists() && std::fs::hard_link(&existing, &target).is_err() {
                let mut tmp = tempfile::NamedTempFile::new_in(&staging_layers)
                    .map_err(|e| err(&staging_layers, e))?;
                let hashing = builder
                    .write_tar(HashingWriter::new(std::io::BufWriter::new(
                        tmp.as_file_mut(),
                    )))
                    .map_err(|e| err(l.host_dir, e))?;
                let (mut buffered, check, _) = hashing.finish();
                buffered.flush().map_err(|e| err(&target, e))?;
                drop(buffered);
                if check != diff_id {
                    return Err(err(
                        l.host_dir,
                        "the layer changed while it was being cached",
                    ));
                }
                kiln_fs::atomic_file::commit(
                    tmp,
                    &target,
                    None,
                    kiln_fs::atomic_file::Durability::Synced,
                )
                .map_err(|e| err(&target, e))?;
                written += 1;
            }
            if !metadata.buildpacks.iter().any(|b| b.key == l.buildpack) {
                metadata.buildpacks.push(CachedBuildpack {
                    key: l.buildpack.to_owned(),
                    version: l.version.to_owned(),
                    layers: BTreeMap::new(),
                });
            }
            let Some(entry) = metadata
                .buildpacks
                .iter_mut()
                .find(|b| b.key == l.buildpack)
            else {
                continue;
            };
            entry.layers.insert(
                l.name.to_owned(),
                CachedLayer {
                    sha,
                    data: l.metadata.clone(),
                    build: l.build,
                    launch: l.launch,
                    cache: true,
                },
            );
        }
        let meta_path = staging.path().join(METADATA);
        let json = serde_json::to_vec(&metadata).map_err(|e| err(&meta_path, e))?;
        std::fs::write(&meta_path, json).map_err(|e| err(&meta_path, e))?;
        if let Ok(d) = std::fs::File::open(&staging_layers) {
            let _ = d.sync_all();
        }
        kiln_fs::fault::point("cache-before-commit");
        self.commit(&staging.keep())?;
        Ok(written)
    }

    /// A fresh `staging-*` directory with an empty `layers/`.
    fn new_staging(&self) -> Result<(tempfile::TempDir, PathBuf), CacheError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| err(&self.dir, e))?;
        let staging = tempfile::Builder::new()
            .prefix("staging-")
            .tempdir_in(&self.dir)
            .map_err(|e| err(&self.dir, e))?;
        let staging_layers = staging.path().join("layers");
        std::fs::create_dir_all(&staging_layers).map_err(|e| err(&staging_layers, e))?;
        Ok((staging, staging_layers))
    }

    /// The committed tar of the layer with diff_id `sha`.
    pub fn layer_tar(&self, sha: &str) -> PathBuf {
        Self::tar_path(&self.committed(), sha)
    }

    /// Replace the committed state with `metadata` and its tars, taken from `tar_for(sha)`
    /// (hard-linked when possible, else copied). Used to mirror a cache image locally.
    pub fn import(
        &self,
        metadata: &CacheMetadata,
        tar_for: &dyn Fn(&str) -> PathBuf,
    ) -> Result<(), CacheError> {
        let (staging, _) = self.new_staging()?;
        for layer in metadata.buildpacks.iter().flat_map(|b| b.layers.values()) {
            let source = tar_for(&layer.sha);
            let target = Self::tar_path(staging.path(), &layer.sha);
            if target.exists() {
                continue;
            }
            if std::fs::hard_link(&source, &target).is_err() {
                std::fs::copy(&source, &target).map_err(|e| err(&source, e))?;
            }
        }
        let meta_path = staging.path().join(METADATA);
        let json = serde_json::to_vec(&CacheMetadata {
            format: FORMAT,
            buildpacks: metadata.buildpacks.clone(),
        })
        .map_err(|e| err(&meta_path, e))?;
        std::fs::write(&meta_path, json).map_err(|e| err(&meta_path, e))?;
        self.commit(&staging.keep())
    }

    fn commit(&self, staging: &Path) -> Result<(), CacheError> {
        let committed = self.committed();
        let previous = self.previous();
        let _ = std::fs::remove_dir_all(&previous);
        if committed.exists() {
            std::fs::rename(&committed, &previous).map_err(|e| err(&committed, e))?;
        }
        kiln_fs::fault::point("cache-between-renames");
        std::fs::rename(staging, &committed).map_err(|e| err(&committed, e))?;
        if let Ok(d) = std::fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        let _ = std::fs::remove_dir_all(&previous);
        Ok(())
    }
}

/// The default cache dir for an output image (named by `key`): `<caches>/build-cache/<hash>`.
pub fn default_dir(caches: &kiln_fs::CachePaths, key: &str) -> Option<PathBuf> {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    Some(caches.build_caches()?.join(&hash[..16]))
}

/// Unpack the cached layer tar `file` (at `tar_path`) under `scratch`: only entries of the
/// layer `dest`, never outside `scratch`.
fn unpack_layer_tar(
    file: std::fs::File,
    tar_path: &Path,
    dest: &str,
    scratch: &Path,
) -> Result<(), CacheError> {
    let mut archive = tar::Archive::new(file);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(false);
    let prefix = format!("{}/", dest.trim_matches('/'));
    for entry in archive.entries().map_err(|e| err(tar_path, e))? {
        let mut entry = entry.map_err(|e| err(tar_path, e))?;
        let path = entry
            .path()
            .map_err(|e| err(tar_path, e))?
            .to_string_lossy()
            .into_owned();
        if !path.trim_start_matches('/').starts_with(&prefix)
            && !prefix.starts_with(path.trim_start_matches('/'))
        {
            return Err(err(
                tar_path,
                format!("entry {path} is not part of layer {dest}"),
            ));
        }
        let rel = std::path::PathBuf::from(path.trim_start_matches('/'));
        if kiln_fs::long_path::is_long(&scratch.join(&rel)) {
            // Too long for plain calls: created directory by directory (the same checks:
            // plain components only, never through a symlink).
            kiln_fs::long_path::unpack_long(scratch, &rel, &mut entry)
                .map_err(|e| err(scratch, format!("entry {path}: {e}")))?;
            continue;
        }
        let inside = entry.unpack_in(scratch).map_err(|e| err(scratch, e))?;
        if !inside {
            return Err(err(tar_path, format!("entry {path} leaves the layer")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
