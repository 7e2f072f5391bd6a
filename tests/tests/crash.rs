//! A crash (abort, as `kill -9` would) at each point of export and cache saving leaves the
//! previous image and the cache usable, and the next build succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use support::*;

fn build(app: &Path, layout: &Path, cache: &Path, fault: Option<&str>) -> Output {
    let cache = format!("--cache-dir={}", cache.display());
    let mut cmd = build_pair_command(app, layout, &[&cache]);
    if let Some(point) = fault {
        cmd.env("KILN_FAULT_INJECT", point);
    }
    run(&mut cmd)
}

fn tag_digest(layout: &Path) -> String {
    inspect_json(layout, "latest")["summary"]["manifest_digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_crash_at_any_point_keeps_the_previous_image_and_cache_usable() {
    // (point, whether index.json already names the new image when the crash happens)
    let points = [
        ("export-layers-written", false),
        ("export-before-index", false),
        ("export-done", true),
        ("cache-before-commit", true),
        ("cache-between-renames", true),
    ];
    for (point, tag_moved) in points {
        let work = tempfile::tempdir().unwrap();
        let app = work.path().join("app");
        copy_dir(fixture("plan-app"), &app);
        let layout = work.path().join("image");
        let cache = work.path().join("cache");
        let first = build(&app, &layout, &cache, None).success();
        let old = digest_of(&first);

        std::fs::write(
            app.join("README.txt"),
            format!("changed before crash at {point}\n"),
        )
        .unwrap();
        let crashed = build(&app, &layout, &cache, Some(point));
        assert_ne!(
            crashed.code, 0,
            "{point}: the fault did not fire\n{}",
            crashed.stderr
        );
        assert!(
            crashed
                .stderr
                .contains(&format!("fault injected at {point}")),
            "{point}: {}",
            crashed.stderr
        );

        // The tag names a complete image: the old one, or the new one once the index moved.
        let now = tag_digest(&layout);
        if tag_moved {
            assert_ne!(now, old, "{point}");
        } else {
            assert_eq!(now, old, "{point}: the previous image must stay tagged");
        }
        let ran = run_image(&layout, "latest", &[], &[]);
        assert_eq!(
            ran.stdout.trim(),
            "hello from kiln appended prepended dflt",
            "{point}: {}",
            ran.stderr
        );

        // The cache still serves the next build, which succeeds.
        let next = build(&app, &layout, &cache, None).success();
        assert!(
            next.stderr.contains("tool layer restored"),
            "{point}: cache lost\n{}",
            next.stderr
        );
        assert!(!next.stderr.contains("warning"), "{point}: {}", next.stderr);
        let ran = run_image(&layout, "latest", &[], &[]);
        assert_eq!(
            ran.stdout.trim(),
            "hello from kiln appended prepended dflt",
            "{point}"
        );
    }
}
