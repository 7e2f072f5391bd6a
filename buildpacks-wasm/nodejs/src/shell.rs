//! Run one lifecycle script as npm does: `sh -c <script>` in the package's directory, in the
//! build image, with npm's environment, after npm's `> package event` banner.

use std::path::Path;

use kiln_sdk::exec::Command;

use crate::lifecycle::{Scripts, Step};
use crate::npm_env::ScriptEnv;

/// Run `step` of `scripts`, the package in `dir`; an exit status other than 0 is an error.
pub fn run(
    env: &ScriptEnv,
    dir: &Path,
    scripts: &Scripts,
    step: &Step,
) -> Result<(), kiln_sdk::Error> {
    kiln_sdk::log::info(format!(
        "> {} {}: {}",
        scripts.label(),
        step.event,
        step.command
    ));
    Command::new("sh")
        .arg("-c")
        .arg(&step.command)
        .current_dir(dir)
        .envs(env.for_script(dir, &scripts.manifest, &step.event, &step.command))
        .run()
}
