//! The SDK's error type, and how any error is reported to the user.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::extract::ExtractFailure;
use crate::fetch::FetchError;

/// An error raised by the SDK, or by a buildpack that uses it as its own error type.
///
/// Each kind keeps its cause as [`std::error::Error::source`]; [`Report`] renders the chain
/// for the user.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What was being done (`read`, `create layer`, …).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A download through the host failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// An archive could not be unpacked.
    #[error("could not extract {}", archive.display())]
    Extract {
        /// The archive.
        archive: PathBuf,
        /// Why.
        #[source]
        source: ExtractFailure,
    },
    /// A native command failed or exited with an error.
    #[error("the command {program} failed")]
    Exec {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: crate::exec::ExecFailure,
    },
    /// A symlink could not be created.
    #[error("could not create the symlink {}", link.display())]
    Symlink {
        /// The link's path.
        link: PathBuf,
        /// Why.
        #[source]
        source: kiln_extract::Error,
    },
    /// Metadata (of a layer, a plan entry) could not be read or written as JSON.
    #[error("invalid metadata of {what}")]
    InvalidMetadata {
        /// Whose metadata.
        what: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// Metadata that must be a JSON object is not one.
    #[error("metadata of {what} must serialise to a JSON object")]
    MetadataNotAnObject {
        /// Whose metadata.
        what: String,
    },
    /// An integrity string (`sha256:<hex>`, SRI) does not parse.
    #[error(transparent)]
    InvalidIntegrity(#[from] kiln_spec::IntegrityError),
    /// A buildpack id, layer name or process type is invalid.
    #[error(transparent)]
    InvalidName(#[from] kiln_spec::NameError),
    /// A layer file path is absolute or contains `..`.
    #[error("layer path {0:?} must be relative and must not contain '..'")]
    LayerPath(String),
    /// The build result breaks a rule (duplicate process type or layer, two defaults, …).
    #[error("invalid build result: {0}")]
    InvalidResult(String),
    /// A message from the buildpack, with optional detail (a hint for the user).
    #[error("{message}")]
    Message {
        /// One line saying what went wrong.
        message: String,
        /// What to do about it, or empty.
        detail: String,
    },
    /// Another error with a hint for the user (see [`Error::with_detail`]).
    #[error("{source}")]
    Hinted {
        /// The hint.
        hint: String,
        /// The error.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An error with a one-line message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Message {
            message: message.into(),
            detail: String::new(),
        }
    }

    /// Add detail, such as what the user should do. Other kinds keep their source.
    #[must_use]
    pub fn with_detail(self, detail: impl Into<String>) -> Self {
        match self {
            Self::Message { message, .. } => Self::Message {
                message,
                detail: detail.into(),
            },
            other => Self::Hinted {
                hint: detail.into(),
                source: Box::new(other),
            },
        }
    }

    /// An I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The detail or hint, possibly empty.
    pub fn detail(&self) -> &str {
        match self {
            Self::Message { detail, .. } => detail,
            Self::Hinted { hint, .. } => hint,
            _ => "",
        }
    }
}

/// An error rendered for the user: its own text, then its causes and hints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The error's own `Display` text.
    pub message: String,
    /// Hints and the chain of causes, `; `-separated, possibly empty.
    pub detail: String,
}

impl Report {
    /// Walk `error`'s source chain. Hints of SDK errors in the chain come first; a cause whose
    /// text repeats the one before it is skipped.
    pub fn new(error: &(dyn std::error::Error + 'static)) -> Self {
        let message = error.to_string();
        let mut hints = Vec::new();
        let mut causes: Vec<String> = Vec::new();
        let mut last = message.clone();
        let mut current = Some(error);
        while let Some(err) = current {
            if let Some(sdk) = err.downcast_ref::<Error>()
                && !sdk.detail().is_empty()
            {
                hints.push(sdk.detail().to_owned());
            }
            let text = err.to_string();
            if text != last {
                causes.push(text.clone());
                last = text;
            }
            current = err.source();
        }
        let detail = causes
            .into_iter()
            .chain(hints)
            .collect::<Vec<_>>()
            .join("; ");
        Self { message, detail }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_their_source() {
        let err = Error::io(
            "read",
            Path::new("/workspace/Procfile"),
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(err.to_string(), "could not read /workspace/Procfile");
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(source.to_string(), "gone");
        let report = Report::new(&err);
        assert_eq!(report.detail, "gone");
        assert_eq!(
            report.to_string(),
            "could not read /workspace/Procfile: gone"
        );
    }

    #[test]
    fn hints_follow_the_causes() {
        let err = Error::io("open", Path::new("/x"), std::io::Error::other("denied"))
            .with_detail("check the permissions");
        assert_eq!(err.to_string(), "could not open /x");
        assert_eq!(err.detail(), "check the permissions");
        let report = Report::new(&err);
        assert_eq!(report.detail, "denied; check the permissions");
        let plain = Error::msg("no Procfile").with_detail("add one");
        assert!(matches!(&plain, Error::Message { detail, .. } if detail == "add one"));
        assert_eq!(Report::new(&plain).to_string(), "no Procfile: add one");
    }

    #[test]
    fn a_buildpack_error_chain_reaches_sdk_hints() {
        #[derive(Debug, thiserror::Error)]
        #[error("installing failed")]
        struct Outer(#[source] Error);
        let err = Outer(Error::msg("mirror unreachable").with_detail("set MIRROR"));
        let report = Report::new(&err);
        assert_eq!(report.message, "installing failed");
        assert_eq!(report.detail, "mirror unreachable; set MIRROR");
    }
}
