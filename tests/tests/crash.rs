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

/// Start a build of `app` into `layout` that pauses at `point` (handshake in `pause`), with
/// `TMPDIR=tmp`; returns the child once it is paused.
fn paused_build(
    app: &Path,
    layout: &Path,
    cache: &Path,
    tmp: &Path,
    pause: &Path,
    point: &str,
) -> std::process::Child {
    std::fs::create_dir_all(pause).unwrap();
    let cache = format!("--cache-dir={}", cache.display());
    let child = build_pair_command(app, layout, &[&cache])
        .env("KILN_FAULT_PAUSE", format!("{point}:{}", pause.display()))
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| pause.join("paused").exists(), "the build to pause");
    child
}

fn wait_for(done: impl Fn() -> bool, what: &str) {
    for _ in 0..2400 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Entries of `dir` whose names start with `prefix`.
fn entries(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir).map_or_else(
        |_| Vec::new(),
        |rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        },
    )
}

#[test]
fn signals_clean_up_and_what_a_kill_leaves_is_swept_by_the_next_build() {
    for (signal, code) in [("INT", Some(130)), ("TERM", Some(143)), ("KILL", None)] {
        let work = tempfile::tempdir().unwrap();
        let app = work.path().join("app");
        copy_dir(fixture("plan-app"), &app);
        let layout = work.path().join("image");
        let cache = work.path().join("cache");
        let tmp = work.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let old = digest_of(&build(&app, &layout, &cache, None).success());
        std::fs::write(app.join("README.txt"), "changed\n").unwrap();

        let child = paused_build(
            &app,
            &layout,
            &cache,
            &tmp,
            &work.path().join("pause"),
            "export-layers-written",
        );
        // A blob being written, as at any moment of an export.
        let blobs = layout.join("blobs/sha256");
        std::fs::write(blobs.join(".tmp-inflight"), "half a blob").unwrap();
        assert_eq!(entries(&tmp, "kiln-build-").len(), 1);
        let killed = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if let Some(c) = code {
            assert_eq!(out.status.code(), Some(c), "SIG{signal}: {stderr}");
            assert!(
                entries(&tmp, "kiln-build-").is_empty(),
                "SIG{signal}: build dir left"
            );
            assert!(
                entries(&blobs, ".tmp-").is_empty(),
                "SIG{signal}: temp blobs left"
            );
        } else {
            assert_eq!(out.status.code(), None, "{stderr}");
            assert_eq!(
                entries(&tmp, "kiln-build-").len(),
                1,
                "a kill leaves the build dir"
            );
            // Older than a running build's dir could be without holding its lock.
            let left = tmp.join(&entries(&tmp, "kiln-build-")[0]);
            let aged = std::process::Command::new("touch")
                .args(["-d", "5 minutes ago"])
                .arg(&left)
                .status()
                .unwrap();
            assert!(aged.success());
        }
        assert_eq!(
            tag_digest(&layout),
            old,
            "SIG{signal}: the previous image stays tagged"
        );

        // The next build succeeds and sweeps what a kill left.
        let cache_arg = format!("--cache-dir={}", cache.display());
        let next = run(build_pair_command(&app, &layout, &[&cache_arg]).env("TMPDIR", &tmp));
        assert_eq!(next.code, 0, "SIG{signal}: {}", next.stderr);
        assert!(
            entries(&tmp, "kiln-build-").is_empty(),
            "SIG{signal}: not swept"
        );
        assert!(
            entries(&blobs, ".tmp-").is_empty(),
            "SIG{signal}: temp blobs not swept"
        );
    }
}

#[test]
fn a_second_build_of_the_same_output_or_cache_waits_or_fails_with_no_wait() {
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    copy_dir(fixture("plan-app"), &app);
    let layout = work.path().join("image");
    let cache = work.path().join("cache");
    let pause = work.path().join("pause");
    let first = paused_build(
        &app,
        &layout,
        &cache,
        &std::env::temp_dir(),
        &pause,
        "export-layers-written",
    );

    let same_output = build_pair(&app, &layout, &["--no-wait"]);
    assert_eq!(same_output.code, 5, "{}", same_output.stderr);
    assert!(
        same_output
            .error_line()
            .contains("another kiln build is using the output"),
        "{}",
        same_output.stderr
    );
    let cache_arg = format!("--cache-dir={}", cache.display());
    let same_cache = build_pair(&app, &work.path().join("other"), &[&cache_arg, "--no-wait"]);
    assert_eq!(same_cache.code, 5, "{}", same_cache.stderr);
    assert!(
        same_cache.error_line().contains("layer cache"),
        "{}",
        same_cache.stderr
    );

    // Without --no-wait, the second build says it waits, and goes on once the first is done.
    let log = work.path().join("second.log");
    let second = build_pair_command(&app, &layout, &[&cache_arg])
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(
        || {
            std::fs::read_to_string(&log)
                .is_ok_and(|t| t.contains("waiting for another kiln build"))
        },
        "the second build to wait",
    );
    std::fs::write(pause.join("resume"), "").unwrap();
    assert!(first.wait_with_output().unwrap().status.success());
    let second = second.wait_with_output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
}
