//! Layout garbage collection: a rebuild or rebase into an `oci:` layout removes the blobs no
//! tag references any more (never another tag's), `--no-gc` keeps them, `kiln gc` sweeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kiln_oci::OciLayout;
use support::*;

fn blob_set(layout: &Path) -> BTreeSet<String> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The manifest, config and layer digests (hex) of `layout:tag`.
fn image_blobs(layout: &Path, tag: &str) -> Vec<String> {
    let image = OciLayout::open(layout).unwrap().resolve(Some(tag)).unwrap();
    let mut v = vec![
        image.manifest_digest().hex().to_owned(),
        image.config_digest().hex().to_owned(),
    ];
    v.extend(
        image
            .manifest
            .layers
            .iter()
            .map(|l| l.digest.hex().to_owned()),
    );
    v
}

/// A copy of the procfile app with a `data.txt` of `content` in `dir`.
fn app(dir: &Path, content: &str) -> PathBuf {
    if !dir.exists() {
        copy_dir(fixture("procfile-app"), dir);
    }
    std::fs::write(dir.join("data.txt"), content).unwrap();
    dir.to_path_buf()
}

fn build(layout: &Path, tag: &str, app: &Path, extra: &[&str]) -> Output {
    run(kiln_command()
        .arg("build")
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg("--path")
        .arg(app)
        .args(["--run-image", &busybox()])
        .args(extra))
    .success()
}

fn assert_valid(layout: &Path, tag: &str) {
    let v = validate_image(layout, tag);
    assert!(
        v.code == 0 && v.stdout.contains("RESULT: VALID"),
        "{}\n{}",
        v.stdout,
        v.stderr
    );
}

#[test]
fn rebuild_removes_the_old_app_layer_and_keeps_other_tags() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("image");
    let other_app = app(&work.path().join("other"), "other");
    build(&layout, "other", &other_app, &[]);
    let other_blobs = image_blobs(&layout, "other");

    let my_app = app(&work.path().join("app"), "one");
    build(&layout, "latest", &my_app, &[]);
    let old = image_blobs(&layout, "latest");
    let count = blob_set(&layout).len();

    app(&my_app, "two");
    let second = build(&layout, "latest", &my_app, &[]);
    assert!(
        second.stderr.contains("unreferenced blobs") && second.stderr.contains("from the layout"),
        "{}",
        second.stderr
    );
    let new = image_blobs(&layout, "latest");
    let blobs = blob_set(&layout);
    assert_ne!(old[0], new[0]);
    for gone in old.iter().filter(|d| !new.contains(d)) {
        assert!(!blobs.contains(gone), "{gone} is unreferenced but kept");
    }
    assert!(
        blobs.len() <= count,
        "the layout grew from {count} to {} blobs",
        blobs.len()
    );
    for kept in new.iter().chain(&other_blobs) {
        assert!(blobs.contains(kept), "{kept} is referenced but was removed");
    }
    assert_valid(&layout, "latest");
    assert_valid(&layout, "other");
    let ran = run_image(&layout, "latest", &[], &[]);
    assert_eq!(ran.stdout.trim(), "hello from kiln", "{}", ran.stderr);
}

#[test]
fn no_gc_keeps_blobs_and_kiln_gc_sweeps_them() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("image");
    let my_app = app(&work.path().join("app"), "one");
    build(&layout, "latest", &my_app, &[]);
    let old = image_blobs(&layout, "latest");
    let stray = OciLayout::open(&layout)
        .unwrap()
        .blobs()
        .write_bytes(b"planted", "application/octet-stream")
        .unwrap();

    app(&my_app, "two");
    let kept = build(&layout, "latest", &my_app, &["--no-gc"]);
    assert!(!kept.stderr.contains("unreferenced"), "{}", kept.stderr);
    let blobs = blob_set(&layout);
    for d in old.iter().chain([&stray.digest.hex().to_owned()]) {
        assert!(blobs.contains(d), "--no-gc removed {d}");
    }

    let image = format!("oci:{}", layout.display());
    let gc = kiln(["gc", &image]).success();
    assert!(
        gc.stdout.starts_with("Removed 4 unreferenced blobs"),
        "old manifest, config, app layer and the planted blob: {}",
        gc.stdout
    );
    let blobs = blob_set(&layout);
    assert!(!blobs.contains(stray.digest.hex()));
    assert!(!blobs.contains(&old[0]));
    assert_valid(&layout, "latest");
    let again = kiln(["gc", &image]).success();
    assert!(
        again.stdout.starts_with("Removed 0 unreferenced blobs"),
        "{}",
        again.stdout
    );

    // A rebase in place drops the old config, manifest and the old base's top layer.
    let before = image_blobs(&layout, "latest");
    let rebased = kiln(["rebase", &image, "--run-image", &busybox_variant("v2")]).success();
    assert!(
        rebased.stderr.contains("Removed 3 unreferenced blobs"),
        "{}",
        rebased.stderr
    );
    let after = image_blobs(&layout, "latest");
    let blobs = blob_set(&layout);
    for d in &before {
        assert_eq!(blobs.contains(d), after.contains(d), "{d}");
    }
    assert!(after.iter().all(|d| blobs.contains(d)));
    assert_valid(&layout, "latest");
}

#[test]
fn kiln_gc_refuses_what_is_not_a_layout() {
    let work = tempfile::tempdir().unwrap();
    let missing = work.path().join("missing");
    let out = kiln(["gc", &format!("oci:{}", missing.display())]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.error_line().contains("does not exist"),
        "{}",
        out.stderr
    );

    let archive = work.path().join("image.tar");
    let out = kiln(["gc", &format!("docker-archive:{}", archive.display())]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.error_line().contains("oci:DIR"), "{}", out.stderr);
}
