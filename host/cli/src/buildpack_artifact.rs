//! Buildpacks as OCI artifacts: `kiln buildpack package` publishes one, and
//! `--buildpack docker://REF` (or `oci:DIR[:TAG]`) fetches one, cached by digest.
//!
//! The artifact is an OCI image manifest with `artifactType` [`ARTIFACT_TYPE`]:
//! - config: [`CONFIG_MEDIA_TYPE`], the buildpack's id, version, name, homepage, API and
//!   targets as JSON (what `describe` returned, checked by loading the component);
//! - layer 0: [`COMPONENT_MEDIA_TYPE`], the `.wasm` component bytes;
//! - layer 1 (when packaged from a directory): [`DESCRIPTOR_MEDIA_TYPE`], `buildpack.toml`.
//!
//! Packaging is deterministic: no timestamps, compact JSON with sorted keys, so the same
//! buildpack always has the same digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::image_ref::ImageRef;
use crate::services::Services;
use kiln_lifecycle::buildpack::{self, BuildpackError, DEFAULT_COMPONENT_FILE};
use kiln_oci::{Descriptor, Digest, ImageManifest, OciLayout};
use kiln_registry::{self as registry, PullOptions, RegistryRef, store};
use kiln_runtime::Runtime;

/// `artifactType` of a Kiln buildpack.
pub const ARTIFACT_TYPE: &str = "application/vnd.kiln.buildpack.v1";
/// Media type of the config blob.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.kiln.buildpack.config.v1+json";
/// Media type of the component layer.
pub const COMPONENT_MEDIA_TYPE: &str = "application/vnd.kiln.buildpack.component.v1+wasm";
/// Media type of the `buildpack.toml` layer.
pub const DESCRIPTOR_MEDIA_TYPE: &str = "application/vnd.kiln.buildpack.descriptor.v1+toml";

/// The artifact config.
#[derive(Debug, Serialize)]
struct ArtifactConfig<'a> {
    id: &'a str,
    version: &'a str,
    name: &'a str,
    homepage: &'a str,
    api: &'a str,
    targets: Vec<BTreeMap<&'static str, &'a str>>,
}

/// A published artifact.
#[derive(Debug, Clone)]
pub struct Packaged {
    /// Manifest digest.
    pub digest: Digest,
    /// Buildpack id and version.
    pub id_version: String,
    /// For registry destinations, what the push did.
    pub push: Option<registry::PushReport>,
}

/// A fetched buildpack, ready to load.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The component file.
    pub component: PathBuf,
    /// A buildpack directory (`buildpack.toml` + component), when the artifact has one.
    pub dir: Option<PathBuf>,
    /// `REF@DIGEST`, for messages.
    pub origin: String,
}

fn artifact_error(reference: &str, reason: impl std::fmt::Display) -> BuildpackError {
    BuildpackError::Artifact {
        reference: reference.to_owned(),
        reason: reason.to_string(),
    }
}

/// Publish the buildpack at `src` (a `.wasm` file or a buildpack directory) to `dest` (a
/// registry reference or `oci:DIR[:TAG]`). The component is loaded and described first, so
/// only a valid buildpack is published.
pub fn package(
    src: &Path,
    dest: &str,
    runtime: &Runtime,
    services: &Services,
) -> Result<Packaged, BuildpackError> {
    let loaded = buildpack::load(
        &src.display().to_string(),
        runtime,
        crate::embedded::EMBEDDED_BUILDPACKS,
    )?;
    let (component_path, toml_text) = if src.is_dir() {
        let (text, component) = buildpack::dir_files(src)?;
        (component, Some(text))
    } else {
        (src.to_path_buf(), None)
    };
    let component = std::fs::read(&component_path).map_err(|source| BuildpackError::Read {
        path: component_path.clone(),
        source,
    })?;
    let d = &loaded.descriptor;
    let config = ArtifactConfig {
        id: d.id.as_str(),
        version: &d.version,
        name: &d.name,
        homepage: &d.homepage,
        api: &d.api,
        targets: d
            .targets
            .iter()
            .map(|t| BTreeMap::from([("os", t.os.as_str()), ("arch", t.arch.as_str())]))
            .collect(),
    };
    let config_bytes =
        serde_json::to_vec(&config).map_err(|e| artifact_error(dest, format!("config: {e}")))?;

    let (layout, tag, push_to) = destination(dest, services)?;
    let store_err = |e: kiln_oci::ImageError| artifact_error(dest, e);
    let blobs = layout.blobs();
    let config_desc = blobs
        .write_bytes(&config_bytes, CONFIG_MEDIA_TYPE)
        .map_err(store_err)?;
    let mut layers = vec![
        blobs
            .write_bytes(&component, COMPONENT_MEDIA_TYPE)
            .map_err(store_err)?,
    ];
    if let Some(text) = &toml_text {
        layers.push(
            blobs
                .write_bytes(text.as_bytes(), DESCRIPTOR_MEDIA_TYPE)
                .map_err(store_err)?,
        );
    }
    let mut manifest = ImageManifest::new_oci(config_desc, layers);
    manifest.artifact_type = Some(ARTIFACT_TYPE.to_owned());
    manifest.annotations = Some(BTreeMap::from([
        (
            "org.opencontainers.image.title".to_owned(),
            d.id.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            d.version.clone(),
        ),
    ]));
    let written = layout.put_manifest(&tag, &manifest).map_err(store_err)?;
    let push = match &push_to {
        Some(target) => Some(
            services
                .registries
                .push(&layout, &tag, target, &[], &[])
                .map_err(|e| artifact_error(dest, e))?,
        ),
        None => None,
    };
    Ok(Packaged {
        digest: written.digest,
        id_version: format!("{}@{}", d.id, d.version),
        push,
    })
}

/// Where a package goes: (layout, tag, registry to push to).
fn destination(
    dest: &str,
    services: &Services,
) -> Result<(OciLayout, String, Option<RegistryRef>), BuildpackError> {
    match ImageRef::parse(dest) {
        Ok(ImageRef::Registry(target)) => {
            let layout = services
                .registries
                .store()
                .map_err(|e| artifact_error(dest, e))?;
            Ok((layout, store::tag_for(&target), Some(target)))
        }
        Ok(ImageRef::Layout { dir, tag }) => {
            let layout = OciLayout::create_or_open(&dir).map_err(|e| artifact_error(dest, e))?;
            Ok((layout, tag, None))
        }
        _ => Err(artifact_error(
            dest,
            "the destination must be a registry reference (HOST/REPO[:TAG]) or oci:DIR[:TAG]",
        )),
    }
}

/// Fetch the buildpack artifact `reference` names: `docker://REF` (pulled into the local
/// store; a digest reference already there needs no network) or `oci:DIR[:TAG]`. Other
/// references are not artifacts: `Ok(None)`.
pub fn fetch(reference: &str, services: &Services) -> Result<Option<Fetched>, BuildpackError> {
    let err = |e: &dyn std::fmt::Display| artifact_error(reference, e);
    // Only an explicit `docker://` or `oci:` names an artifact; anything else is a path or id.
    let explicit = reference.starts_with(registry::reference::DOCKER_PREFIX)
        || reference.starts_with(crate::image_ref::LAYOUT_TRANSPORT);
    if !explicit {
        return Ok(None);
    }
    let (layout, tag, origin) = match ImageRef::parse(reference).map_err(|e| err(&e))? {
        ImageRef::Registry(parsed) => {
            let pulled = services
                .registries
                .pull(&parsed, PullOptions { layers: true })
                .map_err(|e| err(&e))?
                .ok_or_else(|| err(&"not found in the registry; check the name and tag"))?;
            let origin = format!("{}@{}", parsed.whole(), pulled.manifest_digest);
            (pulled.layout, pulled.tag, origin)
        }
        ImageRef::Layout { dir, tag } => {
            let layout = OciLayout::open(&dir).map_err(|e| err(&e))?;
            let rest = &reference[crate::image_ref::LAYOUT_TRANSPORT.len()..];
            (layout, tag, format!("oci:{rest}"))
        }
        _ => return Err(err(&"use docker://REF or oci:DIR[:TAG]")),
    };
    let (desc, _, manifest) =
        registry::push::tagged_manifest(&layout, &tag).map_err(|e| err(&e))?;
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(err(&format!(
            "is not a Kiln buildpack artifact (config media type {:?}, expected {CONFIG_MEDIA_TYPE}); publish it with `kiln buildpack package`",
            manifest.config.media_type
        )));
    }
    let layer = |media_type: &str| -> Option<&Descriptor> {
        manifest.layers.iter().find(|l| l.media_type == media_type)
    };
    let component = layer(COMPONENT_MEDIA_TYPE)
        .ok_or_else(|| err(&format!("the artifact has no {COMPONENT_MEDIA_TYPE} layer")))?;
    for d in std::iter::once(component).chain(layer(DESCRIPTOR_MEDIA_TYPE)) {
        verify(&layout, d).map_err(|e| err(&e))?;
    }
    let component_path = layout.blobs().path(&component.digest);
    let Some(toml_layer) = layer(DESCRIPTOR_MEDIA_TYPE) else {
        return Ok(Some(Fetched {
            component: component_path,
            dir: None,
            origin,
        }));
    };
    // Rebuild the buildpack directory once per artifact digest.
    let dir = services.caches.buildpacks().join(&desc.digest.hex()[..32]);
    if !dir.join("buildpack.toml").is_file() {
        materialize(&layout, toml_layer, &component_path, &dir).map_err(|e| err(&e))?;
    }
    Ok(Some(Fetched {
        component: component_path,
        dir: Some(dir),
        origin,
    }))
}

/// Check a blob against its digest.
fn verify(layout: &OciLayout, desc: &Descriptor) -> Result<(), kiln_oci::ImageError> {
    layout.blobs().read_descriptor(desc).map(|_| ())
}

/// Write `buildpack.toml` and the component into `dir` (atomically, by rename).
fn materialize(
    layout: &OciLayout,
    toml_layer: &Descriptor,
    component: &Path,
    dir: &Path,
) -> Result<(), String> {
    let text = layout
        .blobs()
        .read_descriptor(toml_layer)
        .map_err(|e| e.to_string())?;
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".buildpack-")
        .tempdir_in(parent)
        .map_err(|e| format!("{}: {e}", parent.display()))?;
    std::fs::write(staging.path().join("buildpack.toml"), &text)
        .map_err(|e| format!("{}: {e}", staging.path().display()))?;
    let (_, component_dest) = buildpack::dir_files(staging.path()).map_err(|e| e.to_string())?;
    let name = component_dest
        .file_name()
        .map_or_else(|| DEFAULT_COMPONENT_FILE.into(), PathBuf::from);
    let target = staging.path().join(name);
    if std::fs::hard_link(component, &target).is_err() {
        std::fs::copy(component, &target).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    let staged = staging.keep();
    if std::fs::rename(&staged, dir).is_err() {
        // Another process won the race; its directory is identical.
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok(())
}
