//! Helpers for Kiln's end-to-end tests: the test buildpack components (compiled by `build.rs`
//! from `tests/buildpacks/`), the `kiln` binary, fixtures, and directory copying.

use std::path::{Path, PathBuf};

/// (short name, path of the compiled `.wasm` component) of every test buildpack.
const TEST_BUILDPACKS: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/test_buildpacks.rs"));

/// Short names of the test buildpacks: `provider`, `consumer`, `hostile`, `raw`,
/// `not-buildpack`, `native`, and the real `procfile` buildpack as a component file.
pub const TEST_BUILDPACK_NAMES: &[&str] = &[
    "provider",
    "consumer",
    "hostile",
    "raw",
    "not-buildpack",
    "native",
    "procfile",
];

/// Path of the compiled component of the test buildpack `name` (e.g. `"provider"`).
///
/// # Panics
///
/// If `name` is not one of [`TEST_BUILDPACK_NAMES`] or its file is missing.
pub fn test_buildpack(name: &str) -> PathBuf {
    let Some((_, path)) = TEST_BUILDPACKS.iter().find(|(n, _)| *n == name) else {
        panic!("unknown test buildpack {name:?}; known: {TEST_BUILDPACK_NAMES:?}");
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "test buildpack {name:?} is missing at {}; rebuild with `cargo build -p kiln-tests`",
        path.display()
    );
    path
}

/// The `kiln` binary of the same build as the running test: the test executable is
/// `target/<profile>/deps/<test>`, the binary `target/<profile>/kiln`. `cargo test
/// --workspace` builds it (the `kiln` package has integration tests); when it is missing, or
/// older than a source it is built from (after `cargo test -p kiln-tests` alone), it is
/// rebuilt once per test process with `cargo build -p kiln`. `KILN_BIN` overrides all this.
///
/// # Panics
///
/// If the binary cannot be built.
pub fn kiln_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("KILN_BIN") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("path of the test executable");
        let profile_dir = exe
            .parent()
            .and_then(|deps| {
                if deps.ends_with("deps") {
                    deps.parent()
                } else {
                    Some(deps)
                }
            })
            .expect("test executable has a parent directory");
        let bin = profile_dir.join(format!("kiln{}", std::env::consts::EXE_SUFFIX));
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if !is_fresh(&bin, &root) {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            if let Some(rustc) = option_env!("KILN_TESTS_RUSTC") {
                cmd.env("RUSTC", rustc);
            }
            cmd.current_dir(&root)
                .args(["build", "--quiet", "-p", "kiln", "--bin", "kiln"]);
            if profile_dir.ends_with("release") {
                cmd.arg("--release");
            }
            if let Some(target_dir) = profile_dir.parent() {
                cmd.arg("--target-dir").arg(target_dir);
            }
            let status = cmd.status().expect("run cargo to build the kiln binary");
            assert!(status.success(), "building the kiln binary failed");
        }
        assert!(
            bin.is_file(),
            "the kiln binary is missing at {}",
            bin.display()
        );
        bin
    })
    .clone()
}

/// True when `bin` exists and is newer than every source file it is built from.
fn is_fresh(bin: &Path, root: &Path) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let mut stack: Vec<PathBuf> = [
        "host",
        "launcher/src",
        "sdk/src",
        "spec/src",
        "wit",
        "buildpacks-wasm",
        "build-support/src",
    ]
    .iter()
    .map(|d| root.join(d))
    .collect();
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
            }
        } else if meta.modified().is_ok_and(|m| m > built) {
            return false;
        }
    }
    true
}

/// The fixtures directory, `tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The fixture `name` in `tests/fixtures` (e.g. `"procfile-app"`).
///
/// # Panics
///
/// If it does not exist.
pub fn fixture(name: &str) -> PathBuf {
    let path = fixtures_dir().join(name);
    assert!(path.exists(), "no fixture {}", path.display());
    path
}

/// Copy the directory `src` to `dst` recursively, creating `dst` if needed. Symlinks are
/// copied as symlinks (never followed); file permissions are kept.
///
/// # Panics
///
/// On any I/O error, naming the path.
pub fn copy_dir(src: impl AsRef<Path>, dst: impl AsRef<Path>) {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    std::fs::create_dir_all(dst).unwrap_or_else(|e| panic!("create {}: {e}", dst.display()));
    let entries = std::fs::read_dir(src).unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read {}: {e}", src.display()));
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let kind = entry
            .file_type()
            .unwrap_or_else(|e| panic!("stat {}: {e}", from.display()));
        if kind.is_symlink() {
            let target = std::fs::read_link(&from)
                .unwrap_or_else(|e| panic!("readlink {}: {e}", from.display()));
            symlink(&target, &to);
        } else if kind.is_dir() {
            copy_dir(&from, &to);
        } else {
            std::fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        }
    }
}

/// Create the symlink `link -> target`.
///
/// # Panics
///
/// On failure, or on platforms without symlinks.
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    let (target, link) = (target.as_ref(), link.as_ref());
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", link.display(), target.display()));
    #[cfg(not(unix))]
    panic!(
        "cannot create symlink {} -> {} on this platform",
        link.display(),
        target.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_test_buildpack_is_a_component() {
        assert_eq!(TEST_BUILDPACK_NAMES.len(), TEST_BUILDPACKS.len());
        for name in TEST_BUILDPACK_NAMES {
            let bytes = std::fs::read(test_buildpack(name)).unwrap();
            // Magic and the component-model layer (not a core module).
            assert_eq!(&bytes[..8], b"\0asm\x0d\x00\x01\x00", "{name}");
        }
    }

    #[test]
    #[should_panic(expected = "unknown test buildpack")]
    fn unknown_test_buildpack_panics() {
        test_buildpack("nope");
    }

    #[test]
    fn fixtures_exist() {
        assert!(fixture("procfile-app").join("Procfile").is_file());
        assert!(fixture("plan-app").is_dir());
        assert!(fixture("empty-app").join(".keep").is_file());
    }

    #[cfg(unix)]
    #[test]
    fn copy_dir_keeps_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/file.txt"), "x").unwrap();
        symlink("/etc", src.join("escape"));
        symlink("sub/file.txt", src.join("rel"));
        let dst = tmp.path().join("dst");
        copy_dir(&src, &dst);
        assert_eq!(
            std::fs::read_to_string(dst.join("sub/file.txt")).unwrap(),
            "x"
        );
        assert_eq!(
            std::fs::read_link(dst.join("escape")).unwrap(),
            Path::new("/etc")
        );
        assert_eq!(
            std::fs::read_link(dst.join("rel")).unwrap(),
            Path::new("sub/file.txt")
        );
        assert!(
            std::fs::symlink_metadata(dst.join("escape"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
}
