//! Kiln benchmark on a real-sized app (the acceptance test of issue 13): a generated app of
//! 20,000 files / 300 MiB (70 % of the bytes text-like, 30 % random, a few hundred nested
//! directories, skewed file sizes, a `Procfile`) built by the `kiln` CLI onto a busybox run
//! image, against `tar | gzip -6 | sha256sum`, `tar | pigz -6 | sha256sum` and (where
//! installed) buildah on the same tree, runs interleaved. Cases: cold build, no-op rebuild,
//! one-file change, layout growth over 5 one-file rebuilds, determinism across cache dirs,
//! paths, `TZ`, umask and (when the CLI has a setting for it) compression threads. Prints a
//! Markdown table of medians and ratios, the raw samples, and the targets with
//! PASS/FAIL. A FAIL is reported, not a panic.
//!
//! Run with `cargo bench -p kiln --bench large_app`. Environment knobs:
//! - `KILN_BENCH_FILES` number of files (default 20000)
//! - `KILN_BENCH_MB` total app size in MiB (default 300)
//! - `KILN_BENCH_RUNS` runs per case (default 3 for the cold build, 5 for the others)
//! - `KILN_BENCH_SKIP_PEER=1` skip the buildah baseline
//! - `KILN_BIN` the `kiln` binary to drive (default: the one cargo built for this bench)
//! - `KILN_BENCH_STRICT=1` exit with status 1 when a target FAILs
//!
//! Every `kiln build` runs as a subprocess with its own `KILN_CACHE_DIR`; the precompiled
//! components (`--compile-cache`) are shared after the first build, whose time is reported
//! on its own row ("first build on this machine").

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    missing_docs
)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// The file the one-file-change case rewrites (placed in the middle of the sorted tree).
const CHANGED_SIZE: usize = 1024;

// ---------------------------------------------------------------------------------------
// Settings

struct Settings {
    files: usize,
    bytes: u64,
    cold_runs: usize,
    runs: usize,
    skip_peer: bool,
    strict: bool,
    kiln: PathBuf,
}

fn env_num(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Settings {
    fn from_env() -> Self {
        let runs = env_num("KILN_BENCH_RUNS").map(|n| n.max(1));
        Self {
            files: env_num("KILN_BENCH_FILES").unwrap_or(20_000).max(10),
            bytes: env_num("KILN_BENCH_MB").unwrap_or(300).max(1) as u64 * MIB,
            cold_runs: runs.unwrap_or(3),
            runs: runs.unwrap_or(5),
            skip_peer: std::env::var_os("KILN_BENCH_SKIP_PEER").is_some(),
            strict: std::env::var_os("KILN_BENCH_STRICT").is_some(),
            kiln: std::env::var_os("KILN_BIN")
                .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kiln")), PathBuf::from),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The generated app

/// xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

const WORDS: &[&str] = &[
    "const",
    "let",
    "function",
    "return",
    "import",
    "export",
    "from",
    "default",
    "class",
    "this",
    "value",
    "props",
    "state",
    "config",
    "request",
    "response",
    "error",
    "result",
    "async",
    "await",
    "for",
    "while",
    "if",
    "else",
    "true",
    "false",
    "null",
    "undefined",
    "string",
    "number",
    "object",
    "array",
    "map",
    "filter",
    "reduce",
    "user",
    "order",
    "item",
    "list",
    "index",
    "data",
    "render",
    "component",
    "module",
    "require",
    "path",
    "file",
    "buffer",
    "stream",
    "handler",
    "router",
    "server",
    "client",
    "cache",
    "token",
    "session",
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "that",
    "with",
    "on",
    "by",
    "it",
    "new",
    "self",
    "def",
    "pass",
    "raise",
    "yield",
    "lambda",
    "try",
    "except",
    "finally",
    "struct",
];
const TEXT_EXT: &[&str] = &[
    "js", "ts", "py", "md", "json", "css", "html", "txt", "rb", "go",
];
const BIN_EXT: &[&str] = &["png", "jpg", "woff2", "bin", "gz", "wasm"];
const DIR_NAMES: &[&str] = &[
    "src",
    "lib",
    "components",
    "utils",
    "assets",
    "static",
    "vendor",
    "test",
    "docs",
    "api",
    "models",
    "views",
    "styles",
    "images",
    "fonts",
    "locales",
    "config",
    "scripts",
    "core",
    "plugins",
    "services",
    "helpers",
    "types",
    "public",
    "data",
    "internal",
    "pkg",
    "handlers",
];

struct PlannedFile {
    path: PathBuf,
    size: usize,
    text: bool,
}

struct App {
    /// The context dir of the buildah baseline (`Dockerfile`, `app/`).
    context: PathBuf,
    /// The app dir.
    dir: PathBuf,
    /// The file the one-file-change case rewrites.
    changed: PathBuf,
    files: usize,
    dirs: usize,
    bytes: u64,
    text_bytes: u64,
    /// Median and largest file size.
    median_size: usize,
    max_size: usize,
}

/// A few hundred directories, 1–4 levels deep (relative to the app dir).
fn plan_dirs(rng: &mut Rng, n: usize) -> Vec<PathBuf> {
    let mut dirs: Vec<(PathBuf, usize)> = Vec::new();
    let mut seen = BTreeSet::new();
    while dirs.len() < n {
        let (parent, depth) = if dirs.is_empty() || rng.below(4) == 0 {
            (PathBuf::new(), 0)
        } else {
            dirs[rng.below(dirs.len())].clone()
        };
        if depth >= 4 {
            continue;
        }
        let name = format!("{}{}", DIR_NAMES[rng.below(DIR_NAMES.len())], rng.below(40));
        let path = parent.join(name);
        if seen.insert(path.clone()) {
            dirs.push((path, depth + 1));
        }
    }
    dirs.into_iter().map(|(p, _)| p).collect()
}

/// File sizes with a heavy tail (capped Pareto), scaled to `total`.
fn plan_sizes(rng: &mut Rng, n: usize, total: u64) -> Vec<usize> {
    let weights: Vec<f64> = (0..n).map(|_| rng.unit().powf(-1.2).min(3000.0)).collect();
    let sum: f64 = weights.iter().sum();
    let mut sizes: Vec<usize> = weights
        .iter()
        .map(|w| ((w / sum) * total as f64).max(16.0) as usize)
        .collect();
    // Put the rounding error on the largest file.
    let have: u64 = sizes.iter().map(|&s| s as u64).sum();
    let largest = (0..n).max_by_key(|&i| sizes[i]).unwrap();
    sizes[largest] = (sizes[largest] as i64 + (total as i64 - have as i64)).max(16) as usize;
    sizes
}

fn plan_app(files: usize, total: u64) -> Vec<PlannedFile> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let dirs = plan_dirs(&mut rng, (files / 60).clamp(3, 400));
    // The last file is the one the one-file-change case rewrites: 1 KiB of text.
    let mut sizes = plan_sizes(&mut rng, files - 1, total - CHANGED_SIZE as u64);
    sizes.push(CHANGED_SIZE);
    let changed = files - 1;
    // 30 % of the bytes random: files taken in a random order while they fit.
    let mut order: Vec<usize> = (0..files).collect();
    for i in (1..files).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut text = vec![true; files];
    let mut random_bytes = 0u64;
    for i in order {
        if i != changed && random_bytes + sizes[i] as u64 <= total * 3 / 10 {
            random_bytes += sizes[i] as u64;
            text[i] = false;
        }
    }
    let mut planned: Vec<PlannedFile> = (0..files)
        .map(|i| {
            let dir = &dirs[rng.below(dirs.len())];
            let ext = if text[i] {
                TEXT_EXT[rng.below(TEXT_EXT.len())]
            } else {
                BIN_EXT[rng.below(BIN_EXT.len())]
            };
            PlannedFile {
                path: dir.join(format!("f{i:05}.{ext}")),
                size: sizes[i],
                text: text[i],
            }
        })
        .collect();
    // Move the changed file to the middle of the sorted list.
    let changed_file = planned.swap_remove(changed);
    planned.sort_by(|a, b| a.path.cmp(&b.path));
    let mid = planned.len() / 2;
    let dir = planned[mid].path.parent().unwrap().to_path_buf();
    planned.insert(
        mid,
        PlannedFile {
            path: dir.join("changed-by-bench.js"),
            ..changed_file
        },
    );
    planned
}

/// Text-like bytes: lines of words and numbers (compressible, like source code).
fn text_bytes(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = String::with_capacity(size + 64);
    while out.len() < size {
        let indent = rng.below(4) * 2;
        out.extend(std::iter::repeat_n(' ', indent));
        for w in 0..3 + rng.below(10) {
            if w > 0 {
                out.push(' ');
            }
            out.push_str(WORDS[rng.below(WORDS.len())]);
            if rng.below(5) == 0 {
                write!(out, "{}", rng.below(1000)).unwrap();
            }
        }
        out.push_str(if rng.below(3) == 0 { ";\n" } else { "\n" });
    }
    let mut bytes = out.into_bytes();
    bytes.truncate(size);
    bytes
}

fn random_bytes(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(size);
    out
}

/// Writes the app under `root/app` and the baseline's `root/Dockerfile`.
fn generate_app(root: &Path, settings: &Settings) -> App {
    let dir = root.join("app");
    let planned = plan_app(settings.files, settings.bytes);
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut dirs = BTreeSet::new();
    let (mut bytes, mut text) = (0u64, 0u64);
    let mut changed = PathBuf::new();
    for f in &planned {
        let path = dir.join(&f.path);
        let parent = path.parent().unwrap();
        if dirs.insert(parent.to_path_buf()) {
            std::fs::create_dir_all(parent).unwrap();
        }
        let content = if f.text {
            text_bytes(&mut rng, f.size)
        } else {
            random_bytes(&mut rng, f.size)
        };
        std::fs::write(&path, content).unwrap();
        bytes += f.size as u64;
        if f.text {
            text += f.size as u64;
        }
        if f.path.ends_with("changed-by-bench.js") {
            changed = path;
        }
    }
    let mut sizes: Vec<usize> = planned.iter().map(|f| f.size).collect();
    sizes.sort_unstable();
    let procfile = "web: /bin/sh -c 'ls /workspace | head'\n";
    std::fs::write(dir.join("Procfile"), procfile).unwrap();
    std::fs::write(
        root.join("Dockerfile"),
        "ARG BASE\nFROM ${BASE}\nCOPY app/ /workspace/\nWORKDIR /workspace\nUSER 1000:1000\n\
         CMD [\"/bin/sh\", \"-c\", \"ls /workspace | head\"]\n",
    )
    .unwrap();
    App {
        context: root.to_path_buf(),
        dir,
        changed,
        files: planned.len() + 1,
        dirs: dirs.len(),
        bytes: bytes + procfile.len() as u64,
        text_bytes: text,
        median_size: sizes[sizes.len() / 2],
        max_size: sizes[sizes.len() - 1],
    }
}

/// Rewrites the changed file with 1 KiB of other text.
fn change_one_file(app: &App, run: u64) {
    let mut rng = Rng(0x1234_5678_9abc_def1 ^ (run.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    std::fs::write(&app.changed, text_bytes(&mut rng, CHANGED_SIZE)).unwrap();
}

// ---------------------------------------------------------------------------------------
// Tools, baselines

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tools_dir() -> Option<PathBuf> {
    let dir = workspace_root().join("tools");
    dir.join("make-busybox-base.sh").is_file().then_some(dir)
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// `tools/make-busybox-base.sh` into `work/kiln-tools/images/busybox`.
fn busybox_run_image(work: &Path) -> Option<String> {
    let tools = tools_dir()?;
    let kiln_tools = work.join("kiln-tools");
    let dir = kiln_tools.join("images/busybox");
    let status = Command::new("bash")
        .arg(tools.join("make-busybox-base.sh"))
        .arg(&dir)
        .arg("latest")
        .env("KILN_TOOLS_DIR", &kiln_tools)
        .stdout(Stdio::null())
        .status()
        .ok()?;
    status
        .success()
        .then(|| format!("oci:{}:latest", dir.display()))
}

/// `tar -cf - -C APP . | COMPRESSOR -6 | sha256sum`.
fn tar_pipeline(app: &Path, compressor: &str) -> Duration {
    let script =
        format!("set -o pipefail; tar -cf - -C \"$1\" . | {compressor} -6 | sha256sum >/dev/null");
    let t = Instant::now();
    let status = Command::new("bash")
        .args(["-c", &script, "tar-pipeline"])
        .arg(app)
        .status()
        .unwrap();
    let d = t.elapsed();
    assert!(status.success(), "the {compressor} pipeline failed");
    d
}

/// `tools/build-peer.sh` of the app's context (buildah bud + push to an OCI layout).
fn build_peer(work: &Path, app: &App) -> Option<Duration> {
    let tools = tools_dir()?;
    let t = Instant::now();
    let ok = Command::new("bash")
        .arg(tools.join("build-peer.sh"))
        .arg(&app.context)
        .arg(work.join("peer"))
        .env("KILN_TOOLS_DIR", work.join("kiln-tools"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| t.elapsed())
}

// ---------------------------------------------------------------------------------------
// Kiln

/// How this CLI sets the number of compression threads, if it has a way.
enum Threads {
    Flag(&'static str),
    Env(&'static str),
    Unavailable,
}

fn thread_setting(kiln: &Path) -> Threads {
    let help = Command::new(kiln)
        .args(["build", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for flag in ["--threads", "--compression-threads"] {
        if help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}=")) {
            return Threads::Flag(flag);
        }
    }
    if help.contains("KILN_THREADS") {
        return Threads::Env("KILN_THREADS");
    }
    Threads::Unavailable
}

/// One `kiln build`'s settings.
struct KilnRun<'a> {
    app: &'a Path,
    output: &'a Path,
    cache: &'a Path,
    compile_cache: &'a Path,
    run_image: &'a str,
    tz: &'a str,
    umask: &'a str,
    threads: Option<(&'a Threads, usize)>,
}

impl KilnRun<'_> {
    fn run(&self, kiln: &Path) -> Duration {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("umask {}; exec \"$0\" \"$@\"", self.umask))
            .arg(kiln)
            .args(["-q", "build"])
            .arg(format!("oci:{}:app", self.output.display()))
            .arg("--path")
            .arg(self.app)
            .args(["--run-image", self.run_image])
            .arg("--compile-cache")
            .arg(self.compile_cache)
            .env("KILN_CACHE_DIR", self.cache)
            .env("TZ", self.tz)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match self.threads {
            Some((Threads::Flag(flag), n)) => {
                cmd.arg(format!("{flag}={n}"));
            }
            Some((Threads::Env(var), n)) => {
                cmd.env(var, n.to_string());
            }
            _ => {}
        }
        let t = Instant::now();
        let out = cmd.output().unwrap();
        let d = t.elapsed();
        if !out.status.success() {
            eprintln!(
                "kiln build failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            std::process::exit(2);
        }
        d
    }
}

/// The blobs of a layout: name → size.
fn blobs(layout: &Path) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_dir(layout.join("blobs/sha256"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| Some((e.file_name().into_string().ok()?, e.metadata().ok()?.len())))
                .collect()
        })
        .unwrap_or_default()
}

/// Blobs in `after` that were not in `before`: (count, bytes).
fn new_blobs(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
) -> (usize, u64) {
    after
        .iter()
        .filter(|(name, _)| !before.contains_key(*name))
        .fold((0, 0), |(n, b), (_, size)| (n + 1, b + size))
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |rd| {
        rd.filter_map(Result::ok)
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => dir_size(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}

/// The manifest digest of tag `tag` in a layout's `index.json`.
fn manifest_digest(layout: &Path, tag: &str) -> Option<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).ok()?).ok()?;
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .and_then(|m| m["digest"].as_str().map(str::to_owned))
}

// ---------------------------------------------------------------------------------------
// Reporting

fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// A size change: bytes below 1 MB, else MB.
fn signed_size(bytes: i64) -> String {
    if bytes.abs() < 1_000_000 {
        format!("{bytes:+} B")
    } else {
        format!("{:+.2} MB", bytes as f64 / 1e6)
    }
}

fn samples(s: &[Duration]) -> String {
    s.iter()
        .map(|d| format!("{:.2}", d.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

// ---------------------------------------------------------------------------------------
// The cases

struct Cold {
    first: Duration,
    kiln: Vec<Duration>,
    gzip: Vec<Duration>,
    pigz: Option<Vec<Duration>>,
    peer: Option<Vec<Duration>>,
}

struct Rebuilds {
    noop: Vec<Duration>,
    noop_blobs: Vec<(usize, u64)>,
    change: Vec<Duration>,
    change_blobs: Vec<(usize, u64)>,
    /// After each of 5 one-file rebuilds: (layout growth since before the first, this
    /// build's new blob bytes).
    growth: Vec<(i64, u64)>,
}

struct Determinism {
    digests: [Option<String>; 2],
    threads: &'static str,
}

struct Bench<'a> {
    settings: &'a Settings,
    work: &'a Path,
    app: &'a App,
    run_image: String,
    compile_cache: PathBuf,
    n: usize,
}

impl Bench<'_> {
    fn fresh(&mut self, what: &str) -> PathBuf {
        self.n += 1;
        let dir = self.work.join(format!("{what}-{}", self.n));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn build(&self, output: &Path, cache: &Path) -> Duration {
        KilnRun {
            app: &self.app.dir,
            output,
            cache,
            compile_cache: &self.compile_cache,
            run_image: &self.run_image,
            tz: "UTC",
            umask: "022",
            threads: None,
        }
        .run(&self.settings.kiln)
    }

    /// Cold builds interleaved with the baselines; returns the last build's output and cache
    /// for the rebuild cases.
    fn cold(&mut self, peer: bool) -> (Cold, PathBuf, PathBuf) {
        let pigz = on_path("pigz");
        let (out, cache) = (self.fresh("cold-out"), self.fresh("cold-cache"));
        eprintln!("first build (compiles the components) ...");
        let first = self.build(&out, &cache);
        let mut cold = Cold {
            first,
            kiln: Vec::new(),
            gzip: Vec::new(),
            pigz: pigz.then(Vec::new),
            peer: None,
        };
        // A warm-up of the peer (pulls the base); if it fails, there is no peer row.
        let mut peer_ok = peer && build_peer(self.work, self.app).is_some();
        if peer_ok {
            cold.peer = Some(Vec::new());
        }
        let (mut last_out, mut last_cache) = (out, cache);
        for i in 0..self.settings.cold_runs {
            eprintln!("cold run {}/{} ...", i + 1, self.settings.cold_runs);
            let _ = std::fs::remove_dir_all(&last_out);
            let _ = std::fs::remove_dir_all(&last_cache);
            (last_out, last_cache) = (self.fresh("cold-out"), self.fresh("cold-cache"));
            cold.kiln.push(self.build(&last_out, &last_cache));
            cold.gzip.push(tar_pipeline(&self.app.dir, "gzip"));
            if let Some(p) = &mut cold.pigz {
                p.push(tar_pipeline(&self.app.dir, "pigz"));
            }
            if peer_ok {
                if let Some(d) = build_peer(self.work, self.app) {
                    cold.peer.as_mut().unwrap().push(d);
                } else {
                    eprintln!("build-peer.sh failed; dropping the buildah row");
                    cold.peer = None;
                    peer_ok = false;
                }
            }
        }
        (cold, last_out, last_cache)
    }

    fn rebuilds(&self, out: &Path, cache: &Path) -> Rebuilds {
        let runs = self.settings.runs;
        let mut r = Rebuilds {
            noop: Vec::new(),
            noop_blobs: Vec::new(),
            change: Vec::new(),
            change_blobs: Vec::new(),
            growth: Vec::new(),
        };
        for i in 0..runs {
            eprintln!("no-op rebuild {}/{runs} ...", i + 1);
            let before = blobs(out);
            r.noop.push(self.build(out, cache));
            r.noop_blobs.push(new_blobs(&before, &blobs(out)));
        }
        let start_size = dir_size(out) as i64;
        for i in 0..runs.max(5) {
            eprintln!("one-file rebuild {}/{} ...", i + 1, runs.max(5));
            change_one_file(self.app, i as u64);
            let before = blobs(out);
            let d = self.build(out, cache);
            let added = new_blobs(&before, &blobs(out));
            if i < runs {
                r.change.push(d);
                r.change_blobs.push(added);
            }
            if i < 5 {
                r.growth.push((dir_size(out) as i64 - start_size, added.1));
            }
        }
        r
    }

    /// Two builds of the same app (at two paths) into fresh layouts with different cache
    /// dirs, `TZ`, umask and thread counts.
    fn determinism(&mut self) -> Determinism {
        let threads = thread_setting(&self.settings.kiln);
        let other_app = self.work.join("elsewhere/deeper/app");
        std::fs::create_dir_all(other_app.parent().unwrap()).unwrap();
        // Hard links: a second path without a second 300 MB write (Kiln never writes the
        // app dir).
        let cp = Command::new("cp")
            .arg("-al")
            .arg(&self.app.dir)
            .arg(&other_app)
            .status()
            .unwrap();
        assert!(cp.success(), "cp -al failed");
        let settings = [
            (&self.app.dir, "UTC", "022", 1),
            (&other_app, "Pacific/Kiritimati", "077", 2),
        ];
        let mut digests = [None, None];
        for (i, (app, tz, umask, n)) in settings.into_iter().enumerate() {
            eprintln!("determinism build {}/2 ...", i + 1);
            let (out, cache) = (self.fresh("det-out"), self.fresh("det-cache"));
            KilnRun {
                app,
                output: &out,
                cache: &cache,
                compile_cache: &self.compile_cache,
                run_image: &self.run_image,
                tz,
                umask,
                threads: Some((&threads, n)),
            }
            .run(&self.settings.kiln);
            digests[i] = manifest_digest(&out, "app");
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::remove_dir_all(&cache);
        }
        let _ = std::fs::remove_dir_all(self.work.join("elsewhere"));
        Determinism {
            digests,
            threads: match threads {
                Threads::Flag(f) => f,
                Threads::Env(v) => v,
                Threads::Unavailable => "",
            },
        }
    }
}

// ---------------------------------------------------------------------------------------

fn print_report(app: &App, cold: &Cold, r: &Rebuilds, det: &Determinism, notes: &[String]) -> bool {
    let kiln_cold = median(&cold.kiln);
    let gzip = median(&cold.gzip);
    let noop = median(&r.noop);
    let change = median(&r.change);
    let change_bytes = *r.change_blobs.iter().map(|(_, b)| b).max().unwrap_or(&0);
    let noop_new = r.noop_blobs.iter().map(|b| b.0).max().unwrap_or(0);
    let noop_bytes = r.noop_blobs.iter().map(|b| b.1).max().unwrap_or(0);
    let change_pct_time = 100.0 * ratio(change, kiln_cold);
    let change_pct_bytes = 100.0 * change_bytes as f64 / app.bytes as f64;

    println!(
        "\nApp: {} files in {} directories, {} ({:.0} % text-like, {:.0} % random; file size \
         median {} B, largest {}).\n",
        app.files,
        app.dirs,
        mb(app.bytes),
        100.0 * app.text_bytes as f64 / app.bytes as f64,
        100.0 * (app.bytes - app.text_bytes) as f64 / app.bytes as f64,
        app.median_size,
        mb(app.max_size as u64),
    );
    println!("| case | Kiln | reference | ratio |");
    println!("|---|---:|---:|---:|");
    let pipe = |name: &str| format!("`tar \\| {name} -6 \\| sha256sum`");
    println!(
        "| cold build | {} | {} {} | {:.2}× |",
        secs(kiln_cold),
        pipe("gzip"),
        secs(gzip),
        ratio(kiln_cold, gzip)
    );
    match &cold.pigz {
        Some(p) => println!(
            "| cold build | {} | {} {} | {:.2}× |",
            secs(kiln_cold),
            pipe("pigz"),
            secs(median(p)),
            ratio(kiln_cold, median(p))
        ),
        None => println!(
            "| cold build | {} | pigz not installed | – |",
            secs(kiln_cold)
        ),
    }
    match &cold.peer {
        Some(p) => println!(
            "| cold build | {} | buildah (warm, build-peer.sh) {} | {:.2}× |",
            secs(kiln_cold),
            secs(median(p)),
            ratio(kiln_cold, median(p))
        ),
        None => println!("| cold build | {} | buildah not run | – |", secs(kiln_cold)),
    }
    println!(
        "| first build on this machine (compiles components) | {} | – | |",
        secs(cold.first)
    );
    println!(
        "| no-op rebuild | {}, {noop_new} new blobs ({}) | – | |",
        secs(noop),
        mb(noop_bytes)
    );
    println!(
        "| one 1 KB file changed | {}, {} of new blobs | cold build {} | {change_pct_time:.1} % of cold time, {change_pct_bytes:.2} % of app bytes |",
        secs(change),
        mb(change_bytes),
        secs(kiln_cold)
    );
    let growth: Vec<String> = r.growth.iter().map(|&(g, _)| signed_size(g)).collect();
    println!(
        "| layout growth after each of 5 one-file rebuilds | {} | new blobs per build ≤ {} | |",
        growth.join(", "),
        mb(r.growth.iter().map(|g| g.1).max().unwrap_or(0))
    );
    let same = det.digests[0].is_some() && det.digests[0] == det.digests[1];
    println!(
        "| determinism (paths, cache dirs, TZ, umask{}) | {} | {} | |",
        if det.threads.is_empty() {
            ""
        } else {
            ", 1 vs 2 threads"
        },
        if same {
            "same digest"
        } else {
            "DIFFERENT digests"
        },
        det.digests
            .iter()
            .map(|d| d.as_deref().unwrap_or("(no tag app)"))
            .collect::<Vec<_>>()
            .join(" / ")
    );

    println!("\nRaw samples (seconds):");
    println!("- kiln cold: {}", samples(&cold.kiln));
    println!("- tar | gzip -6: {}", samples(&cold.gzip));
    if let Some(p) = &cold.pigz {
        println!("- tar | pigz -6: {}", samples(p));
    }
    if let Some(p) = &cold.peer {
        println!("- buildah: {}", samples(p));
    }
    println!("- no-op rebuild: {}", samples(&r.noop));
    println!("- no-op new blobs (count, bytes): {:?}", r.noop_blobs);
    println!("- one-file rebuild: {}", samples(&r.change));
    println!("- one-file new blobs (count, bytes): {:?}", r.change_blobs);
    println!(
        "- layout growth, new blob bytes after each of 5 one-file rebuilds: {:?}",
        r.growth
    );

    let mut targets: Vec<(String, bool)> = Vec::new();
    if let Some(p) = &cold.pigz {
        let x = ratio(kiln_cold, median(p));
        targets.push((
            format!("cold build ≤ 1.2× the pigz pipeline ({x:.2}×)"),
            x <= 1.2,
        ));
    }
    if let Some(p) = &cold.peer {
        let x = ratio(kiln_cold, median(p));
        targets.push((format!("cold build faster than buildah ({x:.2}×)"), x < 1.0));
    }
    targets.push((
        format!("no-op rebuild ≤ 0.5 s ({})", secs(noop)),
        noop.as_secs_f64() <= 0.5,
    ));
    targets.push((
        format!("no-op rebuild: 0 new blobs ({noop_new})"),
        noop_new == 0,
    ));
    targets.push((
        format!("one-file change ≤ 5 % of the cold time ({change_pct_time:.1} %)"),
        change_pct_time <= 5.0,
    ));
    targets.push((
        format!("one-file change ≤ 5 % of the app bytes rewritten ({change_pct_bytes:.2} %)"),
        change_pct_bytes <= 5.0,
    ));
    targets.push((
        "layout does not grow beyond the new slices over 5 one-file rebuilds (growth ≤ that build's new blobs, each time)".into(),
        r.growth.iter().all(|&(g, new)| g <= new as i64),
    ));
    targets.push((
        format!(
            "same digest across paths/cache dirs/TZ/umask{}",
            if det.threads.is_empty() {
                ""
            } else {
                " and 1 vs 2 threads"
            }
        ),
        same,
    ));
    println!("\nTargets (issue 13):");
    for (what, ok) in &targets {
        println!("- {} {what}", verdict(*ok));
    }
    if !notes.is_empty() {
        println!("\nNotes:");
        for n in notes {
            println!("- {n}");
        }
    }
    targets.iter().all(|t| t.1)
}

fn main() {
    let settings = Settings::from_env();
    let mut notes = Vec::new();
    // A lowercase path: podman (used by the peer baseline) rejects upper-case image names.
    let work_dir = workspace_root().join(format!("target/kiln-bench-large-{}", std::process::id()));
    std::fs::create_dir_all(&work_dir).unwrap();
    let work = work_dir.as_path();
    eprintln!(
        "generating {} files, {} MiB ...",
        settings.files,
        settings.bytes / MIB
    );
    let t = Instant::now();
    let app = generate_app(&work.join("sample"), &settings);
    eprintln!("generated in {}", secs(t.elapsed()));

    let run_image = busybox_run_image(work).unwrap_or_else(|| {
        notes.push(
            "make-busybox-base.sh failed (busybox-static missing?): scratch run image".into(),
        );
        "scratch".into()
    });
    if !on_path("pigz") {
        notes.push("pigz is not installed (`bash tools/install-deps.sh pigz`): no pigz row".into());
    }
    let peer = !settings.skip_peer && on_path("buildah") && tools_dir().is_some();
    if !on_path("buildah") {
        notes.push("buildah is not installed: no buildah row".into());
    } else if settings.skip_peer {
        notes.push("KILN_BENCH_SKIP_PEER is set: no buildah row".into());
    }
    notes.push(format!("kiln binary: {}", settings.kiln.display()));

    let mut bench = Bench {
        settings: &settings,
        work,
        app: &app,
        run_image,
        compile_cache: work.join("compile-cache"),
        n: 0,
    };
    let (cold, out, cache) = bench.cold(peer);
    let rebuilds = bench.rebuilds(&out, &cache);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&cache);
    let det = bench.determinism();
    if det.threads.is_empty() {
        notes.push(
            "compression threads: not available yet (no --threads flag or KILN_THREADS in `kiln build --help`); determinism compared without it".into(),
        );
    }

    let all_pass = print_report(&app, &cold, &rebuilds, &det, &notes);
    let _ = std::fs::remove_dir_all(&work_dir);
    if settings.strict && !all_pass {
        std::process::exit(1);
    }
}
