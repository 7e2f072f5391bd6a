//! The only module that uses the Kiln host's API (`kiln::…`). When the host's module paths
//! change, this is the one file to rewire; the rest of the crate sees [`HostRequest`],
//! [`HostLog`] and [`run_build`]/[`run_detect`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kiln::image_ref::ImageRef;
use kiln::pipeline::{self, Event, OutputTarget, Reporter, Request};
use kiln::services::Services;
use kiln_runtime::LogLevel;

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
    /// The build image reference, if any.
    pub build_image: Option<String>,
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
    fn report(&self, event: &Event<'_>) {
        let host = |severity, text: String| LogLine::host(severity, text);
        self.push(match *event {
            Event::PhaseStarted(phase) => host(Severity::Info, format!("===> {phase}")),
            Event::Info(message) => host(Severity::Info, message.to_owned()),
            Event::Debug(message) => host(Severity::Debug, message.to_owned()),
            Event::Warning(message) => host(Severity::Warn, format!("warning: {message}")),
            Event::LayerAdded { name, diff_id } => host(
                Severity::Info,
                format!("Adding layer {name} ({})", diff_id.short()),
            ),
            Event::LayerReused { name, diff_id } => host(
                Severity::Info,
                format!("Reusing layer {name} ({})", diff_id.short()),
            ),
            Event::Buildpack { id, level, line } => {
                let severity = match level {
                    LogLevel::Debug => Severity::Debug,
                    LogLevel::Info => Severity::Info,
                    LogLevel::Warn => Severity::Warn,
                    LogLevel::Error => Severity::Error,
                };
                LogLine::buildpack(id, severity, line.to_owned())
            }
        });
    }
}

/// Caches (from `KILN_CACHE_DIR` or the user's), default registry settings and an async
/// runtime, for one host call.
fn services() -> Result<Services, HostFailure> {
    Services::from_env().map_err(|e| HostFailure {
        message: format!("could not start the host's I/O runtime: {e}"),
        exit_code: 1,
    })
}

fn image_ref(what: &str, input: &str) -> Result<ImageRef, HostFailure> {
    ImageRef::parse(input).map_err(|e| HostFailure {
        message: format!("{what}: {e}"),
        exit_code: 3,
    })
}

fn request(r: &HostRequest, services: Services) -> Result<Request, HostFailure> {
    let mut request = Request::new(&r.app, services);
    request.buildpacks.clone_from(&r.buildpacks);
    request.run_image = image_ref("run image", &r.run_image)?;
    request.build_image = r
        .build_image
        .as_deref()
        .map(|b| image_ref("build image", b))
        .transpose()?;
    for (name, value) in &r.env {
        request.env.set(name, value);
    }
    request.exec_env.clone_from(&r.exec_env);
    request.layers_dir = Some(r.layers_dir.clone());
    request.cache_dir = Some(r.cache_dir.clone());
    request.compile_cache.clone_from(&r.compile_cache);
    request.previous_image = r
        .previous_image
        .as_deref()
        .map(|p| image_ref("previous image", p))
        .transpose()?;
    request.fetch.cache_dir = Some(r.download_cache.clone());
    request
        .fetch
        .policy
        .network_allow
        .clone_from(&r.network_allow);
    request.fetch.policy.offline = r.offline;
    Ok(request)
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
    let services = services()?;
    let output = OutputTarget::parse(&format!("oci:{}:{tag}", layout.display()), &services)
        .map_err(|e| failure(&e))?;
    let reporter: Arc<dyn Reporter> = Arc::new(log.clone());
    let summary =
        pipeline::build(&request(r, services)?, &output, &reporter).map_err(|e| failure(&e))?;
    Ok(HostBuild {
        digest: summary.export.manifest_digest.to_string(),
        default_process: summary.default_process,
    })
}

/// The default precompiled-component cache (`$KILN_CACHE_DIR/components` or the user's).
pub(crate) fn default_compile_cache() -> Option<PathBuf> {
    kiln_fs::CachePaths::from_env().components()
}

/// Detect only: the `group.toml` and `plan.toml` texts.
pub(crate) fn run_detect(r: &HostRequest, log: &HostLog) -> Result<(String, String), HostFailure> {
    let reporter: Arc<dyn Reporter> = Arc::new(log.clone());
    pipeline::detect_only(&request(r, services()?)?, &reporter).map_err(|e| failure(&e))
}
