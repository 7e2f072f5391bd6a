//! Benchmark: installing a `requirements.txt` of 200 small hash-pinned wheels from a local
//! simple index with `kiln build` (cold caches; warm: unchanged lock; warm download cache
//! with a changed lock) and with `pip install --require-hashes --no-deps` into a fresh venv
//! from the same index, in the same run, interleaved. Run with
//! `cargo bench -p kiln-tests --bench python_install`; `KILN_BENCH_RUNS` sets the runs per
//! case (default 5).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/python_support/mod.rs"]
mod python_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use python_support::{
    Index, PythonDist, Server, Wheel, pip_reference, python_dist, requirements_txt,
};
use support::{debian, kiln_command, run};

const WHEELS: usize = 200;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Bench {
    work: tempfile::TempDir,
    server: Server,
    app: PathBuf,
}

impl Bench {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let served_dir = work.path().join("served");
        let dist: PythonDist = python_dist();
        dist.serve(&served_dir, "python-dist");
        let mut index = Index::new(&served_dir);
        let mut lines = Vec::new();
        for i in 0..WHEELS {
            let name = format!("pkg-{i:03}");
            let module = format!("pkg_{i:03}");
            let body = format!("NAME = {name:?}\n{}\n", "# padding\n".repeat(200));
            let mut w = Wheel::pure(&name, "1.0.0", &[(&format!("{module}/__init__.py"), &body)]);
            if i % 50 == 0 {
                w.entry_points = Some(format!("[console_scripts]\n{name} = {module}:NAME\n"));
            }
            let (_, sha) = index.publish(&w);
            lines.push((format!("{name}==1.0.0"), sha));
        }
        let reqs: Vec<(&str, Option<&str>, Vec<String>)> = lines
            .iter()
            .map(|(r, sha)| (r.as_str(), None, vec![sha.clone()]))
            .collect();
        let server = Server::start(&served_dir);
        let app = work.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("requirements.txt"), requirements_txt(&reqs)).unwrap();
        std::fs::write(app.join("python-inventory.toml"), dist.inventory_toml()).unwrap();
        std::fs::write(app.join(".python-version"), format!("{}\n", dist.minor())).unwrap();
        std::fs::write(app.join("main.py"), "print('ok')\n").unwrap();
        Self { work, server, app }
    }

    /// One `kiln build` into `layout` with `downloads` and `layers` caches; its wall time.
    fn kiln(&self, layout: &Path, downloads: &Path, layers: &Path) -> Duration {
        let start = Instant::now();
        run(kiln_command()
            .arg("build")
            .arg(format!("oci:{}", layout.display()))
            .arg("--path")
            .arg(&self.app)
            .args(["--run-image", &debian()])
            .arg("--download-cache")
            .arg(downloads)
            .arg("--cache-dir")
            .arg(layers)
            .args(["--env", "KILN_PYTHON_INVENTORY=python-inventory.toml"])
            .arg("--env")
            .arg(format!(
                "KILN_PYTHON_DIST_URL={}/python-dist",
                self.server.base
            ))
            .arg("--env")
            .arg(format!("PIP_INDEX_URL={}", self.server.index_url()))
            .args(["--network-allow", "127.0.0.1"]))
        .success();
        start.elapsed()
    }

    fn pip(&self, venv: &Path) -> Duration {
        let start = Instant::now();
        pip_reference(
            &self.server.index_url(),
            &self.app.join("requirements.txt"),
            venv,
        );
        start.elapsed()
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }
}

fn main() {
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let b = Bench::new();
    // Prime the compile cache, the run image and the CPython download once.
    b.kiln(
        &b.dir("prime-image"),
        &b.dir("prime-dl"),
        &b.dir("prime-layers"),
    );

    let (mut cold, mut warm, mut relock, mut pip) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let reqs = std::fs::read_to_string(b.app.join("requirements.txt")).unwrap();
    for r in 0..runs {
        std::fs::write(b.app.join("requirements.txt"), &reqs).unwrap();
        let (image, dl, layers) = (
            b.dir(&format!("img-{r}")),
            b.dir(&format!("dl-{r}")),
            b.dir(&format!("layers-{r}")),
        );
        cold.push(b.kiln(&image, &dl, &layers));
        pip.push(b.pip(&b.dir(&format!("venv-{r}"))));
        let before = b.server.total();
        warm.push(b.kiln(&image, &dl, &layers));
        assert_eq!(b.server.total(), before, "an unchanged lock made requests");
        std::fs::write(b.app.join("requirements.txt"), format!("# run {r}\n{reqs}")).unwrap();
        relock.push(b.kiln(&image, &dl, &layers));
    }
    let base = median(pip.clone()).as_secs_f64();
    println!(
        "install of {WHEELS} hash-pinned wheels from a local simple index, {runs} runs each, medians:"
    );
    println!("| case | median | vs pip cold | samples (s) |");
    println!("|---|---:|---:|---|");
    for (label, v) in [
        (
            "kiln build, cold (no caches; includes CPython download, image export)",
            cold,
        ),
        (
            "kiln build, lock changed, warm download cache (reinstall, index pages again)",
            relock,
        ),
        (
            "kiln build, unchanged lock (venv layer reused, 0 requests)",
            warm,
        ),
        (
            "pip install --require-hashes --no-deps into a fresh venv, no cache",
            pip,
        ),
    ] {
        let samples: Vec<String> = v
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect();
        let m = median(v).as_secs_f64();
        println!(
            "| {label} | {m:.2} s | {:.2}× | {} |",
            m / base,
            samples.join(", ")
        );
    }
}
