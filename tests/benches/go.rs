//! Benchmark: a Go app (two modules from a local proxy, two binaries) built by `kiln build`
//! with the embedded Go buildpack in the Debian build image, cold (no layer cache, no
//! download cache, empty Go build cache) and warm (a rebuild of the unchanged app), against
//! the machine's `go build` run directly with the same proxy, cold (empty GOCACHE and
//! GOMODCACHE) and warm, interleaved in the same run. The build image's rootfs is unpacked
//! before the first measured run. Run with `cargo bench -p kiln-tests --bench go` (a release
//! `kiln`); `KILN_BENCH_RUNS` sets the runs per case (default 3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/go_support/mod.rs"]
mod go_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use go_support::World;
use support::{debian, kiln_command, run};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `go build` of both binaries of `app` with the machine's Go, caches in `caches`.
fn go_build(world: &World, app: &Path, caches: &Path) -> Duration {
    let proxy = format!(
        "file://{}",
        world.work.path().join("served/proxy").display()
    );
    let t = Instant::now();
    for (out, pkg) in [("web", "."), ("hello", "./cmd/hello")] {
        let status = Command::new("go")
            .args(["build", "-trimpath", "-buildvcs=false", "-o"])
            .arg(caches.join("bin").join(out))
            .arg(pkg)
            .current_dir(app)
            .env("GOPROXY", &proxy)
            .env("GOSUMDB", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0")
            .env("GOCACHE", caches.join("gocache"))
            .env("GOMODCACHE", caches.join("gomodcache"))
            .status()
            .unwrap();
        assert!(status.success(), "go build {pkg} failed");
    }
    t.elapsed()
}

/// `kiln build` of `app` with its own layer cache and download cache under `caches`.
fn kiln_build(world: &World, app: &Path, caches: &Path, image: &str) -> Duration {
    let base = world.server.base.clone();
    let mut cmd = kiln_command();
    cmd.arg("build")
        .arg(format!("oci:{}", caches.join("image").display()))
        .arg("--path")
        .arg(app)
        .arg("--download-cache")
        .arg(caches.join("downloads"))
        .arg("--cache-dir")
        .arg(caches.join("layers"))
        .args(["--env", "KILN_GO_INVENTORY=go-inventory.toml"])
        .arg("--env")
        .arg(format!("KILN_GO_DIST_URL={base}/dl"))
        .arg("--env")
        .arg(format!("GOPROXY={base}/proxy"))
        .args(["--network-allow", "127.0.0.1"])
        .args(["--build-image", image, "--run-image", image]);
    let t = Instant::now();
    run(&mut cmd).success();
    t.elapsed()
}

fn main() {
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let world = World::new();
    let image = debian();
    // Unpack the build image and compile the buildpacks once, outside the measurements.
    let warmup = tempfile::tempdir().unwrap();
    kiln_build(&world, &world.app, warmup.path(), &image);
    let (mut go_cold, mut go_warm, mut kiln_cold, mut kiln_warm) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let go_caches = tempfile::tempdir().unwrap();
        go_cold.push(go_build(&world, &world.app, go_caches.path()));
        let kiln_caches = tempfile::tempdir().unwrap();
        kiln_cold.push(kiln_build(&world, &world.app, kiln_caches.path(), &image));
        go_warm.push(go_build(&world, &world.app, go_caches.path()));
        kiln_warm.push(kiln_build(&world, &world.app, kiln_caches.path(), &image));
    }
    let (gc, gw, kc, kw) = (
        median(go_cold),
        median(go_warm),
        median(kiln_cold),
        median(kiln_warm),
    );
    println!("Go app (2 modules, 2 binaries), median of {runs} interleaved runs:");
    println!(
        "  go build directly, cold (empty GOCACHE/GOMODCACHE)   {}",
        secs(gc)
    );
    println!(
        "  kiln build, cold (toolchain + modules + std compile) {}  ({:.1}x go build cold)",
        secs(kc),
        kc.as_secs_f64() / gc.as_secs_f64()
    );
    println!(
        "  go build directly, warm (unchanged)                 {}",
        secs(gw)
    );
    println!(
        "  kiln build, warm (unchanged app, layer cache)       {}  ({:.1}x go build warm)",
        secs(kw),
        kw.as_secs_f64() / gw.as_secs_f64()
    );
}
