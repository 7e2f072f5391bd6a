//! Kiln's local content-addressed image store: one OCI layout under
//! `<cache>/registry-store` whose blobs every pulled, built and pushed registry image shares.
//! Images in it are tagged with their fully qualified reference.

use std::path::{Path, PathBuf};

use kiln_oci::{ImageError, OciLayout};

use super::{RegistryError, RegistryRef};

/// Open the store at `dir`, creating it atomically if needed (several Kiln processes may
/// race here).
pub fn open(dir: &Path) -> Result<OciLayout, RegistryError> {
    if !dir.join("oci-layout").exists() {
        let parent = dir.parent().map(PathBuf::from).unwrap_or_default();
        std::fs::create_dir_all(&parent).map_err(|source| ImageError::Io {
            action: "create directory",
            path: parent.clone(),
            source,
        })?;
        let staging = tempfile::Builder::new()
            .prefix(".registry-store-")
            .tempdir_in(&parent)
            .map_err(|source| ImageError::Io {
                action: "create a temporary directory in",
                path: parent.clone(),
                source,
            })?;
        OciLayout::create_or_open(staging.path())?;
        // Losing the race is fine: the winner's store is used.
        let _ = std::fs::rename(staging.path(), dir);
    }
    Ok(OciLayout::open(dir)?)
}

/// The tag an image has in the store: derived from its fully qualified reference (a hash, so
/// the tag has no `:` or `/` and `oci:DIR:TAG` stays unambiguous).
pub fn tag_for(reference: &RegistryRef) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(reference.whole().as_bytes());
    format!("ref-{}", &hex::encode(hash)[..32])
}

/// The `oci:DIR:TAG` reference of a registry image in the store.
pub fn layout_reference(layout: &OciLayout, reference: &RegistryRef) -> String {
    format!("oci:{}:{}", layout.root().display(), tag_for(reference))
}
