//! Benchmark: many small files. Two Kiln paths against `tar -cf - | gzip -6 | sha256sum` of
//! the same tree, interleaved in one run:
//! - **app**: an app of `KILN_BENCH_SMALL_FILES` (default 200000) tiny files, built cold
//!   (fresh cache dir for the app snapshot and layer records, fresh output layout);
//! - **guest**: the test buildpack `hostile` in mode `many-files` writes as many tiny files
//!   into a launch layer (the guest write path through WASI, then the layer's export).
//!
//! A third baseline shows what the file system itself costs: this process writing the same
//! tree with `std::fs` (create, write, close per file) into a fresh directory. A buildpack's
//! writes cannot be faster than that, and on a disk where file creation is slow (ext4) it
//! alone can exceed 3× tar|gzip.
//!
//! The phases are timed from the moments `kiln` prints their headers. Target (issue 13): the
//! export and the guest's writes each within 3× of the tar|gzip pipeline; whole cold builds
//! (which also copy the app into its snapshot and remove the build dir) are shown beside
//! them. Run with
//! `cargo bench -p kiln-tests --bench small_files` (a release `kiln`); `KILN_BENCH_RUNS` sets
//! the runs per case (default 3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{busybox, kiln_command, test_buildpack};

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

/// The native baseline: the time to write the tree with `std::fs` (then removed, untimed).
fn native_write(work: &Path, count: usize) -> Duration {
    let root = work.join("native");
    let t = Instant::now();
    write_tree(&root, count);
    let elapsed = t.elapsed();
    std::fs::remove_dir_all(&root).unwrap();
    elapsed
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

/// The wall-clock times of one build: whole, its build phase (the buildpacks run: here the
/// guest's writes) and its export phase, taken from when `kiln` prints each phase's header.
#[derive(Clone, Copy)]
struct BuildTimes {
    total: Duration,
    build: Duration,
    export: Duration,
}

/// One cold `kiln build` into a fresh layout with a fresh cache dir (the compile cache is
/// shared, so no run pays for compiling components).
fn kiln_build(work: &Path, app: &Path, run_no: usize, guest_files: Option<usize>) -> BuildTimes {
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
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut building, mut exporting, mut saved) = (None, None, None);
    let mut log = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let now = t.elapsed();
        if line.contains("===> BUILDING") {
            building = Some(now);
        } else if line.contains("===> EXPORTING") {
            exporting = Some(now);
        } else if line.starts_with("Saved ") {
            saved = Some(now);
        }
        log.push_str(&line);
        log.push('\n');
    }
    assert!(child.wait().unwrap().success(), "kiln build failed:\n{log}");
    let total = t.elapsed();
    let phase = |from: Option<Duration>, to: Option<Duration>| {
        let (Some(from), Some(to)) = (from, to) else {
            panic!("a phase header is missing from:\n{log}")
        };
        to.saturating_sub(from)
    };
    let times = BuildTimes {
        total,
        build: phase(building, exporting),
        export: phase(exporting, saved),
    };
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
    times
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

    // Warm-up: components compiled (the embedded buildpacks the app case detects, and the
    // test buildpack), page cache filled.
    kiln_build(work.path(), &tiny, 0, None);
    kiln_build(work.path(), &tiny, 0, Some(10));
    tar_gzip(&app);

    let (mut tar, mut native, mut kiln_app, mut kiln_guest) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        // Each writer follows the removal of a tree of as many files (the app build's snapshot,
        // the native tree): on ext4 file creation right after large deletes is much slower,
        // so both must meet the same disk state.
        tar.push(tar_gzip(&app));
        kiln_app.push(kiln_build(work.path(), &app, 1 + i, None));
        native.push(native_write(work.path(), files));
        kiln_guest.push(kiln_build(work.path(), &tiny, 1 + i, Some(files)));
    }
    let (tar, native) = (median(tar), median(native));
    let pick = |runs: &[BuildTimes], of: fn(&BuildTimes) -> Duration| {
        median(runs.iter().map(of).collect())
    };
    let ratio = |d: Duration, base: Duration| d.as_secs_f64() / base.as_secs_f64();
    let verdict = |d: Duration| if ratio(d, tar) <= 3.0 { "PASS" } else { "FAIL" };
    println!(
        "\n{files} small files, median of {runs} runs, in {}\n",
        work.path().display()
    );
    println!(
        "| case | Kiln | vs `tar -cf - \\| gzip -6 \\| sha256sum` ({}) | target ≤ 3× | vs native write ({}) |",
        secs(tar),
        secs(native)
    );
    println!("|---|---:|---:|---|---:|");
    let rows: [(String, Duration, bool); 5] = [
        (
            format!("app of {files} files: cold build"),
            pick(&kiln_app, |t| t.total),
            false,
        ),
        (
            format!("app of {files} files: export phase"),
            pick(&kiln_app, |t| t.export),
            true,
        ),
        (
            format!("buildpack writes {files} files: cold build"),
            pick(&kiln_guest, |t| t.total),
            false,
        ),
        (
            "… of which the guest's writes (build phase)".to_owned(),
            pick(&kiln_guest, |t| t.build),
            true,
        ),
        (
            "… of which the export phase".to_owned(),
            pick(&kiln_guest, |t| t.export),
            true,
        ),
    ];
    for (case, d, targeted) in rows {
        println!(
            "| {case} | {} | {:.2}× | {} | {:.2}× |",
            secs(d),
            ratio(d, tar),
            if targeted { verdict(d) } else { "–" },
            ratio(d, native)
        );
    }
}
