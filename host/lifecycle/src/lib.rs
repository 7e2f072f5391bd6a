//! The CNB lifecycle phases, as Kiln runs them on the host: analyze (the previous image),
//! detect, restore, build, export, cache, rebase, and the files they write. Every phase works
//! on local directories and OCI layouts ([`kiln_oci::LocalImage`]); opening images through a
//! transport (layout, archive, registry) is the caller's job, so each phase can be tested on a
//! temporary layout.
//!
//! Inputs live in a [`BuildInputs`]: host directories that become the guest's `/workspace`,
//! `/platform` and `/layers/<id>`, the user's platform env and the target.

pub mod analyze;
pub mod build;
pub mod buildpack;
pub mod cache;
pub mod detect;
pub mod env;
pub mod export;
pub mod files;
pub mod layer_paths;
pub mod layers_dir;
pub mod order;
pub mod outcome;
pub mod plan;
pub mod progress;
pub mod rebase;
pub mod restore;
pub mod sbom;
pub mod workspace;

use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::buildpack::Buildpack;
use env::Env;
use kiln_runtime::Phase;
use kiln_runtime::bindings::types;

/// What the restore phase found for one buildpack.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// Layers whose metadata (and, from the cache, contents) were restored, in name order.
    pub layers: Vec<types::RestoredLayer>,
    /// Launch layers of the previous image that can be kept by metadata alone: name → diff_id.
    pub reusable: std::collections::BTreeMap<String, String>,
}

/// One entry of a detection group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderEntry {
    /// Index into the buildpack list.
    pub buildpack: usize,
    /// May be dropped if it fails detection or its plan is unmet.
    pub optional: bool,
}

/// Everything the phases need to know about this build.
#[derive(Debug, Clone)]
pub struct BuildInputs {
    /// Host dir that the guest sees as `/workspace` (a copy of the user's app).
    pub app_dir: PathBuf,
    /// Host dir that the guest sees as `/platform`.
    pub platform_dir: PathBuf,
    /// Host dir that holds `<escaped id>/` for each buildpack (guest `/layers/<id>`).
    pub layers_dir: PathBuf,
    /// The user's environment (`--env`, `--env-file`).
    pub platform_env: Env,
    /// Target OS of the run image.
    pub target_os: String,
    /// Target architecture of the run image.
    pub target_arch: String,
    /// Target distribution `(name, version)` of the run image, when its labels say.
    pub target_distro: Option<(String, String)>,
    /// Execution environment.
    pub exec_env: String,
    /// Wall-clock time guests see (`SOURCE_DATE_EPOCH`).
    pub epoch_seconds: u64,
    /// A digest of the app's file list and sizes, for seeding guest randomness.
    pub app_fingerprint: [u8; 32],
    /// The build image's environment (its config `Env`), under every other variable.
    pub build_image_env: Env,
    /// The sandbox of native steps over the build image (`None`: no build image).
    pub native_steps: Option<kiln_runtime::NativeSteps>,
}

/// The user-level path variables CNB prepends instead of overriding.
const PATH_VARS: [&str; 5] = [
    "PATH",
    "LD_LIBRARY_PATH",
    "LIBRARY_PATH",
    "CPATH",
    "PKG_CONFIG_PATH",
];

/// The `context` record for a buildpack.
pub fn base_context(bp: &Buildpack, inputs: &BuildInputs) -> types::Context {
    types::Context {
        buildpack_id: bp.descriptor.id.to_string(),
        buildpack_version: bp.descriptor.version.clone(),
        app_dir: kiln_spec::APP_DIR.into(),
        platform_dir: kiln_spec::PLATFORM_DIR.into(),
        platform_env: inputs
            .platform_env
            .pairs()
            .into_iter()
            .map(|(key, value)| types::KeyValue { key, value })
            .collect(),
        target: types::Target {
            os: inputs.target_os.clone(),
            arch: inputs.target_arch.clone(),
            variant: String::new(),
            distro_name: inputs
                .target_distro
                .as_ref()
                .map(|d| d.0.clone())
                .unwrap_or_default(),
            distro_version: inputs
                .target_distro
                .as_ref()
                .map(|d| d.1.clone())
                .unwrap_or_default(),
        },
        exec_env: inputs.exec_env.clone(),
    }
}

/// The environment variables a buildpack sees: earlier build layers' env, then the user's
/// env (unless `clear-env`), then the CNB variables. Nothing comes from the host.
pub fn guest_env(
    bp: &Buildpack,
    inputs: &BuildInputs,
    layers_dir: Option<&str>,
    build_env: &Env,
) -> Env {
    let mut env = build_env.clone();
    if !bp.descriptor.clear_env {
        for (name, value) in inputs.platform_env.pairs() {
            if PATH_VARS.contains(&name.as_str()) {
                env.prepend_path(&name, &value);
            } else {
                env.set(name, value);
            }
        }
    }
    for (name, value) in &bp.env {
        env.set(name, value);
    }
    env.set("CNB_PLATFORM_DIR", kiln_spec::PLATFORM_DIR);
    env.set("CNB_TARGET_OS", &inputs.target_os);
    env.set("CNB_TARGET_ARCH", &inputs.target_arch);
    if let Some((name, version)) = &inputs.target_distro {
        env.set("CNB_TARGET_DISTRO_NAME", name);
        env.set("CNB_TARGET_DISTRO_VERSION", version);
    }
    env.set("CNB_EXEC_ENV", &inputs.exec_env);
    if let Some(dir) = layers_dir {
        env.set("CNB_LAYERS_DIR", dir);
    }
    env
}

/// Seed for a call's random sources, derived only from build inputs.
pub fn seed(bp: &Buildpack, phase: Phase, inputs: &BuildInputs) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(bp.component.sha256.as_bytes());
    h.update(bp.descriptor.id.as_str().as_bytes());
    h.update(phase.to_string().as_bytes());
    h.update(inputs.app_fingerprint);
    for (k, v) in inputs.platform_env.pairs() {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}
