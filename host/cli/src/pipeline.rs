//! The whole `kiln build` / `kiln detect` flow as a library call: analyze the run image, load
//! buildpacks, detect, build, export. The CLI and the benchmark both use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::buildpack_artifact;
use crate::cache_image::CacheImage;
use crate::embedded::{EMBEDDED_BUILDPACKS, EMBEDDED_LAUNCHERS};
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::services::Services;
use crate::transport;
use kiln_fs::DirLock;
use kiln_lifecycle::analyze::PreviousImage;
use kiln_lifecycle::buildpack::{self, Buildpack};
use kiln_lifecycle::cache::{self, Cache, LayerToSave};
use kiln_lifecycle::detect::{self, DetectOutput, Verdict};
use kiln_lifecycle::env::Env;
use kiln_lifecycle::export::{self, ExportInputs, ExportReport, RunImage};
use kiln_lifecycle::restore;
use kiln_lifecycle::workspace::Workspace;
use kiln_lifecycle::{BuildInputs, OrderEntry, build, files, order};
use kiln_oci::blob_cache::BlobCache;
use kiln_oci::docker_archive;
use kiln_oci::layout::{BLOB_TEMP_PREFIX, INDEX_TEMP_PREFIX};
use kiln_oci::{LayerOwnership, OciLayout, VerifiedLayers};
use kiln_registry::{self as registry, RegistryRef};
use kiln_runtime::{Limits, LogSink, Runtime};
use sha2::Digest as _;

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

/// Where the output image goes, checked before any work is done.
pub struct OutputTarget {
    reference: ImageRef,
    dir: PathBuf,
    tag: String,
    /// For `docker-archive:` outputs: the archive file and its `RepoTags`. The image is
    /// first exported into `dir`, a staging layout kept per archive (so rebuilds reuse it).
    archive: Option<(PathBuf, Vec<String>)>,
    /// For registry outputs: where to push. The image is first exported into the local
    /// registry store (`dir`), tagged with the full reference.
    push: Option<RegistryRef>,
    /// More tags: full references (registry outputs) or tag names (`oci:` outputs).
    extra_tags: Vec<String>,
}

impl OutputTarget {
    /// The path one build at a time may write: the layout, or the archive file (registry
    /// outputs go through the shared store, which needs no lock of its own).
    fn lock_path(&self) -> Option<&Path> {
        if self.push.is_some() {
            return None;
        }
        Some(
            self.archive
                .as_ref()
                .map_or(self.dir.as_path(), |(file, _)| file.as_path()),
        )
    }

    /// Parse `reference` and check it with [`OutputTarget::new`].
    pub fn parse(reference: &str, services: &Services) -> Result<Self> {
        let parsed = ImageRef::parse(reference).map_err(|source| Error::Reference {
            what: "output image",
            source,
        })?;
        Self::new(parsed, services)
    }

    /// Check an output: `oci:DIR[:TAG]` (DIR must be absent, empty or an OCI layout),
    /// `docker-archive:FILE[:NAME:TAG]` (FILE must not be a directory), or a registry
    /// reference with a tag.
    pub fn new(reference: ImageRef, services: &Services) -> Result<Self> {
        let plain = |dir: PathBuf, tag: String| Self {
            reference: reference.clone(),
            dir,
            tag,
            archive: None,
            push: None,
            extra_tags: Vec::new(),
        };
        match &reference {
            ImageRef::Registry(dest) => {
                if dest.digest().is_some() {
                    return Err(Error::InvalidInput(format!(
                        "output image {} names a digest; push to a tag (REPOSITORY:TAG)",
                        dest.whole()
                    )));
                }
                // Create the store now, atomically (concurrent builds may race to make it).
                let store = services.registries.store()?;
                Ok(Self {
                    push: Some(dest.clone()),
                    ..plain(store.root().to_owned(), registry::store::tag_for(dest))
                })
            }
            ImageRef::DockerArchive(archive) => {
                if archive.file.is_dir() {
                    return Err(Error::InvalidInput(format!(
                        "output {} is a directory; a docker-archive output is a file",
                        archive.file.display()
                    )));
                }
                let absolute =
                    std::path::absolute(&archive.file).unwrap_or_else(|_| archive.file.clone());
                let key = hex::encode(sha2::Sha256::digest(absolute.to_string_lossy().as_bytes()));
                let dir = services.caches.archive_layouts().join(&key[..16]);
                Ok(Self {
                    archive: Some((archive.file.clone(), archive.repo_tags())),
                    ..plain(dir, kiln_oci::DEFAULT_TAG.to_owned())
                })
            }
            ImageRef::Layout { dir, tag } => {
                if dir.exists() {
                    let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
                    if !dir.is_dir() || (!empty && !dir.join("oci-layout").is_file()) {
                        return Err(Error::InvalidInput(format!(
                            "output {} exists and is not an OCI image layout; choose a new or empty directory",
                            dir.display()
                        )));
                    }
                }
                Ok(plain(dir.clone(), tag.clone()))
            }
            ImageRef::Scratch => Err(Error::InvalidInput(
                "the output image cannot be `scratch`; use oci:DIR[:TAG]".into(),
            )),
        }
    }

    /// The default previous image: the output itself (a registry output is read back from
    /// its registry, an archive output from its staging layout).
    fn default_previous(&self) -> ImageRef {
        if self.push.is_some() {
            self.reference.clone()
        } else {
            self.written()
        }
    }

    /// The key of the default layer cache: the output's registry reference, or its layout.
    fn cache_key(&self) -> String {
        self.default_previous().to_string()
    }

    /// The image the build writes, where it is read back from as the default previous
    /// image: the layout (the staging layout of an archive output, the store's copy of a
    /// registry output).
    fn written(&self) -> ImageRef {
        ImageRef::Layout {
            dir: self.dir.clone(),
            tag: self.tag.clone(),
        }
    }

    /// Add tags (`--tag`): for a registry output, references in the same registry (a bare
    /// tag means the output's repository); for an `oci:` output, tag names.
    pub fn with_tags(mut self, tags: &[String]) -> Result<Self> {
        for t in tags {
            match &self.push {
                Some(dest) => {
                    let full = if t.contains('/') {
                        RegistryRef::parse(t)?
                    } else {
                        dest.with_tag(t)?
                    };
                    if full.registry() != dest.registry() {
                        return Err(Error::InvalidInput(format!(
                            "--tag {t}: registry {} differs from the output's {}; tags must be in the same registry",
                            full.registry(),
                            dest.registry()
                        )));
                    }
                    self.extra_tags.push(full.whole());
                }
                None if self.archive.is_some() => {
                    return Err(Error::InvalidInput(format!(
                        "--tag {t}: a docker-archive output is tagged with FILE:NAME:TAG; --tag applies to registry and oci: outputs"
                    )));
                }
                None => {
                    kiln_oci::validate_tag(t)
                        .map_err(|e| Error::InvalidInput(format!("--tag {t}: {e}")))?;
                    self.extra_tags.push(t.clone());
                }
            }
        }
        Ok(self)
    }

    /// The output reference.
    pub fn reference(&self) -> &ImageRef {
        &self.reference
    }

    /// The tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The layout dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Push the exported image to its registry and to every extra tag.
fn push_output(
    registries: &kiln_registry::Registries,
    output: &OutputTarget,
    dest: &RegistryRef,
    layout: &OciLayout,
    run_image_registry: Option<&RegistryRef>,
    reporter: &dyn Reporter,
) -> Result<()> {
    reporter.phase(Phase::Pushing);
    let extra = output
        .extra_tags
        .iter()
        .map(|t| RegistryRef::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mount_from: Vec<RegistryRef> = run_image_registry.into_iter().cloned().collect();
    let report = registries.push(layout, &output.tag, dest, &extra, &mount_from)?;
    reporter.info(&format!(
        "Pushed {}: {} blobs uploaded ({}), {} mounted, {} already present",
        report.references.join(", "),
        report.uploaded,
        registry::human_bytes(report.uploaded_bytes),
        report.mounted,
        report.present
    ));
    Ok(())
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

/// Load the requested buildpacks and make the detection order: the `--order` file's groups,
/// else one group of the `--buildpack` refs, else one group of the embedded buildpacks (each
/// optional).
pub fn load_buildpacks(
    request: &Request,
    runtime: &Runtime,
) -> Result<(Vec<Buildpack>, Vec<Vec<OrderEntry>>)> {
    let mut loaded: Vec<Buildpack> = Vec::new();
    let explicit = if request.buildpacks.is_empty() && request.order.is_none() {
        buildpack::embedded_ids(EMBEDDED_BUILDPACKS)
            .into_iter()
            .map(str::to_owned)
            .collect()
    } else {
        request.buildpacks.clone()
    };
    for r in &explicit {
        add_buildpack(&mut loaded, load_buildpack(r, runtime, &request.services)?)?;
    }
    let Some(path) = &request.order else {
        let optional = request.buildpacks.is_empty();
        let group = (0..loaded.len())
            .map(|buildpack| OrderEntry {
                buildpack,
                optional,
            })
            .collect();
        return Ok((loaded, vec![group]));
    };
    let groups = order::parse(path).map_err(|e| Error::InvalidInput(e.to_string()))?;
    let mut order = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let mut entries = Vec::new();
        for r in group {
            let index = match loaded.iter().position(|b| b.descriptor.id.as_str() == r.id) {
                Some(i) => i,
                None if buildpack::embedded_ids(EMBEDDED_BUILDPACKS).contains(&r.id.as_str()) => {
                    add_buildpack(
                        &mut loaded,
                        load_buildpack(&r.id, runtime, &request.services)?,
                    )?;
                    loaded.len() - 1
                }
                None => {
                    return Err(Error::InvalidInput(format!(
                        "{}: group {} names buildpack {}, which is neither given with --buildpack nor embedded",
                        path.display(),
                        g + 1,
                        r.id
                    )));
                }
            };
            let have = &loaded[index].descriptor.version;
            if let Some(want) = &r.version
                && want != have
            {
                return Err(Error::InvalidInput(format!(
                    "{}: group {} wants {}@{want} but the buildpack is version {have}",
                    path.display(),
                    g + 1,
                    r.id
                )));
            }
            entries.push(OrderEntry {
                buildpack: index,
                optional: r.optional,
            });
        }
        order.push(entries);
    }
    Ok((loaded, order))
}

/// Load one buildpack reference: a packaged artifact (registry or `oci:`), else a local one.
fn load_buildpack(reference: &str, runtime: &Runtime, services: &Services) -> Result<Buildpack> {
    if let Some(fetched) = buildpack_artifact::fetch(reference, services)? {
        return Ok(buildpack::load_unpacked(
            fetched.dir.as_deref(),
            &fetched.component,
            &fetched.origin,
            runtime,
        )?);
    }
    Ok(buildpack::load(reference, runtime, EMBEDDED_BUILDPACKS)?)
}

fn add_buildpack(loaded: &mut Vec<Buildpack>, bp: Buildpack) -> Result<()> {
    if let Some(other) = loaded
        .iter()
        .find(|b| b.escaped_id().eq_ignore_ascii_case(&bp.escaped_id()))
    {
        return Err(buildpack::BuildpackError::Duplicate {
            id: bp.descriptor.id.to_string(),
            first: other.origin.clone(),
            second: bp.origin.clone(),
        }
        .into());
    }
    loaded.push(bp);
    Ok(())
}

fn inputs(request: &Request, ws: &Workspace, run_image: &RunImage) -> BuildInputs {
    let (os, arch) = run_image.target();
    BuildInputs {
        app_dir: ws.app.clone(),
        platform_dir: ws.platform.clone(),
        layers_dir: ws.layers.clone(),
        platform_env: request.env.clone(),
        target_os: os,
        target_arch: arch,
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

/// Save the `cache=true` layers; a failure is a warning, never a failed build.
fn save_cache(
    cache: &Cache,
    buildpacks: &[Buildpack],
    built: &[build::BuiltBuildpack],
    layers_dir: &Path,
    request: &Request,
    reporter: &dyn Reporter,
) {
    let mut to_save = Vec::new();
    for b in built {
        let bp = &buildpacks[b.index];
        let esc = bp.escaped_id();
        for layer in b
            .output
            .layers
            .iter()
            .filter(|l| l.cache && l.reuse.is_none())
        {
            let host_dir = layers_dir.join(&esc).join(layer.name.as_str());
            if !host_dir.is_dir() {
                continue;
            }
            to_save.push((bp, esc.clone(), layer, host_dir));
        }
    }
    let entries: Vec<LayerToSave<'_>> = to_save
        .iter()
        .map(|(bp, esc, layer, host_dir)| LayerToSave {
            buildpack: bp.descriptor.id.as_str(),
            version: &bp.descriptor.version,
            name: layer.name.as_str(),
            host_dir,
            dest: kiln_lifecycle::layer_paths::layer_dest(esc, layer.name.as_str()),
            build: layer.build,
            launch: layer.launch,
            metadata: &layer.metadata,
            executables: &layer.executables,
        })
        .collect();
    match cache.save(&entries, request.ownership) {
        Ok(_) if entries.is_empty() => {}
        Ok(written) => reporter.info(&format!(
            "Saved cache: {} layers ({written} written) in {}",
            entries.len(),
            cache.dir().display()
        )),
        Err(e) => reporter.warn(&format!("could not save the cache: {e}")),
    }
}

/// A run image opened and checked, with where it came from.
pub struct OpenedRunImage {
    /// The checked run image.
    pub image: RunImage,
    /// Its registry reference, for registry images (their layers can be mounted from there
    /// when pushing).
    pub registry: Option<RegistryRef>,
    /// Blobs and bytes downloaded to pull it.
    pub downloaded: (usize, u64),
    /// Its registry was unreachable and the store's copy was used.
    pub offline: bool,
}

/// Open `reference` through its transport and check it as a run image.
pub fn open_run_image(reference: &ImageRef, services: &Services) -> Result<OpenedRunImage> {
    let opened =
        transport::open_existing(&services.registries, reference).map_err(Error::OpenRunImage)?;
    let registry = opened.registry().cloned();
    let (downloaded, offline) = (opened.downloaded, opened.offline);
    let image = RunImage::new(
        &opened.reference.to_string(),
        opened.stable_name(),
        opened.image,
        &VerifiedLayers::new(services.caches.verified_layers()),
    )?;
    Ok(OpenedRunImage {
        image,
        registry,
        downloaded,
        offline,
    })
}

/// [`open_run_image`] for a build, reporting what was pulled.
fn report_run_image(request: &Request, reporter: &dyn Reporter) -> Result<OpenedRunImage> {
    let opened = open_run_image(&request.run_image, &request.services)?;
    reporter.info(&format!(
        "Run image: {}{}",
        request.run_image,
        match opened.image.digest() {
            d if d.is_empty() => String::new(),
            d => format!(" ({d})"),
        }
    ));
    if opened.offline {
        reporter.warn("the run image's registry is unreachable; using the copy in the local store");
    } else if opened.registry.is_some() {
        let (blobs, bytes) = opened.downloaded;
        reporter.info(&format!(
            "Pulled run image: {blobs} blobs downloaded ({})",
            registry::human_bytes(bytes)
        ));
    }
    Ok(opened)
}

fn workspace(request: &Request) -> Result<Workspace> {
    Ok(Workspace::create(
        &request.app,
        &request.env,
        request.layers_dir.as_deref(),
        request.epoch_seconds,
    )?)
}

/// Detect only: returns the group.toml and plan.toml texts.
pub fn detect_only(request: &Request, reporter: &Arc<dyn Reporter>) -> Result<(String, String)> {
    let ws = workspace(request)?;
    let run_image = open_run_image(&request.run_image, &request.services)?.image;
    let rt = runtime(request, reporter.clone())?;
    let (buildpacks, order) = load_buildpacks(request, &rt)?;
    let inputs = inputs(request, &ws, &run_image);
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
    let wait_note = |m: &str| reporter.info(m);
    let locks = request.services.caches.locks();
    let _output_lock = output
        .lock_path()
        .map(|p| DirLock::acquire(&locks, p, "output", request.wait_for_locks, &wait_note))
        .transpose()?;
    // Temp files (blobs, index.json) of builds that were killed; ours are removed if we are
    // interrupted.
    let mut temp_files = vec![
        (
            output.dir.join("blobs").join("sha256"),
            BLOB_TEMP_PREFIX.to_owned(),
        ),
        (output.dir.clone(), INDEX_TEMP_PREFIX.to_owned()),
    ];
    if let Some((file, _)) = &output.archive
        && let (Some(dir), Some(name)) = (file.parent(), file.file_name())
    {
        temp_files.push((
            dir.to_path_buf(),
            docker_archive::temp_prefix(&name.to_string_lossy()),
        ));
    }
    let _interrupted: Vec<_> = match output.lock_path() {
        Some(_) => temp_files
            .iter()
            .map(|(dir, prefix)| {
                kiln_fs::interrupt::sweep_temp_files(dir, prefix, started);
                kiln_fs::interrupt::remove_temp_files_on_interrupt(dir, prefix)
            })
            .collect(),
        None => Vec::new(),
    };
    reporter.phase(Phase::Analyzing);
    let OpenedRunImage {
        image: run_image,
        registry: run_image_registry,
        ..
    } = report_run_image(request, reporter)?;
    let previous_ref = request
        .previous_image
        .clone()
        .unwrap_or_else(|| output.default_previous());
    let previous = transport::open(&request.services.registries, &previous_ref)
        .map_err(Error::OpenPreviousImage)?
        .and_then(|opened| opened.image)
        .map(PreviousImage::new);
    if previous.is_some() {
        reporter.info(&format!("Previous image: {previous_ref}"));
    }
    let ws = workspace(request)?;
    let (buildpacks, order) = load_buildpacks(request, rt)?;
    check_targets(&buildpacks, &run_image)?;
    let inputs = inputs(request, &ws, &run_image);
    let detected = run_detect(rt, &buildpacks, &order, &inputs, reporter)?;

    reporter.phase(Phase::Restoring);
    let cache_image = request
        .cache_image
        .clone()
        .map(|r| CacheImage::new(r, &request.services));
    if let Some(image) = &cache_image {
        match image.restore() {
            Ok(n) => reporter.info(&format!(
                "Cache image {}: {n} cached layers",
                image.reference()
            )),
            Err(e) => reporter.warn(&format!(
                "could not restore the cache image (building without a cache): {e}"
            )),
        }
    }
    let cache = match &cache_image {
        Some(image) => Some(image.cache().clone()),
        None => request
            .cache_dir
            .clone()
            .or_else(|| cache::default_dir(&request.services.caches, &output.cache_key()))
            .map(Cache::new),
    };
    let _cache_lock = match &cache {
        Some(c) => Some(DirLock::acquire(
            &locks,
            c.dir(),
            "layer cache",
            request.wait_for_locks,
            &wait_note,
        )?),
        None => None,
    };
    let cache_meta = cache.as_ref().and_then(|c| match c.load() {
        Ok(meta) => meta,
        Err(e) => {
            reporter.warn(&e.to_string());
            None
        }
    });
    let warn = |m: &str| reporter.warn(m);
    let restored = restore::restore(
        cache.as_ref().zip(cache_meta.as_ref()),
        previous.as_ref(),
        &buildpacks,
        &detected.group,
        &ws.layers,
        &warn,
    );
    for (i, r) in &restored {
        for l in &r.layers {
            let from = if l.has_contents {
                "cache"
            } else {
                "previous image"
            };
            reporter.debug(&format!(
                "Restored {}:{} metadata from the {from}",
                buildpacks[*i].descriptor.id, l.name
            ));
        }
    }

    reporter.phase(Phase::Building);
    let built = build::build(
        rt,
        &buildpacks,
        &detected.group,
        &detected.plan,
        &inputs,
        &restored,
    )?;
    let mut launch = files::merge_launch(&buildpacks, &detected.group, &built);
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

    reporter.phase(Phase::Exporting);
    let blob_cache = request.services.caches.layer_blobs().map(BlobCache::new);
    let verified = VerifiedLayers::new(request.services.caches.verified_layers());
    let layout = OciLayout::create_or_open(&output.dir).map_err(|e| Error::Export(e.into()))?;
    let report = export::export(
        &ExportInputs {
            run_image: &run_image,
            buildpacks: &buildpacks,
            built: &built,
            launch: &launch,
            layers_dir: &ws.layers,
            app_dir: &ws.app,
            ownership: request.ownership,
            epoch_seconds: request.epoch_seconds,
            exec_env: &request.exec_env,
            previous: previous.as_ref(),
            blob_cache: blob_cache.as_ref(),
            verified: &verified,
            launchers: EMBEDDED_LAUNCHERS,
        },
        &layout,
        &output.tag,
    )?;
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
    let mut report = report;
    if let Some((file, tags)) = &output.archive {
        let resolved = layout
            .resolve(Some(&output.tag))
            .map_err(|e| Error::Export(e.into()))?;
        let written = docker_archive::write_docker_archive_from_resolved(
            file,
            tags,
            &resolved,
            layout.blobs(),
        )
        .map_err(|e| Error::Export(e.into()))?;
        reporter.info(&format!(
            "Saved docker-archive:{} (image ID {})",
            file.display(),
            written.image_id
        ));
        report.archive_image_id = Some(written.image_id);
    } else if let Some(dest) = &output.push {
        push_output(
            &request.services.registries,
            output,
            dest,
            &layout,
            run_image_registry.as_ref(),
            reporter,
        )?;
    } else {
        for extra in &output.extra_tags {
            let mut desc = layout
                .resolve(Some(&output.tag))
                .map_err(|e| Error::Export(e.into()))?
                .manifest_descriptor;
            desc.set_ref_name(extra);
            layout
                .tag_descriptor(desc)
                .map_err(|e| Error::Export(e.into()))?;
        }
        reporter.info(&format!(
            "Saved oci:{}:{}",
            output.dir.display(),
            std::iter::once(output.tag.as_str())
                .chain(output.extra_tags.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    kiln_fs::fault::point("export-done");
    if let Some(cache) = &cache {
        save_cache(cache, &buildpacks, &built, &ws.layers, request, reporter);
    }
    if let Some(image) = &cache_image {
        match image.publish() {
            Ok(p) => reporter.info(&format!(
                "Saved cache image {}: {} blobs uploaded ({}), {} already present",
                image.reference(),
                p.uploaded,
                registry::human_bytes(p.uploaded_bytes),
                p.present
            )),
            Err(e) => reporter.warn(&format!("could not save the cache image: {e}")),
        }
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
