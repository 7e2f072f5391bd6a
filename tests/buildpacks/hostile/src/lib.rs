//! Test buildpack `tests/hostile`: tries to escape the sandbox, one attempt per
//! `KILN_TEST_MODE`.
//!
//! An attempt the sandbox refuses makes the call fail with a message starting
//! `sandbox attempt <mode> refused:` followed by the error. An attempt that unexpectedly
//! succeeds makes the build pass with a launch layer `leak` whose `leak.txt` says what leaked.
//!
//! Modes: `detect-write`, `detect-loop` (during detect); `read-passwd`, `dotdot`,
//! `symlink-follow`, `plant-symlink`, `loop`, `membomb`, `network`, `env-dump` (during build);
//! `launder`, `fetch-url`, `list-downloads` (the `fetch` import, with `KILN_TEST_URL` and
//! `KILN_TEST_DIGEST`); `ok` or no mode (pass, build nothing). An unknown mode fails detect.

use std::fmt;
use std::path::Path;

use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, Error,
    LayerTypes, buildpack_id, layer_name,
};

/// The file `detect-write` tries to create in the application directory.
pub const DETECT_WRITE_FILE: &str = "hostile-detect-write.txt";

/// Size of each allocation in `membomb` mode.
const MEMBOMB_CHUNK: usize = 64 << 20;

/// One sandbox escape attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pass detect and build nothing.
    Ok,
    /// Write a file in the application directory during detect.
    DetectWrite,
    /// Spin forever in detect.
    DetectLoop,
    /// Read `/etc/passwd`.
    ReadPasswd,
    /// Read `/etc/passwd` through `..` components.
    Dotdot,
    /// Read `escape/passwd` in the app, where the test made `escape -> /etc`.
    SymlinkFollow,
    /// Leave a symlink pointing out of the layers directory in a launch layer.
    PlantSymlink,
    /// Spin forever in build.
    Loop,
    /// Allocate memory until allocation fails.
    Membomb,
    /// Connect to `KILN_TEST_ADDR` over TCP.
    Network,
    /// Record every environment variable in a launch layer.
    EnvDump,
    /// Write into the read-only download cache (`/downloads`).
    WriteDownloads,
    /// Ask for `KILN_TEST_URL` with a wrong digest, then again with any other digest the
    /// error names (laundering an unpinned download).
    Launder,
    /// Fetch `KILN_TEST_URL` pinned to `KILN_TEST_DIGEST`.
    FetchUrl,
    /// Leave two symlinks pointing at each other in a launch layer.
    SymlinkLoop,
    /// Fetch like `fetch-url` (when `KILN_TEST_URL` is set), then list every file under
    /// `/downloads` on a `downloads:` log line.
    ListDownloads,
    /// Write `KILN_TEST_FILES` (default 200000) tiny files, 1000 per directory, into a
    /// launch layer `many`.
    ManyFiles,
}

impl Mode {
    /// Every mode with its `KILN_TEST_MODE` spelling.
    pub const ALL: [(&'static str, Self); 17] = [
        ("ok", Self::Ok),
        ("detect-write", Self::DetectWrite),
        ("detect-loop", Self::DetectLoop),
        ("read-passwd", Self::ReadPasswd),
        ("dotdot", Self::Dotdot),
        ("symlink-follow", Self::SymlinkFollow),
        ("plant-symlink", Self::PlantSymlink),
        ("loop", Self::Loop),
        ("membomb", Self::Membomb),
        ("network", Self::Network),
        ("env-dump", Self::EnvDump),
        ("write-downloads", Self::WriteDownloads),
        ("launder", Self::Launder),
        ("fetch-url", Self::FetchUrl),
        ("list-downloads", Self::ListDownloads),
        ("symlink-loop", Self::SymlinkLoop),
        ("many-files", Self::ManyFiles),
    ];

    /// The mode selected by the platform environment (`ok` when `KILN_TEST_MODE` is unset).
    pub fn from_env(
        platform_env: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, Error> {
        let Some(name) = platform_env.get("KILN_TEST_MODE") else {
            return Ok(Self::Ok);
        };
        Self::ALL
            .iter()
            .find(|(spelling, _)| spelling == name)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| Error::msg(format!("tests/hostile: unknown KILN_TEST_MODE {name:?}")))
    }

    /// The `KILN_TEST_MODE` spelling.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("?", |(spelling, _)| spelling)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of an attempt the sandbox refused.
fn refused(mode: Mode, err: impl fmt::Display) -> Error {
    Error::msg(format!("sandbox attempt {mode} refused: {err}"))
}

/// Spin forever in a way the optimiser cannot remove.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Report an attempt that succeeded: a launch layer `leak` with `leak.txt`.
fn leak(ctx: &BuildContext, mode: Mode, what: &str) -> Result<BuildResult, Error> {
    kiln_sdk::log::warn(format!("sandbox attempt {mode} SUCCEEDED"));
    let mut layer = ctx.create_layer(layer_name!("leak"), LayerTypes::none().launch())?;
    layer.write_file("leak.txt", format!("{mode}\n{what}"))?;
    BuildResult::new().layer(layer).build()
}

/// Read a file, or report it as leaked.
fn read_or_refuse(ctx: &BuildContext, mode: Mode, path: &Path) -> Result<BuildResult, Error> {
    match std::fs::read_to_string(path) {
        Ok(contents) => leak(ctx, mode, &format!("read {}:\n{contents}", path.display())),
        Err(e) => Err(refused(mode, format!("{}: {e}", path.display()))),
    }
}

/// `std::os::wasi::fs::symlink_path` is unstable, so call wasi-libc's `symlink` (which std
/// links on `wasm32-wasip2`) directly.
#[cfg(target_os = "wasi")]
fn symlink(target: &str, link: &Path) -> std::io::Result<()> {
    use std::ffi::{CString, c_char, c_int};

    unsafe extern "C" {
        fn symlink(target: *const c_char, link: *const c_char) -> c_int;
    }

    let nul = |e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let target = CString::new(target).map_err(nul)?;
    let link = link
        .to_str()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "non-UTF-8 path"))?;
    let link = CString::new(link).map_err(nul)?;
    // SAFETY: both pointers are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { symlink(target.as_ptr(), link.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(all(unix, not(target_os = "wasi")))]
fn symlink(target: &str, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(any(unix, target_os = "wasi")))]
fn symlink(_target: &str, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("symlinks are not supported here"))
}

fn membomb(mode: Mode) -> Error {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let held = chunks.len() * (MEMBOMB_CHUNK >> 20);
        if let Err(e) = chunks.try_reserve(1) {
            return refused(mode, format!("{e} (after {held} MiB)"));
        }
        let mut chunk: Vec<u8> = Vec::new();
        if let Err(e) = chunk.try_reserve_exact(MEMBOMB_CHUNK) {
            return refused(mode, format!("{e} (after {held} MiB)"));
        }
        chunk.resize(MEMBOMB_CHUNK, 0xA5);
        chunks.push(std::hint::black_box(chunk));
    }
}

fn env_dump(ctx: &BuildContext) -> Result<BuildResult, Error> {
    let mut lines: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    lines.sort();
    let mut text = lines.join("\n");
    text.push('\n');
    let mut layer = ctx.create_layer(layer_name!("dump"), LayerTypes::none().launch())?;
    layer.write_file("vars.txt", text)?;
    BuildResult::new().layer(layer).build()
}

/// The hostile test buildpack.
#[derive(Default)]
pub struct Hostile;

impl Buildpack for Hostile {
    type Error = Error;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("tests/hostile"), "0.1.0")
            .name("Test hostile")
            .description("Attempts to escape the sandbox")
    }

    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, Error> {
        let mode = Mode::from_env(&ctx.platform_env)?;
        match mode {
            Mode::DetectWrite => {
                let path = ctx.app_dir.join(DETECT_WRITE_FILE);
                std::fs::write(&path, "written during detect\n")
                    .map_err(|e| refused(mode, format!("{}: {e}", path.display())))?;
            }
            Mode::DetectLoop => spin(),
            _ => {}
        }
        Ok(DetectResult::pass())
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, Error> {
        let mode = Mode::from_env(&ctx.detect.platform_env)?;
        match mode {
            Mode::Ok => BuildResult::new().build(),
            Mode::DetectWrite => {
                let path = ctx.app_dir().join(DETECT_WRITE_FILE);
                leak(&ctx, mode, &format!("detect wrote {}", path.display()))
            }
            Mode::DetectLoop => leak(&ctx, mode, "detect returned from its loop"),
            Mode::ReadPasswd => read_or_refuse(&ctx, mode, Path::new("/etc/passwd")),
            Mode::Dotdot => {
                let relative = Path::new("../../../../etc/passwd");
                let absolute = ctx.app_dir().join("../../etc/passwd");
                let mut errors = Vec::new();
                for path in [relative, absolute.as_path()] {
                    match std::fs::read_to_string(path) {
                        Ok(contents) => {
                            return leak(
                                &ctx,
                                mode,
                                &format!("read {}:\n{contents}", path.display()),
                            );
                        }
                        Err(e) => errors.push(format!("{}: {e}", path.display())),
                    }
                }
                Err(refused(mode, errors.join("; ")))
            }
            Mode::SymlinkFollow => {
                let path = ctx.app_dir().join("escape").join("passwd");
                read_or_refuse(&ctx, mode, &path)
            }
            Mode::PlantSymlink => {
                let layer =
                    ctx.create_layer(layer_name!("planted"), LayerTypes::none().launch())?;
                let link = layer.path().join("evil");
                symlink("../../../../../etc", &link)
                    .map_err(|e| refused(mode, format!("{}: {e}", link.display())))?;
                kiln_sdk::log::info(format!("planted {} -> ../../../../../etc", link.display()));
                BuildResult::new().layer(layer).build()
            }
            Mode::SymlinkLoop => {
                let layer = ctx.create_layer(layer_name!("looped"), LayerTypes::none().launch())?;
                for (link, target) in [("a", "b"), ("b", "a")] {
                    let path = layer.path().join(link);
                    symlink(target, &path)
                        .map_err(|e| refused(mode, format!("{}: {e}", path.display())))?;
                }
                BuildResult::new().layer(layer).build()
            }
            Mode::Loop => spin(),
            Mode::Membomb => Err(membomb(mode)),
            Mode::Network => {
                let addr = ctx
                    .detect
                    .platform_env
                    .get("KILN_TEST_ADDR")
                    .ok_or_else(|| {
                        Error::msg("sandbox attempt network: KILN_TEST_ADDR is not set")
                    })?;
                match std::net::TcpStream::connect(addr.as_str()) {
                    Ok(stream) => {
                        let peer = stream
                            .peer_addr()
                            .map_or_else(|e| format!("? ({e})"), |a| a.to_string());
                        leak(&ctx, mode, &format!("connected to {addr} (peer {peer})"))
                    }
                    Err(e) => Err(refused(mode, format!("{addr}: {e}"))),
                }
            }
            Mode::EnvDump => env_dump(&ctx),
            Mode::ManyFiles => many_files(&ctx),
            Mode::Launder => launder(&ctx, mode),
            Mode::FetchUrl => {
                let file = fetch_test_url(&ctx).map_err(|e| refused(mode, e))?;
                leak(&ctx, mode, &format!("fetched {}", file.path.display()))
            }
            Mode::ListDownloads => {
                if ctx.detect.platform_env.contains_key("KILN_TEST_URL") {
                    fetch_test_url(&ctx).map_err(|e| refused(mode, e))?;
                }
                let mut files = Vec::new();
                list_files(Path::new("/downloads"), &mut files);
                files.sort();
                kiln_sdk::log::info(format!("downloads: {}", files.join(",")));
                BuildResult::new().build()
            }
            Mode::WriteDownloads => {
                let path = Path::new("/downloads/sha256/planted");
                match std::fs::write(path, b"planted") {
                    Ok(()) => leak(&ctx, mode, &format!("wrote {}", path.display())),
                    Err(e) => Err(refused(mode, format!("{}: {e}", path.display()))),
                }
            }
        }
    }
}

fn test_env<'a>(ctx: &'a BuildContext, name: &str) -> Result<&'a str, Error> {
    ctx.detect
        .platform_env
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| Error::msg(format!("tests/hostile: {name} is not set")))
}

fn fetch_test_url(ctx: &BuildContext) -> Result<kiln_sdk::fetch::Fetched, String> {
    let url = test_env(ctx, "KILN_TEST_URL").map_err(|e| e.to_string())?;
    let digest = test_env(ctx, "KILN_TEST_DIGEST").map_err(|e| e.to_string())?;
    kiln_sdk::fetch::fetch(&kiln_sdk::fetch::Download::pinned(url, digest))
        .map_err(|e| format!("{:?}: {}", e.kind, e.message))
}

/// Every `sha256:<64 hex>` in `text`.
fn sha256_digests(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("sha256:") {
        let hex: String = rest[at + 7..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if hex.len() == 64 {
            found.push(format!("sha256:{hex}"));
        }
        rest = &rest[at + 7..];
    }
    found
}

fn launder(ctx: &BuildContext, mode: Mode) -> Result<BuildResult, Error> {
    let url = test_env(ctx, "KILN_TEST_URL")?;
    let wrong = format!("sha256:{}", "0".repeat(64));
    let first = match kiln_sdk::fetch::fetch(&kiln_sdk::fetch::Download::pinned(url, &wrong)) {
        Ok(f) => {
            return leak(
                ctx,
                mode,
                &format!("a wrong digest was accepted: {}", f.path.display()),
            );
        }
        Err(e) => e.message,
    };
    for candidate in sha256_digests(&first).into_iter().filter(|d| *d != wrong) {
        if let Ok(f) = kiln_sdk::fetch::fetch(&kiln_sdk::fetch::Download::pinned(url, &candidate)) {
            return leak(
                ctx,
                mode,
                &format!("laundered {url} as {candidate} into {}", f.path.display()),
            );
        }
    }
    Err(refused(mode, first))
}

fn list_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            list_files(&path, out);
        } else {
            out.push(path.display().to_string());
        }
    }
}

kiln_sdk::export_buildpack!(Hostile);

/// `many-files`: a launch layer of many tiny files.
fn many_files(ctx: &BuildContext) -> Result<BuildResult, Error> {
    let count: usize = ctx
        .detect
        .platform_env
        .get("KILN_TEST_FILES")
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let layer = ctx.create_layer(layer_name!("many"), LayerTypes::none().launch())?;
    for i in 0..count {
        let dir = layer.path().join(format!("d{:04}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&dir).map_err(|e| Error::msg(format!("{e}")))?;
        }
        std::fs::write(dir.join(format!("f{i:07}")), format!("file {i}\n"))
            .map_err(|e| Error::msg(format!("{e}")))?;
    }
    kiln_sdk::log::info(format!("wrote {count} files"));
    BuildResult::new().layer(layer).build()
}
