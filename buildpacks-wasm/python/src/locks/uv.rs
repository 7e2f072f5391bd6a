//! `uv.lock` (lock `version = 1`, any `revision`): the packages reached from the project.
//!
//! The roots are the packages whose source is `{ editable = "." }` or `{ virtual = "." }`
//! (else the `[manifest] members`). From a root, its `dependencies`, the
//! `[package.optional-dependencies]` of the extras in [`Options::extras`], and the
//! `[package.dev-dependencies]` groups (`dev` with [`Options::include_dev`], any named in
//! [`Options::groups`]) are followed through the graph. An edge applies when its `marker`
//! holds with the depending package's active extras; `extra = ["x"]` on an edge activates
//! the target's `optional-dependencies.x`. An edge that names a `version` (forked
//! resolutions) goes to that version; a name shared by several packages without one goes to
//! the package whose `resolution-markers` hold.
//!
//! Registry packages are installed from their `wheels` and `sdist` (URL, sha256, size). The
//! roots and other `virtual` members are not installed (noted in `skipped`); a `url` source
//! with hashed files is kept; git, path, directory and editable packages other than the roots
//! are refused. `[package.metadata.requires-dev]` only restates the specifiers and is not
//! needed. uv's conflict markers (`extra == 'extra-…'`) are not understood.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{Collector, Context, LockError, LockedDist, LockedFile, Selection, normalize_name};

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UvLock {
    version: Option<i64>,
    #[serde(default)]
    package: Vec<Package>,
    #[serde(default)]
    manifest: Manifest,
}

#[derive(Deserialize, Default)]
struct Manifest {
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    version: Option<String>,
    source: Option<toml::Table>,
    #[serde(default)]
    dependencies: Vec<Dep>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<Dep>>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Vec<Dep>>,
    #[serde(default)]
    resolution_markers: Vec<String>,
    sdist: Option<FileEntry>,
    #[serde(default)]
    wheels: Vec<FileEntry>,
}

#[derive(Deserialize)]
struct Dep {
    name: String,
    version: Option<String>,
    source: Option<toml::Table>,
    marker: Option<String>,
    #[serde(default)]
    extra: Vec<String>,
}

#[derive(Deserialize)]
struct FileEntry {
    url: Option<String>,
    path: Option<String>,
    filename: Option<String>,
    hash: Option<String>,
    size: Option<u64>,
}

/// A package's source, from its one-key table.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    Registry(&'a str),
    Editable(&'a str),
    Virtual(&'a str),
    Other(&'a str, &'a str),
}

fn source(table: Option<&toml::Table>) -> Option<Source<'_>> {
    let table = table?;
    let get = |k: &str| table.get(k).and_then(toml::Value::as_str);
    if let Some(v) = get("registry") {
        return Some(Source::Registry(v));
    }
    if let Some(v) = get("editable") {
        return Some(Source::Editable(v));
    }
    if let Some(v) = get("virtual") {
        return Some(Source::Virtual(v));
    }
    for kind in ["git", "url", "path", "directory"] {
        if let Some(v) = get(kind) {
            return Some(Source::Other(kind, v));
        }
    }
    None
}

fn is_project_root(s: Option<&Source<'_>>) -> bool {
    matches!(s, Some(Source::Editable(p) | Source::Virtual(p)) if matches!(*p, "." | "./" | ""))
}

fn at_package(p: &Package) -> String {
    match &p.version {
        Some(v) => format!("package `{}` {v}", p.name),
        None => format!("package `{}`", p.name),
    }
}

struct Graph<'a> {
    cx: &'a Context<'a>,
    lock: &'a UvLock,
    by_name: BTreeMap<String, Vec<usize>>,
}

impl Graph<'_> {
    /// The package an edge from `from` goes to.
    fn target(&self, from: &Package, dep: &Dep) -> Result<usize, LockError> {
        let cx = self.cx;
        let all = self
            .by_name
            .get(&normalize_name(&dep.name))
            .map_or(&[][..], Vec::as_slice);
        let mut found: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| {
                dep.version
                    .as_ref()
                    .is_none_or(|v| self.lock.package[i].version.as_ref() == Some(v))
            })
            .collect();
        if found.len() > 1 && dep.source.is_some() {
            found.retain(|&i| self.lock.package[i].source == dep.source);
        }
        if found.len() > 1 {
            let mut by_markers = Vec::new();
            for &i in &found {
                let p = &self.lock.package[i];
                let mut holds = p.resolution_markers.is_empty();
                for m in &p.resolution_markers {
                    holds |= cx.marker(&at_package(p), m, &BTreeSet::new())?;
                }
                if holds {
                    by_markers.push(i);
                }
            }
            found = by_markers;
        }
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(cx.invalid(
                at_package(from),
                format!(
                    "depends on `{}`{}, which uv.lock does not list; regenerate it with `uv lock`",
                    dep.name,
                    dep.version.as_ref().map(|v| format!(" {v}")).unwrap_or_default()
                ),
            )),
            _ => Err(cx.invalid(
                at_package(from),
                format!(
                    "depends on `{}`, which uv.lock lists several times with no way to tell which one applies to this target; regenerate it with `uv lock`",
                    dep.name
                ),
            )),
        }
    }
}

pub(super) fn read(cx: &Context<'_>, text: &str) -> Result<Selection, LockError> {
    let lock: UvLock = toml::from_str(text).map_err(|e| cx.syntax(e.to_string()))?;
    match lock.version {
        Some(1) => {}
        Some(v) => {
            return Err(cx.invalid(
                "field `version`",
                format!(
                    "lock version {v} is not supported (only version 1); regenerate it with a uv that writes version 1, or update the buildpack"
                ),
            ));
        }
        None => {
            return Err(
                cx.syntax("it has no `version` field, so it is not a uv lock (or a very old one)")
            );
        }
    }
    let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in lock.package.iter().enumerate() {
        by_name.entry(normalize_name(&p.name)).or_default().push(i);
    }
    let sources: Vec<Option<Source<'_>>> = lock
        .package
        .iter()
        .map(|p| source(p.source.as_ref()))
        .collect();
    let mut roots: Vec<usize> = (0..lock.package.len())
        .filter(|&i| is_project_root(sources[i].as_ref()))
        .collect();
    if roots.is_empty() {
        let members: BTreeSet<String> = lock
            .manifest
            .members
            .iter()
            .map(|m| normalize_name(m))
            .collect();
        roots = (0..lock.package.len())
            .filter(|&i| {
                members.contains(&normalize_name(&lock.package[i].name))
                    && matches!(sources[i], Some(Source::Editable(_) | Source::Virtual(_)))
            })
            .collect();
    }
    if roots.is_empty() {
        return Err(cx.invalid(
            "[[package]]",
            "there is no project package (one with `source = { editable = \".\" }` or `{ virtual = \".\" }`); run `uv lock` in the project directory",
        ));
    }
    let graph = Graph {
        cx,
        lock: &lock,
        by_name,
    };
    check_requested(cx, &lock, &roots)?;

    // Worklist over (package, active extras), growing until nothing changes.
    let mut active: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    let mut queue: Vec<usize> = Vec::new();
    for &r in &roots {
        active.insert(r, cx.options.extras.clone());
        queue.push(r);
    }
    // Why an unreached package was left out: the first false edge or unselected group.
    let mut reasons: BTreeMap<usize, String> = BTreeMap::new();
    let mut dev_only: BTreeSet<usize> = BTreeSet::new();
    while let Some(i) = queue.pop() {
        let p = &lock.package[i];
        let extras = active.get(&i).cloned().unwrap_or_default();
        let mut edges: Vec<&Dep> = p.dependencies.iter().collect();
        for (extra, deps) in &p.optional_dependencies {
            if extras.contains(&normalize_name(extra)) {
                edges.extend(deps);
            }
        }
        if roots.contains(&i) {
            for (group, deps) in &p.dev_dependencies {
                let g = normalize_name(group);
                if (cx.options.include_dev && g == "dev") || cx.options.groups.contains(&g) {
                    edges.extend(deps);
                } else {
                    // Only for the reason; these edges are not followed.
                    dev_only.extend(deps.iter().filter_map(|d| graph.target(p, d).ok()));
                }
            }
        }
        for dep in edges {
            let marker = dep.marker.as_deref().unwrap_or("");
            let at = format!("{} dependency `{}`", at_package(p), dep.name);
            if !cx.marker(&at, marker, &extras)? {
                if let Ok(t) = graph.target(p, dep) {
                    reasons
                        .entry(t)
                        .or_insert_with(|| super::marker_reason(marker));
                }
                continue;
            }
            let t = graph.target(p, dep)?;
            let wanted: BTreeSet<String> = dep.extra.iter().map(|e| normalize_name(e)).collect();
            match active.get_mut(&t) {
                None => {
                    active.insert(t, wanted);
                    queue.push(t);
                }
                Some(have) => {
                    if !wanted.is_subset(have) {
                        have.extend(wanted);
                        queue.push(t);
                    }
                }
            }
        }
    }

    let mut out = Collector::default();
    for (i, p) in lock.package.iter().enumerate() {
        if !active.contains_key(&i) {
            let why = reasons.get(&i).cloned().unwrap_or_else(|| {
                if dev_only.contains(&i) {
                    "dev group".to_owned()
                } else {
                    "not needed for this target".to_owned()
                }
            });
            out.skip(&p.name, why);
            continue;
        }
        let at = at_package(p);
        match &sources[i] {
            Some(Source::Editable(path) | Source::Virtual(path)) if roots.contains(&i) => {
                out.skip(&p.name, format!("the project itself (`{path}`)"));
            }
            Some(Source::Virtual(path)) => {
                out.skip(&p.name, format!("virtual workspace member (`{path}`)"));
            }
            Some(Source::Editable(path)) => {
                return Err(cx.invalid(
                    at,
                    format!(
                        "is the editable workspace member `{path}`, which is not supported yet; depend on a released version or build it into a wheel on an index"
                    ),
                ));
            }
            Some(Source::Registry(url)) => {
                let dist = registry_dist(cx, &at, p)?;
                if super::is_http_url(url) {
                    out.index_url(url);
                }
                out.add(cx, &at, dist)?;
            }
            Some(Source::Other(kind, value)) => {
                let has_urls = !p.wheels.is_empty()
                    && p.wheels.iter().all(|w| w.url.is_some() && w.hash.is_some());
                if *kind == "url" && has_urls {
                    let dist = registry_dist(cx, &at, p)?;
                    out.add(cx, &at, dist)?;
                } else {
                    return Err(cx.invalid(
                        at,
                        format!(
                            "comes from the {kind} source `{value}`, which is not supported yet; publish it to a package index and lock it from there"
                        ),
                    ));
                }
            }
            None => {
                return Err(cx.invalid(at, "has no `source`; regenerate the lock with `uv lock`"));
            }
        }
    }
    Ok(out.finish())
}

/// Every extra and group the options name must exist on a root.
fn check_requested(cx: &Context<'_>, lock: &UvLock, roots: &[usize]) -> Result<(), LockError> {
    let defined = |f: &dyn Fn(&Package) -> Vec<String>| -> BTreeSet<String> {
        roots
            .iter()
            .flat_map(|&r| f(&lock.package[r]))
            .map(|k| normalize_name(&k))
            .collect()
    };
    let extras = defined(&|p| p.optional_dependencies.keys().cloned().collect());
    let groups = defined(&|p| p.dev_dependencies.keys().cloned().collect());
    let list = |s: &BTreeSet<String>| {
        if s.is_empty() {
            "none".to_owned()
        } else {
            s.iter().cloned().collect::<Vec<_>>().join(", ")
        }
    };
    for e in &cx.options.extras {
        if !extras.contains(e) {
            return Err(cx.invalid(
                "[package.optional-dependencies]",
                format!(
                    "the project has no extra `{e}` (it has: {}); name one it defines",
                    list(&extras)
                ),
            ));
        }
    }
    for g in &cx.options.groups {
        if !groups.contains(g) {
            return Err(cx.invalid(
                "[package.dev-dependencies]",
                format!(
                    "the project has no dependency group `{g}` (it has: {}); name one it defines",
                    list(&groups)
                ),
            ));
        }
    }
    Ok(())
}

/// The files of a package from an index (or a URL source); none when unpinned and allowed.
fn registry_dist(cx: &Context<'_>, at: &str, p: &Package) -> Result<LockedDist, LockError> {
    let Some(version) = p.version.clone() else {
        return Err(cx.invalid(at, "has no `version`; regenerate the lock with `uv lock`"));
    };
    let mut files = Vec::new();
    for entry in p.wheels.iter().chain(&p.sdist) {
        let Some(hash) = &entry.hash else {
            continue;
        };
        let sha256 = cx.sha256(at, hash)?;
        let Some(url) = &entry.url else {
            let local = entry
                .path
                .as_deref()
                .or(entry.filename.as_deref())
                .unwrap_or("?");
            return Err(cx.invalid(
                at,
                format!(
                    "has the local file `{local}` (a `--find-links` directory), which is not supported; serve it from a package index and lock it from there"
                ),
            ));
        };
        if !super::is_http_url(url) {
            return Err(cx.invalid(
                at,
                format!("has the file URL `{url}`; only http(s) URLs are supported"),
            ));
        }
        files.push(LockedFile {
            filename: Some(
                entry
                    .filename
                    .clone()
                    .unwrap_or_else(|| super::url_file_name(url)),
            ),
            url: Some(url.clone()),
            sha256,
            size: entry.size,
        });
    }
    if files.is_empty() && !cx.options.allow_unpinned {
        return Err(LockError::Unpinned {
            file: "uv.lock",
            at: at.to_owned(),
            requirement: format!("{}=={version}", p.name),
            how: "files with sha256 hashes",
            fix: "regenerate the lock with `uv lock`",
        });
    }
    Ok(LockedDist {
        name: p.name.clone(),
        version,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_env::FakeEnv;
    use super::super::{LockKind, Options, read as read_lock};
    use super::*;

    fn h(c: char) -> String {
        c.to_string().repeat(64)
    }

    /// A project with an extra, a dev group, a conditional dependency, a dependency with an
    /// extra, and numpy forked by Python version.
    fn sample() -> String {
        format!(
            r#"version = 1
revision = 2
requires-python = ">=3.9"
resolution-markers = [
    "python_full_version >= '3.13'",
    "python_full_version < '3.13'",
]

[[package]]
name = "anyio"
version = "4.4.0"
source = {{ registry = "https://pypi.org/simple" }}
dependencies = [
    {{ name = "exceptiongroup", marker = "python_full_version < '3.11'" }},
    {{ name = "idna" }},
    {{ name = "sniffio" }},
]
sdist = {{ url = "https://files.pythonhosted.org/packages/e6/e3/anyio-4.4.0.tar.gz", hash = "sha256:{a}", size = 163930, upload-time = "2024-05-26T21:18:32.911Z" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/7b/a2/anyio-4.4.0-py3-none-any.whl", hash = "sha256:{b}", size = 86780 }},
]

[package.optional-dependencies]
trio = [
    {{ name = "trio" }},
]

[[package]]
name = "colorama"
version = "0.4.6"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/d1/d6/colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:{c}", size = 25335 }},
]

[[package]]
name = "exceptiongroup"
version = "1.2.2"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/02/cc/exceptiongroup-1.2.2-py3-none-any.whl", hash = "sha256:{d}", size = 16453 }},
]

[[package]]
name = "idna"
version = "3.7"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/e5/3e/idna-3.7-py3-none-any.whl", hash = "sha256:{e}", size = 66836 }},
]

[[package]]
name = "myapp"
version = "0.1.0"
source = {{ editable = "." }}
dependencies = [
    {{ name = "anyio" }},
    {{ name = "colorama", marker = "sys_platform == 'win32'" }},
    {{ name = "numpy", version = "1.26.4", source = {{ registry = "https://pypi.org/simple" }}, marker = "python_full_version < '3.13'" }},
    {{ name = "numpy", version = "2.1.0", source = {{ registry = "https://pypi.org/simple" }}, marker = "python_full_version >= '3.13'" }},
]

[package.optional-dependencies]
async = [
    {{ name = "anyio", extra = ["trio"] }},
]

[package.dev-dependencies]
dev = [
    {{ name = "pytest" }},
]
lint = [
    {{ name = "ruff" }},
]

[package.metadata]
requires-dist = [
    {{ name = "anyio", specifier = ">=4" }},
    {{ name = "anyio", extras = ["trio"], marker = "extra == 'async'" }},
]

[package.metadata.requires-dev]
dev = [{{ name = "pytest", specifier = ">=8" }}]
lint = [{{ name = "ruff" }}]

[[package]]
name = "numpy"
version = "1.26.4"
source = {{ registry = "https://pypi.org/simple" }}
resolution-markers = [
    "python_full_version < '3.13'",
]
sdist = {{ url = "https://files.pythonhosted.org/packages/65/6e/numpy-1.26.4.tar.gz", hash = "sha256:{f}", size = 15786129 }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/3a/d0/numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:{a}", size = 18272405 }},
    {{ url = "https://files.pythonhosted.org/packages/4b/d7/numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:{b}", size = 17996064 }},
]

[[package]]
name = "numpy"
version = "2.1.0"
source = {{ registry = "https://pypi.org/simple" }}
resolution-markers = [
    "python_full_version >= '3.13'",
]
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/aa/bb/numpy-2.1.0-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:{c}", size = 16000000 }},
]

[[package]]
name = "outcome"
version = "1.3.0.post0"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/55/8b/outcome-1.3.0.post0-py2.py3-none-any.whl", hash = "sha256:{d}", size = 10692 }},
]

[[package]]
name = "pytest"
version = "8.3.2"
source = {{ registry = "https://pypi.org/simple" }}
dependencies = [
    {{ name = "colorama", marker = "sys_platform == 'win32'" }},
]
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/e4/e7/pytest-8.3.2-py3-none-any.whl", hash = "sha256:{e}", size = 341802 }},
]

[[package]]
name = "ruff"
version = "0.6.1"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/ff/ee/ruff-0.6.1-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:{f}", size = 10000000 }},
]

[[package]]
name = "sniffio"
version = "1.3.1"
source = {{ registry = "https://pypi.org/simple" }}
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/e9/44/sniffio-1.3.1-py3-none-any.whl", hash = "sha256:{a}", size = 10235 }},
]

[[package]]
name = "trio"
version = "0.26.2"
source = {{ registry = "https://pypi.org/simple" }}
dependencies = [
    {{ name = "outcome" }},
    {{ name = "sniffio" }},
]
wheels = [
    {{ url = "https://files.pythonhosted.org/packages/11/22/trio-0.26.2-py3-none-any.whl", hash = "sha256:{b}", size = 475768 }},
]
"#,
            a = h('a'),
            b = h('b'),
            c = h('c'),
            d = h('d'),
            e = h('e'),
            f = h('f'),
        )
    }

    fn read(text: &str, options: &Options) -> Result<Selection, LockError> {
        read_lock(LockKind::Uv, text, &FakeEnv, options)
    }

    fn names(s: &Selection) -> Vec<String> {
        s.dists
            .iter()
            .map(|d| format!("{} {}", d.name, d.version))
            .collect()
    }

    fn skipped(s: &Selection, name: &str) -> Option<String> {
        s.skipped
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| w.clone())
    }

    #[test]
    fn default_selection() {
        let s = read(&sample(), &Options::default()).expect("reads");
        assert_eq!(
            names(&s),
            vec!["anyio 4.4.0", "idna 3.7", "numpy 1.26.4", "sniffio 1.3.1"]
        );
        let anyio = &s.dists[0];
        assert_eq!(anyio.files.len(), 2, "wheel and sdist");
        assert_eq!(
            anyio.files[0],
            LockedFile {
                filename: Some("anyio-4.4.0-py3-none-any.whl".to_owned()),
                url: Some(
                    "https://files.pythonhosted.org/packages/7b/a2/anyio-4.4.0-py3-none-any.whl"
                        .to_owned()
                ),
                sha256: h('b'),
                size: Some(86780),
            }
        );
        assert_eq!(
            anyio.files[1].filename.as_deref(),
            Some("anyio-4.4.0.tar.gz")
        );
        assert_eq!(s.dists[2].files.len(), 3);
        assert_eq!(
            skipped(&s, "myapp").as_deref(),
            Some("the project itself (`.`)")
        );
        assert_eq!(
            skipped(&s, "colorama").as_deref(),
            Some("marker `sys_platform == 'win32'`")
        );
        assert_eq!(
            skipped(&s, "exceptiongroup").as_deref(),
            Some("marker `python_full_version < '3.11'`")
        );
        assert_eq!(skipped(&s, "pytest").as_deref(), Some("dev group"));
        assert_eq!(
            skipped(&s, "trio").as_deref(),
            Some("not needed for this target")
        );
        assert_eq!(s.index_urls, vec!["https://pypi.org/simple".to_owned()]);
    }

    #[test]
    fn extras_and_groups() {
        let options = Options {
            include_dev: true,
            extras: BTreeSet::from(["async".to_owned()]),
            groups: BTreeSet::from(["lint".to_owned()]),
            allow_unpinned: false,
        };
        let s = read(&sample(), &options).expect("reads");
        assert_eq!(
            names(&s),
            vec![
                "anyio 4.4.0",
                "idna 3.7",
                "numpy 1.26.4",
                "outcome 1.3.0.post0",
                "pytest 8.3.2",
                "ruff 0.6.1",
                "sniffio 1.3.1",
                "trio 0.26.2"
            ]
        );
        let only_dev = Options {
            include_dev: true,
            ..Options::default()
        };
        let s = read(&sample(), &only_dev).expect("reads");
        assert!(names(&s).contains(&"pytest 8.3.2".to_owned()));
        assert!(!names(&s).contains(&"ruff 0.6.1".to_owned()));
    }

    #[test]
    fn unknown_extra_or_group_is_an_error() {
        let options = Options {
            extras: BTreeSet::from(["gpu".to_owned()]),
            ..Options::default()
        };
        let err = read(&sample(), &options).expect_err("no such extra");
        assert!(
            err.to_string().contains("no extra `gpu` (it has: async)"),
            "{err}"
        );
        let options = Options {
            groups: BTreeSet::from(["docs".to_owned()]),
            ..Options::default()
        };
        let err = read(&sample(), &options).expect_err("no such group");
        assert!(err.to_string().contains("(it has: dev, lint)"), "{err}");
    }

    #[test]
    fn fork_without_version_uses_resolution_markers() {
        let text = sample().replace(
            r#"    { name = "numpy", version = "1.26.4", source = { registry = "https://pypi.org/simple" }, marker = "python_full_version < '3.13'" },
    { name = "numpy", version = "2.1.0", source = { registry = "https://pypi.org/simple" }, marker = "python_full_version >= '3.13'" },"#,
            r#"    { name = "numpy" },"#,
        );
        assert_ne!(text, sample());
        let s = read(&text, &Options::default()).expect("reads");
        assert!(names(&s).contains(&"numpy 1.26.4".to_owned()));
    }

    #[test]
    fn unsupported_sources() {
        let git = sample().replace(
            "name = \"sniffio\"\nversion = \"1.3.1\"\nsource = { registry = \"https://pypi.org/simple\" }",
            "name = \"sniffio\"\nversion = \"1.3.1\"\nsource = { git = \"https://github.com/x/sniffio?rev=main#abc\" }",
        );
        assert_ne!(git, sample());
        let err = read(&git, &Options::default()).expect_err("git");
        assert!(
            err.to_string()
                .starts_with("uv.lock package `sniffio` 1.3.1: comes from the git source"),
            "{err}"
        );
        let member = sample().replace(
            "name = \"idna\"\nversion = \"3.7\"\nsource = { registry = \"https://pypi.org/simple\" }",
            "name = \"idna\"\nversion = \"3.7\"\nsource = { editable = \"packages/idna\" }",
        );
        let err = read(&member, &Options::default()).expect_err("member");
        assert!(
            err.to_string().contains("editable workspace member"),
            "{err}"
        );
        let url = sample().replace(
            "name = \"idna\"\nversion = \"3.7\"\nsource = { registry = \"https://pypi.org/simple\" }",
            "name = \"idna\"\nversion = \"3.7\"\nsource = { url = \"https://files.pythonhosted.org/packages/e5/3e/idna-3.7-py3-none-any.whl\" }",
        );
        let s = read(&url, &Options::default()).expect("url source with hashes");
        assert!(names(&s).contains(&"idna 3.7".to_owned()));
    }

    #[test]
    fn unpinned_and_bad_hashes() {
        let text = "version = 1\n[[package]]\nname = \"app\"\nversion = \"1\"\nsource = { virtual = \".\" }\ndependencies = [{ name = \"six\" }]\n[[package]]\nname = \"six\"\nversion = \"1.16.0\"\nsource = { registry = \"https://pypi.org/simple\" }\nwheels = [{ url = \"https://h/six-1.16.0-py2.py3-none-any.whl\" }]\n";
        let err = read(text, &Options::default()).expect_err("unpinned");
        assert!(
            err.to_string()
                .starts_with("uv.lock package `six` 1.16.0: `six==1.16.0` is not pinned"),
            "{err}"
        );
        let options = Options {
            allow_unpinned: true,
            ..Options::default()
        };
        let s = read(text, &options).expect("allowed");
        assert_eq!(names(&s), vec!["six 1.16.0"]);
        assert!(s.dists[0].files.is_empty());
        let md5 = text.replace(
            "whl\" }",
            "whl\", hash = \"md5:0123456789abcdef0123456789abcdef\" }",
        );
        let err = read(&md5, &Options::default()).expect_err("md5");
        assert!(
            err.to_string()
                .contains("package `six` 1.16.0: the hash `md5:"),
            "{err}"
        );
    }

    #[test]
    fn malformed_locks() {
        let err = read("version = [", &Options::default()).expect_err("toml");
        assert!(
            err.to_string().starts_with("uv.lock could not be read:"),
            "{err}"
        );
        assert!(
            err.to_string().ends_with("regenerate it with `uv lock`"),
            "{err}"
        );
        let err = read("version = 2\n", &Options::default()).expect_err("version");
        assert!(err.to_string().contains("lock version 2"), "{err}");
        let err = read("[[package]]\nname = \"x\"\n", &Options::default()).expect_err("none");
        assert!(err.to_string().contains("no `version` field"), "{err}");
        let err = read("version = 1\n", &Options::default()).expect_err("no root");
        assert!(err.to_string().contains("no project package"), "{err}");
        let dangling = "version = 1\n[[package]]\nname = \"app\"\nversion = \"1\"\nsource = { editable = \".\" }\ndependencies = [{ name = \"gone\" }]\n";
        let err = read(dangling, &Options::default()).expect_err("dangling");
        assert!(err.to_string().contains("depends on `gone`"), "{err}");
        let bad_marker = dangling.replace(
            "{ name = \"gone\" }",
            "{ name = \"app\", marker = \"what ever\" }",
        );
        let err = read(&bad_marker, &Options::default()).expect_err("marker");
        assert!(
            err.to_string()
                .contains("package `app` 1 dependency `app`: the environment marker"),
            "{err}"
        );
        let wrong_type = "version = 1\n[[package]]\nname = 3\n";
        assert!(read(wrong_type, &Options::default()).is_err());
    }

    #[test]
    fn workspace_members_as_roots() {
        let text = format!(
            "version = 1\n[manifest]\nmembers = [\"api\", \"lib\"]\n[[package]]\nname = \"api\"\nversion = \"0.1\"\nsource = {{ editable = \"packages/api\" }}\ndependencies = [{{ name = \"lib\" }}, {{ name = \"six\" }}]\n[[package]]\nname = \"lib\"\nversion = \"0.1\"\nsource = {{ virtual = \"packages/lib\" }}\n[[package]]\nname = \"six\"\nversion = \"1.16.0\"\nsource = {{ registry = \"https://pypi.org/simple\" }}\nwheels = [{{ url = \"https://h/six-1.16.0-py2.py3-none-any.whl\", hash = \"sha256:{}\" }}]\n",
            h('a')
        );
        let s = read(&text, &Options::default()).expect("reads");
        assert_eq!(names(&s), vec!["six 1.16.0"]);
        assert_eq!(s.skipped.len(), 2);
    }
}
