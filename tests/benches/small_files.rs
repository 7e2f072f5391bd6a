//! Benchmark: many small files. Two Kiln paths against `tar -cf - | gzip -6 | sha256sum` of
//! the same tree, interleaved in one run:
//! - **app**: an app of `KILN_BENCH_SMALL_FILES` (default 200000) tiny files, built cold
//!   (fresh cache dir for the app snapshot and layer records, fresh output layout);
//! - **guest**: the test buildpack `hostile` in mode `many-files` writes as many tiny files
//!   into a launch layer (the guest write path through WASI, then the layer's export).
//!
//! Target (issue 13): each within 3× of the tar|gzip pipeline. Run with
//! `cargo bench -p kiln-tests --bench small_files` (a release `kiln`); `KILN_BENCH_RUNS` sets
//! the runs per case (default 3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{busybox, kiln_command, run, test_buildpack};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The tree the `many-files` mode writes: `d<NNNN>/f<NNNNNNN>` holding `file <i>\n`.
fn write_tree(root: &Path, count: usize) {
    for i in 0..count {
        let dir = root.join(format!("d{:04}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(dir.join(format!("f{i:07}")), format!("file {i}\n")).unwrap();
    }
}

fn tar_gzip(dir: &Path) -> Duration {
    let t = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg("tar -cf - -C \"$1\" . | gzip -6 | sha256sum >/dev/null")
        .arg("sh")
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
    t.elapsed()
}

/// One cold `kiln build` into a fresh layout with a fresh cache dir (the compile cache is
/// shared, so no run pays for compiling components).
fn kiln_build(work: &Path, app: &Path, run_no: usize, guest_files: Option<usize>) -> Duration {
    let out = work.join(format!("out-{run_no}"));
    let cache = work.join(format!("cache-{run_no}"));
    let mut cmd = kiln_command();
    cmd.env("KILN_CACHE_DIR", &cache)
        .arg("build")
        .arg(format!("oci:{}:app", out.display()))
        .arg("--path")
        .arg(app)
        .args(["--run-image", &busybox()])
        .arg("--compile-cache")
        .arg(support::compile_cache().join("components"));
    if let Some(n) = guest_files {
        cmd.arg("--buildpack")
            .arg(test_buildpack("hostile"))
            .args(["--env", "KILN_TEST_MODE=many-files"])
            .args(["--env", &format!("KILN_TEST_FILES={n}")]);
    }
    let t = Instant::now();
    run(&mut cmd).success();
    let elapsed = t.elapsed();
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
    elapsed
}

fn main() {
    let files = env_usize("KILN_BENCH_SMALL_FILES", 200_000);
    let runs = env_usize("KILN_BENCH_RUNS", 3);
    let work = tempfile::tempdir().unwrap();
    let app = work.path().join("app");
    write_tree(&app, files);
    std::fs::write(app.join("Procfile"), "web: /bin/true\n").unwrap();
    let tiny = work.path().join("tiny");
    std::fs::create_dir_all(&tiny).unwrap();
    std::fs::write(tiny.join("Procfile"), "web: /bin/true\n").unwrap();

    // Warm-up: components compiled, page cache filled.
    kiln_build(work.path(), &tiny, 0, Some(10));
    tar_gzip(&app);

    let (mut tar, mut kiln_app, mut kiln_guest) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        tar.push(tar_gzip(&app));
        kiln_app.push(kiln_build(work.path(), &app, 1 + i, None));
        kiln_guest.push(kiln_build(work.path(), &tiny, 1 + i, Some(files)));
    }
    let (tar, kiln_app, kiln_guest) = (median(tar), median(kiln_app), median(kiln_guest));
    let ratio = |d: Duration| d.as_secs_f64() / tar.as_secs_f64();
    let verdict = |d: Duration| if ratio(d) <= 3.0 { "PASS" } else { "FAIL" };
    println!("\n{files} small files, median of {runs} runs\n");
    println!("| case | Kiln | `tar -cf - \\| gzip -6 \\| sha256sum` | ratio | target ≤ 3× |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| app of {files} files, cold build | {} | {} | {:.2}× | {} |",
        secs(kiln_app),
        secs(tar),
        ratio(kiln_app),
        verdict(kiln_app)
    );
    println!(
        "| buildpack writes {files} files into a launch layer, cold build | {} | {} | {:.2}× | {} |",
        secs(kiln_guest),
        secs(tar),
        ratio(kiln_guest),
        verdict(kiln_guest)
    );
}
