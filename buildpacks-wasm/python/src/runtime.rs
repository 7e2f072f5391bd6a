//! The `python` layer: the CPython release the inventory selects, unpacked from its
//! relocatable tarball.

use std::path::PathBuf;

use kiln_sdk::extract::{ArchiveFormat, ExtractOptions, HostExtract, extract_download};
use kiln_sdk::fetch::{Download, fetch};
use kiln_sdk::{BuildContext, CachedLayer, Layer, LayerTypes, RestoreDecision, layer_name};
use serde::{Deserialize, Serialize};

use crate::error::PythonError;
use crate::inventory::{self, Release};

/// What the `python` layer was built from.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct RuntimeMeta {
    version: String,
    sha256: String,
}

/// The installed interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// The layer directory (the release's top directory).
    pub dir: PathBuf,
    /// `X.Y.Z`.
    pub version: String,
    /// The tarball's sha256 (what the venv cache is keyed by).
    pub sha256: String,
    /// `(major, minor)`.
    pub python: (u32, u32),
}

impl Runtime {
    /// `<layer>/bin`.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }
}

fn releases(ctx: &BuildContext) -> Result<Vec<Release>, PythonError> {
    Ok(match ctx.detect.env("KILN_PYTHON_INVENTORY") {
        Some(file) => {
            let text = crate::read_app_file(ctx, file)?
                .ok_or_else(|| PythonError::InventoryMissing(file.to_owned()))?;
            inventory::parse(&text, file)?
        }
        None => inventory::parse(inventory::SHIPPED, "the shipped inventory")?,
    })
}

/// Install (or keep) the release the app asks for.
pub fn install(
    ctx: &BuildContext,
    request: Option<&inventory::Request>,
) -> Result<(Layer, Runtime), PythonError> {
    let releases = releases(ctx)?;
    let os = ctx.detect.target.os.as_str();
    let arch = inventory::python_arch(ctx.detect.target.arch.as_ref());
    let release = inventory::select(&releases, request, os, arch)?;
    let meta = RuntimeMeta {
        version: release.version.clone(),
        sha256: release.sha256.clone(),
    };
    let definition = CachedLayer::new(
        layer_name!("python"),
        LayerTypes::none().launch().build().cache(),
        |old: &RuntimeMeta, _| {
            if *old == meta {
                RestoreDecision::keep(format!("CPython {} is unchanged", meta.version))
            } else {
                RestoreDecision::discard(format!(
                    "CPython {} replaces {}",
                    meta.version, old.version
                ))
            }
        },
    );
    let (mut layer, restore) = ctx.cached(&definition)?;
    let runtime = Runtime {
        dir: layer.path().to_path_buf(),
        version: release.version.clone(),
        sha256: release.sha256.clone(),
        python: release.major_minor(),
    };
    if restore.is_kept() {
        return Ok((layer.into_layer(), runtime));
    }
    let url = inventory::mirrored_url(release, ctx.detect.env("KILN_PYTHON_DIST_URL"));
    kiln_sdk::log::info(format!("Installing CPython {} from {url}", release.version));
    let file = fetch(&Download::pinned(
        &url,
        format!("sha256:{}", release.sha256),
    ))
    .map_err(|source| PythonError::RuntimeDownload {
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
    let (major, minor) = runtime.python;
    let interpreter = runtime.bin_dir().join(format!("python{major}.{minor}"));
    if std::fs::symlink_metadata(&interpreter).is_err() {
        return Err(PythonError::RuntimeLayout {
            version: release.version.clone(),
            url,
            missing: format!("bin/python{major}.{minor}"),
        });
    }
    layer.set_metadata(&meta)?;
    Ok((layer.into_layer(), runtime))
}
