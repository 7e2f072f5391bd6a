//! The app's project descriptor (`project.toml`) as a build sees it: found, read, and its
//! build env turned into platform env.

use std::path::Path;

use kiln_lifecycle::env::Env;
use kiln_project::ProjectDescriptor;

use crate::error::{Error, Result};

/// The descriptor `explicit` (`--descriptor FILE`, which must exist), else `<app>/project.toml`
/// when there is one.
pub fn load(app: &Path, explicit: Option<&Path>) -> Result<Option<ProjectDescriptor>> {
    let Some(file) = explicit else {
        return Ok(ProjectDescriptor::load(app)?);
    };
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::InvalidInput(format!(
            "--descriptor {}: {e}; pass an existing project.toml",
            file.display()
        ))
    })?;
    Ok(Some(ProjectDescriptor::parse(&text, file)?))
}

/// The descriptor's `[[io.buildpacks.build.env]]` as platform env.
pub fn build_env(project: &ProjectDescriptor) -> Env {
    let mut env = Env::new();
    for var in &project.build_env {
        env.set(&var.name, &var.value);
    }
    env
}
