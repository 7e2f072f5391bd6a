//! Build plan requires/provides, build/launch/cache layers, every kind of env modification,
//! labels, the CNB layers directory Kiln writes, and the tar conventions of exported layers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use support::*;

struct Built {
    work: tempfile::TempDir,
    digest: String,
}

impl Built {
    fn layout(&self) -> std::path::PathBuf {
        self.work.path().join("image")
    }
    fn layers(&self) -> std::path::PathBuf {
        self.work.path().join("layers")
    }
}

fn build_pair(extra: &[&str]) -> (Output, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = kiln_command();
    cmd.arg("build")
        .arg(format!("oci:{}", work.path().join("image").display()))
        .arg("--path")
        .arg(fixture("plan-app"))
        .arg("--buildpack")
        .arg(test_buildpack("provider"))
        .arg("--buildpack")
        .arg(test_buildpack("consumer"))
        .arg("--layers-dir")
        .arg(work.path().join("layers"))
        .args(["--run-image", &busybox()])
        .args(extra);
    (run(&mut cmd), work)
}

fn built(extra: &[&str]) -> Built {
    let (out, work) = build_pair(extra);
    let out = out.success();
    Built {
        digest: digest_of(&out),
        work,
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn plan_layers_env_and_labels() {
    let b = built(&[]);
    let layers = b.layers();

    // Detect: group and plan files.
    let group = read(&layers.join("group.toml"));
    assert!(
        group.find("tests/provider").unwrap() < group.find("tests/consumer").unwrap(),
        "{group}"
    );
    let plan = read(&layers.join("plan.toml"));
    assert!(
        plan.contains("name = \"greeting\"") && plan.contains("from = \"consumer\""),
        "{plan}"
    );

    // The provider received the consumer's require with its metadata.
    let plan_json: serde_json::Value =
        serde_json::from_str(&read(&layers.join("tests_provider/runtime/plan.json"))).unwrap();
    assert_eq!(plan_json[0]["name"], "greeting", "{plan_json}");
    assert_eq!(plan_json[0]["metadata"]["from"], "consumer", "{plan_json}");

    // The consumer saw the provider's build layer: env and files.
    let seen = read(&layers.join("tests_consumer/seen/seen.txt"));
    assert!(
        seen.contains("TOOL_HOME=/layers/tests_provider/tool"),
        "{seen}"
    );
    assert!(seen.contains("BUILD_ONLY_VAR=yes"), "{seen}");
    assert!(seen.contains("marker=tool"), "{seen}");

    // CNB layers dir written by the host from the records.
    let tool_toml: toml::Table =
        toml::from_str(&read(&layers.join("tests_provider/tool.toml"))).unwrap();
    assert_eq!(tool_toml["types"]["build"].as_bool(), Some(true));
    assert_eq!(tool_toml["types"]["cache"].as_bool(), Some(true));
    assert_eq!(tool_toml["types"]["launch"].as_bool(), Some(false));
    let runtime_toml: toml::Table =
        toml::from_str(&read(&layers.join("tests_provider/runtime.toml"))).unwrap();
    assert_eq!(runtime_toml["metadata"]["version"].as_str(), Some("1.0"));
    let env = layers.join("tests_provider/runtime");
    assert_eq!(read(&env.join("env.launch/GREETING.override")), "kiln");
    assert_eq!(read(&env.join("env/DEFAULT_VAR.default")), "dflt");
    assert_eq!(read(&env.join("env/APPEND_VAR.append")), "appended");
    assert_eq!(read(&env.join("env/APPEND_VAR.delim")), ":");
    assert_eq!(read(&env.join("env/PREPEND_VAR.prepend")), "prepended");
    assert_eq!(read(&env.join("env/NODELIM_VAR.append")), "x");
    assert!(!env.join("env/NODELIM_VAR.delim").exists());
    assert_eq!(
        read(&env.join("env.launch/worker/WORKER_ONLY.override")),
        "1"
    );
    assert_eq!(
        read(&layers.join("tests_provider/tool/env/TOOL_HOME.override")),
        "/layers/tests_provider/tool"
    );
    assert_eq!(
        read(&layers.join("tests_provider/tool/env.build/BUILD_ONLY_VAR.override")),
        "yes"
    );
    assert!(
        layers.join("tests_provider/scratchpad.ignore").is_dir(),
        "an untyped layer is renamed .ignore"
    );
    let launch: toml::Table =
        toml::from_str(&read(&layers.join("tests_consumer/launch.toml"))).unwrap();
    assert_eq!(launch["processes"].as_array().unwrap().len(), 3);
    assert_eq!(launch["labels"][0]["key"].as_str(), Some("org.kiln.test"));
    let metadata = read(&layers.join("config/metadata.toml"));
    assert!(
        metadata.contains("buildpack-default-process-type = \"web\""),
        "{metadata}"
    );

    // The image: only launch layers, in CNB order, with labels and env.
    let info = inspect_json(&b.layout(), "latest");
    assert_eq!(info["summary"]["manifest_digest"], b.digest.as_str());
    let created_by: Vec<String> = info["summary"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|l| l["created_by"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        created_by,
        [
            "Layer: 'runtime', Created by buildpack: tests/provider@0.1.0",
            "Layer: 'seen', Created by buildpack: tests/consumer@0.1.0",
            "Software Bill-of-Materials",
            "Application Layer",
            "Buildpacks Application Launcher",
            "Buildpacks Launcher Config",
            "Buildpacks Process Types",
        ]
    );
    let lifecycle = &info["lifecycle"];
    let provider_layers = lifecycle["buildpacks"][0]["layers"].as_object().unwrap();
    assert_eq!(provider_layers.keys().collect::<Vec<_>>(), ["runtime"]);
    assert_eq!(provider_layers["runtime"]["data"]["version"], "1.0");
    assert_eq!(provider_layers["runtime"]["launch"], true);
    let diff_ids: Vec<&str> = info["summary"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["diff_id"].as_str().unwrap())
        .collect();
    assert_eq!(lifecycle["runImage"]["topLayer"], diff_ids[0]);
    assert_eq!(provider_layers["runtime"]["sha"], diff_ids[1]);
    assert_eq!(lifecycle["sbom"]["sha"], diff_ids[3]);
    assert_eq!(lifecycle["app"][0]["sha"], diff_ids[4]);
    assert_eq!(lifecycle["launcher"]["sha"], diff_ids[5]);
    assert_eq!(lifecycle["config"]["sha"], diff_ids[6]);
    assert_eq!(lifecycle["process-types"]["sha"], diff_ids[7]);
    assert_eq!(info["build"]["buildpacks"][0]["id"], "tests/provider");
    assert_eq!(info["build"]["buildpacks"][1]["id"], "tests/consumer");
    let labels = &info["summary"]["labels"];
    assert_eq!(labels["org.kiln.test"], "consumer");
    assert_eq!(labels["io.buildpacks.project.metadata"], "{}");

    let env: BTreeMap<String, String> = info["summary"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (k, v) = e.as_str().unwrap().split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    // The image Env is the run image's plus the CNB contract; buildpack env is applied by
    // the launcher, per process.
    assert_eq!(env["CNB_LAYERS_DIR"], "/layers");
    assert_eq!(env["CNB_APP_DIR"], "/workspace");
    assert!(
        env["PATH"].starts_with("/cnb/process:/cnb/lifecycle:"),
        "{}",
        env["PATH"]
    );
    assert!(
        !env.contains_key("GREETING"),
        "launch env belongs to the launcher"
    );
    assert_eq!(
        info["summary"]["entrypoint"],
        serde_json::json!(["/cnb/process/web"])
    );
    assert!(info["summary"]["cmd"].is_null());
    assert_eq!(info["summary"]["working_dir"], "/workspace");

    // What a process sees at run time.
    let launched = run_image(
        &b.layout(),
        "latest",
        &["--entrypoint", "/cnb/lifecycle/launcher"],
        &["--", "env"],
    );
    assert_eq!(launched.code, 0, "{}", launched.stderr);
    let runtime_env: BTreeMap<&str, &str> = launched
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    assert_eq!(runtime_env["GREETING"], "kiln");
    assert_eq!(runtime_env["DEFAULT_VAR"], "dflt");
    assert_eq!(runtime_env["APPEND_VAR"], "appended");
    assert_eq!(runtime_env["PREPEND_VAR"], "prepended");
    assert_eq!(runtime_env["NODELIM_VAR"], "x");
    assert!(
        runtime_env["PATH"].starts_with("/layers/tests_provider/runtime/bin:"),
        "{}",
        runtime_env["PATH"]
    );
    assert!(
        !runtime_env["PATH"].contains("/cnb/process"),
        "{}",
        runtime_env["PATH"]
    );
    assert!(
        !runtime_env.contains_key("WORKER_ONLY"),
        "process env must not leak to others"
    );
    assert!(
        !runtime_env.contains_key("TOOL_HOME"),
        "build-only layers are not exported"
    );
    assert!(!runtime_env.contains_key("CNB_LAYERS_DIR"));

    // The default process runs and sees the launch env.
    let ran = run_image(&b.layout(), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stdout.trim(), "hello from kiln appended prepended dflt");
    let validation = validate_image(&b.layout(), "latest");
    assert!(
        validation.stdout.contains("RESULT: VALID"),
        "{}\n{}",
        validation.stdout,
        validation.stderr
    );
}

/// Entries of the layer whose diff_id is `diff_id`: path → (mode, uid, gid, mtime).
fn tar_entries(
    layout: &Path,
    info: &serde_json::Value,
    index: usize,
) -> BTreeMap<String, (u32, u64, u64, u64)> {
    let layer = &info["summary"]["layers"][index];
    let digest = layer["digest"].as_str().unwrap().replace("sha256:", "");
    let gz = std::fs::File::open(layout.join("blobs/sha256").join(digest)).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = BTreeMap::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let path = e.path().unwrap().display().to_string();
        assert!(
            h.username().unwrap().unwrap_or("").is_empty(),
            "{path} has a uname"
        );
        assert!(
            h.groupname().unwrap().unwrap_or("").is_empty(),
            "{path} has a gname"
        );
        let mut sink = Vec::new();
        e.read_to_end(&mut sink).unwrap();
        out.insert(
            path,
            (
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mtime().unwrap(),
            ),
        );
    }
    out
}

#[test]
fn layer_tars_follow_the_conventions_and_honour_uid_gid() {
    let b = built(&["--uid", "2000", "--gid", "3000"]);
    let info = inspect_json(&b.layout(), "latest");
    let runtime = tar_entries(&b.layout(), &info, 1);
    let hello = runtime["layers/tests_provider/runtime/bin/hello"];
    assert_eq!(hello, (0o755, 2000, 3000, 315_532_801));
    let plan = runtime["layers/tests_provider/runtime/plan.json"];
    assert_eq!(plan.0, 0o644);
    for (path, (_, uid, gid, mtime)) in &runtime {
        assert_eq!((*uid, *gid, *mtime), (2000, 3000, 315_532_801), "{path}");
    }
    let sbom = tar_entries(&b.layout(), &info, 3);
    assert!(
        sbom.contains_key("layers/sbom/launch/tests_provider/runtime/sbom.cdx.json"),
        "{sbom:?}"
    );
    let app = tar_entries(&b.layout(), &info, 4);
    assert!(
        app.contains_key("workspace/README.txt") || app.keys().any(|k| k.starts_with("workspace/")),
        "{app:?}"
    );
    let launcher = tar_entries(&b.layout(), &info, 5);
    assert_eq!(
        launcher["cnb/lifecycle/launcher"],
        (0o755, 0, 0, 315_532_801)
    );
    let config = tar_entries(&b.layout(), &info, 6);
    assert!(
        config.contains_key("layers/config/metadata.toml"),
        "{config:?}"
    );
}

#[test]
fn unmet_for_an_entry_outside_the_plan_is_an_error() {
    let (out, _work) = build_pair(&["--env", "KILN_TEST_MODE=unmet"]);
    assert_eq!(out.code, 51, "{}", out.stderr);
    assert!(
        out.error_line()
            .contains("buildpack tests/consumer returned an invalid unmet entry \"greeting\""),
        "{}",
        out.error_line()
    );
}

#[test]
fn requires_without_provider_fails_detection() {
    let app = tempfile::tempdir().unwrap();
    copy_dir(fixture("plan-app"), app.path());
    let out = kiln([
        "detect",
        "--path",
        app.path().to_str().unwrap(),
        "--buildpack",
        test_buildpack("consumer").to_str().unwrap(),
    ]);
    assert_eq!(out.code, 20, "{}", out.stderr);
    assert!(
        out.error_line()
            .contains("the build plan cannot be satisfied"),
        "{}",
        out.error_line()
    );
}

#[test]
fn order_file_groups_are_tried_in_order() {
    let work = tempfile::tempdir().unwrap();
    let order = work.path().join("order.toml");
    std::fs::write(
        &order,
        r#"
[[order]]
[[order.group]]
id = "tests/consumer"

[[order]]
[[order.group]]
id = "tests/provider"
optional = true
[[order.group]]
id = "kiln/procfile"
version = "0.1.0"
"#,
    )
    .unwrap();
    let detect = |order: &Path| {
        kiln([
            "detect",
            "--path",
            fixture("procfile-app").to_str().unwrap(),
            "--buildpack",
            test_buildpack("consumer").to_str().unwrap(),
            "--buildpack",
            test_buildpack("provider").to_str().unwrap(),
            "--order",
            order.to_str().unwrap(),
        ])
    };
    // Group 1 fails (a require nobody provides); in group 2 the optional provider's provides
    // are unmet, so it is dropped and the Procfile buildpack alone wins.
    let out = detect(&order).success();
    let group = out.stdout.split("# plan.toml").next().unwrap();
    assert!(group.contains("kiln/procfile"), "{}", out.stdout);
    assert!(!group.contains("tests/provider"), "{}", out.stdout);
    assert!(!group.contains("tests/consumer"), "{}", out.stdout);

    std::fs::write(
        &order,
        "[[order]]\n[[order.group]]\nid = \"acme/missing\"\n",
    )
    .unwrap();
    let out = detect(&order);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.error_line()
            .contains("order.toml: group 1 names buildpack acme/missing"),
        "{}",
        out.error_line()
    );

    std::fs::write(&order, "[[order]]\nbogus = 1\n").unwrap();
    let out = detect(&order);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.error_line().contains("invalid order file"),
        "{}",
        out.error_line()
    );
}

#[test]
fn sbom_is_exported_and_extracted() {
    let b = built(&[]);
    let sbom_file = b.layers().join("tests_provider/runtime.sbom.cdx.json");
    let written: serde_json::Value = serde_json::from_str(&read(&sbom_file)).unwrap();
    assert_eq!(written["bomFormat"], "CycloneDX");
    let out = b.work.path().join("sbom-out");
    let listed = kiln([
        "sbom",
        &format!("oci:{}", b.layout().display()),
        "--output-dir",
        out.to_str().unwrap(),
    ])
    .success();
    let extracted = out.join("launch/tests_provider/runtime/sbom.cdx.json");
    assert!(
        listed
            .stdout
            .contains("launch/tests_provider/runtime/sbom.cdx.json"),
        "{}",
        listed.stdout
    );
    let doc: serde_json::Value = serde_json::from_str(&read(&extracted)).unwrap();
    assert_eq!(doc, written);
    assert_eq!(doc["components"][0]["purl"], "pkg:generic/hello-script@1.0");

    // An image without SBOMs says so.
    let plain = b.work.path().join("plain");
    kiln([
        "-q",
        "build",
        &format!("oci:{}", plain.display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
    ])
    .success();
    let none = kiln([
        "sbom",
        &format!("oci:{}", plain.display()),
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    assert_eq!(none.code, 3, "{}", none.stderr);
    assert!(
        none.error_line().contains("has no SBOM layer"),
        "{}",
        none.error_line()
    );
}
