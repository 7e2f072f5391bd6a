//! Compiles the test buildpacks in `tests/buildpacks/` to components and generates
//! `test_buildpacks.rs` (their names and `.wasm` paths) for `src/lib.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;

/// A real buildpack the tests also use as a component file (the fleet tests package it as
/// an artifact, as a team would): (short name, cargo package).
const REAL: [(&str, &str); 1] = [("procfile", "kiln-buildpack-procfile")];

/// Short names of the test buildpacks; the cargo package is `kiln-test-buildpack-<name>`.
const NAMES: [&str; 6] = [
    "provider",
    "consumer",
    "hostile",
    "raw",
    "not-buildpack",
    "native",
];

fn main() {
    // The compiler of this build, so `kiln_bin()` can build the kiln binary with the same one
    // (a `cargo` found another way may belong to another toolchain and rebuild everything).
    if let Some(rustc) = std::env::var_os("RUSTC") {
        println!(
            "cargo:rustc-env=KILN_TESTS_RUSTC={}",
            rustc.to_string_lossy()
        );
    }
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let packages: Vec<String> = NAMES
        .iter()
        .map(|n| format!("kiln-test-buildpack-{n}"))
        .chain(REAL.iter().map(|(_, package)| (*package).to_owned()))
        .collect();
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    let wasm = kiln_build_support::build_components(
        &manifest_dir,
        &packages,
        &[
            "tests/buildpacks",
            "buildpacks-wasm/procfile",
            "sdk/src",
            "sdk/Cargo.toml",
            "spec/src",
            "wit",
        ],
    );
    let mut code = String::from("[\n");
    let names = NAMES
        .iter()
        .copied()
        .chain(REAL.iter().map(|(name, _)| *name));
    for (name, path) in names.zip(&wasm) {
        // A copy, so a later rebuild of the guests cannot change what these tests run.
        let copy = out_dir.join(path.file_name().expect("wasm file name"));
        std::fs::copy(path, &copy)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", path.display(), copy.display()));
        writeln!(code, "    ({name:?}, {:?}),", copy.display().to_string()).expect("write");
    }
    code.push_str("]\n");
    std::fs::write(out_dir.join("test_buildpacks.rs"), code).expect("write test_buildpacks.rs");
}
