//! What a caller sets up once and passes down: where the caches are, the registry settings,
//! and the one async runtime that registry and download I/O run on. Nothing here is
//! process-wide; two callers in one process can use different settings.

use std::sync::Arc;

use kiln_fs::CachePaths;
use kiln_registry::{Registries, RegistrySettings};

/// Caches, registries and the async runtime of one caller. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// Where the caches are.
    pub caches: CachePaths,
    /// Registry access (settings and the runtime's handle).
    pub registries: Registries,
    /// The async runtime; kept alive as long as any clone.
    runtime: Arc<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("caches", &self.caches)
            .field("registries", &self.registries)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Services with `caches` and `registry` settings, on a new async runtime.
    pub fn new(caches: CachePaths, registry: RegistrySettings) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("kiln-io")
            .enable_all()
            .build()?;
        let registries = Registries::new(registry, runtime.handle().clone());
        Ok(Self {
            caches,
            registries,
            runtime: Arc::new(runtime),
        })
    }

    /// Services with the caches of `KILN_CACHE_DIR` (or the user cache dir) and default
    /// registry settings.
    pub fn from_env() -> std::io::Result<Self> {
        let caches = CachePaths::from_env();
        let registry = RegistrySettings::new(caches.registry_store());
        Self::new(caches, registry)
    }

    /// The async runtime's handle.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }
}
