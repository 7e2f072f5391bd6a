//! `kiln rebase`: swap the run image under the app layers, in place, O(manifest).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::*;

fn diff_ids(layout: &Path, tag: &str) -> Vec<String> {
    inspect_json(layout, tag)["summary"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["diff_id"].as_str().unwrap().to_owned())
        .collect()
}

fn blob_names(layout: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// A copy of the busybox run image labelled `io.buildpacks.rebasable=false`.
fn non_rebasable_base(dir: &Path) -> String {
    edited_busybox(dir, "locked", |config| {
        config.set_label("io.buildpacks.rebasable", "false");
    })
}

#[test]
fn rebase_swaps_the_base_and_keeps_app_layers() {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("image");
    let image = format!("oci:{}:app", layout.display());
    kiln([
        "-q",
        "build",
        &image,
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--run-image",
        &busybox(),
    ])
    .success();
    let before = diff_ids(&layout, "app");
    let app_blobs_before: Vec<_> = inspect_json(&layout, "app")["summary"]["layers"]
        .as_array()
        .unwrap()[1..]
        .to_vec();

    let v2 = busybox_variant("v2");
    let out = kiln(["rebase", &image, "--run-image", &v2]).success();
    let digest = digest_of(&out);
    let after = diff_ids(&layout, "app");
    let info = inspect_json(&layout, "app");
    assert_eq!(info["summary"]["manifest_digest"], digest.as_str());
    // Same number of base layers here; the top one differs, the app ones are identical.
    assert_ne!(before[0], after[0]);
    assert_eq!(before[1..], after[1..]);
    assert_eq!(
        info["summary"]["layers"].as_array().unwrap()[1..],
        app_blobs_before[..],
        "app blobs must be reused as is"
    );
    let v2_info = inspect_json(
        &PathBuf::from(v2.trim_start_matches("oci:").trim_end_matches(":latest")),
        "latest",
    );
    let v2_top = v2_info["summary"]["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["diff_id"]
        .clone();
    assert_eq!(info["lifecycle"]["runImage"]["topLayer"], v2_top);
    assert_eq!(info["lifecycle"]["runImage"]["image"], "v2:latest");
    assert_eq!(
        info["lifecycle"]["runImage"]["reference"],
        v2_info["summary"]["manifest_digest"]
    );

    let ran = run_image(&layout, "app", &[], &[]);
    assert_eq!(ran.stdout.trim(), "hello from kiln", "{}", ran.stderr);
    let cat = run_image(
        &layout,
        "app",
        &["--entrypoint", "/bin/cat"],
        &["/etc/base-variant"],
    );
    assert_eq!(cat.stdout.trim(), "v2", "{}", cat.stderr);
    assert!(
        validate_image(&layout, "app")
            .stdout
            .contains("RESULT: VALID")
    );

    // Rebasing again onto the same base changes nothing and writes no new blob.
    let blobs = blob_names(&layout);
    let again = digest_of(&kiln(["-q", "rebase", &image, "--run-image", &v2]).success());
    assert_eq!(again, digest);
    assert_eq!(blob_names(&layout), blobs);
}

#[test]
fn rebase_refuses_non_rebasable_images_without_force() {
    let work = tempfile::tempdir().unwrap();
    let base = non_rebasable_base(&work.path().join("base"));
    let layout = work.path().join("image");
    let image = format!("oci:{}", layout.display());
    kiln([
        "-q",
        "build",
        &image,
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--run-image",
        &base,
    ])
    .success();
    let before = snapshot(&layout);
    let v2 = busybox_variant("v2");
    let out = kiln(["rebase", &image, "--run-image", &v2]);
    assert_eq!(out.code, 72, "{}", out.stderr);
    assert!(
        out.error_line().contains("io.buildpacks.rebasable=false"),
        "{}",
        out.error_line()
    );
    assert_eq!(
        snapshot(&layout),
        before,
        "a refused rebase must not touch the image"
    );
    kiln(["-q", "rebase", &image, "--run-image", &v2, "--force"]).success();
    let ran = run_image(&layout, "latest", &[], &[]);
    assert_eq!(ran.stdout.trim(), "hello from kiln", "{}", ran.stderr);
}
