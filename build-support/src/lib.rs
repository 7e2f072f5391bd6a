//! Used from build scripts: compile workspace buildpack crates to `wasm32-wasip2` components
//! with a nested `cargo build`, in a target directory of their own so the outer build's lock
//! is not contended. Also builds the static Linux launcher embedded in images
//! ([`build_launchers`]).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target buildpacks are compiled for.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile used for buildpacks (size-optimised release, see the root `Cargo.toml`).
pub const PROFILE: &str = "wasm";

/// Environment variables of the outer build that must not leak into the nested one.
pub const SCRUBBED_ENV: [&str; 9] = [
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

/// A nested `cargo build --quiet --locked` in `root` with its own `target_dir`, without the
/// outer build's flags and wrappers.
fn nested_cargo_build(root: &Path, target_dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .arg("build")
        .arg("--quiet")
        .arg("--locked")
        .arg("--target-dir")
        .arg(target_dir);
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    cmd
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
    let mut cmd = nested_cargo_build(&root, &target_dir);
    cmd.arg("--target")
        .arg(TARGET)
        .arg("--profile")
        .arg(PROFILE);
    for p in packages {
        cmd.arg("-p").arg(p);
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

/// The cargo package of the launcher embedded in images (`launcher/`).
pub const LAUNCHER_PACKAGE: &str = "kiln-launcher";

/// The cargo profile used for the launcher (size-optimised, static; see the root `Cargo.toml`).
pub const LAUNCHER_PROFILE: &str = "launcher";

/// The launcher's targets: (OCI architecture, Rust musl target). Both link with `rust-lld`
/// (`.cargo/config.toml`), so any host can build them.
pub const LAUNCHER_TARGETS: [(&str, &str); 2] = [
    ("amd64", "x86_64-unknown-linux-musl"),
    ("arm64", "aarch64-unknown-linux-musl"),
];

/// Compile the static Linux launcher (`kiln-launcher`, binary `launcher`) for every
/// [`LAUNCHER_TARGETS`] entry and return (OCI architecture, binary path) pairs, in that order.
///
/// Runs one nested `cargo build` in its own target directory (`target/launcher-build`, or
/// `$KILN_LAUNCHER_TARGET_DIR`), with the outer build's variables scrubbed as in
/// [`build_components`]. Prints `cargo:rerun-if-changed` lines for `launcher/`, `Cargo.lock`,
/// the root `Cargo.toml` (the profile) and `.cargo/config.toml` (the linker). Panics with a
/// readable message on failure, which is how build scripts report errors.
pub fn build_launchers(manifest_dir: &Path) -> Vec<(String, PathBuf)> {
    let root = workspace_root(manifest_dir);
    for watched in ["launcher", "Cargo.lock", "Cargo.toml", ".cargo/config.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let target_dir = std::env::var_os("KILN_LAUNCHER_TARGET_DIR")
        .map_or_else(|| root.join("target").join("launcher-build"), PathBuf::from);
    let mut cmd = nested_cargo_build(&root, &target_dir);
    cmd.args([
        "-p",
        LAUNCHER_PACKAGE,
        "--bin",
        "launcher",
        "--profile",
        LAUNCHER_PROFILE,
    ]);
    for (_, target) in LAUNCHER_TARGETS {
        cmd.arg("--target").arg(target);
    }
    let targets = LAUNCHER_TARGETS.map(|(_, t)| t);
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building the launcher for {targets:?} failed ({s}); are the targets installed? \
             run `rustup target add {}`",
            targets.join(" ")
        ),
        Err(e) => panic!("could not run cargo to build the launcher: {e}"),
    }
    LAUNCHER_TARGETS
        .iter()
        .map(|(arch, target)| {
            let path = target_dir
                .join(target)
                .join(LAUNCHER_PROFILE)
                .join("launcher");
            assert!(
                path.is_file(),
                "cargo built the launcher but {} is missing",
                path.display()
            );
            ((*arch).to_owned(), path)
        })
        .collect()
}
