//! Registry errors, each naming the reference and saying what to do.

use kiln_oci::{Digest, ImageError};

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The reference does not parse.
    #[error(
        "invalid image reference {input:?}: {reason}; use REGISTRY/REPOSITORY[:TAG|@DIGEST] (lower-case), oci:DIR[:TAG] or docker-archive:FILE"
    )]
    InvalidReference {
        /// The reference as given.
        input: String,
        /// What is wrong.
        reason: String,
    },
    /// 401: no credentials, or the registry rejected them.
    #[error(
        "{reference}: registry {registry} answered 401 Unauthorized ({credentials}); log in (`docker login` or `skopeo login` write config.json), configure a docker-credential helper, or set KILN_REGISTRY_USERNAME and KILN_REGISTRY_PASSWORD"
    )]
    Unauthorized {
        /// The image.
        reference: String,
        /// The registry host.
        registry: String,
        /// Where the credentials came from, or that none were found.
        credentials: String,
    },
    /// 403: authenticated, but not allowed.
    #[error(
        "{reference}: registry {registry} answered 403 Denied to {operation} ({credentials}); check that the account may {operation} this repository"
    )]
    Denied {
        /// The image.
        reference: String,
        /// The registry host.
        registry: String,
        /// `pull` or `push`.
        operation: &'static str,
        /// Where the credentials came from.
        credentials: String,
    },
    /// 404: the image (or a blob of it) does not exist.
    #[error("{reference}: {what} not found in registry {registry} (404); check the name and tag")]
    NotFound {
        /// The image.
        reference: String,
        /// The registry host.
        registry: String,
        /// What was missing (`manifest`, `blob sha256:…`).
        what: String,
    },
    /// The registry rejected a digest (DIGEST_INVALID) or sent bytes that do not match one.
    #[error(
        "{reference}: digest mismatch for {expected}: {detail}; the upload or download was corrupted, retry the command"
    )]
    DigestInvalid {
        /// The image.
        reference: String,
        /// The digest Kiln expected.
        expected: String,
        /// What the registry said or sent.
        detail: String,
    },
    /// The registry could not be reached, even after retries.
    #[error(
        "{reference}: cannot reach registry {registry} after {attempts} attempts: {reason}; check the address and that the registry is running{hint}"
    )]
    Unreachable {
        /// The image.
        reference: String,
        /// The registry host.
        registry: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        reason: String,
        /// Extra advice (plain HTTP registries).
        hint: String,
    },
    /// Any other error the registry returned.
    #[error("{reference}: registry {registry} failed to {action}: {reason}")]
    Protocol {
        /// The image.
        reference: String,
        /// The registry host.
        registry: String,
        /// What Kiln was doing.
        action: String,
        /// The registry's message.
        reason: String,
    },
    /// A multi-platform index has no manifest for the target platform.
    #[error(
        "{reference} has no image for platform {platform} (it has: {available}); pass --platform with one of those"
    )]
    NoPlatform {
        /// The image.
        reference: String,
        /// The platform asked for.
        platform: String,
        /// The platforms in the index.
        available: String,
    },
    /// The registry's manifest is not something Kiln can use.
    #[error("{reference}: {reason}")]
    BadManifest {
        /// The image.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// Credentials could not be read (a malformed `config.json`, a failing helper).
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// The registry host.
        registry: String,
        /// What went wrong and where.
        reason: String,
    },
    /// The local store failed.
    #[error("local image store: {0}")]
    Store(#[from] ImageError),
}

impl RegistryError {
    /// A digest mismatch on a blob Kiln downloaded.
    pub fn mismatch(reference: &str, expected: &Digest, actual: &Digest) -> Self {
        Self::DigestInvalid {
            reference: reference.to_owned(),
            expected: expected.to_string(),
            detail: format!("the registry sent content with digest {actual}"),
        }
    }
}
