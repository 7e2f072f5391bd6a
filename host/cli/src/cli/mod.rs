//! The `kiln` command line: argument parsing, output, and exit codes.

mod args;
mod fetch_args;
pub mod image;
mod inspect;
mod logging;
mod reporter;
pub mod scaffold;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use kiln_fs::CachePaths;

use crate::services::Services;

use crate::error::{Error, exit};
use crate::image_ref::ImageRef;
use crate::pipeline::{self, OutputTarget};
use args::{Cli, Command};
pub use reporter::{ConsoleReporter, Verbosity, printable as printable_line, render};

/// Run the CLI with the process arguments and return the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::INVALID_INPUT
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {}", one_line(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    logging::init(cli.verbosity());
    kiln_fs::interrupt::install();
    let reporter: Arc<dyn pipeline::Reporter> = Arc::new(ConsoleReporter::new(cli.verbosity()));
    let caches = CachePaths::from_env();
    let services = Services::new(caches.clone(), cli.registry_settings(&caches)?)
        .map_err(|e| Error::InvalidInput(format!("could not start the I/O runtime: {e}")))?;
    match cli.command {
        Command::Build(b) => {
            let output = OutputTarget::parse(&b.image, &services)?.with_tags(&b.tags)?;
            let request = b.request(&services)?;
            if output.is_docker_archive()
                && request.compression.format.media_type() != kiln_oci::MEDIA_TYPE_OCI_LAYER_GZIP
            {
                return Err(Error::InvalidInput(format!(
                    "--compression {}: a docker-archive: output needs gzip layers (`docker load` does not read zstd); drop --compression or write to oci:DIR",
                    request.compression.format
                )));
            }
            let summary = pipeline::build(&request, &output, &reporter)?;
            // A docker-archive is identified by its image ID (what `docker load` shows).
            match &summary.export.archive_image_id {
                Some(id) => println!("{id}"),
                None => println!("{}", summary.export.manifest_digest),
            }
            Ok(())
        }
        Command::Detect(d) => {
            let request = d.request(&services)?;
            let (group, plan) = pipeline::detect_only(&request, &reporter)?;
            println!("# group.toml\n{group}\n# plan.toml\n{plan}");
            Ok(())
        }
        Command::Inspect(i) => inspect::run(&i, &services),
        Command::Gc(g) => {
            if let Some(image) = &g.image {
                let reference = parse_ref("layout", image)?;
                let report = crate::layout_gc::run(
                    &reference,
                    &caches.locks(),
                    !g.no_wait,
                    reporter.as_ref(),
                )?;
                println!("{}", crate::layout_gc::summary(&report));
            }
            if g.cache {
                let max_age = std::time::Duration::from_hours(g.max_age.saturating_mul(24));
                let report = crate::cache_gc::run(&caches, max_age, reporter.as_ref())?;
                for r in &report.removed {
                    println!(
                        "removed {} {} ({})",
                        r.what,
                        r.path.display(),
                        kiln_registry::human_bytes(r.bytes)
                    );
                }
                let base = caches.base().unwrap_or_else(|| std::path::Path::new(""));
                println!("{}", report.summary(base));
            }
            Ok(())
        }
        Command::Sbom(s) => {
            let reference = parse_ref("image", &s.image)?;
            let opened = crate::transport::open_existing(&services.registries, &reference)
                .map_err(Error::Open)?;
            let Some(image) = opened.image else {
                return Err(Error::InvalidInput("`scratch` has no SBOM".into()));
            };
            for path in kiln_lifecycle::sbom::extract(&s.image, &image, &s.output_dir)? {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Buildpack(args::BuildpackCommand::Package(p)) => {
            let log: kiln_runtime::LogSink = Arc::new(|_, _, _| {});
            let cache = args::compile_cache_dir(p.compile_cache.as_ref(), &caches);
            let runtime = kiln_runtime::Runtime::new(cache, kiln_runtime::Limits::default(), log)
                .map_err(|e| Error::Buildpack(e.into()))?;
            let packaged =
                crate::buildpack_artifact::package(&p.src, &p.dest, &runtime, &services)?;
            let pushed = packaged.push.as_ref().map_or_else(String::new, |r| {
                format!(
                    ": {} blobs uploaded ({}), {} already present",
                    r.uploaded,
                    kiln_registry::human_bytes(r.uploaded_bytes),
                    r.present
                )
            });
            reporter.info(&format!(
                "Packaged {} as {}{pushed}",
                packaged.id_version, p.dest
            ));
            println!("{}", packaged.digest);
            Ok(())
        }
        Command::Buildpack(args::BuildpackCommand::New(n)) => {
            let dir = n.path.clone().unwrap_or_else(|| {
                std::path::PathBuf::from(n.name.rsplit('/').next().unwrap_or(&n.name))
            });
            let written = scaffold::scaffold(&n.name, &dir).map_err(|e| match e {
                scaffold::ScaffoldError::Io { .. } => Error::Scaffold(e),
                other => Error::InvalidInput(other.to_string()),
            })?;
            reporter.info(&format!(
                "Created buildpack {} in {}; run `cargo test` there",
                n.name,
                written.display()
            ));
            println!("{}", written.display());
            Ok(())
        }
        Command::Image(i) => image::run(&i, &services),
        Command::Rebase(r) => {
            reporter.phase(pipeline::Phase::Rebasing);
            let image = parse_ref("image", &r.image)?;
            let run_image =
                pipeline::open_run_image(&parse_ref("--run-image", &r.run_image)?, &services)?;
            // A layout is rewritten in place: under the output lock, as a build into it is.
            let layout_dir = match &image {
                ImageRef::Layout { dir, .. } => Some(dir.clone()),
                _ => None,
            };
            let _lock = layout_dir
                .as_deref()
                .map(|d| crate::layout_gc::lock(&caches.locks(), d, !r.no_wait, reporter.as_ref()))
                .transpose()?;
            let (report, pushed) = crate::rebase_image::rebase_anywhere(
                &services.registries,
                &image,
                &run_image.image,
                run_image.registry.as_ref(),
                r.force,
                &std::collections::BTreeMap::new(),
            )?;
            if let Some(p) = pushed {
                reporter.info(&p.summary());
            }
            reporter.info(&format!(
                "Rebased {} onto {} ({} app layers kept; top layer {} -> {})",
                r.image,
                r.run_image,
                report.kept_layers,
                short(&report.old_top_layer),
                short(&report.new_top_layer)
            ));
            if let Some(dir) = layout_dir.as_deref().filter(|_| !r.no_gc) {
                match kiln_oci::OciLayout::open(dir) {
                    Ok(layout) => crate::layout_gc::sweep_after(&layout, reporter.as_ref()),
                    Err(e) => reporter.warn(&format!(
                        "could not reopen {} to remove unreferenced blobs: {e}",
                        dir.display()
                    )),
                }
            }
            println!("{}", report.manifest_digest);
            Ok(())
        }
    }
}

/// Parse the image reference `input` given as `what` (a flag or argument name).
pub(crate) fn parse_ref(what: &'static str, input: &str) -> Result<ImageRef, Error> {
    ImageRef::parse(input).map_err(|source| Error::Reference { what, source })
}

/// The error and its causes on one line (`a: b: c`), without repeating a cause the message
/// already contains.
fn one_line(err: &Error) -> String {
    let text = crate::error::chain(err);
    reporter::printable(&text.replace('\n', " "))
}

fn short(diff_id: &str) -> &str {
    let hex = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
    hex.get(..12).unwrap_or(hex)
}
