//! On-disk cache of precompiled components, keyed by the component's sha256 and the engine's
//! compatibility hash, so a component is compiled only when it or the engine changed.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where precompiled components live.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from a `.cwasm` file.
    Hit,
    /// Compiled now (and stored, if the cache is writable).
    Compiled,
}

impl CompileCache {
    /// A cache in `dir`, or no cache at all when `None`.
    pub fn new(engine: &Engine, dir: Option<PathBuf>) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Self {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    fn entry(&self, wasm_sha256: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{wasm_sha256}-{}.cwasm", self.engine_key)))
    }

    /// Load the component for `bytes` from the cache, or compile it and store the result.
    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, String, CacheOutcome)> {
        let sha = hex::encode(Sha256::digest(bytes));
        if let Some(path) = self.entry(&sha)
            && path.is_file()
        {
            // SAFETY: the file was written by `store` below from `engine.precompile_component`
            // output of the same engine configuration (the name carries the compatibility
            // hash); the cache dir belongs to the user running Kiln.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((component, sha, CacheOutcome::Hit));
            }
            tracing::warn!(
                "discarding unreadable compile cache entry {}",
                path.display()
            );
            let _ = std::fs::remove_file(&path);
        }
        let precompiled = engine.precompile_component(bytes)?;
        if let Some(path) = self.entry(&sha)
            && let Err(e) = store(&path, &precompiled)
        {
            tracing::warn!("could not write compile cache {}: {e}", path.display());
        }
        // SAFETY: `precompiled` was just produced by this engine.
        let component = unsafe { Component::deserialize(engine, &precompiled)? };
        Ok((component, sha, CacheOutcome::Compiled))
    }
}

fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("cache path has no parent"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
