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

use std::path::PathBuf;
use std::sync::Arc;

use kiln_oci::OciLayout;
use kiln_spec::Platform;

pub use error::RegistryError;
pub use pull::{PullOptions, Pulled};
pub use push::PushReport;
pub use reference::RegistryRef;

/// Registry settings, decided once by the caller (the CLI from its flags).
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Hosts (`host` or `host:port`) reached over plain HTTP besides `localhost`/`127.0.0.1`.
    pub insecure: Vec<String>,
    /// The platform indexes resolve to.
    pub platform: Platform,
    /// Concurrent blob transfers per image.
    pub concurrency: usize,
    /// The local store's directory.
    pub store: PathBuf,
}

impl RegistrySettings {
    /// Defaults (host platform, 4 transfers at a time, no insecure hosts) with the store at
    /// `store`.
    pub fn new(store: impl Into<PathBuf>) -> Self {
        Self {
            insecure: Vec::new(),
            platform: Platform::host(),
            concurrency: 4,
            store: store.into(),
        }
    }
}

/// Registry access for one caller: its settings and the async runtime (owned by the caller)
/// registry I/O runs on. Cheap to clone; there are no process-wide registry settings.
#[derive(Clone)]
pub struct Registries {
    settings: Arc<RegistrySettings>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Registries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registries")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Registries {
    /// Registry access with `settings`, running I/O on `runtime`.
    pub fn new(settings: RegistrySettings, runtime: tokio::runtime::Handle) -> Self {
        Self {
            settings: Arc::new(settings),
            runtime,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    /// The async runtime registry I/O runs on.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    /// Open the local store (creating it if needed).
    pub fn store(&self) -> Result<OciLayout, RegistryError> {
        store::open(&self.settings.store)
    }

    /// [`pull::pull`] with these settings.
    pub fn pull(
        &self,
        reference: &RegistryRef,
        options: PullOptions,
    ) -> Result<Option<Pulled>, RegistryError> {
        pull::pull(self, reference, options)
    }

    /// [`push::push`] with these settings.
    pub fn push(
        &self,
        layout: &OciLayout,
        tag: &str,
        dest: &RegistryRef,
        extra: &[RegistryRef],
        mount_from: &[RegistryRef],
    ) -> Result<PushReport, RegistryError> {
        push::push(self, layout, tag, dest, extra, mount_from)
    }
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
    fn bytes_are_human_readable() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1500), "1.5 kB");
        assert_eq!(human_bytes(104_857_600), "104.9 MB");
    }
}
