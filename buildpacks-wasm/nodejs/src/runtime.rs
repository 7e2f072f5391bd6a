//! The `node` layer: the Node.js release the inventory selects, and where its tools are for
//! the scripts that run in the build image (`node`, npm's bundled node-gyp, the headers).

use std::path::PathBuf;

use kiln_sdk::extract::{ArchiveFormat, ExtractOptions, HostExtract, extract_download};
use kiln_sdk::fetch::{Download, fetch};
use kiln_sdk::{BuildContext, CachedLayer, Layer, LayerTypes, RestoreDecision, layer_name};
use serde::{Deserialize, Serialize};

use crate::error::NodejsError;
use crate::inventory;
use crate::package_json::PackageJson;

/// What the `node` layer was built from.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct RuntimeMeta {
    version: String,
    sha256: String,
}

/// The installed Node.js release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRuntime {
    /// The layer directory (the release's top directory).
    pub dir: PathBuf,
    /// Its version.
    pub version: String,
    /// Layer-relative files that are executable but were just unpacked (modes are not set on
    /// disk); empty when the layer came back from the cache.
    pub fresh_executables: Vec<String>,
}

/// npm's directory inside a release.
const NPM: &str = "lib/node_modules/npm";

impl NodeRuntime {
    /// `<layer>/bin`.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// `<layer>/bin/node`.
    pub fn node(&self) -> PathBuf {
        self.bin_dir().join("node")
    }

    /// npm's bundled node-gyp (`node-gyp.js`), if the release has one.
    pub fn node_gyp(&self) -> Option<PathBuf> {
        Some(
            self.dir
                .join(NPM)
                .join("node_modules/node-gyp/bin/node-gyp.js"),
        )
        .filter(|p| p.is_file())
    }

    /// npm's `node-gyp-bin` directory (a `node-gyp` command for scripts), if present.
    pub fn node_gyp_bin_dir(&self) -> Option<PathBuf> {
        Some(self.dir.join(NPM).join("bin/node-gyp-bin")).filter(|p| p.is_dir())
    }

    /// npm's `npm-cli.js`, if the release has npm.
    pub fn npm_cli(&self) -> Option<PathBuf> {
        Some(self.dir.join(NPM).join("bin/npm-cli.js")).filter(|p| p.is_file())
    }

    /// Whether the release has the headers node-gyp builds against (`include/node`).
    pub fn has_headers(&self) -> bool {
        self.dir.join("include/node/common.gypi").is_file()
            && self.dir.join("include/node/node_version.h").is_file()
    }
}

/// Install (or keep) the release that `engines.node` selects from the inventory.
pub fn install(
    ctx: &BuildContext,
    package: &PackageJson,
) -> Result<(Layer, NodeRuntime), NodejsError> {
    let releases = match ctx.detect.env("KILN_NODEJS_INVENTORY") {
        Some(file) => {
            let text = crate::read_app_file(ctx, file)?
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
    let mut runtime = NodeRuntime {
        dir: layer.path().to_path_buf(),
        version: release.version.clone(),
        fresh_executables: Vec::new(),
    };
    if restore.is_kept() {
        return Ok((layer.into_layer(), runtime));
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
    runtime.fresh_executables = report.executables;
    layer.set_metadata(&meta)?;
    Ok((layer.into_layer(), runtime))
}
