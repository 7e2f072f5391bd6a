//! Native commands in the build image: whether this build can run any, and making unpacked
//! files executable on disk for them (unpacking records which files are executable for the
//! image, but WASI cannot set modes, and scripts run those files themselves).

use std::path::Path;

use kiln_sdk::exec::{Command, ExecError, ExecErrorKind, ExecFailure};

use crate::error::NodejsError;

/// Whether native commands can run in this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Native {
    /// They can (the build has a build image).
    Available,
    /// They cannot; the host's explanation (it names `--build-image`).
    Unavailable(ExecError),
}

/// Ask the host by running `true` in the build image (any exit status means it ran).
pub fn probe() -> Result<Native, NodejsError> {
    match Command::new("true").env_clear().status() {
        Ok(_) => Ok(Native::Available),
        Err(kiln_sdk::Error::Exec {
            source: ExecFailure::Host(e),
            ..
        }) if e.kind == ExecErrorKind::Unavailable => Ok(Native::Unavailable(e)),
        Err(source) => Err(NodejsError::Native {
            what: "run a command in the build image".into(),
            source,
        }),
    }
}

/// Most argument bytes given to one `chmod`, well under the host's limits.
const CHMOD_ARGS_BYTES: usize = 64 * 1024;

/// `chmod a+x` the `files` (relative to `dir`) in the build image, in as few commands as fit.
pub fn make_executable(dir: &Path, files: &[String]) -> Result<(), NodejsError> {
    let mut rest = files;
    while !rest.is_empty() {
        let mut size = 0;
        let count = rest
            .iter()
            .take_while(|f| {
                size += f.len() + 1;
                size <= CHMOD_ARGS_BYTES
            })
            .count()
            .max(1);
        let (chunk, after) = rest.split_at(count);
        Command::new("chmod")
            .env_clear()
            .args(["a+x", "--"])
            .args(chunk.iter().map(String::as_str))
            .current_dir(dir)
            .run()
            .map_err(|source| NodejsError::Native {
                what: format!("make {} unpacked file(s) executable", chunk.len()),
                source,
            })?;
        rest = after;
    }
    Ok(())
}
