//! Kiln buildpack `kiln/nodejs`: installs Node.js from a pinned inventory and the app's
//! dependencies from `package-lock.json` (v2/v3) without running npm, every byte fetched
//! through the host's pinned `fetch` import and verified. With a build image
//! (`kiln build --build-image REF`) it runs the packages' install scripts and the app's build
//! script there, with npm's semantics.
//!
//! Configuration (platform env, `kiln build --env`):
//! - `KILN_NODEJS_DIST_URL`: mirror replacing `https://nodejs.org/dist`;
//! - `KILN_NODEJS_INVENTORY`: a TOML inventory file in the app dir replacing the shipped one;
//! - `npm_config_registry` (or `.npmrc` `registry=`): npm registry mirror;
//! - `KILN_NODEJS_INCLUDE_DEV=true`: keep dev dependencies in the image (default: only when
//!   the execution environment is not `production`; a build script gets them either way);
//! - `KILN_NODEJS_IGNORE_SCRIPTS=true`: run no install scripts;
//! - `KILN_NODEJS_BUILD_SCRIPT=name`: the app script to build with (default `build`; empty:
//!   none);
//! - `KILN_NODEJS_SCRIPTS_SKIP=c`: packages whose install scripts never run;
//!   `KILN_NODEJS_SCRIPTS_REQUIRED=a,b` / `KILN_NODEJS_STRICT_SCRIPTS=true`: fail a build that
//!   cannot run these (every) install scripts (see `scripts`).

mod app_link;
mod bins;
mod build_script;
mod error;
mod graph;
mod install;
mod install_scripts;
mod inventory;
mod lifecycle;
mod lockfile;
mod modules;
mod native;
mod npm_env;
mod package_json;
mod prune;
mod range;
mod registry;
mod runtime;
mod scripts;
mod shell;

use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, Error,
    Process, buildpack_id, process_type,
};

pub use error::NodejsError;
use native::Native;
use npm_env::ScriptEnv;
use package_json::PackageJson;

/// The Node.js buildpack.
#[derive(Default)]
pub struct NodejsBuildpack;

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

impl Buildpack for NodejsBuildpack {
    type Error = NodejsError;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("kiln/nodejs"), env!("CARGO_PKG_VERSION"))
            .name("Node.js")
            .description("Installs Node.js and package-lock.json dependencies without npm")
    }

    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, NodejsError> {
        Ok(if ctx.app_has("package.json") {
            DetectResult::pass()
        } else {
            DetectResult::fail("no package.json in the app directory")
        })
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, NodejsError> {
        let text = read_app_file(&ctx, "package.json")?.ok_or(NodejsError::PackageJsonMissing)?;
        let package = PackageJson::parse(&text, "package.json")?;
        let ignore_scripts = env_flag(&ctx, "KILN_NODEJS_IGNORE_SCRIPTS");
        let build_script = build_script::select(&package, ctx.detect.env(build_script::SETTING))?;
        let plan = match read_app_file(&ctx, "package-lock.json")? {
            Some(lock) => Some(modules::Plan::new(&ctx, &lock, build_script.is_some())?),
            None if package.has_dependencies() => return Err(NodejsError::NoLockfile),
            None => None,
        };
        let wants_install_scripts = match &plan {
            Some(plan) if !ignore_scripts => plan.wants_scripts(&ctx)?,
            _ => false,
        };
        // Ask the host before anything is installed whether native commands can run.
        let native = if build_script.is_some() || wants_install_scripts {
            Some(native::probe()?)
        } else {
            None
        };
        if let (Some(name), Some(Native::Unavailable(refusal))) = (&build_script, &native) {
            return Err(NodejsError::BuildScriptNeedsBuildImage {
                name: name.clone(),
                source: refusal.clone(),
            });
        }
        let can_exec = native == Some(Native::Available);
        let scripts_off = if ignore_scripts {
            Some("KILN_NODEJS_IGNORE_SCRIPTS=true")
        } else {
            None
        };
        let (node_layer, runtime) = runtime::install(&ctx, &package)?;
        if can_exec && !runtime.fresh_executables.is_empty() {
            native::make_executable(&runtime.dir, &runtime.fresh_executables)?;
        }
        let mut result = BuildResult::new().layer(node_layer);
        let installed = match plan {
            Some(plan) => Some(plan.install(&ctx, &runtime, can_exec, scripts_off)?),
            None => None,
        };
        if let Some(name) = &build_script {
            let env = ScriptEnv::new(&runtime, ctx.app_dir(), "run-script");
            build_script::run(name, ctx.app_dir(), &env, ignore_scripts)?;
        }
        if let Some(installed) = installed {
            result = result.layer(installed.finish(&ctx, build_script.is_some())?);
        }
        if let Some(process) = web_process(&ctx, &package) {
            result = result.process(process);
        } else {
            kiln_sdk::log::warn(
                "no scripts.start in package.json and no server.js or index.js; the image has no web process",
            );
        }
        Ok(result.build()?)
    }
}

/// `npm start` semantics without npm: `scripts.start` through `sh -c`, else
/// `node server.js`, else `node index.js`.
fn web_process(ctx: &BuildContext, package: &PackageJson) -> Option<Process> {
    let command: Vec<String> = if let Some(start) = package.start_script() {
        vec!["/bin/sh".into(), "-c".into(), start.to_owned()]
    } else if ctx.app_dir().join("server.js").is_file() {
        vec!["node".into(), "server.js".into()]
    } else if ctx.app_dir().join("index.js").is_file() {
        vec!["node".into(), "index.js".into()]
    } else {
        return None;
    };
    Some(Process::new(process_type!("web"), command).default(true))
}

kiln_sdk::export_buildpack!(NodejsBuildpack);
