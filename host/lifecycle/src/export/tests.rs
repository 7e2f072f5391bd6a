//! Export on temporary layouts: layer order and contents, the labels, determinism, and reuse
//! of the previous image's layers only when their blobs pass their check.

use std::path::Path;

use super::*;
use crate::outcome::{BuildpackOutput, LayerRecord};
use kiln_oci::LocalImage;

// Each phase's tests include the shared helpers; lib.rs stays free of test modules.
#[allow(clippy::duplicate_mod)]
#[path = "../test_support.rs"]
mod support;

use support::{
    ExportSetup, LAUNCHER, blob_count, host_arch, json_label, layer, layer_entries, open,
    run_image, write, write_image,
};

/// A launch layer record `name` (no env, no SBOM) with metadata `{"v": "1"}`.
fn record(name: &str, launch: bool) -> LayerRecord {
    let mut metadata = serde_json::Map::new();
    metadata.insert("v".into(), "1".into());
    LayerRecord {
        name: kiln_spec::LayerName::new(name.to_owned()).unwrap(),
        launch,
        build: !launch,
        cache: false,
        env: Vec::new(),
        metadata,
        executables: Vec::new(),
        sbom: None,
        reuse: None,
    }
}

/// An export onto base `v1` (two layers, in `tmp/v1`) of the app plus `kiln/procfile`'s
/// launch layer `web` (`bin/run`, `data.txt`) and build-only layer `tools`.
fn setup(tmp: &Path) -> ExportSetup {
    if !tmp.join("v1").exists() {
        write_image(
            &tmp.join("v1"),
            "latest",
            &host_arch(),
            &[&[("etc/os", "v1")], &[("etc/motd", "hi")]],
            &[("org.example.base", "v1")],
        );
    }
    let mut s = ExportSetup::new(run_image(&tmp.join("v1"), "latest", "v1:latest"));
    let (rt, _) = support::runtime();
    s.buildpacks.push(support::load(&rt, support::PROCFILE));
    let bp = s.dirs.layers.join("kiln_procfile");
    write(&bp.join("web/bin/run"), "#!/bin/sh\n");
    write(&bp.join("web/data.txt"), "web data\n");
    write(&bp.join("tools/tool.txt"), "build only\n");
    s.built.push(BuiltBuildpack {
        index: 0,
        output: BuildpackOutput {
            layers: vec![record("tools", false), record("web", true)],
            ..BuildpackOutput::default()
        },
    });
    s.launch = support::launch_web("kiln/procfile");
    s.launch
        .labels
        .insert("org.example.app".into(), "from-buildpack".into());
    s
}

fn names(report: &ExportReport) -> Vec<&str> {
    report.layers.iter().map(|l| l.name.as_str()).collect()
}

fn diff_id_of<'a>(report: &'a ExportReport, name: &str) -> &'a Digest {
    &report
        .layers
        .iter()
        .find(|l| l.name == name)
        .unwrap()
        .diff_id
}

#[test]
fn the_image_is_the_run_image_then_launch_layers_app_launcher_config_and_process_types() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let report = s.export(&tmp.path().join("out"), "latest", None).unwrap();
    assert_eq!(
        names(&report),
        [
            "kiln/procfile:web",
            "app",
            "launcher",
            "config",
            "process-types"
        ],
        "a build-only layer is not exported"
    );
    assert!(report.layers.iter().all(|l| !l.reused));
    assert!(report.notes.is_empty(), "{:?}", report.notes);

    let layout = OciLayout::open(tmp.path().join("out")).unwrap();
    let image = layout.resolve(Some("latest")).unwrap();
    assert_eq!(*image.manifest_digest(), report.manifest_digest);
    assert_eq!(*image.config_digest(), report.config_digest);
    let base = s.run_image.config.diff_ids().unwrap();
    let ids = image.config.diff_ids().unwrap();
    assert_eq!(ids.len(), base.len() + report.layers.len());
    assert_eq!(ids[..2], base[..]);
    let exported: Vec<&Digest> = report.layers.iter().map(|l| &l.diff_id).collect();
    assert_eq!(ids[2..].iter().collect::<Vec<_>>(), exported);
    assert_eq!(image.manifest.layers[..2], s.run_image.layers()[..]);

    let entries = |i: usize| layer_entries(&layout, &image.manifest.layers[i + 2].digest);
    let web = entries(0);
    assert_eq!(web["layers/kiln_procfile/web/data.txt"], b"web data\n");
    assert!(web.contains_key("layers/kiln_procfile/web/bin/run"));
    assert!(!web.keys().any(|k| k.contains("tools")));
    assert_eq!(entries(1)["workspace/app.txt"], b"hello\n");
    assert_eq!(entries(2)[LAUNCHER_PATH], LAUNCHER);
    let config = String::from_utf8(entries(3)["layers/config/metadata.toml"].clone()).unwrap();
    assert!(config.contains("type = \"web\""), "{config}");
    assert!(entries(4).contains_key("cnb/process/web"));
}

#[test]
fn the_labels_record_every_layer_and_the_run_image() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let report = s.export(&tmp.path().join("out"), "latest", None).unwrap();
    let config = open(&tmp.path().join("out"), "latest").resolved.config;
    let lc = json_label(&config, labels::LIFECYCLE_METADATA);
    assert_eq!(lc["app"][0]["sha"], diff_id_of(&report, "app").as_str());
    assert_eq!(
        lc["launcher"]["sha"],
        diff_id_of(&report, "launcher").as_str()
    );
    assert_eq!(lc["config"]["sha"], diff_id_of(&report, "config").as_str());
    assert_eq!(
        lc["process-types"]["sha"],
        diff_id_of(&report, "process-types").as_str()
    );
    assert!(lc.get("sbom").is_none(), "no layer has an SBOM");
    let bp = &lc["buildpacks"][0];
    assert_eq!(bp["key"], "kiln/procfile");
    assert_eq!(bp["version"], s.buildpacks[0].descriptor.version.as_str());
    assert_eq!(
        bp["layers"]["web"]["sha"],
        diff_id_of(&report, "kiln/procfile:web").as_str()
    );
    assert_eq!(bp["layers"]["web"]["data"]["v"], "1");
    assert_eq!(bp["layers"]["web"]["launch"], true);
    assert!(bp["layers"].get("tools").is_none());
    let base = s.run_image.config.diff_ids().unwrap();
    assert_eq!(lc["runImage"]["topLayer"], base[1].as_str());
    assert_eq!(lc["runImage"]["reference"], s.run_image.digest().as_str());
    assert_eq!(lc["runImage"]["image"], "v1:latest");
    assert_eq!(lc["stack"]["runImage"]["image"], "v1:latest");

    let build = json_label(&config, labels::BUILD_METADATA);
    assert_eq!(build["processes"][0]["type"], "web");
    assert_eq!(build["processes"][0]["buildpackID"], "kiln/procfile");
    assert_eq!(build["buildpack-default-process-type"], "web");
    assert_eq!(config.label(labels::EXEC_ENV), Some("production"));
    assert_eq!(config.label(labels::PROJECT_METADATA), Some("{}"));
    assert_eq!(
        config.label("org.example.base"),
        Some("v1"),
        "base labels stay"
    );
    assert_eq!(config.label("org.example.app"), Some("from-buildpack"));

    assert_eq!(
        config.entrypoint(),
        Some(vec!["/cnb/process/web".to_owned()])
    );
    assert_eq!(config.cmd(), None);
    assert_eq!(config.working_dir(), Some(kiln_spec::APP_DIR));
    assert_eq!(config.created(), Some(kiln_oci::NORMALIZED_CREATED));
    let path = config.env_var("PATH").unwrap();
    assert!(path.starts_with("/cnb/process:/cnb/lifecycle"), "{path}");
    assert_eq!(
        config.env_var("CNB_LAYERS_DIR").as_deref(),
        Some(kiln_spec::LAYERS_DIR)
    );
    let history: Vec<String> = config
        .history()
        .into_iter()
        .map(|h| h.created_by.unwrap_or_default())
        .collect();
    assert_eq!(history.len(), 2 + report.layers.len());
    assert_eq!(history[3], "Application Layer");
}

#[test]
fn the_same_inputs_give_the_same_manifest_digest() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let a = setup(one.path())
        .export(&one.path().join("out"), "latest", None)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let b = setup(two.path())
        .export(&two.path().join("elsewhere"), "latest", None)
        .unwrap();
    assert_eq!(a.manifest_digest, b.manifest_digest);
    assert_eq!(a.config_digest, b.config_digest);
    assert_eq!(a.layers, b.layers);
}

#[test]
fn changing_one_app_file_changes_only_the_app_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let first = s.export(&tmp.path().join("out"), "latest", None).unwrap();
    s.dirs.app_file("app.txt", "changed\n");
    let second = s.export(&tmp.path().join("out"), "latest", None).unwrap();
    assert_ne!(first.manifest_digest, second.manifest_digest);
    for (a, b) in first.layers.iter().zip(&second.layers) {
        assert_eq!(a.name, b.name);
        if a.name == "app" {
            assert_ne!(a.diff_id, b.diff_id);
        } else {
            assert_eq!(a.diff_id, b.diff_id, "layer {}", a.name);
        }
    }
    let lc = json_label(
        &open(&tmp.path().join("out"), "latest").resolved.config,
        labels::LIFECYCLE_METADATA,
    );
    assert_eq!(lc["app"][0]["sha"], diff_id_of(&second, "app").as_str());
}

#[test]
fn exporting_again_onto_the_previous_image_reuses_every_layer_and_writes_no_layer_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let out = tmp.path().join("out");
    let first = s.export(&out, "latest", None).unwrap();
    let blobs = blob_count(&OciLayout::open(&out).unwrap());
    let previous = PreviousImage::new(open(&out, "latest"));
    let again = s.export(&out, "latest", Some(&previous)).unwrap();
    assert_eq!(again.manifest_digest, first.manifest_digest);
    assert!(again.layers.iter().all(|l| l.reused), "{:?}", again.layers);
    assert_eq!(again.blobs_written, 0);
    assert_eq!(blob_count(&OciLayout::open(&out).unwrap()), blobs);
}

/// Replace the blob of the previous image's layer `index` (counted from the bottom) with
/// other bytes, leaving its config (and so its diff_ids) as it was.
fn tamper(dir: &Path, index: usize) -> Digest {
    let layout = OciLayout::open(dir).unwrap();
    let image = layout.resolve(Some("latest")).unwrap();
    let evil = layer(&layout, &[("planted", "attacker bytes")]);
    let mut layers = image.manifest.layers.clone();
    layers[index] = evil.descriptor.clone();
    layout.write_image("latest", &image.config, layers).unwrap();
    evil.descriptor.digest
}

#[test]
fn a_previous_image_blob_that_fails_its_check_is_not_reused_but_written_anew() {
    let tmp = tempfile::tempdir().unwrap();
    let s = setup(tmp.path());
    let prev_dir = tmp.path().join("prev");
    let first = s.export(&prev_dir, "latest", None).unwrap();
    // Layer 3 is the app layer (two base layers, then `web`).
    let evil = tamper(&prev_dir, 3);
    let previous = PreviousImage::new(open(&prev_dir, "latest"));
    let out = tmp.path().join("out");
    let again = s.export(&out, "latest", Some(&previous)).unwrap();
    assert_eq!(again.manifest_digest, first.manifest_digest);
    let app = again.layers.iter().find(|l| l.name == "app").unwrap();
    assert!(!app.reused);
    assert!(
        again
            .layers
            .iter()
            .filter(|l| l.name != "app")
            .all(|l| l.reused),
        "the intact layers are still reused"
    );
    assert_eq!(again.notes.len(), 1, "{:?}", again.notes);
    assert!(
        again.notes[0].starts_with("not reusing layer app from the previous image"),
        "{}",
        again.notes[0]
    );
    let image = OciLayout::open(&out)
        .unwrap()
        .resolve(Some("latest"))
        .unwrap();
    assert!(!image.manifest.layers.iter().any(|l| l.digest == evil));
    assert!(!OciLayout::open(&out).unwrap().blobs().has(&evil));
}

/// The setup with `web` kept by metadata alone (reuse `sha`, no contents on disk).
fn kept_by_metadata(tmp: &Path, sha: &str) -> ExportSetup {
    let mut s = setup(tmp);
    std::fs::remove_dir_all(s.dirs.layers.join("kiln_procfile/web")).unwrap();
    let web = &mut s.built[0].output.layers[1];
    assert_eq!(web.name.as_str(), "web");
    web.reuse = Some(sha.to_owned());
    s
}

#[test]
fn a_layer_kept_by_metadata_is_taken_from_the_previous_image() {
    let tmp = tempfile::tempdir().unwrap();
    let prev_dir = tmp.path().join("prev");
    let first = setup(tmp.path()).export(&prev_dir, "latest", None).unwrap();
    let sha = diff_id_of(&first, "kiln/procfile:web").to_string();
    let previous = PreviousImage::new(open(&prev_dir, "latest"));
    let s = kept_by_metadata(tmp.path(), &sha);
    let out = tmp.path().join("out");
    let again = s.export(&out, "latest", Some(&previous)).unwrap();
    let web = &again.layers[0];
    assert_eq!(web.name, "kiln/procfile:web");
    assert!(web.reused);
    assert_eq!(web.diff_id.as_str(), sha);
    assert_eq!(again.manifest_digest, first.manifest_digest);
    let lc = json_label(
        &open(&out, "latest").resolved.config,
        labels::LIFECYCLE_METADATA,
    );
    assert_eq!(lc["buildpacks"][0]["layers"]["web"]["sha"], sha.as_str());
}

#[test]
fn a_layer_kept_by_metadata_with_nothing_to_reuse_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let other = format!("sha256:{}", "cd".repeat(32));
    let s = kept_by_metadata(tmp.path(), &other);
    let prev_dir = tmp.path().join("prev");
    setup(tmp.path()).export(&prev_dir, "latest", None).unwrap();
    let previous = PreviousImage::new(open(&prev_dir, "latest"));
    for prev in [None, Some(&previous)] {
        let e = s
            .export(&tmp.path().join("out"), "latest", prev)
            .unwrap_err();
        match &e {
            ExportError::NothingToReuse { layer, sha } => {
                assert_eq!(layer, "kiln/procfile:web");
                assert_eq!(*sha, other);
            }
            e => panic!("expected NothingToReuse, got {e}"),
        }
    }
    assert!(
        LocalImage::open_if_present(&tmp.path().join("out"), "latest")
            .unwrap()
            .is_none(),
        "a failed export tags nothing"
    );
}

#[test]
fn a_layer_kept_by_metadata_whose_previous_blob_is_bad_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let prev_dir = tmp.path().join("prev");
    let first = setup(tmp.path()).export(&prev_dir, "latest", None).unwrap();
    let sha = diff_id_of(&first, "kiln/procfile:web").to_string();
    tamper(&prev_dir, 2);
    let previous = PreviousImage::new(open(&prev_dir, "latest"));
    let s = kept_by_metadata(tmp.path(), &sha);
    let e = s
        .export(&tmp.path().join("out"), "latest", Some(&previous))
        .unwrap_err();
    match &e {
        ExportError::PreviousLayerBad {
            layer,
            sha: named,
            problem,
        } => {
            assert_eq!(layer, "kiln/procfile:web");
            assert_eq!(*named, sha);
            assert!(
                matches!(problem, kiln_oci::LayerProblem::DiffIdMismatch { .. }),
                "{problem}"
            );
        }
        e => panic!("expected PreviousLayerBad, got {e}"),
    }
}

#[test]
fn an_sbom_becomes_its_own_layer_recorded_in_the_label() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path());
    let doc = r#"{"bomFormat":"CycloneDX","specVersion":"1.5"}"#;
    s.built[0].output.layers[1].sbom = Some(doc.to_owned());
    let out = tmp.path().join("out");
    let report = s.export(&out, "latest", None).unwrap();
    assert_eq!(
        names(&report),
        [
            "kiln/procfile:web",
            "sbom",
            "app",
            "launcher",
            "config",
            "process-types"
        ]
    );
    let layout = OciLayout::open(&out).unwrap();
    let image = layout.resolve(Some("latest")).unwrap();
    let sbom = layer_entries(&layout, &image.manifest.layers[3].digest);
    assert_eq!(
        sbom["layers/sbom/launch/kiln_procfile/web/sbom.cdx.json"],
        doc.as_bytes()
    );
    let lc = json_label(&image.config, labels::LIFECYCLE_METADATA);
    assert_eq!(lc["sbom"]["sha"], diff_id_of(&report, "sbom").as_str());
}

#[test]
fn without_processes_there_is_no_process_types_layer_and_the_launcher_is_the_entrypoint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path());
    s.launch.processes.clear();
    s.launch.default_process = None;
    let out = tmp.path().join("out");
    let report = s.export(&out, "latest", None).unwrap();
    assert_eq!(
        names(&report),
        ["kiln/procfile:web", "app", "launcher", "config"]
    );
    let config = open(&out, "latest").resolved.config;
    assert_eq!(config.entrypoint(), Some(vec![format!("/{LAUNCHER_PATH}")]));
    assert!(
        json_label(&config, labels::LIFECYCLE_METADATA)
            .get("process-types")
            .is_none()
    );
}

#[test]
fn no_launcher_for_the_run_image_architecture_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = setup(tmp.path());
    s.launchers = vec![("not-an-arch", LAUNCHER)];
    let e = s
        .export(&tmp.path().join("out"), "latest", None)
        .unwrap_err();
    assert!(
        matches!(&e, ExportError::NoLauncher { arch } if *arch == host_arch()),
        "{e}"
    );
    assert!(e.to_string().contains(&host_arch()), "{e}");
}
