//! Native build steps: a wasm buildpack runs commands through the `exec` import in a build
//! image (busybox here), in bubblewrap, with only the grants it has as a guest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::*;

struct Built {
    out: Output,
    layout: PathBuf,
    app: tempfile::TempDir,
    _out_dir: tempfile::TempDir,
}

/// Build an app whose `native.sh` is `script` with the `native` test buildpack.
fn build_native(script: &str, build_image: Option<&str>, extra: &[&str]) -> Built {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("native.sh"), script).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("image");
    let out = build_in(app.path(), &layout, build_image, extra);
    Built {
        out,
        layout,
        app,
        _out_dir: out_dir,
    }
}

fn build_in(app: &Path, layout: &Path, build_image: Option<&str>, extra: &[&str]) -> Output {
    run(&mut build_command(app, layout, build_image, extra))
}

/// `kiln build` of `app` into `layout` with the `native` buildpack on busybox.
fn build_command(
    app: &Path,
    layout: &Path,
    build_image: Option<&str>,
    extra: &[&str],
) -> std::process::Command {
    let mut cmd = kiln_command();
    cmd.arg("build")
        .arg(format!("oci:{}", layout.display()))
        .arg("--path")
        .arg(app)
        .arg("--buildpack")
        .arg(test_buildpack("native"))
        .args(["--run-image", &busybox()])
        .args(extra);
    if let Some(image) = build_image {
        cmd.args(["--build-image", image]);
    }
    cmd
}

const WEB: &str = r#"set -e
echo "first passwd line: $(head -n 1 /etc/passwd)"
echo "uid $(id -u) gid $(id -g) host $(hostname) tz $TZ epoch $SOURCE_DATE_EPOCH home $HOME"
mkdir -p "$LAYER/bin"
printf '#!/bin/sh\necho native-web says hi\n' > "$LAYER/bin/web"
chmod 755 "$LAYER/bin/web"
echo built > /workspace/built.txt
"#;

#[test]
fn a_native_step_runs_in_the_build_image_and_its_files_are_in_the_image() {
    let b = build_native(WEB, Some(&busybox()), &[]);
    let out = b.out.success();
    // The build image's passwd (busybox's), not the host's; the build user; fixed settings.
    assert!(
        out.stderr
            .contains("first passwd line: root:x:0:0:root:/root:/bin/sh"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("uid 1000 gid 1000 host kiln tz UTC epoch 315532801 home /tmp/home"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("Build image: oci:"), "{}", out.stderr);
    // The user's app is untouched; the step wrote the build's private copy.
    assert!(!b.app.path().join("built.txt").exists());
    let run = run_image(&b.layout, "latest", &[], &[]).success();
    assert!(run.stdout.contains("native-web says hi"), "{run:?}");
    let run = run_image(
        &b.layout,
        "latest",
        &["--entrypoint", "/bin/cat"],
        &["/workspace/built.txt"],
    )
    .success();
    assert_eq!(run.stdout.trim(), "built");
}

#[test]
fn without_a_build_image_a_native_step_fails_naming_the_flag() {
    let b = build_native(WEB, None, &[]);
    assert_eq!(b.out.code, 51, "{}", b.out.stderr);
    assert!(
        b.out.stderr.contains("--build-image REF"),
        "{}",
        b.out.stderr
    );
    assert!(!b.layout.exists());
}

#[test]
fn exec_is_refused_during_detect() {
    let b = build_native(
        WEB,
        Some(&busybox()),
        &["--env", "KILN_TEST_EXEC_IN_DETECT=1"],
    );
    assert_eq!(b.out.code, 21, "{}", b.out.stderr);
    assert!(
        b.out
            .stderr
            .contains("exec in detect refused: the command /bin/sh failed: native commands may only run during build, not during detect"),
        "{}",
        b.out.stderr
    );
    assert!(!b.app.path().join("detect-wrote").exists());
}

#[test]
fn a_symlink_a_step_plants_in_its_layer_pointing_outside_is_refused() {
    let b = build_native("ln -s /etc/passwd \"$LAYER/evil\"\n", Some(&busybox()), &[]);
    assert_eq!(b.out.code, 51, "{}", b.out.stderr);
    assert!(b.out.error_line().contains("evil"), "{}", b.out.stderr);
    assert!(!b.layout.exists());
}

#[test]
fn a_step_sees_none_of_kilns_environment() {
    let secret = "kiln-e2e-secret-5b9d";
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("native.sh"), "env | sort\n").unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let image = busybox();
    let layout = out_dir.path().join("image");
    let mut cmd = build_command(app.path(), &layout, Some(&image), &[]);
    cmd.env("KILN_PLANTED_SECRET", secret)
        .env("AWS_SECRET_ACCESS_KEY", secret);
    let out = run(&mut cmd).success();
    assert!(!out.stderr.contains(secret), "{}", out.stderr);
    assert!(
        out.stderr.contains("CNB_LAYERS_DIR=/layers/tests_native"),
        "{}",
        out.stderr
    );
    // The build image's PATH is the base of the buildpack's environment.
    assert!(
        out.stderr.contains("PATH=/bin:/sbin:/usr/bin:/usr/sbin")
            || out.stderr.contains("PATH=/usr/local"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_step_past_its_time_limit_is_killed_and_the_build_fails() {
    let started = std::time::Instant::now();
    let b = build_native(
        "sleep 60 & sleep 60\n",
        Some(&busybox()),
        &["--env", "KILN_TEST_TIMEOUT=1"],
    );
    assert_eq!(b.out.code, 51, "{}", b.out.stderr);
    assert!(
        b.out.error_line().contains("time limit"),
        "{}",
        b.out.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
}

#[test]
fn captured_output_comes_back_to_the_buildpack() {
    let b = build_native(
        "echo captured-line; echo to-stderr >&2\n",
        Some(&busybox()),
        &["--env", "KILN_TEST_CAPTURE=1"],
    );
    let out = b.out.success();
    assert!(!out.stderr.contains("captured-line"), "{}", out.stderr);
    assert!(out.stderr.contains("to-stderr"), "{}", out.stderr);
    let run = run_image(
        &b.layout,
        "latest",
        &["--entrypoint", "/bin/cat"],
        &["/layers/tests_native/out/captured.txt"],
    )
    .success();
    assert_eq!(run.stdout.trim(), "captured-line");
}

#[test]
fn the_same_app_from_two_paths_gives_the_same_digest_and_the_rootfs_is_reused() {
    let first = build_native(WEB, Some(&busybox()), &[]);
    let first_out = first.out.success();
    let second = build_native(WEB, Some(&busybox()), &[]);
    let second_out = second.out.success();
    assert_eq!(digest_of(&first_out), digest_of(&second_out));
    assert!(
        !second_out.stderr.contains(", unpacked"),
        "the second build unpacked the build image again: {}",
        second_out.stderr
    );
}

#[test]
fn a_build_image_of_another_platform_is_refused() {
    let other = tempfile::tempdir().unwrap();
    let image = edited_busybox(&other.path().join("arm"), "s390x", |config| {
        config
            .root_mut()
            .insert("architecture".into(), "s390x".into());
    });
    let b = build_native(WEB, Some(&image), &[]);
    assert_eq!(b.out.code, 3, "{}", b.out.stderr);
    assert!(
        b.out.error_line().contains("same platform"),
        "{}",
        b.out.stderr
    );
}

#[test]
fn a_missing_bubblewrap_is_named_with_the_package_to_install() {
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("native.sh"), WEB).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let image = busybox();
    let mut cmd = build_command(app.path(), &out_dir.path().join("image"), Some(&image), &[]);
    cmd.env("KILN_BWRAP", "/nonexistent/bwrap");
    let out = run(&mut cmd);
    assert_eq!(out.code, 32, "{}", out.stderr);
    let line = out.error_line();
    assert!(line.contains("bubblewrap"), "{line}");
    assert!(line.contains("apt-get install bubblewrap"), "{line}");
    assert!(!out_dir.path().join("image").exists());
}
