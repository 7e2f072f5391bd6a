//! Running what a test build made: a busybox run image to build on, and a process of the
//! image in a container (runc or crun, through the project's `tools/run-image.sh`), skipped
//! cleanly where no container runtime is usable.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use crate::HarnessError;
use crate::output::BuildOutput;

/// The Kiln source checkout this crate belongs to (its `tools/` run and make images).
fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        Path::to_path_buf,
    )
}

/// The tools' work dir: `$KILN_TOOLS_DIR`, else `target/kiln-tools` of the checkout (shared
/// with Kiln's own end-to-end tests).
fn tools_work_dir() -> PathBuf {
    std::env::var_os("KILN_TOOLS_DIR")
        .map_or_else(|| source_dir().join("target/kiln-tools"), PathBuf::from)
}

fn tool(script: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(source_dir().join("tools").join(script))
        .env("KILN_TOOLS_DIR", tools_work_dir());
    cmd
}

/// `oci:` reference of a reproducible busybox run image (made once with
/// `tools/make-busybox-base.sh`, from Debian's `busybox-static`).
pub fn busybox_run_image() -> Result<String, HarnessError> {
    static MAKING: Mutex<()> = Mutex::new(());
    let _guard = MAKING.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tools_work_dir().join("images/busybox");
    if !dir.join("index.json").is_file() {
        let out = tool("make-busybox-base.sh")
            .output()
            .map_err(HarnessError::io("run", "tools/make-busybox-base.sh"))?;
        if !out.status.success() {
            return Err(HarnessError::Tool {
                tool: "make-busybox-base.sh".to_owned(),
                message: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
    }
    Ok(format!("oci:{}:latest", dir.display()))
}

/// What a process of the image printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOutput {
    /// Exit code (`-1` when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// The outcome of [`BuildOutput::run_process`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessRun {
    /// The process ran.
    Ran(ProcessOutput),
    /// No usable container runtime here; the reason.
    Skipped(String),
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The runtime to use, or why there is none.
fn runtime() -> Result<&'static str, String> {
    if !source_dir().join("tools/run-image.sh").is_file() {
        return Err("the Kiln checkout's tools/run-image.sh is missing".to_owned());
    }
    if !is_root() {
        return Err("running images needs root (runc/crun bundles)".to_owned());
    }
    if !on_path("umoci") {
        return Err("umoci is not installed (it unpacks the image)".to_owned());
    }
    ["runc", "crun"]
        .into_iter()
        .find(|r| on_path(r))
        .ok_or_else(|| "neither runc nor crun is installed".to_owned())
}

impl BuildOutput {
    /// Run the process `process_type` of the image with `args` in a container, or skip
    /// (with the reason) when no runtime is usable. Needs a run image with the process's
    /// programs (e.g. [`busybox_run_image`]).
    pub fn run_process(
        &self,
        process_type: &str,
        args: &[&str],
    ) -> Result<ProcessRun, HarnessError> {
        let via = match runtime() {
            Ok(via) => via,
            Err(reason) => return Ok(ProcessRun::Skipped(reason)),
        };
        let image = format!("{}:{}", self.image.layout.display(), self.image.tag);
        let out = tool("run-image.sh")
            .args(["--via", via, "--entrypoint"])
            .arg(format!("/cnb/process/{process_type}"))
            .arg(&image)
            .args(args)
            .output()
            .map_err(HarnessError::io("run", "tools/run-image.sh"))?;
        Ok(ProcessRun::Ran(ProcessOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }))
    }
}
