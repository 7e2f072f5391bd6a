//! Shared harness for the end-to-end tests: run `kiln`, the shared image tools, snapshots.

#![allow(dead_code, unused_imports, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub use kiln_tests::{copy_dir, kiln_bin, test_buildpack};

pub mod token_proxy;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fixture app directory.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// Output of one command.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The last non-empty stderr line (where `kiln` prints `ERROR: …`).
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// Panic with the full output unless the command succeeded.
    pub fn success(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn output(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The compile cache shared by all test runs of `kiln` (compiling in debug builds is slow).
pub fn compile_cache() -> PathBuf {
    root().join("target/kiln-test-compile-cache")
}

/// A `kiln` command with the shared compile cache.
pub fn kiln_command() -> Command {
    let mut cmd = Command::new(kiln_bin());
    cmd.env("KILN_CACHE_DIR", compile_cache());
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// Run `kiln` with `args`.
pub fn kiln<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    output(kiln_command().args(args))
}

/// Run a prepared command.
pub fn run(cmd: &mut Command) -> Output {
    output(cmd)
}

/// The project's image tools (`tools/`: run-image makers, validators, registry scripts).
pub fn tools() -> PathBuf {
    let dir = root().join("tools");
    assert!(
        dir.join("validate-image.sh").is_file(),
        "the image tools are missing at {}",
        dir.display()
    );
    dir
}

/// The tools' work dir (never beside the scripts).
pub fn tools_work_dir() -> PathBuf {
    std::env::var_os("KILN_TOOLS_DIR")
        .map_or_else(|| root().join("target/kiln-tools"), PathBuf::from)
}

fn tool(script: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(tools().join(script))
        .env("KILN_TOOLS_DIR", tools_work_dir());
    cmd
}

/// `oci:` reference of the busybox run image (built once per test process).
pub fn busybox() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let dir = tools_work_dir().join("images/busybox");
            if !dir.join("index.json").is_file() {
                output(&mut tool("make-busybox-base.sh")).success();
            }
            format!("oci:{}:latest", dir.display())
        })
        .clone()
}

/// `oci:` reference of a busybox run image made with `--variant NAME` (a different top layer,
/// same behaviour), built once; concurrent tests wait for the first to finish making it.
pub fn busybox_variant(name: &str) -> String {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tools_work_dir().join("images").join(name);
    if !dir.join("index.json").is_file() {
        output(
            tool("make-busybox-base.sh")
                .arg(&dir)
                .arg("latest")
                .args(["--variant", name]),
        )
        .success();
    }
    format!("oci:{}:latest", dir.display())
}

/// `oci:` reference of a Debian image made by `make-debian-base.sh` into the tools' work dir
/// as `images/<name>` (`packages` for its `--packages`), built once; concurrent tests wait
/// for the first to finish making it.
pub fn debian_image(name: &str, packages: Option<&str>) -> String {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tools_work_dir().join("images").join(name);
    if !dir.join("index.json").is_file() {
        let mut cmd = tool("make-debian-base.sh");
        if let Some(p) = packages {
            cmd.args(["--packages", p]);
        }
        output(cmd.arg(&dir).arg("bookworm-slim")).success();
    }
    format!("oci:{}:bookworm-slim", dir.display())
}

/// The Debian slim image (`images/debian-slim`), the run and build image of the Node.js and
/// Go tests.
pub fn debian() -> String {
    debian_image("debian-slim", None)
}

/// Validate `layout:tag` with `validate-image.sh`.
pub fn validate_image(layout: &Path, tag: &str) -> Output {
    output(tool("validate-image.sh").arg(format!("{}:{tag}", layout.display())))
}

/// Run `layout:tag` with `run-image.sh`, passing `options` (e.g. `--entrypoint X`) before
/// the image and `args` after it.
pub fn run_image(layout: &Path, tag: &str, options: &[&str], args: &[&str]) -> Output {
    // run-image.sh probes for a runtime on first use and caches the answer; two probes at
    // once disturb each other (and may settle on a worse runtime), so probe once, alone.
    static PROBED: OnceLock<()> = OnceLock::new();
    PROBED.get_or_init(|| {
        output(tool("run-image.sh").arg(busybox()).arg("true"));
    });
    output(
        tool("run-image.sh")
            .args(options)
            .arg(format!("{}:{tag}", layout.display()))
            .args(args),
    )
}

/// Path → sha256 of every file (and symlink target) under `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    use sha2::Digest as _;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.insert(rel, "dir".into());
                stack.push(p);
            } else if meta.file_type().is_symlink() {
                out.insert(
                    rel,
                    format!("-> {}", std::fs::read_link(&p).unwrap().display()),
                );
            } else {
                out.insert(
                    rel,
                    hex::encode(sha2::Sha256::digest(std::fs::read(&p).unwrap())),
                );
            }
        }
    }
    out
}

/// Parse the JSON of `kiln inspect --json`.
pub fn inspect_json(layout: &Path, tag: &str) -> serde_json::Value {
    let out = kiln([
        "inspect",
        "--json",
        &format!("oci:{}:{tag}", layout.display()),
    ])
    .success();
    serde_json::from_str(&out.stdout).unwrap()
}

/// The single `sha256:` line `kiln build` prints on stdout.
pub fn digest_of(out: &Output) -> String {
    let line = out.stdout.trim();
    assert!(
        line.starts_with("sha256:") && line.len() == 71,
        "not a digest: {line:?}\n{}",
        out.stderr
    );
    line.to_owned()
}

/// A copy of the busybox run image in `dir`, tagged `tag`, with its config changed by `edit`.
pub fn edited_busybox(
    dir: &Path,
    tag: &str,
    edit: impl FnOnce(&mut kiln_oci::ImageConfig),
) -> String {
    let src = PathBuf::from(
        busybox()
            .trim_start_matches("oci:")
            .trim_end_matches(":latest"),
    );
    copy_dir(&src, dir);
    let layout = kiln_oci::OciLayout::open(dir).unwrap();
    let base = layout.resolve(Some("latest")).unwrap();
    let mut config = base.config.clone();
    edit(&mut config);
    layout
        .write_image(tag, &config, base.manifest.layers.clone())
        .unwrap();
    format!("oci:{}:{tag}", dir.display())
}

/// `kiln build` of `app` with the provider and consumer test buildpacks on busybox into
/// `layout`, plus `extra` arguments.
pub fn build_pair(app: &Path, layout: &Path, extra: &[&str]) -> Output {
    run(&mut build_pair_command(app, layout, extra))
}

/// The command [`build_pair`] runs.
pub fn build_pair_command(app: &Path, layout: &Path, extra: &[&str]) -> Command {
    let mut cmd = kiln_command();
    cmd.arg("build")
        .arg(format!("oci:{}", layout.display()))
        .arg("--path")
        .arg(app)
        .arg("--buildpack")
        .arg(test_buildpack("provider"))
        .arg("--buildpack")
        .arg(test_buildpack("consumer"))
        .args(["--run-image", &busybox()])
        .args(extra);
    cmd
}

/// A tool script as a command (its work dir is [`tools_work_dir`]).
pub fn tool_command(script: &str) -> Command {
    tool(script)
}

/// A distribution registry on a free port of 127.0.0.1, started with `start-registry.sh`
/// (optionally with basic auth) and stopped when dropped.
pub struct TestRegistry {
    /// The port.
    pub port: u16,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    auth: Option<String>,
}

impl TestRegistry {
    /// Start a registry with empty storage; `auth` is `USER:PASS`.
    pub fn start(auth: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let _ = std::fs::remove_dir_all(tools_work_dir().join("registry").join(port.to_string()));
        let registry = Self {
            port,
            addr: format!("127.0.0.1:{port}"),
            auth: auth.map(str::to_owned),
        };
        registry.up();
        registry
    }

    /// (Re)start it on the same port, keeping its storage.
    pub fn up(&self) {
        let mut cmd = tool("start-registry.sh");
        cmd.arg(self.port.to_string());
        if let Some(a) = &self.auth {
            cmd.args(["--auth", a]);
        }
        let out = output(&mut cmd).success();
        assert_eq!(out.stdout.trim(), self.addr, "{}", out.stderr);
    }

    /// Stop it.
    pub fn stop(&self) {
        output(tool("stop-registry.sh").arg(self.port.to_string()));
    }

    /// `ADDR/REPO` (REPO may carry a tag or digest).
    pub fn reference(&self, repo: &str) -> String {
        format!("{}/{repo}", self.addr)
    }

    /// Push an `oci:DIR:TAG` image to `repo` with skopeo (`push-image.sh`); returns the
    /// manifest digest.
    pub fn push_layout(&self, image: &str, repo: &str) -> String {
        let mut cmd = tool("push-image.sh");
        if let Some(a) = &self.auth {
            cmd.args(["--creds", a]);
        }
        let out = output(cmd.arg(image).arg(self.reference(repo))).success();
        out.stdout
            .split_whitespace()
            .find(|w| w.starts_with("sha256:"))
            .unwrap_or_else(|| panic!("no digest in push-image.sh output: {}", out.stdout))
            .to_owned()
    }

    /// The manifest digest the registry serves for `repo[:tag]`, as skopeo sees it.
    pub fn digest(&self, repo: &str) -> String {
        use sha2::Digest as _;
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--raw", "--tls-verify=false"]);
        if let Some(a) = &self.auth {
            cmd.args(["--creds", a]);
        }
        let out = output(cmd.arg(format!("docker://{}", self.reference(repo)))).success();
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(out.stdout.as_bytes()))
        )
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The numbers of a `Pushed …: N blobs uploaded (X), M mounted, P already present` line:
/// (uploaded, mounted, present), from the last such line.
pub fn push_counts(stderr: &str) -> (usize, usize, usize) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("blobs uploaded") && l.starts_with("Pushed"))
        .unwrap_or_else(|| panic!("no push summary in:\n{stderr}"));
    let number_before = |word: &str| -> usize {
        let i = line
            .find(word)
            .unwrap_or_else(|| panic!("{word:?} not in {line}"));
        line[..i]
            .split(|c: char| !c.is_ascii_digit())
            .rfind(|s| !s.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    (
        number_before(" blobs uploaded"),
        number_before(" mounted"),
        number_before(" already present"),
    )
}
