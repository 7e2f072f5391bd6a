//! [`kiln_fleet::Engine`] with this binary: inputs resolved through the registries, git and
//! the file system; builds through [`crate::pipeline::build`]; rebases through
//! [`crate::rebase_image::rebase_anywhere`]. Each build's progress goes to its log file.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use kiln_fleet::{
    BuildInputs, Current, EngineError, INPUTS_LABEL, ImageSpec, ResolvedBuildpack, ResolvedImage,
};
use kiln_lifecycle::progress::{Event, Reporter};

use super::digests::Digests;
use super::source::Sources;
use crate::cli::render;
use crate::image_ref::ImageRef;
use crate::pipeline::{self, OutputTarget, Request};
use crate::services::Services;
use crate::transport::{self, Depth};

/// Builds and rebases a fleet's images with this binary.
pub struct KilnEngine {
    services: Services,
    sources: Sources,
    digests: Digests,
    work: PathBuf,
}

impl KilnEngine {
    /// An engine on `services`; git mirrors and checkouts go under `<cache>/fleet`.
    pub fn new(services: Services) -> Self {
        let base = services.caches.base().map_or_else(
            || std::env::temp_dir().join("kiln-fleet"),
            |b| b.join("fleet"),
        );
        Self {
            sources: Sources::new(base.join("git")),
            digests: Digests::default(),
            work: base.join("work"),
            services,
        }
    }

    /// `reference` pinned to `digest` when it is a registry reference by tag (so the build
    /// uses exactly what was resolved); other references as they are.
    fn pinned(reference: &str, digest: &str) -> String {
        match ImageRef::parse(reference) {
            Ok(ImageRef::Registry(r)) if r.digest().is_none() && digest.starts_with("sha256:") => {
                r.with_digest(digest).whole()
            }
            _ => reference.to_owned(),
        }
    }
}

impl kiln_fleet::Engine for KilnEngine {
    fn resolve(&self, spec: &ImageSpec) -> Result<BuildInputs, EngineError> {
        let source = self.sources.resolve(spec)?;
        let mut buildpacks = Vec::new();
        for reference in &spec.builder.buildpacks {
            buildpacks.push(ResolvedBuildpack {
                digest: self
                    .digests
                    .buildpack(&self.services, spec.base_dir(), reference)?,
                id: None,
                reference: reference.clone(),
                version: None,
            });
        }
        let image = |reference: &String| -> Result<ResolvedImage, EngineError> {
            Ok(ResolvedImage {
                digest: self.digests.image(&self.services, reference)?,
                reference: reference.clone(),
            })
        };
        Ok(BuildInputs {
            build_image: spec.builder.build_image.as_ref().map(image).transpose()?,
            buildpacks,
            kiln: env!("CARGO_PKG_VERSION").to_owned(),
            run_image: image(&spec.builder.run_image)?,
            source,
            spec_hash: spec.config_hash(),
        })
    }

    fn current(&self, spec: &ImageSpec) -> Result<Current, EngineError> {
        let reference = ImageRef::parse(&spec.tag).map_err(|e| format!("tag {}: {e}", spec.tag))?;
        let Some(opened) =
            transport::open_to(&self.services.registries, &reference, Depth::ConfigOnly)?
        else {
            return Ok(Current::Missing);
        };
        let Some(image) = opened.image else {
            return Ok(Current::Missing);
        };
        Ok(match image.resolved.config.label(INPUTS_LABEL) {
            Some(label) => Current::Label(label.to_owned()),
            None => Current::Unlabelled,
        })
    }

    fn build(
        &self,
        spec: &ImageSpec,
        inputs: &BuildInputs,
        log: &Path,
    ) -> Result<(String, BuildInputs), EngineError> {
        let reporter: Arc<dyn Reporter> = Arc::new(LogFile::create(log)?);
        let source = self
            .sources
            .materialize(spec, &inputs.source, &self.work, &self.services)?;
        let mut request = Request::new(&source.app, self.services.clone());
        request.project = crate::project::load(&source.app, None)?;
        let mut env = request
            .project
            .as_ref()
            .map(crate::project::build_env)
            .unwrap_or_default();
        for (k, v) in &spec.env {
            env.set(k, v);
        }
        request.env = env;
        request.buildpacks = spec
            .builder
            .buildpacks
            .iter()
            .zip(&inputs.buildpacks)
            .map(
                |(reference, resolved)| match reference.strip_prefix("docker://") {
                    Some(rest) => format!("docker://{}", Self::pinned(rest, &resolved.digest)),
                    None if reference.starts_with("oci:") => reference.clone(),
                    None if Path::new(reference).is_relative()
                        && spec.base_dir().join(reference).exists() =>
                    {
                        spec.base_dir().join(reference).display().to_string()
                    }
                    None => reference.clone(),
                },
            )
            .collect();
        let parse = |what: &'static str, r: &str| {
            crate::cli::parse_ref(what, r).map_err(|e| -> EngineError { e.to_string().into() })
        };
        request.run_image = parse(
            "build.run-image",
            &Self::pinned(&inputs.run_image.reference, &inputs.run_image.digest),
        )?;
        request.build_image = inputs
            .build_image
            .as_ref()
            .map(|b| parse("build.build-image", &Self::pinned(&b.reference, &b.digest)))
            .transpose()?;
        request.cache_image = spec
            .cache_image
            .as_deref()
            .map(kiln_registry::RegistryRef::parse)
            .transpose()?;

        // The ids and versions of the buildpacks, as loaded, go into the label too.
        let runtime = pipeline::runtime(&request, reporter.clone())?;
        let (loaded, _) = pipeline::load_buildpacks(&request, &runtime)?;
        let mut recorded = inputs.clone();
        if loaded.len() == recorded.buildpacks.len() {
            for (r, bp) in recorded.buildpacks.iter_mut().zip(&loaded) {
                r.id = Some(bp.descriptor.id.to_string());
                r.version = Some(bp.descriptor.version.clone());
            }
        }
        request
            .labels
            .insert(INPUTS_LABEL.into(), recorded.to_label());
        let output = OutputTarget::parse(&spec.tag, &self.services)?;
        let summary = pipeline::build_with_runtime(&request, &output, &runtime, reporter.as_ref())?;
        let digest = summary.export.manifest_digest.to_string();
        reporter.info(&format!("Built {} ({digest})", spec.tag));
        Ok((digest, recorded))
    }

    fn rebase(
        &self,
        spec: &ImageSpec,
        inputs: &BuildInputs,
        log: &Path,
    ) -> Result<String, EngineError> {
        let log_file = LogFile::create(log)?;
        let reporter: &dyn Reporter = &log_file;
        let recorded = inputs;
        let image = crate::cli::parse_ref("tag", &spec.tag).map_err(|e| e.to_string())?;
        let run_reference = Self::pinned(&inputs.run_image.reference, &inputs.run_image.digest);
        let run = pipeline::open_run_image(
            &crate::cli::parse_ref("build.run-image", &run_reference).map_err(|e| e.to_string())?,
            &self.services,
        )?;
        let _lock = match &image {
            ImageRef::Layout { dir, .. } => Some(crate::layout_gc::lock(
                &self.services.caches.locks(),
                dir,
                true,
                reporter,
            )?),
            _ => None,
        };
        let labels = std::iter::once((INPUTS_LABEL.to_owned(), recorded.to_label())).collect();
        let (report, pushed) = crate::rebase_image::rebase_anywhere(
            &self.services.registries,
            &image,
            &run.image,
            run.registry.as_ref(),
            false,
            &labels,
        )?;
        if let Some(p) = pushed {
            reporter.info(&p.summary());
        }
        reporter.info(&format!(
            "Rebased {} onto {run_reference} ({} app layers kept)",
            spec.tag, report.kept_layers
        ));
        if let ImageRef::Layout { dir, .. } = &image
            && let Ok(layout) = kiln_oci::OciLayout::open(dir)
        {
            crate::layout_gc::sweep_after(&layout, reporter);
        }
        Ok(report.manifest_digest.to_string())
    }
}

/// Progress of one build, as the console would show it with `-v`, into its log file.
struct LogFile {
    file: Mutex<std::fs::File>,
}

impl LogFile {
    fn create(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: Mutex::new(std::fs::File::create(path)?),
        })
    }
}

impl Reporter for LogFile {
    fn report(&self, event: &Event<'_>) {
        let (_, text) = render(event);
        if let Ok(mut f) = self.file.lock() {
            let _ = writeln!(f, "{}", crate::cli::printable_line(&text));
        }
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        if let Ok(f) = self.file.get_mut() {
            let _ = f.flush();
        }
    }
}
