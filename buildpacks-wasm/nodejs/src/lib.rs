//! Kiln buildpack `kiln/nodejs`: installs Node.js from a pinned inventory and the app's
//! dependencies from `package-lock.json` (v2/v3) without running npm. Every byte is fetched
//! through the host's pinned `fetch` import and verified.
//!
//! Configuration (platform env, `kiln build --env`):
//! - `KILN_NODEJS_DIST_URL`: mirror replacing `https://nodejs.org/dist`;
//! - `KILN_NODEJS_INVENTORY`: a TOML inventory file in the app dir replacing the shipped one;
//! - `npm_config_registry` (or `.npmrc` `registry=`): npm registry mirror;
//! - `KILN_NODEJS_INCLUDE_DEV=true`: also install dev dependencies (default: only when the
//!   execution environment is not `production`);
//! - `KILN_NODEJS_SCRIPTS_REQUIRED=a,b` / `KILN_NODEJS_SCRIPTS_SKIP=c`: packages whose install
//!   scripts must fail the build / do not matter; `KILN_NODEJS_STRICT_SCRIPTS=true`: every
//!   install script not skipped fails the build (see `scripts`).

mod app_link;
mod error;
mod install;
mod inventory;
mod lockfile;
mod package_json;
mod range;
mod registry;
mod scripts;

use kiln_sdk::extract::{ArchiveFormat, ExtractOptions, HostExtract, extract_download};
use kiln_sdk::fetch::{Download, fetch};
use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, BuildpackInfo, CachedLayer, DetectContext, DetectResult,
    EnvChange, Error, Layer, LayerTypes, Process, RestoreDecision, buildpack_id, layer_name,
    process_type,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

pub use error::NodejsError;
use package_json::PackageJson;

/// The Node.js buildpack.
#[derive(Default)]
pub struct NodejsBuildpack;

/// What the `node` layer was built from.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct RuntimeMeta {
    version: String,
    sha256: String,
}

/// What the `modules` layer was built from.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct ModulesMeta {
    lockfile_sha256: String,
    include_dev: bool,
    arch: String,
}

impl ModulesMeta {
    /// Why a restored `modules` layer built from `old` can or cannot be kept.
    fn decide(&self, old: &Self) -> RestoreDecision {
        if old.lockfile_sha256 != self.lockfile_sha256 {
            RestoreDecision::discard("package-lock.json changed")
        } else if old.include_dev != self.include_dev {
            RestoreDecision::discard(if self.include_dev {
                "dev dependencies are now included"
            } else {
                "dev dependencies are now left out"
            })
        } else if old.arch != self.arch {
            RestoreDecision::discard(format!(
                "the architecture changed from {} to {}",
                old.arch, self.arch
            ))
        } else {
            RestoreDecision::keep("package-lock.json is unchanged")
        }
    }
}

fn env_flag(ctx: &BuildContext, name: &str) -> bool {
    ctx.detect
        .env(name)
        .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

fn read_app_file(ctx: &BuildContext, name: &str) -> Result<Option<String>, Error> {
    let path = ctx.app_dir().join(name);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

impl Buildpack for NodejsBuildpack {
    type Error = NodejsError;

    fn info() -> BuildpackInfo {
        BuildpackInfo::new(buildpack_id!("kiln/nodejs"), env!("CARGO_PKG_VERSION"))
            .name("Node.js")
            .description("Installs Node.js and package-lock.json dependencies without npm")
    }

    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, NodejsError> {
        Ok(if ctx.app_has("package.json") {
            DetectResult::pass()
        } else {
            DetectResult::fail("no package.json in the app directory")
        })
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, NodejsError> {
        let text = read_app_file(&ctx, "package.json")?.ok_or(NodejsError::PackageJsonMissing)?;
        let package = PackageJson::parse(&text, "package.json")?;
        let mut result = BuildResult::new();
        result = result.layer(install_runtime(&ctx, &package)?);
        if let Some(layer) = install_modules(&ctx, &package)? {
            result = result.layer(layer);
        }
        if let Some(process) = web_process(&ctx, &package) {
            result = result.process(process);
        } else {
            kiln_sdk::log::warn(
                "no scripts.start in package.json and no server.js or index.js; the image has no web process",
            );
        }
        Ok(result.build()?)
    }
}

fn install_runtime(ctx: &BuildContext, package: &PackageJson) -> Result<Layer, NodejsError> {
    let releases = match ctx.detect.env("KILN_NODEJS_INVENTORY") {
        Some(file) => {
            let text = read_app_file(ctx, file)?
                .ok_or_else(|| NodejsError::InventoryMissing(file.to_owned()))?;
            inventory::parse(&text, file)?
        }
        None => inventory::parse(inventory::SHIPPED, "the shipped inventory")?,
    };
    let os = ctx.detect.target.os.as_str();
    let arch = inventory::node_arch(ctx.detect.target.arch.as_ref());
    let release = inventory::select(&releases, package.node_range(), os, arch)?;
    let meta = RuntimeMeta {
        version: release.version.clone(),
        sha256: release.sha256.clone(),
    };
    let definition = CachedLayer::new(
        layer_name!("node"),
        LayerTypes::none().launch().build().cache(),
        |old: &RuntimeMeta, _| {
            if *old == meta {
                RestoreDecision::keep(format!("Node.js {} is unchanged", meta.version))
            } else {
                RestoreDecision::discard(format!(
                    "Node.js {} replaces {}",
                    meta.version, old.version
                ))
            }
        },
    );
    let (mut layer, restore) = ctx.cached(&definition)?;
    if restore.is_kept() {
        return Ok(layer.into_layer());
    }
    let url = inventory::mirrored_url(release, ctx.detect.env("KILN_NODEJS_DIST_URL"));
    kiln_sdk::log::info(format!("Installing Node.js {} from {url}", release.version));
    let file = fetch(&Download::pinned(
        &url,
        format!("sha256:{}", release.sha256),
    ))
    .map_err(|source| NodejsError::RuntimeDownload {
        version: release.version.clone(),
        source,
    })?;
    let report = extract_download(&HostExtract {
        archive: file.path.clone(),
        format: ArchiveFormat::TarGz,
        destination: layer.path().to_path_buf(),
        options: ExtractOptions {
            strip_components: 1,
        },
    })?;
    for exe in &report.executables {
        layer.mark_executable(exe)?;
    }
    layer.set_metadata(&meta)?;
    Ok(layer.into_layer())
}

fn install_modules(
    ctx: &BuildContext,
    package: &PackageJson,
) -> Result<Option<Layer>, NodejsError> {
    let Some(lock_text) = read_app_file(ctx, "package-lock.json")? else {
        if package.has_dependencies() {
            return Err(NodejsError::NoLockfile);
        }
        return Ok(None);
    };
    let include_dev =
        env_flag(ctx, "KILN_NODEJS_INCLUDE_DEV") || !ctx.detect.exec_env.is_production();
    let arch = inventory::node_arch(ctx.detect.target.arch.as_ref()).to_owned();
    let meta = ModulesMeta {
        lockfile_sha256: hex::encode(sha2::Sha256::digest(lock_text.as_bytes())),
        include_dev,
        arch: arch.clone(),
    };
    let packages = lockfile::parse(&lock_text)?;
    let selection = install::select(packages, include_dev, ctx.detect.target.os.as_str(), &arch);
    let unrun_scripts =
        scripts::ScriptPolicy::from_env(&ctx.detect.platform_env).check(&selection.packages)?;
    let definition = CachedLayer::new(
        layer_name!("modules"),
        LayerTypes::none().launch().build().cache(),
        |old: &ModulesMeta, _| meta.decide(old),
    );
    let (mut layer, restore) = ctx.cached(&definition)?;
    let modules_dir = layer.path().join("node_modules");
    layer.add_env(EnvChange::set(
        "NODE_PATH",
        modules_dir.display().to_string(),
    ));
    layer.add_env(
        EnvChange::prepend("PATH", modules_dir.join(".bin").display().to_string()).delimiter(":"),
    );
    // `<app>/node_modules` is a link into this layer; resolve through it as npm's real
    // directory would (`require.resolve` and `__dirname` give paths under the app).
    layer.add_env(EnvChange::default_value("NODE_PRESERVE_SYMLINKS", "1"));
    app_link::link_node_modules(ctx.app_dir(), &modules_dir)?;
    if restore.is_kept() {
        warn_unrun_scripts(&unrun_scripts, layer.path());
        return Ok(Some(layer.into_layer()));
    }
    let reg = registry::configured(
        ctx.detect.env("npm_config_registry"),
        read_app_file(ctx, ".npmrc")?.as_deref(),
    );
    let unpack = match ctx.detect.env("KILN_NODEJS_EXTRACT") {
        Some("guest") => install::Unpack::Guest,
        _ => install::Unpack::Host,
    };
    let done = install::install(&selection.packages, &reg, &mut layer, unpack)?;
    kiln_sdk::log::info(format!(
        "Installed {} packages ({} downloaded, {} .bin links); left out {} dev and {} other-platform packages",
        done.packages,
        done.downloaded,
        done.bin_links,
        selection.skipped_dev,
        selection.skipped_platform
    ));
    warn_unrun_scripts(&unrun_scripts, layer.path());
    layer.set_metadata(&meta)?;
    Ok(Some(layer.into_layer()))
}
fn warn_unrun_scripts(unrun: &[&lockfile::LockedPackage], layer_root: &std::path::Path) {
    if let Some(text) = scripts::warning(unrun, layer_root) {
        kiln_sdk::log::warn(text);
    }
}

/// `npm start` semantics without npm: `scripts.start` through `sh -c`, else
/// `node server.js`, else `node index.js`.
fn web_process(ctx: &BuildContext, package: &PackageJson) -> Option<Process> {
    let command: Vec<String> = if let Some(start) = package.start_script() {
        vec!["/bin/sh".into(), "-c".into(), start.to_owned()]
    } else if ctx.app_dir().join("server.js").is_file() {
        vec!["node".into(), "server.js".into()]
    } else if ctx.app_dir().join("index.js").is_file() {
        vec!["node".into(), "index.js".into()]
    } else {
        return None;
    };
    Some(Process::new(process_type!("web"), command).default(true))
}

kiln_sdk::export_buildpack!(NodejsBuildpack);
