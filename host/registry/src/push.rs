//! Push an image from a local layout to a registry: a HEAD check per blob, a cross-repository
//! mount when a source repository on the same registry has it, an upload otherwise (several
//! at a time), then the manifest as the exact bytes Kiln wrote, under every tag.

use futures_util::StreamExt as _;
use oci_client::RegistryOperation;

use super::client::Registry;
use super::{Registries, RegistryError, RegistryRef};
use kiln_oci::{Descriptor, Digest, ImageError, ImageManifest, OciLayout};

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The manifest digest (the registry's digest for the image).
    pub digest: Option<Digest>,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Bytes uploaded.
    pub uploaded_bytes: u64,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Blobs the registry already had.
    pub present: usize,
    /// The references pushed.
    pub references: Vec<String>,
}

impl PushReport {
    /// The progress line: `Pushed REFS: N blobs uploaded (SIZE), M mounted, K already present`.
    pub fn summary(&self) -> String {
        format!(
            "Pushed {}: {} blobs uploaded ({}), {} mounted, {} already present",
            self.references.join(", "),
            self.uploaded,
            super::human_bytes(self.uploaded_bytes),
            self.mounted,
            self.present
        )
    }
}

enum BlobOutcome {
    Present,
    Mounted,
    Uploaded(u64),
}

/// Push the image tagged `tag` in `layout` to `dest` and to each of `extra` (references in
/// the same registry). `mount_from` lists repositories the registry may mount blobs from.
pub fn push(
    registries: &Registries,
    layout: &OciLayout,
    tag: &str,
    dest: &RegistryRef,
    extra: &[RegistryRef],
    mount_from: &[RegistryRef],
) -> Result<PushReport, RegistryError> {
    let concurrency = registries.settings().concurrency.max(1);
    let (manifest_desc, manifest_bytes, manifest) = tagged_manifest(layout, tag)?;
    let mut report = PushReport {
        digest: Some(manifest_desc.digest.clone()),
        ..PushReport::default()
    };
    let mut blobs: Vec<Descriptor> = vec![manifest.config.clone()];
    for l in &manifest.layers {
        if !blobs.iter().any(|b| b.digest == l.digest) {
            blobs.push(l.clone());
        }
    }
    let media_type = manifest_desc.media_type.clone();
    for target in std::iter::once(dest).chain(extra) {
        let registry = Registry::connect(registries, target, RegistryOperation::Push)?;
        let sources: Vec<&RegistryRef> = mount_from
            .iter()
            .filter(|s| s.registry() == target.registry() && s.repository() != target.repository())
            .collect();
        let outcomes = registry.run(
            futures_util::stream::iter(
                blobs
                    .iter()
                    .map(|d| push_blob(&registry, layout, d, &sources)),
            )
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>(),
        )?;
        for outcome in outcomes {
            match outcome? {
                BlobOutcome::Present => report.present += 1,
                BlobOutcome::Mounted => report.mounted += 1,
                BlobOutcome::Uploaded(n) => {
                    report.uploaded += 1;
                    report.uploaded_bytes += n;
                }
            }
        }
        kiln_fs::fault::point("push-before-manifest");
        registry.put_manifest(target, &manifest_bytes, &media_type)?;
        report.references.push(target.whole());
    }
    Ok(report)
}

/// The manifest tagged `tag` in `layout` (an image or an artifact): its descriptor, exact
/// bytes and parsed form.
pub fn tagged_manifest(
    layout: &OciLayout,
    tag: &str,
) -> Result<(Descriptor, Vec<u8>, ImageManifest), RegistryError> {
    let desc = layout
        .index()?
        .manifests
        .into_iter()
        .find(|d| d.ref_name() == Some(tag))
        .ok_or_else(|| ImageError::TagNotFound {
            layout: layout.root().to_owned(),
            tag: tag.to_owned(),
            available: Vec::new(),
        })?;
    let bytes = layout.blobs().read_descriptor(&desc)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Json {
            what: format!("manifest {}", layout.blobs().path(&desc.digest).display()),
            source,
        })?;
    Ok((desc, bytes, manifest))
}

async fn push_blob(
    registry: &Registry,
    layout: &OciLayout,
    desc: &Descriptor,
    sources: &[&RegistryRef],
) -> Result<BlobOutcome, RegistryError> {
    if registry.has_blob(&desc.digest).await? {
        return Ok(BlobOutcome::Present);
    }
    for source in sources {
        if registry.mount_blob(source, &desc.digest).await
            && registry.has_blob(&desc.digest).await?
        {
            return Ok(BlobOutcome::Mounted);
        }
    }
    let path = layout.blobs().path(&desc.digest);
    registry
        .upload_blob(&path, &desc.digest)
        .await
        .map(BlobOutcome::Uploaded)
}
