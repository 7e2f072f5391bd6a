//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use super::Verbosity;
use crate::error::Error;
use crate::pipeline::{DEFAULT_EPOCH, Request};
use crate::services::Services;
use kiln_fs::CachePaths;
use kiln_lifecycle::env::{Env, name_problem};
use kiln_oci::LayerOwnership;
use kiln_runtime::Limits;

/// Build OCI images from source with WebAssembly Cloud Native Buildpacks.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
pub struct Cli {
    /// Print only errors and the result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print debug output (detect results, buildpack debug lines).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Reach this registry (`HOST` or `HOST:PORT`) over plain HTTP; `localhost` and
    /// `127.0.0.1` always are (repeatable).
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Platform that multi-platform images resolve to: `linux/amd64`, `linux/arm64`
    /// (default: the host's).
    #[arg(long, global = true, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The registry settings the flags select.
    pub fn registry_settings(
        &self,
        caches: &kiln_fs::CachePaths,
    ) -> Result<kiln_registry::RegistrySettings, Error> {
        let mut settings = kiln_registry::RegistrySettings {
            insecure: self.insecure_registries.clone(),
            ..kiln_registry::RegistrySettings::new(caches.registry_store())
        };
        if let Some(p) = &self.platform {
            settings.platform = kiln_spec::Platform::parse(p)
                .map_err(|e| Error::InvalidInput(format!("--platform: {e}")))?;
        }
        Ok(settings)
    }

    /// The verbosity selected by `-q`/`-v`.
    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// The compile cache `--compile-cache` selects: a directory, the default, or none.
pub fn compile_cache_dir(flag: Option<&PathBuf>, caches: &CachePaths) -> Option<PathBuf> {
    match flag {
        Some(p) if p.as_os_str() == "none" => None,
        Some(p) => Some(p.clone()),
        None => caches.components(),
    }
}

/// Kiln commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from source and print its digest.
    Build(Box<BuildArgs>),
    /// Run detection only and print the chosen group and build plan.
    Detect(Box<DetectArgs>),
    /// Show an image's processes, buildpacks, layers and run image.
    Inspect(InspectArgs),
    /// Put an image on a new run image without rebuilding (only manifest and config change).
    Rebase(RebaseArgs),
    /// Remove the blobs no tag of an `oci:` layout references (every tag is kept), and with
    /// `--cache` what nothing uses in Kiln's cache directory.
    Gc(GcArgs),
    /// Extract an image's SBOM files (CycloneDX JSON per launch layer).
    Sbom(SbomArgs),
    /// Work with buildpacks (package one as an OCI artifact).
    #[command(subcommand)]
    Buildpack(BuildpackCommand),
    /// Keep a fleet of images up to date from declarative specs (apply, reconcile, watch).
    #[command(subcommand)]
    Image(super::image::ImageCommand),
}

/// `kiln buildpack …`.
#[derive(Debug, Subcommand)]
pub enum BuildpackCommand {
    /// Publish a buildpack (a .wasm component or a directory with buildpack.toml) as an OCI
    /// artifact; use it with `--buildpack docker://REF`.
    Package(PackageArgs),
    /// Create a buildpack crate (Rust, kiln-sdk) that builds and passes its own tests.
    New(NewArgs),
}

/// `kiln buildpack new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The buildpack id, e.g. `acme/hello`.
    pub name: String,
    /// The crate directory to create (absent or empty; default: the id's last segment).
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
}

/// `kiln buildpack package`.
#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The buildpack: a .wasm component or a directory with buildpack.toml.
    pub src: PathBuf,
    /// Where to publish it: a registry reference (HOST/REPO[:TAG]) or oci:DIR[:TAG].
    pub dest: String,
    /// Directory for precompiled components (default: the user cache dir, or $KILN_CACHE_DIR);
    /// `none` compiles in memory. Use only a directory you trust: its files are native code.
    #[arg(long, value_name = "DIR|none")]
    pub compile_cache: Option<PathBuf>,
}

/// `kiln sbom`.
#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The image: `oci:DIR[:TAG]` or a registry reference.
    pub image: String,
    /// Where to write the files (`launch/<buildpack>/<layer>/sbom.cdx.json`).
    #[arg(long, value_name = "DIR", default_value = "sbom")]
    pub output_dir: std::path::PathBuf,
}

/// `kiln rebase`.
#[derive(Debug, Args)]
pub struct RebaseArgs {
    /// The app image: `oci:DIR[:TAG]` (rewritten in place) or a registry reference (the new
    /// manifest is pushed to it).
    pub image: String,
    /// The new run image: `oci:DIR[:TAG]`, `docker-archive:FILE` or a registry reference.
    #[arg(long, value_name = "REF")]
    pub run_image: String,
    /// Rebase even if the image is marked not rebasable or the platforms differ.
    #[arg(long)]
    pub force: bool,
    /// Keep the blobs of an `oci:` layout that no tag references any more (no GC).
    #[arg(long)]
    pub no_gc: bool,
    /// Fail at once (exit 5) instead of waiting when a build is using the `oci:` layout.
    #[arg(long)]
    pub no_wait: bool,
}

/// `kiln gc`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").args(["image", "cache"]).required(true).multiple(true)))]
pub struct GcArgs {
    /// The layout: `oci:DIR` (a tag, if given, is ignored: every tag is kept).
    pub image: Option<String>,
    /// Also sweep the cache directory (`KILN_CACHE_DIR`): unreferenced registry-store blobs,
    /// and verified-layer records, blob-cache entries, build-image rootfs trees, layer caches
    /// and docker-archive staging layouts not used for `--max-age` (entries in use are kept).
    #[arg(long)]
    pub cache: bool,
    /// With `--cache`: remove entries not used for this many days.
    #[arg(long, value_name = "DAYS", default_value_t = crate::cache_gc::DEFAULT_MAX_AGE_DAYS, requires = "cache")]
    pub max_age: u64,
    /// Fail at once (exit 5) instead of waiting when a build is using the layout.
    #[arg(long)]
    pub no_wait: bool,
}

/// Options shared by `build` and `detect`.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// The application directory.
    #[arg(short, long, default_value = ".")]
    pub path: PathBuf,
    /// A buildpack: a .wasm component, a directory with buildpack.toml, an embedded id, or a
    /// packaged artifact (`docker://HOST/REPO[:TAG|@DIGEST]`, `oci:DIR[:TAG]`). Repeat to form
    /// a group; without it, the embedded buildpacks are tried.
    #[arg(short, long = "buildpack", value_name = "REF")]
    pub buildpacks: Vec<String>,
    /// A CNB order.toml (`[[order]]` of `[[order.group]]` id/version/optional): groups tried
    /// in order; ids refer to --buildpack refs or embedded buildpacks.
    #[arg(long, value_name = "FILE")]
    pub order: Option<PathBuf>,
    /// Run image: `scratch`, `oci:DIR[:TAG]`, `docker-archive:FILE[:NAME:TAG]` or a registry
    /// reference (`HOST/REPO[:TAG|@DIGEST]`).
    /// (default: project.toml's `[io.kiln] run-image`, else `scratch`)
    #[arg(long, value_name = "REF")]
    pub run_image: Option<String>,
    /// Build image for native build steps (the toolchain's root filesystem buildpacks run
    /// commands in, Linux only): `oci:DIR[:TAG]`, `docker-archive:FILE[:NAME:TAG]` or a
    /// registry reference (default: project.toml's `[io.kiln] build-image`). Without one,
    /// buildpacks that need no native step still work.
    #[arg(long, value_name = "REF")]
    pub build_image: Option<String>,
    /// The project descriptor (default: `project.toml` in the app directory, if present):
    /// build env, include/exclude, the buildpack group, inline buildpacks, images.
    #[arg(long, value_name = "FILE")]
    pub descriptor: Option<PathBuf>,
    /// Set a build-time environment variable for buildpacks (repeatable).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read build-time environment variables from a file of KEY=VALUE lines.
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Execution environment passed to buildpacks.
    #[arg(long, default_value = "production")]
    pub exec_env: String,
    /// Keep the CNB layers directory here (must be empty or absent).
    #[arg(long, value_name = "DIR")]
    pub layers_dir: Option<PathBuf>,
    /// CPU time limit for each buildpack's detect, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    pub detect_timeout: f64,
    /// CPU time limit for each buildpack's build, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 900.0)]
    pub build_timeout: f64,
    /// Memory limit for each buildpack call, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    pub memory_limit: usize,
    /// Directory for precompiled components (default: the user cache dir, or $KILN_CACHE_DIR);
    /// `none` compiles in memory. Use only a directory you trust: its files are native code.
    #[arg(long, value_name = "DIR|none")]
    pub compile_cache: Option<PathBuf>,
}

/// `kiln build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Output image: `oci:DIR[:TAG]`, `docker-archive:FILE[:NAME:TAG]`, or a registry
    /// reference `HOST/REPO[:TAG]` (built, then pushed).
    pub image: String,
    /// Another tag for the image (repeatable): a reference in the same registry or a bare tag.
    #[arg(short, long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Keep the layer cache in this registry image instead of a directory.
    #[arg(long, value_name = "REF", conflicts_with = "cache_dir")]
    pub cache_image: Option<String>,
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Layer cache directory (default: a per-image directory under the user cache dir).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Image whose launch-layer metadata buildpacks see and whose layers are reused
    /// (default: the output image, if it exists).
    #[arg(long, value_name = "REF")]
    pub previous_image: Option<String>,
    /// Owner uid of app and layer files in the image.
    #[arg(long, default_value_t = 1000)]
    pub uid: u64,
    /// Owner gid of app and layer files in the image.
    #[arg(long, default_value_t = 1000)]
    pub gid: u64,
    /// Download policy.
    #[command(flatten)]
    pub fetch: super::fetch_args::FetchArgs,
    /// Fail at once (exit 5) instead of waiting when another build is using the output or
    /// the layer cache.
    #[arg(long)]
    pub no_wait: bool,
    /// Keep the blobs of an `oci:` output that no tag references any more (no GC).
    #[arg(long)]
    pub no_gc: bool,
    /// Layer compression: `gzip` (default, level 6), `zstd` (level 3), or `gzip:N` /
    /// `zstd:N` for another level. zstd layers need a registry and runtime that accept
    /// `application/vnd.oci.image.layer.v1.tar+zstd`.
    #[arg(long, value_name = "FORMAT", default_value = "gzip")]
    pub compression: kiln_compress::Compression,
    /// Compression threads (default: the number of CPUs); the layer bytes are the same on
    /// any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Keep the app in one layer instead of slicing a large app into content-defined layers
    /// (explicit `[[io.kiln.slices]]` of project.toml still apply).
    #[arg(long)]
    pub no_app_slices: bool,
}

impl BuildArgs {
    /// The pipeline request.
    pub fn request(&self, services: &Services) -> Result<Request, Error> {
        let mut r = self.common.request(services)?;
        r.ownership = LayerOwnership::new(self.uid, self.gid);
        r.cache_dir.clone_from(&self.cache_dir);
        r.cache_image = self
            .cache_image
            .as_deref()
            .map(|c| {
                kiln_registry::RegistryRef::parse(c)
                    .map_err(|e| Error::InvalidInput(format!("--cache-image {c:?}: {e}")))
            })
            .transpose()?;
        r.previous_image = self
            .previous_image
            .as_deref()
            .map(|p| super::parse_ref("--previous-image", p))
            .transpose()?;
        r.fetch = self.fetch.options()?;
        r.wait_for_locks = !self.no_wait;
        r.collect_garbage = !self.no_gc;
        r.compression = kiln_oci::BlobCompression {
            format: self.compression,
            threads: self
                .threads
                .map_or_else(kiln_compress::default_threads, usize::from),
        };
        r.app_slices.auto = !self.no_app_slices;
        Ok(r)
    }
}

/// `kiln detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Common options.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl DetectArgs {
    /// The pipeline request.
    pub fn request(&self, services: &Services) -> Result<Request, Error> {
        self.common.request(services)
    }
}

/// `kiln inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The image: `oci:DIR[:TAG]` or a registry reference.
    pub image: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn seconds(value: f64, flag: &str) -> Result<Duration, Error> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Error::InvalidInput(format!(
            "--{flag} must be a positive number of seconds"
        )))
    }
}

impl CommonArgs {
    fn request(&self, services: &Services) -> Result<Request, Error> {
        if !self.path.is_dir() {
            return Err(Error::InvalidInput(format!(
                "app directory {} does not exist or is not a directory; pass an existing directory with --path",
                self.path.display()
            )));
        }
        if self.memory_limit == 0 {
            return Err(Error::InvalidInput(
                "--memory-limit must be at least 1 MiB".into(),
            ));
        }
        let project = crate::project::load(&self.path, self.descriptor.as_deref())?;
        // project.toml's build env is under --env-file and --env.
        let mut env = project
            .as_ref()
            .map(crate::project::build_env)
            .unwrap_or_default();
        for file in &self.env_file {
            parse_env_file(file, &mut env)?;
        }
        for pair in &self.env {
            let (k, v) = split_env(pair).map_err(|why| {
                Error::InvalidInput(format!("--env {pair:?}: {why}; use --env KEY=VALUE"))
            })?;
            env.set(k, v);
        }
        let epoch = source_date_epoch()?;
        let mut request = Request::new(&self.path, services.clone());
        request.buildpacks.clone_from(&self.buildpacks);
        request.order.clone_from(&self.order);
        let from_project = |pick: fn(&kiln_project::ProjectDescriptor) -> Option<&String>| {
            project.as_ref().and_then(pick).map(String::as_str)
        };
        let run_image = self
            .run_image
            .as_deref()
            .or_else(|| from_project(|p| p.run_image.as_ref()))
            .unwrap_or("scratch");
        request.run_image = super::parse_ref("--run-image", run_image)?;
        request.build_image = self
            .build_image
            .as_deref()
            .or_else(|| from_project(|p| p.build_image.as_ref()))
            .map(|b| super::parse_ref("--build-image", b))
            .transpose()?;
        if let Some(p) = &project {
            request.app_slices.explicit.clone_from(&p.slices);
        }
        request.project = project;
        request.env = env;
        request.exec_env.clone_from(&self.exec_env);
        request.epoch_seconds = epoch;
        request.layers_dir.clone_from(&self.layers_dir);
        request.compile_cache = compile_cache_dir(self.compile_cache.as_ref(), &services.caches);
        request.limits = Limits {
            detect_timeout: seconds(self.detect_timeout, "detect-timeout")?,
            build_timeout: seconds(self.build_timeout, "build-timeout")?,
            memory: self.memory_limit.saturating_mul(1 << 20),
            ..Limits::default()
        };
        Ok(request)
    }
}

fn split_env(pair: &str) -> Result<(&str, &str), String> {
    let (k, v) = pair.split_once('=').ok_or("missing '='")?;
    if let Some(rule) = name_problem(k) {
        return Err(format!("variable name {k:?} {rule}"));
    }
    if k.starts_with("CNB_") {
        return Err(format!("variable {k} uses the reserved CNB_ prefix"));
    }
    Ok((k, v))
}

fn parse_env_file(path: &std::path::Path, env: &mut Env) -> Result<(), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::InvalidInput(format!("could not read env file {}: {e}", path.display()))
    })?;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = split_env(line).map_err(|why| {
            Error::InvalidInput(format!(
                "{} line {}: {why}; each line must be KEY=VALUE",
                path.display(),
                i + 1
            ))
        })?;
        env.set(k, v);
    }
    Ok(())
}

fn source_date_epoch() -> Result<u64, Error> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
            Error::InvalidInput(format!(
                "SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds since 1970"
            ))
        }),
        _ => Ok(DEFAULT_EPOCH),
    }
}
