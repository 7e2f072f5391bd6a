//! Launcher failures. Every one ends the launcher with [`EXIT_CODE`] and a one-line message.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// The exit status of a failed launch (CNB reserves 80–89 for launcher failures; the
/// reference lifecycle uses 82).
pub const EXIT_CODE: i32 = 82;

/// Why the launcher could not start the process.
#[derive(Debug)]
pub enum Error {
    /// A file or directory could not be read.
    Read {
        /// What was being read.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `config/metadata.toml` is not valid.
    Metadata {
        /// The file.
        path: PathBuf,
        /// What is wrong, from the TOML parser (one line).
        reason: String,
    },
    /// `argv[0]` named a process type that is not eligible, or the default process is missing.
    Process(String),
    /// No process to run: no arguments and no default process.
    NoProcess,
    /// `launcher --` with nothing after it.
    NoCommand,
    /// The process's command is empty.
    EmptyCommand(String),
    /// The working directory could not be entered.
    WorkingDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The command is not in the (new) `PATH`.
    NotFound(OsString),
    /// `execve` failed.
    Exec {
        /// The program.
        program: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Metadata { path, reason } => {
                write!(f, "invalid {}: {}", path.display(), one_line(reason))
            }
            Self::Process(why) => f.write_str(why),
            Self::NoProcess => f.write_str(
                "no process: give a command (`launcher -- CMD ARGS...`) or set a default process type",
            ),
            Self::NoCommand => f.write_str("no command after `--`"),
            Self::EmptyCommand(t) => write!(f, "process type `{t}` has an empty command"),
            Self::WorkingDir { path, source } => {
                write!(f, "cannot enter working directory {}: {source}", path.display())
            }
            Self::NotFound(cmd) => {
                write!(f, "command `{}` not found in PATH", cmd.to_string_lossy())
            }
            Self::Exec { program, source } => {
                write!(f, "cannot execute {}: {source}", program.display())
            }
        }
    }
}

impl std::error::Error for Error {}

/// Collapse a multi-line parser message (TOML errors show the offending line) into one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
