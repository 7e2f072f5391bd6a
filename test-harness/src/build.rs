//! [`TestBuild`]: one app, a group of buildpacks, the real host in-process.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::HarnessError;
use crate::component::BuildpackRef;
use crate::host::{self, HostLog, HostRequest};
use crate::output::{self, BuildOutput, DetectOutput, ImageOutput};

/// The tag of the image a test build writes.
const TAG: &str = "latest";

/// The harness's private directory: the image layout, layer cache, download cache and one
/// layers directory per run. Shared by a build and its rebuilds; removed with the last.
#[derive(Debug)]
struct WorkDir {
    dir: tempfile::TempDir,
    runs: AtomicUsize,
}

/// A build of an app with the real Kiln host, in-process: real components, real sandbox,
/// no Docker and no daemon.
///
/// ```no_run
/// use kiln_test::{BuildpackRef, TestBuild};
///
/// let out = TestBuild::new("tests/fixtures/app")
///     .buildpack(BuildpackRef::crate_at(env!("CARGO_MANIFEST_DIR")))
///     .env("GREETING", "hi")
///     .run();
/// assert_eq!(out.process("web").unwrap().command, ["hello"]);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TestBuild {
    app: PathBuf,
    buildpacks: Vec<BuildpackRef>,
    run_image: String,
    build_image: Option<String>,
    env: Vec<(String, String)>,
    exec_env: String,
    network_allow: Vec<String>,
    offline: bool,
    compile_cache: Option<PathBuf>,
    work: Option<Arc<WorkDir>>,
}

impl TestBuild {
    /// A build of `app_dir` (never written: the host builds from a private copy) onto
    /// `scratch`, in production, with the embedded buildpacks unless some are added.
    pub fn new(app_dir: impl Into<PathBuf>) -> Self {
        Self {
            app: app_dir.into(),
            buildpacks: Vec::new(),
            run_image: "scratch".to_owned(),
            build_image: None,
            env: Vec::new(),
            exec_env: "production".to_owned(),
            network_allow: Vec::new(),
            offline: false,
            compile_cache: host::default_compile_cache(),
            work: None,
        }
    }

    /// Add a buildpack to the group (in order).
    pub fn buildpack(mut self, buildpack: impl Into<BuildpackRef>) -> Self {
        self.buildpacks.push(buildpack.into());
        self
    }

    /// Build from another app directory (for a rebuild after a change).
    pub fn app(mut self, app_dir: impl Into<PathBuf>) -> Self {
        self.app = app_dir.into();
        self
    }

    /// The run image: `scratch` (default), `oci:DIR[:TAG]`, a registry reference.
    pub fn run_image(mut self, reference: impl Into<String>) -> Self {
        self.run_image = reference.into();
        self
    }

    /// The build image native steps run in (`kiln build --build-image REF`; Linux only).
    pub fn build_image(mut self, reference: impl Into<String>) -> Self {
        self.build_image = Some(reference.into());
        self
    }

    /// A platform environment variable (`kiln build --env NAME=VALUE`).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// The execution environment (`production` by default).
    pub fn exec_env(mut self, exec_env: impl Into<String>) -> Self {
        self.exec_env = exec_env.into();
        self
    }

    /// Allow downloads from `host[:port]` (`--network-allow`), e.g. a
    /// [`crate::FixtureServer::authority`].
    pub fn network_allow(mut self, authority: impl Into<String>) -> Self {
        self.network_allow.push(authority.into());
        self
    }

    /// Serve downloads only from the download cache (`--offline`).
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Where precompiled components are kept (`None`: compile in memory every run).
    pub fn compile_cache(mut self, dir: Option<PathBuf>) -> Self {
        self.compile_cache = dir;
        self
    }

    /// Run the build; panics with the error and the build log when it fails.
    pub fn run(&self) -> BuildOutput {
        self.try_run()
            .unwrap_or_else(|e| panic!("test build of {} failed: {e}", self.app.display()))
    }

    /// Run the build.
    pub fn try_run(&self) -> Result<BuildOutput, HarnessError> {
        let mut this = self.clone();
        let work = this.work_dir()?;
        let (request, layers_dir) = this.request(&work)?;
        let log = HostLog::default();
        let layout = work.dir.path().join("image");
        let built =
            host::run_build(&request, &layout, TAG, &log).map_err(|f| HarnessError::Build {
                message: f.message,
                exit_code: f.exit_code,
                log: log.take(),
            })?;
        let read = output::read_layers_dir(&layers_dir)?;
        Ok(BuildOutput {
            group: read.group,
            plan: read.plan,
            layers: read.layers,
            processes: read.processes,
            default_process: built.default_process,
            image: ImageOutput {
                layout,
                tag: TAG.to_owned(),
                digest: built.digest,
            },
            logs: log.take(),
            layers_dir,
            rebuild: this,
        })
    }

    /// Detect only: the group and plan detection chose.
    pub fn detect(&self) -> Result<DetectOutput, HarnessError> {
        let mut this = self.clone();
        let work = this.work_dir()?;
        let (request, layers_dir) = this.request(&work)?;
        let log = HostLog::default();
        let (group, plan) = host::run_detect(&request, &log).map_err(|f| HarnessError::Build {
            message: f.message,
            exit_code: f.exit_code,
            log: log.take(),
        })?;
        Ok(DetectOutput {
            group: output::parse_group(&group, &layers_dir.join("group.toml"))?,
            plan: output::parse_plan(&plan, &layers_dir.join("plan.toml"))?,
            logs: log.take(),
        })
    }

    fn work_dir(&mut self) -> Result<Arc<WorkDir>, HarnessError> {
        if let Some(work) = &self.work {
            return Ok(work.clone());
        }
        let dir = tempfile::Builder::new()
            .prefix("kiln-test-")
            .tempdir()
            .map_err(HarnessError::io("create", std::env::temp_dir()))?;
        let work = Arc::new(WorkDir {
            dir,
            runs: AtomicUsize::new(0),
        });
        self.work = Some(work.clone());
        Ok(work)
    }

    fn request(&self, work: &WorkDir) -> Result<(HostRequest, PathBuf), HarnessError> {
        let run = work.runs.fetch_add(1, Ordering::SeqCst);
        let root: &Path = work.dir.path();
        let layers_dir = root.join(format!("layers-{run}"));
        let buildpacks = self
            .buildpacks
            .iter()
            .map(BuildpackRef::resolve)
            .collect::<Result<Vec<_>, _>>()?;
        let request = HostRequest {
            app: self.app.clone(),
            buildpacks,
            run_image: self.run_image.clone(),
            build_image: self.build_image.clone(),
            env: self.env.clone(),
            exec_env: self.exec_env.clone(),
            layers_dir: layers_dir.clone(),
            cache_dir: root.join("cache"),
            download_cache: root.join("downloads"),
            compile_cache: self.compile_cache.clone(),
            previous_image: None,
            network_allow: self.network_allow.clone(),
            offline: self.offline,
        };
        Ok((request, layers_dir))
    }
}
