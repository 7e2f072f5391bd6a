//! The Go releases the buildpack can install (`inventory.toml`, compiled in) and the choice
//! of one from `go.mod`.

use kiln_sdk::Arch;
use serde::Deserialize;

use crate::version::{GoVersion, VersionError};

/// An inventory that cannot be used, or no release that fits.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Not valid TOML of the expected shape.
    #[error("{origin} is not a valid Go inventory")]
    Toml {
        /// Which inventory.
        origin: String,
        /// The TOML error.
        #[source]
        source: toml::de::Error,
    },
    /// A release version does not parse.
    #[error("{origin}: a release has an invalid version")]
    Version {
        /// Which inventory.
        origin: String,
        /// The version error.
        #[source]
        source: VersionError,
    },
    /// A sha256 is not 64 hex digits.
    #[error("{origin}: release {version} has sha256 {sha256:?}, which is not 64 hex digits")]
    Sha256 {
        /// Which inventory.
        origin: String,
        /// The release.
        version: String,
        /// The bad value.
        sha256: String,
    },
    /// No release satisfies what `go.mod` asks for.
    #[error(
        "no Go release for {target} satisfies go.mod's `{wanted}` (a {}.{}.x release, at least {minimum}; available: {available}); supply an inventory with KILN_GO_INVENTORY or change go.mod",
        .minimum.major, .minimum.minor
    )]
    NoMatch {
        /// Target `os/arch` (Go's names).
        target: String,
        /// The go.mod directive (`go 1.22`, `toolchain go1.22.3`).
        wanted: String,
        /// The lowest acceptable version.
        minimum: GoVersion,
        /// Versions for the target, newest first, or `none`.
        available: String,
    },
    /// No release at all for the target.
    #[error("the inventory has no Go release for {target}; supply one with KILN_GO_INVENTORY")]
    NoRelease {
        /// Target `os/arch` (Go's names).
        target: String,
    },
}

/// The shipped inventory.
pub const SHIPPED: &str = include_str!("../inventory.toml");

/// The official download prefix that `KILN_GO_DIST_URL` replaces.
pub const OFFICIAL_DIST: &str = "https://go.dev/dl";

/// One installable release.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Version without `go` (`1.23.4`).
    pub version: String,
    /// Go's OS name (`linux`).
    pub os: String,
    /// Go's architecture name (`amd64`, `arm64`).
    pub arch: String,
    /// Tarball URL (`.tar.gz` with a top `go/` directory).
    pub url: String,
    /// Hex sha256 of the tarball.
    pub sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    release: Vec<Release>,
}

/// What `go.mod` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// The directive, for messages (`go 1.22`, `toolchain go1.22.3`).
    pub directive: String,
    /// The lowest acceptable release; any newer patch of the same `major.minor` fits.
    pub minimum: GoVersion,
}

/// Parse an inventory; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Release>, InventoryError> {
    let file: File = toml::from_str(text).map_err(|source| InventoryError::Toml {
        origin: origin.to_owned(),
        source,
    })?;
    for r in &file.release {
        GoVersion::parse(&r.version).map_err(|source| InventoryError::Version {
            origin: origin.to_owned(),
            source,
        })?;
        if r.sha256.len() != 64 || !r.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InventoryError::Sha256 {
                origin: origin.to_owned(),
                version: r.version.clone(),
                sha256: r.sha256.clone(),
            });
        }
    }
    Ok(file.release)
}

/// Go's architecture name for an OCI architecture (any architecture means amd64).
pub fn go_arch(oci_arch: Option<&Arch>) -> &str {
    match oci_arch {
        None | Some(Arch::Amd64) => "amd64",
        Some(Arch::Arm) => "armv6l",
        Some(other) => other.as_str(),
    }
}

/// The newest release for `os`/`arch` that satisfies `wanted`, or the newest of all when
/// `go.mod` asks for nothing.
pub fn select<'a>(
    releases: &'a [Release],
    wanted: Option<&Wanted>,
    os: &str,
    arch: &str,
) -> Result<&'a Release, InventoryError> {
    let mut candidates: Vec<(GoVersion, &Release)> = releases
        .iter()
        .filter(|r| r.os == os && r.arch == arch)
        .filter_map(|r| GoVersion::parse(&r.version).ok().map(|v| (v, r)))
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    let Some(wanted) = wanted else {
        return candidates
            .first()
            .map(|(_, r)| *r)
            .ok_or_else(|| InventoryError::NoRelease {
                target: format!("{os}/{arch}"),
            });
    };
    if let Some((_, r)) = candidates
        .iter()
        .find(|(v, _)| v.satisfies(&wanted.minimum))
    {
        return Ok(r);
    }
    let available = candidates
        .iter()
        .map(|(v, _)| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    Err(InventoryError::NoMatch {
        target: format!("{os}/{arch}"),
        wanted: wanted.directive.clone(),
        minimum: wanted.minimum,
        available: if available.is_empty() {
            "none".to_owned()
        } else {
            available
        },
    })
}

/// The release URL with the official prefix replaced by `mirror`, if given.
pub fn mirrored_url(release: &Release, mirror: Option<&str>) -> String {
    match (mirror, release.url.strip_prefix(OFFICIAL_DIST)) {
        (Some(m), Some(rest)) if !m.trim().is_empty() => {
            format!("{}{rest}", m.trim().trim_end_matches('/'))
        }
        _ => release.url.clone(),
    }
}
