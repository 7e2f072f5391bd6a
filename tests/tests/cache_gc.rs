//! `kiln gc --cache`: a sweep of the cache directory removes what nothing uses (old temp
//! files, records and caches unused for `--max-age`, unreachable registry-store blobs past
//! their grace hour), keeps what a build uses, and the next build still works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use kiln_oci::OciLayout;
use support::*;

/// `kiln` with its own cache dir `cache` (and the shared compile cache).
fn kiln_in(cache: &Path) -> Command {
    let mut cmd = kiln_command();
    cmd.env("KILN_CACHE_DIR", cache);
    cmd
}

fn build(cache: &Path, layout: &Path, app: &Path) -> Output {
    run(kiln_in(cache)
        .arg("build")
        .arg(format!("oci:{}", layout.display()))
        .arg("--path")
        .arg(app)
        .args(["--run-image", &busybox()])
        .arg("--compile-cache")
        .arg(compile_cache().join("components")))
    .success()
}

fn age(path: &Path, hours: u64) {
    let t = SystemTime::now() - Duration::from_hours(hours);
    std::fs::File::open(path).unwrap().set_modified(t).unwrap();
}

fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map_or_else(|_| Vec::new(), |d| d.map(|e| e.unwrap().path()).collect())
}

#[test]
fn gc_cache_removes_only_unused_entries_and_the_next_build_still_works() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let app = work.path().join("app");
    copy_dir(fixture("procfile-app"), &app);
    let layout = work.path().join("image");
    build(&cache, &layout, &app);

    // What the build left that is in use: records of busybox's layers, the layer cache.
    let records = cache.join("verified-layers");
    let used_records = files(&records);
    assert!(
        !used_records.is_empty(),
        "the build checked busybox's layers"
    );

    // Planted: an unused record, one of the old format, an old temp file, an unused layer
    // cache, and registry-store blobs nothing reaches (one past its grace hour, one young).
    let unused_record = records.join("b".repeat(64));
    std::fs::write(
        &unused_record,
        format!("sha256:{} 1 2 3 4 5\n", "c".repeat(64)),
    )
    .unwrap();
    age(&unused_record, 24 * 40);
    let old_format = records.join("d".repeat(64));
    std::fs::write(&old_format, format!("sha256:{} 3 4\n", "c".repeat(64))).unwrap();
    let temp = records.join(".tmp-killed");
    std::fs::write(&temp, b"half").unwrap();
    age(&temp, 2);
    let old_cache = cache.join("build-cache").join("0123456789abcdef");
    std::fs::create_dir_all(&old_cache).unwrap();
    std::fs::write(old_cache.join("layer.tar"), vec![0u8; 1000]).unwrap();
    age(&old_cache, 24 * 40);
    let store = OciLayout::create_or_open(cache.join("registry-store")).unwrap();
    let old_blob = store.blobs().write_bytes(b"old", "x/y").unwrap();
    age(&store.blobs().path(&old_blob.digest), 2);
    let young_blob = store.blobs().write_bytes(b"young", "x/y").unwrap();

    let gc = run(kiln_in(&cache).args(["gc", "--cache"])).success();
    let summary = gc.stdout.lines().last().unwrap_or_default().to_owned();
    assert!(
        summary.starts_with("Removed 4 cache entries and 1 registry-store blob ("),
        "{}",
        gc.stdout
    );
    for gone in [&unused_record, &old_format, &temp, &old_cache] {
        assert!(!gone.exists(), "{} was kept", gone.display());
        assert!(
            gc.stdout.contains(&gone.display().to_string()),
            "{} is not listed: {}",
            gone.display(),
            gc.stdout
        );
    }
    assert!(!store.blobs().has(&old_blob.digest));
    assert!(store.blobs().has(&young_blob.digest));
    for kept in &used_records {
        assert!(
            kept.exists(),
            "{} is in use but was removed",
            kept.display()
        );
    }

    // Both at once: the layout and the cache; nothing left to remove in the cache.
    let both = run(kiln_in(&cache)
        .args(["gc", "--cache", "--max-age", "30"])
        .arg(format!("oci:{}", layout.display())))
    .success();
    assert!(both.stdout.contains("unreferenced blob"), "{}", both.stdout);
    assert!(
        both.stdout
            .contains("Removed 0 cache entries and 0 registry-store blobs"),
        "{}",
        both.stdout
    );

    // The sweep removed nothing a build needs.
    std::fs::write(app.join("data.txt"), "changed").unwrap();
    build(&cache, &layout, &app);
    let ran = run_image(&layout, "latest", &[], &[]);
    assert_eq!(ran.stdout.trim(), "hello from kiln", "{}", ran.stderr);
}

#[test]
fn gc_needs_a_layout_or_cache() {
    let work = tempfile::tempdir().unwrap();
    let out = run(kiln_in(work.path()).arg("gc"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let out = run(kiln_in(work.path()).args(["gc", "--max-age", "3", "oci:x"]));
    assert_eq!(out.code, 3, "--max-age needs --cache: {}", out.stderr);
}
