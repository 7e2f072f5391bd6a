//! The default web process when the app has no `Procfile` (the rules are in the README):
//! gunicorn or uvicorn with the app module found in the project, else `python app.py` /
//! `python main.py`. Django's `runserver` is never the default.

use std::collections::BTreeSet;
use std::path::Path;

use kiln_sdk::{Process, process_type};

/// What to run, or why nothing is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The `Procfile` decides (the Procfile buildpack runs after this one).
    Procfile,
    /// This command, as the default `web` process.
    Web(Vec<String>),
    /// No web process; the warning says what to do.
    None(String),
}

fn read(app: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(app.join(rel)).ok()
}

/// `application` if the module defines it, else `app`.
fn callable(source: &str) -> &'static str {
    let defines = |name: &str| {
        source.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("def {name}("))
                || l.strip_prefix(name).is_some_and(|rest| {
                    rest.trim_start().starts_with('=') && !rest.trim_start().starts_with("==")
                })
        })
    };
    if defines("application") && !defines("app") {
        "application"
    } else {
        "app"
    }
}

/// The Django project package: a directory beside `manage.py` with `settings.py` and
/// `file` (`wsgi.py`/`asgi.py`), first by name.
fn django_module(app: &Path, file: &str) -> Option<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(app)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .find(|d| app.join(d).join("settings.py").is_file() && app.join(d).join(file).is_file())
        .map(|d| format!("{d}.{}", file.trim_end_matches(".py")))
}

/// The module (and callable) a server should load: Django's project module first when
/// `manage.py` is there, else the first of `files` in the app root.
fn app_module(app: &Path, files: &[&str], django_file: &str) -> Option<String> {
    if app.join("manage.py").is_file()
        && let Some(m) = django_module(app, django_file)
    {
        return Some(format!("{m}:application"));
    }
    files.iter().find_map(|f| {
        let source = read(app, f)?;
        Some(format!(
            "{}:{}",
            f.trim_end_matches(".py"),
            callable(&source)
        ))
    })
}

fn shell(command: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), format!("exec {command}")]
}

/// Decide the web process for the app at `app` with these installed distributions.
pub fn decide(app: &Path, dists: &BTreeSet<String>) -> Decision {
    if app.join("Procfile").is_file() {
        return Decision::Procfile;
    }
    if dists.contains("gunicorn")
        && let Some(target) = app_module(
            app,
            &["wsgi.py", "app.py", "main.py", "application.py"],
            "wsgi.py",
        )
    {
        return Decision::Web(shell(&format!(
            "gunicorn --bind 0.0.0.0:${{PORT:-8000}} {target}"
        )));
    }
    if dists.contains("uvicorn")
        && let Some(target) = app_module(app, &["main.py", "app.py", "asgi.py"], "asgi.py")
    {
        return Decision::Web(shell(&format!(
            "uvicorn --host 0.0.0.0 --port ${{PORT:-8000}} {target}"
        )));
    }
    if app.join("manage.py").is_file() {
        return Decision::None(
            "manage.py found but neither gunicorn nor uvicorn is in the lock; Django's runserver is not a production server, so the image has no web process. Add gunicorn to the lock or write a Procfile".into(),
        );
    }
    for f in ["app.py", "main.py"] {
        if app.join(f).is_file() {
            return Decision::Web(vec!["python".into(), f.into()]);
        }
    }
    Decision::None(
        "no Procfile, no gunicorn/uvicorn app module and no app.py or main.py; the image has no web process".into(),
    )
}

/// The `web` process for a decision that has one.
pub fn web(command: Vec<String>) -> Process {
    Process::new(process_type!("web"), command).default(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(files: &[(&str, &str)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        for (p, body) in files {
            let path = tmp.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        tmp
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn procfile_wins() {
        let a = app(&[("Procfile", "web: x"), ("app.py", "app = 1")]);
        assert_eq!(decide(a.path(), &set(&["gunicorn"])), Decision::Procfile);
    }

    #[test]
    fn gunicorn_finds_the_module_and_its_callable() {
        let a = app(&[("wsgi.py", "def application(environ, start):\n    pass\n")]);
        let Decision::Web(cmd) = decide(a.path(), &set(&["gunicorn"])) else {
            panic!()
        };
        assert_eq!(
            cmd[2],
            "exec gunicorn --bind 0.0.0.0:${PORT:-8000} wsgi:application"
        );
        let a = app(&[("app.py", "from flask import Flask\napp = Flask(__name__)\n")]);
        let Decision::Web(cmd) = decide(a.path(), &set(&["gunicorn"])) else {
            panic!()
        };
        assert!(cmd[2].ends_with(" app:app"), "{cmd:?}");
    }

    #[test]
    fn django_uses_its_project_module_and_never_runserver() {
        let a = app(&[
            ("manage.py", ""),
            ("site1/settings.py", ""),
            ("site1/wsgi.py", "application = 1"),
            ("site1/asgi.py", "application = 1"),
        ]);
        let Decision::Web(cmd) = decide(a.path(), &set(&["gunicorn"])) else {
            panic!()
        };
        assert!(cmd[2].ends_with(" site1.wsgi:application"), "{cmd:?}");
        let Decision::Web(cmd) = decide(a.path(), &set(&["uvicorn"])) else {
            panic!()
        };
        assert!(cmd[2].ends_with(" site1.asgi:application"), "{cmd:?}");
        let Decision::None(why) = decide(a.path(), &set(&[])) else {
            panic!()
        };
        assert!(
            why.contains("runserver") && why.contains("gunicorn"),
            "{why}"
        );
    }

    #[test]
    fn plain_scripts_run_with_python() {
        let a = app(&[("main.py", "print(1)")]);
        assert_eq!(
            decide(a.path(), &set(&[])),
            Decision::Web(vec!["python".into(), "main.py".into()])
        );
        let a = app(&[("lib.py", "")]);
        assert!(matches!(decide(a.path(), &set(&[])), Decision::None(_)));
    }
}
