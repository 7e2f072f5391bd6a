//! Escape attempts from a hostile buildpack. Each one must fail the build with a clear error,
//! leave no output behind, and never crash the host.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::*;

struct Attempt {
    out: Output,
    layout: PathBuf,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn attempt(mode: &str, prepare_app: impl FnOnce(&Path), extra: &[&str]) -> Attempt {
    let app = tempfile::tempdir().unwrap();
    copy_dir(fixture("empty-app"), app.path());
    prepare_app(app.path());
    let out_dir = tempfile::tempdir().unwrap();
    let layout = out_dir.path().join("image");
    let mut cmd = kiln_command();
    cmd.arg("build")
        .arg(format!("oci:{}", layout.display()))
        .arg("--path")
        .arg(app.path())
        .arg("--buildpack")
        .arg(test_buildpack("hostile"))
        .arg("--env")
        .arg(format!("KILN_TEST_MODE={mode}"))
        .args([
            "--detect-timeout",
            "1",
            "--build-timeout",
            "2",
            "--memory-limit",
            "64",
        ])
        .args(extra);
    let out = run(&mut cmd);
    Attempt {
        out,
        layout,
        _dirs: (app, out_dir),
    }
}

fn assert_refused(a: &Attempt, code: i32, needle: &str) {
    assert_eq!(a.out.code, code, "stderr:\n{}", a.out.stderr);
    let line = a.out.error_line();
    assert!(line.starts_with("ERROR: "), "{line}");
    assert!(line.contains(needle), "expected {needle:?} in {line:?}");
    assert!(!a.out.stderr.contains("panicked"), "{}", a.out.stderr);
    assert!(
        !a.out.stderr.contains("root:x:0:0"),
        "host data leaked: {}",
        a.out.stderr
    );
    assert!(
        !a.layout.exists(),
        "a failed build must not create the output"
    );
}

#[test]
fn reading_etc_passwd_is_refused() {
    let a = attempt("read-passwd", |_| {}, &[]);
    assert_refused(&a, 51, "sandbox attempt read-passwd refused");
}

#[test]
fn dotdot_traversal_is_refused() {
    let a = attempt("dotdot", |_| {}, &[]);
    assert_refused(&a, 51, "sandbox attempt dotdot refused");
}

#[test]
fn following_an_app_symlink_out_of_the_workspace_is_refused() {
    let a = attempt(
        "symlink-follow",
        |app| std::os::unix::fs::symlink("/etc", app.join("escape")).unwrap(),
        &[],
    );
    assert_refused(&a, 51, "sandbox attempt symlink-follow refused");
}

#[test]
fn writing_to_the_workspace_during_detect_is_refused() {
    let a = attempt("detect-write", |_| {}, &[]);
    assert_refused(&a, 21, "sandbox attempt detect-write refused");
}

#[test]
fn planting_an_escaping_symlink_in_a_layer_is_rejected_by_the_host() {
    let a = attempt("plant-symlink", |_| {}, &[]);
    assert_refused(
        &a,
        51,
        "escapes its layers directory: /layers/tests_hostile/planted/evil",
    );
}

#[test]
fn an_infinite_loop_in_build_hits_the_time_limit() {
    let a = attempt("loop", |_| {}, &[]);
    assert_refused(
        &a,
        51,
        "buildpack tests/hostile exceeded the build time limit of 2s",
    );
}

#[test]
fn an_infinite_loop_in_detect_hits_the_time_limit() {
    let a = attempt("detect-loop", |_| {}, &[]);
    assert_refused(&a, 21, "exceeded the detect time limit of 1s");
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let a = attempt("membomb", |_| {}, &[]);
    assert_refused(
        &a,
        51,
        "buildpack tests/hostile exceeded the memory limit of 64 MiB during build",
    );
}

#[test]
fn network_access_is_refused_and_nothing_connects() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let a = attempt(
        "network",
        |_| {},
        &["--env", &format!("KILN_TEST_ADDR={addr}")],
    );
    assert_refused(&a, 51, "sandbox attempt network refused");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the buildpack reached the host network: {other:?}"),
    }
}

#[test]
fn the_download_cache_is_read_only_to_buildpacks() {
    let downloads = tempfile::tempdir().unwrap();
    let a = attempt(
        "write-downloads",
        |_| {},
        &["--download-cache", downloads.path().to_str().unwrap()],
    );
    assert_refused(&a, 51, "sandbox attempt write-downloads refused");
    assert!(!downloads.path().join("sha256/planted").exists());
}

#[test]
fn host_environment_is_not_visible_to_buildpacks() {
    let app = tempfile::tempdir().unwrap();
    copy_dir(fixture("empty-app"), app.path());
    let work = tempfile::tempdir().unwrap();
    let layers = work.path().join("layers");
    let out = run(kiln_command()
        .arg("build")
        .arg(format!("oci:{}", work.path().join("image").display()))
        .arg("--path")
        .arg(app.path())
        .arg("--buildpack")
        .arg(test_buildpack("hostile"))
        .args([
            "--env",
            "KILN_TEST_MODE=env-dump",
            "--env",
            "USER_GIVEN=visible",
        ])
        .arg("--layers-dir")
        .arg(&layers)
        .env("AWS_SECRET_ACCESS_KEY", "fake-secret-from-host")
        .env("HOME", "/root"))
    .success();
    assert!(out.stdout.starts_with("sha256:"));
    let vars = std::fs::read_to_string(layers.join("tests_hostile/dump/vars.txt")).unwrap();
    assert!(!vars.contains("AWS_SECRET_ACCESS_KEY"), "{vars}");
    assert!(!vars.contains("fake-secret-from-host"), "{vars}");
    assert!(!vars.lines().any(|l| l.starts_with("HOME=")), "{vars}");
    assert!(vars.contains("USER_GIVEN=visible"), "{vars}");
    assert!(
        vars.contains("CNB_LAYERS_DIR=/layers/tests_hostile"),
        "{vars}"
    );
    assert!(vars.contains("CNB_TARGET_OS=linux"), "{vars}");
}
