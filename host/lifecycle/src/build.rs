//! The build phase: each buildpack of the group in order, with its plan entries, its own
//! layers directory, and the build layers of the buildpacks before it.

use std::path::PathBuf;

use super::env::{Env, Scope, in_file_order};
use super::layers_dir::{self, LayersDirError};
use super::outcome::{self, BuildpackOutput, OutcomeError};
use super::plan::Entry;
use super::{BuildInputs, Restored, base_context, guest_env, seed};
use crate::buildpack::Buildpack;
use kiln_runtime::bindings::types;
use kiln_runtime::{Grants, Phase, Runtime, RuntimeError};

/// One buildpack's result.
#[derive(Debug, Clone)]
pub struct BuiltBuildpack {
    /// Index into the buildpack list.
    pub index: usize,
    /// What it produced.
    pub output: BuildpackOutput,
}

/// The build phase failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The buildpack returned an error.
    #[error("buildpack {buildpack} failed: {message}")]
    Failed {
        /// Buildpack id.
        buildpack: String,
        /// Its message (and detail).
        message: String,
    },
    /// The call trapped, timed out or ran out of memory.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The returned records are invalid.
    #[error(transparent)]
    Outcome(#[from] OutcomeError),
    /// The layers directory is unsafe or could not be written.
    #[error(transparent)]
    LayersDir(#[from] LayersDirError),
    /// Host I/O failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

impl BuildError {
    /// True when the buildpack is at fault (CNB exit 51), false for host errors (52).
    pub fn is_buildpack_fault(&self) -> bool {
        !matches!(
            self,
            Self::Io { .. }
                | Self::Runtime(RuntimeError::Engine(_) | RuntimeError::Sandbox { .. })
                | Self::LayersDir(LayersDirError::Io { .. } | LayersDirError::Toml { .. })
        )
    }
}

/// Guest path of a buildpack's layers dir.
pub fn guest_layers_dir(bp: &Buildpack) -> String {
    format!("{}/{}", kiln_spec::LAYERS_DIR, bp.escaped_id())
}

/// Run `build` for every buildpack of `group`.
pub fn build(
    runtime: &Runtime,
    buildpacks: &[Buildpack],
    group: &[usize],
    plan: &[Entry],
    inputs: &BuildInputs,
    restored: &std::collections::BTreeMap<usize, Restored>,
) -> Result<Vec<BuiltBuildpack>, BuildError> {
    // Remaining providers per plan entry; the first remaining provider gets the entry.
    let mut entries: Vec<(Entry, Vec<usize>)> = plan
        .iter()
        .map(|e| (e.clone(), e.providers.clone()))
        .collect();
    let mut build_env = inputs.build_image_env.clone();
    let mut build_layers: Vec<(PathBuf, String)> = Vec::new();
    let mut results = Vec::new();
    for &index in group {
        let bp = &buildpacks[index];
        let guest_root = guest_layers_dir(bp);
        let escaped = bp.escaped_id();
        let single_component = matches!(
            std::path::Path::new(&escaped)
                .components()
                .collect::<Vec<_>>()[..],
            [std::path::Component::Normal(_)]
        );
        if !single_component {
            return Err(BuildError::Io {
                action: "use buildpack id as a directory name:",
                path: PathBuf::from(escaped),
                source: std::io::Error::other("not a single path component"),
            });
        }
        let host_root = inputs.layers_dir.join(&escaped);
        std::fs::create_dir_all(&host_root).map_err(|source| BuildError::Io {
            action: "create",
            path: host_root.clone(),
            source,
        })?;
        let my_entries: Vec<&Entry> = entries
            .iter()
            .filter(|(_, providers)| providers.first() == Some(&index))
            .map(|(e, _)| e)
            .collect();
        let plan_names: Vec<String> = my_entries.iter().map(|e| e.name.clone()).collect();
        let ctx = types::BuildContext {
            base: base_context(bp, inputs),
            layers_dir: guest_root.clone(),
            plan: my_entries
                .iter()
                .flat_map(|e| {
                    e.requires.iter().map(|r| types::PlanEntry {
                        name: r.name.clone(),
                        metadata: r.metadata.to_string(),
                    })
                })
                .collect(),
            restored_layers: restored
                .get(&index)
                .map(|r| r.layers.clone())
                .unwrap_or_default(),
            build_layers: build_layers.iter().map(|(_, g)| g.clone()).collect(),
        };
        let mut grants = Grants {
            env: guest_env(bp, inputs, Some(&guest_root), &build_env).pairs(),
            seed: seed(bp, Phase::Build, inputs),
            epoch_seconds: inputs.epoch_seconds,
            native: inputs.native_steps.clone(),
            ..Grants::default()
        };
        grants.read_write(&inputs.app_dir, kiln_spec::APP_DIR);
        grants.read_write(&host_root, &guest_root);
        grants.read_only(&inputs.platform_dir, kiln_spec::PLATFORM_DIR);
        for (host, guest) in &build_layers {
            grants.read_only(host, guest);
        }
        let outcome =
            runtime
                .build(&bp.component, &ctx, &grants)?
                .map_err(|e| BuildError::Failed {
                    buildpack: bp.descriptor.id.to_string(),
                    message: kiln_runtime::guest_text::error_message(e.message, &e.detail),
                })?;
        layers_dir::verify_tree(&host_root, &guest_root, bp.descriptor.id.as_str())?;
        let mut output = outcome::validate(outcome, bp.descriptor.id.as_str(), &plan_names)?;
        layers_dir::check_layer_dirs(&host_root, &guest_root, bp.descriptor.id.as_str(), &output)?;
        if let Some(r) = restored.get(&index) {
            mark_reused(&mut output, &host_root, &r.reusable);
        }
        layers_dir::write_buildpack_files(
            &host_root,
            &guest_root,
            bp.descriptor.id.as_str(),
            &output,
        )?;
        for layer in output.layers.iter().filter(|l| l.build) {
            let host = host_root.join(layer.name.as_str());
            let guest = format!("{guest_root}/{}", layer.name);
            add_build_layer_env(&mut build_env, &host, &guest, &layer.env);
            build_layers.push((host, guest));
        }
        // Plan entries this buildpack did not declare unmet are satisfied; unmet ones move on.
        entries.retain_mut(|(entry, providers)| {
            if providers.first() != Some(&index) {
                return true;
            }
            if output.unmet.contains(&entry.name) {
                providers.remove(0);
                !providers.is_empty()
            } else {
                false
            }
        });
        results.push(BuiltBuildpack { index, output });
    }
    Ok(results)
}

/// A launch layer returned without contents that the previous image has is reused from it.
fn mark_reused(
    output: &mut BuildpackOutput,
    host_root: &std::path::Path,
    reusable: &std::collections::BTreeMap<String, String>,
) {
    for layer in &mut output.layers {
        let present = std::fs::symlink_metadata(host_root.join(layer.name.as_str())).is_ok();
        if !present
            && layer.launch
            && !layer.cache
            && let Some(sha) = reusable.get(layer.name.as_str())
        {
            layer.reuse = Some(sha.clone());
        }
    }
}

/// Root-dir injection then `env/` then `env.build/`, as later buildpacks see a build layer.
fn add_build_layer_env(
    env: &mut Env,
    host: &std::path::Path,
    guest: &str,
    mods: &[super::env::Modification],
) {
    for (dir, vars) in [
        ("bin", &["PATH"][..]),
        ("lib", &["LD_LIBRARY_PATH", "LIBRARY_PATH"][..]),
        ("include", &["CPATH"][..]),
        ("pkgconfig", &["PKG_CONFIG_PATH"][..]),
    ] {
        if host.join(dir).is_dir() {
            for var in vars {
                env.prepend_path(var, &format!("{guest}/{dir}"));
            }
        }
    }
    for scope in [Scope::All, Scope::Build] {
        for m in in_file_order(mods, &scope) {
            env.apply(m);
        }
    }
}

#[cfg(test)]
mod tests;
