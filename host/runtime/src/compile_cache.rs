//! On-disk cache of precompiled components, keyed by the component's sha256 and the engine's
//! compatibility hash, so a component is compiled only when it or the engine changed.
//!
//! A `.cwasm` file is native code that wasmtime loads without checking it, so whoever can
//! write the cache chooses code Kiln runs. The trust is made explicit:
//! - the cache directory is created private (0700) and is used only while it and its files
//!   belong to the user running Kiln and nobody else can write them;
//! - each artifact has a sidecar (`.sum`) binding it to its component: the component's
//!   sha256 and the artifact's own sha256, both checked before deserialising, so an artifact
//!   copied over another one's name, or damaged, is detected and recompiled with a warning.
//!
//! A cache shared between machines (CI) must come from a trusted source; `--compile-cache
//! none` compiles in memory instead.

use std::hash::{DefaultHasher, Hash, Hasher};
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
        let entry = self.entry(&sha).filter(|path| match trusted_dir(path) {
            Ok(()) => true,
            Err(why) => {
                tracing::warn!("not using the compile cache: {why}; compiling in memory");
                false
            }
        });
        if let Some(path) = &entry
            && path.is_file()
        {
            match read_checked(path, &sha) {
                Ok(artifact) => {
                    // SAFETY: the artifact's sha256 matches the sidecar written by `store`
                    // next to `engine.precompile_component` output for this very component
                    // (`sha`) and engine (the name carries the compatibility hash), and the
                    // cache dir and both files are private to the user running Kiln.
                    if let Ok(component) = unsafe { Component::deserialize(engine, &artifact) } {
                        return Ok((component, sha, CacheOutcome::Hit));
                    }
                    tracing::warn!(
                        "discarding unreadable compile cache entry {}",
                        path.display()
                    );
                }
                Err(why) => tracing::warn!(
                    "discarding compile cache entry {}: {why}; recompiling",
                    path.display()
                ),
            }
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(sidecar(path));
        }
        let precompiled = engine.precompile_component(bytes)?;
        if let Some(path) = &entry
            && let Err(e) = store(path, &sha, &precompiled)
        {
            tracing::warn!("could not write compile cache {}: {e}", path.display());
        }
        // SAFETY: `precompiled` was just produced by this engine.
        let component = unsafe { Component::deserialize(engine, &precompiled)? };
        Ok((component, sha, CacheOutcome::Compiled))
    }
}

/// The sidecar of an artifact: `<name>.cwasm.sum`.
fn sidecar(artifact: &Path) -> PathBuf {
    let mut name = artifact.as_os_str().to_owned();
    name.push(".sum");
    PathBuf::from(name)
}

fn sidecar_text(component_sha: &str, artifact: &[u8]) -> String {
    format!(
        "component sha256:{component_sha}\nartifact sha256:{}\n",
        hex::encode(Sha256::digest(artifact))
    )
}

/// Read an artifact whose sidecar names `component_sha` and the artifact's own digest.
fn read_checked(path: &Path, component_sha: &str) -> Result<Vec<u8>, String> {
    trusted_file(path)?;
    let sum_path = sidecar(path);
    trusted_file(&sum_path)?;
    let sum =
        std::fs::read_to_string(&sum_path).map_err(|e| format!("no readable sidecar: {e}"))?;
    let artifact = std::fs::read(path).map_err(|e| e.to_string())?;
    if sum != sidecar_text(component_sha, &artifact) {
        return Err(
            "it does not match its sidecar (another component's artifact, or damaged)".into(),
        );
    }
    Ok(artifact)
}

fn store(path: &Path, component_sha: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("cache path has no parent"))?;
    create_private_dir(dir)?;
    // The sidecar first: an artifact is never there without its binding.
    kiln_fs::atomic_file::write(
        &sidecar(path),
        sidecar_text(component_sha, bytes).as_bytes(),
    )?;
    kiln_fs::atomic_file::write(path, bytes)
}

/// Create `dir` (and parents) with mode 0700 where Kiln creates it.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// The cache dir of `artifact` may be used: absent (it will be created private), or owned
/// by this user and not writable by others.
fn trusted_dir(artifact: &Path) -> Result<(), String> {
    let Some(dir) = artifact.parent() else {
        return Ok(());
    };
    match std::fs::metadata(dir) {
        Ok(meta) => private(dir, &meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot inspect {}: {e}", dir.display())),
    }
}

fn trusted_file(path: &Path) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    private(path, &meta)
}

#[cfg(unix)]
fn private(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let me = rustix::process::getuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "{} belongs to uid {}, not to the user running Kiln (uid {me})",
            path.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by other users (mode {:o}); run chmod go-w on it",
            path.display(),
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn private(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecars_bind_an_artifact_to_its_component() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("components");
        let a = dir.join("aaaa-k.cwasm");
        let b = dir.join("bbbb-k.cwasm");
        store(&a, "aaaa", b"artifact of a").unwrap();
        store(&b, "bbbb", b"artifact of b").unwrap();
        assert_eq!(read_checked(&a, "aaaa").unwrap(), b"artifact of a");
        // b's artifact copied over a's: detected.
        std::fs::copy(&b, &a).unwrap();
        assert!(read_checked(&a, "aaaa").is_err());
        // b's artifact and sidecar copied over a's: the sidecar names another component.
        std::fs::copy(sidecar(&b), sidecar(&a)).unwrap();
        assert!(read_checked(&a, "aaaa").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
            assert!(
                trusted_dir(&a)
                    .unwrap_err()
                    .contains("writable by other users")
            );
        }
    }
}
