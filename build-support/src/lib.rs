//! Used from build scripts: compile workspace buildpack crates to `wasm32-wasip2` components
//! with a nested `cargo build`, in a target directory of their own so the outer build's lock
//! is not contended.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target buildpacks are compiled for.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile used for buildpacks (size-optimised release, see the root `Cargo.toml`).
pub const PROFILE: &str = "wasm";

/// Environment variables of the outer build that must not leak into the nested one.
const SCRUBBED_ENV: [&str; 9] = [
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MAKEFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
];

/// The workspace root, found from the calling crate's manifest directory.
pub fn workspace_root(manifest_dir: &Path) -> PathBuf {
    manifest_dir
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file() || dir.join("rust-toolchain.toml").is_file())
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// Compile `packages` (cargo package names) and return the path of each `.wasm`, in order.
///
/// Prints `cargo:rerun-if-changed` lines for `watch` (directories relative to the workspace).
/// Panics with a readable message on failure, which is how build scripts report errors.
pub fn build_components(manifest_dir: &Path, packages: &[&str], watch: &[&str]) -> Vec<PathBuf> {
    let root = workspace_root(manifest_dir);
    for dir in watch {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    let target_dir = std::env::var_os("KILN_WASM_TARGET_DIR")
        .map_or_else(|| root.join("target").join("wasm-guests"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .arg("build")
        .arg("--quiet")
        .arg("--locked")
        .arg("--target")
        .arg(TARGET)
        .arg("--profile")
        .arg(PROFILE)
        .arg("--target-dir")
        .arg(&target_dir);
    for p in packages {
        cmd.arg("-p").arg(p);
    }
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building buildpack components {packages:?} for {TARGET} failed ({s}); \
             is the target installed? run `rustup target add {TARGET}`"
        ),
        Err(e) => panic!("could not run cargo to build buildpack components: {e}"),
    }
    packages
        .iter()
        .map(|p| {
            target_dir
                .join(TARGET)
                .join(PROFILE)
                .join(format!("{}.wasm", p.replace('-', "_")))
        })
        .collect()
}
