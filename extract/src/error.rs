//! The extraction error: a one-line message naming the archive, entry or path, plus optional
//! detail.

use std::fmt;

/// Why an extraction failed.
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

    /// Add detail (the underlying cause, a hint).
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
