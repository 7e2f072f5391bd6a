//! Large apps: the app layer is sliced (content-defined slices, explicit
//! `[[io.kiln.slices]]`), a one-file change rewrites one slice, an unchanged rebuild writes
//! nothing, and the digest is the same on one thread and on two, with any app path, and for
//! zstd layers too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use kiln_oci::OciLayout;
use support::*;

/// A deterministic app of about `mb` MiB in `files` files (text-like, so blobs stay small),
/// with a Procfile; `salt` changes one file's contents (same size).
fn large_app(dir: &Path, mb: usize, files: usize, salt: u8) -> PathBuf {
    let per_file = (mb << 20) / files;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..files {
        let sub = dir.join(format!("pkg{:02}/mod{}", i % 23, i % 5));
        std::fs::create_dir_all(&sub).unwrap();
        let mut text = Vec::with_capacity(per_file);
        while text.len() < per_file {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.extend_from_slice(format!("token{} ", state % 5000).as_bytes());
        }
        text.truncate(per_file);
        if i == files / 2 {
            text[0] = b'a' + salt;
        }
        std::fs::write(sub.join(format!("file{i:05}.txt")), text).unwrap();
    }
    std::fs::write(dir.join("Procfile"), "web: /bin/sh -c 'ls /workspace'\n").unwrap();
    dir.to_path_buf()
}

fn build(layout: &Path, app: &Path, extra: &[&str]) -> Output {
    run(kiln_command()
        .arg("build")
        .arg(format!("oci:{}:app", layout.display()))
        .arg("--path")
        .arg(app)
        .args(["--run-image", &busybox()])
        .args(extra))
    .success()
}

/// The diff_ids of the app layers the lifecycle label names.
fn app_layers(layout: &Path) -> Vec<String> {
    let image = OciLayout::open(layout)
        .unwrap()
        .resolve(Some("app"))
        .unwrap();
    let label = image
        .config
        .label("io.buildpacks.lifecycle.metadata")
        .unwrap()
        .to_owned();
    let v: serde_json::Value = serde_json::from_str(&label).unwrap();
    v["app"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sha"].as_str().unwrap().to_owned())
        .collect()
}

fn added(out: &Output) -> Vec<String> {
    out.stderr
        .lines()
        .filter(|l| l.contains("Adding layer"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_large_app_is_sliced_and_a_one_file_change_rewrites_one_slice() {
    let work = tempfile::tempdir().unwrap();
    let app = large_app(&work.path().join("app"), 40, 400, 0);
    let layout = work.path().join("image");
    let first = build(&layout, &app, &[]);
    let slices = app_layers(&layout);
    assert!(
        (2..=64).contains(&slices.len()),
        "{} app slices",
        slices.len()
    );
    let v = validate_image(&layout, "app");
    assert!(v.code == 0, "{}\n{}", v.stdout, v.stderr);

    let noop = build(&layout, &app, &[]);
    assert!(added(&noop).is_empty(), "{}", noop.stderr);
    assert_eq!(digest_of(&noop), digest_of(&first));

    large_app(&app, 40, 400, 1);
    std::fs::remove_file(app.join("pkg00/mod0/file00000.txt")).unwrap();
    let changed = build(&layout, &app, &[]);
    let new_slices = app_layers(&layout);
    let rewritten: Vec<_> = new_slices.iter().filter(|s| !slices.contains(s)).collect();
    assert!(
        (1..=3).contains(&rewritten.len()),
        "{} of {} slices rewritten",
        rewritten.len(),
        new_slices.len()
    );
    assert!(
        added(&changed).iter().all(|l| l.contains("app:")),
        "only app slices are written: {:?}",
        added(&changed)
    );
    let listing = run_image(
        &layout,
        "app",
        &["--entrypoint", "ls"],
        &["/workspace/pkg00/mod0"],
    );
    assert!(
        !listing.stdout.contains("file00000.txt") && listing.stdout.contains("file00115.txt"),
        "{}\n{}",
        listing.stdout,
        listing.stderr
    );
}

#[test]
fn the_digest_does_not_depend_on_threads_or_the_app_path_and_zstd_is_deterministic_too() {
    let work = tempfile::tempdir().unwrap();
    let one = large_app(&work.path().join("one"), 34, 200, 0);
    let two = large_app(&work.path().join("elsewhere/two"), 34, 200, 0);
    let a = build(&work.path().join("a"), &one, &["--threads", "1"]);
    let b = build(&work.path().join("b"), &two, &["--threads", "2"]);
    assert_eq!(digest_of(&a), digest_of(&b));

    let z1 = build(
        &work.path().join("z1"),
        &one,
        &["--compression", "zstd", "--threads", "1"],
    );
    let z2 = build(
        &work.path().join("z2"),
        &two,
        &["--compression", "zstd", "--threads", "2"],
    );
    assert_eq!(digest_of(&z1), digest_of(&z2));
    assert_ne!(digest_of(&z1), digest_of(&a));
    let image = OciLayout::open(work.path().join("z1"))
        .unwrap()
        .resolve(Some("app"))
        .unwrap();
    let zstd = image
        .manifest
        .layers
        .iter()
        .filter(|l| l.media_type == "application/vnd.oci.image.layer.v1.tar+zstd")
        .count();
    assert!(
        zstd >= 3,
        "the new layers are zstd: {:?}",
        image.manifest.layers
    );
    // docker load does not read zstd: refused before anything is built.
    let archive = work.path().join("z.tar");
    let refused = run(kiln_command()
        .arg("build")
        .arg(format!("docker-archive:{}:app:latest", archive.display()))
        .arg("--path")
        .arg(&one)
        .args(["--run-image", &busybox(), "--compression", "zstd"]));
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("docker-archive"),
        "{}",
        refused.stderr
    );
    assert!(!archive.exists());
    // A rebuild reads the zstd layers of the previous image back and reuses them.
    let again = build(&work.path().join("z1"), &one, &["--compression", "zstd"]);
    assert!(added(&again).is_empty(), "{}", again.stderr);
}

#[test]
fn project_toml_slices_take_their_files_and_bad_globs_are_named() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_dir(fixture("procfile-app"), &app);
    std::fs::create_dir_all(app.join("static/img")).unwrap();
    std::fs::write(app.join("static/img/logo.svg"), "<svg/>").unwrap();
    std::fs::write(
        app.join("project.toml"),
        "[_]\nschema-version = \"0.2\"\n\n[[io.kiln.slices]]\npaths = [\"static\"]\n",
    )
    .unwrap();
    let layout = work.path().join("image");
    build(&layout, &app, &[]);
    assert_eq!(
        app_layers(&layout).len(),
        2,
        "the static slice, then the rest"
    );

    std::fs::write(
        app.join("project.toml"),
        "[_]\nschema-version = \"0.2\"\n\n[[io.kiln.slices]]\npaths = [\"a/[\"]\n",
    )
    .unwrap();
    let out = run(kiln_command()
        .arg("build")
        .arg(format!("oci:{}:app", layout.display()))
        .arg("--path")
        .arg(&app)
        .args(["--run-image", &busybox()]));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("io.kiln.slices[0].paths") && out.stderr.contains("project.toml"),
        "{}",
        out.stderr
    );
    assert_eq!(app_layers(&layout).len(), 2, "the image is untouched");
}

#[test]
fn a_buildpack_declares_slices_and_a_bad_glob_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_dir(fixture("procfile-app"), &app);
    std::fs::create_dir_all(app.join("static")).unwrap();
    std::fs::write(app.join("static/site.css"), "body{}").unwrap();
    std::fs::write(app.join("README.md"), "# app").unwrap();
    let layout = work.path().join("image");
    let raw = |mode: &str| {
        run(kiln_command()
            .arg("build")
            .arg(format!("oci:{}:app", layout.display()))
            .arg("--path")
            .arg(&app)
            .arg("--buildpack")
            .arg(test_buildpack("raw"))
            .args(["--env", &format!("KILN_TEST_MODE={mode}")])
            .args(["--run-image", &busybox()]))
    };
    raw("slices").success();
    assert_eq!(app_layers(&layout).len(), 3, "static, *.md, then the rest");
    let image = OciLayout::open(&layout)
        .unwrap()
        .resolve(Some("app"))
        .unwrap();
    let history: Vec<_> = image
        .config
        .history()
        .iter()
        .filter_map(|h| h.created_by.clone())
        .filter(|c| c.starts_with("Application Slice"))
        .collect();
    assert_eq!(history.len(), 3, "{history:?}");

    let bad = raw("bad-slice");
    assert_ne!(bad.code, 0);
    assert!(
        bad.stderr.contains("slice 1") && bad.stderr.contains("a/["),
        "{}",
        bad.stderr
    );
}
