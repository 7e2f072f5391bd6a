//! Test buildpack `tests/consumer`: requires `greeting` (metadata `{"from":"consumer"}`) from
//! `tests/provider`, checks what the provider's build layer exposes, and declares processes.
//!
//! Build reads `TOOL_HOME` (must be `/layers/tests_provider/tool`), `BUILD_ONLY_VAR`, and
//! `bin/tool-marker` of every earlier build layer, and records them in the launch layer `seen`
//! (`seen.txt`, lines `TOOL_HOME=…`, `BUILD_ONLY_VAR=…`, `marker=…`). Processes: `web`
//! (default), `worker` and `args-demo`. Label `org.kiln.test=consumer`.
//!
//! With `KILN_TEST_MODE=unmet`, build only declares `greeting` unmet. Other modes are ignored.

use std::fmt::Write as _;

use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, Error,
    LayerTypes, Plan, Process, buildpack_id, layer_name, process_type,
};

/// The `TOOL_HOME` value the provider's `tool` layer must have set.
pub const EXPECTED_TOOL_HOME: &str = "/layers/tests_provider/tool";

/// The consumer test buildpack.
#[derive(Default)]
pub struct Consumer;

impl Buildpack for Consumer {
    type Error = Error;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("tests/consumer"), "0.1.0")
            .name("Test consumer")
            .description("Requires greeting; checks build-time env and build layers")
    }

    fn detect(&self, _ctx: DetectContext) -> Result<DetectResult, Error> {
        let plan =
            Plan::new().requires_with("greeting", &serde_json::json!({ "from": "consumer" }))?;
        Ok(DetectResult::pass_with(plan))
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, Error> {
        if ctx
            .detect
            .platform_env
            .get("KILN_TEST_MODE")
            .map(String::as_str)
            == Some("unmet")
        {
            kiln_sdk::log::info("mode unmet: declaring greeting unmet");
            return BuildResult::new().unmet("greeting").build();
        }

        let tool_home = std::env::var("TOOL_HOME").map_err(|e| {
            Error::msg(format!("consumer: TOOL_HOME is not usable: {e}"))
                .with_detail("the provider's build layer should set it")
        })?;
        if tool_home != EXPECTED_TOOL_HOME {
            return Err(Error::msg(format!(
                "consumer: TOOL_HOME is {tool_home:?}, expected {EXPECTED_TOOL_HOME:?}"
            )));
        }
        let build_only = std::env::var("BUILD_ONLY_VAR").unwrap_or_else(|_| "<unset>".to_owned());

        let mut seen = format!("TOOL_HOME={tool_home}\nBUILD_ONLY_VAR={build_only}\n");
        let mut markers = 0;
        for dir in &ctx.build_layers {
            let path = dir.join("bin").join("tool-marker");
            match std::fs::read_to_string(&path) {
                Ok(contents) => {
                    markers += 1;
                    let _ = writeln!(seen, "marker={contents}");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("read", &path, e)),
            }
        }
        if markers == 0 {
            let layers: Vec<String> = ctx
                .build_layers
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            return Err(
                Error::msg("consumer: no earlier build layer has bin/tool-marker")
                    .with_detail(format!("build layers: {layers:?}")),
            );
        }

        let mut layer = ctx.create_layer(layer_name!("seen"), LayerTypes::none().launch())?;
        layer.write_file("seen.txt", seen)?;

        BuildResult::new()
            .layer(layer)
            .process(
                Process::new(
                    process_type!("web"),
                    ["/layers/tests_provider/runtime/bin/hello"],
                )
                .default(true),
            )
            .process(Process::new(
                process_type!("worker"),
                ["/bin/sh", "-c", "echo worker $WORKER_ONLY"],
            ))
            .process(
                Process::new(process_type!("args-demo"), ["/bin/echo", "fixed"])
                    .args(["default-arg"]),
            )
            .label("org.kiln.test", "consumer")
            .build()
    }
}

kiln_sdk::export_buildpack!(Consumer);
