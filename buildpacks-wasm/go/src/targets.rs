//! What to build and how the image runs it: packages (`KILN_GO_TARGETS` or the discovered
//! `main` packages), their binary names, and one process per binary.

use std::path::Path;

use kiln_sdk::{NameError, Process, ProcessType, process_type};

/// The packages to build or run are unclear.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A `KILN_GO_TARGETS` entry is not a relative package directory.
    #[error(
        "KILN_GO_TARGETS entry {0:?} is not a package directory of the app; use `.` or `./path/to/pkg` entries separated by ':' (no '..', no patterns)"
    )]
    Bad(String),
    /// `KILN_GO_TARGETS` is set but empty.
    #[error(
        "KILN_GO_TARGETS is set but names no package; unset it or list packages like ./cmd/a:./cmd/b"
    )]
    Empty,
    /// No `main` package.
    #[error(
        "the module has no main package (no non-test .go file with `package main`); add one, or name the packages with KILN_GO_TARGETS=./cmd/a:./cmd/b"
    )]
    NoMain,
    /// Two packages would get the same binary name.
    #[error(
        "{first} and {second} both build a binary named {name}; name the packages to build with KILN_GO_TARGETS"
    )]
    Duplicate {
        /// The binary name.
        name: String,
        /// One package.
        first: String,
        /// The other.
        second: String,
    },
    /// `KILN_GO_WEB` names no binary.
    #[error("KILN_GO_WEB={name} names no binary of this build (binaries: {available})")]
    WebMissing {
        /// The name given.
        name: String,
        /// The binaries built.
        available: String,
    },
    /// A binary name cannot be a process type.
    #[error(
        "binary {name} cannot be a process type; rename its directory or set KILN_GO_WEB to it"
    )]
    ProcessType {
        /// The binary name.
        name: String,
        /// Why.
        #[source]
        source: NameError,
    },
}

/// One package to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What `go build` is given: `.` or `./dir/sub`.
    pub package: String,
    /// The binary's file name.
    pub binary: String,
}

/// Whether `elem` is a major-version suffix (`v2`, `v10`; not `v0`, `v1`).
fn is_major_version(elem: &str) -> bool {
    let Some(digits) = elem.strip_prefix('v') else {
        return false;
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && digits != "1"
}

/// The name `go build` gives a package's binary: the last element of its import path, or
/// the one before a major-version suffix (`example.com/tool/v2` builds `tool`).
pub fn binary_name(import_path: &str) -> &str {
    let mut elems = import_path.rsplit('/');
    let last = elems.next().unwrap_or(import_path);
    match elems.next() {
        Some(before) if is_major_version(last) => before,
        _ => last,
    }
}

fn target(module: &str, dir: &str) -> Target {
    let (package, import_path) = if dir.is_empty() {
        (".".to_owned(), module.to_owned())
    } else {
        (format!("./{dir}"), format!("{module}/{dir}"))
    };
    Target {
        binary: binary_name(&import_path).to_owned(),
        package,
    }
}

/// The packages named by `KILN_GO_TARGETS` (`./cmd/a:./cmd/b`), which must be directories of
/// the app.
pub fn from_setting(
    setting: &str,
    module: &str,
    app_dir: &Path,
) -> Result<Vec<Target>, TargetError> {
    let mut targets = Vec::new();
    for entry in setting.split(':').map(str::trim).filter(|e| !e.is_empty()) {
        let dir = if entry == "." {
            ""
        } else {
            entry
                .strip_prefix("./")
                .unwrap_or(entry)
                .trim_end_matches('/')
        };
        let elem_ok = |e: &str| {
            !e.is_empty() && e != "." && e != ".." && !e.contains("...") && !e.contains(['\\', '*'])
        };
        let safe = dir.is_empty() || dir.split('/').all(elem_ok);
        if !safe || entry.starts_with('/') || !app_dir.join(dir).is_dir() {
            return Err(TargetError::Bad(entry.to_owned()));
        }
        targets.push(target(module, dir));
    }
    if targets.is_empty() {
        return Err(TargetError::Empty);
    }
    Ok(targets)
}

/// Targets for discovered `main` package directories (see [`crate::discover`]).
pub fn from_dirs(dirs: &[String], module: &str) -> Result<Vec<Target>, TargetError> {
    if dirs.is_empty() {
        return Err(TargetError::NoMain);
    }
    Ok(dirs.iter().map(|d| target(module, d)).collect())
}

/// Fail when two targets would write the same binary.
pub fn check_unique(targets: &[Target]) -> Result<(), TargetError> {
    for (i, a) in targets.iter().enumerate() {
        if let Some(b) = targets[i + 1..].iter().find(|b| b.binary == a.binary) {
            return Err(TargetError::Duplicate {
                name: a.binary.clone(),
                first: a.package.clone(),
                second: b.package.clone(),
            });
        }
    }
    Ok(())
}

/// One process per binary (`command(binary)` runs it): `web` (the default) for the binary
/// `web_name` names, else a binary called `web`, else the first; the others are named after
/// their binary.
pub fn processes(
    targets: &[Target],
    web_name: Option<&str>,
    command: impl Fn(&Target) -> String,
) -> Result<Vec<Process>, TargetError> {
    let web = match web_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => targets
            .iter()
            .position(|t| t.binary == name)
            .ok_or_else(|| TargetError::WebMissing {
                name: name.to_owned(),
                available: targets
                    .iter()
                    .map(|t| t.binary.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
        None => targets.iter().position(|t| t.binary == "web").unwrap_or(0),
    };
    let mut out = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        let process_type = if i == web {
            process_type!("web")
        } else {
            ProcessType::new(t.binary.clone()).map_err(|source| TargetError::ProcessType {
                name: t.binary.clone(),
                source,
            })?
        };
        out.push(Process::new(process_type, [command(t)]).default(i == web));
    }
    Ok(out)
}
