//! Why a test build could not run or failed.

use std::path::PathBuf;

/// A failure of the harness or of the build it ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// A file or directory of the harness could not be read or written.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The buildpack crate could not be compiled to a component.
    #[error("could not compile the buildpack crate {}: {reason}", dir.display())]
    Compile {
        /// The crate directory.
        dir: PathBuf,
        /// What cargo said, or why it could not run.
        reason: String,
    },
    /// The host refused or failed the build; `exit_code` is what `kiln build` would exit with.
    #[error("the build failed (exit code {exit_code}): {message}")]
    Build {
        /// The host's error with its causes.
        message: String,
        /// The `kiln` exit code for it (see the README's table).
        exit_code: u8,
        /// The build log up to the failure.
        log: Vec<crate::LogLine>,
    },
    /// A file the host wrote (`group.toml`, `<layer>.toml`, …) does not parse.
    #[error("{} is not valid TOML", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The TOML error.
        #[source]
        source: toml::de::Error,
    },
    /// A helper tool (a run-image script) failed.
    #[error("{tool} failed: {message}")]
    Tool {
        /// The tool.
        tool: String,
        /// Its output.
        message: String,
    },
}

impl HarnessError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
