//! Artefacts compiled into the `kiln` binary by `host/build.rs`: the default buildpacks (wasm
//! components) and the launcher for each supported architecture (static Linux executables).

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The launcher for OCI architecture `arch` (`amd64`, `arm64`), if Kiln embeds one.
pub fn launcher_for(arch: &str) -> Option<&'static [u8]> {
    EMBEDDED_LAUNCHERS
        .iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, bytes)| *bytes)
}
