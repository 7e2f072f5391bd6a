//! Test buildpack `tests/native`: runs the app's `native.sh` through the `exec` import.
//!
//! Detect passes when `native.sh` exists. With `KILN_TEST_EXEC_IN_DETECT=1` it first tries to
//! run `/bin/sh -c 'echo > /workspace/detect-wrote'` during detect: a refusal fails detect with
//! `exec in detect refused: <error>`; a success fails it with `exec in detect ran`.
//!
//! Build makes a launch layer `out` and runs `/bin/sh /workspace/native.sh` in `/workspace`
//! with `LAYER` set to that layer's guest path; a failure is the build's error. With
//! `KILN_TEST_CAPTURE=1` the script's stdout is captured and written to `out/captured.txt`.
//! With `KILN_TEST_TIMEOUT=<seconds>` the step gets that time limit. The image's `web`
//! process runs `out/bin/web` when the script made it.

use std::time::Duration;

use kiln_sdk::exec::Command;
use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, Error,
    LayerTypes, Process, buildpack_id, layer_name, process_type,
};

/// The script the buildpack runs.
pub const SCRIPT: &str = "native.sh";

/// The buildpack.
#[derive(Default)]
pub struct Native;

impl Buildpack for Native {
    type Error = Error;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("tests/native"), "0.1.0").name("Native steps test")
    }

    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, Error> {
        if ctx
            .platform_env
            .get("KILN_TEST_EXEC_IN_DETECT")
            .map(String::as_str)
            == Some("1")
        {
            let attempt = Command::new("/bin/sh")
                .args(["-c", "echo x > /workspace/detect-wrote"])
                .run();
            return Err(match attempt {
                Ok(()) => Error::msg("exec in detect ran"),
                Err(e) => Error::msg(format!(
                    "exec in detect refused: {}",
                    kiln_sdk::Report::new(&e)
                )),
            });
        }
        Ok(if ctx.app_has(SCRIPT) {
            DetectResult::pass()
        } else {
            DetectResult::fail("no native.sh")
        })
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, Error> {
        let env = &ctx.detect.platform_env;
        let layer = ctx.create_layer(layer_name!("out"), LayerTypes::none().launch())?;
        let guest = layer.path().to_string_lossy().into_owned();
        let mut command = Command::new("/bin/sh")
            .arg(format!("/workspace/{SCRIPT}"))
            .env("LAYER", &guest)
            .current_dir("/workspace");
        if let Some(seconds) = env.get("KILN_TEST_TIMEOUT").and_then(|s| s.parse().ok()) {
            command = command.timeout(Duration::from_secs(seconds));
        }
        let mut layer = layer;
        if env.get("KILN_TEST_CAPTURE").map(String::as_str) == Some("1") {
            let stdout = command.output()?;
            layer.write_file("captured.txt", stdout)?;
        } else {
            command.run()?;
        }
        let mut result = BuildResult::new();
        if layer.path().join("bin/web").is_file() {
            result = result.process(Process::new(process_type!("web"), ["web"]).default(true));
        }
        result.layer(layer).build()
    }
}

kiln_sdk::export_buildpack!(Native);
