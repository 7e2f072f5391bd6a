//! Logging to the user's build log. The host prefixes every line with the buildpack id.

use std::fmt;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Shown with `kiln -v` only.
    Debug,
    /// Progress.
    Info,
    /// Something the user should look at.
    Warn,
    /// A failure explanation.
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        })
    }
}

/// Log a line at `level`.
pub fn write(level: Level, message: impl AsRef<str>) {
    crate::host::with_current(|h| h.log(level, message.as_ref()));
}

/// Log a debug line (shown with `kiln -v`).
pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message);
}

/// Log a progress line.
pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message);
}

/// Log a warning.
pub fn warn(message: impl AsRef<str>) {
    write(Level::Warn, message);
}

/// Log an error explanation.
pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message);
}
