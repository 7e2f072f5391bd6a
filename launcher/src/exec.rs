//! Replacing the launcher with the process: `chdir`, `PATH` lookup, `execve`.
//!
//! Out of scope, unlike the CNB lifecycle's launcher: `exec.d` programs and `profile.d`
//! scripts. Kiln buildpacks are WebAssembly components, so they cannot produce native
//! `exec.d` executables for the run image, and Kiln's processes are always direct, so there
//! is no buildpack shell process to source `profile.d` into.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::Env;
use crate::error::Error;
use crate::process::Launch;

/// Enter the working directory, find the program in the env's `PATH` and execute it with
/// exactly the env's variables. Returns only on failure: on success the process replaces
/// the launcher (no fork; outside Unix, where that is impossible, the launcher waits and
/// exits with the child's status).
pub fn exec(launch: &Launch, env: &Env) -> Error {
    let Some((argv0, args)) = launch.argv.split_first() else {
        return Error::NoCommand;
    };
    if let Err(source) = std::env::set_current_dir(&launch.working_dir) {
        return Error::WorkingDir {
            path: launch.working_dir.clone(),
            source,
        };
    }
    let program = match resolve(argv0, env.get("PATH")) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut command = Command::new(&program);
    command.args(args).env_clear().envs(env.iter());
    run(command, program, argv0)
}

#[cfg(unix)]
fn run(mut command: Command, program: PathBuf, argv0: &OsStr) -> Error {
    use std::os::unix::process::CommandExt;
    let source = command.arg0(argv0).exec();
    Error::Exec { program, source }
}

#[cfg(not(unix))]
fn run(mut command: Command, program: PathBuf, _argv0: &OsStr) -> Error {
    match command.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(crate::EXIT_CODE)),
        Err(source) => Error::Exec { program, source },
    }
}

/// The program to execute for `command`: `command` itself if it contains a `/` (relative to
/// the current directory), otherwise the first executable file named `command` in the
/// directories of `path` (an empty entry means the current directory).
pub fn resolve(command: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, Error> {
    if command.is_empty() {
        return Err(Error::NotFound(OsString::new()));
    }
    if has_slash(command) {
        return Ok(PathBuf::from(command));
    }
    candidates(command, path)
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| Error::NotFound(command.to_os_string()))
}

/// `command` in each directory of `path`, in order.
fn candidates(command: &OsStr, path: Option<&OsStr>) -> impl Iterator<Item = PathBuf> {
    path.into_iter()
        .flat_map(std::env::split_paths)
        .map(move |dir| {
            if dir.as_os_str().is_empty() {
                Path::new(".").join(command)
            } else {
                dir.join(command)
            }
        })
}

fn has_slash(s: &OsStr) -> bool {
    s.to_string_lossy().contains('/')
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn make(path: &Path, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn resolves_against_the_given_path_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            tmp.path().join("a"),
            tmp.path().join("b"),
            tmp.path().join("c"),
        );
        make(&a.join("tool"), 0o644); // not executable: skipped
        make(&b.join("tool"), 0o755);
        make(&c.join("tool"), 0o755);
        fs::create_dir_all(a.join("dir")).unwrap(); // a directory: skipped
        make(&c.join("dir"), 0o755);
        let path = std::env::join_paths([&a, &b, &c]).unwrap();
        assert_eq!(
            resolve(OsStr::new("tool"), Some(&path)).unwrap(),
            b.join("tool")
        );
        assert_eq!(
            resolve(OsStr::new("dir"), Some(&path)).unwrap(),
            c.join("dir")
        );
        let e = resolve(OsStr::new("missing"), Some(&path)).unwrap_err();
        assert_eq!(e.to_string(), "command `missing` not found in PATH");
        assert!(matches!(
            resolve(OsStr::new("tool"), None),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn commands_with_a_slash_are_used_as_given() {
        assert_eq!(
            resolve(OsStr::new("bin/server"), Some(OsStr::new("/usr/bin"))).unwrap(),
            Path::new("bin/server")
        );
        assert_eq!(
            resolve(OsStr::new("/bin/sh"), None).unwrap(),
            Path::new("/bin/sh")
        );
    }

    #[test]
    fn empty_path_entries_mean_the_current_dir() {
        let found: Vec<PathBuf> =
            candidates(OsStr::new("tool"), Some(OsStr::new("/a::/b:"))).collect();
        assert_eq!(
            found,
            [
                Path::new("/a/tool"),
                Path::new("./tool"),
                Path::new("/b/tool"),
                Path::new("./tool")
            ]
        );
    }
}
