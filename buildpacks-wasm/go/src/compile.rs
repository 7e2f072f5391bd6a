//! `go build` in the build image, offline: one command per target, with the environment that
//! points Go at the buildpack's layers (GOROOT, caches, the file-system module proxy) and
//! keeps it from reaching the network or another toolchain.

use std::path::{Path, PathBuf};

use kiln_sdk::exec::{Command, ExecFailure};

use crate::error::GoError;
use crate::targets::Target;

/// The `PATH` native steps get when the environment has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables that would send some modules around the proxy (to their VCS) or to a checksum
/// database; removed from the command's environment.
const REMOVED: [&str; 3] = ["GOPRIVATE", "GONOPROXY", "GONOSUMDB"];

/// Where modules come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modules {
    /// The file-system proxy at this directory.
    Proxy(PathBuf),
    /// The app's `vendor/` directory.
    Vendor,
    /// None are needed.
    None,
}

/// The directories and settings of a build.
#[derive(Debug, Clone)]
pub struct Setup {
    /// GOROOT.
    pub goroot: PathBuf,
    /// GOROOT-relative paths of the toolchain's executables.
    pub goroot_executables: Vec<String>,
    /// GOCACHE.
    pub gocache: PathBuf,
    /// GOMODCACHE.
    pub gomodcache: PathBuf,
    /// Where modules come from.
    pub modules: Modules,
    /// `CGO_ENABLED`.
    pub cgo_enabled: String,
    /// The app directory (the working directory).
    pub app_dir: PathBuf,
}

impl Setup {
    /// The environment changes of every `go` command, in order.
    pub fn env(&self, inherited_path: Option<&str>) -> Vec<(String, String)> {
        let goroot_bin = self.goroot.join("bin");
        let path = format!(
            "{}:{}",
            goroot_bin.display(),
            inherited_path
                .filter(|p| !p.is_empty())
                .unwrap_or(DEFAULT_PATH)
        );
        let (goproxy, goflags) = match &self.modules {
            Modules::Proxy(dir) => (format!("file://{}", dir.display()), "-mod=mod -modcacherw"),
            Modules::Vendor => ("off".to_owned(), "-mod=vendor"),
            Modules::None => ("off".to_owned(), "-mod=mod -modcacherw"),
        };
        let vars = [
            ("GOROOT", self.goroot.display().to_string()),
            ("PATH", path),
            ("GOCACHE", self.gocache.display().to_string()),
            ("GOMODCACHE", self.gomodcache.display().to_string()),
            ("GOPROXY", goproxy),
            ("GOSUMDB", "off".to_owned()),
            ("GOFLAGS", goflags.to_owned()),
            ("GOTOOLCHAIN", "local".to_owned()),
            ("GOTELEMETRY", "off".to_owned()),
            ("GOWORK", "off".to_owned()),
            ("CGO_ENABLED", self.cgo_enabled.clone()),
        ];
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// The `go build` command writing `target`'s binary into `bin_dir`.
    pub fn command(&self, target: &Target, bin_dir: &Path) -> Command {
        let output = bin_dir.join(&target.binary);
        let mut cmd = Command::new(self.goroot.join("bin/go").display().to_string())
            .args([
                "build",
                "-trimpath",
                "-buildvcs=false",
                "-ldflags=-buildid=",
                "-o",
            ])
            .arg(output.display().to_string())
            .arg(target.package.clone())
            .envs(self.env(std::env::var("PATH").ok().as_deref()))
            .current_dir(&self.app_dir);
        for var in REMOVED {
            cmd = cmd.env_remove(var);
        }
        cmd
    }

    /// The command that gives the toolchain's executables their mode: the host unpacks
    /// archives without file modes (only the image export applies them), and `go` runs its
    /// tools natively.
    pub fn chmod_command(&self) -> Command {
        Command::new("chmod")
            .arg("755")
            .args(self.goroot_executables.iter().cloned())
            .current_dir(&self.goroot)
    }

    /// Build every target into `bin_dir`.
    pub fn build_all(&self, targets: &[Target], bin_dir: &Path) -> Result<(), GoError> {
        if !self.goroot_executables.is_empty() {
            self.chmod_command()
                .run()
                .map_err(|source| GoError::ToolchainModes { source })?;
        }
        for target in targets {
            kiln_sdk::log::info(format!("go build {} -> {}", target.package, target.binary));
            match self.command(target, bin_dir).run() {
                Ok(()) => {}
                Err(kiln_sdk::Error::Exec {
                    source: ExecFailure::Exit(code),
                    ..
                }) => {
                    return Err(GoError::BuildFailed {
                        package: target.package.clone(),
                        code,
                    });
                }
                Err(source) => {
                    return Err(GoError::Exec {
                        package: target.package.clone(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}
