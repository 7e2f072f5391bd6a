//! Test buildpack `tests/provider`: provides `greeting` (or, as an alternative, `greeting-alt`)
//! and exercises every layer type and every kind of environment change.
//!
//! Layers:
//! - `tool` (build + cache): `bin/tool-marker` containing `tool`; `TOOL_HOME` for build and
//!   launch scopes, `BUILD_ONLY_VAR=yes` for build only. Kept as is when restored from the cache
//!   with the same metadata (the log says `tool layer restored` or `tool layer created`).
//! - `runtime` (launch): executable `bin/hello`, `plan.json` with the plan entries received, and
//!   one environment change of every action and scope. Metadata `{"version":"1.0"}`.
//! - `scratchpad` (no types): one file, ignored after build.

use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, EnvChange,
    Error, LayerState, LayerTypes, Plan, Sbom, buildpack_id, layer_name, process_type,
};

/// Guest path of the `tool` layer, as later buildpacks see it.
pub const TOOL_HOME: &str = "/layers/tests_provider/tool";

/// The contents of `bin/hello` in the `runtime` layer.
pub const HELLO_SCRIPT: &str =
    "#!/bin/sh\necho \"hello from $GREETING $APPEND_VAR $PREPEND_VAR $DEFAULT_VAR\"\n";

/// The provider test buildpack.
#[derive(Default)]
pub struct Provider;

impl Buildpack for Provider {
    type Error = Error;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("tests/provider"), "0.1.0")
            .name("Test provider")
            .description("Provides greeting; every layer type and env change")
    }

    fn detect(&self, _ctx: DetectContext) -> Result<DetectResult, Error> {
        Ok(DetectResult::pass_with(Plan::new().provides("greeting"))
            .or(Plan::new().provides("greeting-alt")))
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, Error> {
        let tool_meta = serde_json::json!({ "tool": "1" });
        let (mut tool, state) = ctx.cached_layer(
            layer_name!("tool"),
            LayerTypes::none().build().cache(),
            |restored: &serde_json::Value| *restored == tool_meta,
        )?;
        if state == LayerState::Restored {
            kiln_sdk::log::info("tool layer restored");
        } else {
            kiln_sdk::log::info(format!("tool layer created ({state:?})"));
            tool.write_file("bin/tool-marker", "tool")?;
            tool.set_metadata(&tool_meta)?;
        }
        tool.add_env(EnvChange::set("TOOL_HOME", TOOL_HOME));
        tool.add_env(EnvChange::set("BUILD_ONLY_VAR", "yes").build_only());

        let plan: Vec<serde_json::Value> = ctx
            .plan
            .iter()
            .map(|e| serde_json::json!({ "name": e.name, "metadata": e.metadata }))
            .collect();
        let plan_json =
            serde_json::to_string_pretty(&plan).map_err(|source| Error::InvalidMetadata {
                what: "the plan".to_owned(),
                source,
            })?;
        // Launch-only: kept by metadata alone when the previous image has the same version
        // and plan, so the host reuses the previous image's layer without its contents.
        let wanted = serde_json::json!({ "version": "1.0", "plan": plan_json });
        let (mut runtime, state) = ctx.cached_layer::<serde_json::Value, _>(
            layer_name!("runtime"),
            LayerTypes::none().launch(),
            |old| *old == wanted,
        )?;
        if state == LayerState::Restored {
            kiln_sdk::log::info("runtime layer kept");
        } else {
            runtime.write_executable("bin/hello", HELLO_SCRIPT)?;
            runtime.write_file("plan.json", &plan_json)?;
        }
        runtime.add_env(EnvChange::set("GREETING", "kiln").launch_only());
        runtime.add_env(EnvChange::default_value("DEFAULT_VAR", "dflt"));
        runtime.add_env(EnvChange::append("APPEND_VAR", "appended").delimiter(":"));
        runtime.add_env(EnvChange::prepend("PREPEND_VAR", "prepended").delimiter(":"));
        runtime.add_env(EnvChange::append("NODELIM_VAR", "x"));
        runtime.add_env(EnvChange::set("WORKER_ONLY", "1").for_process(process_type!("worker")));
        runtime.set_metadata(&wanted)?;
        runtime.set_sbom(&Sbom::new().component(
            "hello-script",
            "1.0",
            "pkg:generic/hello-script@1.0",
        ));

        let mut scratchpad = ctx.create_layer(layer_name!("scratchpad"), LayerTypes::none())?;
        scratchpad.write_file("scratch.txt", "ignored after build\n")?;

        BuildResult::new()
            .layer(tool)
            .layer(runtime)
            .layer(scratchpad)
            .build()
    }
}

kiln_sdk::export_buildpack!(Provider);
