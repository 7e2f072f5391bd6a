//! The build phase with real components: plan entries, build layers and their env reaching
//! later buildpacks, layers restored from the cache or kept by metadata, and the records a
//! buildpack may not return.

use std::collections::BTreeMap;

use super::*;
use crate::cache::{Cache, LayerToSave};
use crate::detect::{self, DetectOutput};
use crate::{OrderEntry, restore};
use kiln_oci::LayerOwnership;

// Each phase's tests include the shared helpers; lib.rs stays free of test modules.
#[allow(clippy::duplicate_mod)]
#[path = "../test_support.rs"]
mod support;

use support::{CONSUMER, Dirs, Log, PROCFILE, PROVIDER, RAW, lines_of};

/// Detect `buildpacks` as one group (all required).
fn detect_all(rt: &Runtime, buildpacks: &[Buildpack], inputs: &BuildInputs) -> DetectOutput {
    let group: Vec<OrderEntry> = (0..buildpacks.len())
        .map(|buildpack| OrderEntry {
            buildpack,
            optional: false,
        })
        .collect();
    detect::detect(rt, buildpacks, &[group], inputs, |_, _| {}).unwrap()
}

/// Detect and build `buildpacks` as one group, with `restored`.
fn detect_and_build(
    rt: &Runtime,
    buildpacks: &[Buildpack],
    inputs: &BuildInputs,
    restored: &BTreeMap<usize, Restored>,
) -> Result<Vec<BuiltBuildpack>, BuildError> {
    let d = detect_all(rt, buildpacks, inputs);
    build(rt, buildpacks, &d.group, &d.plan, inputs, restored)
}

fn layer<'a>(b: &'a BuiltBuildpack, name: &str) -> &'a crate::outcome::LayerRecord {
    b.output
        .layers
        .iter()
        .find(|l| l.name.as_str() == name)
        .unwrap()
}

/// Provider and consumer built in `dirs`.
fn provider_and_consumer(
    dirs: &Dirs,
    restored: &BTreeMap<usize, Restored>,
) -> (Vec<BuiltBuildpack>, Log) {
    let (rt, log, bps) = support::buildpacks(&[PROVIDER, CONSUMER]);
    let built = detect_and_build(&rt, &bps, &dirs.inputs(&[]), restored).unwrap();
    (built, log)
}

#[test]
fn build_layers_env_and_plan_entries_reach_the_buildpacks_that_need_them() {
    let dirs = Dirs::new();
    let (built, log) = provider_and_consumer(&dirs, &BTreeMap::new());
    assert_eq!(built.iter().map(|b| b.index).collect::<Vec<_>>(), [0, 1]);
    let provider = &built[0];
    let names: Vec<&str> = provider
        .output
        .layers
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["runtime", "scratchpad", "tool"]);
    let tool = layer(provider, "tool");
    assert!(tool.build && tool.cache && !tool.launch);
    let runtime = layer(provider, "runtime");
    assert!(runtime.launch && !runtime.build && !runtime.cache);
    assert!(runtime.sbom.is_some());
    assert_eq!(runtime.reuse, None);
    assert!(
        lines_of(&log, "tests/provider")
            .iter()
            .any(|l| l.starts_with("tool layer created")),
        "{:?}",
        lines_of(&log, "tests/provider")
    );

    // The provider got the consumer's require as its plan entry.
    let root = dirs.layers.join("tests_provider");
    let plan = std::fs::read_to_string(root.join("runtime/plan.json")).unwrap();
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(
        plan,
        serde_json::json!([{"name": "greeting", "metadata": {"from": "consumer"}}])
    );
    // The consumer saw the provider's build layer: its env (build scope too) and files.
    let seen = std::fs::read_to_string(dirs.layers.join("tests_consumer/seen/seen.txt")).unwrap();
    assert_eq!(
        seen,
        "TOOL_HOME=/layers/tests_provider/tool\nBUILD_ONLY_VAR=yes\nmarker=tool\n"
    );
    let consumer = &built[1].output;
    let types: Vec<(&str, bool)> = consumer
        .processes
        .iter()
        .map(|p| (p.process_type.as_str(), p.default))
        .collect();
    assert_eq!(
        types,
        [("web", true), ("worker", false), ("args-demo", false)]
    );
    assert_eq!(
        consumer.labels,
        [("org.kiln.test".to_owned(), "consumer".to_owned())]
    );
    assert!(consumer.unmet.is_empty());
}

#[test]
fn each_buildpacks_records_are_written_into_its_layers_dir() {
    let dirs = Dirs::new();
    provider_and_consumer(&dirs, &BTreeMap::new());
    let provider = dirs.layers.join("tests_provider");
    let tool_toml = std::fs::read_to_string(provider.join("tool.toml")).unwrap();
    assert!(tool_toml.contains("build = true"), "{tool_toml}");
    assert!(tool_toml.contains("cache = true"), "{tool_toml}");
    assert_eq!(
        std::fs::read_to_string(provider.join("tool/env/TOOL_HOME.override")).unwrap(),
        "/layers/tests_provider/tool"
    );
    assert_eq!(
        std::fs::read_to_string(provider.join("tool/env.build/BUILD_ONLY_VAR.override")).unwrap(),
        "yes"
    );
    let launch = std::fs::read_to_string(dirs.layers.join("tests_consumer/launch.toml")).unwrap();
    assert!(launch.contains("type = \"web\""), "{launch}");
    assert!(launch.contains("org.kiln.test"), "{launch}");
    assert!(
        !provider.join("launch.toml").exists(),
        "the provider declared no process"
    );
}

#[test]
fn the_same_inputs_build_the_same_outputs() {
    let one = Dirs::new();
    let two = Dirs::new();
    let (a, _) = provider_and_consumer(&one, &BTreeMap::new());
    let (b, _) = provider_and_consumer(&two, &BTreeMap::new());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.index, y.index);
        assert_eq!(x.output, y.output);
    }
    let read = |d: &Dirs| {
        std::fs::read_to_string(d.layers.join("tests_provider/runtime/plan.json")).unwrap()
    };
    assert_eq!(read(&one), read(&two));
}

#[test]
fn a_layer_restored_from_the_cache_is_kept_by_the_buildpack() {
    let first = Dirs::new();
    let (built, _) = provider_and_consumer(&first, &BTreeMap::new());
    // Save the cache layers as the pipeline does, then restore them for a second build.
    let (rt, log, bps) = support::buildpacks(&[PROVIDER, CONSUMER]);
    let cache = Cache::new(first.path("cache"));
    let tool = layer(&built[0], "tool");
    let host_dir = first.layers.join("tests_provider/tool");
    cache
        .save(
            &[LayerToSave {
                buildpack: "tests/provider",
                version: "0.1.0",
                name: "tool",
                host_dir: &host_dir,
                dest: crate::layer_paths::layer_dest("tests_provider", "tool"),
                build: tool.build,
                launch: tool.launch,
                metadata: &tool.metadata,
                executables: &tool.executables,
            }],
            LayerOwnership::ROOT,
        )
        .unwrap();
    let meta = cache.load().unwrap().unwrap();
    let second = Dirs::new();
    let restored = restore::restore(
        Some((&cache, &meta)),
        None,
        &bps,
        &[0, 1],
        &second.layers,
        &|w: &str| panic!("warning: {w}"),
    );
    let again = detect_and_build(&rt, &bps, &second.inputs(&[]), &restored).unwrap();
    assert!(
        lines_of(&log, "tests/provider").contains(&"tool layer restored".to_owned()),
        "{:?}",
        lines_of(&log, "tests/provider")
    );
    assert_eq!(layer(&again[0], "tool"), tool);
    let seen = std::fs::read_to_string(second.layers.join("tests_consumer/seen/seen.txt")).unwrap();
    assert!(
        seen.contains("marker=tool"),
        "the restored files are used: {seen}"
    );
}

#[test]
fn a_launch_layer_kept_by_metadata_is_marked_for_reuse_from_the_previous_image() {
    let first = Dirs::new();
    let (built, _) = provider_and_consumer(&first, &BTreeMap::new());
    let metadata = serde_json::Value::Object(layer(&built[0], "runtime").metadata.clone());
    let sha = format!("sha256:{}", "12".repeat(32));
    let restored_with = |reusable: &[(&str, &str)]| {
        BTreeMap::from([(
            0,
            Restored {
                layers: vec![types::RestoredLayer {
                    name: "runtime".into(),
                    metadata: metadata.to_string(),
                    has_contents: false,
                }],
                reusable: reusable
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            },
        )])
    };

    let second = Dirs::new();
    let (rt, log, bps) = support::buildpacks(&[PROVIDER, CONSUMER]);
    let again = detect_and_build(
        &rt,
        &bps,
        &second.inputs(&[]),
        &restored_with(&[("runtime", &sha)]),
    )
    .unwrap();
    assert!(lines_of(&log, "tests/provider").contains(&"runtime layer kept".to_owned()));
    let runtime = layer(&again[0], "runtime");
    assert_eq!(runtime.reuse.as_deref(), Some(sha.as_str()));
    assert!(!second.layers.join("tests_provider/runtime").exists());
    assert!(
        second.layers.join("tests_provider/runtime.toml").is_file(),
        "its metadata is still recorded"
    );

    // Nothing to reuse from: the layer is not marked.
    let third = Dirs::new();
    let again = detect_and_build(&rt, &bps, &third.inputs(&[]), &restored_with(&[])).unwrap();
    assert_eq!(layer(&again[0], "runtime").reuse, None);
}

#[test]
fn unmet_for_an_entry_outside_the_buildpacks_plan_is_an_error_naming_it() {
    let (rt, _, bps) = support::buildpacks(&[PROVIDER, CONSUMER]);
    let dirs = Dirs::new();
    let e = detect_and_build(
        &rt,
        &bps,
        &dirs.inputs(&[("KILN_TEST_MODE", "unmet")]),
        &BTreeMap::new(),
    )
    .unwrap_err();
    match &e {
        BuildError::Outcome(o) => {
            assert_eq!(o.buildpack, "tests/consumer");
            assert!(
                o.reason.contains("greeting") || o.what.contains("greeting"),
                "{o}"
            );
        }
        e => panic!("expected an outcome error, got {e}"),
    }
    assert!(e.is_buildpack_fault());
}

#[test]
fn a_buildpack_error_names_the_buildpack_and_is_its_fault() {
    let (rt, _, bps) = support::buildpacks(&[RAW]);
    let dirs = Dirs::new();
    let e = detect_and_build(
        &rt,
        &bps,
        &dirs.inputs(&[("KILN_TEST_MODE", "no-such-mode")]),
        &BTreeMap::new(),
    )
    .unwrap_err();
    match &e {
        BuildError::Failed { buildpack, message } => {
            assert_eq!(buildpack, "tests/raw");
            assert!(message.contains("unknown KILN_TEST_MODE"), "{message}");
        }
        e => panic!("expected Failed, got {e}"),
    }
    assert!(e.is_buildpack_fault());
}

#[test]
fn records_a_buildpack_may_not_return_are_refused() {
    let (rt, _, bps) = support::buildpacks(&[RAW]);
    for mode in [
        "bad-layer-dotdot",
        "bad-layer-empty",
        "dup-process",
        "nul-env",
    ] {
        let dirs = Dirs::new();
        let e = detect_and_build(
            &rt,
            &bps,
            &dirs.inputs(&[("KILN_TEST_MODE", mode)]),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(
            matches!(&e, BuildError::Outcome(o) if o.buildpack == "tests/raw"),
            "{mode}: {e}"
        );
        assert!(e.is_buildpack_fault(), "{mode}");
    }
    let dirs = Dirs::new();
    let e = detect_and_build(
        &rt,
        &bps,
        &dirs.inputs(&[("KILN_TEST_MODE", "layer-is-file")]),
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(
        matches!(
            &e,
            BuildError::LayersDir(crate::layers_dir::LayersDirError::NotADirectory { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("notadir"), "{e}");
}

#[test]
fn a_valid_raw_outcome_and_the_procfile_processes_are_returned_as_declared() {
    let (rt, _, bps) = support::buildpacks(&[RAW, PROCFILE]);
    let dirs = Dirs::new();
    dirs.app_file("Procfile", "web: ./server --port 8080\nworker: ./work\n");
    let built = detect_and_build(&rt, &bps, &dirs.inputs(&[]), &BTreeMap::new()).unwrap();
    let raw = &built[0].output;
    assert_eq!(raw.layers.len(), 1);
    assert!(layer(&built[0], "fine").launch);
    assert_eq!(
        std::fs::read_to_string(dirs.layers.join("tests_raw/fine/fine.txt")).unwrap(),
        "fine\n"
    );
    assert_eq!(raw.processes[0].working_dir, kiln_spec::APP_DIR);

    let procfile = &built[1].output;
    let processes: Vec<(&str, &[String], bool)> = procfile
        .processes
        .iter()
        .map(|p| (p.process_type.as_str(), p.command.as_slice(), p.default))
        .collect();
    assert_eq!(
        processes,
        [
            (
                "web",
                &[
                    "/bin/sh".to_owned(),
                    "-c".to_owned(),
                    "./server --port 8080".to_owned()
                ][..],
                true
            ),
            (
                "worker",
                &["/bin/sh".to_owned(), "-c".to_owned(), "./work".to_owned()][..],
                false
            ),
        ]
    );
    assert!(procfile.layers.is_empty());
}
