//! From the lock's distributions to one file each: the lock's own URLs where it has them
//! (and the index is the lock's), else the index's project pages (fetched in one batch with
//! the host's `fetch-index`), matched by the lock's sha256 or file name; then the best wheel
//! for the target's tags, as pip would choose.

use std::collections::BTreeMap;

use kiln_sdk::fetch::fetch_index;

use crate::index::{self, IndexFile};
use crate::locks::LockedDist;
use crate::tags::{self, Target, WheelName};

/// The file chosen for one distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    /// The distribution's name, as the lock writes it.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The wheel's file name.
    pub filename: String,
    /// Where to download it.
    pub url: String,
    /// Its pinned sha256 (hex), `None` for an unpinned requirement.
    pub sha256: Option<String>,
    /// A source distribution to build (no wheel fits the target).
    pub sdist: bool,
}

/// A candidate file of a distribution with a place to download it.
#[derive(Debug, Clone)]
struct Candidate {
    filename: String,
    url: String,
    sha256: Option<String>,
}

/// Whether the lock's own file URLs can be used: they exist for every file and the user did
/// not point the build at another index.
fn lock_urls_usable(dist: &LockedDist, mirror: Option<&str>) -> bool {
    mirror.is_none() && !dist.files.is_empty() && dist.files.iter().all(|f| f.url.is_some())
}

fn candidates_from_lock(dist: &LockedDist) -> Vec<Candidate> {
    dist.files
        .iter()
        .filter_map(|f| {
            let url = f.url.clone()?;
            Some(Candidate {
                filename: f
                    .filename
                    .clone()
                    .unwrap_or_else(|| crate::locks::url_file_name(&url)),
                url,
                sha256: Some(f.sha256.clone()),
            })
        })
        .collect()
}

/// The index files that the lock allows for `dist`: by sha256, and by file name where the
/// lock names files (its hash must then agree).
fn candidates_from_index(dist: &LockedDist, files: &[IndexFile]) -> Vec<Candidate> {
    if dist.files.is_empty() {
        // An unpinned requirement (allowed by the caller): the index's files of that version,
        // or of the newest version when none is named.
        let newest = files
            .iter()
            .filter(|f| !f.yanked)
            .filter_map(|f| file_version(&f.filename))
            .filter_map(|v| v.parse::<crate::pep440::Version>().ok().map(|p| (p, v)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v);
        let version = if dist.version.is_empty() {
            newest.unwrap_or_default()
        } else {
            dist.version.clone()
        };
        return files
            .iter()
            .filter(|f| !f.yanked && file_version_is(&f.filename, &version))
            .map(|f| Candidate {
                filename: f.filename.clone(),
                url: f.url.clone(),
                sha256: None,
            })
            .collect();
    }
    let mut out = Vec::new();
    for locked in &dist.files {
        let hit = files.iter().find(|f| match &locked.filename {
            Some(name) => f.filename == *name,
            None => f.sha256.as_deref() == Some(locked.sha256.as_str()),
        });
        if let Some(f) = hit {
            out.push(Candidate {
                filename: f.filename.clone(),
                url: f.url.clone(),
                sha256: Some(locked.sha256.clone()),
            });
        }
    }
    out
}

/// The version in a wheel or sdist (`name-1.0.tar.gz`) file name.
fn file_version(filename: &str) -> Option<String> {
    if let Ok(w) = WheelName::parse(filename) {
        return Some(w.version);
    }
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))?;
    stem.rsplit_once('-').map(|(_, v)| v.to_owned())
}

fn file_version_is(filename: &str, version: &str) -> bool {
    match WheelName::parse(filename) {
        Ok(w) => w.version == version,
        Err(_) => filename.contains(&format!("-{version}.")),
    }
}

/// Why no file of a distribution can be installed, and what to do.
fn no_wheel(what: &str, target: &Target, candidates: &[Candidate]) -> String {
    let wheels: Vec<&str> = candidates
        .iter()
        .filter(|c| is_wheel(&c.filename))
        .map(|c| c.filename.as_str())
        .collect();
    let why = if wheels.is_empty() {
        "has no wheel and no .tar.gz source distribution".to_owned()
    } else {
        format!(
            "has no wheel for {} (available: {})",
            describe(target),
            wheels.join(", ")
        )
    };
    let what_to_do = "pin a version with a wheel for this platform (or with a .tar.gz source distribution), or build on a run image it supports";
    format!("package {what} {why}; {what_to_do}")
}

/// A `.tar.gz` source distribution.
pub fn is_sdist(filename: &str) -> bool {
    filename.to_ascii_lowercase().ends_with(".tar.gz")
}

fn is_wheel(filename: &str) -> bool {
    std::path::Path::new(filename)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("whl"))
}

/// `CPython 3.12 on x86_64 glibc 2.36`, for messages.
fn describe(target: &Target) -> String {
    let libc = match target.libc {
        tags::Libc::Glibc { major, minor } => format!("glibc {major}.{minor}"),
        tags::Libc::Musl { major, minor } => format!("musl {major}.{minor}"),
    };
    format!(
        "CPython {}.{} on {} {libc}",
        target.python.0, target.python.1, target.machine
    )
}

/// Pick the best wheel among `candidates` for `target`.
fn best_wheel(target: &Target, candidates: &[Candidate]) -> Option<Candidate> {
    let parsed: Vec<(WheelName, &Candidate)> = candidates
        .iter()
        .filter_map(|c| WheelName::parse(&c.filename).ok().map(|w| (w, c)))
        .collect();
    let names: Vec<WheelName> = parsed.iter().map(|(w, _)| w.clone()).collect();
    let best = tags::best(target, &names)?;
    parsed
        .iter()
        .find(|(w, _)| w == best)
        .map(|(_, c)| (*c).clone())
}

/// Choose a file for each distribution. `index_url` is the simple index to ask when the lock
/// has no usable URLs; `mirror` is set when the user named an index (the lock's URLs are then
/// not used).
pub fn choose(
    dists: &[LockedDist],
    target: &Target,
    index_url: &str,
    mirror: Option<&str>,
) -> Result<Vec<Chosen>, String> {
    let need_index: Vec<&LockedDist> = dists
        .iter()
        .filter(|d| !lock_urls_usable(d, mirror))
        .collect();
    let pages: Vec<String> = need_index
        .iter()
        .map(|d| index::project_url(index_url, &d.name))
        .collect();
    let mut listings: BTreeMap<String, Result<Vec<IndexFile>, String>> = BTreeMap::new();
    if !pages.is_empty() {
        for (url, result) in pages.iter().zip(fetch_index(&pages)) {
            let listing = result
                .map_err(|e| format!("the index page {url} could not be read: {}", e.message))
                .and_then(|f| {
                    std::fs::read_to_string(&f.path)
                        .map_err(|e| format!("the index page {url} could not be read: {e}"))
                })
                .and_then(|body| index::parse(url, &body).map_err(|e| e.to_string()));
            listings.insert(url.clone(), listing);
        }
    }
    let mut chosen = Vec::new();
    for dist in dists {
        let what = format!("{} {}", dist.name, dist.version);
        let candidates = if lock_urls_usable(dist, mirror) {
            candidates_from_lock(dist)
        } else {
            let page = index::project_url(index_url, &dist.name);
            let files = listings
                .get(&page)
                .cloned()
                .unwrap_or_else(|| Err(format!("no index page {page}")))
                .map_err(|e| format!("package {what}: {e}"))?;
            let found = candidates_from_index(dist, &files);
            if found.is_empty() {
                return Err(format!(
                    "package {what}: none of the files the lock pins is listed on {page}; check PIP_INDEX_URL / UV_INDEX_URL (the mirror must serve the same files) or regenerate the lock"
                ));
            }
            found
        };
        let (c, sdist) = match best_wheel(target, &candidates) {
            Some(c) => (c, false),
            None => match candidates.iter().find(|c| is_sdist(&c.filename)) {
                Some(c) => (c.clone(), true),
                None => return Err(no_wheel(&what, target, &candidates)),
            },
        };
        chosen.push(Chosen {
            name: dist.name.clone(),
            version: file_version(&c.filename).unwrap_or_else(|| dist.version.clone()),
            filename: c.filename,
            url: c.url,
            sha256: c.sha256,
            sdist,
        });
    }
    Ok(chosen)
}
