//! The build image: opened through its transport, unpacked once into the rootfs cache, and
//! turned into the sandbox native build steps run in.

use std::path::Path;
use std::sync::Arc;

use kiln_lifecycle::buildpack::Buildpack;
use kiln_lifecycle::env::Env;
use kiln_oci::VerifiedLayers;
use kiln_oci::rootfs::{RootfsCache, RootfsError};
use kiln_runtime::NativeSteps;
use kiln_sandbox::{Sandbox, SandboxError};

use super::{Reporter, Request};
use crate::error::{Error, Result};
use crate::image_ref::ImageRef;
use crate::transport;

/// A build image ready for native steps.
pub struct OpenedBuildImage {
    /// The sandbox over its rootfs.
    pub native: NativeSteps,
    /// Its config's environment, the base of every buildpack's environment.
    pub env: Env,
    /// Its OS and architecture.
    pub target: (String, String),
    /// `ID` and `VERSION_ID` of its `/etc/os-release` (empty when it has none).
    pub distro: (String, String),
}

/// Why a build image cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BuildImageError {
    /// It could not be unpacked.
    #[error("build image {reference}: {source}")]
    Unpack {
        /// The reference.
        reference: String,
        /// Cause.
        #[source]
        source: RootfsError,
    },
    /// No sandbox can be made on this machine.
    #[error("build image {reference}: {source}")]
    Sandbox {
        /// The reference.
        reference: String,
        /// Cause.
        #[source]
        source: SandboxError,
    },
    /// Its platform differs from the run image's.
    #[error(
        "the build image {reference} is {build} but the run image is {run}: use a build image and a run image of the same platform (or pass --platform)"
    )]
    Platform {
        /// The reference.
        reference: String,
        /// Its os/arch.
        build: String,
        /// The run image's os/arch.
        run: String,
    },
    /// A buildpack declares distributions the build image is not.
    #[error(
        "buildpack {buildpack} supports {supported}, but the build image {reference} is {found}: use a build image of a supported distribution"
    )]
    Distro {
        /// The buildpack.
        buildpack: String,
        /// What it declares.
        supported: String,
        /// The reference.
        reference: String,
        /// What the build image is.
        found: String,
    },
}

/// Open `reference` and prepare its sandbox; native steps run as the build image's
/// `CNB_USER_ID`/`CNB_GROUP_ID`, else as the owner of the exported files.
pub fn open_build_image(
    reference: &ImageRef,
    request: &Request,
    reporter: &dyn Reporter,
) -> Result<OpenedBuildImage> {
    let services = &request.services;
    let opened =
        transport::open_existing(&services.registries, reference).map_err(Error::OpenBuildImage)?;
    let name = reference.to_string();
    let Some(image) = &opened.image else {
        return Err(Error::InvalidInput(
            "--build-image scratch has no files to run commands with: pass an image with the build tools".into(),
        ));
    };
    let config = &image.resolved.config;
    let target = (
        config.os().unwrap_or("linux").to_owned(),
        config
            .architecture()
            .unwrap_or(kiln_spec::platform::host_arch())
            .to_owned(),
    );
    let rootfs = RootfsCache::new(services.caches.rootfs())
        .unpack(
            image,
            &VerifiedLayers::new(services.caches.verified_layers()),
        )
        .map_err(|source| BuildImageError::Unpack {
            reference: name.clone(),
            source,
        })?;
    reporter.info(&format!(
        "Build image: {name} ({}){}",
        rootfs.manifest_digest,
        if rootfs.reused { "" } else { ", unpacked" }
    ));
    let id = |var: &str, default: u64| {
        config
            .env_var(var)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(u32::try_from(default).unwrap_or(1000))
    };
    let (uid, gid) = (
        id("CNB_USER_ID", request.ownership.uid),
        id("CNB_GROUP_ID", request.ownership.gid),
    );
    let sandbox =
        Sandbox::locate(&rootfs.path, uid, gid).map_err(|source| BuildImageError::Sandbox {
            reference: name.clone(),
            source,
        })?;
    let mut env = Env::new();
    for pair in config.env() {
        if let Some((k, v)) = pair.split_once('=') {
            env.set(k, v);
        }
    }
    Ok(OpenedBuildImage {
        native: NativeSteps {
            sandbox: Arc::new(sandbox),
            timeout: request.limits.build_timeout,
        },
        env,
        target,
        distro: os_release(&rootfs.path),
    })
}

impl OpenedBuildImage {
    /// Check that the build image suits the run image and every buildpack's distributions.
    pub fn check(
        &self,
        reference: &ImageRef,
        run_target: &(String, String),
        buildpacks: &[Buildpack],
    ) -> Result<(), BuildImageError> {
        let (os, arch) = &self.target;
        if (os, arch) != (&run_target.0, &run_target.1) {
            return Err(BuildImageError::Platform {
                reference: reference.to_string(),
                build: format!("{os}/{arch}"),
                run: format!("{}/{}", run_target.0, run_target.1),
            });
        }
        let (name, version) = &self.distro;
        for bp in buildpacks {
            if !bp.supports_distro(name, version) {
                let supported: Vec<String> = bp
                    .descriptor
                    .targets
                    .iter()
                    .filter(|t| !t.distro_name.is_empty())
                    .map(|t| {
                        format!("{} {}", t.distro_name, t.distro_version)
                            .trim()
                            .to_owned()
                    })
                    .collect();
                return Err(BuildImageError::Distro {
                    buildpack: bp.descriptor.id.to_string(),
                    supported: supported.join(", "),
                    reference: reference.to_string(),
                    found: if name.is_empty() {
                        "of no known distribution (no /etc/os-release)".into()
                    } else {
                        format!("{name} {version}").trim().to_owned()
                    },
                });
            }
        }
        Ok(())
    }
}

/// `ID` and `VERSION_ID` of `<rootfs>/etc/os-release` (or `usr/lib/os-release`), read without
/// following a symlink out of the rootfs.
fn os_release(rootfs: &Path) -> (String, String) {
    let text = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|rel| {
            let path = rootfs.join(rel);
            let meta = std::fs::symlink_metadata(&path).ok()?;
            meta.is_file()
                .then(|| std::fs::read_to_string(&path).ok())
                .flatten()
        })
        .unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    (field("ID"), field("VERSION_ID"))
}
