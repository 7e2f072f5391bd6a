//! Classify a source URL (local path, `file://`, `http(s)://`) and derive its cache key.

use std::path::{Path, PathBuf};

use crate::error::{GitError, reason};

/// Where the objects of a source come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A repository on this machine (normal or bare), by canonical path.
    Local(PathBuf),
    /// A smart-HTTP(S) remote, by the URL as given.
    Http(String),
}

/// A parsed source: where it is, its cache key, and how to show it in messages.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) location: Location,
    /// The normalised URL; its hash names the mirror directory.
    pub(crate) key: String,
    /// The URL as given, with any password replaced by `***`.
    pub(crate) display: String,
}

impl Source {
    /// Parse `url`; local paths must exist (else `Unreachable`).
    pub(crate) fn parse(url: &str) -> Result<Self, GitError> {
        let display = redact(url);
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let parsed = gix::url::parse(gix::bstr::BStr::new(url)).map_err(|e| {
                GitError::UnsupportedUrl {
                    url: display.clone(),
                    reason: reason(&e),
                }
            })?;
            let key = http_key(&parsed);
            return Ok(Source {
                location: Location::Http(url.to_owned()),
                key,
                display,
            });
        }
        let path = if lower.starts_with("file://") {
            file_url_path(url, &display)?
        } else if let Some(scheme_end) = url.find("://") {
            return Err(GitError::UnsupportedUrl {
                url: display,
                reason: format!("the `{}` scheme is not supported", &url[..scheme_end]),
            });
        } else if url.is_empty() {
            return Err(GitError::UnsupportedUrl {
                url: display,
                reason: "the URL is empty".to_owned(),
            });
        } else if looks_like_scp(url) && !Path::new(url).exists() {
            return Err(GitError::UnsupportedUrl {
                url: display,
                reason: "ssh (`user@host:path`) sources are not supported".to_owned(),
            });
        } else {
            PathBuf::from(url)
        };
        let canonical = std::fs::canonicalize(&path).map_err(|e| GitError::Unreachable {
            url: display.clone(),
            reason: format!("{}: {e}", path.display()),
        })?;
        let key = format!("file://{}", canonical.display());
        Ok(Source {
            location: Location::Local(canonical),
            key,
            display,
        })
    }
}

/// The path of a `file://` URL; only an empty host or `localhost` is accepted.
fn file_url_path(url: &str, display: &str) -> Result<PathBuf, GitError> {
    let rest = &url["file://".len()..];
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
        return Err(GitError::UnsupportedUrl {
            url: display.to_owned(),
            reason: format!("file:// URLs with a host (`{host}`) are not supported"),
        });
    }
    if path.is_empty() {
        return Err(GitError::UnsupportedUrl {
            url: display.to_owned(),
            reason: "the file:// URL has no path".to_owned(),
        });
    }
    Ok(PathBuf::from(percent_decode(path)))
}

/// Decode `%XX` escapes; malformed escapes are kept verbatim.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `user@host:path` or `host:path` with no slash before the colon.
fn looks_like_scp(url: &str) -> bool {
    match url.find(':') {
        Some(colon) => {
            let before = &url[..colon];
            !before.is_empty() && !before.contains('/') && colon + 1 < url.len()
        }
        None => false,
    }
}

/// Lowercase scheme and host, drop the password and default port, trim trailing slashes.
fn http_key(url: &gix::Url) -> String {
    let scheme = url.scheme.as_str().to_ascii_lowercase();
    let mut key = format!("{scheme}://");
    if let Some(user) = url.user() {
        key.push_str(user);
        key.push('@');
    }
    if let Some(host) = url.host() {
        key.push_str(&host.to_ascii_lowercase());
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    if let Some(port) = url.port.filter(|p| *p != default_port) {
        key.push(':');
        key.push_str(&port.to_string());
    }
    let path = String::from_utf8_lossy(&url.path);
    key.push_str(path.trim_end_matches('/'));
    key
}

/// Replace the password of a `scheme://user:password@host` URL by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..authority_start],
            &userinfo[..colon],
            &url[authority_start + at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact("https://me:secret@example.com/r.git"),
            "https://me:***@example.com/r.git"
        );
        assert_eq!(
            redact("https://me@example.com/r.git"),
            "https://me@example.com/r.git"
        );
        assert_eq!(redact("/some/path"), "/some/path");
    }

    #[test]
    fn http_keys_are_normalised() {
        let a = Source::parse("HTTPS://Example.COM:443/org/repo.git/").unwrap();
        let b = Source::parse("https://example.com/org/repo.git").unwrap();
        assert_eq!(a.key, b.key);
        let c = Source::parse("https://u:pw@example.com/org/repo.git").unwrap();
        assert_eq!(c.key, "https://u@example.com/org/repo.git");
        assert!(!c.display.contains("pw"));
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(matches!(
            Source::parse("ssh://git@example.com/r.git"),
            Err(GitError::UnsupportedUrl { .. })
        ));
        assert!(matches!(
            Source::parse("git@example.com:org/r.git"),
            Err(GitError::UnsupportedUrl { .. })
        ));
        assert!(matches!(
            Source::parse("file://otherhost/r.git"),
            Err(GitError::UnsupportedUrl { .. })
        ));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b/%zz"), "/a b/%zz");
    }
}
