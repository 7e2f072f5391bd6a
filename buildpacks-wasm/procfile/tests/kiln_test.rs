//! The Procfile buildpack's component in the real Kiln host, in-process, with `kiln-test`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use kiln_test::{BuildpackRef, ProcessRun, TestBuild, busybox_run_image};

fn app(procfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Procfile"), procfile).unwrap();
    dir
}

fn this_buildpack() -> BuildpackRef {
    BuildpackRef::crate_at(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn procfile_processes_reach_the_image_and_a_rebuild_is_identical() {
    let app = app("web: echo hello from kiln\nworker: echo working\n");
    let out = TestBuild::new(app.path()).buildpack(this_buildpack()).run();
    assert_eq!(out.group.len(), 1);
    assert_eq!(out.group[0].id, "kiln/procfile");
    assert!(out.layers.is_empty());
    let web = out.process("web").unwrap();
    assert_eq!(web.command, ["/bin/sh", "-c", "echo hello from kiln"]);
    assert_eq!(web.buildpack_id, "kiln/procfile");
    assert!(out.process("worker").is_some());
    assert_eq!(out.default_process.as_deref(), Some("web"));
    assert_eq!(
        out.buildpack_logs("kiln/procfile"),
        [
            "process web: echo hello from kiln",
            "process worker: echo working"
        ]
    );
    assert!(out.image.digest.starts_with("sha256:"));
    assert!(out.image.layout.join("index.json").is_file());

    let again = out.rebuild().run();
    assert_eq!(again.image.digest, out.image.digest, "{}", again.log_text());
}

#[test]
fn detection_fails_without_a_procfile() {
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("README"), "no procfile").unwrap();
    let err = TestBuild::new(empty.path())
        .buildpack(this_buildpack())
        .detect()
        .unwrap_err();
    let kiln_test::HarnessError::Build { exit_code, .. } = err else {
        panic!("unexpected {err}");
    };
    assert_eq!(exit_code, 20);
}

#[test]
fn the_web_process_runs_on_busybox_when_a_runtime_is_usable() {
    let app = app("web: echo hello from kiln\n");
    let out = TestBuild::new(app.path())
        .buildpack(this_buildpack())
        .run_image(busybox_run_image().unwrap())
        .run();
    match out.run_process("web", &[]).unwrap() {
        ProcessRun::Ran(run) => {
            assert_eq!(run.code, 0, "{}", run.stderr);
            assert_eq!(run.stdout.trim(), "hello from kiln");
        }
        ProcessRun::Skipped(reason) => eprintln!("skipped running the image: {reason}"),
    }
}
