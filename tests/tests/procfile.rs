//! The Procfile buildpack end to end: build onto busybox, validate with independent tools,
//! run the default process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[test]
fn procfile_app_on_busybox_validates_and_runs() {
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("image");
    let build = kiln([
        "build",
        &format!("oci:{}:app", layout.display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--run-image",
        &busybox(),
    ])
    .success();
    let digest = digest_of(&build);
    assert!(build.stderr.contains("===> DETECTING"), "{}", build.stderr);
    assert!(
        build.stderr.contains("[kiln/procfile] process web"),
        "{}",
        build.stderr
    );

    let validation = validate_image(&layout, "app");
    assert!(
        validation.code == 0 && validation.stdout.contains("RESULT: VALID"),
        "validate-image.sh failed:\n{}\n{}",
        validation.stdout,
        validation.stderr
    );
    assert!(validation.stdout.contains(&digest), "{}", validation.stdout);

    let ran = run_image(&layout, "app", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stdout.trim(), "hello from kiln");

    let info = inspect_json(&layout, "app");
    let build_md = &info["build"];
    assert_eq!(build_md["buildpack-default-process-type"], "web");
    let types: Vec<&str> = build_md["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["web", "worker"]);
    assert_eq!(info["summary"]["working_dir"], "/workspace");
    assert_eq!(info["summary"]["manifest_digest"], digest.as_str());
}

#[test]
fn text_inspect_lists_processes_layers_and_run_image() {
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("image");
    let image = format!("oci:{}", layout.display());
    kiln([
        "build",
        &image,
        "--path",
        fixture("procfile-app").to_str().unwrap(),
    ])
    .success();
    let text = kiln(["inspect", &image]).success().stdout;
    for want in [
        "Digest:",
        "kiln/procfile",
        "web (default): /bin/sh -c 'echo hello from kiln'",
        "worker:",
        "Application Layer",
        "Run image:  scratch",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn detect_prints_group_and_plan() {
    let out = kiln([
        "detect",
        "--path",
        fixture("procfile-app").to_str().unwrap(),
    ])
    .success();
    assert!(out.stdout.contains("[[group]]"), "{}", out.stdout);
    assert!(
        out.stdout.contains("id = \"kiln/procfile\""),
        "{}",
        out.stdout
    );
}

#[test]
fn app_without_procfile_fails_detection_with_code_20() {
    let out = kiln(["detect", "--path", fixture("empty-app").to_str().unwrap()]);
    assert_eq!(out.code, 20, "{}", out.stderr);
    assert!(
        out.stderr.contains("no buildpack group passed detection"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("no Procfile"), "{}", out.stderr);
}

#[test]
fn malformed_procfile_names_the_line() {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("Procfile"),
        "web: echo ok\nthis line is wrong\n",
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("image");
    let out = kiln([
        "build",
        &format!("oci:{}", layout.display()),
        "--path",
        app.path().to_str().unwrap(),
    ]);
    assert_eq!(out.code, 51, "{}", out.stderr);
    let line = out.error_line();
    assert!(
        line.starts_with("ERROR: buildpack kiln/procfile failed: Procfile line 2 is malformed"),
        "{line}"
    );
    assert!(!layout.exists(), "the output must not be created");
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

#[test]
fn buildpack_refs_by_directory_and_embedded_id() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("bp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(test_buildpack("raw"), dir.join("buildpack.wasm")).unwrap();
    std::fs::write(
        dir.join("buildpack.toml"),
        "api = \"0.12\"\n[buildpack]\nid = \"tests/raw\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let layout = work.path().join("image");
    let out = kiln([
        "-q",
        "build",
        &format!("oci:{}", layout.display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--buildpack",
        dir.to_str().unwrap(),
        "--buildpack",
        "kiln/procfile",
        "--env",
        "KILN_TEST_MODE=ok",
    ])
    .success();
    digest_of(&out);
    let info = inspect_json(&layout, "latest");
    let ids: Vec<&str> = info["build"]["buildpacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tests/raw", "kiln/procfile"]);
    // The later buildpack's `web` replaces the earlier one.
    assert_eq!(
        info["build"]["processes"][0]["buildpackID"],
        "kiln/procfile"
    );

    // buildpack.toml must agree with what the component says about itself.
    std::fs::write(
        dir.join("buildpack.toml"),
        "[buildpack]\nid = \"tests/other\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let out = kiln([
        "build",
        &format!("oci:{}", work.path().join("x").display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--buildpack",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 12, "{}", out.stderr);
    assert!(
        out.error_line().contains("buildpack.toml"),
        "{}",
        out.error_line()
    );
    assert!(
        out.error_line().contains("tests/other"),
        "{}",
        out.error_line()
    );
}

#[test]
fn a_layout_keeps_its_other_tags() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("image");
    let app = fixture("procfile-app");
    let first = digest_of(
        &kiln([
            "-q",
            "build",
            &format!("oci:{}:one", layout.display()),
            "--path",
            app.to_str().unwrap(),
        ])
        .success(),
    );
    let other_app = work.path().join("app2");
    copy_dir(&app, &other_app);
    std::fs::write(other_app.join("Procfile"), "web: echo second\n").unwrap();
    let second = digest_of(
        &kiln([
            "-q",
            "build",
            &format!("oci:{}:two", layout.display()),
            "--path",
            other_app.to_str().unwrap(),
        ])
        .success(),
    );
    assert_ne!(first, second);
    assert_eq!(
        inspect_json(&layout, "one")["summary"]["manifest_digest"],
        first.as_str()
    );
    assert_eq!(
        inspect_json(&layout, "two")["summary"]["manifest_digest"],
        second.as_str()
    );
    // Rebuilding a tag replaces it in place and leaves the other alone.
    let again = digest_of(
        &kiln([
            "-q",
            "build",
            &format!("oci:{}:one", layout.display()),
            "--path",
            other_app.to_str().unwrap(),
        ])
        .success(),
    );
    assert_eq!(again, second);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(tags, ["one", "two"]);
}
