//! `project.toml`: build env, include/exclude, the buildpack group with an inline buildpack,
//! `[io.kiln]` images, the project metadata label, and clear errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use support::*;

fn build(app: &Path, layout: &Path, extra: &[&str]) -> Output {
    let mut cmd = kiln_command();
    cmd.arg("build")
        .arg(format!("oci:{}", layout.display()))
        .arg("--path")
        .arg(app)
        .args(extra);
    run(&mut cmd)
}

#[test]
fn build_env_and_exclude_apply_to_the_build() {
    let app = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(
        app.path().join("project.toml"),
        r#"[_]
schema-version = "0.2"
id = "example/app"

[io.buildpacks]
exclude = ["secret.txt", "logs/", "!logs/keep.log"]

[[io.buildpacks.build.env]]
name = "GREETING"
value = "from-project"

[[io.buildpacks.build.env]]
name = "OVERRIDDEN"
value = "project"
"#,
    )
    .unwrap();
    std::fs::write(
        app.path().join("native.sh"),
        "echo \"greeting=$GREETING overridden=$OVERRIDDEN\"; find /workspace | sort\n",
    )
    .unwrap();
    std::fs::write(app.path().join("secret.txt"), "do not ship").unwrap();
    std::fs::create_dir_all(app.path().join("logs")).unwrap();
    std::fs::write(app.path().join("logs/a.log"), "x").unwrap();
    std::fs::write(app.path().join("logs/keep.log"), "x").unwrap();
    std::fs::write(app.path().join("kept.txt"), "x").unwrap();
    let layout = out.path().join("image");
    let o = build(
        app.path(),
        &layout,
        &[
            "--buildpack",
            test_buildpack("native").to_str().unwrap(),
            "--run-image",
            &busybox(),
            "--build-image",
            &busybox(),
            "--env",
            "OVERRIDDEN=flag",
        ],
    )
    .success();
    assert!(
        o.stderr.contains("greeting=from-project overridden=flag"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("/workspace/kept.txt"), "{}", o.stderr);
    assert!(!o.stderr.contains("/workspace/secret.txt"), "{}", o.stderr);
    assert!(!o.stderr.contains("/workspace/logs/a.log"), "{}", o.stderr);
    let run = run_image(
        &layout,
        "latest",
        &["--entrypoint", "/bin/ls"],
        &["/workspace"],
    )
    .success();
    assert!(!run.stdout.contains("secret.txt"), "{run:?}");
    assert!(run.stdout.contains("kept.txt"), "{run:?}");
}

const INLINE: &str = r#"[_]
schema-version = "0.2"
id = "example/inline-app"
version = "1.2.3"
source-url = "https://example.invalid/inline-app"

[[io.buildpacks.group]]
id = "example/hello"
version = "0.0.1"

[io.buildpacks.group.script]
api = "0.10"
shell = "/bin/sh"
inline = """
set -e
mkdir -p "$CNB_LAYERS_DIR/hello/bin" "$CNB_LAYERS_DIR/hello/env.launch"
printf '#!/bin/sh\necho "inline hello, $GREETING"\n' > "$CNB_LAYERS_DIR/hello/bin/hello"
chmod 755 "$CNB_LAYERS_DIR/hello/bin/hello"
printf 'world' > "$CNB_LAYERS_DIR/hello/env.launch/GREETING.override"
printf '[types]\nlaunch = true\n[metadata]\nmade = "inline"\n' > "$CNB_LAYERS_DIR/hello.toml"
printf '[[processes]]\ntype = "web"\ncommand = ["hello"]\ndefault = true\n' > "$CNB_LAYERS_DIR/launch.toml"
mkdir -p "$CNB_LAYERS_DIR/scratch-without-toml"
"""
"#;

#[test]
fn an_inline_buildpack_runs_its_script_in_the_build_image_and_the_image_runs_it() {
    let app = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let images = format!(
        "\n[io.kiln]\nbuild-image = {:?}\nrun-image = {:?}\n",
        busybox(),
        busybox()
    );
    std::fs::write(app.path().join("project.toml"), format!("{INLINE}{images}")).unwrap();
    let layout = out.path().join("image");
    let o = build(app.path(), &layout, &[]).success();
    assert!(o.stderr.contains("example/hello 0.0.1"), "{}", o.stderr);
    let run = run_image(&layout, "latest", &[], &[]).success();
    assert!(run.stdout.contains("inline hello, world"), "{run:?}");
    let config = inspect_json(&layout, "latest");
    let text = config.to_string();
    assert!(
        text.contains(r#"\"version\":{\"declared\":\"1.2.3\"}"#)
            || text.contains(r#"{\"declared\":\"1.2.3\"}"#),
        "{text}"
    );
}

#[test]
fn an_inline_buildpack_without_a_build_image_fails_naming_the_flag() {
    let app = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("project.toml"), INLINE).unwrap();
    let o = build(app.path(), &out.path().join("image"), &[]);
    assert_eq!(o.code, 51, "{}", o.stderr);
    assert!(o.stderr.contains("--build-image"), "{}", o.stderr);
}

#[test]
fn a_bad_project_toml_is_refused_naming_the_file_and_key() {
    let cases = [
        ("[_]\nschema-version = \"0.9\"\n", "schema-version"),
        (
            "[_]\nschema-version = \"0.2\"\n[io.buildpacks]\nexclud = [\"x\"]\n",
            "exclud",
        ),
        (
            "[_]\nschema-version = \"0.2\"\n[[io.buildpacks.build.env]]\nname = \"A=B\"\nvalue = \"x\"\n",
            "io.buildpacks.build.env[0]: name",
        ),
        ("[_\n", "project.toml"),
    ];
    for (text, needle) in cases {
        let app = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::write(app.path().join("project.toml"), text).unwrap();
        let o = build(app.path(), &out.path().join("image"), &[]);
        assert_eq!(o.code, 3, "{text}: {}", o.stderr);
        let line = o.error_line();
        assert!(line.contains("project.toml"), "{text}: {line}");
        assert!(line.contains(needle), "{text}: {line} should name {needle}");
        assert!(!out.path().join("image").exists());
    }
}
