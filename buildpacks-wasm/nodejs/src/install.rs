//! Lay out `node_modules` from the lockfile: choose packages, fetch their tarballs in one
//! batch (pinned by `integrity`) and extract each at its lockfile path (`bins` links them).

use kiln_sdk::Layer;
use kiln_sdk::extract::{
    ArchiveFormat, ExtractOptions, HostExtract, extract_downloads, extract_tar_gz,
};
use kiln_sdk::fetch::{Download, FetchErrorKind, fetch_all};

use crate::error::NodejsError;
use crate::lockfile::LockedPackage;
use crate::registry;

/// The packages to install and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Packages to install, sorted by path.
    pub packages: Vec<LockedPackage>,
    /// Dev-only packages left out.
    pub skipped_dev: usize,
    /// Optional packages for another OS/CPU left out.
    pub skipped_platform: usize,
}

/// What an install did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Installed {
    /// Packages installed.
    pub packages: usize,
    /// Tarballs downloaded (not from the host's cache).
    pub downloaded: usize,
    /// Layer-relative files unpacked with an execute bit (marked in the layer, not yet set on
    /// disk).
    pub executables: Vec<String>,
}

fn platform_ok(list: &[String], want: &str) -> bool {
    if list.is_empty() {
        return true;
    }
    let allowed = list.iter().any(|v| v == want);
    let denied = list.iter().any(|v| v.strip_prefix('!') == Some(want));
    let only_negations = list.iter().all(|v| v.starts_with('!'));
    (allowed || only_negations) && !denied
}

/// Pick what to install: dev packages only with `include_dev`; optional packages whose
/// `os`/`cpu` exclude the target are skipped.
pub fn select(all: Vec<LockedPackage>, include_dev: bool, os: &str, cpu: &str) -> Selection {
    let mut s = Selection::default();
    for p in all {
        if p.dev && !include_dev {
            s.skipped_dev += 1;
        } else if !(platform_ok(&p.os, os) && platform_ok(&p.cpu, cpu)) {
            if p.optional {
                s.skipped_platform += 1;
            } else {
                // npm would refuse too; install anyway and let the app decide.
                kiln_sdk::log::warn(format!(
                    "{}@{} is for os {:?} / cpu {:?}, not {os}/{cpu}; installing it anyway",
                    p.name, p.version, p.os, p.cpu
                ));
                s.packages.push(p);
            }
        } else {
            s.packages.push(p);
        }
    }
    s.packages.sort_by(|a, b| a.path.cmp(&b.path));
    s
}

fn describe_failure(p: &LockedPackage, kind: FetchErrorKind, message: &str, reg: &str) -> String {
    let what = format!("{}@{} ({})", p.name, p.version, p.path);
    match kind {
        FetchErrorKind::NotFound => format!(
            "package {what} is missing from the registry {reg}: {message}; check npm_config_registry / .npmrc registry= or publish it to the mirror"
        ),
        FetchErrorKind::IntegrityMismatch => format!(
            "package {what}: {message}. The lockfile's integrity does not match the registry's file; regenerate package-lock.json with `npm install` or fix the mirror"
        ),
        FetchErrorKind::Denied if p.integrity.is_none() => {
            format!("package {what} has no integrity in package-lock.json: {message}")
        }
        _ => format!("package {what}: {message}"),
    }
}

/// Where package tarballs are unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpack {
    /// By the host, natively, in one batch (the default; several times faster).
    Host,
    /// In the buildpack (`KILN_NODEJS_EXTRACT=guest`), for comparison.
    Guest,
}

/// Install `packages` into `layer` (`<layer>/<package path>`), downloading from `reg`.
pub fn install(
    packages: &[LockedPackage],
    reg: &str,
    layer: &mut Layer,
    unpack: Unpack,
) -> Result<Installed, NodejsError> {
    let downloads: Vec<Download> = packages
        .iter()
        .map(|p| Download {
            url: registry::tarball_url(p, reg),
            integrity: p.integrity.clone(),
        })
        .collect();
    let results = fetch_all(&downloads);
    let mut failures = Vec::new();
    let mut files = Vec::new();
    for (p, r) in packages.iter().zip(results) {
        match r {
            Ok(f) => files.push((p, f)),
            Err(e) => failures.push(describe_failure(p, e.kind, &e.message, reg)),
        }
    }
    if !failures.is_empty() {
        let first = failures.remove(0);
        return Err(NodejsError::PackageDownloads {
            first,
            more: failures,
        });
    }
    let mut report = Installed {
        packages: files.len(),
        downloaded: files.iter().filter(|(_, f)| !f.cached).count(),
        executables: Vec::new(),
    };
    let root = layer.path().to_path_buf();
    // Unpack on the host, all at once (native speed, the same safety checks), or in the guest.
    let requests: Vec<HostExtract> = files
        .iter()
        .map(|(p, f)| HostExtract {
            archive: f.path.clone(),
            format: ArchiveFormat::TarGz,
            destination: root.join(&p.path),
            options: ExtractOptions {
                strip_components: 1,
            },
        })
        .collect();
    let results = match unpack {
        Unpack::Host => extract_downloads(&requests),
        Unpack::Guest => requests
            .iter()
            .map(|r| extract_tar_gz(&r.archive, &r.destination, r.options))
            .collect(),
    };
    for ((p, f), result) in files.iter().zip(results) {
        let extracted = result.map_err(|source| NodejsError::Unpack {
            package: format!("{}@{} ({})", p.name, p.version, p.path),
            url: f.url.clone(),
            source,
        })?;
        for exe in &extracted.executables {
            let path = format!("{}/{exe}", p.path);
            layer.mark_executable(&path)?;
            report.executables.push(path);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(path: &str, dev: bool, os: &[&str], optional: bool) -> LockedPackage {
        LockedPackage {
            path: path.into(),
            name: crate::lockfile::name_from_path(path),
            version: "1.0.0".into(),
            dev,
            os: os.iter().map(|s| (*s).to_owned()).collect(),
            optional,
            ..LockedPackage::default()
        }
    }

    #[test]
    fn selection_omits_dev_and_foreign_optionals() {
        let all = vec![
            pkg("node_modules/z", false, &[], false),
            pkg("node_modules/a", false, &[], false),
            pkg("node_modules/jest", true, &[], false),
            pkg("node_modules/fsevents", false, &["darwin"], true),
            pkg("node_modules/notwin", false, &["!win32"], true),
        ];
        let s = select(all.clone(), false, "linux", "x64");
        let paths: Vec<_> = s.packages.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["node_modules/a", "node_modules/notwin", "node_modules/z"]
        );
        assert_eq!((s.skipped_dev, s.skipped_platform), (1, 1));
        assert_eq!(select(all, true, "linux", "x64").packages.len(), 4);
    }
}
