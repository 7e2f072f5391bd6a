//! `poetry.lock`, in all its lock versions: 1.x (`category = "main" | "dev"`, files under
//! `[metadata.files]`), 2.0 (files per package, no group information) and 2.1 / Poetry 2
//! (`groups = ["main", …]` and `markers` per package, a string or a table per group).
//!
//! Selection: the packages in group `main`, plus `dev` with [`Options::include_dev`] (old
//! `category = "dev"` counts as group `dev`) and any group named in [`Options::groups`]. A
//! package with `optional = true` that the top-level `[extras]` lists is kept only when one
//! of those extras is in [`Options::extras`]. With package markers (lock 2.1, Poetry 2) they
//! decide, evaluated with the options' extras.
//!
//! Older locks record no markers per package, only on the dependency edges, and do not record
//! the project's own dependencies. There, a package is left out when packages of the selected
//! groups depend on it and every such edge is a plain (non-optional) one whose marker is
//! false or comes from a package already left out — repeated until nothing changes. A package the project itself
//! needs only under a marker cannot be told apart in those locks; regenerate the lock with
//! Poetry 2 if that matters.
//!
//! Files come from `files = [{ file, hash }]` (names, no URLs) or `[metadata.files]`.
//! `[package.source]` of type `legacy` names the index (recorded in `index_urls`, after PyPI
//! when packages come from PyPI too); type `url` keeps its URL; `git`, `directory` and
//! `file` sources are refused.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{Collector, Context, LockError, LockedDist, LockedFile, Selection, normalize_name};

const PYPI: &str = "https://pypi.org/simple";

#[derive(Deserialize)]
struct PoetryLock {
    #[serde(default)]
    package: Vec<Package>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    extras: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    lock_version: Option<String>,
    #[serde(default)]
    files: BTreeMap<String, Vec<FileEntry>>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    #[serde(default)]
    optional: bool,
    category: Option<String>,
    groups: Option<Vec<String>>,
    markers: Option<Markers>,
    files: Option<Vec<FileEntry>>,
    #[serde(default)]
    dependencies: BTreeMap<String, DepSpec>,
    source: Option<Source>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Markers {
    One(String),
    PerGroup(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DepSpec {
    /// `name = "^1.0"`: the constraint is not needed.
    #[allow(dead_code)]
    Version(String),
    One(DepTable),
    Many(Vec<DepTable>),
}

#[derive(Deserialize)]
struct DepTable {
    markers: Option<String>,
    #[serde(default)]
    optional: bool,
}

#[derive(Deserialize)]
struct FileEntry {
    file: String,
    hash: String,
}

#[derive(Deserialize)]
struct Source {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    url: String,
}

/// A dependency edge: its marker (empty = always) and whether it is optional.
struct Edge<'a> {
    marker: &'a str,
    optional: bool,
}

fn edges(spec: &DepSpec) -> Vec<Edge<'_>> {
    fn table(t: &DepTable) -> Edge<'_> {
        Edge {
            marker: t.markers.as_deref().unwrap_or(""),
            optional: t.optional,
        }
    }
    match spec {
        DepSpec::Version(_) => vec![Edge {
            marker: "",
            optional: false,
        }],
        DepSpec::One(t) => vec![table(t)],
        DepSpec::Many(list) => list.iter().map(table).collect(),
    }
}

fn at_package(p: &Package) -> String {
    format!("package `{}` {}", p.name, p.version)
}

pub(super) fn read(cx: &Context<'_>, text: &str) -> Result<Selection, LockError> {
    let lock: PoetryLock = toml::from_str(text).map_err(|e| cx.syntax(e.to_string()))?;
    let lock_version = lock.metadata.lock_version.as_deref().unwrap_or("");
    let (major, minor) = match lock_version.split_once('.') {
        Some((a, b)) => (a.parse::<u32>().ok(), b.parse::<u32>().ok()),
        None => (lock_version.parse::<u32>().ok(), Some(0)),
    };
    if lock.metadata.lock_version.is_some() && !matches!(major, Some(1 | 2)) {
        return Err(cx.invalid(
            "[metadata] lock-version",
            format!(
                "lock version `{lock_version}` is not supported (1.x and 2.x are); regenerate it with `poetry lock`"
            ),
        ));
    }
    let modern = lock.package.iter().any(|p| p.groups.is_some())
        || (major == Some(2) && minor.is_some_and(|m| m >= 1));

    let selected_groups: BTreeSet<String> = {
        let mut g = BTreeSet::from(["main".to_owned()]);
        if cx.options.include_dev {
            g.insert("dev".to_owned());
        }
        g.extend(cx.options.groups.iter().cloned());
        g
    };
    // Packages the active root extras name, and packages any root extra names.
    let mut extra_named: BTreeSet<String> = BTreeSet::new();
    let mut extra_active: BTreeSet<String> = BTreeSet::new();
    for (extra, deps) in &lock.extras {
        let active = cx.options.extras.contains(&normalize_name(extra));
        for d in deps {
            let name = normalize_name(requirement_name(d));
            if active {
                extra_active.insert(name.clone());
            }
            extra_named.insert(name);
        }
    }

    let mut out = Collector::default();
    let mut keep: Vec<bool> = Vec::with_capacity(lock.package.len());
    for p in &lock.package {
        let groups: Vec<String> = match (&p.groups, &p.category) {
            (Some(g), _) => g.iter().map(|g| normalize_name(g)).collect(),
            (None, Some(c)) => vec![normalize_name(c)],
            (None, None) => vec!["main".to_owned()],
        };
        let in_groups: Vec<&String> = groups
            .iter()
            .filter(|g| selected_groups.contains(*g))
            .collect();
        if in_groups.is_empty() {
            let why = if groups.iter().any(|g| g == "dev") {
                "dev group".to_owned()
            } else {
                format!("group `{}`", groups.join("`, `"))
            };
            out.skip(&p.name, why);
            keep.push(false);
            continue;
        }
        let norm = normalize_name(&p.name);
        if p.optional && extra_named.contains(&norm) && !extra_active.contains(&norm) {
            out.skip(&p.name, "optional (an extra that is not selected)");
            keep.push(false);
            continue;
        }
        let at = at_package(p);
        let holds = match &p.markers {
            None => None,
            Some(Markers::One(m)) => Some((cx.marker(&at, m, &cx.options.extras)?, m.clone())),
            Some(Markers::PerGroup(by_group)) => {
                let by_group: BTreeMap<String, &String> = by_group
                    .iter()
                    .map(|(g, m)| (normalize_name(g), m))
                    .collect();
                let mut any = false;
                let mut texts = Vec::new();
                for g in &in_groups {
                    match by_group.get(*g) {
                        None => any = true,
                        Some(m) => {
                            texts.push(m.as_str());
                            any |= cx.marker(&at, m, &cx.options.extras)?;
                        }
                    }
                }
                Some((any, texts.join(" / ")))
            }
        };
        if let Some((false, text)) = holds {
            out.skip(&p.name, super::marker_reason(&text));
            keep.push(false);
            continue;
        }
        keep.push(true);
    }
    if !modern {
        prune_by_edges(cx, &lock, &mut keep, &mut out)?;
    }

    let mut from_pypi = false;
    let mut legacy = Vec::new();
    for (p, kept) in lock.package.iter().zip(&keep) {
        if !kept {
            continue;
        }
        let at = at_package(p);
        let mut url_source = None;
        match &p.source {
            None => from_pypi = true,
            Some(s) => match s.kind.as_str() {
                "legacy" => legacy.push(s.url.clone()),
                "url" => url_source = Some(s.url.as_str()),
                kind => {
                    return Err(cx.invalid(
                        at,
                        format!(
                            "comes from the {kind} source `{}`, which is not supported yet; publish it to a package index and lock it from there",
                            s.url
                        ),
                    ));
                }
            },
        }
        let entries = match &p.files {
            Some(f) => f.as_slice(),
            None => lock
                .metadata
                .files
                .iter()
                .find(|(k, _)| normalize_name(k) == normalize_name(&p.name))
                .map_or(&[][..], |(_, v)| v.as_slice()),
        };
        let mut files = Vec::new();
        for f in entries {
            let sha256 = cx.sha256(&format!("{at} file `{}`", f.file), &f.hash)?;
            let url = url_source
                .filter(|u| super::url_file_name(u) == f.file)
                .map(str::to_owned);
            files.push(LockedFile {
                filename: Some(f.file.clone()),
                url,
                sha256,
                size: None,
            });
        }
        if let Some(u) = url_source
            && !super::is_http_url(u)
        {
            return Err(cx.invalid(
                at,
                format!("comes from `{u}`; only http(s) URLs are supported"),
            ));
        }
        if files.is_empty() && !cx.options.allow_unpinned {
            return Err(LockError::Unpinned {
                file: "poetry.lock",
                at,
                requirement: format!("{}=={}", p.name, p.version),
                how: "files with sha256 hashes",
                fix: "regenerate the lock with `poetry lock`",
            });
        }
        out.add(
            cx,
            &at,
            LockedDist {
                name: p.name.clone(),
                version: p.version.clone(),
                files,
            },
        )?;
    }
    if from_pypi {
        out.index_url(PYPI);
    }
    for u in legacy {
        out.index_url(&u);
    }
    Ok(out.finish())
}

/// For locks without package markers: drop packages whose every incoming edge (from a
/// package in the selected groups) is a plain one with a false marker or comes from a package
/// already dropped, until nothing changes.
fn prune_by_edges(
    cx: &Context<'_>,
    lock: &PoetryLock,
    keep: &mut [bool],
    out: &mut Collector,
) -> Result<(), LockError> {
    let index: BTreeMap<String, usize> = lock
        .package
        .iter()
        .enumerate()
        .map(|(i, p)| (normalize_name(&p.name), i))
        .collect();
    // Evaluate every edge once: (from, to, optional, marker, holds).
    let mut all = Vec::new();
    let none = BTreeSet::new();
    for (from, p) in lock.package.iter().enumerate() {
        for (name, spec) in &p.dependencies {
            let Some(&to) = index.get(&normalize_name(name)) else {
                continue;
            };
            for e in edges(spec) {
                let at = format!("{} dependency `{name}`", at_package(p));
                let holds = cx.marker(&at, e.marker, &none)?;
                all.push((from, to, e.optional, e.marker, holds));
            }
        }
    }
    // Edges from packages outside the selected groups say nothing (a `main` package that
    // only a dev package depends on is a direct dependency of the project).
    let in_scope: Vec<bool> = keep.to_vec();
    loop {
        let mut changed = false;
        for to in 0..keep.len() {
            if !keep[to] {
                continue;
            }
            let incoming: Vec<_> = all
                .iter()
                .filter(|(from, t, ..)| *t == to && *from != to && in_scope[*from])
                .collect();
            let live = |e: &&(usize, usize, bool, &str, bool)| keep[e.0] && (e.2 || e.4);
            if incoming.is_empty() || incoming.iter().any(live) {
                continue;
            }
            keep[to] = false;
            changed = true;
            let why = incoming
                .iter()
                .find(|e| keep[e.0] || !e.4)
                .filter(|e| !e.4 && !e.3.is_empty())
                .map_or_else(
                    || "only needed by packages left out".to_owned(),
                    |e| super::marker_reason(e.3),
                );
            out.skip(&lock.package[to].name, why);
        }
        if !changed {
            return Ok(());
        }
    }
}

/// The name at the start of a requirement (`PySocks (>=1.5.6,!=1.5.7)`, `x[y]>=1`).
fn requirement_name(req: &str) -> &str {
    let req = req.trim();
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    &req[..end]
}

#[cfg(test)]
mod tests {
    use super::super::test_env::FakeEnv;
    use super::super::{LockKind, Options, read as read_lock};
    use super::*;

    fn h(c: char) -> String {
        c.to_string().repeat(64)
    }

    /// Poetry 2 (lock 2.1): groups and markers per package.
    fn modern() -> String {
        format!(
            r#"# This file is automatically @generated by Poetry 2.1.3 and should not be changed by hand.

[[package]]
name = "click"
version = "8.1.7"
description = "Composable command line interface toolkit"
optional = false
python-versions = ">=3.7"
groups = ["main", "dev"]
files = [
    {{file = "click-8.1.7-py3-none-any.whl", hash = "sha256:{a}"}},
    {{file = "click-8.1.7.tar.gz", hash = "sha256:{b}"}},
]

[package.dependencies]
colorama = {{version = "*", markers = "platform_system == \"Windows\""}}

[[package]]
name = "colorama"
version = "0.4.6"
description = "Cross-platform colored terminal text."
optional = false
python-versions = "!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,!=3.4.*,!=3.5.*,!=3.6.*,>=2.7"
groups = ["main", "dev"]
markers = {{main = "platform_system == \"Windows\"", dev = "sys_platform == \"win32\" or platform_system == \"Windows\""}}
files = [
    {{file = "colorama-0.4.6-py2.py3-none-any.whl", hash = "sha256:{c}"}},
]

[[package]]
name = "exceptiongroup"
version = "1.2.2"
description = "Backport of PEP 654 (exception groups)"
optional = false
python-versions = ">=3.7"
groups = ["dev"]
markers = "python_version < \"3.11\""
files = [
    {{file = "exceptiongroup-1.2.2-py3-none-any.whl", hash = "sha256:{d}"}},
]

[[package]]
name = "gunicorn"
version = "23.0.0"
description = "WSGI HTTP Server for UNIX"
optional = false
python-versions = ">=3.7"
groups = ["main"]
markers = "sys_platform != \"win32\""
files = [
    {{file = "gunicorn-23.0.0-py3-none-any.whl", hash = "sha256:{e}"}},
]

[[package]]
name = "mkdocs"
version = "1.6.0"
description = "Project documentation with Markdown."
optional = false
python-versions = ">=3.8"
groups = ["docs"]
files = [
    {{file = "mkdocs-1.6.0-py3-none-any.whl", hash = "sha256:{f}"}},
]

[[package]]
name = "pysocks"
version = "1.7.1"
description = "A Python SOCKS client module."
optional = true
python-versions = ">=2.7"
groups = ["main"]
markers = "extra == \"socks\""
files = [
    {{file = "PySocks-1.7.1-py3-none-any.whl", hash = "sha256:{a}"}},
]

[[package]]
name = "pytest"
version = "8.3.2"
description = "pytest: simple powerful testing with Python"
optional = false
python-versions = ">=3.8"
groups = ["dev"]
files = [
    {{file = "pytest-8.3.2-py3-none-any.whl", hash = "sha256:{b}"}},
]

[package.dependencies]
colorama = {{version = "*", markers = "sys_platform == \"win32\""}}
exceptiongroup = {{version = ">=1.0.0rc8", markers = "python_version < \"3.11\""}}

[package.extras]
dev = ["argcomplete", "hypothesis (>=3.56)"]

[[package]]
name = "private-lib"
version = "0.3.0"
description = ""
optional = false
python-versions = ">=3.9"
groups = ["main"]
files = [
    {{file = "private_lib-0.3.0-py3-none-any.whl", hash = "sha256:{c}"}},
]

[package.source]
type = "legacy"
url = "https://pypi.example/simple"
reference = "private"

[extras]
socks = ["PySocks (>=1.7)"]

[metadata]
lock-version = "2.1"
python-versions = "^3.11"
content-hash = "{d}"
"#,
            a = h('a'),
            b = h('b'),
            c = h('c'),
            d = h('d'),
            e = h('e'),
            f = h('f'),
        )
    }

    /// Poetry 1.1 (lock 1.1): `category`, files in `[metadata.files]`, markers only on edges.
    fn legacy() -> String {
        format!(
            r#"[[package]]
name = "click"
version = "8.0.4"
description = "Composable command line interface toolkit"
category = "main"
optional = false
python-versions = ">=3.6"

[package.dependencies]
colorama = {{version = "*", markers = "platform_system == \"Windows\""}}
importlib-metadata = {{version = "*", markers = "python_version < \"3.8\""}}

[[package]]
name = "colorama"
version = "0.4.4"
description = "Cross-platform colored terminal text."
category = "main"
optional = false
python-versions = ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*"

[[package]]
name = "importlib-metadata"
version = "4.8.3"
description = "Read metadata from Python packages"
category = "main"
optional = false
python-versions = ">=3.6"

[package.dependencies]
typing-extensions = {{version = ">=3.6.4", markers = "python_version < \"3.8\""}}
zipp = ">=0.5"

[[package]]
name = "requests"
version = "2.27.1"
description = "Python HTTP for Humans."
category = "main"
optional = false
python-versions = ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*, !=3.5.*"

[package.dependencies]
PySocks = {{version = ">=1.5.6, !=1.5.7", optional = true}}
typing-extensions = [
    {{version = ">=4", markers = "python_version >= \"3.8\""}},
    {{version = ">=3", markers = "python_version < \"3.8\""}},
]

[package.extras]
socks = ["PySocks (>=1.5.6, !=1.5.7)", "win-inet-pton"]

[[package]]
name = "pysocks"
version = "1.7.1"
description = "A Python SOCKS client module."
category = "main"
optional = false
python-versions = ">=2.7, !=3.0.*, !=3.1.*, !=3.2.*"

[[package]]
name = "pytest"
version = "7.0.1"
description = "pytest: simple powerful testing with Python"
category = "dev"
optional = false
python-versions = ">=3.6"

[[package]]
name = "typing-extensions"
version = "4.1.1"
description = "Backported and Experimental Type Hints for Python 3.6+"
category = "main"
optional = false
python-versions = ">=3.6"

[[package]]
name = "zipp"
version = "3.6.0"
description = "Backport of pathlib-compatible object wrapper for zip files"
category = "main"
optional = false
python-versions = ">=3.6"

[metadata]
lock-version = "1.1"
python-versions = "^3.6"
content-hash = "{a}"

[metadata.files]
click = [
    {{file = "click-8.0.4-py3-none-any.whl", hash = "sha256:{b}"}},
    {{file = "click-8.0.4.tar.gz", hash = "sha256:{c}"}},
]
colorama = [
    {{file = "colorama-0.4.4-py2.py3-none-any.whl", hash = "sha256:{d}"}},
]
importlib-metadata = [
    {{file = "importlib_metadata-4.8.3-py3-none-any.whl", hash = "sha256:{e}"}},
]
pysocks = [
    {{file = "PySocks-1.7.1-py3-none-any.whl", hash = "sha256:{f}"}},
]
pytest = [
    {{file = "pytest-7.0.1-py3-none-any.whl", hash = "sha256:{a}"}},
]
requests = [
    {{file = "requests-2.27.1-py2.py3-none-any.whl", hash = "sha256:{b}"}},
]
typing-extensions = [
    {{file = "typing_extensions-4.1.1-py3-none-any.whl", hash = "sha256:{c}"}},
]
zipp = [
    {{file = "zipp-3.6.0-py3-none-any.whl", hash = "sha256:{d}"}},
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
        read_lock(LockKind::Poetry, text, &FakeEnv, options)
    }

    fn names(s: &Selection) -> Vec<String> {
        s.dists
            .iter()
            .map(|d| format!("{} {}", d.name, d.version))
            .collect()
    }

    fn why<'a>(s: &'a Selection, name: &str) -> Option<&'a str> {
        s.skipped
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, w)| w.as_str())
    }

    #[test]
    fn modern_main_group() {
        let s = read(&modern(), &Options::default()).expect("reads");
        assert_eq!(
            names(&s),
            vec!["click 8.1.7", "gunicorn 23.0.0", "private-lib 0.3.0"]
        );
        assert_eq!(
            s.dists[0].files[0],
            LockedFile {
                filename: Some("click-8.1.7-py3-none-any.whl".to_owned()),
                url: None,
                sha256: h('a'),
                size: None,
            }
        );
        assert_eq!(
            why(&s, "colorama"),
            Some("marker `platform_system == \"Windows\"`")
        );
        assert_eq!(why(&s, "pytest"), Some("dev group"));
        assert_eq!(why(&s, "mkdocs"), Some("group `docs`"));
        assert_eq!(
            why(&s, "pysocks"),
            Some("optional (an extra that is not selected)")
        );
        assert_eq!(
            s.index_urls,
            vec!["https://pypi.org/simple", "https://pypi.example/simple"]
        );
    }

    #[test]
    fn modern_dev_groups_and_extras() {
        let options = Options {
            include_dev: true,
            extras: BTreeSet::from(["socks".to_owned()]),
            groups: BTreeSet::from(["docs".to_owned()]),
            allow_unpinned: false,
        };
        let s = read(&modern(), &options).expect("reads");
        assert_eq!(
            names(&s),
            vec![
                "click 8.1.7",
                "gunicorn 23.0.0",
                "mkdocs 1.6.0",
                "private-lib 0.3.0",
                "pysocks 1.7.1",
                "pytest 8.3.2"
            ]
        );
        assert_eq!(
            why(&s, "colorama"),
            Some(
                "marker `platform_system == \"Windows\" / sys_platform == \"win32\" or platform_system == \"Windows\"`"
            )
        );
        assert_eq!(
            why(&s, "exceptiongroup"),
            Some("marker `python_version < \"3.11\"`")
        );
    }

    #[test]
    fn legacy_category_lock() {
        let s = read(&legacy(), &Options::default()).expect("reads");
        assert_eq!(
            names(&s),
            vec![
                "click 8.0.4",
                "pysocks 1.7.1",
                "requests 2.27.1",
                "typing-extensions 4.1.1"
            ]
        );
        assert_eq!(s.dists[0].files.len(), 2, "from [metadata.files]");
        assert_eq!(why(&s, "pytest"), Some("dev group"));
        assert_eq!(
            why(&s, "colorama"),
            Some("marker `platform_system == \"Windows\"`")
        );
        assert_eq!(
            why(&s, "importlib-metadata"),
            Some("marker `python_version < \"3.8\"`")
        );
        // zipp is needed only by importlib-metadata, which is left out.
        assert_eq!(why(&s, "zipp"), Some("only needed by packages left out"));
        assert!(!names(&s).iter().any(|n| n.starts_with("zipp")));
        assert_eq!(s.index_urls, vec!["https://pypi.org/simple"]);
        let dev = Options {
            include_dev: true,
            ..Options::default()
        };
        let s = read(&legacy(), &dev).expect("reads");
        assert!(names(&s).contains(&"pytest 7.0.1".to_owned()));
    }

    #[test]
    fn lock_2_0_without_groups_is_all_main() {
        let text = format!(
            "[[package]]\nname = \"six\"\nversion = \"1.16.0\"\ndescription = \"\"\noptional = false\npython-versions = \"*\"\nfiles = [\n    {{file = \"six-1.16.0-py2.py3-none-any.whl\", hash = \"sha256:{}\"}},\n]\n\n[metadata]\nlock-version = \"2.0\"\npython-versions = \"^3.11\"\ncontent-hash = \"x\"\n",
            h('a')
        );
        let s = read(&text, &Options::default()).expect("reads");
        assert_eq!(names(&s), vec!["six 1.16.0"]);
    }

    #[test]
    fn errors() {
        let err = read("[[package]\n", &Options::default()).expect_err("toml");
        assert!(
            err.to_string().starts_with("poetry.lock could not be read"),
            "{err}"
        );
        let err =
            read("[metadata]\nlock-version = \"3.0\"\n", &Options::default()).expect_err("version");
        assert!(err.to_string().contains("lock version `3.0`"), "{err}");
        let git = modern().replace(
            "type = \"legacy\"\nurl = \"https://pypi.example/simple\"",
            "type = \"git\"\nurl = \"https://github.com/x/private-lib.git\"",
        );
        let err = read(&git, &Options::default()).expect_err("git");
        assert!(
            err.to_string()
                .starts_with("poetry.lock package `private-lib` 0.3.0: comes from the git source"),
            "{err}"
        );
        let md5 = modern().replace(
            &format!("click-8.1.7-py3-none-any.whl\", hash = \"sha256:{}", h('a')),
            "click-8.1.7-py3-none-any.whl\", hash = \"md5:00",
        );
        assert_ne!(md5, modern());
        let err = read(&md5, &Options::default()).expect_err("md5");
        assert!(
            err.to_string()
                .contains("package `click` 8.1.7 file `click-8.1.7-py3-none-any.whl`"),
            "{err}"
        );
        let nofiles = "[[package]]\nname = \"six\"\nversion = \"1.16.0\"\n[metadata]\nlock-version = \"2.0\"\n";
        let err = read(nofiles, &Options::default()).expect_err("unpinned");
        assert!(
            err.to_string().contains("`six==1.16.0` is not pinned"),
            "{err}"
        );
        let allowed = Options {
            allow_unpinned: true,
            ..Options::default()
        };
        assert!(read(nofiles, &allowed).is_ok_and(|s| s.dists[0].files.is_empty()));
    }

    #[test]
    fn url_sources_keep_their_url() {
        let text = format!(
            "[[package]]\nname = \"x\"\nversion = \"1.0\"\ngroups = [\"main\"]\nfiles = [{{file = \"x-1.0-py3-none-any.whl\", hash = \"sha256:{}\"}}]\n[package.source]\ntype = \"url\"\nurl = \"https://h.example/x-1.0-py3-none-any.whl\"\n",
            h('a')
        );
        let s = read(&text, &Options::default()).expect("reads");
        assert_eq!(
            s.dists[0].files[0].url.as_deref(),
            Some("https://h.example/x-1.0-py3-none-any.whl")
        );
        assert!(s.index_urls.is_empty());
    }

    #[test]
    fn names_of_requirements() {
        assert_eq!(requirement_name("PySocks (>=1.5.6, !=1.5.7)"), "PySocks");
        assert_eq!(requirement_name("x[y]>=1"), "x");
        assert_eq!(requirement_name(""), "");
    }
}
