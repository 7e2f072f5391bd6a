//! What can go wrong reading specs and keeping the fleet's state.

use std::path::PathBuf;

/// A spec file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("{}: cannot read the image spec: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The extension names no format.
    #[error("{}: an image spec must be a .toml (Kiln) or .yaml/.yml (kpack Image) file", file.display())]
    Format {
        /// The file.
        file: PathBuf,
    },
    /// The file is not valid TOML/YAML.
    #[error("{}: {message}", file.display())]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown, missing or has a bad value.
    #[error("{}: `{key}`: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The key path (`spec.source.git.url`).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Two specs in one directory have the same name.
    #[error("{} and {} both describe the image `{name}`; image names must be unique in a spec directory (rename one with `name`/`metadata.name`)", first.display(), second.display())]
    DuplicateName {
        /// The name.
        name: String,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
}

/// The spec directory or the fleet's state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A spec is bad.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// No spec of that name.
    #[error("no image named `{name}` in {}; `kiln image list` shows the names", dir.display())]
    UnknownImage {
        /// The name asked for.
        name: String,
        /// The spec directory.
        dir: PathBuf,
    },
    /// File system trouble.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A history file is not what Kiln writes.
    #[error("{}: the build history is damaged ({reason}); remove the file to start a new history", path.display())]
    History {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
