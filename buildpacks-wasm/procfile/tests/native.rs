//! The buildpack's detect and build as native Rust, with the SDK's fake host: no Kiln, no
//! wasm.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_buildpack_procfile::ProcfileBuildpack;
use kiln_sdk::log::Level;
use kiln_sdk::testing::FakeHost;
use kiln_sdk::{BuildContext, Buildpack, DetectContext, DetectResult, buildpack_id};

fn app(procfile: Option<&str>) -> (tempfile::TempDir, DetectContext) {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    if let Some(text) = procfile {
        std::fs::write(app.join("Procfile"), text).unwrap();
    }
    let ctx = DetectContext::new(buildpack_id!("kiln/procfile"), app);
    (dir, ctx)
}

#[test]
fn detects_only_apps_with_a_procfile() {
    let (_dir, with) = app(Some("web: ./server\n"));
    assert_eq!(
        ProcfileBuildpack.detect(with).unwrap(),
        DetectResult::Pass(Vec::new())
    );
    let (_dir, without) = app(None);
    assert!(matches!(
        ProcfileBuildpack.detect(without).unwrap(),
        DetectResult::Fail(reason) if reason.contains("no Procfile")
    ));
}

#[test]
fn builds_processes_with_web_as_the_default_and_logs_them() {
    let (dir, ctx) = app(Some("worker: ./work\nweb: ./serve --port 8080\n"));
    let host = FakeHost::new(dir.path().join("downloads"));
    let ctx = BuildContext::new(ctx, dir.path().join("layers"));
    let result = host.run(|| ProcfileBuildpack.build(ctx)).unwrap();
    assert!(result.layers().is_empty());
    let web = result.process_of("web").unwrap();
    assert_eq!(web.command(), ["/bin/sh", "-c", "./serve --port 8080"]);
    assert!(web.is_default());
    assert!(!result.process_of("worker").unwrap().is_default());
    assert_eq!(
        host.logs_at(Level::Info),
        ["process worker: ./work", "process web: ./serve --port 8080"]
    );
}

#[test]
fn a_single_process_is_the_default() {
    let (dir, ctx) = app(Some("# one\nworker: ./work\n"));
    let ctx = BuildContext::new(ctx, dir.path().join("layers"));
    let host = FakeHost::new(dir.path().join("downloads"));
    let result = host.run(|| ProcfileBuildpack.build(ctx)).unwrap();
    assert!(result.process_of("worker").unwrap().is_default());
}

#[test]
fn a_malformed_procfile_fails_with_the_line_and_a_hint() {
    let (dir, ctx) = app(Some("web ./serve\n"));
    let ctx = BuildContext::new(ctx, dir.path().join("layers"));
    let host = FakeHost::new(dir.path().join("downloads"));
    let err = host.run(|| ProcfileBuildpack.build(ctx)).unwrap_err();
    let report = kiln_sdk::Report::new(&err);
    assert!(report.message.contains("line 1"), "{report}");
    assert!(
        report.detail.contains("web: ./server --port 8080"),
        "{report}"
    );
}

#[test]
fn a_missing_procfile_at_build_keeps_the_io_error_as_source() {
    let (dir, ctx) = app(None);
    let ctx = BuildContext::new(ctx, dir.path().join("layers"));
    let err = ProcfileBuildpack.build(ctx).unwrap_err();
    assert!(
        matches!(err, kiln_sdk::Error::Io { action: "read", .. }),
        "{err}"
    );
    let source = std::error::Error::source(&err).unwrap();
    assert!(source.downcast_ref::<std::io::Error>().is_some());
}
