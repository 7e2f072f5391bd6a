//! Kiln buildpack `kiln/procfile`: turns each `type: command` line of a `Procfile` into a launch
//! process. `web` is the default process; with a single process, that one is.

mod procfile;

use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, DetectContext, DetectResult, Error,
    Process, buildpack_id,
};

pub use procfile::{ProcfileEntry, parse_procfile};

/// The Procfile buildpack.
#[derive(Default)]
pub struct ProcfileBuildpack;

impl Buildpack for ProcfileBuildpack {
    type Error = Error;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("kiln/procfile"), env!("CARGO_PKG_VERSION"))
            .name("Procfile")
            .description("Declares launch processes from the app's Procfile")
    }

    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, Error> {
        Ok(if ctx.app_has("Procfile") {
            DetectResult::pass()
        } else {
            DetectResult::fail("no Procfile in the app directory")
        })
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, Error> {
        let path = ctx.app_dir().join("Procfile");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        let entries = parse_procfile(&text)?;
        let default = default_type(&entries);
        let mut result = BuildResult::new();
        for entry in entries {
            kiln_sdk::log::info(format!("process {}: {}", entry.process_type, entry.command));
            let is_default = Some(entry.process_type.as_str()) == default.as_deref();
            result = result.process(
                Process::new(
                    entry.process_type,
                    ["/bin/sh", "-c", entry.command.as_str()],
                )
                .default(is_default),
            );
        }
        result.build()
    }
}

/// `web` if present, else the only process, else none.
fn default_type(entries: &[ProcfileEntry]) -> Option<String> {
    if entries.iter().any(|e| e.process_type.as_str() == "web") {
        Some("web".to_owned())
    } else if let [only] = entries {
        Some(only.process_type.as_str().to_owned())
    } else {
        None
    }
}

kiln_sdk::export_buildpack!(ProcfileBuildpack);
