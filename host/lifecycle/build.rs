//! Compiles the buildpack components the unit tests of the phases run (`detect`, `build`,
//! and the buildpacks `export` and `restore` need), and exposes each `.wasm` path to them as
//! `KILN_LIFECYCLE_TEST_WASM_<NAME>` (name upper-cased, `-` as `_`).
//!
//! The components are compiled only when something they are built from changed (they are
//! cached in `target/wasm-guests`), and only for this crate's own tests: nothing here ends up
//! in the library.

use std::path::PathBuf;

/// (short name, cargo package) of every component the tests load.
const COMPONENTS: [(&str, &str); 5] = [
    ("procfile", "kiln-buildpack-procfile"),
    ("provider", "kiln-test-buildpack-provider"),
    ("consumer", "kiln-test-buildpack-consumer"),
    ("raw", "kiln-test-buildpack-raw"),
    ("hostile", "kiln-test-buildpack-hostile"),
];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let packages: Vec<&str> = COMPONENTS.iter().map(|(_, p)| *p).collect();
    let wasm = kiln_build_support::build_components(
        &manifest_dir,
        &packages,
        &[
            "buildpacks-wasm",
            "tests/buildpacks",
            "sdk/src",
            "sdk/Cargo.toml",
            "spec/src",
            "wit",
        ],
    );
    for ((name, _), path) in COMPONENTS.iter().zip(&wasm) {
        // A copy, so a later rebuild of the guests cannot change what these tests run.
        let copy = out_dir.join(path.file_name().expect("wasm file name"));
        std::fs::copy(path, &copy)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", path.display(), copy.display()));
        println!(
            "cargo:rustc-env=KILN_LIFECYCLE_TEST_WASM_{}={}",
            name.to_uppercase().replace('-', "_"),
            copy.display()
        );
    }
}
