//! Reading the previous image: the layer records of its lifecycle label (a malformed or
//! missing label records nothing) and finding its layers by diff_id.

use super::*;

// Each phase's tests include the shared helpers; lib.rs stays free of test modules.
#[allow(clippy::duplicate_mod)]
#[path = "../test_support.rs"]
mod support;

use support::{host_arch, open, write_image};

/// A previous image tagged `latest` in `dir` with two layers and `labels`.
fn previous(dir: &std::path::Path, labels: &[(&str, &str)]) -> PreviousImage {
    write_image(
        dir,
        "latest",
        &host_arch(),
        &[&[("base.txt", "base")], &[("app.txt", "app")]],
        labels,
    );
    PreviousImage::new(open(dir, "latest"))
}

const LABEL: &str = r#"{
    "app": [{"sha": "sha256:aaaa"}],
    "buildpacks": [
        {"key": "tests/provider", "version": "0.1.0", "layers": {
            "runtime": {"sha": "sha256:1111", "data": {"version": "1.0"}, "launch": true, "build": false, "cache": false},
            "tool": {"sha": "sha256:2222", "launch": true, "cache": true}
        }},
        {"key": "tests/consumer", "version": "0.1.0", "layers": {}}
    ],
    "runImage": {"topLayer": "", "reference": "", "image": "scratch"}
}"#;

#[test]
fn the_lifecycle_label_gives_each_buildpacks_layer_records() {
    let tmp = tempfile::tempdir().unwrap();
    let p = previous(tmp.path(), &[(LIFECYCLE_METADATA, LABEL)]);
    let runtime = p.layer("tests/provider", "runtime").unwrap();
    assert_eq!(runtime.sha, "sha256:1111");
    assert_eq!(runtime.data["version"], "1.0");
    assert!(runtime.launch && !runtime.build && !runtime.cache);
    let names: Vec<&String> = p
        .buildpack_layers("tests/provider")
        .unwrap()
        .keys()
        .collect();
    assert_eq!(names, ["runtime", "tool"]);
    assert!(p.buildpack_layers("tests/consumer").unwrap().is_empty());
    assert!(p.buildpack_layers("tests/absent").is_none());
    assert!(p.layer("tests/provider", "absent").is_none());
    assert!(p.layer("tests/absent", "runtime").is_none());
}

#[test]
fn fields_a_record_leaves_out_default_to_empty_and_false() {
    let tmp = tempfile::tempdir().unwrap();
    let p = previous(tmp.path(), &[(LIFECYCLE_METADATA, LABEL)]);
    let tool = p.layer("tests/provider", "tool").unwrap();
    assert_eq!(
        *tool,
        PreviousLayer {
            sha: "sha256:2222".into(),
            data: serde_json::Map::new(),
            build: false,
            launch: true,
            cache: true,
        }
    );
}

#[test]
fn a_malformed_label_records_nothing_but_the_image_is_still_usable() {
    for label in [
        "{not json",
        r#"{"buildpacks": 5}"#,
        r#"{"buildpacks": [{"key": "tests/provider", "layers": {"runtime": {"data": {}}}}]}"#,
        "",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let p = previous(tmp.path(), &[(LIFECYCLE_METADATA, label)]);
        assert!(
            p.buildpack_layers("tests/provider").is_none(),
            "label {label:?} should record nothing"
        );
        // Its layers can still be found (and so reused) by diff_id.
        let image = open(tmp.path(), "latest");
        let diff_ids = image.resolved.config.diff_ids().unwrap();
        assert_eq!(
            p.descriptor_for(&diff_ids[1]).unwrap(),
            image.resolved.manifest.layers[1]
        );
    }
}

#[test]
fn an_image_without_the_label_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = previous(tmp.path(), &[("org.example.other", "x")]);
    assert!(p.buildpack_layers("tests/provider").is_none());
    assert!(p.layer("tests/provider", "runtime").is_none());
}

#[test]
fn layers_are_found_by_diff_id_only() {
    let tmp = tempfile::tempdir().unwrap();
    let p = previous(tmp.path(), &[]);
    let image = open(tmp.path(), "latest");
    let diff_ids = image.resolved.config.diff_ids().unwrap();
    for (i, d) in diff_ids.iter().enumerate() {
        let desc = p.descriptor_for(d).unwrap();
        assert_eq!(desc, image.resolved.manifest.layers[i]);
        assert!(p.layout().blobs().has(&desc.digest));
    }
    // A blob digest is not a diff_id: gzip layers are not found by their compressed digest.
    let blob = image.resolved.manifest.layers[0].digest.clone();
    assert!(p.descriptor_for(&blob).is_none());
    assert!(
        p.descriptor_for(&Digest::of_bytes(b"not a layer"))
            .is_none()
    );
    assert_eq!(p.layout().root(), tmp.path());
}
