//! What the user allows downloads to do: `--offline`, `--allow-unpinned`, `--network-allow`.

/// The download policy of one build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Serve only from the download cache; a miss is an error naming the URL.
    pub offline: bool,
    /// Allow downloads without an expected digest (the image is labelled not reproducible).
    pub allow_unpinned: bool,
    /// When non-empty, only these hosts (`host` or `host:port`, case-insensitive) may be used.
    pub network_allow: Vec<String>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The URL is not an http(s) URL with a host.
    #[error("{url:?} is not an http:// or https:// URL with a host")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// No digest and `--allow-unpinned` not given.
    #[error(
        "{url} has no expected digest; pin it (sha256/sha512/SRI integrity) or pass --allow-unpinned (the image is then labelled not reproducible)"
    )]
    Unpinned {
        /// The URL.
        url: String,
    },
    /// The host is not in the allowlist.
    #[error(
        "{url}: host {host} is not allowed by --network-allow ({allowed}); add --network-allow {host}"
    )]
    HostNotAllowed {
        /// The URL.
        url: String,
        /// Its host (with port if given).
        host: String,
        /// The allowlist, comma-separated.
        allowed: String,
    },
}

/// The scheme-less authority of an http(s) URL: (`host`, `host:port` if a port is given).
pub fn url_host(url: &str) -> Option<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return None;
    }
    let lower = authority.to_ascii_lowercase();
    let host = if lower.starts_with('[') {
        lower
            .split_once(']')
            .map_or(lower.clone(), |(h, _)| format!("{h}]"))
    } else {
        lower.split(':').next().unwrap_or(&lower).to_owned()
    };
    if host.is_empty() {
        return None;
    }
    Some((host, lower))
}

impl Policy {
    /// Whether the allowlist (if any) names `host` or `authority` (`host:port`).
    pub fn host_allowed(&self, host: &str, authority: &str) -> bool {
        self.network_allow.is_empty()
            || self.network_allow.iter().any(|a| {
                let a = a.to_ascii_lowercase();
                a == host || a == authority
            })
    }

    /// Check a request before any cache or network access.
    pub fn check(&self, url: &str, pinned: bool) -> Result<(), Refusal> {
        let (host, authority) = url_host(url).ok_or_else(|| Refusal::BadUrl { url: url.into() })?;
        if !pinned && !self.allow_unpinned {
            return Err(Refusal::Unpinned { url: url.into() });
        }
        if !self.host_allowed(&host, &authority) {
            return Err(Refusal::HostNotAllowed {
                url: url.into(),
                host,
                allowed: self.network_allow.join(", "),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_parsed() {
        assert_eq!(
            url_host("http://user@Example.COM:8080/a?b"),
            Some(("example.com".into(), "example.com:8080".into()))
        );
        assert_eq!(
            url_host("https://[::1]:9/x"),
            Some(("[::1]".into(), "[::1]:9".into()))
        );
        assert_eq!(url_host("ftp://x/y"), None);
        assert_eq!(url_host("http:///y"), None);
    }

    #[test]
    fn unpinned_needs_the_flag() {
        let p = Policy::default();
        assert!(matches!(
            p.check("http://h/x", false),
            Err(Refusal::Unpinned { .. })
        ));
        assert!(p.check("http://h/x", true).is_ok());
        let p = Policy {
            allow_unpinned: true,
            ..Policy::default()
        };
        assert!(p.check("http://h/x", false).is_ok());
    }

    #[test]
    fn allowlist_matches_host_or_authority() {
        let p = Policy {
            network_allow: vec!["127.0.0.1".into(), "mirror.example:8443".into()],
            ..Policy::default()
        };
        assert!(p.check("http://127.0.0.1:4000/a", true).is_ok());
        assert!(p.check("https://mirror.example:8443/a", true).is_ok());
        let err = p.check("https://mirror.example/a", true).unwrap_err();
        assert!(err.to_string().contains("--network-allow mirror.example"));
        assert!(matches!(
            p.check("ftp://127.0.0.1/", true),
            Err(Refusal::BadUrl { .. })
        ));
    }
}
