//! The CPython releases the buildpack can install (`inventory.toml`, compiled in) and which
//! one an app gets: `.python-version`, else `pyproject.toml` `requires-python`, else
//! `runtime.txt`, else the newest for the target.

use kiln_sdk::Arch;
use serde::Deserialize;

use crate::pep440::{Specifiers, Version};

/// The shipped inventory.
pub const SHIPPED: &str = include_str!("../inventory.toml");

/// The distribution prefix that `KILN_PYTHON_DIST_URL` replaces.
pub const OFFICIAL_DIST: &str =
    "https://github.com/astral-sh/python-build-standalone/releases/download";

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
    /// A release version is not a Python version.
    #[error("{origin}: release version {version:?} is not a CPython version (X.Y.Z)")]
    Version {
        /// Which inventory.
        origin: String,
        /// The version text.
        version: String,
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
    /// The app's version request does not parse.
    #[error("{file}: {text:?} is not a Python version or version range")]
    Request {
        /// Where the request was written.
        file: String,
        /// The text.
        text: String,
    },
    /// No release matches the request.
    #[error(
        "no CPython release for {os}/{arch} matches {file} {request:?} (available: {available}); change {file} or supply an inventory with KILN_PYTHON_INVENTORY"
    )]
    NoMatch {
        /// Target OS.
        os: String,
        /// Target architecture.
        arch: String,
        /// Where the request was written.
        file: String,
        /// The request.
        request: String,
        /// Versions available for the target, newest first.
        available: String,
    },
    /// No release at all for the target.
    #[error(
        "the inventory has no CPython release for {os}/{arch}; supply one with KILN_PYTHON_INVENTORY"
    )]
    NoRelease {
        /// Target OS.
        os: String,
        /// Target architecture.
        arch: String,
    },
}

/// One installable release.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// `X.Y.Z`.
    pub version: String,
    /// `linux`.
    pub os: String,
    /// `x86_64`, `aarch64`.
    pub arch: String,
    /// Tarball URL (`.tar.gz`, one top directory holding `bin/` and `lib/`).
    pub url: String,
    /// Hex sha256 of the tarball.
    pub sha256: String,
}

impl Release {
    /// `(major, minor)`.
    pub fn major_minor(&self) -> (u32, u32) {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(3), parts.next().unwrap_or(0))
    }
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
        let numeric = r.version.split('.').count() == 3
            && r.version
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !numeric {
            return Err(InventoryError::Version {
                origin: origin.to_owned(),
                version: r.version.clone(),
            });
        }
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

/// The inventory's architecture name for an OCI architecture (none means x86_64).
pub fn python_arch(oci_arch: Option<&Arch>) -> &str {
    match oci_arch {
        None | Some(Arch::Amd64) => "x86_64",
        Some(Arch::Arm64) => "aarch64",
        Some(other) => other.as_str(),
    }
}

/// What the app asks for, and where it said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The file (`.python-version`, `pyproject.toml requires-python`, `runtime.txt`).
    pub file: String,
    /// The text as written.
    pub text: String,
}

/// The app's request from the texts of its files (each `None` when missing).
pub fn request(
    python_version: Option<&str>,
    requires_python: Option<&str>,
    runtime_txt: Option<&str>,
) -> Option<Request> {
    let first_line = |t: &str| {
        t.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
    };
    if let Some(text) = python_version.and_then(first_line) {
        return Some(Request {
            file: ".python-version".into(),
            text,
        });
    }
    if let Some(text) = requires_python {
        return Some(Request {
            file: "pyproject.toml requires-python".into(),
            text: text.trim().to_owned(),
        });
    }
    runtime_txt.and_then(first_line).map(|t| Request {
        file: "runtime.txt".into(),
        text: t.strip_prefix("python-").unwrap_or(&t).to_owned(),
    })
}

fn parse_version(text: &str) -> Option<Version> {
    text.parse().ok()
}

/// Whether `release` satisfies `request`: a bare version (`3.12`, `3.12.4`) is a prefix
/// match, anything else a PEP 440 specifier set.
fn matches(release: &Version, request: &Request) -> Result<bool, InventoryError> {
    let bad = || InventoryError::Request {
        file: request.file.clone(),
        text: request.text.clone(),
    };
    let text = request.text.trim();
    let bare = text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !text.is_empty()
        && !text.starts_with('.');
    if bare {
        let spec: Specifiers = format!("=={text}.*").parse().map_err(|_| bad())?;
        let exact: Specifiers = format!("=={text}").parse().map_err(|_| bad())?;
        return Ok(spec.contains(release) || exact.contains(release));
    }
    let spec: Specifiers = text.parse().map_err(|_| bad())?;
    Ok(spec.contains(release))
}

/// The newest release for `os`/`arch` that satisfies `request` (or the newest at all).
pub fn select<'a>(
    releases: &'a [Release],
    request: Option<&Request>,
    os: &str,
    arch: &str,
) -> Result<&'a Release, InventoryError> {
    let mut candidates: Vec<(Version, &Release)> = releases
        .iter()
        .filter(|r| r.os == os && r.arch == arch)
        .filter_map(|r| parse_version(&r.version).map(|v| (v, r)))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0));
    if candidates.is_empty() {
        return Err(InventoryError::NoRelease {
            os: os.into(),
            arch: arch.into(),
        });
    }
    let Some(request) = request else {
        return Ok(candidates[0].1);
    };
    for (v, r) in &candidates {
        if matches(v, request)? {
            return Ok(r);
        }
    }
    Err(InventoryError::NoMatch {
        os: os.into(),
        arch: arch.into(),
        file: request.file.clone(),
        request: request.text.clone(),
        available: candidates
            .iter()
            .map(|(_, r)| r.version.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The release URL with the official prefix replaced by `mirror`.
pub fn mirrored_url(release: &Release, mirror: Option<&str>) -> String {
    match mirror {
        Some(m) if release.url.starts_with(OFFICIAL_DIST) => format!(
            "{}{}",
            m.trim_end_matches('/'),
            &release.url[OFFICIAL_DIST.len()..]
        ),
        _ => release.url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn releases() -> Vec<Release> {
        parse(SHIPPED, "shipped").unwrap()
    }

    fn req(file: &str, text: &str) -> Request {
        Request {
            file: file.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_shipped_inventory_parses_and_the_newest_wins() {
        let r = releases();
        assert!(r.len() >= 4);
        assert_eq!(
            select(&r, None, "linux", "x86_64").unwrap().version,
            "3.14.2"
        );
        assert_eq!(
            select(&r, None, "linux", "aarch64").unwrap().major_minor(),
            (3, 14)
        );
    }

    #[test]
    fn requests_pick_by_prefix_or_specifier() {
        let r = releases();
        let pick = |q: &Request| select(&r, Some(q), "linux", "x86_64").map(|x| x.version.clone());
        assert_eq!(pick(&req(".python-version", "3.12")).unwrap(), "3.12.12");
        assert_eq!(pick(&req(".python-version", "3.12.12")).unwrap(), "3.12.12");
        assert_eq!(pick(&req("pyproject", ">=3.10,<3.13")).unwrap(), "3.12.12");
        assert_eq!(pick(&req("pyproject", ">=3.12")).unwrap(), "3.14.2");
        let err = pick(&req(".python-version", "3.9"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("3.14.2, 3.12.12") && err.contains("KILN_PYTHON_INVENTORY"),
            "{err}"
        );
        let err = pick(&req(".python-version", "three"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(".python-version") && err.contains("three"),
            "{err}"
        );
    }

    #[test]
    fn the_request_comes_from_the_first_file_that_has_one() {
        let r = request(Some("# pin\n3.12\n"), Some(">=3.9"), Some("python-3.11.2")).unwrap();
        assert_eq!(r, req(".python-version", "3.12"));
        let r = request(None, Some(" >=3.9 "), Some("python-3.11.2")).unwrap();
        assert_eq!(r.text, ">=3.9");
        let r = request(None, None, Some("python-3.11.2\n")).unwrap();
        assert_eq!(r, req("runtime.txt", "3.11.2"));
        assert_eq!(request(None, None, None), None);
    }

    #[test]
    fn bad_inventories_name_the_field() {
        let bad = "[[release]]\nversion = \"3.12\"\nos = \"linux\"\narch = \"x86_64\"\nurl = \"u\"\nsha256 = \"00\"\n";
        assert!(
            parse(bad, "inv.toml")
                .unwrap_err()
                .to_string()
                .contains("3.12")
        );
        let bad = bad.replace("\"3.12\"", "\"3.12.1\"");
        assert!(
            parse(&bad, "inv.toml")
                .unwrap_err()
                .to_string()
                .contains("64 hex")
        );
        assert!(parse("[[release]]\nversion = 1\n", "inv.toml").is_err());
        assert_eq!(
            select(&[], None, "linux", "x86_64")
                .unwrap_err()
                .to_string(),
            "the inventory has no CPython release for linux/x86_64; supply one with KILN_PYTHON_INVENTORY"
        );
    }

    #[test]
    fn mirrors_replace_the_official_prefix_only() {
        let r = &releases()[0];
        let m = mirrored_url(r, Some("http://127.0.0.1:9/pbs/"));
        assert!(
            m.starts_with("http://127.0.0.1:9/pbs/20251209/cpython-3.14.2"),
            "{m}"
        );
        let mut other = r.clone();
        other.url = "https://elsewhere/x.tar.gz".into();
        assert_eq!(mirrored_url(&other, Some("http://m")), other.url);
    }
}
