//! What one native step is asked to do, and how it ended.

use std::path::PathBuf;
use std::time::Duration;

/// Variables every step gets, whatever it asks for: fixed time zone and locale. The build's
/// `SOURCE_DATE_EPOCH` is added by [`crate::Sandbox::run`] from [`Step::source_date_epoch`],
/// and `HOME` defaults to [`DEFAULT_HOME`].
pub const DETERMINISM_ENV: &[(&str, &str)] = &[("TZ", "UTC"), ("LC_ALL", "C.UTF-8")];

/// `HOME` of a step that does not set one: inside its private `/tmp`.
pub const DEFAULT_HOME: &str = "/tmp/home";

/// `PATH` of a step that does not set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Largest size of one argument (Linux's `MAX_ARG_STRLEN`).
pub const MAX_ARGUMENT_BYTES: usize = 128 * 1024;

/// Largest total size of argv plus environment, in bytes.
pub const MAX_COMMAND_BYTES: usize = 1 << 20;

/// One host directory made visible to the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Directory on the host.
    pub host: PathBuf,
    /// Absolute path the step sees.
    pub guest: String,
    /// Whether the step may write.
    pub writable: bool,
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct Step {
    /// Program and arguments; a program without `/` is looked up on the step's `PATH`.
    pub argv: Vec<String>,
    /// The environment, exactly (the determinism variables are added or override).
    pub env: Vec<(String, String)>,
    /// Working directory: an absolute path the step sees.
    pub cwd: String,
    /// Wall-clock limit; the process tree is killed when it is reached.
    pub timeout: Duration,
    /// Directories granted, besides the rootfs, `/tmp`, `/proc` and `/dev`.
    pub mounts: Vec<Mount>,
    /// `SOURCE_DATE_EPOCH` of the build.
    pub source_date_epoch: u64,
    /// Keep stdout (up to this many bytes) instead of streaming it; `None` streams it.
    pub capture_stdout: Option<usize>,
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line the step wrote (without its line ending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// The stream.
    pub stream: Stream,
    /// The text, lossily decoded as UTF-8.
    pub text: String,
}

/// How a step that ran to its end finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// Exit code of the command (128 + signal number when a signal ended it).
    pub code: i32,
    /// Captured stdout, when [`Step::capture_stdout`] asked for it.
    pub stdout: Vec<u8>,
    /// Captured stdout was longer than asked for and was cut.
    pub stdout_truncated: bool,
}

impl Finished {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// A step that could not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The request itself is unusable.
    #[error("{0}")]
    Invalid(String),
    /// The wall-clock limit was reached; every process of the step was killed.
    #[error(
        "the command ran past its time limit of {limit:?} and was killed with all its processes"
    )]
    TimedOut {
        /// The limit.
        limit: Duration,
    },
    /// The sandbox could not be started or watched.
    #[error("could not run the sandbox ({what}): {source}")]
    Host {
        /// What failed.
        what: &'static str,
        /// Cause.
        source: std::io::Error,
    },
}

impl Step {
    /// Check argv, environment and working directory; an error says what is wrong.
    pub fn validate(&self) -> Result<(), StepError> {
        let invalid = |m: String| Err(StepError::Invalid(m));
        let Some(program) = self.argv.first() else {
            return invalid("the command is empty: argv needs at least the program".into());
        };
        if program.is_empty() {
            return invalid("the program name (argv[0]) is empty".into());
        }
        if let Some(bad) = self.argv.iter().find(|a| a.contains('\0')) {
            return invalid(format!("argument {bad:?} contains a NUL byte"));
        }
        if let Some(long) = self.argv.iter().find(|a| a.len() >= MAX_ARGUMENT_BYTES) {
            return invalid(format!(
                "an argument is {} bytes; the limit is {MAX_ARGUMENT_BYTES} (pass long inputs in a file)",
                long.len()
            ));
        }
        for (name, value) in &self.env {
            if name.is_empty() || name.contains(['=', '\0']) {
                return invalid(format!(
                    "environment variable name {name:?} is empty or contains '=' or NUL"
                ));
            }
            if value.contains('\0') {
                return invalid(format!("environment variable {name} contains a NUL byte"));
            }
        }
        let size: usize = self.argv.iter().map(|a| a.len() + 1).sum::<usize>()
            + self
                .env
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>();
        if size > MAX_COMMAND_BYTES {
            return invalid(format!(
                "argv and environment are {size} bytes; the limit is {MAX_COMMAND_BYTES}"
            ));
        }
        if !is_clean_absolute(&self.cwd) {
            return invalid(format!(
                "working directory {:?} must be an absolute path without '.' or '..' parts",
                self.cwd
            ));
        }
        for m in &self.mounts {
            if !is_clean_absolute(&m.guest) || m.guest == "/" {
                return invalid(format!(
                    "mount point {:?} is not a clean absolute path",
                    m.guest
                ));
            }
        }
        Ok(())
    }

    /// The environment the command gets: its own, then `HOME` and `PATH` defaults, then the
    /// determinism variables, which win.
    pub fn effective_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::with_capacity(self.env.len() + 5);
        let mut set = |name: &str, value: &str| {
            env.retain(|(k, _)| k != name);
            env.push((name.to_owned(), value.to_owned()));
        };
        for (k, v) in &self.env {
            set(k, v);
        }
        if !self.env.iter().any(|(k, _)| k == "HOME") {
            set("HOME", DEFAULT_HOME);
        }
        if !self.env.iter().any(|(k, _)| k == "PATH") {
            set("PATH", DEFAULT_PATH);
        }
        for (k, v) in DETERMINISM_ENV {
            set(k, v);
        }
        set("SOURCE_DATE_EPOCH", &self.source_date_epoch.to_string());
        env
    }
}

/// `/a/b` with no empty, `.` or `..` components (a single trailing `/` is not allowed either).
pub(crate) fn is_clean_absolute(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.is_empty()
        || rest
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\0'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn step() -> Step {
        Step {
            argv: vec!["true".into()],
            env: vec![],
            cwd: "/workspace".into(),
            timeout: Duration::from_secs(5),
            mounts: vec![],
            source_date_epoch: 1,
            capture_stdout: None,
        }
    }

    #[test]
    fn bad_requests_are_refused_with_what_is_wrong() {
        type Mutation = Box<dyn Fn(&mut Step)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|s| s.argv.clear()), "empty"),
            (Box::new(|s| s.argv = vec![String::new()]), "argv[0]"),
            (Box::new(|s| s.argv.push("a\0b".into())), "NUL"),
            (Box::new(|s| s.env.push(("A=B".into(), "x".into()))), "'='"),
            (Box::new(|s| s.cwd = "relative".into()), "absolute"),
            (Box::new(|s| s.cwd = "/workspace/../etc".into()), "'..'"),
            (
                Box::new(|s| s.argv.push("x".repeat(MAX_ARGUMENT_BYTES))),
                "limit",
            ),
            (
                Box::new(|s| s.env.push(("BIG".into(), "x".repeat(MAX_COMMAND_BYTES)))),
                "limit",
            ),
        ];
        for (mutate, needle) in cases {
            let mut s = step();
            mutate(&mut s);
            let err = s.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        }
        step().validate().unwrap();
    }

    #[test]
    fn determinism_variables_win_and_home_and_path_have_defaults() {
        let mut s = step();
        s.env = vec![
            ("TZ".into(), "Europe/Paris".into()),
            ("SOURCE_DATE_EPOCH".into(), "99".into()),
            ("A".into(), "1".into()),
        ];
        let env = s.effective_env();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("TZ"), Some("UTC"));
        assert_eq!(get("LC_ALL"), Some("C.UTF-8"));
        assert_eq!(get("SOURCE_DATE_EPOCH"), Some("1"));
        assert_eq!(get("HOME"), Some(DEFAULT_HOME));
        assert_eq!(get("PATH"), Some(DEFAULT_PATH));
        assert_eq!(get("A"), Some("1"));
        assert_eq!(env.iter().filter(|(k, _)| k == "TZ").count(), 1);
    }
}
