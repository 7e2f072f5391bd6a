//! The whole `kiln build` / `kiln detect` flow as a library call: analyze the run image, load
//! buildpacks, detect, restore, build, export, publish. The CLI, the benchmark and the test
//! harness use it; each step is a function of its own below or in a submodule.

pub mod build_image;
mod buildpacks;
mod layer_cache;
mod output;
mod run_image;

use std::path::PathBuf;
use std::sync::Arc;

use kiln_lifecycle::analyze::PreviousImage;
use kiln_lifecycle::buildpack::Buildpack;
use kiln_lifecycle::detect::{self, DetectOutput, Verdict};
use kiln_lifecycle::env::Env;
use kiln_lifecycle::export::slices::SliceRules;
use kiln_lifecycle::export::{self, ExportInputs, ExportReport, RunImage};
use kiln_lifecycle::files::{self, LaunchMetadata};
use kiln_lifecycle::workspace::Workspace;
use kiln_lifecycle::{BuildInputs, OrderEntry, build};
use kiln_oci::blob_cache::BlobCache;
use kiln_oci::{LayerIds, LayerOwnership, OciLayout, VerifiedLayers};
use kiln_registry::RegistryRef;
use kiln_runtime::{Limits, LogSink, Runtime};

use crate::embedded::EMBEDDED_LAUNCHERS;
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::services::Services;
use crate::transport;
pub use buildpacks::load_buildpacks;
use layer_cache::LayerCache;
pub use output::OutputTarget;
pub use run_image::{OpenedRunImage, open_run_image};

/// `SOURCE_DATE_EPOCH` default: 1980-01-01T00:00:01Z.
pub const DEFAULT_EPOCH: u64 = 315_532_801;
pub use kiln_lifecycle::progress::{Event, Phase, Reporter, Silent};
/// Settings shared by `build` and `detect`.
#[derive(Debug, Clone)]
pub struct Request {
    /// The app directory.
    pub app: PathBuf,
    /// Buildpack references; empty means the embedded buildpacks (each optional).
    pub buildpacks: Vec<String>,
    /// An `order.toml` whose groups detection tries in order.
    pub order: Option<PathBuf>,
    /// The run image.
    pub run_image: ImageRef,
    /// The build image native steps run in (`None`: buildpacks cannot run commands).
    pub build_image: Option<ImageRef>,
    /// The app's project descriptor: its filter, group and label apply to this build (its
    /// env and images are already in the fields above).
    pub project: Option<kiln_project::ProjectDescriptor>,
    /// User env.
    pub env: Env,
    /// Execution environment.
    pub exec_env: String,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch_seconds: u64,
    /// Keep the CNB layers directory here (must be empty or absent).
    pub layers_dir: Option<PathBuf>,
    /// Owner of exported app and layer files.
    pub ownership: LayerOwnership,
    /// Compile cache dir (`None`: no cache).
    pub compile_cache: Option<PathBuf>,
    /// Layer cache dir (`None`: the default for the output image).
    pub cache_dir: Option<PathBuf>,
    /// Keep the layer cache in this registry image (`--cache-image`) instead of a directory.
    pub cache_image: Option<RegistryRef>,
    /// Previous image (`None`: the output image, if it exists).
    pub previous_image: Option<ImageRef>,
    /// Resource limits.
    pub limits: Limits,
    /// Download policy and cache for the buildpacks' `fetch` import.
    pub fetch: kiln_fetch::FetchOptions,
    /// When another build holds the output or the layer cache: wait (`true`) or fail.
    pub wait_for_locks: bool,
    /// After building into an `oci:` layout, remove the blobs no tag references.
    pub collect_garbage: bool,
    /// How new layer blobs are compressed (`--compression`, `--threads`).
    pub compression: kiln_oci::BlobCompression,
    /// How the app layer is sliced (explicit slices from `project.toml`, automatic slicing).
    pub app_slices: SliceRules,
    /// Labels set on the image over every other (`io.kiln.build.inputs` of a fleet build).
    pub labels: std::collections::BTreeMap<String, String>,
    /// Caches, registries and the async runtime.
    pub services: Services,
}

impl Request {
    /// A request with defaults for everything but the app dir and the services.
    pub fn new(app: impl Into<PathBuf>, services: Services) -> Self {
        Self {
            compile_cache: services.caches.components(),
            app: app.into(),
            buildpacks: Vec::new(),
            order: None,
            run_image: ImageRef::Scratch,
            build_image: None,
            project: None,
            env: Env::new(),
            exec_env: "production".into(),
            epoch_seconds: DEFAULT_EPOCH,
            layers_dir: None,
            ownership: LayerOwnership::new(1000, 1000),
            cache_dir: None,
            cache_image: None,
            previous_image: None,
            limits: Limits::default(),
            fetch: kiln_fetch::FetchOptions::default(),
            wait_for_locks: true,
            collect_garbage: true,
            compression: kiln_oci::BlobCompression::default(),
            app_slices: SliceRules {
                explicit: Vec::new(),
                auto: true,
            },
            labels: std::collections::BTreeMap::new(),
            services,
        }
    }
}
/// A finished build.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    /// The export report (digest, layers).
    pub export: ExportReport,
    /// Ids of the group, in order.
    pub group: Vec<String>,
    /// Default process type.
    pub default_process: Option<String>,
}
/// Start a runtime whose buildpack output goes to `reporter`.
pub fn runtime(request: &Request, reporter: Arc<dyn Reporter>) -> Result<Runtime> {
    let log: LogSink =
        Arc::new(move |id, level, line| reporter.report(&Event::Buildpack { id, level, line }));
    let mut rt = Runtime::new(request.compile_cache.clone(), request.limits, log)
        .map_err(|e| Error::Buildpack(e.into()))?;
    rt.set_fetcher(Arc::new(kiln_fetch::Fetcher::new(
        &request.fetch,
        request.services.caches.downloads(),
        request.services.runtime().clone(),
    )));
    Ok(rt)
}
fn inputs(
    request: &Request,
    ws: &Workspace,
    run_image: &RunImage,
    build_image: Option<&build_image::OpenedBuildImage>,
) -> BuildInputs {
    let (os, arch) = run_image.target();
    BuildInputs {
        build_image_env: build_image.map(|b| b.env.clone()).unwrap_or_default(),
        native_steps: build_image.map(|b| b.native.clone()),
        app_dir: ws.app.clone(),
        platform_dir: ws.platform.clone(),
        layers_dir: ws.layers.clone(),
        platform_env: request.env.clone(),
        target_os: os,
        target_arch: arch,
        target_distro: run_image.distro(),
        exec_env: request.exec_env.clone(),
        epoch_seconds: request.epoch_seconds,
        app_fingerprint: ws.app_fingerprint,
    }
}
fn check_targets(buildpacks: &[Buildpack], run_image: &RunImage) -> Result<()> {
    let (os, arch) = run_image.target();
    for bp in buildpacks {
        if !bp.supports(&os, &arch) {
            return Err(Error::InvalidInput(format!(
                "buildpack {} does not support the run image's platform {os}/{arch}",
                bp.descriptor.id
            )));
        }
    }
    Ok(())
}
/// The request's build image, opened and checked against the run image and the buildpacks.
fn open_checked_build_image(
    request: &Request,
    run_image: &RunImage,
    buildpacks: &[Buildpack],
    reporter: &dyn Reporter,
) -> Result<Option<build_image::OpenedBuildImage>> {
    let Some(reference) = &request.build_image else {
        return Ok(None);
    };
    let opened = build_image::open_build_image(reference, request, reporter)?;
    opened.check(reference, &run_image.target(), buildpacks)?;
    Ok(Some(opened))
}
fn run_detect(
    runtime: &Runtime,
    buildpacks: &[Buildpack],
    order: &[Vec<OrderEntry>],
    inputs: &BuildInputs,
    reporter: &dyn Reporter,
) -> Result<DetectOutput> {
    reporter.phase(Phase::Detecting);
    let out = detect::detect(runtime, buildpacks, order, inputs, |bp, verdict| {
        let d = &bp.descriptor;
        match verdict {
            Verdict::Pass(_) => reporter.debug(&format!("{} {}: pass", d.id, d.version)),
            Verdict::Fail(why) => reporter.debug(&format!("{} {}: skip ({why})", d.id, d.version)),
            Verdict::Error(why) => reporter.info(&format!("{} {}: error: {why}", d.id, d.version)),
        }
    })?;
    for &i in &out.group {
        let d = &buildpacks[i].descriptor;
        reporter.info(&format!("{} {}", d.id, d.version));
    }
    files::write_detect_files(&inputs.layers_dir, buildpacks, &out.group, &out.plan)
        .map_err(|e| Error::Build(e.into()))?;
    Ok(out)
}
fn workspace(request: &Request) -> Result<Workspace> {
    let filter = request.project.as_ref().map(|p| &p.filter);
    let snapshot = request.services.caches.workspaces().map(|dir| {
        let app = std::fs::canonicalize(&request.app).unwrap_or_else(|_| request.app.clone());
        let key = kiln_oci::Digest::of_bytes(app.as_os_str().as_encoded_bytes());
        dir.join(&key.hex()[..32])
    });
    Ok(Workspace::create_with_snapshot(
        &request.app,
        snapshot.as_deref(),
        &request.env,
        request.layers_dir.as_deref(),
        request.epoch_seconds,
        &|rel, is_dir| filter.is_none_or(|f| f.includes(rel, is_dir)),
    )?)
}
/// Detect only: returns the group.toml and plan.toml texts.
pub fn detect_only(request: &Request, reporter: &Arc<dyn Reporter>) -> Result<(String, String)> {
    let ws = workspace(request)?;
    let run_image = open_run_image(&request.run_image, &request.services)?.image;
    let rt = runtime(request, reporter.clone())?;
    let (buildpacks, order) = load_buildpacks(request, &rt)?;
    let build_image =
        open_checked_build_image(request, &run_image, &buildpacks, reporter.as_ref())?;
    let inputs = inputs(request, &ws, &run_image, build_image.as_ref());
    let out = run_detect(&rt, &buildpacks, &order, &inputs, reporter.as_ref())?;
    let group = files::group_toml(&files::group_members(&buildpacks, &out.group))
        .map_err(|e| Error::Build(e.into()))?;
    let plan = files::plan_toml(&buildpacks, &out.plan).map_err(|e| Error::Build(e.into()))?;
    Ok((group, plan))
}
/// The full build into `output`.
pub fn build(
    request: &Request,
    output: &OutputTarget,
    reporter: &Arc<dyn Reporter>,
) -> Result<BuildSummary> {
    let rt = runtime(request, reporter.clone())?;
    build_with_runtime(request, output, &rt, reporter.as_ref())
}
/// The full build with an existing runtime (the benchmark reuses one).
pub fn build_with_runtime(
    request: &Request,
    output: &OutputTarget,
    rt: &Runtime,
    reporter: &dyn Reporter,
) -> Result<BuildSummary> {
    let started = std::time::SystemTime::now();
    let locks = request.services.caches.locks();
    let _output_lock = output.lock(&locks, request.wait_for_locks, reporter)?;
    let _temp_files = output.guard_temp_files(started);

    reporter.phase(Phase::Analyzing);
    let run = run_image::report_run_image(request, reporter)?;
    let previous = open_previous(request, output, reporter)?;
    let ws = workspace(request)?;
    let (buildpacks, order) = load_buildpacks(request, rt)?;
    check_targets(&buildpacks, &run.image)?;
    let build_image = open_checked_build_image(request, &run.image, &buildpacks, reporter)?;
    let inputs = inputs(request, &ws, &run.image, build_image.as_ref());
    let detected = run_detect(rt, &buildpacks, &order, &inputs, reporter)?;

    reporter.phase(Phase::Restoring);
    let cache = LayerCache::open(request, output, &locks, reporter)?;
    let restored = cache.restore(
        previous.as_ref(),
        &buildpacks,
        &detected.group,
        &ws.layers,
        reporter,
    );

    reporter.phase(Phase::Building);
    let built = build::build(
        rt,
        &buildpacks,
        &detected.group,
        &detected.plan,
        &inputs,
        &restored,
    )?;
    let launch = launch_metadata(
        rt,
        &buildpacks,
        &detected,
        &built,
        &ws,
        &run.image,
        reporter,
    )?;

    reporter.phase(Phase::Exporting);
    let project_label = request
        .project
        .as_ref()
        .and_then(kiln_project::ProjectDescriptor::project_metadata_label);
    let layout = OciLayout::create_or_open(output.dir()).map_err(|e| Error::Export(e.into()))?;
    let mut report = export::export(
        &ExportInputs {
            run_image: &run.image,
            buildpacks: &buildpacks,
            built: &built,
            launch: &launch,
            layers_dir: &ws.layers,
            app_dir: &ws.app,
            ownership: request.ownership,
            epoch_seconds: request.epoch_seconds,
            exec_env: &request.exec_env,
            previous: previous.as_ref(),
            blob_cache: request
                .services
                .caches
                .layer_blobs()
                .map(BlobCache::new)
                .as_ref(),
            verified: &VerifiedLayers::new(request.services.caches.verified_layers()),
            layer_ids: &LayerIds::new(request.services.caches.layer_ids()),
            app_slices: &SliceRules {
                explicit: launch
                    .slices
                    .iter()
                    .chain(&request.app_slices.explicit)
                    .cloned()
                    .collect(),
                auto: request.app_slices.auto,
            },
            compression: &request.compression,
            launchers: EMBEDDED_LAUNCHERS,
            project_metadata: project_label.as_deref(),
            extra_labels: &request.labels,
        },
        &layout,
        output.tag(),
    )?;
    report_layers(&report, reporter);
    report.archive_image_id = output.publish(
        &layout,
        &request.services.registries,
        run.registry.as_ref(),
        reporter,
    )?;
    kiln_fs::fault::point("export-done");
    cache.save(&buildpacks, &built, &ws.layers, request, reporter);
    if request.collect_garbage && output.is_layout() {
        // still under the output lock: no other build is writing blobs into this layout
        crate::layout_gc::sweep_after(&layout, reporter);
    }
    Ok(BuildSummary {
        export: report,
        group: detected
            .group
            .iter()
            .map(|&i| buildpacks[i].descriptor.id.to_string())
            .collect(),
        default_process: launch.default_process,
    })
}

/// The previous image (`--previous-image`, else the output), when it exists.
fn open_previous(
    request: &Request,
    output: &OutputTarget,
    reporter: &dyn Reporter,
) -> Result<Option<PreviousImage>> {
    let reference = request
        .previous_image
        .clone()
        .unwrap_or_else(|| output.default_previous());
    let previous = transport::open(&request.services.registries, &reference)
        .map_err(Error::OpenPreviousImage)?
        .and_then(|opened| opened.image)
        .map(PreviousImage::new);
    if previous.is_some() {
        reporter.info(&format!("Previous image: {reference}"));
    }
    Ok(previous)
}

/// After the build phase: the group's merged launch metadata (with the download labels),
/// written to `config/metadata.toml`, and warnings about what the image cannot run.
fn launch_metadata(
    rt: &Runtime,
    buildpacks: &[Buildpack],
    detected: &DetectOutput,
    built: &[build::BuiltBuildpack],
    ws: &Workspace,
    run_image: &RunImage,
    reporter: &dyn Reporter,
) -> Result<LaunchMetadata> {
    let mut launch = files::merge_launch(buildpacks, &detected.group, built);
    crate::download_report::after_build(rt.fetcher(), &mut launch.labels, reporter);
    files::write_metadata(&ws.layers, &launch).map_err(|e| Error::Build(e.into()))?;
    if launch.default_process.is_none() {
        reporter.warn("no default process; the image has no entrypoint");
    }
    if run_image.layers().is_empty()
        && let Some(p) = launch
            .processes
            .iter()
            .find(|p| p.command.first().is_some_and(|c| c.starts_with("/bin/")))
    {
        reporter.warn(&format!(
            "the run image is empty (scratch), but process {} runs {}; the image cannot run it. Pass --run-image with a base that has it (e.g. one from tools/make-busybox-base.sh)",
            p.process_type, p.command[0]
        ));
    }
    Ok(launch)
}

/// Report what export did: why layers were not reused, then each layer added or reused.
fn report_layers(report: &ExportReport, reporter: &dyn Reporter) {
    for note in &report.notes {
        reporter.warn(note);
    }
    for l in &report.layers {
        let (name, diff_id) = (l.name.as_str(), &l.diff_id);
        reporter.report(&if l.reused {
            Event::LayerReused { name, diff_id }
        } else {
            Event::LayerAdded { name, diff_id }
        });
    }
}
