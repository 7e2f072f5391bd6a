//! Cached layers with typed metadata: a definition binds a layer to its metadata type and
//! says what to do with what the previous build left (keep it, discard it, migrate metadata
//! an older buildpack wrote). Every decision carries a cause, which the SDK logs.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{BuildContext, keepable};
use crate::layer::{Layer, LayerTypes};
use crate::{Error, LayerName};

/// What to do with restored metadata that does not parse as `M`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidMetadata<M> {
    /// Discard the restored layer and start empty.
    Replace,
    /// Use this metadata instead (converted from the old form); the restored-layer decision
    /// then runs on it.
    Migrate(M),
}

/// Keep or discard a restored layer, and why (logged as `cache kept: …`/`cache discarded: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct RestoreDecision {
    keep: bool,
    cause: String,
}

impl RestoreDecision {
    /// Keep the restored contents.
    pub fn keep(cause: impl Into<String>) -> Self {
        Self {
            keep: true,
            cause: cause.into(),
        }
    }

    /// Delete the restored contents and start empty.
    pub fn discard(cause: impl Into<String>) -> Self {
        Self {
            keep: false,
            cause: cause.into(),
        }
    }
}

type InvalidFn<'a, M> = dyn Fn(&serde_json::Value, &serde_json::Error) -> InvalidMetadata<M> + 'a;
type RestoredFn<'a, M> = dyn Fn(&M, &Path) -> RestoreDecision + 'a;

/// A cached layer: its name, types and metadata type `M`, and the two decisions about what
/// a previous build left.
pub struct CachedLayer<'a, M> {
    name: LayerName,
    types: LayerTypes,
    on_invalid: Box<InvalidFn<'a, M>>,
    on_restored: Box<RestoredFn<'a, M>>,
}

impl<'a, M> CachedLayer<'a, M> {
    /// A definition whose restored layer (its metadata and directory) is judged by
    /// `on_restored`. Restored metadata that does not parse is replaced unless
    /// [`CachedLayer::on_invalid_metadata`] says otherwise.
    pub fn new(
        name: LayerName,
        types: LayerTypes,
        on_restored: impl Fn(&M, &Path) -> RestoreDecision + 'a,
    ) -> Self {
        Self {
            name,
            types,
            on_invalid: Box::new(|_, _| InvalidMetadata::Replace),
            on_restored: Box::new(on_restored),
        }
    }

    /// Decide what to do with restored metadata that does not parse as `M` (it gets the raw
    /// JSON and the parse error).
    #[must_use]
    pub fn on_invalid_metadata(
        mut self,
        f: impl Fn(&serde_json::Value, &serde_json::Error) -> InvalidMetadata<M> + 'a,
    ) -> Self {
        self.on_invalid = Box::new(f);
        self
    }

    /// The layer's name.
    pub fn name(&self) -> &LayerName {
        &self.name
    }
}

impl<M> fmt::Debug for CachedLayer<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedLayer")
            .field("name", &self.name)
            .field("types", &self.types)
            .finish_non_exhaustive()
    }
}

/// Why a cached layer starts empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreshCause {
    /// No earlier build left this layer.
    NothingRestored,
    /// Only metadata was restored and the layer's types need its contents.
    NoContents,
    /// The restored-layer decision discarded it, for this reason.
    Discarded(String),
    /// Its metadata did not parse and was replaced; the parse error.
    InvalidMetadata(String),
}

impl fmt::Display for FreshCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NothingRestored => f.write_str("nothing cached"),
            Self::NoContents => f.write_str("cache discarded: only metadata was restored"),
            Self::Discarded(cause) => write!(f, "cache discarded: {cause}"),
            Self::InvalidMetadata(err) => {
                write!(f, "cache discarded: restored metadata is invalid ({err})")
            }
        }
    }
}

/// What [`BuildContext::cached`] did with the restored layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restore<M> {
    /// The restored contents were kept; `metadata` is what they were built from (migrated,
    /// if it was).
    Kept {
        /// The restored (or migrated) metadata.
        metadata: M,
        /// The decision's cause.
        cause: String,
    },
    /// The layer is empty.
    Fresh(FreshCause),
}

impl<M> Restore<M> {
    /// True when restored contents were kept.
    pub fn is_kept(&self) -> bool {
        matches!(self, Self::Kept { .. })
    }
}

/// A layer whose metadata has the type `M`. Dereferences to [`Layer`].
#[derive(Debug, Clone, PartialEq)]
pub struct TypedLayer<M> {
    layer: Layer,
    metadata: PhantomData<fn() -> M>,
}

impl<M: Serialize> TypedLayer<M> {
    fn new(layer: Layer) -> Self {
        Self {
            layer,
            metadata: PhantomData,
        }
    }

    /// Store the metadata for the next build to compare.
    pub fn set_metadata(&mut self, metadata: &M) -> Result<(), Error> {
        self.layer.set_metadata(metadata)
    }

    /// The untyped layer.
    pub fn into_layer(self) -> Layer {
        self.layer
    }
}

impl<M> Deref for TypedLayer<M> {
    type Target = Layer;

    fn deref(&self) -> &Layer {
        &self.layer
    }
}

impl<M> DerefMut for TypedLayer<M> {
    fn deref_mut(&mut self) -> &mut Layer {
        &mut self.layer
    }
}

impl<M> From<TypedLayer<M>> for Layer {
    fn from(layer: TypedLayer<M>) -> Self {
        layer.layer
    }
}

impl BuildContext {
    /// Open the cached layer `definition`: keep what the previous build left when the
    /// definition's decisions say so, else start empty. Logs the cause either way.
    pub fn cached<M>(
        &self,
        definition: &CachedLayer<'_, M>,
    ) -> Result<(TypedLayer<M>, Restore<M>), Error>
    where
        M: Serialize + DeserializeOwned,
    {
        let name = &definition.name;
        let (layer, restore) = self.decide(definition)?;
        match &restore {
            Restore::Kept { cause, .. } => crate::log::info(format!("{name}: cache kept: {cause}")),
            Restore::Fresh(FreshCause::NothingRestored) => {
                crate::log::debug(format!("{name}: nothing cached"));
            }
            Restore::Fresh(cause) => crate::log::info(format!("{name}: {cause}")),
        }
        Ok((TypedLayer::new(layer), restore))
    }

    fn decide<M>(&self, d: &CachedLayer<'_, M>) -> Result<(Layer, Restore<M>), Error>
    where
        M: Serialize + DeserializeOwned,
    {
        let fresh = |cause| {
            Ok((
                self.create_layer(d.name.clone(), d.types)?,
                Restore::Fresh(cause),
            ))
        };
        let Some(restored) = self.restored.get(d.name.as_str()) else {
            return fresh(FreshCause::NothingRestored);
        };
        if !keepable(restored, d.types) {
            return fresh(FreshCause::NoContents);
        }
        let (metadata, migrated) = match serde_json::from_value::<M>(restored.metadata.clone()) {
            Ok(m) => (m, false),
            Err(e) => match (d.on_invalid)(&restored.metadata, &e) {
                InvalidMetadata::Migrate(m) => (m, true),
                InvalidMetadata::Replace => {
                    return fresh(FreshCause::InvalidMetadata(e.to_string()));
                }
            },
        };
        let path = self.layers_dir.join(d.name.as_str());
        let decision = (d.on_restored)(&metadata, &path);
        if !decision.keep {
            return fresh(FreshCause::Discarded(decision.cause));
        }
        let mut layer = Layer::keep(
            &self.layers_dir,
            d.name.clone(),
            d.types,
            restored.metadata.clone(),
        );
        if migrated {
            layer.set_metadata(&metadata)?;
        }
        Ok((
            layer,
            Restore::Kept {
                metadata,
                cause: decision.cause,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::testing::FakeHost;
    use crate::{DetectContext, RestoredLayer, buildpack_id, layer_name};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Meta {
        lockfile: String,
    }

    fn context(dir: &Path, restored: Option<serde_json::Value>) -> BuildContext {
        let app = dir.join("app");
        std::fs::create_dir_all(&app).unwrap();
        let ctx = BuildContext::new(
            DetectContext::new(buildpack_id!("test/cached"), app),
            dir.join("layers"),
        );
        let Some(metadata) = restored else {
            return ctx;
        };
        let layer = dir.join("layers/deps");
        std::fs::create_dir_all(&layer).unwrap();
        std::fs::write(layer.join("kept.txt"), "old").unwrap();
        ctx.with_restored(
            &layer_name!("deps"),
            RestoredLayer {
                metadata,
                has_contents: true,
            },
        )
    }

    fn definition(want: &str) -> CachedLayer<'_, Meta> {
        CachedLayer::new(
            layer_name!("deps"),
            LayerTypes::none().cache(),
            move |old: &Meta, path| {
                assert!(path.ends_with("layers/deps"));
                if old.lockfile == want {
                    RestoreDecision::keep("lockfile unchanged")
                } else {
                    RestoreDecision::discard("lockfile changed")
                }
            },
        )
    }

    #[test]
    fn nothing_restored_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), None);
        let host = FakeHost::new(dir.path().join("downloads"));
        let (layer, restore) = host.run(|| ctx.cached(&definition("a"))).unwrap();
        assert_eq!(restore, Restore::Fresh(FreshCause::NothingRestored));
        assert!(layer.path().is_dir());
        assert!(host.logged("deps: nothing cached"));
    }

    #[test]
    fn the_decision_keeps_or_discards_and_its_cause_is_logged() {
        let dir = tempfile::tempdir().unwrap();
        let old = serde_json::json!({"lockfile": "a"});
        let ctx = context(dir.path(), Some(old.clone()));
        let host = FakeHost::new(dir.path().join("downloads"));
        let (layer, restore) = host.run(|| ctx.cached(&definition("a"))).unwrap();
        assert_eq!(
            restore,
            Restore::Kept {
                metadata: Meta {
                    lockfile: "a".into()
                },
                cause: "lockfile unchanged".into()
            }
        );
        assert!(layer.path().join("kept.txt").is_file());
        assert_eq!(layer.metadata(), &old);
        assert!(host.logged("deps: cache kept: lockfile unchanged"));

        let (layer, restore) = host.run(|| ctx.cached(&definition("b"))).unwrap();
        assert_eq!(
            restore,
            Restore::Fresh(FreshCause::Discarded("lockfile changed".into()))
        );
        assert!(!layer.path().join("kept.txt").exists());
        assert!(host.logged("deps: cache discarded: lockfile changed"));
    }

    #[test]
    fn invalid_metadata_is_replaced_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), Some(serde_json::json!({"lock": "a"})));
        let host = FakeHost::new(dir.path().join("downloads"));
        let (layer, restore) = host.run(|| ctx.cached(&definition("a"))).unwrap();
        assert!(matches!(
            restore,
            Restore::Fresh(FreshCause::InvalidMetadata(_))
        ));
        assert!(!layer.path().join("kept.txt").exists());
        assert!(host.logged("deps: cache discarded: restored metadata is invalid"));
    }

    #[test]
    fn invalid_metadata_can_be_migrated_and_is_stored_in_the_new_form() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), Some(serde_json::json!({"lock": "a"})));
        let host = FakeHost::new(dir.path().join("downloads"));
        let definition = definition("a").on_invalid_metadata(|raw, _| {
            match raw.get("lock").and_then(serde_json::Value::as_str) {
                Some(old) => InvalidMetadata::Migrate(Meta {
                    lockfile: old.to_owned(),
                }),
                None => InvalidMetadata::Replace,
            }
        });
        let (layer, restore) = host.run(|| ctx.cached(&definition)).unwrap();
        assert!(restore.is_kept());
        assert!(layer.path().join("kept.txt").is_file());
        assert_eq!(layer.metadata(), &serde_json::json!({"lockfile": "a"}));
    }

    #[test]
    fn metadata_without_contents_is_not_kept_for_cached_layers() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), None).with_restored(
            &layer_name!("deps"),
            RestoredLayer {
                metadata: serde_json::json!({"lockfile": "a"}),
                has_contents: false,
            },
        );
        let host = FakeHost::new(dir.path().join("downloads"));
        let (mut layer, restore) = host.run(|| ctx.cached(&definition("a"))).unwrap();
        assert_eq!(restore, Restore::Fresh(FreshCause::NoContents));
        layer
            .set_metadata(&Meta {
                lockfile: "b".into(),
            })
            .unwrap();
        let untyped: Layer = layer.into();
        assert_eq!(untyped.metadata(), &serde_json::json!({"lockfile": "b"}));
    }
}
