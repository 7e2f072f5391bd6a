//! Pull an image from a registry into the local store: resolve a multi-platform index to the
//! target platform, download only the blobs the store lacks, and verify each against its
//! digest. An image pinned by digest whose blobs are all present is served with no request.

use oci_client::RegistryOperation;

use super::client::{RawManifest, Registry};
use super::{Registries, RegistryError, RegistryRef, store};
use kiln_oci::spec::{ImageIndex, ImageManifest, is_index_media_type, is_manifest_media_type};
use kiln_oci::{BlobStore, Descriptor, Digest, OciLayout};
use kiln_spec::Platform;

/// What to download.
#[derive(Debug, Clone, Copy)]
pub struct PullOptions {
    /// Download the layers too (else only the manifest and config).
    pub layers: bool,
}

/// An image now in the local store.
pub struct Pulled {
    /// The store.
    pub layout: OciLayout,
    /// The image's tag in the store.
    pub tag: String,
    /// The image manifest's digest (the platform's manifest, not the index).
    pub manifest_digest: Digest,
    /// Blobs downloaded by this pull.
    pub blobs_downloaded: usize,
    /// Bytes downloaded by this pull (blobs only).
    pub bytes_downloaded: u64,
    /// The registry could not be reached and the copy already in the store was used.
    pub offline: bool,
}

impl Pulled {
    /// The `oci:DIR:TAG` reference of the pulled image.
    pub fn layout_reference(&self) -> String {
        format!("oci:{}:{}", self.layout.root().display(), self.tag)
    }
}

/// Pull `reference`; `Ok(None)` when the registry has no such manifest.
pub fn pull(
    registries: &Registries,
    reference: &RegistryRef,
    options: PullOptions,
) -> Result<Option<Pulled>, RegistryError> {
    let layout = registries.store()?;
    let blobs = layout.blobs();
    let platform = &registries.settings().platform;
    if let Some(local) = local_manifest(reference, blobs, platform)? {
        let manifest = parse_manifest(reference, &local)?;
        if wanted(&manifest, options)
            .iter()
            .all(|d| blobs.has(&d.digest))
        {
            return finish(layout, reference, &local, 0, 0).map(Some);
        }
    }
    let fetched = Registry::connect(registries, reference, RegistryOperation::Pull)
        .and_then(|registry| Ok((registry.manifest(reference)?, registry)));
    let (registry, mut raw) = match fetched {
        Ok((Some(raw), registry)) => (registry, raw),
        Ok((None, _)) => return Ok(None),
        Err(e @ RegistryError::Unreachable { .. }) => {
            return stored_copy(layout, reference, options)?.ok_or(e).map(Some);
        }
        Err(e) => return Err(e),
    };
    if is_index_media_type(&raw.media_type) {
        blobs.write_bytes(&raw.bytes, &raw.media_type)?;
        let child = pick_platform(reference, &raw, platform)?;
        let at = reference.with_digest(child.digest.as_str());
        raw = match read_local(blobs, &child)? {
            Some(local) => local,
            None => registry
                .manifest(&at)?
                .ok_or_else(|| RegistryError::NotFound {
                    reference: reference.whole(),
                    registry: reference.registry().to_owned(),
                    what: format!("platform manifest {}", child.digest),
                })?,
        };
    }
    let manifest = parse_manifest(reference, &raw)?;
    let (count, bytes) = registry.download_blobs(&wanted(&manifest, options), blobs)?;
    blobs.write_bytes(&raw.bytes, &raw.media_type)?;
    finish(layout, reference, &raw, count, bytes).map(Some)
}

fn wanted(manifest: &ImageManifest, options: PullOptions) -> Vec<Descriptor> {
    let mut v = vec![manifest.config.clone()];
    if options.layers {
        v.extend(manifest.layers.iter().cloned());
    }
    v
}

fn finish(
    layout: OciLayout,
    reference: &RegistryRef,
    raw: &RawManifest,
    blobs_downloaded: usize,
    bytes_downloaded: u64,
) -> Result<Pulled, RegistryError> {
    let tag = store::tag_for(reference);
    let mut desc = Descriptor::new(&raw.media_type, raw.digest.clone(), raw.bytes.len() as u64);
    desc.set_ref_name(&tag);
    layout.tag_descriptor(desc)?;
    Ok(Pulled {
        layout,
        tag,
        manifest_digest: raw.digest.clone(),
        blobs_downloaded,
        bytes_downloaded,
        offline: false,
    })
}

/// When the registry is unreachable: the image as last pulled (or pushed) under this
/// reference, if the store still has everything it needs.
fn stored_copy(
    layout: OciLayout,
    reference: &RegistryRef,
    options: PullOptions,
) -> Result<Option<Pulled>, RegistryError> {
    let tag = store::tag_for(reference);
    let Some(desc) = layout
        .index()?
        .manifests
        .into_iter()
        .find(|d| d.ref_name() == Some(tag.as_str()))
    else {
        return Ok(None);
    };
    let Some(raw) = read_local(layout.blobs(), &desc)? else {
        return Ok(None);
    };
    let manifest = parse_manifest(reference, &raw)?;
    if !wanted(&manifest, options)
        .iter()
        .all(|d| layout.blobs().has(&d.digest))
    {
        return Ok(None);
    }
    Ok(Some(Pulled {
        layout,
        tag,
        manifest_digest: raw.digest,
        blobs_downloaded: 0,
        bytes_downloaded: 0,
        offline: true,
    }))
}

/// The image manifest for a digest reference, if the store already has it.
fn local_manifest(
    reference: &RegistryRef,
    blobs: &BlobStore,
    platform: &Platform,
) -> Result<Option<RawManifest>, RegistryError> {
    let Some(digest) = reference.digest().and_then(|d| Digest::parse(d).ok()) else {
        return Ok(None);
    };
    if !blobs.has(&digest) {
        return Ok(None);
    }
    let bytes = blobs.read(&digest)?;
    let Some(media_type) = media_type_of(&bytes) else {
        return Ok(None);
    };
    let raw = RawManifest {
        bytes,
        digest,
        media_type,
    };
    if !is_index_media_type(&raw.media_type) {
        return Ok(Some(raw));
    }
    let child = pick_platform(reference, &raw, platform)?;
    read_local(blobs, &child)
}

fn read_local(blobs: &BlobStore, desc: &Descriptor) -> Result<Option<RawManifest>, RegistryError> {
    if !blobs.has(&desc.digest) {
        return Ok(None);
    }
    let bytes = blobs.read(&desc.digest)?;
    Ok(media_type_of(&bytes).map(|media_type| RawManifest {
        bytes,
        digest: desc.digest.clone(),
        media_type,
    }))
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()?
        .get("mediaType")?
        .as_str()
        .map(str::to_owned)
}

fn parse_manifest(
    reference: &RegistryRef,
    raw: &RawManifest,
) -> Result<ImageManifest, RegistryError> {
    if !is_manifest_media_type(&raw.media_type) {
        return Err(RegistryError::BadManifest {
            reference: reference.whole(),
            reason: format!(
                "media type {:?} is not an image manifest or index",
                raw.media_type
            ),
        });
    }
    serde_json::from_slice(&raw.bytes).map_err(|e| RegistryError::BadManifest {
        reference: reference.whole(),
        reason: format!("the manifest does not parse ({e})"),
    })
}

/// The index entry for `platform` (a missing variant matches any).
fn pick_platform(
    reference: &RegistryRef,
    raw: &RawManifest,
    platform: &Platform,
) -> Result<Descriptor, RegistryError> {
    let index: ImageIndex =
        serde_json::from_slice(&raw.bytes).map_err(|e| RegistryError::BadManifest {
            reference: reference.whole(),
            reason: format!("the image index does not parse ({e})"),
        })?;
    let matches = |d: &&Descriptor| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == platform.os
                && p.architecture == platform.arch
                && platform
                    .variant
                    .as_ref()
                    .is_none_or(|v| p.variant.as_ref() == Some(v))
        })
    };
    index
        .manifests
        .iter()
        .find(matches)
        .cloned()
        .ok_or_else(|| RegistryError::NoPlatform {
            reference: reference.whole(),
            platform: platform.to_string(),
            available: index
                .manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| match &p.variant {
                    Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
                    None => format!("{}/{}", p.os, p.architecture),
                })
                .collect::<Vec<_>>()
                .join(", "),
        })
}
