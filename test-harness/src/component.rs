//! Which buildpacks a test build runs, and compiling a buildpack crate to its component.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::Deserialize;

use crate::HarnessError;

/// A buildpack for [`crate::TestBuild::buildpack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildpackRef {
    /// What `kiln build --buildpack` takes: a `.wasm` file, a directory with
    /// `buildpack.toml`, or an embedded id (`kiln/nodejs`).
    Reference(String),
    /// A buildpack crate, compiled to a `wasm32-wasip2` component (profile `wasm`) before
    /// the build, once per test process.
    Crate(PathBuf),
}

impl BuildpackRef {
    /// The crate in `dir` (usually `env!("CARGO_MANIFEST_DIR")`).
    pub fn crate_at(dir: impl Into<PathBuf>) -> Self {
        Self::Crate(dir.into())
    }

    /// The reference the host takes, compiling a crate first.
    pub(crate) fn resolve(&self) -> Result<String, HarnessError> {
        match self {
            Self::Reference(r) => Ok(r.clone()),
            Self::Crate(dir) => Ok(compile_crate(dir)?.display().to_string()),
        }
    }
}

impl From<&str> for BuildpackRef {
    fn from(reference: &str) -> Self {
        Self::Reference(reference.to_owned())
    }
}

impl From<String> for BuildpackRef {
    fn from(reference: String) -> Self {
        Self::Reference(reference)
    }
}

impl From<&Path> for BuildpackRef {
    fn from(path: &Path) -> Self {
        Self::Reference(path.display().to_string())
    }
}

impl From<PathBuf> for BuildpackRef {
    fn from(path: PathBuf) -> Self {
        Self::from(path.as_path())
    }
}

#[derive(Deserialize)]
struct Manifest {
    package: Package,
}

#[derive(Deserialize)]
struct Package {
    name: String,
}

/// Compile the crate in `dir` for `wasm32-wasip2` with the `wasm` profile, in the target
/// directory the host's build script uses (`<workspace>/target/wasm-guests`, or
/// `$KILN_WASM_TARGET_DIR`), and return the component's path. Remembered per process.
pub fn compile_crate(dir: &Path) -> Result<PathBuf, HarnessError> {
    static BUILT: Mutex<BTreeMap<PathBuf, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(dir) {
        return Ok(path.clone());
    }
    let manifest_path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(HarnessError::io("read", &manifest_path))?;
    let manifest: Manifest = toml::from_str(&text).map_err(|source| HarnessError::Toml {
        path: manifest_path.clone(),
        source,
    })?;
    let root = kiln_build_support::workspace_root(dir);
    let target_dir = std::env::var_os("KILN_WASM_TARGET_DIR")
        .map_or_else(|| root.join("target").join("wasm-guests"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(dir)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest_path)
        .args([
            "--target",
            kiln_build_support::TARGET,
            "--profile",
            kiln_build_support::PROFILE,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for var in kiln_build_support::SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let failed = |reason: String| HarnessError::Compile {
        dir: dir.to_path_buf(),
        reason,
    };
    let out = cmd
        .output()
        .map_err(|e| failed(format!("could not run cargo: {e}")))?;
    if !out.status.success() {
        return Err(failed(format!(
            "cargo build failed ({}); is the target installed? `rustup target add {}`\n{}",
            out.status,
            kiln_build_support::TARGET,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let wasm = target_dir
        .join(kiln_build_support::TARGET)
        .join(kiln_build_support::PROFILE)
        .join(format!("{}.wasm", manifest.package.name.replace('-', "_")));
    if !wasm.is_file() {
        return Err(failed(format!(
            "cargo succeeded but {} is missing",
            wasm.display()
        )));
    }
    built.insert(dir.to_path_buf(), wasm.clone());
    Ok(wasm)
}
