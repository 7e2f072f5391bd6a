//! The only module that uses the Kiln host's API (`kiln::…`). When the host's module paths
//! change, this is the one file to rewire; the rest of the crate sees [`HostRequest`],
//! [`HostLog`] and [`run_build`]/[`run_detect`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kiln::pipeline::{self, OutputTarget, Reporter, Request};
use kiln::runtime::LogLevel;

use crate::output::{LogLine, Severity};

/// What a test build asks the host for, in the harness's own terms.
#[derive(Debug, Clone)]
pub(crate) struct HostRequest {
    /// The app directory (the host copies it; it is never written).
    pub app: PathBuf,
    /// Buildpack references, in group order (`.wasm`, directory, embedded id).
    pub buildpacks: Vec<String>,
    /// `scratch`, `oci:DIR[:TAG]`, …
    pub run_image: String,
    /// Platform env (`--env`).
    pub env: Vec<(String, String)>,
    /// Execution environment.
    pub exec_env: String,
    /// Where the host keeps the CNB layers directory (must be absent or empty).
    pub layers_dir: PathBuf,
    /// The layer cache.
    pub cache_dir: PathBuf,
    /// The download cache.
    pub download_cache: PathBuf,
    /// The precompiled-component cache (`None`: compile in memory).
    pub compile_cache: Option<PathBuf>,
    /// The previous image (`None`: the output, if it exists).
    pub previous_image: Option<String>,
    /// Hosts downloads may use, including loopback fixture servers.
    pub network_allow: Vec<String>,
    /// Downloads only from the download cache.
    pub offline: bool,
}

/// A failed host call: the error text with its causes and the `kiln` exit code.
#[derive(Debug, Clone)]
pub(crate) struct HostFailure {
    pub message: String,
    pub exit_code: u8,
}

/// A finished build, in the harness's terms.
#[derive(Debug, Clone)]
pub(crate) struct HostBuild {
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    /// The default process type.
    pub default_process: Option<String>,
}

/// Collects what the host reports: buildpack lines and the host's own progress.
#[derive(Debug, Default, Clone)]
pub(crate) struct HostLog {
    lines: Arc<Mutex<Vec<LogLine>>>,
}

impl HostLog {
    pub(crate) fn take(&self) -> Vec<LogLine> {
        std::mem::take(
            &mut *self
                .lines
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn push(&self, line: LogLine) {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }
}

impl Reporter for HostLog {
    fn phase(&self, name: &str) {
        self.push(LogLine::host(Severity::Info, format!("===> {name}")));
    }

    fn info(&self, message: &str) {
        self.push(LogLine::host(Severity::Info, message.to_owned()));
    }

    fn debug(&self, message: &str) {
        self.push(LogLine::host(Severity::Debug, message.to_owned()));
    }

    fn buildpack(&self, id: &str, level: LogLevel, line: &str) {
        let severity = match level {
            LogLevel::Debug => Severity::Debug,
            LogLevel::Info => Severity::Info,
            LogLevel::Warn => Severity::Warn,
            LogLevel::Error => Severity::Error,
        };
        self.push(LogLine::buildpack(id, severity, line.to_owned()));
    }
}

fn request(r: &HostRequest) -> Request {
    let mut request = Request::new(&r.app);
    request.buildpacks.clone_from(&r.buildpacks);
    request.run_image.clone_from(&r.run_image);
    for (name, value) in &r.env {
        request.env.set(name, value);
    }
    request.exec_env.clone_from(&r.exec_env);
    request.layers_dir = Some(r.layers_dir.clone());
    request.cache_dir = Some(r.cache_dir.clone());
    request.compile_cache.clone_from(&r.compile_cache);
    request.previous_image.clone_from(&r.previous_image);
    request.fetch.cache_dir = Some(r.download_cache.clone());
    request
        .fetch
        .policy
        .network_allow
        .clone_from(&r.network_allow);
    request.fetch.policy.offline = r.offline;
    request
}

fn failure(err: &kiln::error::Error) -> HostFailure {
    HostFailure {
        message: kiln::error::chain(err),
        exit_code: err.exit_code(),
    }
}

/// Build `r` into the OCI layout `layout` (tag `tag`).
pub(crate) fn run_build(
    r: &HostRequest,
    layout: &std::path::Path,
    tag: &str,
    log: &HostLog,
) -> Result<HostBuild, HostFailure> {
    let output =
        OutputTarget::parse(&format!("oci:{}:{tag}", layout.display())).map_err(|e| failure(&e))?;
    let reporter: Arc<dyn Reporter> = Arc::new(log.clone());
    let summary = pipeline::build(&request(r), &output, &reporter).map_err(|e| failure(&e))?;
    Ok(HostBuild {
        digest: summary.export.manifest_digest.to_string(),
        default_process: summary.default_process,
    })
}

/// The default precompiled-component cache (`$KILN_CACHE_DIR/components` or the user's).
pub(crate) fn default_compile_cache() -> Option<PathBuf> {
    pipeline::default_compile_cache()
}

/// Detect only: the `group.toml` and `plan.toml` texts.
pub(crate) fn run_detect(r: &HostRequest, log: &HostLog) -> Result<(String, String), HostFailure> {
    let reporter: Arc<dyn Reporter> = Arc::new(log.clone());
    pipeline::detect_only(&request(r), &reporter).map_err(|e| failure(&e))
}
