//! The SDK's error type.

use std::fmt;

/// An error raised by the SDK or by a buildpack that uses it.
///
/// It carries a one-line message for the user and optional detail (a cause, a hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    detail: String,
}

impl Error {
    /// An error with a one-line message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            detail: String::new(),
        }
    }

    /// Add detail, such as the underlying cause or what the user should do.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    /// Wrap an I/O error with what was being done and to which path.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::msg(format!("could not {action} {}: {err}", path.display()))
    }

    /// The one-line message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The detail, possibly empty.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<kiln_spec::NameError> for Error {
    fn from(err: kiln_spec::NameError) -> Self {
        Self::msg(err.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Self::msg(format!("invalid metadata: {err}"))
    }
}
