//! The launcher Kiln puts in images at `/cnb/lifecycle/launcher`, with a
//! `/cnb/process/<type>` symlink to it for every process type: Platform API 0.15 §4, adapted
//! to Kiln.
//!
//! At run time it
//! 1. reads `<layers>/config/metadata.toml` (`$CNB_LAYERS_DIR`, default `/layers`)
//!    ([`metadata`]);
//! 2. picks the process from `argv[0]` or the arguments ([`process`]);
//! 3. computes the env: the container's env without the launcher's variables, then every
//!    buildpack's layers: `bin`/`lib` dirs and `env/`, `env.launch/`, `env.launch/<type>/`
//!    files ([`mod@env`]);
//! 4. enters the working directory, looks the command up in the new `PATH` and `execve`s it,
//!    so the process replaces the launcher ([`exec`]).
//!
//! Any failure ends the launcher with status [`EXIT_CODE`] (82) and one line on stderr,
//! `launcher: <what went wrong>`, naming the file or process involved.
//!
//! Not done (see [`exec`]): `exec.d` and `profile.d`, API version checks of buildpacks.

pub mod env;
pub mod error;
pub mod exec;
pub mod metadata;
pub mod process;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

pub use error::{EXIT_CODE, Error};

use env::Env;
use process::Launch;

/// The layers dir when `CNB_LAYERS_DIR` is unset.
pub const DEFAULT_LAYERS_DIR: &str = "/layers";

/// The app dir when `CNB_APP_DIR` is unset.
pub const DEFAULT_APP_DIR: &str = "/workspace";

/// The execution environment when `CNB_EXEC_ENV` is unset.
pub const DEFAULT_EXEC_ENV: &str = "production";

/// Everything needed to execute the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What to run and where.
    pub launch: Launch,
    /// Exactly the variables the process gets.
    pub env: Env,
}

/// Work out what to execute for the launcher's `argv` (including `argv[0]`) and the
/// container's env `vars`, reading the layers dir those name. Does not execute anything.
pub fn plan<I: IntoIterator<Item = (OsString, OsString)>>(
    argv: &[OsString],
    vars: I,
) -> Result<Plan, Error> {
    let vars: BTreeMap<OsString, OsString> = vars.into_iter().collect();
    let setting = |name: &str, default: &str| {
        vars.get(OsStr::new(name))
            .filter(|v| !v.is_empty())
            .map_or_else(|| OsString::from(default), Clone::clone)
    };
    let layers = PathBuf::from(setting("CNB_LAYERS_DIR", DEFAULT_LAYERS_DIR));
    let app_dir = PathBuf::from(setting("CNB_APP_DIR", DEFAULT_APP_DIR));
    let exec_env = setting("CNB_EXEC_ENV", DEFAULT_EXEC_ENV);

    let metadata = metadata::read(&layers)?;
    let launch = process::select(&metadata, argv, &app_dir, &exec_env.to_string_lossy())?;
    let mut env = env::container_env(vars);
    env::apply_buildpacks(
        &mut env,
        &layers,
        &metadata.buildpacks,
        launch.process_type.as_deref(),
    )?;
    Ok(Plan { launch, env })
}

/// Plan and execute. Returns only if the launch failed; on success the process has
/// replaced the launcher.
pub fn run<I: IntoIterator<Item = (OsString, OsString)>>(argv: &[OsString], vars: I) -> Error {
    match plan(argv, vars) {
        Ok(plan) => exec::exec(&plan.launch, &plan.env),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn plan_reads_the_layers_dir_named_in_the_env() {
        let tmp = tempfile::tempdir().unwrap();
        let layers = tmp.path().join("layers");
        fs::create_dir_all(layers.join("config")).unwrap();
        fs::write(
            layers.join("config/metadata.toml"),
            "buildpack-default-process-type = \"web\"\n\
             [[buildpacks]]\nid = \"ex/bp\"\nversion = \"1\"\napi = \"0.12\"\n\
             [[processes]]\ntype = \"web\"\ncommand = [\"srv\"]\nargs = [\"a\"]\n\
             direct = true\nbuildpack-id = \"ex/bp\"\n",
        )
        .unwrap();
        fs::create_dir_all(layers.join("ex_bp/l/env.launch/web")).unwrap();
        fs::write(layers.join("ex_bp/l/env.launch/web/ONLY_WEB"), "1").unwrap();
        let vars = [
            ("CNB_LAYERS_DIR", layers.to_str().unwrap()),
            ("CNB_APP_DIR", "/app"),
            ("PATH", "/cnb/process:/bin"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));

        let p = plan(&os(&["/cnb/lifecycle/launcher"]), vars.clone()).unwrap();
        assert_eq!(p.launch.argv, os(&["srv", "a"]));
        assert_eq!(p.launch.working_dir, Path::new("/app"));
        let mut expected = Env::default();
        expected.set("PATH", "/bin");
        expected.set("ONLY_WEB", "1");
        assert_eq!(p.env, expected);

        let p = plan(&os(&["/cnb/lifecycle/launcher", "--", "env"]), vars).unwrap();
        assert_eq!(p.launch.argv, os(&["env"]));
        assert_eq!(p.env.get("ONLY_WEB"), None);
    }

    #[test]
    fn missing_metadata_names_the_file() {
        let vars = [("CNB_LAYERS_DIR", "/nonexistent-kiln-layers")]
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let e = plan(&os(&["launcher"]), vars).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent-kiln-layers/config/metadata.toml"),
            "{e}"
        );
    }
}
