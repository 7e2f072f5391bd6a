//! Image references, parsed once: every image Kiln reads or writes is named by an
//! [`ImageRef`], and each transport is opened in one place (the `transport` module).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use kiln_oci::{DEFAULT_TAG, DockerArchiveRef, ImageError, validate_tag};

use kiln_registry::{RegistryError, RegistryRef};

/// The `oci:` transport prefix.
pub const LAYOUT_TRANSPORT: &str = "oci:";
/// The name of the empty base image.
pub const SCRATCH: &str = "scratch";

/// A reference to an image, by transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// `scratch`: the empty base image.
    Scratch,
    /// `oci:DIR[:TAG]`: an image in an OCI image layout directory.
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag (`org.opencontainers.image.ref.name`), default `latest`.
        tag: String,
    },
    /// `docker-archive:FILE[:NAME:TAG]`: a `docker save` / `docker load` tarball.
    DockerArchive(DockerArchiveRef),
    /// `[docker://]HOST/REPO[:TAG|@DIGEST]`: an image in a registry.
    Registry(RegistryRef),
}

/// A reference that does not parse; the message names the input and the forms accepted.
#[derive(Debug, thiserror::Error)]
pub enum ImageRefError {
    /// An `oci:`, `docker-archive:` or `scratch` reference is malformed.
    #[error(transparent)]
    Local(#[from] ImageError),
    /// A registry reference is malformed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl ImageRef {
    /// Parse any reference Kiln accepts: `scratch`, `oci:DIR[:TAG]`,
    /// `docker-archive:FILE[:NAME:TAG]`, or a registry reference (`docker://` optional).
    ///
    /// In `oci:DIR[:TAG]` the tag is split off at the last `:` only when what follows contains
    /// no `/`; so `oci:/a:b/c` is the directory `/a:b/c` with tag `latest`. A directory whose
    /// name contains `:` needs an explicit tag (`oci:my:dir:latest`).
    pub fn parse(input: &str) -> Result<Self, ImageRefError> {
        if input == SCRATCH {
            return Ok(Self::Scratch);
        }
        if let Some(rest) = input.strip_prefix(LAYOUT_TRANSPORT) {
            return Ok(parse_layout(input, rest)?);
        }
        if input.starts_with(kiln_oci::docker_archive::TRANSPORT) {
            return Ok(Self::DockerArchive(DockerArchiveRef::parse(input)?));
        }
        Ok(Self::Registry(RegistryRef::parse(input)?))
    }

    /// The layout `(dir, tag)` of an `oci:` reference.
    pub fn as_layout(&self) -> Option<(&std::path::Path, &str)> {
        match self {
            Self::Layout { dir, tag } => Some((dir, tag)),
            _ => None,
        }
    }
}

fn parse_layout(input: &str, rest: &str) -> Result<ImageRef, ImageError> {
    let bad = |reason: &str| ImageError::InvalidImageRef {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let (dir, tag) = match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') => (dir, tag),
        _ => (rest, DEFAULT_TAG),
    };
    if dir.is_empty() {
        return Err(bad("the directory is empty"));
    }
    validate_tag(tag).map_err(|e| bad(&e.to_string()))?;
    Ok(ImageRef::Layout {
        dir: PathBuf::from(dir),
        tag: tag.to_owned(),
    })
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scratch => f.write_str(SCRATCH),
            Self::Layout { dir, tag } => write!(f, "{LAYOUT_TRANSPORT}{}:{tag}", dir.display()),
            Self::DockerArchive(archive) => archive.fmt(f),
            Self::Registry(reference) => f.write_str(&reference.whole()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn layout(dir: &str, tag: &str) -> ImageRef {
        ImageRef::Layout {
            dir: PathBuf::from(dir),
            tag: tag.to_owned(),
        }
    }

    #[test]
    fn layout_references() {
        assert_eq!(ImageRef::parse("scratch").unwrap(), ImageRef::Scratch);
        assert_eq!(ImageRef::parse("oci:out").unwrap(), layout("out", "latest"));
        assert_eq!(
            ImageRef::parse("oci:/tmp/out:v1.2").unwrap(),
            layout("/tmp/out", "v1.2")
        );
        // ':' inside the directory, remainder has '/': no tag split
        assert_eq!(
            ImageRef::parse("oci:/tmp/a:b/c").unwrap(),
            layout("/tmp/a:b/c", "latest")
        );
        // directory with ':' plus explicit tag: split on the last ':'
        assert_eq!(
            ImageRef::parse("oci:/tmp/a:b/c:dev").unwrap(),
            layout("/tmp/a:b/c", "dev")
        );
        assert_eq!(
            ImageRef::parse("oci:./rel:x").unwrap(),
            layout("./rel", "x")
        );
        for bad in [
            "oci:",
            "oci::tag",
            "oci:dir:",
            "oci:dir:bad tag",
            "oci:d:-x",
        ] {
            let e = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid image reference"), "{bad}: {e}");
        }
        assert_eq!(ImageRef::parse("oci:/x:y").unwrap().to_string(), "oci:/x:y");
    }

    #[test]
    fn every_transport_parses_into_its_variant() {
        assert!(matches!(
            ImageRef::parse("docker-archive:out.tar:app:v1").unwrap(),
            ImageRef::DockerArchive(_)
        ));
        for r in ["localhost:5000/app:v1", "docker://busybox"] {
            assert!(
                matches!(ImageRef::parse(r).unwrap(), ImageRef::Registry(_)),
                "{r}"
            );
        }
        for bad in ["", "ghcr.io/a/b@sha256:", "a b:v1"] {
            let e = ImageRef::parse(bad).unwrap_err().to_string();
            assert!(e.contains("invalid image reference"), "{bad}: {e}");
        }
        assert_eq!(
            ImageRef::parse("localhost:5000/app:v1")
                .unwrap()
                .to_string(),
            "localhost:5000/app:v1"
        );
    }
}
