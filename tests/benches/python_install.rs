//! Benchmark: installing a `requirements.txt` of 200 small hash-pinned wheels from a local
//! PEP 503 simple index on 127.0.0.1, with `kiln build` (cold: a fresh `KILN_CACHE_DIR`;
//! warm: the same app, cache and layout again; relock: a changed lock with the download cache
//! warm) and with `pip install --require-hashes --no-deps` into a fresh venv (pip's cache off;
//! pip's cache dir primed; the wheels' directory as `--find-links`, no index) from the same
//! files, in the same run, interleaved. Run with
//! `cargo bench -p kiln-tests --bench python_install` (a release `kiln` binary).
//! `KILN_BENCH_RUNS` sets the runs per case (default 5); `KILN_BENCH_KEEP` keeps the work dir;
//! `KILN_BENCH_LOG` prints every build log on stderr.
//!
//! The precompiled components come from the tests' shared compile cache
//! (`--compile-cache`), primed once before the timed runs: compiling the embedded buildpacks
//! happens once per `kiln` binary and is not part of installing an app. Everything else
//! (downloads, layer blobs, verified-layer records, layer cache, app snapshot) starts empty in
//! every cold run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

#[path = "../tests/python_support/mod.rs"]
mod python_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use python_support::{
    Index, PythonDist, Server, VENV, Wheel, installed, python_dist, requirements_txt,
    source_prefix, unpack_image_path,
};
use support::{compile_cache, debian, kiln_command};

const WHEELS: usize = 200;
/// Packages with a console script (`pkg-000`, `pkg-100`).
const SCRIPT_EVERY: usize = 100;

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// The module of `pkg-NNN`: a few KB of Python.
fn module_source(name: &str) -> String {
    let mut src = format!(
        "\"\"\"{name}: a fixture of the Kiln install benchmark.\"\"\"\n\nNAME = {name:?}\n\n\ndef main():\n    print(NAME)\n    return 0\n\n"
    );
    for j in 0..100 {
        writeln!(src, "VALUE_{j:03} = \"{name}-{j:03}\"  # filler").unwrap();
    }
    src
}

/// One `kiln build`, timed from its log lines.
struct KilnRun {
    total: Duration,
    /// From `===> BUILDING` (or the first build line) to `Installing N packages`: reading the
    /// lock, the CPython runtime (downloaded when cold), the index pages.
    before_install: Option<Duration>,
    /// From `Installing N packages` to the next `===>` phase: wheel downloads (or the
    /// download cache), extraction, the venv.
    install: Option<Duration>,
    requests: usize,
    /// Warning lines of the log.
    warnings: Vec<String>,
}

struct Bench {
    work: tempfile::TempDir,
    server: Server,
    dist: PythonDist,
    app: PathBuf,
    /// The lock as generated (the relock case prepends a comment).
    requirements: String,
    /// The interpreter the baseline's venvs and pip come from.
    python: PathBuf,
}

impl Bench {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let served_dir = work.path().join("served");
        let dist = python_dist();
        dist.serve(&served_dir, "python-dist");
        let mut index = Index::new(&served_dir);
        let mut pins = Vec::new();
        for i in 0..WHEELS {
            let name = format!("pkg-{i:03}");
            let module = format!("pkg_{i:03}");
            let source = module_source(&name);
            let mut wheel = Wheel::pure(&name, "1.0.0", &[(&format!("{module}.py"), &source)]);
            if i % SCRIPT_EVERY == 0 {
                wheel.entry_points = Some(format!("[console_scripts]\n{name} = {module}:main\n"));
            }
            let (_, sha) = index.publish(&wheel);
            pins.push((format!("{name}==1.0.0"), sha));
        }
        let lines: Vec<(&str, Option<&str>, Vec<String>)> = pins
            .iter()
            .map(|(req, sha)| (req.as_str(), None, vec![sha.clone()]))
            .collect();
        let requirements = requirements_txt(&lines);
        let app = work.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("requirements.txt"), &requirements).unwrap();
        std::fs::write(app.join("python-inventory.toml"), dist.inventory_toml()).unwrap();
        std::fs::write(app.join(".python-version"), format!("{}\n", dist.minor())).unwrap();
        std::fs::write(app.join("main.py"), "import pkg_000\npkg_000.main()\n").unwrap();
        let server = Server::start(&served_dir);
        Self {
            work,
            server,
            dist,
            app,
            requirements,
            python: source_prefix().join("bin/python3"),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `kiln build oci:<layout>` of the app with `cache` as `KILN_CACHE_DIR`.
    fn kiln(&self, cache: &Path, layout: &Path) -> KilnRun {
        let mut cmd = kiln_command();
        cmd.env("KILN_CACHE_DIR", cache)
            .arg("build")
            .arg(format!("oci:{}", layout.display()))
            .arg("--path")
            .arg(&self.app)
            .args(["--run-image", &debian()])
            .arg("--compile-cache")
            .arg(compile_cache().join("components"))
            .args(["--network-allow", "127.0.0.1"])
            .args(["--env", "KILN_PYTHON_INVENTORY=python-inventory.toml"])
            .arg("--env")
            .arg(format!(
                "KILN_PYTHON_DIST_URL={}/python-dist",
                self.server.base
            ))
            .arg("--env")
            .arg(format!("PIP_INDEX_URL={}", self.server.index_url()));
        let before = self.server.total();
        let start = Instant::now();
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (mut building_at, mut installing_at, mut next_phase_at) = (None, None, None);
        let (mut log, mut warnings) = (String::new(), Vec::new());
        for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            let now = Instant::now();
            let phase = line.trim_start().starts_with("===>");
            if building_at.is_none() && phase && line.contains("BUILD") {
                building_at = Some(now);
            }
            if installing_at.is_none()
                && line.contains("Installing ")
                && line.contains(" packages from ")
            {
                installing_at = Some(now);
            } else if installing_at.is_some() && next_phase_at.is_none() && phase {
                next_phase_at = Some(now);
            }
            if line.contains("warning:") {
                warnings.push(line.clone());
            }
            log.push_str(&line);
            log.push('\n');
        }
        let status = child.wait().unwrap();
        let total = start.elapsed();
        if std::env::var_os("KILN_BENCH_LOG").is_some() {
            eprintln!("{log}");
        }
        assert!(status.success(), "kiln build failed ({status}):\n{log}");
        KilnRun {
            total,
            before_install: building_at.zip(installing_at).map(|(a, b)| b - a),
            install: installing_at.zip(next_phase_at).map(|(a, b)| b - a),
            requests: self.server.total() - before,
            warnings,
        }
    }

    /// `python3 -m venv --without-pip <venv>` + `pip install` of the lock into it from the
    /// index (`cache`: pip's cache dir, or none with `--no-cache-dir`); the wall time of both
    /// and the requests.
    fn pip(&self, venv: &Path, cache: Option<&Path>) -> (Duration, usize) {
        self.pip_from(venv, cache, false)
    }

    /// [`Self::pip`], with `local`: no index, the wheels' directory as `--find-links`.
    fn pip_from(&self, venv: &Path, cache: Option<&Path>, local: bool) -> (Duration, usize) {
        let before = self.server.total();
        let start = Instant::now();
        let mut venv_cmd = Command::new(&self.python);
        venv_cmd.args(["-m", "venv", "--without-pip"]).arg(venv);
        run_ok(&mut venv_cmd);
        let mut cmd = Command::new(&self.python);
        // Nothing of the machine's pip configuration (PIP_FIND_LINKS and the like).
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PIP_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("PIP_CONFIG_FILE", "/dev/null")
            .args(["-m", "pip", "--isolated", "--disable-pip-version-check"])
            .arg("--python")
            .arg(venv.join("bin/python"))
            .args([
                "install",
                "--require-hashes",
                "--no-deps",
                // Kiln does not compile bytecode either.
                "--no-compile",
                "--only-binary",
                ":all:",
            ]);
        if local {
            cmd.arg("--no-index")
                .arg("--find-links")
                .arg(self.server.root.join("files"));
        } else {
            cmd.args(["--index-url", &self.server.index_url()]);
        }
        cmd.arg("-r").arg(self.app.join("requirements.txt"));
        match cache {
            Some(dir) => cmd.arg("--cache-dir").arg(dir),
            None => cmd.arg("--no-cache-dir"),
        };
        run_ok(&mut cmd);
        (start.elapsed(), self.server.total() - before)
    }

    fn site_packages(&self, venv: &Path) -> PathBuf {
        venv.join(format!("lib/python{}/site-packages", self.dist.minor()))
    }

    /// What is wrong with an install into `venv` (empty when all 200 and the scripts are
    /// there).
    fn check_venv(&self, venv: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        let dists = installed(&self.site_packages(venv));
        if dists.len() != WHEELS {
            problems.push(format!("{} distributions, not {WHEELS}", dists.len()));
        }
        for i in (0..WHEELS).step_by(SCRIPT_EVERY) {
            let script = venv.join(format!("bin/pkg-{i:03}"));
            if !script.is_file() {
                problems.push(format!("no console script {}", script.display()));
            }
        }
        problems
    }
}

fn run_ok(cmd: &mut Command) {
    let out = support::run(cmd);
    assert_eq!(
        out.code, 0,
        "command failed: {cmd:?}\n{}\n{}",
        out.stdout, out.stderr
    );
}

fn remove(path: &Path) {
    if path.exists() {
        std::fs::remove_dir_all(path).unwrap();
    }
}

/// One row of the table.
struct Case {
    label: &'static str,
    times: Vec<Duration>,
    requests: Vec<usize>,
}

impl Case {
    fn new(label: &'static str) -> Self {
        Self {
            label,
            times: Vec::new(),
            requests: Vec::new(),
        }
    }

    fn push(&mut self, took: Duration, requests: usize) {
        self.times.push(took);
        self.requests.push(requests);
    }

    fn push_kiln(&mut self, run: &KilnRun) {
        self.push(run.total, run.requests);
    }
}

#[allow(clippy::too_many_lines)]
fn main() {
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let b = Bench::new();

    // Prime the compile cache and the run image once, and check what Kiln installs.
    let (prime_cache, prime_image) = (b.dir("prime-cache"), b.dir("prime-image"));
    let prime = b.kiln(&prime_cache, &prime_image);
    let unpacked = b.dir("prime-venv");
    unpack_image_path(&prime_image, "latest", VENV, &unpacked);
    let mut problems: Vec<String> = b
        .check_venv(&unpacked)
        .into_iter()
        .map(|p| format!("kiln: {p}"))
        .collect();
    remove(&prime_cache);
    remove(&prime_image);
    remove(&unpacked);
    // Fill pip's cache once.
    let pip_cache = b.dir("pip-cache");
    b.pip(&b.dir("pip-prime-venv"), Some(&pip_cache));
    problems.extend(
        b.check_venv(&b.dir("pip-prime-venv"))
            .into_iter()
            .map(|p| format!("pip: {p}")),
    );
    remove(&b.dir("pip-prime-venv"));
    let pip_cache_files = walk_count(&pip_cache);

    let mut kiln_cold = Case::new("kiln build, cold (fresh KILN_CACHE_DIR: downloads included)");
    let mut kiln_warm = Case::new("kiln build, warm (unchanged lock: venv layer reused)");
    let mut kiln_relock =
        Case::new("kiln build, lock changed, warm download cache (everything reinstalled)");
    let mut pip_cold = Case::new("venv + pip install, cold (--no-cache-dir)");
    let mut pip_warm = Case::new("venv + pip install, warm (pip's cache dir primed)");
    let mut pip_local = Case::new(
        "venv + pip install --no-index --find-links <the wheels' dir> (no network, no cache)",
    );
    let mut warnings: Vec<String> = Vec::new();
    let (mut cold_install, mut relock_install) = (Vec::new(), Vec::new());
    let (mut cold_before, mut relock_before) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for r in 0..runs {
        let (cache, layout) = (b.dir(&format!("cache-{r}")), b.dir(&format!("image-{r}")));
        std::fs::write(b.app.join("requirements.txt"), &b.requirements).unwrap();

        let cold = b.kiln(&cache, &layout);
        warnings.extend(cold.warnings.iter().cloned());
        kiln_cold.push_kiln(&cold);
        cold_install.extend(cold.install);
        cold_before.extend(cold.before_install);

        let (took, requests) = b.pip(&b.dir(&format!("pip-cold-{r}")), None);
        pip_cold.push(took, requests);

        let warm = b.kiln(&cache, &layout);
        warnings.extend(warm.warnings.iter().cloned());
        kiln_warm.push_kiln(&warm);

        let (took, requests) = b.pip(&b.dir(&format!("pip-warm-{r}")), Some(&pip_cache));
        pip_warm.push(took, requests);

        // One more comment line: a new lock hash, the same pins.
        std::fs::write(
            b.app.join("requirements.txt"),
            format!("# relock {r}\n{}", b.requirements),
        )
        .unwrap();
        let relock = b.kiln(&cache, &layout);
        warnings.extend(relock.warnings.iter().cloned());
        kiln_relock.push_kiln(&relock);
        relock_install.extend(relock.install);
        relock_before.extend(relock.before_install);
        std::fs::write(b.app.join("requirements.txt"), &b.requirements).unwrap();

        let (took, requests) = b.pip_from(&b.dir(&format!("pip-local-{r}")), None, true);
        pip_local.push(took, requests);

        for d in [
            cache,
            layout,
            b.dir(&format!("pip-cold-{r}")),
            b.dir(&format!("pip-warm-{r}")),
            b.dir(&format!("pip-local-{r}")),
        ] {
            remove(&d);
        }
    }
    let elapsed = started.elapsed();

    let base = median(&pip_cold.times).as_secs_f64();
    println!(
        "\n{WHEELS} hash-pinned pure wheels ({} with a console script) from a local simple index, CPython {}, {runs} runs per case, interleaved ({:.0} s):\n",
        WHEELS / SCRIPT_EVERY,
        b.dist.version,
        elapsed.as_secs_f64()
    );
    println!("| case | median | vs pip cold | requests/run | samples (ms) |");
    println!("|---|---:|---:|---:|---|");
    for case in [
        &kiln_cold,
        &kiln_warm,
        &kiln_relock,
        &pip_cold,
        &pip_warm,
        &pip_local,
    ] {
        let m = median(&case.times);
        let samples: Vec<String> = case
            .times
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1e3))
            .collect();
        let mut requests = case.requests.clone();
        requests.sort_unstable();
        requests.dedup();
        let requests: Vec<String> = requests.iter().map(ToString::to_string).collect();
        println!(
            "| {} | {} | {:.2}x | {} | {} |",
            case.label,
            ms(m),
            m.as_secs_f64() / base,
            requests.join("/"),
            samples.join(", ")
        );
    }
    let phase = |label: &str, v: &[Duration]| {
        if v.len() == runs {
            println!(
                "  {label}: median {} (samples {})",
                ms(median(v)),
                v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
            );
        } else {
            println!(
                "  {label}: not found in {} of {runs} build logs",
                runs - v.len()
            );
        }
    };
    println!("\nphases of the build step, from kiln's log lines:");
    phase(
        "cold, BUILDING to `Installing N packages` (lock, CPython download + unpack, index pages)",
        &cold_before,
    );
    phase(
        "cold, `Installing N packages` to the next phase (wheel downloads, unpack, venv)",
        &cold_install,
    );
    phase(
        "relock, BUILDING to `Installing N packages` (lock, index pages)",
        &relock_before,
    );
    phase(
        "relock, `Installing N packages` to the next phase (download cache, unpack, venv)",
        &relock_install,
    );
    println!(
        "\npriming build (compile cache as found, nothing else cached): {}; pip's cache dir after one install: {pip_cache_files} files{}",
        ms(prime.total),
        if pip_cache_files == 0 {
            " (the fixture server sends no Cache-Control, ETag or Last-Modified, so pip caches nothing: its warm case downloads everything again)"
        } else {
            ""
        }
    );
    warnings.extend(prime.warnings.iter().cloned());
    warnings.sort();
    warnings.dedup();
    for w in &warnings {
        println!("kiln warned: {w}");
    }
    if problems.is_empty() {
        println!(
            "checked: kiln's image and pip's venv each have {WHEELS} distributions and the console scripts"
        );
    } else {
        println!("PROBLEMS: {}", problems.join("; "));
    }
    if std::env::var_os("KILN_BENCH_KEEP").is_some() {
        println!("kept the bench work dir: {}", b.work.keep().display());
    }
}

/// Regular files under `dir`.
fn walk_count(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => walk_count(&e.path()),
            Ok(t) if t.is_file() => 1,
            _ => 0,
        })
        .sum()
}
