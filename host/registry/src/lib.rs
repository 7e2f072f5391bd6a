//! Registries: image references, credentials, and the transfer of images between a registry and
//! Kiln's local content-addressed store.
//!
//! Everything else in Kiln works on OCI image layouts. A registry image is first pulled into the
//! store (`<cache>/registry-store`, one OCI layout whose blobs are shared by every image) and then
//! opened like any layout; an image built for a registry is exported into the store and then
//! pushed from it, blob by blob, with the manifest bytes Kiln computed.

pub mod auth;
pub mod client;
pub mod error;
pub mod pull;
pub mod push;
pub mod reference;
pub mod store;

use std::sync::OnceLock;

pub use error::RegistryError;
pub use pull::{PullOptions, Pulled, pull};
pub use push::{PushReport, push};
pub use reference::{RegistryRef, is_registry_ref};

/// The target platform `os/arch[/variant]` that multi-platform indexes are resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPlatform {
    /// OCI os, e.g. `linux`.
    pub os: String,
    /// OCI architecture, e.g. `amd64`.
    pub arch: String,
    /// Variant, e.g. `v8`, if any.
    pub variant: Option<String>,
}

impl TargetPlatform {
    /// The host's platform (`linux/<arch>`).
    pub fn host() -> Self {
        Self {
            os: "linux".into(),
            arch: kiln_oci::platform_arch().into(),
            variant: None,
        }
    }

    /// Parse `os/arch[/variant]`, e.g. `linux/arm64`.
    pub fn parse(input: &str) -> Result<Self, String> {
        let parts: Vec<&str> = input.split('/').collect();
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Self {
                os: (*os).into(),
                arch: (*arch).into(),
                variant: None,
            }),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => Ok(Self {
                os: (*os).into(),
                arch: (*arch).into(),
                variant: Some((*variant).into()),
            }),
            _ => Err(format!(
                "invalid platform {input:?}; use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64"
            )),
        }
    }
}

impl std::fmt::Display for TargetPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Process-wide registry settings, set once by the CLI from its flags.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Hosts (`host` or `host:port`) reached over plain HTTP besides `localhost`/`127.0.0.1`.
    pub insecure: Vec<String>,
    /// The platform indexes resolve to.
    pub platform: TargetPlatform,
    /// Concurrent blob transfers per image.
    pub concurrency: usize,
    /// The local store's directory.
    pub store: std::path::PathBuf,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        Self {
            insecure: Vec::new(),
            platform: TargetPlatform::host(),
            concurrency: 4,
            store: kiln_fs::CachePaths::from_env().registry_store(),
        }
    }
}

static SETTINGS: OnceLock<RegistrySettings> = OnceLock::new();

/// Set the process-wide settings; only the first call has an effect.
pub fn configure(settings: RegistrySettings) {
    let _ = SETTINGS.set(settings);
}

/// The process-wide settings (defaults when [`configure`] was never called).
pub fn settings() -> &'static RegistrySettings {
    SETTINGS.get_or_init(RegistrySettings::default)
}

/// A reference made local: registry images are pulled into the store and named by their
/// `oci:` reference there; other references are returned as given.
#[derive(Debug, Clone)]
pub struct Localized {
    /// `oci:DIR[:TAG]`, `docker-archive:…` or `scratch`.
    pub local: String,
    /// The registry reference, for registry images.
    pub registry: Option<RegistryRef>,
    /// Blobs and bytes downloaded to make it local.
    pub downloaded: (usize, u64),
    /// The registry was unreachable and the store's copy was used.
    pub offline: bool,
}

/// Make `reference` local (see [`Localized`]). `Ok(None)`: the registry has no such image.
pub fn localize(reference: &str, options: PullOptions) -> Result<Option<Localized>, RegistryError> {
    if !is_registry_ref(reference) {
        return Ok(Some(Localized {
            local: reference.to_owned(),
            registry: None,
            downloaded: (0, 0),
            offline: false,
        }));
    }
    let parsed = RegistryRef::parse(reference)?;
    Ok(pull(&parsed, options)?.map(|p| Localized {
        local: p.layout_reference(),
        downloaded: (p.blobs_downloaded, p.bytes_downloaded),
        offline: p.offline,
        registry: Some(parsed),
    }))
}

/// [`localize`], where a missing image is an error.
pub fn localize_existing(
    reference: &str,
    options: PullOptions,
) -> Result<Localized, RegistryError> {
    localize(reference, options)?.ok_or_else(|| {
        let parsed = RegistryRef::parse(reference);
        RegistryError::NotFound {
            reference: parsed
                .as_ref()
                .map_or_else(|_| reference.to_owned(), RegistryRef::whole),
            registry: parsed.map(|p| p.registry().to_owned()).unwrap_or_default(),
            what: "manifest".into(),
        }
    })
}

/// Human-readable byte count (`12.3 MB`).
pub fn human_bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", f / 1e3)
    } else if n < 1_000_000_000 {
        format!("{:.1} MB", f / 1e6)
    } else {
        format!("{:.2} GB", f / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_parses_two_or_three_parts() {
        assert_eq!(
            TargetPlatform::parse("linux/arm64").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            TargetPlatform::parse("linux/arm64/v8")
                .unwrap()
                .variant
                .as_deref(),
            Some("v8")
        );
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
        ] {
            assert!(TargetPlatform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bytes_are_human_readable() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 kB");
        assert_eq!(human_bytes(104_857_600), "104.9 MB");
    }
}
