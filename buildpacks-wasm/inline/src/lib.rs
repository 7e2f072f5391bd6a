//! The runner of `project.toml` inline buildpacks (`[[io.buildpacks.group]]` with a
//! `script`). Kiln loads this component once per inline entry under the entry's own id and
//! version, and sets [`SCRIPT_ENV`] and [`SHELL_ENV`] for it alone.
//!
//! Detect always passes. Build runs `<shell> -c <script>` in the build image (the `exec`
//! import, so it needs `--build-image`) in `/workspace`, with the buildpack's environment
//! (`CNB_LAYERS_DIR`, `CNB_PLATFORM_DIR`, the build env). The script writes CNB files as a
//! Buildpack API buildpack would; afterwards they are read back and returned as records (the
//! host writes the CNB files itself):
//! - `<layers>/<name>.toml`: `[types]` `launch`/`build`/`cache` and `[metadata]`; a layer
//!   directory without one is removed, as the lifecycle does;
//! - `<layers>/<name>/env{,.launch,.build}/NAME[.override|.default|.append|.prepend|.delim]`;
//! - `<layers>/launch.toml`: `[[processes]]` (`type`, `command` as an array or a string,
//!   `args`, `default`, `working-dir`), `[[labels]]` and `[[slices]]` (`paths`).
//!
//! Not supported (refused with a message): `store.toml`, `build.toml` `unmet`,
//! SBOM files.

mod cnb_files;

use kiln_sdk::exec::Command;
use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, Error,
    buildpack_id,
};

/// The variable holding the script.
pub const SCRIPT_ENV: &str = "KILN_INLINE_SCRIPT";

/// The variable holding the script's interpreter.
pub const SHELL_ENV: &str = "KILN_INLINE_SHELL";

/// The runner.
#[derive(Default)]
pub struct Inline;

impl Buildpack for Inline {
    type Error = Error;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("kiln/inline"), "0.1.0")
            .name("project.toml inline buildpack")
    }

    fn detect(&self, _ctx: DetectContext) -> Result<DetectResult, Error> {
        Ok(DetectResult::pass())
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, Error> {
        let script = std::env::var(SCRIPT_ENV).map_err(|_| {
            Error::msg("this runner only runs project.toml inline buildpacks (no script given)")
        })?;
        let shell = std::env::var(SHELL_ENV).unwrap_or_else(|_| "/bin/sh".into());
        Command::new(shell)
            .args(["-c".to_owned(), script])
            .env_remove(SCRIPT_ENV)
            .env_remove(SHELL_ENV)
            .run()
            .map_err(|e| {
                e.with_detail("the inline buildpack's script failed; its output is above")
            })?;
        cnb_files::read_back(&ctx)
    }
}

kiln_sdk::export_buildpack!(Inline);
