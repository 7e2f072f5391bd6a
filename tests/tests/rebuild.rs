//! Rebuilds: cache restore, layer reuse by diff_id, keep-by-metadata, corrupt caches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::*;

struct Project {
    work: tempfile::TempDir,
    app: PathBuf,
}

impl Project {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let app = work.path().join("app");
        copy_dir(fixture("plan-app"), &app);
        Self { work, app }
    }

    fn layout(&self) -> PathBuf {
        self.work.path().join("image")
    }

    fn cache(&self) -> PathBuf {
        self.work.path().join("cache")
    }

    fn build(&self) -> Output {
        let cache = format!("--cache-dir={}", self.cache().display());
        build_pair(&self.app, &self.layout(), &[&cache]).success()
    }

    fn diff_ids(&self) -> Vec<String> {
        inspect_json(&self.layout(), "latest")["summary"]["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["diff_id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn blobs(layout: &Path) -> usize {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn noop_rebuild_reuses_everything_and_writes_no_blob() {
    let p = Project::new();
    let first = p.build();
    assert!(
        first.stderr.contains("tool layer created"),
        "{}",
        first.stderr
    );
    let before = blobs(&p.layout());
    let second = p.build();
    assert_eq!(digest_of(&first), digest_of(&second));
    assert_eq!(
        blobs(&p.layout()),
        before,
        "a no-op rebuild must write no blob"
    );
    // The cached build layer came back from the cache and the buildpack kept it.
    assert!(
        second.stderr.contains("tool layer restored"),
        "{}",
        second.stderr
    );
    for layer in [
        "tests/provider:runtime",
        "tests/consumer:seen",
        "sbom",
        "app",
        "config",
        "launcher",
        "process-types",
    ] {
        assert!(
            second.stderr.contains(&format!("Reusing layer {layer} ")),
            "{layer}: {}",
            second.stderr
        );
    }
    assert!(!second.stderr.contains("Adding layer"), "{}", second.stderr);
}

#[test]
fn changing_one_app_file_changes_only_the_app_layer() {
    let p = Project::new();
    p.build();
    let before = p.diff_ids();
    std::fs::write(p.app.join("README.txt"), "changed\n").unwrap();
    let out = p.build();
    let after = p.diff_ids();
    assert_eq!(before.len(), after.len());
    let changed: Vec<usize> = (0..before.len())
        .filter(|&i| before[i] != after[i])
        .collect();
    let app_index = 4; // run image, runtime, seen, sbom, app, launcher, config, process types
    assert_eq!(
        changed,
        [app_index],
        "only the app layer may change: {before:?} -> {after:?}"
    );
    assert!(out.stderr.contains("Adding layer app "), "{}", out.stderr);
}

#[test]
fn a_corrupt_cache_is_detected_discarded_and_the_build_succeeds() {
    let p = Project::new();
    p.build();
    // Corrupt every cached tar.
    let layers = p.cache().join("committed/layers");
    for e in std::fs::read_dir(&layers).unwrap() {
        let path = e.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    let out = p.build();
    assert!(
        out.stderr
            .contains("warning: cached layer tests/provider:tool discarded"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("is corrupt"), "{}", out.stderr);
    assert!(out.stderr.contains("tool layer created"), "{}", out.stderr);
    // The next build has a good cache again.
    let again = p.build();
    assert!(
        again.stderr.contains("tool layer restored"),
        "{}",
        again.stderr
    );

    // Garbage metadata: discarded with a warning, the build still works.
    std::fs::write(p.cache().join("committed/metadata.json"), "{not json").unwrap();
    let out = p.build();
    assert!(
        out.stderr.contains("the cache was discarded"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("tool layer created"), "{}", out.stderr);

    // A foreign directory where the cache should be.
    std::fs::remove_dir_all(p.cache()).unwrap();
    std::fs::create_dir_all(p.cache().join("committed")).unwrap();
    std::fs::write(p.cache().join("committed/random.bin"), "x").unwrap();
    let out = p.build();
    assert!(
        out.stderr.contains("the cache was discarded"),
        "{}",
        out.stderr
    );
}

#[test]
fn launch_layers_kept_by_metadata_reuse_the_previous_blob() {
    let p = Project::new();
    p.build();
    let before = p.diff_ids();
    // A different cache dir: nothing is restored from a cache, only metadata from the
    // previous image; the provider keeps its `runtime` layer by metadata alone.
    let layout = p.layout();
    let out = kiln([
        "build",
        &format!("oci:{}", layout.display()),
        "--path",
        p.app.to_str().unwrap(),
        "--buildpack",
        test_buildpack("provider").to_str().unwrap(),
        "--buildpack",
        test_buildpack("consumer").to_str().unwrap(),
        "--run-image",
        &busybox(),
        "--cache-dir",
        p.work.path().join("other-cache").to_str().unwrap(),
        "-v",
    ])
    .success();
    assert!(
        out.stderr
            .contains("Restored tests/provider:runtime metadata from the previous image"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("[tests/provider] runtime layer kept"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Reusing layer tests/provider:runtime "),
        "{}",
        out.stderr
    );
    assert_eq!(p.diff_ids(), before);
}

#[test]
fn a_previous_image_layer_whose_blob_was_replaced_is_rebuilt_not_reused() {
    let p = Project::new();
    let first = digest_of(&p.build());
    // Point the top layer at other bytes; the config's diff_ids stay as they were.
    let layout = kiln_oci::OciLayout::open(p.layout()).unwrap();
    let image = layout.resolve(Some("latest")).unwrap();
    let mut evil = kiln_oci::LayerBuilder::new(kiln_oci::LayerOwnership::ROOT);
    evil.add_file("planted", b"attacker bytes".to_vec(), 0o755)
        .unwrap();
    let evil = evil.write_to(layout.blobs()).unwrap();
    let mut layers = image.manifest.layers.clone();
    *layers.last_mut().unwrap() = evil.descriptor.clone();
    layout.write_image("latest", &image.config, layers).unwrap();

    let again = p.build();
    assert!(
        again.stderr.contains("not reusing layer")
            && again.stderr.contains("from the previous image"),
        "{}",
        again.stderr
    );
    // The layer is written anew from the layers dir: the same image as before, and valid.
    assert_eq!(digest_of(&again), first);
    let rebuilt = layout.resolve(Some("latest")).unwrap();
    assert!(
        !rebuilt
            .manifest
            .layers
            .iter()
            .any(|l| l.digest == evil.descriptor.digest),
        "the attacker's blob is not in the new image"
    );
    let validated = validate_image(&p.layout(), "latest");
    assert!(
        validated.stdout.contains("RESULT: VALID"),
        "{}",
        validated.stdout
    );
}

/// A layer file 4,000 bytes below its layer (longer than PATH_MAX with the layers dir in
/// front) is walked, exported, cached and restored; also under a long `--layers-dir`.
#[test]
fn a_layer_path_longer_than_path_max_is_exported_cached_and_restored() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_dir(fixture("procfile-app"), &app);
    let long_layers = (0..4).fold(work.path().join("layers"), |p, i| {
        p.join(format!("{i}{}", "l".repeat(200)))
    });
    for layers_dir in [None, Some(long_layers)] {
        let layout = work.path().join("image");
        let cache = work.path().join("cache");
        let _ = std::fs::remove_dir_all(&layout);
        let _ = std::fs::remove_dir_all(&cache);
        let build = |layers: Option<&Path>| {
            let mut cmd = kiln_command();
            cmd.arg("build")
                .arg(format!("oci:{}", layout.display()))
                .arg("--path")
                .arg(&app)
                .arg("--buildpack")
                .arg(test_buildpack("raw"))
                .args(["--env", "KILN_TEST_MODE=long-path"])
                .arg("--cache-dir")
                .arg(&cache)
                .args(["--run-image", &busybox()]);
            if let Some(dir) = layers {
                let _ = std::fs::remove_dir_all(dir);
                cmd.arg("--layers-dir").arg(dir);
            }
            run(&mut cmd)
        };
        let first = build(layers_dir.as_deref());
        assert_eq!(first.code, 0, "{}", first.stderr);
        let again = build(layers_dir.as_deref());
        assert_eq!(again.code, 0, "{}", again.stderr);
        let trouble: Vec<&str> = again
            .stderr
            .lines()
            .filter(|l| l.contains("warning") && !l.contains("no default process"))
            .collect();
        assert!(
            trouble.is_empty(),
            "the cached layer was restored without trouble: {}",
            again.stderr
        );
        assert_eq!(digest_of(&again), digest_of(&first));
        // umoci would unpack below a bundle dir, past PATH_MAX; the layout checker reads the
        // tars (GNU long names) and checks every digest and diff_id.
        let checked = run(std::process::Command::new("python3")
            .arg(root().join("tools/check-oci-layout.py"))
            .arg(&layout)
            .arg("latest"));
        assert_eq!(checked.code, 0, "{}\n{}", checked.stdout, checked.stderr);
    }
}
