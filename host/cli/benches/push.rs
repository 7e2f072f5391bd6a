//! Registry push benchmark: a 100 MB image (8 incompressible layers) pushed to a local
//! distribution registry (`tools/start-registry.sh`), cold (a new repository each
//! run) with 1 and 4 concurrent uploads, and warm (every blob already there), with `skopeo copy`
//! of the same layout as the baseline in the same run. Prints a Markdown table of medians.
//!
//! Run with `cargo bench -p kiln --bench push`. `KILN_BENCH_RUNS` sets the runs per case
//! (default 5). Skips (and says so) when the registry tools are missing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kiln_oci::{ImageConfig, LayerBuilder, LayerOwnership, OciLayout};
use kiln_registry::{self as registry, RegistryRef};
use rand::{RngExt as _, SeedableRng as _};

const LAYERS: usize = 8;
const LAYER_BYTES: usize = 100 * 1000 * 1000 / LAYERS;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn tools_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("tools");
    dir.join("start-registry.sh").is_file().then_some(dir)
}

/// A layout holding one 100 MB image of random (incompressible) layers, tagged `big`.
fn make_image(dir: &Path) -> OciLayout {
    let layout = OciLayout::create_or_open(dir).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for i in 0..LAYERS {
        let mut bytes = vec![0u8; LAYER_BYTES];
        rng.fill(&mut bytes[..]);
        let mut builder = LayerBuilder::new(LayerOwnership::new(0, 0));
        builder
            .add_file(&format!("data/blob-{i}"), bytes, 0o644)
            .unwrap();
        let written = builder.write_to(layout.blobs()).unwrap();
        diff_ids.push(written.diff_id.clone());
        layers.push(written.descriptor.clone());
    }
    let mut config = ImageConfig::new("linux", kiln_spec::platform::host_arch());
    config.set_diff_ids(&diff_ids);
    layout.write_image("big", &config, layers).unwrap();
    layout
}

fn main() {
    let Some(tools) = tools_dir() else {
        println!("push benchmark skipped: tools/start-registry.sh not found");
        return;
    };
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let work = tempfile::tempdir().unwrap();
    let tools_work = work.path().join("tools");
    let script = |name: &str| {
        let mut c = Command::new("bash");
        c.arg(tools.join(name)).env("KILN_TOOLS_DIR", &tools_work);
        c
    };
    // A fresh registry (new port, empty storage) for every cold push, so no client can mount
    // a blob it pushed earlier (skopeo remembers where it pushed blobs and mounts them).
    let fresh_registry = || -> Option<(String, String)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
            .to_string();
        let started = script("start-registry.sh").arg(&port).output().unwrap();
        if !started.status.success() {
            println!(
                "push benchmark skipped: could not start a registry: {}",
                String::from_utf8_lossy(&started.stderr)
            );
            return None;
        }
        Some((format!("127.0.0.1:{port}"), port))
    };
    let stop = |port: &str| {
        let _ = script("stop-registry.sh").arg(port).output();
        let _ = std::fs::remove_dir_all(tools_work.join("registry").join(port));
    };
    let layout = make_image(&work.path().join("layout"));
    let io = tokio::runtime::Runtime::new().unwrap();
    let registries = |concurrency: usize| {
        let settings = registry::RegistrySettings {
            concurrency,
            ..registry::RegistrySettings::new(work.path().join("store"))
        };
        registry::Registries::new(settings, io.handle().clone())
    };

    let mut results: Vec<(String, Duration)> = Vec::new();
    for concurrency in [1, 4] {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let Some((addr, port)) = fresh_registry() else {
                return;
            };
            let dest = RegistryRef::parse(&format!("{addr}/cold/big:v1")).unwrap();
            let t = Instant::now();
            let report = registries(concurrency)
                .push(&layout, "big", &dest, &[], &[])
                .unwrap();
            samples.push(t.elapsed());
            assert_eq!(report.uploaded, LAYERS + 1);
            stop(&port);
        }
        results.push((
            format!("kiln push, cold, {concurrency} upload(s) at a time"),
            median(samples),
        ));
    }
    let Some((addr, port)) = fresh_registry() else {
        return;
    };
    let warm_dest = RegistryRef::parse(&format!("{addr}/warm/big:v1")).unwrap();
    let warm_registries = registries(4);
    warm_registries
        .push(&layout, "big", &warm_dest, &[], &[])
        .unwrap();
    let warm = (0..runs * 2)
        .map(|_| {
            let t = Instant::now();
            let report = warm_registries
                .push(&layout, "big", &warm_dest, &[], &[])
                .unwrap();
            assert_eq!((report.uploaded, report.uploaded_bytes), (0, 0));
            t.elapsed()
        })
        .collect();
    results.push(("kiln push, warm (all blobs present)".into(), median(warm)));

    let skopeo = |addr: &str| {
        let t = Instant::now();
        let out = Command::new("skopeo")
            .args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:big", layout.root().display()))
            .arg(format!("docker://{addr}/skopeo/big:v1"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed()
    };
    if Command::new("skopeo").arg("--version").output().is_ok() {
        let mut cold = Vec::new();
        for _ in 0..runs {
            let Some((addr, port)) = fresh_registry() else {
                return;
            };
            cold.push(skopeo(&addr));
            stop(&port);
        }
        results.push(("skopeo copy, cold (baseline)".into(), median(cold)));
        skopeo(&addr);
        let warm = (0..runs).map(|_| skopeo(&addr)).collect();
        results.push(("skopeo copy, warm (baseline)".into(), median(warm)));
    }
    stop(&port);

    let base = results[0].1.as_secs_f64();
    println!(
        "\n| push of a 100 MB image ({LAYERS} layers), {runs} runs | median | vs 1 at a time |"
    );
    println!("|---|---:|---:|");
    for (name, d) in &results {
        println!("| {name} | {} | {:.2}x |", ms(*d), d.as_secs_f64() / base);
    }
}
