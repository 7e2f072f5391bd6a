//! Logging to the user's build log. The host prefixes every line with the buildpack id.

use crate::bindings::kiln::buildpack::log::{Level, write};

/// Log a debug line (shown with `kiln -v`).
pub fn debug(message: impl AsRef<str>) {
    write(Level::Debug, message.as_ref());
}

/// Log a progress line.
pub fn info(message: impl AsRef<str>) {
    write(Level::Info, message.as_ref());
}

/// Log a warning.
pub fn warn(message: impl AsRef<str>) {
    write(Level::Warn, message.as_ref());
}

/// Log an error explanation.
pub fn error(message: impl AsRef<str>) {
    write(Level::Error, message.as_ref());
}
