//! Kiln benchmark: component load (cold and cached), detect+build call overhead, end-to-end
//! builds of the sample app, and the peer baseline (`buildah bud` of the same app through
//! `tools/build-peer.sh`) in the same run. Prints a Markdown table of medians.
//!
//! Run with `cargo bench -p kiln --bench build`. Set `KILN_BENCH_RUNS` to change the number
//! of end-to-end runs (default 15) and `KILN_BENCH_SKIP_PEER=1` to skip the baseline.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln::embedded::EMBEDDED_BUILDPACKS;
use kiln::image_ref::ImageRef;
use kiln::pipeline::{self, Event, OutputTarget, Reporter, Request, Silent, open_run_image};
use kiln_lifecycle::buildpack;
use kiln_lifecycle::env::Env;
use kiln_lifecycle::workspace::Workspace;
use kiln_lifecycle::{BuildInputs, OrderEntry, build, detect};
use kiln_runtime::{LogSink, Runtime};

/// Records when each phase starts.
#[derive(Default)]
struct PhaseTimer {
    marks: Mutex<Vec<(String, Instant)>>,
}

impl Reporter for PhaseTimer {
    fn report(&self, event: &Event<'_>) {
        if let Event::PhaseStarted(phase) = event {
            self.marks
                .lock()
                .unwrap()
                .push((phase.to_string(), Instant::now()));
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn silent_log() -> LogSink {
    Arc::new(|_, _, _| {})
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's image tools (`tools/`).
fn tools_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("tools");
    dir.join("make-busybox-base.sh").is_file().then_some(dir)
}

/// The sample app: a start script, a small data file and a 128 KiB text file, plus a
/// Procfile for Kiln and a Dockerfile for the peer baseline that do the same.
fn sample_app(dir: &Path) {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        app.join("run.sh"),
        "#!/bin/sh\necho \"hello $(cat /workspace/data.txt)\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        app.join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(app.join("data.txt"), "world\n").unwrap();
    let mut blob = String::new();
    for i in 0..5000 {
        writeln!(blob, "line {i:05} of the sample blob").unwrap();
    }
    std::fs::write(app.join("blob.txt"), &blob[..128 << 10]).unwrap();
    std::fs::write(app.join("Procfile"), "web: /workspace/run.sh\n").unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nCOPY app/ /workspace/\nWORKDIR /workspace\nUSER 1000:1000\nCMD [\"/workspace/run.sh\"]\n",
    )
    .unwrap();
}

fn busybox_run_image(work: &Path) -> Option<String> {
    busybox_variant(work, None)
}

/// `make-busybox-base.sh`, optionally a `--variant` (a different top layer, same behaviour).
fn busybox_variant(work: &Path, variant: Option<&str>) -> Option<String> {
    let tools = tools_dir()?;
    let kiln_tools = work.join("kiln-tools");
    let name = variant.unwrap_or("busybox");
    let dir = kiln_tools.join("images").join(name);
    let mut cmd = Command::new("bash");
    cmd.arg(tools.join("make-busybox-base.sh"))
        .arg(&dir)
        .arg("latest")
        .env("KILN_TOOLS_DIR", &kiln_tools)
        .stdout(std::process::Stdio::null());
    if let Some(v) = variant {
        cmd.args(["--variant", v]);
    }
    let status = cmd.status().ok()?;
    status
        .success()
        .then(|| format!("oci:{}:latest", dir.display()))
}

fn count_blobs(layout: &Path) -> usize {
    std::fs::read_dir(layout.join("blobs/sha256")).map_or(0, Iterator::count)
}

/// Median time and the blobs each run added (the last run's count).
fn measure_blobs(runs: usize, layout: &Path, mut f: impl FnMut(usize)) -> (Duration, usize) {
    f(usize::MAX); // warm-up
    let mut blobs = 0;
    let samples = (0..runs)
        .map(|i| {
            let before = count_blobs(layout);
            let t = Instant::now();
            f(i);
            let d = t.elapsed();
            blobs = count_blobs(layout) - before;
            d
        })
        .collect();
    (median(samples), blobs)
}

fn main() {
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    // A lowercase path: podman (used by the peer baseline) rejects upper-case image names.
    let work_dir = workspace_root().join(format!("target/kiln-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir).unwrap();
    let work = tempfile::Builder::new()
        .prefix("run")
        .rand_bytes(0)
        .tempdir_in(&work_dir)
        .unwrap();
    let sample = work.path().join("sample");
    sample_app(&sample);
    let app = sample.join("app");
    let procfile = EMBEDDED_BUILDPACKS
        .iter()
        .find(|(id, _)| *id == "kiln/procfile")
        .expect("kiln/procfile is embedded")
        .1;
    let mut rows: Vec<(String, Duration)> = Vec::new();

    // 1. Cold load: compile every time (no cache).
    let rt_nocache = Runtime::new(None, kiln_runtime::Limits::default(), silent_log()).unwrap();
    rows.push((
        "component load, cold (compile, no cache)".into(),
        measure(5, || {
            buildpack::load_bytes(procfile, "bench", &rt_nocache).unwrap();
        }),
    ));

    // 2. Cached load from the on-disk .cwasm.
    let cache = work.path().join("cwasm");
    let rt = Runtime::new(Some(cache), kiln_runtime::Limits::default(), silent_log()).unwrap();
    rows.push((
        "component load, cached (.cwasm)".into(),
        measure(50, || {
            buildpack::load_bytes(procfile, "bench", &rt).unwrap();
        }),
    ));

    // 3. detect + build calls (fresh store and instance for each call).
    let bp = buildpack::load_bytes(procfile, "bench", &rt).unwrap();
    let buildpacks = vec![bp];
    let order = vec![vec![OrderEntry {
        buildpack: 0,
        optional: false,
    }]];
    rows.push((
        "detect + build calls (instantiate, detect, build)".into(),
        measure(50, || {
            let ws =
                Workspace::create(&app, &Env::default(), None, pipeline::DEFAULT_EPOCH).unwrap();
            let inputs = BuildInputs {
                app_dir: ws.app.clone(),
                platform_dir: ws.platform.clone(),
                layers_dir: ws.layers.clone(),
                platform_env: Env::default(),
                target_os: "linux".into(),
                target_arch: "amd64".into(),
                target_distro: None,
                exec_env: "production".into(),
                epoch_seconds: pipeline::DEFAULT_EPOCH,
                app_fingerprint: ws.app_fingerprint,
                build_image_env: Env::default(),
                native_steps: None,
            };
            let out = detect::detect(&rt, &buildpacks, &order, &inputs, |_, _| {}).unwrap();
            build::build(
                &rt,
                &buildpacks,
                &out.group,
                &out.plan,
                &inputs,
                &BTreeMap::new(),
            )
            .unwrap();
        }),
    ));

    // 4. End-to-end in process, warm runtime and cache, scratch and busybox run images.
    let mut request = Request::new(&app, kiln::services::Services::from_env().unwrap());
    request.compile_cache = Some(work.path().join("cwasm"));
    let mut n = 0;
    let mut e2e = |request: &Request| {
        n += 1;
        let out = OutputTarget::parse(
            &format!("oci:{}/out{n}", work.path().display()),
            &request.services,
        )
        .unwrap();
        pipeline::build_with_runtime(request, &out, &rt, &Silent).unwrap();
    };
    rows.push((
        "end-to-end build, in process, scratch run image (Kiln overhead)".into(),
        measure(runs, || e2e(&request)),
    ));
    // Where that time goes, from the phase boundaries the pipeline reports.
    let mut phases: BTreeMap<String, Vec<Duration>> = BTreeMap::new();
    for i in 0..runs {
        let timer = PhaseTimer::default();
        let out = OutputTarget::parse(
            &format!("oci:{}/phases{i}", work.path().display()),
            &request.services,
        )
        .unwrap();
        pipeline::build_with_runtime(&request, &out, &rt, &timer).unwrap();
        let end = Instant::now();
        let marks = timer.marks.into_inner().unwrap();
        for (i, (name, at)) in marks.iter().enumerate() {
            let next = marks.get(i + 1).map_or(end, |m| m.1);
            phases.entry(name.clone()).or_default().push(next - *at);
        }
    }
    for phase in ["ANALYZING", "DETECTING", "BUILDING", "EXPORTING"] {
        if let Some(samples) = phases.remove(phase) {
            rows.push((
                format!("  of which {}", phase.to_lowercase()),
                median(samples),
            ));
        }
    }
    let busybox = busybox_run_image(work.path());
    if let Some(run_image) = &busybox {
        request.run_image = ImageRef::parse(run_image).unwrap();
        rows.push((
            "end-to-end build, in process, busybox run image".into(),
            measure(runs, || e2e(&request)),
        ));
    }

    // 5. The `kiln build` process, as a user runs it.
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let cli_cache = work.path().join("cli-cache");
    let mut m = 0;
    let run_image = busybox.clone().unwrap_or_else(|| "scratch".into());
    let cli = measure(runs, || {
        m += 1;
        let status = Command::new(kiln)
            .args(["-q", "build"])
            .arg(format!("oci:{}/cli{m}", work.path().display()))
            .arg("--path")
            .arg(&app)
            .args(["--run-image", &run_image])
            .env("KILN_CACHE_DIR", &cli_cache)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    });
    let base = if busybox.is_some() {
        "busybox"
    } else {
        "scratch"
    };
    rows.push((format!("`kiln build` process, {base} run image"), cli));

    // 5b. Rebuilds into the same layout (the previous image), and rebase.
    if let Some(run_image) = &busybox {
        let mut rebuild = request.clone();
        rebuild.run_image = ImageRef::parse(run_image).unwrap();
        rebuild.cache_dir = Some(work.path().join("rebuild-cache"));
        let layout = work.path().join("rebuild");
        let out =
            OutputTarget::parse(&format!("oci:{}", layout.display()), &rebuild.services).unwrap();
        let (noop, noop_blobs) = measure_blobs(runs, &layout, |_| {
            pipeline::build_with_runtime(&rebuild, &out, &rt, &Silent).unwrap();
        });
        rows.push((
            format!("no-op rebuild (previous image = output; {noop_blobs} blobs written)"),
            noop,
        ));
        let data = app.join("data.txt");
        let (change, change_blobs) = measure_blobs(runs, &layout, |i| {
            std::fs::write(&data, format!("change {i}\n")).unwrap();
            pipeline::build_with_runtime(&rebuild, &out, &rt, &Silent).unwrap();
        });
        rows.push((
            format!("one-file-change rebuild ({change_blobs} blobs written)"),
            change,
        ));

        if let Some(v2) = busybox_variant(work.path(), Some("v2")) {
            let bases = [
                open_run_image(&ImageRef::parse(run_image).unwrap(), &rebuild.services)
                    .unwrap()
                    .image,
                open_run_image(&ImageRef::parse(&v2).unwrap(), &rebuild.services)
                    .unwrap()
                    .image,
            ];
            let big_sample = work.path().join("big-sample");
            sample_app(&big_sample);
            let big_app = big_sample.join("app");
            // 64 MiB of incompressible bytes: the app layer of the "large" image.
            let mut state = 0x2545_f491_4f6c_dd1d_u64;
            let bytes: Vec<u8> = (0..64 << 20)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect();
            std::fs::write(big_app.join("big.bin"), bytes).unwrap();
            for (label, src) in [("small", &app), ("large (64 MiB app layer)", &big_app)] {
                let layout = work.path().join(format!("rebase-{}", label.len()));
                let image = format!("oci:{}", layout.display());
                let mut r = rebuild.clone();
                r.app.clone_from(src);
                r.cache_dir = None;
                pipeline::build_with_runtime(
                    &r,
                    &OutputTarget::parse(&image, &r.services).unwrap(),
                    &rt,
                    &Silent,
                )
                .unwrap();
                let mut flip = 0;
                let target = kiln_oci::OciLayout::open(&layout).unwrap();
                let (d, blobs) = measure_blobs(runs, &layout, |_| {
                    flip ^= 1;
                    kiln_lifecycle::rebase::rebase(&image, &target, "latest", &bases[flip], false)
                        .unwrap();
                });
                rows.push((format!("rebase, {label} image ({blobs} blobs written)"), d));
            }
        }
    }

    // 6. Peer baseline: buildah bud of the same app on the same base.
    let mut peer = None;
    if std::env::var_os("KILN_BENCH_SKIP_PEER").is_none()
        && let (Some(tools), Some(_)) = (tools_dir(), &busybox)
    {
        let kiln_tools = work.path().join("kiln-tools");
        let build_peer = || {
            Command::new("bash")
                .arg(tools.join("build-peer.sh"))
                .arg(&sample)
                .arg(work.path().join("peer"))
                .env("KILN_TOOLS_DIR", &kiln_tools)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if build_peer() {
            let d = measure(runs.min(7), || assert!(build_peer()));
            rows.push((
                "peer baseline: buildah bud + push (build-peer.sh)".into(),
                d,
            ));
            peer = Some(d);
        }
    }

    drop(work);
    let _ = std::fs::remove_dir_all(&work_dir);
    println!("\n| benchmark (median) | time | vs. peer |");
    println!("|---|---:|---:|");
    for (name, d) in &rows {
        let ratio = peer.map_or_else(
            || "-".to_owned(),
            |p| format!("{:.2}x", d.as_secs_f64() / p.as_secs_f64()),
        );
        println!("| {name} | {} | {ratio} |", ms(*d));
    }
}
