//! Where buildpack layers sit inside images, and which of their files are executable.

/// Path of a buildpack layer inside layer tars.
pub fn layer_dest(escaped_id: &str, layer: &str) -> String {
    format!("layers/{escaped_id}/{layer}")
}

/// Whether `rel` (a path inside a layer) is exported executable: files under `bin/` and the
/// paths the buildpack listed.
pub fn is_executable(executables: &[String], rel: &str) -> bool {
    rel.starts_with("bin/") || executables.iter().any(|e| e == rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_and_listed_paths_are_executable() {
        let listed = vec!["lib/run.sh".to_owned()];
        assert!(is_executable(&listed, "bin/node"));
        assert!(is_executable(&listed, "lib/run.sh"));
        assert!(!is_executable(&listed, "lib/other.sh"));
        assert_eq!(layer_dest("kiln_nodejs", "node"), "layers/kiln_nodejs/node");
    }
}
