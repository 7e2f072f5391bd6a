//! A hashed `requirements.txt`, as `pip-compile --generate-hashes` and
//! `uv pip compile --generate-hashes` write it:
//!
//! ```text
//! --index-url https://pypi.org/simple
//! flask[async]==3.0.3 \
//!     --hash=sha256:… \
//!     --hash=sha256:…
//!     # via -r requirements.in
//! colorama==0.4.6 ; sys_platform == "win32" \
//!     --hash=sha256:…
//! ```
//!
//! Lines ending in `\` continue on the next; `#` at the start of a line or after whitespace
//! starts a comment. Every hash of a requirement applies to it (the file names no files), and
//! its marker is evaluated with no extras (the extras' own requirements are listed on their
//! own lines). `--index-url` / `-i` / `--extra-index-url` are recorded; `--find-links`,
//! `--trusted-host`, `--no-binary`, `--only-binary`, `--prefer-binary`, `--pre`,
//! `--require-hashes`, `--no-index` and `--use-feature` are accepted and have no effect; `-r`
//! / `-c` includes and `-e` editables are refused. A direct reference `name @ https://…` with
//! hashes is kept with its URL.

use super::{Collector, Context, LockError, LockedDist, LockedFile, Selection};

const HOW: &str = "`==` and `--hash`";
const FIX: &str = "lock it with `pip-compile --generate-hashes` or `uv pip compile --generate-hashes -o requirements.txt`";

/// Global options that take a value and have no effect here.
const IGNORED_WITH_VALUE: &[&str] = &[
    "-f",
    "--find-links",
    "--trusted-host",
    "--no-binary",
    "--only-binary",
    "--use-feature",
];
/// Global flags that have no effect here.
const IGNORED_FLAGS: &[&str] = &["--pre", "--prefer-binary", "--require-hashes", "--no-index"];
/// Per-requirement options (besides `--hash`) that take a value and have no effect here.
const IGNORED_REQUIREMENT_OPTIONS: &[&str] =
    &["--config-settings", "--global-option", "--install-option"];

/// Logical lines: continuations joined, comments removed, with the number of their first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let is_comment = line.trim_start().starts_with('#');
        if !is_comment && let Some(body) = line.strip_suffix('\\') {
            match &mut pending {
                Some((_, joined)) => joined.push_str(body),
                None => pending = Some((number, body.to_owned())),
            }
            continue;
        }
        let line = if is_comment { "" } else { line };
        match pending.take() {
            Some((first, mut joined)) => {
                joined.push_str(line);
                out.push((first, joined));
            }
            None => out.push((number, line.to_owned())),
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out.into_iter()
        .map(|(n, l)| (n, strip_comment(&l).trim().to_owned()))
        .filter(|(_, l)| !l.is_empty())
        .collect()
}

/// The line without a `#` comment that starts it or follows whitespace.
fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        if c == '#' && prev_space {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// The tokens of an option line as `(name, value)` pairs: `--opt=value`, `--opt value`,
/// `-i value`, `-ivalue`.
fn option_value<'a>(tokens: &[&'a str], i: &mut usize, name: &str) -> Option<&'a str> {
    let token = tokens[*i];
    if let Some(v) = token.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
        return Some(v);
    }
    if token == name {
        *i += 1;
        return tokens.get(*i).copied();
    }
    // `-ihttps://…`: a short option glued to its value.
    if name.len() == 2
        && let Some(v) = token.strip_prefix(name)
        && !v.is_empty()
    {
        return Some(v);
    }
    None
}

/// The option name of a token (`--index-url=…` → `--index-url`).
fn option_name(token: &str) -> &str {
    if token.starts_with("--") {
        token.split('=').next().unwrap_or(token)
    } else {
        token.get(..2).unwrap_or(token)
    }
}

pub(super) fn read(cx: &Context<'_>, text: &str) -> Result<Selection, LockError> {
    let mut out = Collector::default();
    let mut index_url: Option<String> = None;
    let mut extra_urls = Vec::new();
    for (number, line) in logical_lines(text) {
        let at = format!("line {number}");
        if line.starts_with('-') {
            global_options(cx, &at, &line, &mut index_url, &mut extra_urls)?;
            continue;
        }
        requirement(cx, &at, &line, &mut out)?;
    }
    if let Some(u) = index_url {
        out.index_url(&u);
    }
    for u in extra_urls {
        out.index_url(&u);
    }
    Ok(out.finish())
}

fn global_options(
    cx: &Context<'_>,
    at: &str,
    line: &str,
    index_url: &mut Option<String>,
    extra_urls: &mut Vec<String>,
) -> Result<(), LockError> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut i = 0;
    while i < tokens.len() {
        let name = option_name(tokens[i]);
        let missing = || cx.invalid(at, format!("`{name}` needs a value"));
        match name {
            "-i" | "--index-url" => {
                let v = option_value(&tokens, &mut i, name).ok_or_else(missing)?;
                *index_url = Some(v.to_owned());
            }
            "--extra-index-url" => {
                let v = option_value(&tokens, &mut i, name).ok_or_else(missing)?;
                extra_urls.push(v.to_owned());
            }
            "-r" | "--requirement" | "-c" | "--constraint" => {
                return Err(cx.invalid(
                    at,
                    format!(
                        "`{line}` includes another file, which is not supported; compile one complete requirements.txt with `uv pip compile --generate-hashes -o requirements.txt requirements.in`"
                    ),
                ));
            }
            "-e" | "--editable" => {
                return Err(cx.invalid(
                    at,
                    format!(
                        "`{line}` is an editable install, which is not supported; remove it (the app directory is already on the path) or depend on a released version"
                    ),
                ));
            }
            n if IGNORED_WITH_VALUE.contains(&n) => {
                option_value(&tokens, &mut i, name).ok_or_else(missing)?;
            }
            n if IGNORED_FLAGS.contains(&n) => {}
            _ => {
                return Err(cx.invalid(
                    at,
                    format!(
                        "the option `{}` is not supported in requirements.txt; remove it",
                        tokens[i]
                    ),
                ));
            }
        }
        i += 1;
    }
    Ok(())
}

/// A requirement's parts: `name[extras] spec ; marker` or `name[extras] @ url ; marker`.
struct Requirement<'a> {
    name: &'a str,
    spec: &'a str,
    url: Option<&'a str>,
    marker: &'a str,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn parse_requirement(text: &str) -> Result<Requirement<'_>, String> {
    let end = text.find(|c: char| !is_name_char(c)).unwrap_or(text.len());
    let name = &text[..end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{text}` is not a requirement (expected `name==version`)"
        ));
    }
    let mut rest = text[end..].trim_start();
    if let Some(r) = rest.strip_prefix('[') {
        let Some(close) = r.find(']') else {
            return Err(format!("`{text}` has an unclosed `[` of extras"));
        };
        rest = r[close + 1..].trim_start();
    }
    if let Some(r) = rest.strip_prefix('@') {
        let r = r.trim_start();
        // A URL's marker must follow whitespace (`url ; marker`): `;` may be part of a URL.
        let (url, marker) = match r.find(" ;").or_else(|| r.find("\t;")) {
            Some(p) => (r[..p].trim(), r[p + 2..].trim()),
            None => (r.trim(), ""),
        };
        if url.is_empty() {
            return Err(format!("`{text}` has `@` but no URL"));
        }
        return Ok(Requirement {
            name,
            spec: "",
            url: Some(url),
            marker,
        });
    }
    let (spec, marker) = match rest.split_once(';') {
        Some((s, m)) => (s.trim(), m.trim()),
        None => (rest.trim(), ""),
    };
    let spec = spec
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(spec)
        .trim();
    if !spec.is_empty() && !spec.starts_with(['=', '!', '<', '>', '~']) {
        return Err(format!(
            "`{text}` is not a requirement (expected `name==version`)"
        ));
    }
    Ok(Requirement {
        name,
        spec,
        url: None,
        marker,
    })
}

/// The version a specifier pins exactly: `==1.2.3` / `===1.2.3` (no wildcard, no other
/// clause).
fn exact_version(spec: &str) -> Option<&str> {
    let v = spec
        .strip_prefix("===")
        .or_else(|| spec.strip_prefix("=="))?
        .trim();
    (!v.is_empty() && !v.contains([',', '*', ' ', '<', '>', '=', '!', '~'])).then_some(v)
}

/// The version in a wheel's or sdist's file name (`x-1.0-py3-none-any.whl`, `x-1.0.tar.gz`).
fn version_from_file_name(file: &str) -> Option<String> {
    if let Some(stem) = file.strip_suffix(".whl") {
        return stem.split('-').nth(1).map(str::to_owned);
    }
    let stem = [".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))?;
    stem.rsplit_once('-').map(|(_, v)| v.to_owned())
}

fn requirement(
    cx: &Context<'_>,
    at: &str,
    line: &str,
    out: &mut Collector,
) -> Result<(), LockError> {
    // The requirement runs up to the first option token (` --hash=…`).
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let first_option = tokens
        .iter()
        .position(|t| t.starts_with('-'))
        .unwrap_or(tokens.len());
    let requirement_text = tokens[..first_option].join(" ");
    let mut hashes = Vec::new();
    let mut i = first_option;
    while i < tokens.len() {
        let name = option_name(tokens[i]);
        if name == "--hash" {
            let Some(v) = option_value(&tokens, &mut i, "--hash") else {
                return Err(cx.invalid(at, "`--hash` needs a value (`--hash=sha256:<hex>`)"));
            };
            let at_hash = format!("{at} (`{requirement_text}`)");
            hashes.push(cx.sha256(&at_hash, v)?);
        } else if IGNORED_REQUIREMENT_OPTIONS.contains(&name) {
            if option_value(&tokens, &mut i, name).is_none() {
                return Err(cx.invalid(at, format!("`{name}` needs a value")));
            }
        } else {
            return Err(cx.invalid(
                at,
                format!(
                    "the option `{}` is not supported after a requirement; remove it",
                    tokens[i]
                ),
            ));
        }
        i += 1;
    }
    let req = parse_requirement(&requirement_text).map_err(|m| cx.invalid(at, m))?;
    if !cx.marker(at, req.marker, &std::collections::BTreeSet::new())? {
        out.skip(req.name, super::marker_reason(req.marker));
        return Ok(());
    }
    let dist = if let Some(url) = req.url {
        if !super::is_http_url(url) {
            return Err(cx.invalid(
                at,
                format!(
                    "`{requirement_text}` refers to `{url}`; only http(s) URLs of wheels are supported, depend on a released version instead"
                ),
            ));
        }
        let filename = super::url_file_name(url);
        let version = version_from_file_name(&filename).unwrap_or_default();
        if hashes.is_empty() {
            if !cx.options.allow_unpinned {
                return Err(unpinned(at, &requirement_text));
            }
            LockedDist {
                name: req.name.to_owned(),
                version,
                files: Vec::new(),
            }
        } else {
            LockedDist {
                name: req.name.to_owned(),
                version,
                files: hashes
                    .into_iter()
                    .map(|sha256| LockedFile {
                        filename: Some(filename.clone()),
                        url: Some(url.to_owned()),
                        sha256,
                        size: None,
                    })
                    .collect(),
            }
        }
    } else {
        match exact_version(req.spec) {
            Some(version) if !hashes.is_empty() => LockedDist {
                name: req.name.to_owned(),
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
            },
            exact => {
                if !cx.options.allow_unpinned {
                    return Err(unpinned(at, &requirement_text));
                }
                LockedDist {
                    name: req.name.to_owned(),
                    version: exact.unwrap_or(req.spec).to_owned(),
                    files: Vec::new(),
                }
            }
        }
    };
    out.add(cx, at, dist)
}

fn unpinned(at: &str, requirement: &str) -> LockError {
    LockError::Unpinned {
        file: "requirements.txt",
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
            r#"#
# This file is autogenerated by pip-compile with Python 3.11
# by the following command:
#
#    pip-compile --generate-hashes requirements.in
#
--index-url https://pypi.example/simple
--extra-index-url https://extra.example/simple
--trusted-host pypi.example

blinker==1.8.2 \
    --hash=sha256:{a} \
    --hash=sha256:{b}
    # via flask
click==8.1.7 \
    --hash=sha256:{c}
    # via flask
colorama==0.4.6 ; platform_system == "Windows" \
    --hash=sha256:{d}
    # via click
Flask[async]==3.0.3 \
    --hash=sha256:{e}
    # via -r requirements.in
importlib-metadata==8.0.0 ; python_version < "3.10" \
    --hash=sha256:{f}
numpy==1.26.4 ; python_version >= "3.9" --hash=sha256:{A}
Zope.Interface==6.4 --hash sha256:{b}  # a comment
pip-wheel @ https://files.example/packages/pw/pip_wheel-0.1-py3-none-any.whl \
    --hash=sha256:{c}

# The following packages are considered to be unsafe in a requirements file:
# setuptools
"#,
            a = h('a'),
            b = h('b'),
            c = h('c'),
            d = h('d'),
            e = h('e'),
            f = h('f'),
            A = h('A'),
        )
    }

    fn read(text: &str, options: &Options) -> Result<Selection, LockError> {
        read_lock(LockKind::Requirements, text, &FakeEnv, options)
    }

    #[test]
    fn pip_compile_output() {
        let s = read(&sample(), &Options::default()).expect("reads");
        let names: Vec<(&str, &str)> = s
            .dists
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("blinker", "1.8.2"),
                ("click", "8.1.7"),
                ("Flask", "3.0.3"),
                ("numpy", "1.26.4"),
                ("pip-wheel", "0.1"),
                ("Zope.Interface", "6.4"),
            ]
        );
        assert_eq!(s.dists[0].files.len(), 2);
        assert_eq!(
            s.dists[0].files[1],
            LockedFile {
                filename: None,
                url: None,
                sha256: h('b'),
                size: None
            }
        );
        assert_eq!(s.dists[3].files[0].sha256, h('a'), "lowercased");
        let wheel = &s.dists[4].files[0];
        assert_eq!(
            wheel.filename.as_deref(),
            Some("pip_wheel-0.1-py3-none-any.whl")
        );
        assert!(
            wheel
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://files.example/"))
        );
        assert_eq!(
            s.skipped,
            vec![
                (
                    "colorama".to_owned(),
                    "marker `platform_system == \"Windows\"`".to_owned()
                ),
                (
                    "importlib-metadata".to_owned(),
                    "marker `python_version < \"3.10\"`".to_owned()
                ),
            ]
        );
        assert_eq!(
            s.index_urls,
            vec![
                "https://pypi.example/simple".to_owned(),
                "https://extra.example/simple".to_owned()
            ]
        );
    }

    #[test]
    fn index_url_comes_first_in_any_order() {
        let s = read(
            "--extra-index-url=https://b/simple\n-ihttps://a/simple\n",
            &Options::default(),
        )
        .expect("reads");
        assert_eq!(s.index_urls, vec!["https://a/simple", "https://b/simple"]);
        let s = read("-i https://c/simple\n", &Options::default()).expect("reads");
        assert_eq!(s.index_urls, vec!["https://c/simple"]);
    }

    #[test]
    fn unpinned_is_refused_with_advice() {
        let text = format!(
            "# header\n\n\n\n\n\nflask>=2\nclick==8.1.7 --hash=sha256:{}\n",
            h('a')
        );
        let err = read(&text, &Options::default()).expect_err("unpinned");
        assert_eq!(
            err.to_string(),
            "requirements.txt line 7: `flask>=2` is not pinned with `==` and `--hash`; lock it with `pip-compile --generate-hashes` or `uv pip compile --generate-hashes -o requirements.txt`, or pass `--allow-unpinned`"
        );
        let err = read("requests==2.32.3\n", &Options::default()).expect_err("no hash");
        assert!(err.to_string().contains("`requests==2.32.3`"), "{err}");
    }

    #[test]
    fn unpinned_allowed() {
        let options = Options {
            allow_unpinned: true,
            ..Options::default()
        };
        let s = read(
            "flask>=2,<4\nrequests==2.32.3\ngunicorn\nsix == 1.16.0 ; python_version >= \"3.8\"\n",
            &options,
        )
        .expect("reads");
        let got: Vec<(&str, &str, usize)> = s
            .dists
            .iter()
            .map(|d| (d.name.as_str(), d.version.as_str(), d.files.len()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("flask", ">=2,<4", 0),
                ("gunicorn", "", 0),
                ("requests", "2.32.3", 0),
                ("six", "1.16.0", 0)
            ]
        );
    }

    #[test]
    fn includes_and_editables_are_refused() {
        for line in [
            "-r base.txt",
            "--requirement=base.txt",
            "-c constraints.txt",
        ] {
            let err = read(line, &Options::default()).expect_err(line);
            assert!(err.to_string().contains("includes another file"), "{err}");
            assert!(
                err.to_string().starts_with("requirements.txt line 1"),
                "{err}"
            );
        }
        let err = read("\n-e .\n", &Options::default()).expect_err("editable");
        assert!(
            err.to_string()
                .starts_with("requirements.txt line 2: `-e .` is an editable"),
            "{err}"
        );
        let err = read("--frobnicate\n", &Options::default()).expect_err("unknown");
        assert!(err.to_string().contains("`--frobnicate`"), "{err}");
        let err = read("--index-url\n", &Options::default()).expect_err("no value");
        assert!(err.to_string().contains("needs a value"), "{err}");
    }

    #[test]
    fn bad_hashes_and_lines() {
        let err = read("six==1.16.0 --hash=md5:abcd\n", &Options::default()).expect_err("md5");
        assert!(err.to_string().contains("md5"), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
        let err = read("six==1.16.0 --hash=sha256:abc\n", &Options::default()).expect_err("short");
        assert!(err.to_string().contains("64 hex"), "{err}");
        let err = read("six==1.0 --hash\n", &Options::default()).expect_err("no value");
        assert!(err.to_string().contains("--hash"), "{err}");
        let err = read("./local/dir\n", &Options::default()).expect_err("path");
        assert!(err.to_string().contains("not a requirement"), "{err}");
        let err = read("six[x==1.0\n", &Options::default()).expect_err("bracket");
        assert!(err.to_string().contains("unclosed"), "{err}");
        let err = read(
            &format!("x @ file:///tmp/x.whl --hash=sha256:{}\n", h('a')),
            &Options::default(),
        )
        .expect_err("file url");
        assert!(err.to_string().contains("http(s)"), "{err}");
        let err = read(
            &format!("six==1.0 ; bogus marker --hash=sha256:{}\n", h('a')),
            &Options::default(),
        )
        .expect_err("marker");
        assert!(
            err.to_string()
                .contains("environment marker `bogus marker`"),
            "{err}"
        );
    }

    #[test]
    fn continuation_and_comment_edge_cases() {
        let text = format!(
            "six==1.16.0 \\\r\n    --hash=sha256:{a} \\\r\n    # via foo\r\nidna==3.7 --hash=sha256:{b} \\\n",
            a = h('a'),
            b = h('b')
        );
        let s = read(&text, &Options::default()).expect("reads");
        assert_eq!(s.dists.len(), 2);
        assert_eq!(s.dists[1].name, "six");
        // A `#` not after whitespace is not a comment.
        assert_eq!(
            strip_comment("x @ https://h/x.whl#sha256=1 # c"),
            "x @ https://h/x.whl#sha256=1 "
        );
    }

    #[test]
    fn universal_resolution_keeps_the_matching_version() {
        let text = format!(
            "numpy==1.24.4 ; python_version < \"3.9\" --hash=sha256:{a}\nnumpy==1.26.4 ; python_version >= \"3.9\" --hash=sha256:{b}\n",
            a = h('a'),
            b = h('b')
        );
        let s = read(&text, &Options::default()).expect("reads");
        assert_eq!(s.dists.len(), 1);
        assert_eq!(s.dists[0].version, "1.26.4");
        let both = format!(
            "numpy==1.24.4 --hash=sha256:{a}\nnumpy==1.26.4 --hash=sha256:{b}\n",
            a = h('a'),
            b = h('b')
        );
        let err = read(&both, &Options::default()).expect_err("conflict");
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn helpers() {
        assert_eq!(exact_version("==1.0"), Some("1.0"));
        assert_eq!(exact_version("===1.0+local"), Some("1.0+local"));
        assert_eq!(exact_version("==1.*"), None);
        assert_eq!(exact_version("==1.0,!=1.0.1"), None);
        assert_eq!(exact_version(">=1"), None);
        assert_eq!(exact_version("=="), None);
        assert_eq!(
            version_from_file_name("a-1.0-py3-none-any.whl").as_deref(),
            Some("1.0")
        );
        assert_eq!(
            version_from_file_name("a-b-2.0.tar.gz").as_deref(),
            Some("2.0")
        );
        assert_eq!(version_from_file_name("a.exe"), None);
        assert_eq!(
            parse_requirement("six (==1.0)").map(|r| r.spec).ok(),
            Some("==1.0")
        );
    }
}
