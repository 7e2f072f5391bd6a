//! A package index's "simple" project page, read into its files: the PEP 503 HTML form and
//! the PEP 691 JSON form (`application/vnd.pypi.simple.v1+json`).
//!
//! Pages are hostile input: nothing here panics, every file listed is returned (nothing is
//! capped), and errors name the page URL. File URLs are resolved against the page URL (or a
//! `<base href>`) as RFC 3986 says, and lose their fragment (its `sha256=` becomes
//! [`IndexFile::sha256`]).

use serde::Deserialize;

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// The file name (`x-1.0-py3-none-any.whl`).
    pub filename: String,
    /// Where to download it: absolute, resolved against the page URL, without fragment.
    pub url: String,
    /// Its sha256 (lowercase hex), when the index gives it.
    pub sha256: Option<String>,
    /// Its `Requires-Python` specifier, when given (entities decoded).
    pub requires_python: Option<String>,
    /// Whether the file is yanked (PEP 592).
    pub yanked: bool,
}

/// Why a project page could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The page URL is not an absolute `scheme://host/…` URL.
    #[error("the index page URL `{0}` is not absolute; set the index URL to `https://host/simple`")]
    PageUrl(String),
    /// The JSON page is malformed.
    #[error("the index page {url} is not a valid PEP 691 JSON page: {message}")]
    Json {
        /// The page URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The page uses an API version this reader does not know.
    #[error(
        "the index page {url} uses simple API version {version}, which is not supported (only 1.x); point the build at a PEP 503/691 index"
    )]
    ApiVersion {
        /// The page URL.
        url: String,
        /// The page's `meta.api-version`.
        version: String,
    },
    /// A file entry is unusable.
    #[error(
        "the index page {url} lists `{file}` with {message}; the index is broken or not a Python package index"
    )]
    File {
        /// The page URL.
        url: String,
        /// The file name (or href) as listed.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// The project page URL: `<index>/<normalised name>/` (PEP 503).
pub fn project_url(index_url: &str, name: &str) -> String {
    format!(
        "{}/{}/",
        index_url.trim_end_matches('/'),
        crate::locks::normalize_name(name)
    )
}

/// Read a page in either form: JSON when it starts with `{`, else HTML.
pub fn parse(page_url: &str, body: &str) -> Result<Vec<IndexFile>, IndexError> {
    let trimmed = body.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        parse_json(page_url, trimmed)
    } else {
        parse_html(page_url, body)
    }
}

// ---------------------------------------------------------------------------------------------
// URLs

/// An absolute URL split as RFC 3986 does.
struct Parts<'a> {
    scheme: &'a str,
    authority: &'a str,
    path: &'a str,
    query: Option<&'a str>,
}

fn scheme_len(s: &str) -> Option<usize> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(colon)
}

fn split_absolute(url: &str) -> Option<Parts<'_>> {
    let colon = scheme_len(url)?;
    let scheme = &url[..colon];
    let rest = url[colon + 1..].strip_prefix("//")?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    if authority.is_empty() {
        return None;
    }
    let rest = &rest[auth_end..];
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    Some(Parts {
        scheme,
        authority,
        path,
        query,
    })
}

/// RFC 3986 §5.2.4: remove `.` and `..` segments.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if path.starts_with('/') && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `reference` resolved against the absolute `base` (RFC 3986 §5.2), without fragment.
fn resolve(base: &Parts<'_>, reference: &str) -> String {
    let reference = reference.trim();
    let reference = reference.split('#').next().unwrap_or(reference);
    if scheme_len(reference).is_some() {
        return match split_absolute(reference) {
            Some(p) => compose(p.scheme, p.authority, &remove_dot_segments(p.path), p.query),
            None => reference.to_owned(),
        };
    }
    if let Some(rest) = reference.strip_prefix("//") {
        return resolve(base, &format!("{}://{rest}", base.scheme));
    }
    let (path, query) = match reference.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (reference, None),
    };
    if path.is_empty() {
        return compose(base.scheme, base.authority, base.path, query.or(base.query));
    }
    let merged = if path.starts_with('/') {
        path.to_owned()
    } else {
        let dir = match base.path.rfind('/') {
            Some(i) => &base.path[..=i],
            None => "/",
        };
        format!("{dir}{path}")
    };
    compose(
        base.scheme,
        base.authority,
        &remove_dot_segments(&merged),
        query,
    )
}

fn compose(scheme: &str, authority: &str, path: &str, query: Option<&str>) -> String {
    let path = if path.is_empty() { "/" } else { path };
    match query {
        Some(q) => format!("{scheme}://{authority}{path}?{q}"),
        None => format!("{scheme}://{authority}{path}"),
    }
}

fn check_sha256(page_url: &str, file: &str, hex: &str) -> Result<String, IndexError> {
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(IndexError::File {
            url: page_url.to_owned(),
            file: file.to_owned(),
            message: format!("the sha256 `{hex}`, which is not 64 hex digits"),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// HTML

/// Decode HTML character references (`&lt;`, `&#62;`, `&#x3e;`, …); unknown ones stay.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').filter(|&e| e <= 12);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, e))
        });
        if let Some((c, e)) = decoded {
            out.push(c);
            rest = &rest[e + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// A start tag's attributes (names lowercased, values decoded; `None` = no value).
fn attributes(tag: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let b = tag.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'/') {
            i += 1;
        }
        if start == i {
            i += 1;
            continue;
        }
        let name = tag[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < b.len() && matches!(b[i], b'"' | b'\'') {
                let quote = b[i];
                let vstart = i + 1;
                let vend = b[vstart..]
                    .iter()
                    .position(|&c| c == quote)
                    .map_or(b.len(), |p| vstart + p);
                i = (vend + 1).min(b.len());
                &tag[vstart..vend]
            } else {
                let vstart = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[vstart..i]
            };
            out.push((name, Some(decode_entities(value))));
        } else {
            out.push((name, None));
        }
    }
    out
}

/// Find `needle` (ASCII, lowercase) in `hay` from `from`, ignoring ASCII case.
fn find_ci(hay: &str, needle: &str, from: usize) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if from > h.len() || n.is_empty() {
        return None;
    }
    h[from..]
        .windows(n.len())
        .position(|w| w.eq_ignore_ascii_case(n))
        .map(|p| p + from)
}

/// The start tags named `name` (`a`, `base`) with their attribute text and, for `a`, the
/// text up to `</a>`.
fn tags<'a>(html: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(start) = find_ci(html, &open, pos) {
        let after = start + open.len();
        // `<abbr>` is not `<a>`.
        let next = html.as_bytes().get(after).copied();
        if !matches!(next, Some(c) if c.is_ascii_whitespace() || c == b'>' || c == b'/') {
            pos = after;
            continue;
        }
        let Some(gt) = html[after..].find('>').map(|p| p + after) else {
            break;
        };
        let attrs = &html[after..gt];
        let text_end = find_ci(html, &format!("</{name}"), gt + 1).unwrap_or(gt + 1);
        let text = html.get(gt + 1..text_end).unwrap_or("");
        out.push((attrs, text));
        pos = gt + 1;
    }
    out
}

/// Read a PEP 503 HTML project page.
pub fn parse_html(page_url: &str, html: &str) -> Result<Vec<IndexFile>, IndexError> {
    let page = split_absolute(page_url).ok_or_else(|| IndexError::PageUrl(page_url.to_owned()))?;
    // A `<base href>` changes what relative links resolve against.
    let base_url = tags(html, "base")
        .into_iter()
        .find_map(|(attrs, _)| {
            attributes(attrs)
                .into_iter()
                .find(|(n, _)| n == "href")
                .and_then(|(_, v)| v)
        })
        .map(|href| resolve(&page, &href));
    let base = match &base_url {
        Some(u) => split_absolute(u).unwrap_or(page),
        None => page,
    };
    let mut files = Vec::new();
    for (attrs, text) in tags(html, "a") {
        let attrs = attributes(attrs);
        let get = |name: &str| attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let Some(Some(href)) = get("href") else {
            continue;
        };
        let href = href.trim();
        if href.is_empty() {
            continue;
        }
        let url = resolve(&base, href);
        let text = decode_entities(&strip_tags(text)).trim().to_owned();
        let filename = if text.is_empty() {
            crate::locks::url_file_name(&url)
        } else {
            text
        };
        let mut sha256 = None;
        if let Some((_, fragment)) = href.split_once('#') {
            for pair in fragment.split('&') {
                if let Some((k, v)) = pair.split_once('=')
                    && k.eq_ignore_ascii_case("sha256")
                {
                    sha256 = Some(check_sha256(page_url, &filename, v)?);
                }
            }
        }
        let requires_python = get("data-requires-python")
            .and_then(Clone::clone)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let yanked = get("data-yanked").is_some();
        files.push(IndexFile {
            filename,
            url,
            sha256,
            requires_python,
            yanked,
        });
    }
    Ok(files)
}

/// Text without any markup inside it (`<a><b>x</b></a>` → `x`).
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSON

#[derive(Deserialize)]
struct JsonPage {
    meta: Option<JsonMeta>,
    files: Option<Vec<JsonFile>>,
}

#[derive(Deserialize)]
struct JsonMeta {
    #[serde(rename = "api-version")]
    api_version: Option<String>,
}

#[derive(Deserialize)]
struct JsonFile {
    filename: Option<String>,
    url: Option<String>,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<serde_json::Value>,
}

/// Read a PEP 691 JSON project page.
pub fn parse_json(page_url: &str, json: &str) -> Result<Vec<IndexFile>, IndexError> {
    let page = split_absolute(page_url).ok_or_else(|| IndexError::PageUrl(page_url.to_owned()))?;
    let parsed: JsonPage = serde_json::from_str(json).map_err(|e| IndexError::Json {
        url: page_url.to_owned(),
        message: e.to_string(),
    })?;
    if let Some(version) = parsed.meta.and_then(|m| m.api_version)
        && version.split('.').next() != Some("1")
    {
        return Err(IndexError::ApiVersion {
            url: page_url.to_owned(),
            version,
        });
    }
    let Some(entries) = parsed.files else {
        return Err(IndexError::Json {
            url: page_url.to_owned(),
            message: "it has no `files` list".to_owned(),
        });
    };
    let mut files = Vec::with_capacity(entries.len());
    for (i, f) in entries.into_iter().enumerate() {
        let Some(href) = f.url.filter(|u| !u.trim().is_empty()) else {
            return Err(IndexError::File {
                url: page_url.to_owned(),
                file: f.filename.unwrap_or_else(|| format!("file #{}", i + 1)),
                message: "no `url`".to_owned(),
            });
        };
        let url = resolve(&page, &href);
        let filename = f
            .filename
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| crate::locks::url_file_name(&url));
        let sha256 = match f.hashes.get("sha256") {
            Some(h) => Some(check_sha256(page_url, &filename, h)?),
            None => None,
        };
        let yanked = match f.yanked {
            None | Some(serde_json::Value::Null | serde_json::Value::Bool(false)) => false,
            Some(_) => true,
        };
        files.push(IndexFile {
            filename,
            url,
            sha256,
            requires_python: f
                .requires_python
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
            yanked,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "https://pypi.org/simple/flask/";

    fn h(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn project_urls() {
        assert_eq!(
            project_url("https://pypi.org/simple", "Flask_SQLAlchemy"),
            "https://pypi.org/simple/flask-sqlalchemy/"
        );
        assert_eq!(
            project_url("https://m.example/pypi/simple///", "zope.interface"),
            "https://m.example/pypi/simple/zope-interface/"
        );
    }

    #[test]
    fn html_page() {
        let html = format!(
            r#"<!DOCTYPE html>
<html>
  <head><meta name="pypi:repository-version" content="1.1"><title>Links for flask</title></head>
  <body>
    <h1>Links for flask</h1>
    <a href="../../packages/ab/cd/Flask-3.0.3-py3-none-any.whl#sha256={A}" data-requires-python="&gt;=3.8" data-dist-info-metadata="sha256={b}">Flask-3.0.3-py3-none-any.whl</a><br />
    <A HREF='/packages/ef/01/flask-3.0.3.tar.gz#md5=00&amp;sha256={c}' data-requires-python='&gt;=3.8,&lt;4'>flask-3.0.3.tar.gz</A><br/>
    <a href="https://files.example/x/Flask-0.1-py2-none-any.whl" data-yanked="">Flask-0.1-py2-none-any.whl</a>
    <a href=Flask-0.2.tar.gz data-yanked="broken &amp; bad">Flask-0.2.tar.gz</a>
    <abbr href="x">not a link</abbr>
    <a name="anchor">no href</a>
    <a href="//cdn.example/p/Flask%2B-1.0.tar.gz"></a>
  </body>
</html>
"#,
            A = h('A'),
            b = h('b'),
            c = h('c')
        );
        let files = parse_html(PAGE, &html).expect("parses");
        assert_eq!(files.len(), 5);
        assert_eq!(
            files[0],
            IndexFile {
                filename: "Flask-3.0.3-py3-none-any.whl".to_owned(),
                url: "https://pypi.org/packages/ab/cd/Flask-3.0.3-py3-none-any.whl".to_owned(),
                sha256: Some(h('a')),
                requires_python: Some(">=3.8".to_owned()),
                yanked: false,
            }
        );
        assert_eq!(
            files[1].url,
            "https://pypi.org/packages/ef/01/flask-3.0.3.tar.gz"
        );
        assert_eq!(files[1].sha256, Some(h('c')));
        assert_eq!(files[1].requires_python.as_deref(), Some(">=3.8,<4"));
        assert!(files[2].yanked);
        assert_eq!(
            files[2].url,
            "https://files.example/x/Flask-0.1-py2-none-any.whl"
        );
        assert!(files[3].yanked);
        assert_eq!(
            files[3].url,
            "https://pypi.org/simple/flask/Flask-0.2.tar.gz"
        );
        assert_eq!(files[4].url, "https://cdn.example/p/Flask%2B-1.0.tar.gz");
        assert_eq!(files[4].filename, "Flask+-1.0.tar.gz");
    }

    #[test]
    fn base_href_and_bad_hashes() {
        let html = "<html><head><base href=\"https://files.example/root/\"></head><body><a href=\"a/x-1.0.tar.gz\">x-1.0.tar.gz</a></body></html>";
        let files = parse_html(PAGE, html).expect("parses");
        assert_eq!(files[0].url, "https://files.example/root/a/x-1.0.tar.gz");
        let bad = "<a href=\"x.whl#sha256=zz\">x.whl</a>";
        let err = parse_html(PAGE, bad).expect_err("bad hash");
        assert!(err.to_string().contains(PAGE), "{err}");
        assert!(err.to_string().contains("`x.whl`"), "{err}");
        let err = parse_html("/simple/x/", "").expect_err("relative page");
        assert!(matches!(err, IndexError::PageUrl(_)));
    }

    #[test]
    fn hostile_html_does_not_panic() {
        for html in [
            "<a",
            "<a href=",
            "<a href=\"",
            "<a href='x",
            "<a href=x>",
            "<a href=x>é</a",
            "<<<a>>>",
            "<a href=\"#sha256=\">",
            "&#xFFFFFFFF; &#; &;&",
            "<a href=\"é\u{0}\">\u{feff}</a>",
            "<a\u{a0}href=x>y</a>",
        ] {
            let _ = parse_html(PAGE, html);
            let _ = parse(PAGE, html);
        }
        assert_eq!(
            decode_entities("&#xFFFFFFFF;&lt;&bogus;&#60;&"),
            "&#xFFFFFFFF;<&bogus;<&"
        );
    }

    #[test]
    fn json_page() {
        let json = format!(
            r#"{{
  "meta": {{"api-version": "1.1", "_last-serial": 1}},
  "name": "flask",
  "versions": ["3.0.3"],
  "files": [
    {{"filename": "flask-3.0.3-py3-none-any.whl", "url": "https://files.pythonhosted.org/packages/61/80/flask-3.0.3-py3-none-any.whl", "hashes": {{"sha256": "{A}"}}, "requires-python": ">=3.8", "yanked": false, "core-metadata": {{"sha256": "{b}"}}, "size": 101735}},
    {{"filename": "flask-3.0.3.tar.gz", "url": "../../packages/41/e1/flask-3.0.3.tar.gz#sha256={c}", "hashes": {{}}, "yanked": "bad release"}},
    {{"filename": "Flask-0.1.tar.gz", "url": "/p/Flask-0.1.tar.gz", "hashes": {{"md5": "00"}}, "requires-python": null, "yanked": true}}
  ]
}}"#,
            A = h('A'),
            b = h('b'),
            c = h('c')
        );
        let files = parse(PAGE, &json).expect("parses");
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].sha256, Some(h('a')));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert!(!files[0].yanked);
        assert_eq!(
            files[1].url,
            "https://pypi.org/packages/41/e1/flask-3.0.3.tar.gz"
        );
        assert_eq!(files[1].sha256, None);
        assert!(files[1].yanked);
        assert_eq!(files[2].url, "https://pypi.org/p/Flask-0.1.tar.gz");
        assert!(files[2].yanked);
    }

    #[test]
    fn json_errors() {
        let err = parse_json(PAGE, "{").expect_err("syntax");
        assert!(
            err.to_string()
                .starts_with("the index page https://pypi.org/simple/flask/ is not"),
            "{err}"
        );
        let err = parse_json(PAGE, r#"{"meta": {"api-version": "2.0"}, "files": []}"#)
            .expect_err("version");
        assert!(err.to_string().contains("version 2.0"), "{err}");
        let err = parse_json(PAGE, r#"{"meta": {}}"#).expect_err("no files");
        assert!(err.to_string().contains("no `files`"), "{err}");
        let err = parse_json(PAGE, r#"{"files": [{"filename": "x.whl"}]}"#).expect_err("no url");
        assert!(err.to_string().contains("`x.whl` with no `url`"), "{err}");
        let err = parse_json(
            PAGE,
            r#"{"files": [{"filename": "x.whl", "url": "x.whl", "hashes": {"sha256": "12"}}]}"#,
        )
        .expect_err("bad hash");
        assert!(err.to_string().contains("not 64 hex"), "{err}");
        let err = parse_json(PAGE, r#"{"files": [{"filename": 3}]}"#).expect_err("type");
        assert!(matches!(err, IndexError::Json { .. }));
        assert!(parse(PAGE, "  \n{\"files\": []}").is_ok_and(|f| f.is_empty()));
    }

    #[test]
    fn url_resolution() {
        let base = split_absolute("https://h.example/a/b/c/?q=1#frag").expect("absolute");
        assert_eq!(resolve(&base, "x.whl"), "https://h.example/a/b/c/x.whl");
        assert_eq!(
            resolve(&base, "../../../../x.whl"),
            "https://h.example/x.whl"
        );
        assert_eq!(
            resolve(&base, "./d/./e/../x.whl"),
            "https://h.example/a/b/c/d/x.whl"
        );
        assert_eq!(
            resolve(&base, "/p/x.whl?v=2#sha256=1"),
            "https://h.example/p/x.whl?v=2"
        );
        assert_eq!(resolve(&base, "//other/x"), "https://other/x");
        assert_eq!(resolve(&base, "HTTP://O/a/../b"), "HTTP://O/b");
        assert_eq!(resolve(&base, "?z"), "https://h.example/a/b/c/?z");
        assert_eq!(resolve(&base, "#only"), "https://h.example/a/b/c/?q=1");
        assert_eq!(resolve(&base, ".."), "https://h.example/a/b/");
        let host_only = split_absolute("http://host").expect("absolute");
        assert_eq!(resolve(&host_only, "x"), "http://host/x");
        assert!(split_absolute("mailto:x").is_none());
        assert!(split_absolute("https:///x").is_none());
        assert!(split_absolute("1http://x").is_none());
    }
}
