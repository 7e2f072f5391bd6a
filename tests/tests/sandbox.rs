//! Escape attempts from a hostile buildpack. Each one must fail the build with a clear error,
//! leave no output behind, and never crash the host.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;
mod support;

use std::path::{Path, PathBuf};

use node_support::Server;
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

/// A fixture server with `/payload` and the sha256 of its bytes.
fn payload_server(dir: &Path, body: &[u8]) -> (Server, String) {
    use sha2::Digest as _;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("payload"), body).unwrap();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)));
    (Server::start(dir).unwrap(), digest)
}

#[test]
fn a_download_cannot_be_laundered_through_the_mismatch_error() {
    let fixture_dir = tempfile::tempdir().unwrap();
    let (server, real) = payload_server(fixture_dir.path(), b"not pinned by anyone");
    let url = format!("{}/payload", server.base);
    let a = attempt(
        "launder",
        |_| {},
        &[
            "--env",
            &format!("KILN_TEST_URL={url}"),
            "--network-allow",
            "127.0.0.1",
        ],
    );
    assert_refused(&a, 51, "sandbox attempt launder refused");
    assert!(
        a.out.stderr.contains("integrity mismatch"),
        "{}",
        a.out.stderr
    );
    // The buildpack never learns the digest of what arrived.
    assert!(!a.out.stderr.contains(&real), "{}", a.out.stderr);
}

#[test]
fn loopback_downloads_need_network_allow() {
    let fixture_dir = tempfile::tempdir().unwrap();
    let (server, digest) = payload_server(fixture_dir.path(), b"a local service");
    // A download cache of this test's own: a cache hit would need no request at all.
    let downloads = tempfile::tempdir().unwrap();
    let env = [
        "--env".to_owned(),
        format!("KILN_TEST_URL={}/payload", server.base),
        "--env".to_owned(),
        format!("KILN_TEST_DIGEST={digest}"),
        "--download-cache".to_owned(),
        downloads.path().display().to_string(),
    ];
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    let refused = attempt("fetch-url", |_| {}, &env);
    assert_refused(&refused, 51, "sandbox attempt fetch-url refused");
    assert!(
        refused.out.stderr.contains("--network-allow 127.0.0.1"),
        "{}",
        refused.out.stderr
    );
    assert_eq!(server.total(), 0, "no request reached the loopback service");
    // A name that resolves to loopback is refused the same way.
    let port = server.base.rsplit(':').next().unwrap();
    let by_name = attempt(
        "fetch-url",
        |_| {},
        &[
            "--env",
            &format!("KILN_TEST_URL=http://localhost:{port}/payload"),
            "--env",
            &format!("KILN_TEST_DIGEST={digest}"),
            "--download-cache",
            &downloads.path().display().to_string(),
        ],
    );
    assert_refused(&by_name, 51, "not a public address");
    assert_eq!(server.total(), 0);

    let allowed = [env.as_slice(), &["--network-allow", "127.0.0.1"]].concat();
    let ok = attempt("fetch-url", |_| {}, &allowed);
    assert_eq!(ok.out.code, 0, "{}", ok.out.stderr);
    assert_eq!(server.hits("/payload"), 1);
}

#[test]
fn a_redirect_to_another_loopback_service_is_refused() {
    let inner_dir = tempfile::tempdir().unwrap();
    let (inner, digest) = payload_server(inner_dir.path(), b"internal admin page");
    let outer_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        outer_dir.path().join("go.redirect"),
        format!(
            "http://localhost:{}/payload",
            inner.base.rsplit(':').next().unwrap()
        ),
    )
    .unwrap();
    let outer = Server::start(outer_dir.path()).unwrap();
    let outer_authority = outer.base.trim_start_matches("http://").to_owned();
    let a = attempt(
        "fetch-url",
        |_| {},
        &[
            "--env",
            &format!("KILN_TEST_URL={}/go", outer.base),
            "--env",
            &format!("KILN_TEST_DIGEST={digest}"),
            "--network-allow",
            &outer_authority,
        ],
    );
    assert_refused(&a, 51, "redirect");
    assert_eq!(outer.hits("/go"), 1);
    assert_eq!(inner.total(), 0, "the redirect was not followed");
}

/// What the `list-downloads` mode saw under `/downloads`, comma-separated.
fn listing(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("downloads: "))
        .unwrap_or_else(|| panic!("no listing in {stderr}"));
    line.split_once("downloads: ")
        .map_or("", |(_, l)| l)
        .trim()
        .to_owned()
}

#[test]
fn downloads_shows_only_what_this_build_fetched() {
    let fixture_dir = tempfile::tempdir().unwrap();
    let (server, first) = payload_server(fixture_dir.path(), b"fetched by an earlier build");
    let cache = tempfile::tempdir().unwrap();
    let cache_arg = cache.path().display().to_string();
    let url = format!("KILN_TEST_URL={}/payload", server.base);
    let digest = format!("KILN_TEST_DIGEST={first}");
    let fetch_it = [
        "--env",
        &url,
        "--env",
        &digest,
        "--network-allow",
        "127.0.0.1",
        "--download-cache",
        &cache_arg,
    ];
    let earlier = attempt("fetch-url", |_| {}, &fetch_it);
    assert_eq!(earlier.out.code, 0, "{}", earlier.out.stderr);
    // Another build with the same download cache that fetches nothing sees nothing.
    let nothing = attempt("list-downloads", |_| {}, &["--download-cache", &cache_arg]);
    assert_eq!(nothing.out.code, 0, "{}", nothing.out.stderr);
    assert_eq!(listing(&nothing.out.stderr), "", "{}", nothing.out.stderr);
    // One that fetches the file sees exactly it.
    let own = attempt("list-downloads", |_| {}, &fetch_it);
    assert_eq!(own.out.code, 0, "{}", own.out.stderr);
    let hex = first.trim_start_matches("sha256:");
    assert_eq!(
        listing(&own.out.stderr),
        format!("/downloads/sha256/{hex}"),
        "{}",
        own.out.stderr
    );
    // The shared cache itself still holds the file; the views are gone.
    assert!(cache.path().join("sha256").join(hex).is_file());
    let views: Vec<_> = std::fs::read_dir(cache.path().join(".views"))
        .unwrap()
        .collect();
    assert!(views.is_empty(), "{views:?}");
}

#[test]
fn a_symlink_loop_in_a_layer_is_reported_as_a_loop() {
    let a = attempt("symlink-loop", |_| {}, &[]);
    assert_refused(&a, 51, "left a symlink loop");
}
