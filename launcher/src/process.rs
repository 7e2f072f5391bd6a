//! Which process to run, with which arguments, in which directory (Platform API 0.15 §4).
//!
//! - If the basename of `argv[0]` is a process type (the launcher was started through the
//!   `/cnb/process/<type>` symlink), that buildpack process runs, and `argv[1..]` are the
//!   user's arguments.
//! - Otherwise (`argv[0]` is e.g. `/cnb/lifecycle/launcher`), `argv[1..]` decides:
//!   - nothing: the default process type, with no user arguments; an error if there is no
//!     default;
//!   - `-- CMD ARGS...`: `CMD` runs directly (no shell) with `ARGS`;
//!   - `WORDS...`: the words are joined with single spaces and the result runs as
//!     `/bin/sh -c <joined>`, so `launcher 'echo $HOME'` and `launcher echo hi` both work.
//!     (The CNB lifecycle uses bash; Kiln's run images need only a POSIX `sh`.)
//!
//! A buildpack process runs `command` followed by the user's arguments if there are any,
//! otherwise by the process's `args`. It runs in its `working-dir` (the app dir if unset);
//! user-provided commands run in the app dir.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::metadata::{Metadata, Process};

/// The shell used for `launcher WORDS...`.
pub const SHELL: &str = "/bin/sh";

/// What to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The type of the buildpack process, or `None` for a user-provided command.
    pub process_type: Option<String>,
    /// The full argv; `argv[0]` is the command to look up in `PATH`. Never empty.
    pub argv: Vec<OsString>,
    /// The directory to run in.
    pub working_dir: PathBuf,
}

/// Choose the process for the launcher's `argv` (including `argv[0]`). `app_dir` is the
/// default working directory; `exec_env` is the execution environment (`CNB_EXEC_ENV`,
/// `production` by default) a buildpack process must be eligible for.
pub fn select(
    metadata: &Metadata,
    argv: &[OsString],
    app_dir: &Path,
    exec_env: &str,
) -> Result<Launch, Error> {
    let user_args = argv.get(1..).unwrap_or_default();
    let invoked_as = argv
        .first()
        .and_then(|a0| Path::new(a0).file_name())
        .and_then(|name| name.to_str());
    if let Some(process) = invoked_as.and_then(|name| metadata.process(name)) {
        return buildpack_process(process, user_args, app_dir, exec_env);
    }
    match user_args {
        [] => {
            let default = metadata.default_process().ok_or(Error::NoProcess)?;
            let process = metadata.process(default).ok_or_else(|| {
                Error::Process(format!(
                    "default process type `{default}` is not in config/metadata.toml"
                ))
            })?;
            buildpack_process(process, &[], app_dir, exec_env)
        }
        [dashes, command @ ..] if dashes == "--" => {
            if command.is_empty() {
                return Err(Error::NoCommand);
            }
            Ok(Launch {
                process_type: None,
                argv: command.to_vec(),
                working_dir: app_dir.to_path_buf(),
            })
        }
        words => Ok(Launch {
            process_type: None,
            argv: vec![SHELL.into(), "-c".into(), join_words(words)],
            working_dir: app_dir.to_path_buf(),
        }),
    }
}

/// The launch of a buildpack process with the user's arguments (possibly none).
fn buildpack_process(
    process: &Process,
    user_args: &[OsString],
    app_dir: &Path,
    exec_env: &str,
) -> Result<Launch, Error> {
    let t = &process.process_type;
    if !process.eligible(exec_env) {
        return Err(Error::Process(format!(
            "process type `{t}` is not eligible for execution environment `{exec_env}`"
        )));
    }
    if process.command.is_empty() {
        return Err(Error::EmptyCommand(t.clone()));
    }
    let mut argv: Vec<OsString> = process.command.iter().map(OsString::from).collect();
    if user_args.is_empty() {
        argv.extend(process.args.iter().map(OsString::from));
    } else {
        argv.extend_from_slice(user_args);
    }
    let working_dir = match process.working_dir.as_deref() {
        Some(dir) if !dir.is_empty() => app_dir.join(dir),
        _ => app_dir.to_path_buf(),
    };
    Ok(Launch {
        process_type: Some(t.clone()),
        argv,
        working_dir,
    })
}

/// `words` joined with single spaces, for `sh -c`.
fn join_words(words: &[OsString]) -> OsString {
    let mut joined = OsString::new();
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            joined.push(" ");
        }
        joined.push(word);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata;

    const METADATA: &str = r#"
buildpack-default-process-type = "web"
[[buildpacks]]
id = "kiln/procfile"
version = "0.1.0"
api = "0.12"
[[processes]]
type = "web"
command = ["node", "--enable-x"]
args = ["server.js", "--port=8080"]
direct = true
working-dir = "/srv/app"
buildpack-id = "kiln/procfile"
[[processes]]
type = "worker"
command = ["bin/worker"]
args = ["default-queue"]
direct = true
buildpack-id = "kiln/procfile"
[[processes]]
type = "test-only"
command = ["run-tests"]
buildpack-id = "kiln/procfile"
exec-env = ["test"]
[[processes]]
type = "empty"
command = []
buildpack-id = "kiln/procfile"
"#;

    fn meta() -> Metadata {
        metadata::parse(METADATA, Path::new("metadata.toml")).unwrap()
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn run(m: &Metadata, argv: &[&str]) -> Result<Launch, Error> {
        select(m, &os(argv), Path::new("/workspace"), "production")
    }

    const LAUNCHER: &str = "/cnb/lifecycle/launcher";

    #[test]
    fn argv0_basename_selects_the_process_with_its_default_args() {
        let l = run(&meta(), &["/cnb/process/worker"]).unwrap();
        assert_eq!(l.process_type.as_deref(), Some("worker"));
        assert_eq!(l.argv, os(&["bin/worker", "default-queue"]));
        assert_eq!(l.working_dir, Path::new("/workspace"));
        // A bare name, as when `/cnb/process` is found through PATH.
        let l = run(&meta(), &["web"]).unwrap();
        assert_eq!(
            l.argv,
            os(&["node", "--enable-x", "server.js", "--port=8080"])
        );
        assert_eq!(l.working_dir, Path::new("/srv/app"));
    }

    #[test]
    fn user_args_replace_process_args_but_keep_the_command() {
        let l = run(&meta(), &["/cnb/process/web", "other.js", "--debug"]).unwrap();
        assert_eq!(l.process_type.as_deref(), Some("web"));
        assert_eq!(l.argv, os(&["node", "--enable-x", "other.js", "--debug"]));
        // `--` is an ordinary argument for a process symlink.
        let l = run(&meta(), &["/cnb/process/worker", "--", "x"]).unwrap();
        assert_eq!(l.argv, os(&["bin/worker", "--", "x"]));
    }

    #[test]
    fn no_args_runs_the_default_process() {
        let l = run(&meta(), &[LAUNCHER]).unwrap();
        assert_eq!(l.process_type.as_deref(), Some("web"));
        assert_eq!(
            l.argv,
            os(&["node", "--enable-x", "server.js", "--port=8080"])
        );
        // Even without argv[0] at all.
        let l = run(&meta(), &[]).unwrap();
        assert_eq!(l.process_type.as_deref(), Some("web"));
    }

    #[test]
    fn no_args_and_no_default_is_an_error() {
        let mut m = meta();
        m.default_process = None;
        assert!(matches!(run(&m, &[LAUNCHER]), Err(Error::NoProcess)));
        m.default_process = Some("gone".into());
        let e = run(&m, &[LAUNCHER]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "default process type `gone` is not in config/metadata.toml"
        );
    }

    #[test]
    fn double_dash_runs_the_command_directly_in_the_app_dir() {
        let l = run(&meta(), &[LAUNCHER, "--", "env", "-i", "a b"]).unwrap();
        assert_eq!(l.process_type, None);
        assert_eq!(l.argv, os(&["env", "-i", "a b"]));
        assert_eq!(l.working_dir, Path::new("/workspace"));
        assert!(matches!(
            run(&meta(), &[LAUNCHER, "--"]),
            Err(Error::NoCommand)
        ));
    }

    #[test]
    fn other_args_run_through_the_shell() {
        let l = run(&meta(), &[LAUNCHER, "echo", "$HOME", "a b"]).unwrap();
        assert_eq!(l.process_type, None);
        assert_eq!(l.argv, os(&["/bin/sh", "-c", "echo $HOME a b"]));
        assert_eq!(l.working_dir, Path::new("/workspace"));
        let l = run(&meta(), &[LAUNCHER, "echo hi; exit 3"]).unwrap();
        assert_eq!(l.argv, os(&["/bin/sh", "-c", "echo hi; exit 3"]));
        // A process type given as an argument is just a command.
        let l = run(&meta(), &[LAUNCHER, "web"]).unwrap();
        assert_eq!(l.argv, os(&["/bin/sh", "-c", "web"]));
    }

    #[test]
    fn exec_env_and_empty_commands_are_checked() {
        let e = run(&meta(), &["/cnb/process/test-only"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "process type `test-only` is not eligible for execution environment `production`"
        );
        let l = select(
            &meta(),
            &os(&["test-only"]),
            Path::new("/workspace"),
            "test",
        )
        .unwrap();
        assert_eq!(l.argv, os(&["run-tests"]));
        let e = run(&meta(), &["/cnb/process/empty"]).unwrap_err();
        assert_eq!(e.to_string(), "process type `empty` has an empty command");
    }

    #[test]
    fn relative_working_dirs_are_inside_the_app_dir() {
        let mut m = meta();
        m.processes[1].working_dir = Some("jobs".into());
        let l = run(&m, &["worker"]).unwrap();
        assert_eq!(l.working_dir, Path::new("/workspace/jobs"));
        m.processes[1].working_dir = Some(String::new());
        let l = run(&m, &["worker"]).unwrap();
        assert_eq!(l.working_dir, Path::new("/workspace"));
    }
}
