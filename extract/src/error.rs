//! The extraction error.

/// Why an extraction failed: one line naming the archive, entry or path, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with a one-line message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// Wrap an I/O error with what was being done and to which path.
    pub fn io(action: &str, path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::msg(format!("could not {action} {}: {err}", path.display()))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}
