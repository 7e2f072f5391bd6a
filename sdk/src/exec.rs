//! Native commands in the build image (`exec` import), shaped like [`std::process::Command`].
//!
//! The command runs on the host in a Linux sandbox over the build's build image, with the
//! same directories this buildpack's guest sees (`/workspace` and its own layers read-write;
//! earlier build layers, `/platform` and `/downloads` read-only; a private `/tmp`) and no
//! network. Downloads happen before, with [`crate::fetch`]. Only during `build`, and only when
//! the build has a build image (`kiln build --build-image REF`).
//!
//! By default a command gets this buildpack's own environment (what `std::env::vars` shows
//! in the guest: the build image's variables, earlier build layers' changes, the platform
//! env) and runs in `/workspace`.
//!
//! ```no_run
//! use kiln_sdk::exec::Command;
//! Command::new("go")
//!     .args(["build", "-trimpath", "-o", "/layers/example_go/bin/app", "."])
//!     .env("CGO_ENABLED", "0")
//!     .current_dir("/workspace")
//!     .run()?;
//! # Ok::<(), kiln_sdk::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;

/// One command, as the host receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The environment, exactly.
    pub env: Vec<(String, String)>,
    /// Working directory (a guest path).
    pub cwd: String,
    /// Wall-clock limit in seconds; 0 for the host's limit.
    pub timeout_seconds: u32,
    /// Return stdout instead of logging it.
    pub capture_stdout: bool,
}

/// A command that ran to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (128 + signal when a signal ended it).
    pub code: i32,
    /// Standard output, when it was captured.
    pub stdout: Vec<u8>,
}

impl ExecOutput {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Why a command did not run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecErrorKind {
    /// No native steps here (no build image, not Linux, no bubblewrap).
    Unavailable,
    /// Not allowed in this phase (only `build`).
    Denied,
    /// The request is malformed.
    Invalid,
    /// The time limit was reached; its processes were killed.
    TimedOut,
    /// The host could not run the sandbox.
    Failed,
}

/// A command that did not run to its end, with the host's one-line explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExecError {
    /// The kind of failure.
    pub kind: ExecErrorKind,
    /// What went wrong and what to do.
    pub message: String,
}

/// A native command to run in the build image.
#[derive(Debug, Clone)]
#[must_use]
pub struct Command {
    program: String,
    args: Vec<String>,
    inherit_env: bool,
    env: Vec<(String, Option<String>)>,
    cwd: Option<PathBuf>,
    timeout: Option<Duration>,
}

impl Command {
    /// Run `program` (looked up on the command's `PATH` unless it contains `/`).
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            inherit_env: true,
            env: Vec::new(),
            cwd: None,
            timeout: None,
        }
    }

    /// Add one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Add arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), Some(value.into())));
        self
    }

    /// Set several environment variables.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Remove an environment variable (inherited or set before).
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env.push((key.into(), None));
        self
    }

    /// Start from an empty environment instead of this buildpack's own.
    pub fn env_clear(mut self) -> Self {
        self.inherit_env = false;
        self.env.clear();
        self
    }

    /// Working directory (a guest path; default `/workspace`).
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Wall-clock limit (the host caps it at its own limit for native steps).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// The request this command sends to the host.
    pub fn request(&self, capture_stdout: bool) -> ExecRequest {
        let mut env: Vec<(String, String)> = if self.inherit_env {
            std::env::vars().collect()
        } else {
            Vec::new()
        };
        for (key, value) in &self.env {
            env.retain(|(k, _)| k != key);
            if let Some(v) = value {
                env.push((key.clone(), v.clone()));
            }
        }
        let mut argv = Vec::with_capacity(1 + self.args.len());
        argv.push(self.program.clone());
        argv.extend(self.args.iter().cloned());
        ExecRequest {
            argv,
            env,
            cwd: self.cwd.as_deref().map_or_else(
                || kiln_spec::APP_DIR.to_owned(),
                |p| p.to_string_lossy().into_owned(),
            ),
            timeout_seconds: self
                .timeout
                .map_or(0, |t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX)),
            capture_stdout,
        }
    }

    /// Run, streaming output to the build log; an exit status other than 0 is an error.
    pub fn run(&self) -> Result<(), Error> {
        let out = self.status()?;
        if out.success() {
            Ok(())
        } else {
            Err(Error::Exec {
                program: self.program.clone(),
                source: ExecFailure::Exit(out.code),
            })
        }
    }

    /// Run, streaming output to the build log, and return how it exited.
    pub fn status(&self) -> Result<ExecOutput, Error> {
        self.send(false)
    }

    /// Run and return its stdout (up to 1 MiB; stderr still goes to the log); an exit status
    /// other than 0 is an error.
    pub fn output(&self) -> Result<Vec<u8>, Error> {
        let out = self.send(true)?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(Error::Exec {
                program: self.program.clone(),
                source: ExecFailure::Exit(out.code),
            })
        }
    }

    fn send(&self, capture: bool) -> Result<ExecOutput, Error> {
        let request = self.request(capture);
        crate::host::with_current(|h| h.exec(&request)).map_err(|e| Error::Exec {
            program: self.program.clone(),
            source: ExecFailure::Host(e),
        })
    }
}

/// Whether this build can run native commands: `None` when it can, else the host's refusal
/// (it names `--build-image`). Asks the host by running `true` in the build image.
pub fn native_steps_refusal() -> Result<Option<ExecError>, Error> {
    match Command::new("true").env_clear().status() {
        Ok(_) => Ok(None),
        Err(Error::Exec {
            source: ExecFailure::Host(e),
            ..
        }) if e.kind == ExecErrorKind::Unavailable => Ok(Some(e)),
        Err(e) => Err(e),
    }
}

/// Most argument bytes given to one `chmod`, well under the host's limits.
const CHMOD_ARGS_BYTES: usize = 64 * 1024;

/// `chmod a+x` the `files` (relative to `dir`) in the build image, in as few commands as fit:
/// unpacked files are marked executable for the image, but WASI cannot set modes on disk,
/// and native steps that run them need the bit.
pub fn make_executable(dir: &Path, files: &[String]) -> Result<(), Error> {
    let mut rest = files;
    while !rest.is_empty() {
        let mut size = 0;
        let count = rest
            .iter()
            .take_while(|f| {
                size += f.len() + 1;
                size <= CHMOD_ARGS_BYTES
            })
            .count()
            .max(1);
        let (chunk, after) = rest.split_at(count);
        Command::new("chmod")
            .env_clear()
            .args(["a+x", "--"])
            .args(chunk.iter().map(String::as_str))
            .current_dir(dir)
            .run()?;
        rest = after;
    }
    Ok(())
}

/// Why [`Command::run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecFailure {
    /// It exited with a status other than 0.
    #[error("it exited with status {0}")]
    Exit(i32),
    /// It did not run to its end.
    #[error(transparent)]
    Host(ExecError),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_argv_env_changes_and_the_default_directory() {
        let r = Command::new("go")
            .args(["build", "."])
            .env_clear()
            .env("A", "1")
            .env("B", "2")
            .env_remove("A")
            .timeout(Duration::from_millis(10))
            .request(false);
        assert_eq!(r.argv, ["go", "build", "."]);
        assert_eq!(r.env, [("B".to_owned(), "2".to_owned())]);
        assert_eq!(r.cwd, "/workspace");
        assert_eq!(r.timeout_seconds, 1);
    }
}
