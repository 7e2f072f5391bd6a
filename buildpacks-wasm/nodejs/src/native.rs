//! Native commands in the build image: whether this build can run any, and making unpacked
//! files executable on disk for them (through `kiln_sdk::exec`).

use std::path::Path;

use kiln_sdk::exec::ExecError;

use crate::error::NodejsError;

/// Whether native commands can run in this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    /// They can (the build has a build image).
    Available,
    /// They cannot; the host's explanation (it names `--build-image`).
    Unavailable(ExecError),
}

/// Ask the host whether native commands can run.
pub fn probe() -> Result<Native, NodejsError> {
    match kiln_sdk::exec::native_steps_refusal() {
        Ok(None) => Ok(Native::Available),
        Ok(Some(e)) => Ok(Native::Unavailable(e)),
        Err(source) => Err(NodejsError::Native {
            what: "run a command in the build image".into(),
            source,
        }),
    }
}

/// `chmod a+x` the `files` (relative to `dir`) in the build image.
pub fn make_executable(dir: &Path, files: &[String]) -> Result<(), NodejsError> {
    kiln_sdk::exec::make_executable(dir, files).map_err(|source| NodejsError::Native {
        what: format!("make {} unpacked file(s) executable", files.len()),
        source,
    })
}
