//! The app's build script: `scripts.build`, or the script `KILN_NODEJS_BUILD_SCRIPT` names
//! (set empty: none), run in the app directory in the build image with `npm run` semantics:
//! `pre<name>`, `<name>` and `post<name>` (only `<name>` when install scripts are ignored, as
//! `npm run --ignore-scripts` does), with npm's environment (see `npm_env`).

use std::path::Path;

use crate::error::NodejsError;
use crate::lifecycle;
use crate::npm_env::ScriptEnv;
use crate::package_json::PackageJson;
use crate::shell;

/// The setting that picks the script.
pub const SETTING: &str = "KILN_NODEJS_BUILD_SCRIPT";

/// The script to run, if any, given the setting's value.
pub fn select(package: &PackageJson, setting: Option<&str>) -> Result<Option<String>, NodejsError> {
    match setting.map(str::trim) {
        Some("") => {
            if package.script("build").is_some() {
                kiln_sdk::log::info(format!("{SETTING} is empty: scripts.build is not run"));
            }
            Ok(None)
        }
        Some(name) if package.script(name).is_some() => Ok(Some(name.to_owned())),
        Some(name) => Err(NodejsError::BuildScriptMissing {
            name: name.to_owned(),
            available: package.script_names().join(", "),
        }),
        None => Ok(package.script("build").map(|_| "build".to_owned())),
    }
}

/// Run script `name` of the app in `app_dir`, with its `pre`/`post` scripts unless
/// `ignore_scripts`.
pub fn run(
    name: &str,
    app_dir: &Path,
    env: &ScriptEnv,
    ignore_scripts: bool,
) -> Result<(), NodejsError> {
    let events = if ignore_scripts {
        vec![name.to_owned()]
    } else {
        vec![format!("pre{name}"), name.to_owned(), format!("post{name}")]
    };
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let Some(scripts) = lifecycle::read(app_dir, &events)? else {
        return Ok(());
    };
    kiln_sdk::log::info(format!("Running the build script {name}"));
    for step in &scripts.steps {
        shell::run(env, app_dir, &scripts, step).map_err(|source| NodejsError::BuildScript {
            event: step.event.clone(),
            command: step.command.clone(),
            source: Box::new(source),
        })?;
    }
    Ok(())
}
