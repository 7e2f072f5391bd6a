//! Finding bubblewrap and checking, once per build, that it can create its namespaces here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Environment variable naming the `bwrap` binary to use instead of the one on `PATH`.
pub const BWRAP_ENV: &str = "KILN_BWRAP";

/// The sandbox native steps of one build run in.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub(crate) bwrap: PathBuf,
    pub(crate) rootfs: PathBuf,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) hostname: String,
    pub(crate) max_processes: u32,
}

/// Native steps cannot run on this machine.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Not Linux.
    #[error(
        "native build steps need Linux (namespaces and bubblewrap); this host is {os}. Buildpacks without native steps still work here"
    )]
    Unsupported {
        /// `std::env::consts::OS`.
        os: &'static str,
    },
    /// `bwrap` is not installed.
    #[error(
        "native build steps need bubblewrap, and no `bwrap` was found on PATH{hint}: install the `bubblewrap` package (apt-get install bubblewrap, dnf install bubblewrap) or set {BWRAP_ENV} to its path"
    )]
    BwrapMissing {
        /// Where it was looked for, when set explicitly.
        hint: String,
    },
    /// `bwrap` is there but cannot create the namespaces.
    #[error(
        "bubblewrap at {path} cannot create a sandbox on this machine ({reason}); unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1, or run as root)"
    )]
    BwrapUnusable {
        /// The binary.
        path: PathBuf,
        /// What it printed.
        reason: String,
    },
    /// The rootfs directory is missing.
    #[error("the build image's root filesystem {0} is missing")]
    RootfsMissing(PathBuf),
}

impl Sandbox {
    /// Processes a step may have at once where the limit can be applied.
    pub const DEFAULT_MAX_PROCESSES: u32 = 1024;

    /// Find `bwrap` (`$KILN_BWRAP`, else `PATH`) and check that it can create a sandbox over
    /// `rootfs`, whose steps run as `uid`:`gid`.
    pub fn locate(rootfs: &Path, uid: u32, gid: u32) -> Result<Self, SandboxError> {
        if !cfg!(target_os = "linux") {
            return Err(SandboxError::Unsupported {
                os: std::env::consts::OS,
            });
        }
        if !rootfs.is_dir() {
            return Err(SandboxError::RootfsMissing(rootfs.to_path_buf()));
        }
        let bwrap = find_bwrap()?;
        probe(&bwrap)?;
        Ok(Self {
            bwrap,
            rootfs: rootfs.to_path_buf(),
            uid,
            gid,
            hostname: "kiln".into(),
            max_processes: Self::DEFAULT_MAX_PROCESSES,
        })
    }

    /// Limit the number of processes of each step (where a cgroup can be made).
    #[must_use]
    pub fn with_max_processes(mut self, max: u32) -> Self {
        self.max_processes = max.max(1);
        self
    }

    /// The rootfs steps see as `/`.
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// The `bwrap` binary in use.
    pub fn bwrap(&self) -> &Path {
        &self.bwrap
    }
}

fn find_bwrap() -> Result<PathBuf, SandboxError> {
    if let Some(explicit) = std::env::var_os(BWRAP_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(&explicit);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(SandboxError::BwrapMissing {
                hint: format!(" ({BWRAP_ENV}={} does not exist)", path.display()),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/bin".into()])
        .map(|dir| dir.join("bwrap"))
        .find(|candidate| candidate.is_file())
        .ok_or(SandboxError::BwrapMissing {
            hint: String::new(),
        })
}

/// Run the smallest sandbox that needs every namespace a step uses.
fn probe(bwrap: &Path) -> Result<(), SandboxError> {
    let unusable = |reason: String| SandboxError::BwrapUnusable {
        path: bwrap.to_path_buf(),
        reason,
    };
    let out = Command::new(bwrap)
        .args(["--unshare-all", "--unshare-user", "--cap-drop", "ALL"])
        .args(["--ro-bind", "/", "/", "--", "/bin/true"])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .map_err(|e| unusable(e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        let text = String::from_utf8_lossy(&out.stderr);
        Err(unusable(
            text.lines()
                .next()
                .unwrap_or("it exited with an error")
                .to_owned(),
        ))
    }
}
