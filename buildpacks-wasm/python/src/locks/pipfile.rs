//! `Pipfile.lock` (JSON, as `pipenv lock` writes it): `_meta.sources[].url` are the indexes;
//! the `default` category is always installed, `develop` with [`Options::include_dev`], and
//! any other category named in [`Options::groups`] (pipenv's custom categories). An entry is
//! `name: { "version": "==1.2.3", "hashes": ["sha256:…"], "markers": "…", "index": "…" }`;
//! its marker is evaluated with no extras (the extras' requirements have entries of their
//! own). A `{ "file": "https://…" }` entry with hashes keeps its URL; the app's own
//! `{ "editable": true, "path": "." }` is noted and left out; other editables, paths and VCS
//! entries are refused.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{Collector, Context, LockError, LockedDist, LockedFile, Selection, normalize_name};

const HOW: &str = "a `==` version and sha256 hashes";
const FIX: &str = "lock it with `pipenv lock`";

pub(super) fn read(cx: &Context<'_>, text: &str) -> Result<Selection, LockError> {
    let root: Value = serde_json::from_str(text).map_err(|e| cx.syntax(e.to_string()))?;
    let Some(root) = root.as_object() else {
        return Err(cx.syntax("it is not a JSON object"));
    };
    let mut out = Collector::default();
    if let Some(meta) = root.get("_meta") {
        let sources = meta.get("sources").and_then(Value::as_array);
        for (i, s) in sources.into_iter().flatten().enumerate() {
            match s.get("url").and_then(Value::as_str) {
                Some(u) => out.index_url(u),
                None => {
                    return Err(cx.invalid(
                        format!("_meta.sources[{i}]"),
                        "has no `url`; fix the [[source]] in the Pipfile and run `pipenv lock`",
                    ));
                }
            }
        }
    }
    let mut categories = vec!["default".to_owned()];
    if cx.options.include_dev {
        categories.push("develop".to_owned());
    }
    for key in root.keys() {
        if key != "_meta"
            && !categories.contains(key)
            && cx.options.groups.contains(&normalize_name(key))
        {
            categories.push(key.clone());
        }
    }
    for (key, value) in root {
        if key == "_meta" || categories.contains(key) {
            continue;
        }
        if let Some(entries) = value.as_object() {
            let why = if key == "develop" {
                "dev group".to_owned()
            } else {
                format!("category `{key}`")
            };
            for name in entries.keys() {
                out.skip(name, why.clone());
            }
        }
    }
    for category in &categories {
        let Some(value) = root.get(category) else {
            continue;
        };
        let Some(entries) = value.as_object() else {
            return Err(cx.syntax(format!("`{category}` is not an object")));
        };
        for (name, entry) in entries {
            let at = format!("{category} `{name}`");
            let Some(entry) = entry.as_object() else {
                return Err(cx.invalid(at, "is not an object; regenerate it with `pipenv lock`"));
            };
            if let Some(dist) = dist(cx, &at, name, entry, &mut out)? {
                out.add(cx, &at, dist)?;
            }
        }
    }
    Ok(out.finish())
}

fn string<'a>(
    cx: &Context<'_>,
    at: &str,
    entry: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, LockError> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(cx.invalid(
            format!("{at} field `{field}`"),
            "is not a string; regenerate it with `pipenv lock`",
        )),
    }
}

/// One entry, or `None` when it is left out.
fn dist(
    cx: &Context<'_>,
    at: &str,
    name: &str,
    entry: &Map<String, Value>,
    out: &mut Collector,
) -> Result<Option<LockedDist>, LockError> {
    let marker = string(cx, at, entry, "markers")?.unwrap_or("");
    if !cx.marker(at, marker, &BTreeSet::new())? {
        out.skip(name, super::marker_reason(marker));
        return Ok(None);
    }
    let editable = entry.get("editable").and_then(Value::as_bool) == Some(true);
    if let Some(path) = string(cx, at, entry, "path")? {
        if editable && matches!(path, "." | "./") {
            out.skip(name, format!("the project itself (`{path}`)"));
            return Ok(None);
        }
        return Err(cx.invalid(
            at,
            format!(
                "is the local path `{path}`, which is not supported; depend on a released version"
            ),
        ));
    }
    for vcs in ["git", "hg", "svn", "bzr"] {
        if let Some(url) = string(cx, at, entry, vcs)? {
            return Err(cx.invalid(
                at,
                format!(
                    "comes from the {vcs} repository `{url}`, which is not supported yet; publish it to a package index and lock it from there"
                ),
            ));
        }
    }
    let mut hashes = Vec::new();
    match entry.get("hashes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for h in list {
                let Some(h) = h.as_str() else {
                    return Err(cx.invalid(
                        format!("{at} field `hashes`"),
                        "holds a value that is not a string; regenerate it with `pipenv lock`",
                    ));
                };
                hashes.push(cx.sha256(at, h)?);
            }
        }
        Some(_) => {
            return Err(cx.invalid(
                format!("{at} field `hashes`"),
                "is not a list; regenerate it with `pipenv lock`",
            ));
        }
    }
    let url = string(cx, at, entry, "file")?;
    let version_text = string(cx, at, entry, "version")?;
    let pinned = version_text
        .and_then(|v| v.trim().strip_prefix("=="))
        .map(|v| v.trim_start_matches('=').trim())
        .filter(|v| !v.is_empty() && !v.contains(['*', ',', '<', '>', '!', '~']));
    if let Some(url) = url {
        if !super::is_http_url(url) {
            return Err(cx.invalid(
                at,
                format!("is the file `{url}`; only http(s) URLs are supported"),
            ));
        }
        let filename = super::url_file_name(url);
        if hashes.is_empty() && !cx.options.allow_unpinned {
            return Err(unpinned(at, &format!("{name} @ {url}")));
        }
        return Ok(Some(LockedDist {
            name: name.to_owned(),
            version: pinned.map_or_else(String::new, str::to_owned),
            files: hashes
                .into_iter()
                .map(|sha256| LockedFile {
                    filename: Some(filename.clone()),
                    url: Some(url.to_owned()),
                    sha256,
                    size: None,
                })
                .collect(),
        }));
    }
    if let Some(version) = pinned
        && !hashes.is_empty()
    {
        return Ok(Some(LockedDist {
            name: name.to_owned(),
            version: version.to_owned(),
            files: hashes
                .into_iter()
                .map(|sha256| LockedFile {
                    filename: None,
                    url: None,
                    sha256,
                    size: None,
                })
                .collect(),
        }));
    }
    let spec = version_text.unwrap_or("").trim();
    if !cx.options.allow_unpinned {
        return Err(unpinned(at, &format!("{name}{spec}")));
    }
    Ok(Some(LockedDist {
        name: name.to_owned(),
        version: pinned
            .unwrap_or(if spec == "*" { "" } else { spec })
            .to_owned(),
        files: Vec::new(),
    }))
}

fn unpinned(at: &str, requirement: &str) -> LockError {
    LockError::Unpinned {
        file: "Pipfile.lock",
        at: at.to_owned(),
        requirement: requirement.to_owned(),
        how: HOW,
        fix: FIX,
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_env::FakeEnv;
    use super::super::{LockKind, Options, read as read_lock};
    use super::*;

    fn h(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn sample() -> String {
        format!(
            r#"{{
    "_meta": {{
        "hash": {{"sha256": "{a}"}},
        "pipfile-spec": 6,
        "requires": {{"python_version": "3.11"}},
        "sources": [
            {{"name": "pypi", "url": "https://pypi.org/simple", "verify_ssl": true}},
            {{"name": "private", "url": "https://pypi.example/simple", "verify_ssl": true}}
        ]
    }},
    "default": {{
        "certifi": {{
            "hashes": ["sha256:{b}", "sha256:{c}"],
            "index": "pypi",
            "markers": "python_version >= '3.6'",
            "version": "==2024.7.4"
        }},
        "colorama": {{
            "hashes": ["sha256:{d}"],
            "markers": "platform_system == 'Windows'",
            "version": "==0.4.6"
        }},
        "myapp": {{"editable": true, "path": "."}},
        "requests": {{
            "extras": ["socks"],
            "hashes": ["sha256:{E}"],
            "index": "pypi",
            "version": "==2.32.3"
        }}
    }},
    "develop": {{
        "pytest": {{"hashes": ["sha256:{f}"], "version": "==8.3.2"}},
        "requests": {{"hashes": ["sha256:{e}"], "version": "==2.32.3"}}
    }},
    "docs": {{
        "sphinx": {{"hashes": ["sha256:{a}"], "version": "==7.4.7"}}
    }}
}}"#,
            a = h('a'),
            b = h('b'),
            c = h('c'),
            d = h('d'),
            e = h('e'),
            E = h('E'),
            f = h('f'),
        )
    }

    fn read(text: &str, options: &Options) -> Result<Selection, LockError> {
        read_lock(LockKind::Pipfile, text, &FakeEnv, options)
    }

    fn names(s: &Selection) -> Vec<String> {
        s.dists
            .iter()
            .map(|d| format!("{} {}", d.name, d.version))
            .collect()
    }

    #[test]
    fn default_category() {
        let s = read(&sample(), &Options::default()).expect("reads");
        assert_eq!(names(&s), vec!["certifi 2024.7.4", "requests 2.32.3"]);
        assert_eq!(s.dists[0].files.len(), 2);
        assert_eq!(s.dists[1].files[0].sha256, h('e'));
        assert_eq!(
            s.index_urls,
            vec!["https://pypi.org/simple", "https://pypi.example/simple"]
        );
        let why = |n: &str| {
            s.skipped
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, w)| w.as_str())
        };
        assert_eq!(
            why("colorama"),
            Some("marker `platform_system == 'Windows'`")
        );
        assert_eq!(why("myapp"), Some("the project itself (`.`)"));
        assert_eq!(why("pytest"), Some("dev group"));
        assert_eq!(why("sphinx"), Some("category `docs`"));
    }

    #[test]
    fn develop_and_custom_categories() {
        let options = Options {
            include_dev: true,
            groups: BTreeSet::from(["docs".to_owned()]),
            ..Options::default()
        };
        let s = read(&sample(), &options).expect("reads");
        assert_eq!(
            names(&s),
            vec![
                "certifi 2024.7.4",
                "pytest 8.3.2",
                "requests 2.32.3",
                "sphinx 7.4.7"
            ]
        );
        assert_eq!(s.dists[2].files.len(), 1, "same hash in both categories");
    }

    #[test]
    fn unpinned_entries() {
        let text = r#"{"_meta": {}, "default": {"flask": {"version": "*"}, "six": {"version": "==1.16.0", "hashes": []}}}"#;
        let err = read(text, &Options::default()).expect_err("unpinned");
        assert_eq!(
            err.to_string(),
            "Pipfile.lock default `flask`: `flask*` is not pinned with a `==` version and sha256 hashes; lock it with `pipenv lock`, or pass `--allow-unpinned`"
        );
        let options = Options {
            allow_unpinned: true,
            ..Options::default()
        };
        let s = read(text, &options).expect("allowed");
        assert_eq!(names(&s), vec!["flask ", "six 1.16.0"]);
    }

    #[test]
    fn refused_entries() {
        let git = r#"{"default": {"x": {"git": "https://github.com/x/x.git", "ref": "abc"}}}"#;
        let err = read(git, &Options::default()).expect_err("git");
        assert!(
            err.to_string()
                .contains("default `x`: comes from the git repository"),
            "{err}"
        );
        let path = r#"{"default": {"x": {"path": "../x"}}}"#;
        assert!(
            read(path, &Options::default())
                .is_err_and(|e| e.to_string().contains("local path `../x`"))
        );
        let md5 = r#"{"default": {"x": {"version": "==1", "hashes": ["md5:00"]}}}"#;
        assert!(read(md5, &Options::default()).is_err_and(|e| e.to_string().contains("md5")));
        let bad = r#"{"default": {"x": {"version": 1}}}"#;
        assert!(
            read(bad, &Options::default())
                .is_err_and(|e| e.to_string().contains("field `version`"))
        );
        assert!(
            read("[]", &Options::default())
                .is_err_and(|e| e.to_string().contains("not a JSON object"))
        );
        assert!(
            read("{", &Options::default())
                .is_err_and(|e| e.to_string().starts_with("Pipfile.lock could not be read"))
        );
        let no_url = r#"{"_meta": {"sources": [{"name": "x"}]}, "default": {}}"#;
        assert!(
            read(no_url, &Options::default())
                .is_err_and(|e| e.to_string().contains("_meta.sources[0]"))
        );
    }

    #[test]
    fn file_entries_keep_their_url() {
        let text = format!(
            r#"{{"default": {{"x": {{"file": "https://h.example/x-1.0-py3-none-any.whl", "hashes": ["sha256:{}"], "version": "==1.0"}}}}}}"#,
            h('a')
        );
        let s = read(&text, &Options::default()).expect("reads");
        assert_eq!(
            s.dists[0].files[0].filename.as_deref(),
            Some("x-1.0-py3-none-any.whl")
        );
        assert!(s.dists[0].files[0].url.is_some());
    }
}
