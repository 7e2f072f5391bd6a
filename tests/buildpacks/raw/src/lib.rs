//! Test buildpack `tests/raw`: implements the `kiln:buildpack` world with raw WIT bindings (no
//! `kiln-sdk`), so it can return records the SDK would refuse and the host must reject.
//!
//! Detect always passes. Build, by `KILN_TEST_MODE`:
//! - `bad-layer-dotdot`: a layer named `../x`;
//! - `bad-layer-empty`: a layer named ``;
//! - `bad-layer-slash`: a layer named `/`;
//! - `dup-process`: two processes of type `web`;
//! - `bad-env-name`: an environment change of variable `A=B`;
//! - `bad-sbom`: a launch layer whose SBOM is JSON but not CycloneDX;
//! - `huge-error`: a 16 MiB error message;
//! - `nul-env`: an env value with a NUL byte; `nul-command`: a process command with one;
//! - `many-processes`: 100,000 processes; `huge-label`: a 2 MiB label value;
//! - `stack-overflow`: unbounded recursion;
//! - `layer-is-file`: a declared launch layer whose directory is a regular file;
//! - `long-path`: a launch + cache layer `deep` holding a file 4,000 bytes below the layer;
//! - `slices`: app slices `static` and `*.md`; `bad-slice`: a slice glob `a/[`;
//! - `ok` or no mode: a valid launch layer `fine` with one file and a `web` process `/bin/true`.
//!
//! An unknown mode is an error.

mod bindings {
    #![allow(missing_docs, clippy::pedantic, unsafe_op_in_unsafe_fn)]

    wit_bindgen::generate!({
        path: "../../../wit",
        world: "buildpack",
    });
}

use bindings::kiln::buildpack::types::{
    BuildContext, BuildOutcome, BuildpackInfo, Context, DetectOutcome, EnvAction, EnvModification,
    EnvScope, Error, KeyValue, Layer, Process,
};

/// The CNB Buildpack API this buildpack declares.
pub const API: &str = "0.12";

/// The raw test buildpack.
pub struct Raw;

fn mode(env: &[KeyValue]) -> &str {
    env.iter()
        .find(|kv| kv.key == "KILN_TEST_MODE")
        .map_or("ok", |kv| kv.value.as_str())
}

fn error(message: String) -> Error {
    Error {
        message,
        detail: String::new(),
    }
}

fn layer(name: &str, launch: bool) -> Layer {
    Layer {
        name: name.to_owned(),
        launch,
        build: false,
        cache: false,
        env: Vec::new(),
        metadata: "{}".to_owned(),
        executables: Vec::new(),
        sbom: None,
    }
}

fn web(command: &str) -> Process {
    Process {
        type_: "web".to_owned(),
        command: vec![command.to_owned()],
        args: Vec::new(),
        default: false,
        working_dir: String::new(),
    }
}

fn outcome(layers: Vec<Layer>, processes: Vec<Process>) -> BuildOutcome {
    BuildOutcome {
        layers,
        processes,
        labels: Vec::new(),
        slices: Vec::new(),
        unmet: Vec::new(),
    }
}

fn make_dir(ctx: &BuildContext, name: &str) -> Result<std::path::PathBuf, Error> {
    let dir = std::path::Path::new(&ctx.layers_dir).join(name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| error(format!("could not create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// Recursion without end, in small frames, so the call stack (not linear memory) runs out.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    1 + recurse(std::hint::black_box(depth + 1))
}

impl bindings::Guest for Raw {
    fn describe() -> BuildpackInfo {
        BuildpackInfo {
            id: "tests/raw".to_owned(),
            version: "0.1.0".to_owned(),
            name: "Test raw".to_owned(),
            homepage: String::new(),
            description: "Returns records the SDK would refuse".to_owned(),
            api: API.to_owned(),
            targets: Vec::new(),
            clear_env: false,
            sbom_formats: Vec::new(),
        }
    }

    fn detect(_ctx: Context) -> Result<DetectOutcome, Error> {
        Ok(DetectOutcome::Pass(Vec::new()))
    }

    fn build(ctx: BuildContext) -> Result<BuildOutcome, Error> {
        let mode = mode(&ctx.base.platform_env);
        match mode {
            "bad-layer-dotdot" => Ok(outcome(vec![layer("../x", true)], Vec::new())),
            "bad-layer-empty" => Ok(outcome(vec![layer("", true)], Vec::new())),
            "bad-layer-slash" => Ok(outcome(vec![layer("/", true)], Vec::new())),
            "dup-process" => Ok(outcome(
                Vec::new(),
                vec![web("/bin/true"), web("/bin/false")],
            )),
            "bad-sbom" => {
                let mut bad = layer("badsbom", true);
                bad.sbom = Some("{\"not\": \"cyclonedx\"}".to_owned());
                Ok(outcome(vec![bad], Vec::new()))
            }
            "bad-env-name" => {
                let mut bad = layer("badenv", true);
                bad.env.push(EnvModification {
                    name: "A=B".to_owned(),
                    action: EnvAction::Override,
                    value: "x".to_owned(),
                    delimiter: None,
                    scope: EnvScope::All,
                });
                let dir = std::path::Path::new(&ctx.layers_dir).join("badenv");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| error(format!("could not create {}: {e}", dir.display())))?;
                Ok(outcome(vec![bad], Vec::new()))
            }
            "huge-error" => Err(error("x".repeat(16 << 20))),
            "nul-env" => {
                let mut bad = layer("nulenv", true);
                bad.env.push(EnvModification {
                    name: "GREETING".to_owned(),
                    action: EnvAction::Override,
                    value: "hello\0world".to_owned(),
                    delimiter: None,
                    scope: EnvScope::All,
                });
                make_dir(&ctx, "nulenv")?;
                Ok(outcome(vec![bad], Vec::new()))
            }
            "nul-command" => Ok(outcome(Vec::new(), vec![web("/bin/echo\0hi")])),
            "many-processes" => Ok(outcome(
                Vec::new(),
                (0..100_000)
                    .map(|i| Process {
                        type_: format!("p{i}"),
                        ..web("/bin/true")
                    })
                    .collect(),
            )),
            "huge-label" => {
                let mut o = outcome(Vec::new(), Vec::new());
                o.labels.push(KeyValue {
                    key: "big".to_owned(),
                    value: "v".repeat(2 << 20),
                });
                Ok(o)
            }
            "stack-overflow" => Ok(outcome(Vec::new(), vec![web(&recurse(0).to_string())])),
            "long-path" => {
                let mut dir = make_dir(&ctx, "deep")?;
                for i in 0..20 {
                    dir.push(format!("{i:02}{}", "d".repeat(197)));
                }
                std::fs::create_dir_all(&dir)
                    .map_err(|e| error(format!("could not create the deep directories: {e}")))?;
                std::fs::write(dir.join("file.txt"), "deep down\n")
                    .map_err(|e| error(format!("could not write the deep file: {e}")))?;
                let mut deep = layer("deep", true);
                deep.cache = true;
                Ok(outcome(vec![deep], Vec::new()))
            }
            "layer-is-file" => {
                let path = std::path::Path::new(&ctx.layers_dir).join("notadir");
                std::fs::write(&path, "a file where a layer dir belongs\n")
                    .map_err(|e| error(format!("could not write {}: {e}", path.display())))?;
                Ok(outcome(vec![layer("notadir", true)], Vec::new()))
            }
            "slices" | "bad-slice" => {
                let mut process = web("/bin/true");
                process.default = true;
                let mut out = outcome(Vec::new(), vec![process]);
                out.slices = if mode == "slices" {
                    vec![vec!["static".to_owned()], vec!["*.md".to_owned()]]
                } else {
                    vec![vec!["a/[".to_owned()]]
                };
                Ok(out)
            }
            "ok" => {
                let dir = std::path::Path::new(&ctx.layers_dir).join("fine");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| error(format!("could not create {}: {e}", dir.display())))?;
                let file = dir.join("fine.txt");
                std::fs::write(&file, "fine\n")
                    .map_err(|e| error(format!("could not write {}: {e}", file.display())))?;
                let mut process = web("/bin/true");
                process.default = true;
                Ok(outcome(vec![layer("fine", true)], vec![process]))
            }
            other => Err(error(format!(
                "tests/raw: unknown KILN_TEST_MODE {other:?}"
            ))),
        }
    }
}

bindings::export!(Raw with_types_in bindings);
