//! The layer cache on temporary directories: save and load, reuse of unchanged tars, and every
//! kind of damage being detected, discarded and reported instead of restored.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

// Each phase's tests include the shared helpers; lib.rs stays free of test modules.
#[allow(clippy::duplicate_mod)]
#[path = "../test_support.rs"]
mod support;

use support::write;

fn meta(pairs: &[(&str, serde_json::Value)]) -> serde_json::Map<String, serde_json::Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A layer to save from `host_dir` as `<buildpack>:<name>`.
fn to_save<'a>(
    buildpack: &'a str,
    name: &'a str,
    host_dir: &'a Path,
    metadata: &'a serde_json::Map<String, serde_json::Value>,
) -> LayerToSave<'a> {
    LayerToSave {
        buildpack,
        version: "0.1.0",
        name,
        host_dir,
        dest: crate::layer_paths::layer_dest(&kiln_spec::escape_id(buildpack), name),
        build: true,
        launch: false,
        metadata,
        executables: &[],
    }
}

/// A cache holding one layer `tests/provider:tool` (`bin/tool` and `share/doc.txt`), and
/// its metadata.
fn saved_cache(tmp: &Path) -> (Cache, CacheMetadata) {
    let host = tmp.join("src/tool");
    write(&host.join("bin/tool"), "#!/bin/sh\necho tool\n");
    write(&host.join("share/doc.txt"), "docs\n");
    let cache = Cache::new(tmp.join("cache"));
    let m = meta(&[("tool", "1".into())]);
    let written = cache
        .save(
            &[to_save("tests/provider", "tool", &host, &m)],
            LayerOwnership::ROOT,
        )
        .unwrap();
    assert_eq!(written, 1);
    let loaded = cache.load().unwrap().unwrap();
    (cache, loaded)
}

#[test]
fn a_missing_cache_loads_as_none() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = Cache::new(tmp.path().join("never-saved"));
    assert!(cache.load().unwrap().is_none());
    assert_eq!(cache.dir(), tmp.path().join("never-saved"));
}

#[test]
fn saved_layers_load_back_with_their_metadata_and_types() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    write(&a.join("one.txt"), "one");
    write(&b.join("two.txt"), "two");
    let cache = Cache::new(tmp.path().join("cache"));
    let ma = meta(&[("v", 1.into())]);
    let mb = meta(&[("v", 2.into())]);
    let mut second = to_save("tests/consumer", "deps", &b, &mb);
    second.launch = true;
    second.build = false;
    cache
        .save(
            &[to_save("tests/provider", "tool", &a, &ma), second],
            LayerOwnership::ROOT,
        )
        .unwrap();
    let loaded = cache.load().unwrap().unwrap();
    assert_eq!(loaded.format, FORMAT);
    let keys: Vec<&str> = loaded.buildpacks.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(keys, ["tests/provider", "tests/consumer"]);
    let tool = &loaded.buildpack("tests/provider").unwrap().layers["tool"];
    assert_eq!(tool.data, ma);
    assert!(tool.build && !tool.launch && tool.cache);
    let deps = &loaded.buildpack("tests/consumer").unwrap().layers["deps"];
    assert_eq!(deps.data, mb);
    assert!(!deps.build && deps.launch && deps.cache);
    assert_ne!(tool.sha, deps.sha);
    assert!(loaded.buildpack("tests/other").is_none());
    // Each tar is named by its diff_id, and hashes to it.
    for sha in [&tool.sha, &deps.sha] {
        let bytes = std::fs::read(cache.layer_tar(sha)).unwrap();
        assert_eq!(Digest::of_bytes(&bytes).as_str(), sha.as_str());
    }
}

#[test]
fn unchanged_layers_are_linked_not_rewritten_and_a_change_gives_a_new_tar() {
    let tmp = tempfile::tempdir().unwrap();
    let host = tmp.path().join("tool");
    write(&host.join("f.txt"), "v1");
    let cache = Cache::new(tmp.path().join("cache"));
    let m = meta(&[]);
    let save = || {
        cache
            .save(
                &[to_save("tests/provider", "tool", &host, &m)],
                LayerOwnership::ROOT,
            )
            .unwrap()
    };
    assert_eq!(save(), 1);
    let first = cache.load().unwrap().unwrap().buildpacks[0].layers["tool"]
        .sha
        .clone();
    assert_eq!(
        save(),
        0,
        "the same contents are linked from the committed state"
    );
    assert_eq!(
        cache.load().unwrap().unwrap().buildpacks[0].layers["tool"].sha,
        first
    );
    write(&host.join("f.txt"), "v2");
    assert_eq!(save(), 1);
    let second = cache.load().unwrap().unwrap().buildpacks[0].layers["tool"]
        .sha
        .clone();
    assert_ne!(first, second);
    assert!(
        !cache.layer_tar(&first).exists(),
        "a tar no longer referenced is not kept"
    );
    assert!(cache.layer_tar(&second).is_file());
}

#[test]
fn the_same_contents_give_the_same_diff_id_wherever_and_whenever_they_were_made() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one/tool");
    let two = tmp.path().join("elsewhere/deeper/tool");
    write(&one.join("bin/run"), "run");
    write(&one.join("a.txt"), "a");
    // Created in another order, with other mtimes and permissions bits on the directory.
    write(&two.join("a.txt"), "a");
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(&two.join("bin/run"), "run");
    std::fs::set_permissions(&two, std::fs::Permissions::from_mode(0o700)).unwrap();
    let m = meta(&[]);
    let sha_of = |dir: &Path, host: &Path| {
        let cache = Cache::new(dir);
        cache
            .save(
                &[to_save("tests/provider", "tool", host, &m)],
                LayerOwnership::ROOT,
            )
            .unwrap();
        cache.load().unwrap().unwrap().buildpacks[0].layers["tool"]
            .sha
            .clone()
    };
    assert_eq!(
        sha_of(&tmp.path().join("c1"), &one),
        sha_of(&tmp.path().join("c2"), &two)
    );
}

#[test]
fn a_restored_layer_has_the_saved_files_and_executable_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, loaded) = saved_cache(tmp.path());
    let layer = &loaded.buildpack("tests/provider").unwrap().layers["tool"];
    let target = tmp.path().join("restored/tool");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    cache
        .restore_layer(layer, "layers/tests_provider/tool", &target)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("bin/tool")).unwrap(),
        "#!/bin/sh\necho tool\n"
    );
    assert_eq!(
        std::fs::read_to_string(target.join("share/doc.txt")).unwrap(),
        "docs\n"
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode(&target.join("bin/tool")),
        0o755,
        "files under bin/ run"
    );
    assert_eq!(mode(&target.join("share/doc.txt")), 0o644);
    assert!(
        !tmp.path().join("restored/tool.restoring").exists(),
        "the scratch directory is removed"
    );
}

#[test]
fn a_corrupted_tar_is_not_restored_and_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, loaded) = saved_cache(tmp.path());
    let layer = &loaded.buildpack("tests/provider").unwrap().layers["tool"];
    let tar = cache.layer_tar(&layer.sha);
    let mut bytes = std::fs::read(&tar).unwrap();
    bytes[600] ^= 0xff;
    std::fs::write(&tar, bytes).unwrap();
    let target = tmp.path().join("restored/tool");
    let e = cache
        .restore_layer(layer, "layers/tests_provider/tool", &target)
        .unwrap_err();
    assert_eq!(e.path, tar);
    assert!(e.reason.contains("is corrupt"), "{e}");
    assert!(e.reason.contains(&layer.sha), "{e}");
    assert!(!target.exists(), "nothing of a corrupt tar is unpacked");
    assert!(
        !tar.exists(),
        "the corrupt tar is removed so no save links it back"
    );
}

#[test]
fn a_missing_tar_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, loaded) = saved_cache(tmp.path());
    let layer = &loaded.buildpack("tests/provider").unwrap().layers["tool"];
    std::fs::remove_file(cache.layer_tar(&layer.sha)).unwrap();
    let e = cache
        .restore_layer(layer, "layers/tests_provider/tool", &tmp.path().join("t"))
        .unwrap_err();
    assert_eq!(e.path, cache.layer_tar(&layer.sha));
}

#[test]
fn a_tar_with_entries_outside_its_layer_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, _) = saved_cache(tmp.path());
    // A tar that hashes to its name but holds another layer's path.
    let mut b = LayerBuilder::new(LayerOwnership::ROOT);
    b.add_file("layers/tests_other/evil/x.txt", b"x".to_vec(), 0o644)
        .unwrap();
    let bytes = b.write_tar(Vec::new()).unwrap();
    let sha = Digest::of_bytes(&bytes).to_string();
    std::fs::write(cache.layer_tar(&sha), bytes).unwrap();
    let layer = CachedLayer {
        sha,
        data: meta(&[]),
        build: true,
        launch: false,
        cache: true,
    };
    let target = tmp.path().join("restored/tool");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    let e = cache
        .restore_layer(&layer, "layers/tests_provider/tool", &target)
        .unwrap_err();
    assert!(
        e.reason.contains("entry layers/tests_other")
            && e.reason
                .contains("is not part of layer layers/tests_provider/tool"),
        "{e}"
    );
    assert!(!target.exists());
    assert!(!tmp.path().join("restored/layers").exists());
}

#[test]
fn damaged_metadata_is_discarded_and_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, _) = saved_cache(tmp.path());
    let committed = cache.dir().join("committed");
    std::fs::write(committed.join("metadata.json"), "{not json").unwrap();
    let e = cache.load().unwrap_err();
    assert_eq!(e.path, committed.join("metadata.json"));
    assert!(e.reason.contains("is not valid cache metadata"), "{e}");
    assert!(e.reason.contains("the cache was discarded"), "{e}");
    assert!(!committed.exists());
    assert!(
        cache.load().unwrap().is_none(),
        "after discarding: no cache"
    );
}

#[test]
fn a_cache_of_another_format_or_without_metadata_is_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, loaded) = saved_cache(tmp.path());
    let committed = cache.dir().join("committed");
    let other = CacheMetadata {
        format: FORMAT + 1,
        ..loaded
    };
    std::fs::write(
        committed.join("metadata.json"),
        serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    let e = cache.load().unwrap_err();
    assert!(
        e.reason.contains(&format!(
            "has format {} (this Kiln writes {FORMAT})",
            FORMAT + 1
        )),
        "{e}"
    );
    assert!(!committed.exists());

    let (cache, _) = saved_cache(&tmp.path().join("again"));
    let committed = cache.dir().join("committed");
    std::fs::remove_file(committed.join("metadata.json")).unwrap();
    let e = cache.load().unwrap_err();
    assert!(e.reason.contains("is missing"), "{e}");
    assert!(!committed.exists());
}

#[test]
fn a_crash_between_the_commit_renames_is_repaired_and_stale_staging_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, loaded) = saved_cache(tmp.path());
    // The state after `committed` → `previous` and before staging → `committed`.
    std::fs::rename(cache.dir().join("committed"), cache.dir().join("previous")).unwrap();
    let stale = cache.dir().join("staging-crashed");
    std::fs::create_dir_all(stale.join("layers")).unwrap();
    assert_eq!(cache.load().unwrap().unwrap(), loaded);
    assert!(cache.dir().join("committed").is_dir());
    assert!(!cache.dir().join("previous").exists());
    assert!(!stale.exists());
    let sha = &loaded.buildpacks[0].layers["tool"].sha;
    assert!(cache.layer_tar(sha).is_file());
}

#[test]
fn import_replaces_the_committed_state_with_the_given_tars() {
    let tmp = tempfile::tempdir().unwrap();
    let (source, loaded) = saved_cache(&tmp.path().join("source"));
    let mirror = Cache::new(tmp.path().join("mirror"));
    mirror
        .import(&loaded, &|sha| source.layer_tar(sha))
        .unwrap();
    assert_eq!(mirror.load().unwrap().unwrap(), loaded);
    let layer = &loaded.buildpacks[0].layers["tool"];
    let target = tmp.path().join("out");
    mirror
        .restore_layer(layer, "layers/tests_provider/tool", &target)
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("share/doc.txt")).unwrap(),
        "docs\n"
    );
}
