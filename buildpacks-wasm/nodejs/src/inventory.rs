//! The Node.js releases the buildpack can install (`inventory.toml`, compiled in) and version
//! selection from `engines.node`.

use kiln_sdk::Arch;
use semver::Version;
use serde::Deserialize;

use crate::range::{NpmRange, RangeError};

/// An inventory that cannot be used, or no release that fits.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Not valid TOML of the expected shape.
    #[error("{origin} is not a valid inventory")]
    Toml {
        /// Which inventory.
        origin: String,
        /// The TOML error.
        #[source]
        source: toml::de::Error,
    },
    /// A release version is not semver.
    #[error("{origin}: release version {version:?} is not a version")]
    Version {
        /// Which inventory.
        origin: String,
        /// The version text.
        version: String,
        /// The semver error.
        #[source]
        source: semver::Error,
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
    /// `engines.node` does not parse.
    #[error("package.json engines.node is invalid")]
    Range(#[source] RangeError),
    /// No release matches `engines.node`.
    #[error(
        "no Node.js release for {os}/{arch} matches engines.node {range:?} (available: {available}); change engines.node or supply an inventory with KILN_NODEJS_INVENTORY"
    )]
    NoMatch {
        /// Target OS.
        os: String,
        /// Target architecture (Node's name).
        arch: String,
        /// The range.
        range: String,
        /// Versions available for the target, newest first.
        available: String,
    },
    /// No release at all for the target.
    #[error(
        "the inventory has no Node.js release for {os}/{arch}; supply one with KILN_NODEJS_INVENTORY"
    )]
    NoRelease {
        /// Target OS.
        os: String,
        /// Target architecture (Node's name).
        arch: String,
    },
}

/// The shipped inventory.
pub const SHIPPED: &str = include_str!("../inventory.toml");

/// The official distribution prefix that `KILN_NODEJS_DIST_URL` replaces.
pub const OFFICIAL_DIST: &str = "https://nodejs.org/dist";

/// One installable release.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Version without `v`.
    pub version: String,
    /// Whether it is a long-term-support release.
    #[serde(default)]
    pub lts: bool,
    /// Node's OS name (`linux`).
    pub os: String,
    /// Node's architecture name (`x64`, `arm64`).
    pub arch: String,
    /// Tarball URL (`.tar.gz`).
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

/// Parse an inventory; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Release>, InventoryError> {
    let file: File = toml::from_str(text).map_err(|source| InventoryError::Toml {
        origin: origin.to_owned(),
        source,
    })?;
    for r in &file.release {
        Version::parse(&r.version).map_err(|source| InventoryError::Version {
            origin: origin.to_owned(),
            version: r.version.clone(),
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

/// Node's architecture name for an OCI architecture (any architecture means x64).
pub fn node_arch(oci_arch: Option<&Arch>) -> &str {
    match oci_arch {
        None | Some(Arch::Amd64) => "x64",
        Some(Arch::Arm) => "armv7l",
        Some(other) => other.as_str(),
    }
}

/// Pick the newest release for `os`/`arch` matching `range`, or the newest LTS when there
/// is no range.
pub fn select<'a>(
    releases: &'a [Release],
    range: Option<&str>,
    os: &str,
    arch: &str,
) -> Result<&'a Release, InventoryError> {
    let parsed = match range {
        Some(r) => Some(NpmRange::parse(r).map_err(InventoryError::Range)?),
        None => None,
    };
    let mut candidates: Vec<(Version, &Release)> = releases
        .iter()
        .filter(|r| r.os == os && r.arch == arch)
        .filter_map(|r| Version::parse(&r.version).ok().map(|v| (v, r)))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    let available = || {
        candidates
            .iter()
            .map(|(v, _)| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match &parsed {
        Some(p) => candidates.iter().find(|(v, _)| p.matches(v)),
        None => candidates
            .iter()
            .find(|(_, r)| r.lts)
            .or(candidates.first()),
    };
    found.map(|(_, r)| *r).ok_or_else(|| match range {
        Some(r) => InventoryError::NoMatch {
            os: os.to_owned(),
            arch: arch.to_owned(),
            range: r.to_owned(),
            available: available(),
        },
        None => InventoryError::NoRelease {
            os: os.to_owned(),
            arch: arch.to_owned(),
        },
    })
}

/// The release URL with the official prefix replaced by `mirror`, if given.
pub fn mirrored_url(release: &Release, mirror: Option<&str>) -> String {
    match mirror {
        Some(m) if release.url.starts_with(OFFICIAL_DIST) => {
            format!(
                "{}{}",
                m.trim_end_matches('/'),
                &release.url[OFFICIAL_DIST.len()..]
            )
        }
        _ => release.url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(v: &str, lts: bool) -> Release {
        Release {
            version: v.into(),
            lts,
            os: "linux".into(),
            arch: "x64".into(),
            url: format!("{OFFICIAL_DIST}/v{v}/node-v{v}-linux-x64.tar.gz"),
            sha256: "0".repeat(64),
        }
    }

    #[test]
    fn shipped_inventory_parses() {
        let r = parse(SHIPPED, "inventory.toml").unwrap();
        assert!(r.iter().any(|r| r.lts));
    }

    #[test]
    fn selects_by_range_then_newest_lts() {
        let all = vec![
            rel("20.1.0", true),
            rel("23.0.0", false),
            rel("22.2.0", true),
        ];
        assert_eq!(
            select(&all, None, "linux", "x64").unwrap().version,
            "22.2.0"
        );
        assert_eq!(
            select(&all, Some("^20"), "linux", "x64").unwrap().version,
            "20.1.0"
        );
        assert_eq!(
            select(&all, Some(">=21"), "linux", "x64").unwrap().version,
            "23.0.0"
        );
        let err = select(&all, Some("^18"), "linux", "x64")
            .unwrap_err()
            .to_string();
        assert!(err.contains("available: 23.0.0, 22.2.0, 20.1.0"), "{err}");
        assert!(select(&all, None, "linux", "arm64").is_err());
    }

    #[test]
    fn mirror_replaces_the_official_prefix() {
        let r = rel("22.2.0", true);
        assert_eq!(
            mirrored_url(&r, Some("http://127.0.0.1:9/node/")),
            "http://127.0.0.1:9/node/v22.2.0/node-v22.2.0-linux-x64.tar.gz"
        );
        assert_eq!(mirrored_url(&r, None), r.url);
    }

    #[test]
    fn bad_inventory_is_reported() {
        let err = parse(
            "[[release]]\nversion='1'\nos='linux'\narch='x64'\nurl='u'\nsha256='0'",
            "x.toml",
        )
        .unwrap_err();
        assert!(matches!(&err, InventoryError::Version { origin, .. } if origin == "x.toml"));
        assert!(err.to_string().contains("x.toml"), "{err}");
    }
}
