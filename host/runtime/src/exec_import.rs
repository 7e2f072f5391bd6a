//! The `exec` import: one native command in the build image, through [`kiln_sandbox`], with
//! the calling buildpack's own grants as mounts. Outside `build`, or without a build image,
//! every request is refused.

use std::sync::Arc;
use std::time::Duration;

use super::bindings::kiln::buildpack::exec as wit;
use super::{HostState, LogLevel};
use kiln_sandbox::{Mount, Sandbox, Step, StepError, Stream};

/// Largest captured stdout returned to the guest.
pub const MAX_CAPTURED_STDOUT: usize = 1 << 20;

/// Default wall-clock limit of one native step.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_mins(15);

/// Native steps of a build: the sandbox over the build image, and the limit of one step.
#[derive(Debug, Clone)]
pub struct NativeSteps {
    /// The sandbox, over the build image's rootfs.
    pub sandbox: Arc<Sandbox>,
    /// Wall-clock limit of one step (and the most a step may ask for).
    pub timeout: Duration,
}

/// Why this build cannot run native steps, told to a buildpack that asks for one.
pub const NO_BUILD_IMAGE: &str = "this build has no build image, so native commands cannot run: pass `kiln build --build-image REF` (oci:DIR[:TAG], docker-archive:FILE or a registry image holding the tools the buildpack runs), or set it in project.toml under [io.kiln] build-image";

/// What `exec` may do during one call.
#[derive(Debug, Clone)]
pub enum ExecGrant {
    /// Commands run in this sandbox with these mounts.
    Allowed {
        /// The build's native steps.
        native: NativeSteps,
        /// The call's grants, as mounts.
        mounts: Vec<Mount>,
        /// The build's `SOURCE_DATE_EPOCH`.
        source_date_epoch: u64,
    },
    /// Refused, with the reason and the error kind to report.
    Refused(wit::ExecErrorKind, String),
}

fn refusal(kind: wit::ExecErrorKind, message: impl Into<String>) -> wit::ExecError {
    wit::ExecError {
        kind,
        message: message.into(),
    }
}

impl wit::Host for HostState {
    fn run(&mut self, command: wit::Command) -> Result<wit::Exited, wit::ExecError> {
        let (native, mounts, source_date_epoch) = match &self.exec {
            ExecGrant::Allowed {
                native,
                mounts,
                source_date_epoch,
            } => (native.clone(), mounts.clone(), *source_date_epoch),
            ExecGrant::Refused(kind, why) => return Err(refusal(*kind, why.clone())),
        };
        let requested = Duration::from_secs(u64::from(command.timeout_seconds));
        let timeout = if requested.is_zero() {
            native.timeout
        } else {
            requested.min(native.timeout)
        };
        let step = Step {
            argv: command.argv,
            env: command
                .env
                .into_iter()
                .map(|kv| (kv.key, kv.value))
                .collect(),
            cwd: command.cwd,
            timeout,
            mounts,
            source_date_epoch,
            capture_stdout: command.capture_stdout.then_some(MAX_CAPTURED_STDOUT),
        };
        let program = step.argv.first().cloned().unwrap_or_default();
        (self.log)(
            &self.buildpack,
            LogLevel::Debug,
            &format!("exec {} (in {})", step.argv.join(" "), step.cwd),
        );
        let log = self.log.clone();
        let buildpack = self.buildpack.clone();
        let budget = &mut self.log_budget;
        let mut on_line = |line: kiln_sandbox::OutputLine| {
            if *budget == 0 {
                return;
            }
            if line.text.len() > *budget {
                log(&buildpack, LogLevel::Warn, "[log output truncated]");
                *budget = 0;
                return;
            }
            *budget -= line.text.len();
            let level = match line.stream {
                Stream::Stdout => LogLevel::Info,
                Stream::Stderr => LogLevel::Warn,
            };
            log(&buildpack, level, &line.text);
        };
        match native.sandbox.run(&step, &mut on_line) {
            Ok(finished) => Ok(wit::Exited {
                code: finished.code,
                stdout: finished.stdout,
            }),
            Err(StepError::Invalid(why)) => Err(refusal(
                wit::ExecErrorKind::Invalid,
                format!("exec {program}: {why}"),
            )),
            Err(e @ StepError::TimedOut { .. }) => Err(refusal(
                wit::ExecErrorKind::TimedOut,
                format!("exec {program}: {e}"),
            )),
            Err(e @ StepError::Host { .. }) => {
                tracing::warn!(buildpack = %self.buildpack, "native step failed on the host: {e}");
                Err(refusal(
                    wit::ExecErrorKind::Failed,
                    format!(
                        "exec {program}: the host could not run the sandbox (see the kiln log)"
                    ),
                ))
            }
        }
    }
}
