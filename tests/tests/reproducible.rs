//! Determinism: the same inputs give the same image digest, whatever the output dir, the app's
//! location, file mtimes, permissions-by-umask or directory creation order.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use support::*;

fn make_app(dir: &Path, names: &[&str]) {
    copy_dir(fixture("procfile-app"), dir);
    for name in names {
        let p = dir.join("src").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("content of {name}\n")).unwrap();
    }
    let script = dir.join("bin/start.sh");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(&script, "#!/bin/sh\necho start\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("bin/start.sh", dir.join("start")).unwrap();
}

fn scramble(dir: &Path, seed: u64) {
    let mut n = seed;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                continue;
            }
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000 + (n >> 36));
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                stack.push(p.clone());
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
                std::fs::File::open(&p).unwrap().set_modified(when).unwrap();
            } else {
                // What a restrictive umask (077) does to new files: group/other bits cleared.
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o700))
                    .unwrap();
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .unwrap()
                    .set_modified(when)
                    .unwrap();
            }
        }
    }
}

fn build(app: &Path, layout: &Path, umask: &str, run_image: &str) -> String {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$@\""))
        .arg("sh")
        .arg(kiln_bin())
        .args(["-q", "build"])
        .arg(format!("oci:{}:app", layout.display()))
        .arg("--path")
        .arg(app)
        .args(["--run-image", run_image])
        .env("KILN_CACHE_DIR", compile_cache())
        .env_remove("SOURCE_DATE_EPOCH");
    digest_of(&run(&mut cmd).success())
}

#[test]
fn same_inputs_give_the_same_digest() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let app_a = a.path().join("app");
    let app_b = b.path().join("somewhere/else/app-copy");
    // Different creation order of the same files.
    make_app(&app_a, &["one.txt", "two/three.txt", "four.txt"]);
    make_app(&app_b, &["four.txt", "two/three.txt", "one.txt"]);
    scramble(&app_b, 7);

    let run_image = busybox();
    let first = build(&app_a, &a.path().join("out-a"), "022", &run_image);
    let second = build(&app_b, &b.path().join("other-out"), "077", &run_image);
    assert_eq!(first, second, "same inputs must give the same image digest");

    // Blob bytes, not only the manifest, are identical.
    let blobs = |dir: &Path| snapshot(&dir.join("blobs"));
    assert_eq!(
        blobs(&a.path().join("out-a")),
        blobs(&b.path().join("other-out"))
    );

    // And a content change does change the digest.
    std::fs::write(app_b.join("src/one.txt"), "changed\n").unwrap();
    let third = build(&app_b, &b.path().join("third"), "022", &run_image);
    assert_ne!(first, third);
}

#[test]
fn source_date_epoch_sets_created() {
    let out = tempfile::tempdir().unwrap();
    let layout = out.path().join("image");
    let o = run(kiln_command()
        .args(["-q", "build"])
        .arg(format!("oci:{}", layout.display()))
        .arg("--path")
        .arg(fixture("procfile-app"))
        .env("SOURCE_DATE_EPOCH", "1700000000"))
    .success();
    digest_of(&o);
    let info = inspect_json(&layout, "latest");
    assert_eq!(info["summary"]["created"], "2023-11-14T22:13:20Z");
}
