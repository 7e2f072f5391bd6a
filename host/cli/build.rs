//! Compiles the buildpacks and launchers embedded in the `kiln` binary and generates
//! `embedded.rs`.

use std::fmt::Write as _;
use std::path::PathBuf;

/// (buildpack id, cargo package) of every embedded buildpack, in default order.
const EMBEDDED: [(&str, &str); 4] = [
    ("kiln/nodejs", "kiln-buildpack-nodejs"),
    ("kiln/go", "kiln-buildpack-go"),
    ("kiln/python", "kiln-buildpack-python"),
    ("kiln/procfile", "kiln-buildpack-procfile"),
];

/// (constant name, cargo package) of components embedded for the host's own use, not tried
/// by default.
const RUNNERS: [(&str, &str); 1] = [("INLINE_RUNNER", "kiln-buildpack-inline")];

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let packages: Vec<&str> = EMBEDDED
        .iter()
        .chain(RUNNERS.iter())
        .map(|(_, p)| *p)
        .collect();
    let wasm = kiln_build_support::build_components(
        &manifest_dir,
        &packages,
        &["buildpacks-wasm", "sdk/src", "spec/src", "wit"],
    );
    let mut code = String::from(
        "/// Buildpacks compiled into this binary: (id, component bytes).\npub const EMBEDDED_BUILDPACKS: &[(&str, &[u8])] = &[\n",
    );
    for ((id, _), path) in EMBEDDED.iter().zip(&wasm) {
        let copy = out_dir.join(path.file_name().expect("wasm file name"));
        std::fs::copy(path, &copy).expect("copy embedded component");
        writeln!(
            code,
            "    ({id:?}, include_bytes!({:?})),",
            copy.display().to_string()
        )
        .expect("write");
    }
    code.push_str("];\n");
    for ((name, package), path) in RUNNERS.iter().zip(&wasm[EMBEDDED.len()..]) {
        let copy = out_dir.join(path.file_name().expect("wasm file name"));
        std::fs::copy(path, &copy).expect("copy embedded component");
        writeln!(
            code,
            "/// The component of `{package}`.\npub const {name}: &[u8] = include_bytes!({:?});",
            copy.display().to_string()
        )
        .expect("write");
    }
    code.push_str(
        "/// Launchers compiled into this binary: (OCI architecture, static Linux executable).\npub const EMBEDDED_LAUNCHERS: &[(&str, &[u8])] = &[\n",
    );
    for (arch, path) in kiln_build_support::build_launchers(&manifest_dir) {
        let copy = out_dir.join(format!("launcher-{arch}"));
        std::fs::copy(&path, &copy).expect("copy launcher");
        writeln!(
            code,
            "    ({arch:?}, include_bytes!({:?})),",
            copy.display().to_string()
        )
        .expect("write");
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("embedded.rs"), code).expect("write embedded.rs");
}
