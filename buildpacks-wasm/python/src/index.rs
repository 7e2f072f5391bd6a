//! PyPI "simple" project pages (PEP 503 HTML, PEP 691 JSON): which files a project has,
//! where, and their sha256. Everything on a page is untrusted: it only says where to find a
//! file the lock already pins.

use crate::markers::normalize_name;

/// A page that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the index page {url} is not a PEP 503 (HTML) or PEP 691 (JSON) project page: {why}")]
pub struct IndexError {
    /// The page's URL.
    pub url: String,
    /// What is wrong.
    pub why: String,
}

/// One file listed on a project page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// The file name.
    pub filename: String,
    /// Absolute URL (resolved against the page URL, without the fragment).
    pub url: String,
    /// The sha256 the page gives (lowercase hex).
    pub sha256: Option<String>,
    /// `data-requires-python` / `requires-python`.
    pub requires_python: Option<String>,
    /// Whether the file is yanked.
    pub yanked: bool,
}

/// `<index>/<normalised name>/`.
pub fn project_url(index_url: &str, name: &str) -> String {
    format!(
        "{}/{}/",
        index_url.trim_end_matches('/'),
        normalize_name(name)
    )
}

/// Resolve `href` against `base` (absolute, scheme-relative, root-relative or relative).
fn resolve(base: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if let Some(other) = href.strip_prefix("//") {
        return format!("{scheme}://{other}");
    }
    let joined = if href.starts_with('/') {
        href.to_owned()
    } else {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        let dir = &path[..=path.rfind('/').unwrap_or(0)];
        format!("{dir}{href}")
    };
    let (path, query) = match joined.find('?') {
        Some(i) => (&joined[..i], &joined[i..]),
        None => (joined.as_str(), ""),
    };
    let mut parts: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            "" if i != 0 && i != segments.len() - 1 => {}
            s => parts.push(s),
        }
    }
    let mut p = parts.join("/");
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    format!("{scheme}://{authority}{p}{query}")
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let ch = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16)
                .ok()
                .and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        if let Some(c) = ch {
            out.push(c);
            rest = &rest[end + 1..];
        } else {
            out.push('&');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// The attributes of one start tag's inside (`a href="x" data-yanked`).
fn attributes(tag: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = None;
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'');
            let (v, remaining) = if let Some(q) = quote {
                match after[1..].find(q) {
                    Some(e) => (&after[1..=e], &after[e + 2..]),
                    None => (&after[1..], ""),
                }
            } else {
                let e = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..e], &after[e..])
            };
            value = Some(decode_entities(v));
            rest = remaining.trim_start();
        } else if rest.starts_with('/') {
            rest = rest[1..].trim_start();
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

fn sha256_of_fragment(url: &str) -> (String, Option<String>) {
    match url.split_once('#') {
        Some((base, fragment)) => {
            let sha = fragment
                .strip_prefix("sha256=")
                .map(str::to_ascii_lowercase)
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            (base.to_owned(), sha)
        }
        None => (url.to_owned(), None),
    }
}

fn filename_of(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

/// The files of a PEP 503 HTML page.
pub fn parse_html(page_url: &str, html: &str) -> Result<Vec<IndexFile>, IndexError> {
    let mut out = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find("<a") {
        let start = at + i + 2;
        if !lower[start..].starts_with(|c: char| c.is_whitespace() || c == '>') {
            at = start;
            continue;
        }
        let Some(end) = lower[start..].find('>') else {
            return Err(IndexError {
                url: page_url.to_owned(),
                why: "an <a> tag is not closed".into(),
            });
        };
        let attrs = attributes(&html[start..start + end]);
        let text_start = start + end + 1;
        let text_end = lower[text_start..]
            .find("</a")
            .map_or(html.len(), |e| text_start + e);
        let text = decode_entities(html[text_start..text_end].trim());
        at = text_end;
        let get = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let Some(Some(href)) = get("href") else {
            continue;
        };
        let (url, sha256) = sha256_of_fragment(&resolve(page_url, &href));
        let filename = if text.is_empty() || text.contains('/') {
            crate::resolve::percent_decode(&filename_of(&url))
        } else {
            text
        };
        out.push(IndexFile {
            filename,
            url,
            sha256,
            requires_python: get("data-requires-python").flatten(),
            yanked: get("data-yanked").is_some(),
        });
    }
    Ok(out)
}

/// The files of a PEP 691 JSON page.
pub fn parse_json(page_url: &str, json: &str) -> Result<Vec<IndexFile>, IndexError> {
    let bad = |why: String| IndexError {
        url: page_url.to_owned(),
        why,
    };
    let doc: serde_json::Value = serde_json::from_str(json).map_err(|e| bad(e.to_string()))?;
    let files = doc
        .get("files")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad("no `files` array".into()))?;
    let mut out = Vec::new();
    for f in files {
        let (Some(filename), Some(url)) = (
            f.get("filename").and_then(serde_json::Value::as_str),
            f.get("url").and_then(serde_json::Value::as_str),
        ) else {
            return Err(bad("a file has no `filename` or `url`".into()));
        };
        let (url, fragment_sha) = sha256_of_fragment(&resolve(page_url, url));
        let sha256 = f
            .get("hashes")
            .and_then(|h| h.get("sha256"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_ascii_lowercase)
            .or(fragment_sha);
        let yanked = match f.get("yanked") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(_)) => true,
            _ => false,
        };
        out.push(IndexFile {
            filename: filename.to_owned(),
            url,
            sha256,
            requires_python: f
                .get("requires-python")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
            yanked,
        });
    }
    Ok(out)
}

/// JSON when the body starts with `{`, else HTML.
pub fn parse(page_url: &str, body: &str) -> Result<Vec<IndexFile>, IndexError> {
    if body.trim_start().starts_with('{') {
        parse_json(page_url, body)
    } else {
        parse_html(page_url, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "http://127.0.0.1:9/simple/demo/";

    #[test]
    fn project_urls_use_the_normalised_name() {
        assert_eq!(
            project_url("http://h/simple/", "Zope.Interface"),
            "http://h/simple/zope-interface/"
        );
    }

    #[test]
    fn relative_links_resolve_against_the_page() {
        assert_eq!(
            resolve(PAGE, "../../packages/a/x.whl"),
            "http://127.0.0.1:9/packages/a/x.whl"
        );
        assert_eq!(
            resolve(PAGE, "x.whl"),
            "http://127.0.0.1:9/simple/demo/x.whl"
        );
        assert_eq!(resolve(PAGE, "/f/x.whl"), "http://127.0.0.1:9/f/x.whl");
        assert_eq!(
            resolve(PAGE, "//cdn.example/x.whl"),
            "http://cdn.example/x.whl"
        );
        assert_eq!(
            resolve(PAGE, "https://files.example/x.whl"),
            "https://files.example/x.whl"
        );
        assert_eq!(resolve("http://h", "x"), "http://h/x");
    }

    #[test]
    fn html_pages_give_files_hashes_and_flags() {
        let sha = "a".repeat(64);
        let html = format!(
            "<!DOCTYPE html><html><body><h1>demo</h1>\n<a href=\"../../p/demo-1.0-py3-none-any.whl#sha256={sha}\" data-requires-python=\"&gt;=3.8\">demo-1.0-py3-none-any.whl</a><br/>\n<A HREF='demo-0.9.tar.gz' data-yanked>demo-0.9.tar.gz</A><abbr>x</abbr><a name=x>no link</a></body></html>"
        );
        let files = parse(PAGE, &html).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[0].url,
            "http://127.0.0.1:9/p/demo-1.0-py3-none-any.whl"
        );
        assert_eq!(files[0].sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=3.8"));
        assert!(files[1].yanked);
        assert_eq!(files[1].sha256, None);
        assert!(parse(PAGE, "<a href='x'").is_err());
    }

    #[test]
    fn json_pages_give_the_same() {
        let json = r#"{"meta":{"api-version":"1.0"},"name":"demo","files":[{"filename":"demo-1.0-py3-none-any.whl","url":"../../p/demo-1.0-py3-none-any.whl","hashes":{"sha256":"ABCD"},"yanked":"bad"}]}"#;
        let files = parse(PAGE, json).unwrap();
        assert_eq!(files[0].sha256.as_deref(), Some("abcd"));
        assert!(files[0].yanked);
        let err = parse(PAGE, "{\"files\": 3}").unwrap_err().to_string();
        assert!(err.contains(PAGE), "{err}");
    }
}
