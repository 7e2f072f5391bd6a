//! Why a project descriptor could not be read.

use std::fmt;
use std::path::{Path, PathBuf};

/// A `project.toml` could not be read, parsed or validated.
///
/// Every variant names the file; the parse and validation variants also name the key (as a
/// dotted path with zero-based indices for arrays of tables, e.g. `io.buildpacks.group[1].id`)
/// and, where the TOML parser reported it, the line.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", file.display())]
    Read {
        /// The descriptor's path.
        file: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}: not valid TOML: {message}", Location::new(file, *line, *column))]
    Syntax {
        /// The descriptor's path.
        file: PathBuf,
        /// One-based line of the error, when the parser reported where it is.
        line: Option<usize>,
        /// One-based column (in characters) of the error, when known.
        column: Option<usize>,
        /// What the parser said.
        message: String,
    },
    /// `_.schema-version` names a schema Kiln does not read.
    #[error(
        "{}: _.schema-version {version:?} is not supported; Kiln reads 0.1 (legacy [project]) and 0.2",
        file.display()
    )]
    UnsupportedSchema {
        /// The descriptor's path.
        file: PathBuf,
        /// The version the file declares.
        version: String,
    },
    /// A key is unknown, missing, of the wrong type, or has a value Kiln refuses.
    #[error("{}: {key}: {message}", Location::new(file, *line, None))]
    Invalid {
        /// The descriptor's path.
        file: PathBuf,
        /// The key path, e.g. `io.buildpacks.build.env[0].name`.
        key: String,
        /// One-based line of the offending key or table, when known.
        line: Option<usize>,
        /// What is wrong and, where it helps, what to write instead.
        message: String,
    },
}

impl ProjectError {
    /// The descriptor the error is about.
    pub fn file(&self) -> &Path {
        match self {
            Self::Read { file, .. }
            | Self::Syntax { file, .. }
            | Self::UnsupportedSchema { file, .. }
            | Self::Invalid { file, .. } => file,
        }
    }
}

/// `file`, `file:line` or `file:line:column`, as compilers print them.
struct Location<'a> {
    file: &'a Path,
    line: Option<usize>,
    column: Option<usize>,
}

impl<'a> Location<'a> {
    fn new(file: &'a Path, line: Option<usize>, column: Option<usize>) -> Self {
        Self { file, line, column }
    }
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// One-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // Back off to a char boundary so slicing cannot panic on a span inside a character.
    let offset = (0..=offset)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
