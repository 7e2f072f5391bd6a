//! Native commands in the build image: whether this build can run any, and setting the
//! execute bit on disk of files a command runs (WASI cannot set modes).

use std::path::Path;

use kiln_sdk::exec::{Command, ExecError, ExecErrorKind, ExecFailure};

use crate::error::PythonError;

/// Whether native commands can run in this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    /// They can (the build has a build image).
    Available,
    /// They cannot; the host's explanation (it names `--build-image`).
    Unavailable(ExecError),
}

/// Ask the host by running `true` in the build image.
pub fn probe() -> Result<Native, PythonError> {
    match Command::new("true").env_clear().status() {
        Ok(_) => Ok(Native::Available),
        Err(kiln_sdk::Error::Exec {
            source: ExecFailure::Host(e),
            ..
        }) if e.kind == ExecErrorKind::Unavailable => Ok(Native::Unavailable(e)),
        Err(source) => Err(PythonError::Native {
            what: "run a command in the build image".into(),
            source,
        }),
    }
}

/// `chmod a+x` the `files` (relative to `dir`) in the build image.
pub fn make_executable(dir: &Path, files: &[String]) -> Result<(), PythonError> {
    if files.is_empty() {
        return Ok(());
    }
    Command::new("chmod")
        .env_clear()
        .args(["a+x", "--"])
        .args(files.iter().map(String::as_str))
        .current_dir(dir)
        .run()
        .map_err(|source| PythonError::Native {
            what: format!("make {} file(s) executable", files.len()),
            source,
        })
}
