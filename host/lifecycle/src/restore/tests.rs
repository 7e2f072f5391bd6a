//! Restore on temporary directories: cached layers come back with their files and metadata,
//! launch layers of the previous image come back as metadata only, and damaged cache entries
//! are skipped with a warning, never restored.

use std::cell::RefCell;
use std::path::Path;

use super::*;
use crate::cache::{CachedBuildpack, LayerToSave};
use kiln_oci::LayerOwnership;
use kiln_spec::labels::LIFECYCLE_METADATA;

// Each phase's tests include the shared helpers; lib.rs stays free of test modules.
#[allow(clippy::duplicate_mod)]
#[path = "../test_support.rs"]
mod support;

use support::{Dirs, host_arch, open, write, write_image};

fn metadata(json: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    json.as_object().unwrap().clone()
}

/// What `restore` returned and the warnings it gave.
fn run(
    cache: Option<(&Cache, &CacheMetadata)>,
    previous: Option<&PreviousImage>,
    buildpacks: &[Buildpack],
    group: &[usize],
    layers: &Path,
) -> (BTreeMap<usize, Restored>, Vec<String>) {
    let warnings = RefCell::new(Vec::new());
    let out = restore(cache, previous, buildpacks, group, layers, &|w: &str| {
        warnings.borrow_mut().push(w.to_owned());
    });
    (out, warnings.into_inner())
}

/// A cache (in `dir`) with `tests/provider`'s layers `tool` (build + cache: `bin/tool`, an
/// `env/` dir) and `runtime` (launch + cache: `bin/hello`).
fn cache_with_layers(dir: &Path) -> (Cache, CacheMetadata) {
    let src = dir.join("src");
    write(&src.join("tool/bin/tool"), "tool\n");
    write(&src.join("tool/env/TOOL_HOME"), "/somewhere");
    write(&src.join("runtime/bin/hello"), "hello\n");
    let cache = Cache::new(dir.join("cache"));
    let tool_meta = metadata(&serde_json::json!({"tool": "1"}));
    let runtime_meta = metadata(&serde_json::json!({"version": "1.0"}));
    let tool_dir = src.join("tool");
    let runtime_dir = src.join("runtime");
    let layer = |name, host_dir, meta, launch: bool| LayerToSave {
        buildpack: "tests/provider",
        version: "0.1.0",
        name,
        host_dir,
        dest: crate::layer_paths::layer_dest("tests_provider", name),
        build: !launch,
        launch,
        metadata: meta,
        executables: &[],
    };
    cache
        .save(
            &[
                layer("tool", &tool_dir, &tool_meta, false),
                layer("runtime", &runtime_dir, &runtime_meta, true),
            ],
            LayerOwnership::ROOT,
        )
        .unwrap();
    let meta = cache.load().unwrap().unwrap();
    (cache, meta)
}

/// A previous image (in `dir`) whose lifecycle label records `layers` for `tests/provider`.
fn previous_with(dir: &Path, layers: &serde_json::Value) -> PreviousImage {
    let label = serde_json::json!({
        "buildpacks": [{"key": "tests/provider", "version": "0.1.0", "layers": layers}]
    })
    .to_string();
    write_image(
        dir,
        "latest",
        &host_arch(),
        &[&[("x", "y")]],
        &[(LIFECYCLE_METADATA, &label)],
    );
    PreviousImage::new(open(dir, "latest"))
}

fn names(r: &Restored) -> Vec<(&str, bool)> {
    r.layers
        .iter()
        .map(|l| (l.name.as_str(), l.has_contents))
        .collect()
}

#[test]
fn cached_layers_come_back_with_their_files_and_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER]);
    let (cache, meta) = cache_with_layers(tmp.path());
    let dirs = Dirs::new();
    let (out, warnings) = run(Some((&cache, &meta)), None, &bps, &[0], &dirs.layers);
    assert!(warnings.is_empty(), "{warnings:?}");
    let r = &out[&0];
    assert_eq!(names(r), [("runtime", true), ("tool", true)]);
    assert!(r.reusable.is_empty());
    let tool = r.layers.iter().find(|l| l.name == "tool").unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tool.metadata).unwrap(),
        serde_json::json!({"tool": "1"})
    );
    let root = dirs.layers.join("tests_provider");
    assert_eq!(
        std::fs::read_to_string(root.join("tool/bin/tool")).unwrap(),
        "tool\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("runtime/bin/hello")).unwrap(),
        "hello\n"
    );
    assert!(
        !root.join("tool/env").exists(),
        "env dirs are written from the records after build, not restored"
    );
}

#[test]
fn a_corrupted_cache_tar_is_not_restored_and_the_warning_names_the_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER]);
    let (cache, meta) = cache_with_layers(tmp.path());
    let tool = &meta.buildpack("tests/provider").unwrap().layers["tool"];
    let tar = cache.layer_tar(&tool.sha);
    let mut bytes = std::fs::read(&tar).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&tar, bytes).unwrap();
    let dirs = Dirs::new();
    let (out, warnings) = run(Some((&cache, &meta)), None, &bps, &[0], &dirs.layers);
    assert_eq!(
        names(&out[&0]),
        [("runtime", true)],
        "the intact layer still is"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("cached layer tests/provider:tool discarded"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("is corrupt"), "{}", warnings[0]);
    let root = dirs.layers.join("tests_provider");
    assert!(!root.join("tool").exists());
    assert!(root.join("runtime/bin/hello").is_file());
}

#[test]
fn a_cache_tar_of_another_layer_leaves_nothing_in_the_layers_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER]);
    let (cache, mut meta) = cache_with_layers(tmp.path());
    // `tool` now names the tar of `runtime`: intact, but its entries belong to another layer.
    let runtime_sha = meta.buildpacks[0].layers["runtime"].sha.clone();
    meta.buildpacks[0].layers.get_mut("tool").unwrap().sha = runtime_sha;
    meta.buildpacks[0].layers.remove("runtime");
    let dirs = Dirs::new();
    let (out, warnings) = run(Some((&cache, &meta)), None, &bps, &[0], &dirs.layers);
    assert!(out[&0].layers.is_empty());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("is not part of layer"),
        "{}",
        warnings[0]
    );
    let root = dirs.layers.join("tests_provider");
    assert!(!root.join("tool").exists());
}

#[test]
fn a_refused_cache_tar_leaves_no_scratch_directory_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER]);
    let (cache, mut meta) = cache_with_layers(tmp.path());
    let runtime_sha = meta.buildpacks[0].layers["runtime"].sha.clone();
    meta.buildpacks[0].layers.get_mut("tool").unwrap().sha = runtime_sha;
    meta.buildpacks[0].layers.remove("runtime");
    let dirs = Dirs::new();
    let (_, warnings) = run(Some((&cache, &meta)), None, &bps, &[0], &dirs.layers);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let left: Vec<_> = std::fs::read_dir(dirs.layers.join("tests_provider"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the layers dir: {left:?}");
}

#[test]
fn launch_layers_of_the_previous_image_come_back_as_metadata_to_reuse() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER]);
    let previous = previous_with(
        &tmp.path().join("prev"),
        &serde_json::json!({
            "runtime": {"sha": "sha256:1111", "data": {"version": "1.0"}, "launch": true},
            "built-only": {"sha": "sha256:2222", "build": true}
        }),
    );
    let dirs = Dirs::new();
    let (out, warnings) = run(None, Some(&previous), &bps, &[0], &dirs.layers);
    assert!(warnings.is_empty(), "{warnings:?}");
    let r = &out[&0];
    assert_eq!(names(r), [("runtime", false)], "only launch layers");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.layers[0].metadata).unwrap(),
        serde_json::json!({"version": "1.0"})
    );
    assert_eq!(r.reusable.len(), 1);
    assert_eq!(r.reusable["runtime"], "sha256:1111");
    assert!(
        !dirs.layers.join("tests_provider/runtime").exists(),
        "no contents are restored from the previous image"
    );
}

#[test]
fn a_cached_launch_layer_is_restored_only_while_the_previous_image_has_the_same_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER]);
    let (cache, meta) = cache_with_layers(tmp.path());
    let cached = meta.buildpacks[0].layers["runtime"].sha.clone();

    // The previous image has the same runtime: restored from the cache, with contents.
    let same = previous_with(
        &tmp.path().join("same"),
        &serde_json::json!({"runtime": {"sha": cached, "launch": true}}),
    );
    let dirs = Dirs::new();
    let (out, _) = run(Some((&cache, &meta)), Some(&same), &bps, &[0], &dirs.layers);
    assert_eq!(names(&out[&0]), [("runtime", true), ("tool", true)]);
    assert!(
        out[&0].reusable.is_empty(),
        "restored layers are not reused"
    );
    assert!(
        dirs.layers
            .join("tests_provider/runtime/bin/hello")
            .is_file()
    );

    // Another runtime: the stale cached copy is skipped, the previous image's is offered.
    let other = previous_with(
        &tmp.path().join("other"),
        &serde_json::json!({"runtime": {"sha": "sha256:9999", "launch": true}}),
    );
    let dirs = Dirs::new();
    let (out, warnings) = run(
        Some((&cache, &meta)),
        Some(&other),
        &bps,
        &[0],
        &dirs.layers,
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(names(&out[&0]), [("runtime", false), ("tool", true)]);
    assert_eq!(out[&0].reusable["runtime"], "sha256:9999");
    assert!(!dirs.layers.join("tests_provider/runtime").exists());
    assert!(dirs.layers.join("tests_provider/tool/bin/tool").is_file());
}

#[test]
fn only_the_groups_buildpacks_are_restored_each_from_its_own_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER, support::CONSUMER]);
    let (cache, meta) = cache_with_layers(tmp.path());
    let dirs = Dirs::new();
    let (out, _) = run(Some((&cache, &meta)), None, &bps, &[1], &dirs.layers);
    assert_eq!(out.keys().copied().collect::<Vec<_>>(), [1]);
    assert!(out[&1].layers.is_empty(), "the consumer has nothing cached");
    assert!(!dirs.layers.join("tests_provider").exists());

    let dirs = Dirs::new();
    let (out, _) = run(Some((&cache, &meta)), None, &bps, &[0, 1], &dirs.layers);
    assert_eq!(out.keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(out[&0].layers.len(), 2);
    assert!(out[&1].layers.is_empty());
}

#[test]
fn a_cache_entry_with_an_invalid_layer_name_is_skipped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, bps) = support::buildpacks(&[support::PROVIDER]);
    let (cache, meta) = cache_with_layers(tmp.path());
    let tool = meta.buildpacks[0].layers["tool"].clone();
    let evil = CacheMetadata {
        format: meta.format,
        buildpacks: vec![CachedBuildpack {
            key: "tests/provider".into(),
            version: "0.1.0".into(),
            layers: [("../escape".to_owned(), tool)].into(),
        }],
    };
    let dirs = Dirs::new();
    let (out, warnings) = run(Some((&cache, &evil)), None, &bps, &[0], &dirs.layers);
    assert!(out[&0].layers.is_empty());
    assert_eq!(
        warnings,
        ["cache entry tests/provider:../escape has an invalid layer name; skipped"]
    );
    assert!(!dirs.layers.join("escape").exists());
    assert!(!dirs.layers.join("tests_provider").exists());
}
