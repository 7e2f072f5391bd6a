//! References resolved to digests, each once per reconcile (a fleet of a hundred specs
//! sharing one run image and one buildpack asks the registry once for each).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use crate::embedded::EMBEDDED_BUILDPACKS;
use crate::image_ref::ImageRef;
use crate::services::Services;
use kiln_fleet::EngineError;

/// A memo of reference → digest.
#[derive(Default)]
pub struct Digests {
    memo: Mutex<HashMap<String, String>>,
}

impl Digests {
    /// `key`'s digest, computed by `compute` the first time.
    fn memo(
        &self,
        key: String,
        compute: impl FnOnce() -> Result<String, EngineError>,
    ) -> Result<String, EngineError> {
        if let Some(d) = self.memo.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(d);
        }
        let digest = compute()?;
        if let Ok(mut m) = self.memo.lock() {
            m.insert(key, digest.clone());
        }
        Ok(digest)
    }

    /// The manifest digest an image reference points at now (an index's own digest for a
    /// multi-platform image), or an error naming the reference.
    pub fn image(&self, services: &Services, reference: &str) -> Result<String, EngineError> {
        self.memo(format!("image {reference}"), || {
            image_digest(services, reference)
        })
    }

    /// The digest of a buildpack reference: an artifact's manifest digest, a component
    /// file's or directory's content digest, an embedded component's bytes.
    pub fn buildpack(
        &self,
        services: &Services,
        base: &Path,
        reference: &str,
    ) -> Result<String, EngineError> {
        self.memo(format!("buildpack {reference}"), || {
            if let Some(rest) = reference.strip_prefix("docker://") {
                return image_digest(services, rest);
            }
            if reference.starts_with("oci:") {
                return image_digest(services, reference);
            }
            if let Some((_, bytes)) = EMBEDDED_BUILDPACKS.iter().find(|(id, _)| *id == reference)
            {
                return Ok(format!("sha256:{}", hex::encode(Sha256::digest(bytes))));
            }
            let path = base.join(reference);
            tree_digest(&path).map_err(|e| {
                format!(
                    "buildpack {reference}: {e}; name an embedded buildpack, a component file or directory, or an artifact (docker://HOST/REPO:TAG, oci:DIR:TAG)"
                )
                .into()
            })
        })
    }
}

/// What an image reference points at now.
fn image_digest(services: &Services, reference: &str) -> Result<String, EngineError> {
    let parsed = ImageRef::parse(reference).map_err(|e| format!("{reference}: {e}"))?;
    match &parsed {
        ImageRef::Registry(r) => {
            if let Some(d) = r.digest() {
                return Ok(d.to_owned());
            }
            let registry = kiln_registry::client::Registry::connect(
                &services.registries,
                r,
                oci_client::RegistryOperation::Pull,
            )?;
            let manifest = registry.manifest(r)?.ok_or_else(|| {
                format!("{reference}: no such image in the registry; check the name and tag")
            })?;
            Ok(manifest.digest.to_string())
        }
        ImageRef::Layout { dir, tag } => {
            let image = kiln_oci::LocalImage::open(dir, tag)?;
            Ok(image.resolved.manifest_descriptor.digest.to_string())
        }
        ImageRef::Scratch => Ok("scratch".into()),
        ImageRef::DockerArchive(_) => Err(format!(
            "{reference}: a docker-archive cannot be a fleet's run or build image; push it to a registry or use oci:DIR:TAG"
        )
        .into()),
    }
}

/// `sha256:` over a file's bytes, or over a directory's sorted entries (relative path,
/// kind, executable bit, content), without following symlinks.
pub fn tree_digest(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_file() {
        hasher.update(std::fs::read(path)?);
    } else {
        let mut entries = Vec::new();
        walk(path, Path::new(""), &mut entries)?;
        entries.sort();
        for rel in entries {
            let full = path.join(&rel);
            let meta = std::fs::symlink_metadata(&full)?;
            hasher.update(rel.as_os_str().as_encoded_bytes());
            hasher.update([0]);
            if meta.is_symlink() {
                hasher.update(b"l");
                hasher.update(std::fs::read_link(&full)?.as_os_str().as_encoded_bytes());
            } else if meta.is_dir() {
                hasher.update(b"d");
            } else {
                hasher.update(if is_executable(&meta) { b"x" } else { b"f" });
                let content = std::fs::read(&full)?;
                hasher.update((content.len() as u64).to_le_bytes());
                hasher.update(content);
            }
            hasher.update([0]);
        }
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let name = rel.join(entry.file_name());
        if entry.file_name() == ".git" {
            continue;
        }
        let is_dir = entry.file_type()?.is_dir();
        out.push(name.clone());
        if is_dir {
            walk(root, &name, out)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}
