//! OCI image I/O for Kiln, with no CNB and no network: digests, OCI JSON types, reproducible layer
//! tarballs, and reading/writing OCI image layouts on disk.
//!
//! Everything here is deterministic: the same inputs give byte-identical
//! layer blobs, configs and manifests (fixed mtimes, sorted tar entries,
//! normalised modes/owners, compact JSON with a fixed key order).
//!
//! - [`digest`]: [`Digest`] (`sha256:<hex>`) and [`HashingWriter`].
//! - [`spec`]: [`Descriptor`], [`ImageManifest`], [`ImageIndex`], [`ImageConfig`], media types.
//! - [`layer_tar`]: [`LayerBuilder`], which writes one reproducible tar+gzip layer.
//! - [`layout`]: [`OciLayout`] and [`BlobStore`] for an OCI image layout directory.
//! - [`layout_gc`]: [`collect_garbage`], which removes the blobs no `index.json` entry reaches.
//! - [`inspect`]: [`ImageSummary`], a flat view of one image.
//! - [`docker_archive`]: writing and reading `docker load` tarballs ([`write_docker_archive`],
//!   [`read_docker_archive`], [`DockerArchiveRef`]).
//!

pub mod blob_cache;
pub mod cache_sweep;
pub mod digest;
pub mod docker_archive;
pub mod file_stamp;
pub mod inspect;
pub mod layer_ids;
pub mod layer_tar;
pub mod layout;
pub mod layout_gc;
pub mod local_image;
pub mod rootfs;
pub mod spec;
pub mod verified_layers;

use std::io;
use std::path::PathBuf;

pub use digest::{Digest, HashingWriter};
pub use docker_archive::{
    ArchiveImage, ArchiveLayer, DockerArchiveRef, LayerCompression, RepoTag, WrittenArchive,
    read_docker_archive, write_docker_archive, write_docker_archive_from_resolved,
    write_docker_archive_raw,
};
pub use file_stamp::FileStamp;
pub use inspect::{ImageSummary, LayerSummary};
pub use layer_ids::LayerIds;
pub use layer_tar::{BlobCompression, LayerBuilder, LayerOwnership, WrittenLayer};
pub use layout::{BlobStore, BlobWriter, CopyOutcome, OciLayout, ResolvedImage, WrittenImage};
pub use layout_gc::{GcReport, collect_garbage, collect_garbage_with};
pub use local_image::LocalImage;
pub use spec::{
    ANNOTATION_REF_NAME, Descriptor, HistoryEntry, ImageConfig, ImageIndex, ImageManifest,
    MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_TAR, MEDIA_TYPE_OCI_LAYER_ZSTD,
    MEDIA_TYPE_OCI_MANIFEST, Platform,
};
pub use verified_layers::{LayerProblem, VerifiedLayers};

/// The mtime of every layer entry: 1980-01-01T00:00:01Z, in Unix seconds.
pub const NORMALIZED_MTIME: u64 = 315_532_801;

/// [`NORMALIZED_MTIME`] as an RFC 3339 string, the default image `created`.
pub const NORMALIZED_CREATED: &str = "1980-01-01T00:00:01Z";

/// The tag used when none is given.
pub const DEFAULT_TAG: &str = "latest";

/// Errors from the image module. Each names the file, tag or path involved.
///
/// Wrapped I/O and JSON errors are exposed through `source()`; print the
/// whole chain (e.g. anyhow's `{:#}`) to show the underlying cause.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The layer compression settings are invalid.
    #[error("invalid layer compression: {0}")]
    Compression(String),
    /// An I/O operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, e.g. "read".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A digest string is malformed or uses an unsupported algorithm.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest {
        /// The offending input.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A directory is not a (valid) OCI image layout.
    #[error("{}: {reason}", path.display())]
    NotALayout {
        /// The layout directory or the offending file in it.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// JSON could not be parsed or produced.
    #[error("invalid JSON in {what}")]
    Json {
        /// What was being parsed, usually naming the file.
        what: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// An image config is structurally wrong.
    #[error("invalid image config: {0}")]
    InvalidConfig(String),
    /// A manifest or index is structurally wrong or of an unexpected type.
    #[error("{what}: {reason}")]
    InvalidManifest {
        /// Which manifest (names the blob file).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// No image with the requested tag exists in the layout.
    #[error("no image tagged {tag:?} in {}; available tags: {}", layout.display(), list_or_none(available))]
    TagNotFound {
        /// The layout directory.
        layout: PathBuf,
        /// The requested tag.
        tag: String,
        /// The tags present in `index.json`.
        available: Vec<String>,
    },
    /// No tag was given and the layout holds several images, none tagged `latest`.
    #[error("{} holds {count} images and none is tagged \"latest\"; pick one of the tags: {}", layout.display(), list_or_none(available))]
    AmbiguousImage {
        /// The layout directory.
        layout: PathBuf,
        /// Number of entries in `index.json`.
        count: usize,
        /// The tags present in `index.json`.
        available: Vec<String>,
    },
    /// A blob referenced by a descriptor does not exist.
    #[error("blob {digest} is missing: {} does not exist", path.display())]
    BlobMissing {
        /// The digest that was looked up.
        digest: Digest,
        /// Where the blob should be.
        path: PathBuf,
    },
    /// A layer failed its content check (blob digest, diff_id, media type).
    #[error("layer {index} ({digest}): {problem}")]
    BadLayer {
        /// Its position in the manifest, from 1 (bottom).
        index: usize,
        /// Its blob digest.
        digest: Digest,
        /// What is wrong.
        problem: LayerProblem,
    },
    /// A blob's content does not hash to its name.
    #[error("blob {} is corrupt: expected {expected}, content hashes to {actual}", path.display())]
    DigestMismatch {
        /// The blob file.
        path: PathBuf,
        /// The digest the blob should have.
        expected: Digest,
        /// The digest of its actual content.
        actual: Digest,
    },
    /// A blob's length differs from its descriptor's size.
    #[error("blob {} has {actual} bytes but its descriptor says {expected}", path.display())]
    SizeMismatch {
        /// The blob file.
        path: PathBuf,
        /// The descriptor's size.
        expected: u64,
        /// The file's length.
        actual: u64,
    },
    /// A multi-platform index has no manifest for this host's platform.
    #[error(
        "{what} has no manifest for {platform}; available platforms: {}",
        list_or_none(available)
    )]
    PlatformNotFound {
        /// The index (names the blob or index.json).
        what: String,
        /// The wanted platform, e.g. `linux/amd64`.
        platform: String,
        /// The platforms the index lists.
        available: Vec<String>,
    },
    /// Reading an image failed; `source` says why.
    #[error("cannot read image {image}")]
    Resolve {
        /// The image, as `DIR:TAG`.
        image: String,
        /// The underlying error.
        #[source]
        source: Box<ImageError>,
    },
    /// A host file cannot be put into a layer (device, fifo, changed while reading, ...).
    #[error("cannot add {} to a layer: {reason}", path.display())]
    LayerSource {
        /// The host path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An in-image path is invalid or conflicts with another entry.
    #[error("invalid layer entry {path:?}: {reason}")]
    LayerPath {
        /// The in-image path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An image reference string could not be parsed.
    #[error("invalid image reference {input:?}: {reason}")]
    InvalidImageRef {
        /// The input string.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// A tag is not a valid `org.opencontainers.image.ref.name`.
    #[error("invalid tag {tag:?}: {reason}")]
    InvalidTag {
        /// The tag.
        tag: String,
        /// What is wrong.
        reason: String,
    },
    /// A docker-archive tarball is malformed or lacks what was asked for.
    #[error("docker-archive {}{}: {reason}", archive.display(), in_entry(entry.as_deref()))]
    DockerArchive {
        /// The archive file.
        archive: PathBuf,
        /// The entry inside it, if one is involved.
        entry: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing (an entry of) a docker-archive tarball failed.
    #[error("cannot {action} docker-archive {}{}", archive.display(), in_entry(entry.as_deref()))]
    DockerArchiveIo {
        /// What was being done, e.g. "read".
        action: &'static str,
        /// The archive file.
        archive: PathBuf,
        /// The entry inside it, if one is involved.
        entry: Option<String>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Shorthand result type for this module.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}

fn in_entry(entry: Option<&str>) -> String {
    entry.map(|e| format!(" (entry {e:?})")).unwrap_or_default()
}

/// Builds a closure mapping an `io::Error` to [`ImageError::Io`].
pub fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> ImageError {
    let path = path.into();
    move |source| ImageError::Io {
        action,
        path,
        source,
    }
}

/// Checks that `tag` is usable as an `org.opencontainers.image.ref.name`:
/// 1-128 characters from `[A-Za-z0-9._:@+/-]`, starting with a letter or digit.
pub fn validate_tag(tag: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(ImageError::InvalidTag {
            tag: tag.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if tag.is_empty() {
        return bad("empty");
    }
    if tag.len() > 128 {
        return bad("longer than 128 characters");
    }
    if !tag.as_bytes()[0].is_ascii_alphanumeric() {
        return bad("must start with a letter or digit");
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._:@+/-".contains(*c)))
    {
        return bad(&format!(
            "character {c:?} not allowed (use letters, digits and ._:@+/-)"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tag_validation() {
        for ok in ["latest", "v1.0", "a/b", "1", "x_y-z+w@q:r"] {
            validate_tag(ok).unwrap();
        }
        for bad in ["", ".x", "a b", "é", &"a".repeat(129)] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
    }
}
