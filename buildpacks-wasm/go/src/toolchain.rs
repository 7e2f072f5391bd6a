//! The Go toolchain (GOROOT) in the build + cache layer `go`: the inventory release that
//! `go.mod` asks for, downloaded pinned, unpacked on the host, and kept while the release is
//! unchanged.

use kiln_sdk::extract::{ArchiveFormat, ExtractOptions, HostExtract, extract_download};
use kiln_sdk::fetch::{Download, fetch};
use kiln_sdk::{BuildContext, CachedLayer, Layer, LayerTypes, RestoreDecision, layer_name};
use serde::{Deserialize, Serialize};

use crate::error::GoError;
use crate::gomod::GoMod;
use crate::inventory::{self, Release};
use crate::read_app_file;

/// What the `go` layer was built from, and its executables (the cache keeps file modes only
/// for listed files, so a kept layer lists them again).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct ToolchainMeta {
    version: String,
    sha256: String,
    executables: Vec<String>,
}

/// The installed toolchain.
#[derive(Debug)]
pub struct Toolchain {
    /// The `go` layer; its path is GOROOT.
    pub layer: Layer,
    /// The release's version (`1.23.4`).
    pub version: String,
    /// Layer-relative paths of its executables.
    pub executables: Vec<String>,
}

fn releases(ctx: &BuildContext) -> Result<Vec<Release>, GoError> {
    match ctx.detect.env("KILN_GO_INVENTORY") {
        Some(file) => {
            let text = read_app_file(ctx, file)?
                .ok_or_else(|| GoError::InventoryMissing(file.to_owned()))?;
            Ok(inventory::parse(&text, file)?)
        }
        None => Ok(inventory::parse(
            inventory::SHIPPED,
            "the shipped inventory",
        )?),
    }
}

/// Install (or keep) the Go release `go_mod` asks for.
pub fn install(ctx: &BuildContext, go_mod: &GoMod) -> Result<Toolchain, GoError> {
    let releases = releases(ctx)?;
    let os = ctx.detect.target.os.as_str();
    let arch = inventory::go_arch(ctx.detect.target.arch.as_ref());
    let wanted = go_mod.wanted();
    let release = inventory::select(&releases, wanted.as_ref(), os, arch)?;
    let asked = wanted.map_or_else(|| "no version in go.mod".to_owned(), |w| w.directive);
    kiln_sdk::log::info(format!("Go {} for {os}/{arch} ({asked})", release.version));
    let definition = CachedLayer::new(
        layer_name!("go"),
        LayerTypes::none().build().cache(),
        |old: &ToolchainMeta, _| {
            if old.version == release.version && old.sha256 == release.sha256 {
                RestoreDecision::keep(format!("Go {} is unchanged", release.version))
            } else {
                RestoreDecision::discard(format!("Go {} replaces {}", release.version, old.version))
            }
        },
    );
    let (mut layer, restore) = ctx.cached(&definition)?;
    if let kiln_sdk::Restore::Kept { metadata, .. } = &restore {
        for exe in &metadata.executables {
            layer.mark_executable(exe)?;
        }
        return Ok(Toolchain {
            layer: layer.into_layer(),
            version: release.version.clone(),
            executables: metadata.executables.clone(),
        });
    }
    let url = inventory::mirrored_url(release, ctx.detect.env("KILN_GO_DIST_URL"));
    kiln_sdk::log::info(format!("Installing Go {} from {url}", release.version));
    let file = fetch(&Download::pinned(
        &url,
        format!("sha256:{}", release.sha256),
    ))
    .map_err(|source| GoError::ToolchainDownload {
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
    layer.set_metadata(&ToolchainMeta {
        version: release.version.clone(),
        sha256: release.sha256.clone(),
        executables: report.executables.clone(),
    })?;
    Ok(Toolchain {
        layer: layer.into_layer(),
        version: release.version.clone(),
        executables: report.executables,
    })
}
