//! Kiln buildpack `kiln/python`: installs CPython from a pinned inventory and the app's
//! locked dependencies from wheels into a virtual environment, without pip, every file
//! fetched through the host's pinned `fetch` import and verified against the lock's sha256.
//!
//! Configuration (platform env, `kiln build --env`):
//! - `KILN_PYTHON_DIST_URL`: mirror replacing the python-build-standalone releases URL;
//! - `KILN_PYTHON_INVENTORY`: a TOML inventory file in the app dir replacing the shipped one;
//! - `PIP_INDEX_URL` / `UV_INDEX_URL`: the package index (a PEP 503 simple index; default the
//!   lock's own, else PyPI);
//! - `KILN_PYTHON_INCLUDE_DEV=true`: install dev dependencies / groups too;
//! - `KILN_PYTHON_EXTRAS=a,b`, `KILN_PYTHON_GROUPS=g`: extras of the project and dependency
//!   groups to install;
//! - `KILN_PYTHON_LIBC=glibc-2.36|musl-1.2`: the target's C library when the run image does
//!   not say (it picks the manylinux/musllinux wheels).

mod deps;
mod entry_points;
mod error;
mod index;
mod inventory;
mod locks;
mod markers;
mod native;
mod pep440;
mod processes;
mod record;
mod resolve;
mod runtime;
mod sdist;
mod tags;
mod venv;
mod wheel;

use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, EnvChange,
    Error, buildpack_id,
};

pub use error::PythonError;

/// The files whose presence makes an app a Python app.
pub const DETECT_FILES: &[&str] = &[
    "requirements.txt",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "pyproject.toml",
    "setup.py",
    ".python-version",
];

/// The Python buildpack.
#[derive(Default)]
pub struct PythonBuildpack;

/// Whether the platform env sets `name` to `1`, `true` or `yes`.
pub(crate) fn env_flag(ctx: &BuildContext, name: &str) -> bool {
    ctx.detect
        .env(name)
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// `name` in the app directory, if it is there.
pub(crate) fn read_app_file(ctx: &BuildContext, name: &str) -> Result<Option<String>, Error> {
    let path = ctx.app_dir().join(name);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

/// `[project] requires-python` and whether `[project] dependencies` is non-empty.
fn pyproject_facts(text: Option<&str>) -> Result<(Option<String>, bool), PythonError> {
    let Some(text) = text else {
        return Ok((None, false));
    };
    let doc: toml::Table = toml::from_str(text).map_err(PythonError::Pyproject)?;
    let project = doc.get("project").and_then(toml::Value::as_table);
    let requires = project
        .and_then(|p| p.get("requires-python"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned);
    let has_deps = project
        .and_then(|p| p.get("dependencies"))
        .and_then(toml::Value::as_array)
        .is_some_and(|a| !a.is_empty());
    Ok((requires, has_deps))
}

impl Buildpack for PythonBuildpack {
    type Error = PythonError;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("kiln/python"), env!("CARGO_PKG_VERSION"))
            .name("Python")
            .description("Installs CPython and locked dependencies from wheels without pip")
    }

    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, PythonError> {
        Ok(match DETECT_FILES.iter().find(|f| ctx.app_has(f)) {
            Some(_) => DetectResult::pass(),
            None => DetectResult::fail(format!(
                "none of {} in the app directory",
                DETECT_FILES.join(", ")
            )),
        })
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, PythonError> {
        let pyproject = read_app_file(&ctx, "pyproject.toml")?;
        let (requires_python, declares_deps) = pyproject_facts(pyproject.as_deref())?;
        let request = inventory::request(
            read_app_file(&ctx, ".python-version")?.as_deref(),
            requires_python.as_deref(),
            read_app_file(&ctx, "runtime.txt")?.as_deref(),
        );
        let (mut python_layer, runtime) = runtime::install(&ctx, request.as_ref())?;
        python_layer.add_env(EnvChange::default_value("PYTHONUNBUFFERED", "1"));
        // Build steps must not leave bytecode (it embeds times) in layers.
        python_layer.add_env(EnvChange::default_value("PYTHONDONTWRITEBYTECODE", "1").build_only());
        let mut result = BuildResult::new().layer(python_layer);
        let installed = deps::install(&ctx, &runtime)?;
        let dists = match installed {
            Some(done) => {
                result = result.layer(done.venv);
                if let Some(wheels) = done.wheels {
                    result = result.layer(wheels);
                }
                done.summary.dists
            }
            None if declares_deps => {
                return Err(PythonError::NoLock {
                    file: "pyproject.toml".into(),
                });
            }
            None => {
                if ctx.detect.app_has("setup.py") {
                    kiln_sdk::log::warn(
                        "setup.py without a lock: its dependencies are not installed; lock them (uv.lock, poetry.lock, Pipfile.lock or requirements.txt with --hash)",
                    );
                }
                std::collections::BTreeSet::default()
            }
        };
        match processes::decide(ctx.app_dir(), &dists) {
            processes::Decision::Web(command) => result = result.process(processes::web(command)),
            processes::Decision::Procfile => {}
            processes::Decision::None(why) => kiln_sdk::log::warn(why),
        }
        Ok(result.build()?)
    }
}

kiln_sdk::export_buildpack!(PythonBuildpack);
