//! Rebase on temporary layouts: an app image exported onto base `v1` is moved onto base `v2`;
//! the app layers stay the same blobs, the base layers, base labels and run image metadata
//! change, and the refusals (not rebasable, other platform, not a buildpacks image) leave the
//! image as it was.

use std::path::Path;

use super::*;

// Each phase's tests include the shared helpers; lib.rs stays free of test modules.
#[allow(clippy::duplicate_mod)]
#[path = "../test_support.rs"]
mod support;

use support::{ExportSetup, blob_count, host_arch, json_label, run_image, scratch, write_image};

/// Two bases and an app image on the first, in one temporary directory.
struct Fixture {
    tmp: tempfile::TempDir,
    /// The app image's layout (tag `app`).
    layout: OciLayout,
    /// The app image's config before any rebase.
    before: kiln_oci::ResolvedImage,
}

/// `v1`: two layers, base labels of `v1`, and `extra` labels.
fn base_v1(dir: &Path, extra: &[(&str, &str)]) {
    let mut labels = vec![
        ("io.buildpacks.base.distro.name", "v1"),
        ("io.buildpacks.stack.id", "stack-v1"),
        ("org.example.from-base", "v1"),
    ];
    labels.extend_from_slice(extra);
    write_image(
        dir,
        "latest",
        &host_arch(),
        &[&[("etc/os", "v1")], &[("etc/variant", "v1")]],
        &labels,
    );
}

/// `v2`: one layer, for `arch`, with the base labels of `v2`.
fn base_v2(dir: &Path, arch: &str) {
    write_image(
        dir,
        "latest",
        arch,
        &[&[("etc/os", "v2")]],
        &[
            ("io.buildpacks.base.distro.name", "v2"),
            ("org.example.from-base", "v2"),
        ],
    );
}

impl Fixture {
    /// The app (exported onto `v1` with `v1_labels`) and `v2` for `v2_arch`.
    fn with(v1_labels: &[(&str, &str)], v2_arch: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        base_v1(&tmp.path().join("v1"), v1_labels);
        base_v2(&tmp.path().join("v2"), v2_arch);
        let setup = ExportSetup::new(run_image(&tmp.path().join("v1"), "latest", "v1:latest"));
        setup.export(&tmp.path().join("app"), "app", None).unwrap();
        let layout = OciLayout::open(tmp.path().join("app")).unwrap();
        let before = layout.resolve(Some("app")).unwrap();
        Self {
            tmp,
            layout,
            before,
        }
    }

    fn new() -> Self {
        Self::with(&[], &host_arch())
    }

    fn v2(&self) -> RunImage {
        run_image(&self.tmp.path().join("v2"), "latest", "v2:latest")
    }

    fn v1(&self) -> RunImage {
        run_image(&self.tmp.path().join("v1"), "latest", "v1:latest")
    }

    fn rebase(&self, onto: &RunImage, force: bool) -> Result<RebaseReport, RebaseError> {
        rebase("oci:app", &self.layout, "app", onto, force)
    }

    fn now(&self) -> kiln_oci::ResolvedImage {
        self.layout.resolve(Some("app")).unwrap()
    }
}

#[test]
fn the_base_layers_are_swapped_and_the_app_layers_kept_as_the_same_blobs() {
    let f = Fixture::new();
    let v2 = f.v2();
    let report = f.rebase(&v2, false).unwrap();
    let after = f.now();
    assert_eq!(*after.manifest_digest(), report.manifest_digest);
    assert_ne!(report.manifest_digest, *f.before.manifest_digest());

    let old_ids = f.before.config.diff_ids().unwrap();
    let new_ids = after.config.diff_ids().unwrap();
    let v2_ids = v2.config.diff_ids().unwrap();
    let app_layers = old_ids.len() - 2;
    assert_eq!(report.kept_layers, app_layers);
    assert_eq!(new_ids.len(), 1 + app_layers);
    assert_eq!(new_ids[..1], v2_ids[..]);
    assert_eq!(new_ids[1..], old_ids[2..]);
    assert_eq!(after.manifest.layers[..1], v2.layers()[..]);
    assert_eq!(
        after.manifest.layers[1..],
        f.before.manifest.layers[2..],
        "app layers are the same blobs"
    );
    assert_eq!(report.old_top_layer, old_ids[1].to_string());
    assert_eq!(report.new_top_layer, v2_ids[0].to_string());
    for l in &after.manifest.layers {
        assert!(
            f.layout.blobs().has(&l.digest),
            "blob {} is present",
            l.digest
        );
    }
}

#[test]
fn the_checked_base_blobs_are_copied_without_hashing_then_found_present() {
    let f = Fixture::new();
    let v2 = f.v2();
    let first = f.rebase(&v2, false).unwrap();
    assert_eq!(first.base_copies, vec![kiln_oci::CopyOutcome::Cloned]);
    let again = f.rebase(&v2, false).unwrap();
    assert_eq!(again.base_copies, vec![kiln_oci::CopyOutcome::Present]);
}

#[test]
fn a_base_blob_changed_after_its_check_is_not_copied_unchecked() {
    let f = Fixture::new();
    let v2 = f.v2();
    let blob = f
        .tmp
        .path()
        .join("v2/blobs/sha256")
        .join(v2.layers()[0].digest.hex());
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let err = f.rebase(&v2, false).unwrap_err();
    assert!(
        matches!(
            err,
            RebaseError::Image {
                source: ImageError::DigestMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(f.now().manifest_digest(), f.before.manifest_digest());
    assert!(!f.layout.blobs().has(&v2.layers()[0].digest));
}

#[test]
fn the_run_image_metadata_and_only_the_base_labels_change() {
    let f = Fixture::new();
    let v2 = f.v2();
    f.rebase(&v2, false).unwrap();
    let config = f.now().config;
    let lifecycle = json_label(&config, LIFECYCLE_METADATA);
    assert_eq!(
        lifecycle["runImage"]["topLayer"],
        v2.config.diff_ids().unwrap()[0].as_str()
    );
    assert_eq!(lifecycle["runImage"]["reference"], v2.digest().as_str());
    assert_eq!(lifecycle["runImage"]["image"], "v2:latest");
    assert_eq!(lifecycle["stack"]["runImage"]["image"], "v2:latest");
    // The rest of the label is the app's.
    let before = json_label(&f.before.config, LIFECYCLE_METADATA);
    assert_eq!(lifecycle["app"], before["app"]);
    assert_eq!(lifecycle["launcher"], before["launcher"]);
    // Base labels come from the new base; a base label it lacks is dropped; others stay.
    assert_eq!(config.label("io.buildpacks.base.distro.name"), Some("v2"));
    assert_eq!(config.label("io.buildpacks.stack.id"), None);
    assert_eq!(config.label("org.example.from-base"), Some("v1"));
    assert_eq!(config.entrypoint(), f.before.config.entrypoint());
    assert_eq!(config.env(), f.before.config.env());
}

#[test]
fn the_history_is_the_new_bases_then_the_apps_above_the_old_base() {
    let f = Fixture::new();
    f.rebase(&f.v2(), false).unwrap();
    let by = |c: &kiln_oci::ImageConfig| -> Vec<String> {
        c.history()
            .into_iter()
            .map(|h| h.created_by.unwrap_or_default())
            .collect()
    };
    let before = by(&f.before.config);
    assert_eq!(before[..2], ["latest layer 0", "latest layer 1"]);
    let after = by(&f.now().config);
    assert_eq!(after[0], "latest layer 0");
    assert_eq!(after[1..], before[2..]);
    assert_eq!(after.len(), f.now().manifest.layers.len());
}

#[test]
fn rebasing_again_onto_the_same_base_changes_nothing_and_writes_no_blob() {
    let f = Fixture::new();
    let v2 = f.v2();
    let first = f.rebase(&v2, false).unwrap();
    let blobs = blob_count(&f.layout);
    let again = f.rebase(&v2, false).unwrap();
    assert_eq!(again.manifest_digest, first.manifest_digest);
    assert_eq!(again.old_top_layer, again.new_top_layer);
    assert_eq!(blob_count(&f.layout), blobs);
    // And back onto v1 gives the layers of the image exported onto v1 in the first place.
    f.rebase(&f.v1(), false).unwrap();
    let back = f.now();
    assert_eq!(back.manifest.layers, f.before.manifest.layers);
    assert_eq!(
        back.config.diff_ids().unwrap(),
        f.before.config.diff_ids().unwrap()
    );
    assert_eq!(
        json_label(&back.config, LIFECYCLE_METADATA),
        json_label(&f.before.config, LIFECYCLE_METADATA)
    );
}

#[test]
fn an_image_marked_not_rebasable_is_refused_without_force() {
    let f = Fixture::with(&[(REBASABLE_LABEL, "false")], &host_arch());
    let v2 = f.v2();
    let e = f.rebase(&v2, false).unwrap_err();
    assert!(
        matches!(&e, RebaseError::NotRebasable { image } if image == "oci:app"),
        "{e}"
    );
    assert!(
        e.to_string().contains("io.buildpacks.rebasable=false"),
        "{e}"
    );
    assert_eq!(
        f.now().manifest_digest(),
        f.before.manifest_digest(),
        "a refused rebase leaves the image alone"
    );
    let forced = f.rebase(&v2, true).unwrap();
    assert_eq!(*f.now().manifest_digest(), forced.manifest_digest);
    assert_eq!(
        forced.new_top_layer,
        v2.config.diff_ids().unwrap()[0].to_string()
    );
}

#[test]
fn only_the_exact_value_false_forbids_a_rebase() {
    let f = Fixture::with(&[(REBASABLE_LABEL, "FALSE")], &host_arch());
    f.rebase(&f.v2(), false).unwrap();
}

#[test]
fn a_base_for_another_platform_is_refused_without_force() {
    let other = if host_arch() == "riscv64" {
        "s390x"
    } else {
        "riscv64"
    };
    let f = Fixture::with(&[], other);
    let v2 = f.v2();
    let e = f.rebase(&v2, false).unwrap_err();
    match &e {
        RebaseError::PlatformMismatch {
            image,
            old,
            new,
            run_image,
        } => {
            assert_eq!(image, "oci:app");
            assert_eq!(*old, format!("linux/{}", host_arch()));
            assert_eq!(*new, format!("linux/{other}"));
            assert!(run_image.contains("v2"), "{run_image}");
        }
        other => panic!("expected a platform mismatch, got {other}"),
    }
    assert_eq!(f.now().manifest_digest(), f.before.manifest_digest());
    f.rebase(&v2, true).unwrap();
    assert_eq!(f.now().config.architecture(), Some(other));
}

#[test]
fn an_image_without_a_readable_lifecycle_label_is_not_rebased() {
    let tmp = tempfile::tempdir().unwrap();
    base_v2(&tmp.path().join("v2"), &host_arch());
    for label in [None, Some("{not json")] {
        let dir = tmp.path().join(format!("plain-{}", label.is_some()));
        let labels: Vec<(&str, &str)> =
            label.map(|l| (LIFECYCLE_METADATA, l)).into_iter().collect();
        let layout = write_image(&dir, "app", &host_arch(), &[&[("x", "y")]], &labels);
        let v2 = run_image(&tmp.path().join("v2"), "latest", "v2:latest");
        let e = rebase("plain", &layout, "app", &v2, true).unwrap_err();
        match &e {
            RebaseError::NotABuildpacksImage { image, reason } => {
                assert_eq!(image, "plain");
                assert!(reason.contains(LIFECYCLE_METADATA), "{reason}");
            }
            other => panic!("expected not a buildpacks image, got {other}"),
        }
    }
}

#[test]
fn a_run_image_top_layer_missing_from_the_image_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    base_v2(&tmp.path().join("v2"), &host_arch());
    let bogus = format!("sha256:{}", "ab".repeat(32));
    let label = format!(r#"{{"runImage": {{"topLayer": "{bogus}"}}}}"#);
    let layout = write_image(
        &tmp.path().join("app"),
        "app",
        &host_arch(),
        &[&[("x", "y")]],
        &[(LIFECYCLE_METADATA, &label)],
    );
    let v2 = run_image(&tmp.path().join("v2"), "latest", "v2:latest");
    let e = rebase("img", &layout, "app", &v2, false).unwrap_err();
    assert!(
        matches!(&e, RebaseError::NotABuildpacksImage { reason, .. } if reason.contains(&bogus)),
        "{e}"
    );
}

#[test]
fn an_image_built_on_scratch_gets_the_base_put_under_all_its_layers() {
    let tmp = tempfile::tempdir().unwrap();
    base_v2(&tmp.path().join("v2"), &host_arch());
    let setup = ExportSetup::new(scratch());
    let exported = setup.export(&tmp.path().join("app"), "app", None).unwrap();
    let layout = OciLayout::open(tmp.path().join("app")).unwrap();
    let before = layout.resolve(Some("app")).unwrap();
    let v2 = run_image(&tmp.path().join("v2"), "latest", "v2:latest");
    let report = rebase("app", &layout, "app", &v2, false).unwrap();
    assert_eq!(report.old_top_layer, "");
    assert_eq!(report.kept_layers, exported.layers.len());
    let after = layout.resolve(Some("app")).unwrap();
    assert_eq!(after.manifest.layers[0], v2.layers()[0]);
    assert_eq!(after.manifest.layers[1..], before.manifest.layers[..]);
}

#[test]
fn a_missing_tag_is_an_image_error_naming_the_image() {
    let f = Fixture::new();
    let e = rebase("oci:app", &f.layout, "nope", &f.v2(), false).unwrap_err();
    assert!(
        matches!(&e, RebaseError::Image { image, .. } if image == "oci:app"),
        "{e}"
    );
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn history_that_does_not_line_up_is_dropped() {
    let entry = |by: &str, empty: bool| HistoryEntry {
        created_by: Some(by.into()),
        empty_layer: empty.then_some(true),
        ..HistoryEntry::default()
    };
    let app = [
        entry("old base", false),
        entry("env", true),
        entry("app", false),
    ];
    let base = [entry("new base", false)];
    let h = rebased_history(&app, 1, &base, 1);
    let by: Vec<_> = h.iter().map(|e| e.created_by.clone().unwrap()).collect();
    // The empty entry after the old base's layer belongs to the old base.
    assert_eq!(by, ["new base", "app"]);
    assert!(
        rebased_history(&app, 1, &base, 2).is_empty(),
        "base mismatch"
    );
    assert!(
        rebased_history(&app, 5, &base, 1).is_empty(),
        "app mismatch"
    );
}
