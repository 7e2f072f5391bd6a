//! Benchmark: installing a 500-package lockfile from a local mirror with `kiln build`
//! (downloads sequential vs parallel, cold vs warm download cache) and with `npm ci` against
//! the same mirror as the baseline, in the same run. Run with
//! `cargo bench -p kiln-tests --bench nodejs` (a release `kiln` binary).
//! `KILN_BENCH_RUNS` sets the runs per case (default 5).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/node_support/mod.rs"]
mod node_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use node_support::{NpmPackage, Server, lockfile, publish, tgz};
use sha2::Digest as _;
use support::{busybox, kiln_command, run};

const PACKAGES: usize = 500;
/// Delay per response of the "slow" mirror: a modest network round trip.
const LATENCY: Duration = Duration::from_millis(20);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Bench {
    work: tempfile::TempDir,
    server: Server,
    /// The same files, each answer delayed by [`LATENCY`] (a network round trip).
    slow_server: Server,
    app: PathBuf,
    /// (jobs, download cache, time from the runtime line to the `Installed` line): the
    /// buildpack's fetch + extraction of the packages, seen from the host's log stream.
    install_phase: std::sync::Mutex<Vec<(usize, PathBuf, Duration)>>,
}

impl Bench {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let served_dir = work.path().join("served");
        let registry = served_dir.join("registry");
        let mut entries = Vec::new();
        let mut deps = Vec::new();
        let names: Vec<String> = (0..PACKAGES).map(|i| format!("pkg-{i:03}")).collect();
        for name in &names {
            let p = NpmPackage {
                name,
                version: "1.0.0",
                files: vec![
                    (
                        "index.js",
                        format!("module.exports = '{name}';\n{}\n", "//".repeat(200)),
                        0o644,
                    ),
                    ("README.md", format!("# {name}\n"), 0o644),
                ],
                bin: &[],
            };
            let (_, integrity) = publish(&registry, &p);
            entries.push((format!("node_modules/{name}"), name.clone(), integrity));
            deps.push((name.clone(), "^1.0.0".to_owned()));
        }
        let entry_refs: Vec<(&str, &str, &str, &str, serde_json::Value)> = entries
            .iter()
            .map(|(p, n, i)| {
                (
                    p.as_str(),
                    n.as_str(),
                    "1.0.0",
                    i.as_str(),
                    serde_json::json!({}),
                )
            })
            .collect();
        let dep_refs: Vec<(&str, &str)> =
            deps.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let app = work.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            app.join("package-lock.json"),
            lockfile("app", &dep_refs, &entry_refs),
        )
        .unwrap();
        let deps_json: serde_json::Map<String, serde_json::Value> = deps
            .iter()
            .map(|(a, b)| (a.clone(), serde_json::Value::from(b.as_str())))
            .collect();
        std::fs::write(
            app.join("package.json"),
            serde_json::to_string(&serde_json::json!({
                "name": "app", "version": "1.0.0", "dependencies": deps_json,
                "scripts": {"start": "node index.js"}
            }))
            .unwrap(),
        )
        .unwrap();
        // A tiny stand-in runtime, so the runtime layer does not dominate the timings.
        let fake = tgz(
            "node-v0.0.1-linux-x64",
            &[("bin/node", b"#!/bin/sh\necho fake node\n", 0o755)],
        );
        let dist = served_dir.join("dist/v0.0.1/node-v0.0.1-linux-x64.tar.gz");
        std::fs::create_dir_all(dist.parent().unwrap()).unwrap();
        std::fs::write(&dist, &fake).unwrap();
        std::fs::write(
            app.join("node-inventory.toml"),
            node_support::inventory_toml("0.0.1", &hex::encode(sha2::Sha256::digest(&fake))),
        )
        .unwrap();
        let server = Server::start(&served_dir).unwrap();
        let slow_server = Server::start_with_latency(&served_dir, LATENCY).unwrap();
        Self {
            work,
            server,
            slow_server,
            app,
            install_phase: std::sync::Mutex::default(),
        }
    }

    fn kiln(&self, run: &str, jobs: usize, downloads: &Path) -> Duration {
        self.kiln_with(run, jobs, downloads, &[])
    }

    /// [`Self::kiln`] with more arguments.
    fn kiln_with(&self, run: &str, jobs: usize, downloads: &Path, extra: &[&str]) -> Duration {
        self.kiln_via(&self.server, run, jobs, downloads, extra)
    }

    /// [`Self::kiln_with`] against `server`.
    fn kiln_via(
        &self,
        server: &Server,
        run: &str,
        jobs: usize,
        downloads: &Path,
        extra: &[&str],
    ) -> Duration {
        let dir = self.work.path().join(run);
        let mut cmd = kiln_command();
        cmd.arg("build")
            .arg(format!("oci:{}", dir.join("image").display()))
            .arg("--path")
            .arg(&self.app)
            .args(["--run-image", &busybox()])
            .args(["--network-allow", "127.0.0.1"])
            .arg("--download-cache")
            .arg(downloads)
            .arg("--cache-dir")
            .arg(dir.join("layer-cache"))
            .arg("--fetch-jobs")
            .arg(jobs.to_string())
            .args(["--env", "KILN_NODEJS_INVENTORY=node-inventory.toml"])
            .arg("--env")
            .arg(format!("KILN_NODEJS_DIST_URL={}/dist", server.base))
            .arg("--env")
            .arg(format!("npm_config_registry={}/registry/", server.base))
            .args(extra);
        let start = Instant::now();
        let (took, install) = timed_install(&mut cmd, start);
        if let Some(d) = install {
            self.install_phase
                .lock()
                .unwrap()
                .push((jobs, downloads.to_path_buf(), d));
        }
        took
    }

    fn npm_ci(&self, run: &str, npm_cache: &Path, offline: bool) -> Duration {
        let dir = self.work.path().join(run).join("app");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(self.app.join(f), dir.join(f)).unwrap();
        }
        let mut cmd = Command::new("npm");
        cmd.current_dir(&dir)
            .args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ])
            .arg(format!("--registry={}/registry/", self.server.base))
            .arg(format!("--cache={}", npm_cache.display()));
        if offline {
            cmd.arg("--prefer-offline");
        }
        let start = Instant::now();
        run_ok(&mut cmd);
        let took = start.elapsed();
        assert!(dir.join("node_modules/pkg-499/index.js").is_file());
        took
    }
}

/// Run `cmd` (a `kiln build`), timing the lines it prints: returns the total time and the
/// time between the runtime line (`Reusing/Installing Node.js`) and `Installed N packages`.
fn timed_install(cmd: &mut Command, start: Instant) -> (Duration, Option<Duration>) {
    use std::io::BufRead as _;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut runtime_at = None;
    let mut installed_at = None;
    let mut log = String::new();
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("Node.js") && runtime_at.is_none() {
            runtime_at = Some(Instant::now());
        }
        if line.contains("Installed ") && line.contains("packages") {
            installed_at = Some(Instant::now());
        }
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{log}");
    let took = start.elapsed();
    (took, runtime_at.zip(installed_at).map(|(a, b)| b - a))
}

fn run_ok(cmd: &mut Command) {
    let out = run(cmd);
    assert_eq!(out.code, 0, "{cmd:?}\n{}\n{}", out.stdout, out.stderr);
}

fn main() {
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let b = Bench::new();
    // Warm the compile cache and the busybox image once.
    let warm_dl = b.work.path().join("warm-downloads");
    b.kiln("prime", 16, &warm_dl);

    let mut cases: Vec<(&str, Vec<Duration>, usize)> = Vec::new();
    for (label, jobs) in [
        (
            "kiln build, cold download cache, sequential (--fetch-jobs 1)",
            1,
        ),
        (
            "kiln build, cold download cache, parallel (--fetch-jobs 16)",
            16,
        ),
    ] {
        let mut times = Vec::new();
        let before = b.server.total();
        for r in 0..runs {
            let dl = b.work.path().join(format!("dl-{jobs}-{r}"));
            times.push(b.kiln(&format!("cold-{jobs}-{r}"), jobs, &dl));
        }
        cases.push((label, times, (b.server.total() - before) / runs));
    }
    for (label, jobs) in [
        (
            "kiln build, cold download cache, 20 ms per response, sequential (--fetch-jobs 1)",
            1,
        ),
        (
            "kiln build, cold download cache, 20 ms per response, parallel (--fetch-jobs 16)",
            16,
        ),
    ] {
        let mut times = Vec::new();
        let before = b.slow_server.total();
        for r in 0..runs {
            let dl = b.work.path().join(format!("slow-dl-{jobs}-{r}"));
            times.push(b.kiln_via(&b.slow_server, &format!("slow-{jobs}-{r}"), jobs, &dl, &[]));
        }
        cases.push((label, times, (b.slow_server.total() - before) / runs));
    }
    let mut times = Vec::new();
    let before = b.server.total();
    for r in 0..runs {
        times.push(b.kiln(&format!("warm-{r}"), 16, &warm_dl));
    }
    cases.push((
        "kiln build, warm download cache (reinstall, no network)",
        times,
        (b.server.total() - before) / runs,
    ));
    let guest_dl = b.work.path().join("warm-downloads-guest");
    let guest = ["--env", "KILN_NODEJS_EXTRACT=guest"];
    b.kiln_with("prime-guest", 16, &guest_dl, &guest);
    let mut times = Vec::new();
    for r in 0..runs {
        times.push(b.kiln_with(&format!("guest-{r}"), 16, &guest_dl, &guest));
    }
    cases.push((
        "kiln build, warm download cache, unpacked in the buildpack (KILN_NODEJS_EXTRACT=guest)",
        times,
        0,
    ));
    b.kiln("noop", 16, &warm_dl);
    let mut times = Vec::new();
    let before = b.server.total();
    for _ in 0..runs {
        times.push(b.kiln("noop", 16, &warm_dl));
    }
    cases.push((
        "kiln build, unchanged lockfile (layers reused)",
        times,
        (b.server.total() - before) / runs,
    ));
    let mut times = Vec::new();
    let before = b.server.total();
    for r in 0..runs {
        let cache = b.work.path().join(format!("npm-cache-cold-{r}"));
        times.push(b.npm_ci(&format!("npm-cold-{r}"), &cache, false));
    }
    cases.push((
        "npm ci, cold npm cache (baseline)",
        times,
        (b.server.total() - before) / runs,
    ));
    let npm_cache = b.work.path().join("npm-cache-warm");
    b.npm_ci("npm-prime", &npm_cache, false);
    let mut times = Vec::new();
    let before = b.server.total();
    for r in 0..runs {
        times.push(b.npm_ci(&format!("npm-warm-{r}"), &npm_cache, true));
    }
    cases.push((
        "npm ci --prefer-offline, warm npm cache (baseline)",
        times,
        (b.server.total() - before) / runs,
    ));

    // Extraction of the same 500 tarballs natively (the host-side alternative to the
    // guest's kiln_sdk::extract), for comparison with the warm reinstall above.
    let native = {
        let mut t = Vec::new();
        for r in 0..runs {
            let dest = b.work.path().join(format!("native-{r}"));
            let start = Instant::now();
            for i in 0..PACKAGES {
                let name = format!("pkg-{i:03}");
                let f = b
                    .server
                    .root
                    .join(format!("registry/{name}/-/{name}-1.0.0.tgz"));
                let gz = flate2::read::GzDecoder::new(std::fs::File::open(f).unwrap());
                tar::Archive::new(gz)
                    .unpack(dest.join("node_modules").join(&name))
                    .unwrap();
            }
            t.push(start.elapsed());
        }
        median(t)
    };

    let phases = b.install_phase.lock().unwrap().clone();
    let install_phase = |dl: &Path| {
        median(
            phases
                .iter()
                .filter(|(_, d, _)| d == dl)
                .map(|(_, _, d)| *d)
                .collect(),
        )
    };
    let host_install = install_phase(&warm_dl);
    let guest_install = install_phase(&guest_dl);
    let npm_cold = median(
        cases
            .iter()
            .find(|(label, _, _)| label.starts_with("npm ci, cold"))
            .unwrap()
            .1
            .clone(),
    );
    println!(
        "\n| {PACKAGES} packages, local mirror, {runs} runs | median | vs npm ci cold | requests/run |"
    );
    println!("|---|---:|---:|---:|");
    for (label, times, requests) in &cases {
        let m = median(times.clone());
        println!(
            "| {label} | {:.0} ms | {:.2}x | {requests} |",
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() / npm_cold.as_secs_f64()
        );
    }
    let seq = median(cases[0].1.clone());
    let par = median(cases[1].1.clone());
    let slow_seq = median(cases[2].1.clone());
    let slow_par = median(cases[3].1.clone());
    println!(
        "\nparallel speedup (cold): {:.2}x on loopback, {:.2}x with 20 ms per response",
        seq.as_secs_f64() / par.as_secs_f64(),
        slow_seq.as_secs_f64() / slow_par.as_secs_f64()
    );
    println!(
        "install phase of a warm reinstall (from the buildpack's log lines): unpacked by the host {:.0} ms, in the buildpack {:.0} ms ({:.2}x); plain tar + flate2 in this process {:.0} ms",
        host_install.as_secs_f64() * 1e3,
        guest_install.as_secs_f64() * 1e3,
        guest_install.as_secs_f64() / host_install.as_secs_f64(),
        native.as_secs_f64() * 1e3
    );
    if std::env::var_os("KILN_BENCH_KEEP").is_some() {
        println!("kept the bench work dir: {}", b.work.keep().display());
    }
}
