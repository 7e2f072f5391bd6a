//! The modules `go.sum` pins, downloaded in one batch from the module proxy (each file
//! verified by the host against its `h1:` hash) and laid out as a file-system module proxy
//! that `go` reads with `GOPROXY=file://…`: `<escaped module>/@v/<escaped version>.mod`,
//! `.zip` and `.info`, and a `list` of each module's versions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kiln_sdk::Error;
use kiln_sdk::fetch::{Download, FetchErrorKind, fetch_all};

use crate::error::GoError;
use crate::escape;
use crate::goproxy;
use crate::gosum::{Kind, SumLine};

/// What a download did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Downloaded {
    /// Files placed.
    pub files: usize,
    /// Of those, files the host did not have in its download cache.
    pub fetched: usize,
}

fn describe_failure(line: &SumLine, url: &str, kind: FetchErrorKind, message: &str) -> String {
    let what = format!(
        "module {}@{}{}",
        line.module,
        line.version,
        if line.kind == Kind::GoMod {
            " (go.mod)"
        } else {
            ""
        }
    );
    match kind {
        FetchErrorKind::NotFound => format!(
            "{what}: {url} is missing from the module proxy: {message}; check GOPROXY, or publish the module to the proxy"
        ),
        FetchErrorKind::IntegrityMismatch => format!(
            "{what}: integrity mismatch for {url}: {message}. The proxy's file does not match go.sum's {}; check the proxy (GOPROXY), or regenerate go.sum with `go mod tidy` if go.sum is wrong",
            line.hash
        ),
        _ => format!("{what}: {url}: {message}"),
    }
}

fn create_parent(path: &Path) -> Result<(), Error> {
    match path.parent() {
        Some(parent) => {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))
        }
        None => Ok(()),
    }
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), Error> {
    create_parent(path)?;
    std::fs::write(path, contents).map_err(|e| Error::io("write", path, e))
}

/// Download every file `lines` pin from `proxy` and lay them out under `root`.
pub fn download(lines: &[SumLine], proxy: &str, root: &Path) -> Result<Downloaded, GoError> {
    let mut urls = Vec::with_capacity(lines.len());
    for line in lines {
        urls.push(goproxy::url(proxy, line)?);
    }
    let downloads: Vec<Download> = lines
        .iter()
        .zip(&urls)
        .map(|(line, url)| Download::pinned(url, &line.hash))
        .collect();
    let results = fetch_all(&downloads);
    let mut failures = Vec::new();
    let mut fetched = 0;
    let mut files = Vec::with_capacity(lines.len());
    for ((line, url), result) in lines.iter().zip(&urls).zip(results) {
        match result {
            Ok(file) => {
                fetched += usize::from(!file.cached);
                files.push((line, file));
            }
            Err(e) => failures.push(describe_failure(line, url, e.kind, &e.message)),
        }
    }
    if !failures.is_empty() {
        let first = failures.remove(0);
        return Err(GoError::ModuleDownloads {
            first,
            more: failures,
        });
    }
    let mut versions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (line, file) in &files {
        let dest = root.join(goproxy::relative_path(line)?);
        create_parent(&dest)?;
        std::fs::copy(&file.path, &dest).map_err(|e| Error::io("copy", &file.path, e))?;
        versions
            .entry(line.module.as_str())
            .or_default()
            .insert(line.version.as_str());
    }
    for (module, module_versions) in &versions {
        let dir = root.join(escape::module_path(module)?).join("@v");
        let mut list = String::new();
        for version in module_versions {
            let info = serde_json::json!({ "Version": version }).to_string();
            write(
                &dir.join(format!("{}.info", escape::version(version)?)),
                info,
            )?;
            if !goproxy::is_pseudo_version(version) {
                list.push_str(version);
                list.push('\n');
            }
        }
        write(&dir.join("list"), list)?;
    }
    Ok(Downloaded {
        files: files.len(),
        fetched,
    })
}
