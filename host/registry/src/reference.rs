//! Docker-style image references (`localhost:5000/app:tag`, `busybox`, `name@sha256:…`).

use oci_client::Reference;

use super::RegistryError;

/// An optional prefix that makes a registry reference explicit: `docker://REF`.
pub const DOCKER_PREFIX: &str = "docker://";

/// A parsed registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    inner: Reference,
}

impl RegistryRef {
    /// Parse a docker/pack-style reference; `docker://` may prefix it. A reference without a
    /// registry means Docker Hub, without a tag `:latest`.
    pub fn parse(input: &str) -> Result<Self, RegistryError> {
        let bare = input.strip_prefix(DOCKER_PREFIX).unwrap_or(input);
        let inner = Reference::try_from(bare).map_err(|e| RegistryError::InvalidReference {
            input: input.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self { inner })
    }

    /// The same repository with another tag.
    pub fn with_tag(&self, tag: &str) -> Result<Self, RegistryError> {
        Self::parse(&format!(
            "{}/{}:{tag}",
            self.inner.registry(),
            self.inner.repository()
        ))
    }

    /// The same repository at a digest.
    #[must_use]
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            inner: Reference::with_digest(
                self.inner.registry().to_owned(),
                self.inner.repository().to_owned(),
                digest.to_owned(),
            ),
        }
    }

    /// The registry host as written (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The host requests go to (`index.docker.io` for Docker Hub).
    pub fn resolve_registry(&self) -> &str {
        self.inner.resolve_registry()
    }

    /// The repository path, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The fully qualified reference, e.g. `docker.io/library/busybox:latest`.
    pub fn whole(&self) -> String {
        self.inner.whole()
    }

    /// The oci-client reference.
    pub fn oci(&self) -> &Reference {
        &self.inner
    }

    /// Whether requests to this registry use plain HTTP: `localhost`, loopback addresses and
    /// hosts given with `--insecure-registry` (with or without the port).
    pub fn is_insecure(&self, insecure: &[String]) -> bool {
        let host_port = self.resolve_registry();
        let host = host_without_port(host_port);
        matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
            || host.ends_with(".localhost")
            || insecure.iter().any(|h| h == host_port || h == host)
    }
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.whole())
    }
}

fn host_without_port(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end]);
    }
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_docker_hub_and_tags() {
        let r = RegistryRef::parse("busybox").unwrap();
        assert_eq!(r.whole(), "docker.io/library/busybox:latest");
        assert_eq!(r.resolve_registry(), "index.docker.io");
        let r = RegistryRef::parse("docker://localhost:5000/team/app:v1").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(
            r.with_tag("v2").unwrap().whole(),
            "localhost:5000/team/app:v2"
        );
    }

    #[test]
    fn digests_and_bad_input() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = RegistryRef::parse(&format!("127.0.0.1:5000/app@{d}")).unwrap();
        assert_eq!(r.digest(), Some(d.as_str()));
        let err = RegistryRef::parse("Bad/UPPER:tag").unwrap_err().to_string();
        assert!(err.contains("Bad/UPPER:tag"), "{err}");
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_hosts() {
        let insecure = vec!["reg.internal".to_owned()];
        let r = |s| RegistryRef::parse(s).unwrap();
        assert!(r("localhost:5000/a").is_insecure(&[]));
        assert!(r("127.0.0.1:5000/a").is_insecure(&[]));
        assert!(r("reg.internal:8080/a").is_insecure(&insecure));
        assert!(!r("reg.internal:8080/a").is_insecure(&[]));
        assert!(!r("ghcr.io/a/b").is_insecure(&insecure));
    }
}
