//! The cost of one native step: `/bin/true` run directly (the baseline) against `/bin/true`
//! through `Sandbox::run` (bubblewrap, namespaces, mounts, the pids cgroup), in the same run.
//! Medians of interleaved runs; needs bubblewrap and a static busybox, like the tests.
//!
//! `cargo bench -p kiln-sandbox --bench exec` (`KILN_BENCH_RUNS=N`, default 101).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kiln_sandbox::{Mount, Sandbox, Step};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn busybox_rootfs(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("the benchmark needs /bin/busybox (busybox-static)");
    std::os::unix::fs::symlink("busybox", root.join("bin/true")).unwrap();
    root
}

fn main() {
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(101);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(dir.path());
    let app = dir.path().join("app");
    let layer = dir.path().join("layer");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::create_dir_all(&layer).unwrap();
    let sandbox = Sandbox::locate(&rootfs, 1000, 1000).expect("bubblewrap");
    let step = Step {
        argv: vec!["/bin/true".into()],
        env: vec![],
        cwd: "/workspace".into(),
        timeout: Duration::from_secs(30),
        mounts: vec![
            Mount {
                host: app,
                guest: "/workspace".into(),
                writable: true,
            },
            Mount {
                host: layer,
                guest: "/layers/bench".into(),
                writable: true,
            },
        ],
        source_date_epoch: 0,
        capture_stdout: None,
    };
    let direct = || {
        let t = Instant::now();
        let status = Command::new("/bin/true").status().unwrap();
        assert!(status.success());
        t.elapsed()
    };
    let sandboxed = || {
        let t = Instant::now();
        let done = sandbox.run(&step, &mut |_| {}).unwrap();
        assert!(done.success());
        t.elapsed()
    };
    // Warm-up, then interleave so both see the same machine state.
    direct();
    sandboxed();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        a.push(direct());
        b.push(sandboxed());
    }
    let (a, b) = (median(a), median(b));
    println!("one command, median of {runs} interleaved runs:");
    println!("  /bin/true directly (std::process::Command)   {}", ms(a));
    println!("  /bin/true in the sandbox (Sandbox::run)     {}", ms(b));
    println!(
        "  sandbox set-up per step                     {} ({:.1}x the direct spawn)",
        ms(b.saturating_sub(a)),
        b.as_secs_f64() / a.as_secs_f64()
    );
}
