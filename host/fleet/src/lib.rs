//! A fleet of images described declaratively, one spec per image, and kept up to date by a
//! stateless reconcile: every input of a build is recorded in a label of the image it made
//! ([`inputs`]), so the decision to rebuild, rebase or do nothing ([`decision`]) needs only
//! the spec, the freshly resolved inputs and the image at the spec's tag.
//!
//! This crate knows no registry, git or build: [`reconcile::Engine`] is what the caller (the
//! `kiln` CLI) provides to resolve inputs, read the current image, build and rebase.

pub mod decision;
pub mod error;
pub mod history;
pub mod inputs;
pub mod reconcile;
pub mod spec;
pub mod store;

pub use decision::{Action, Current, Decision, Reason, decide};
pub use error::{SpecError, StoreError};
pub use history::{BuildRecord, History, Result as BuildResult};
pub use inputs::{BuildInputs, INPUTS_LABEL, ResolvedBuildpack, ResolvedImage, ResolvedSource};
pub use reconcile::{Engine, EngineError, ImageOutcome, ImageReport, Options, reconcile};
pub use spec::{Builder, HistoryLimits, ImageSpec, Source, SourceKind};
pub use store::SpecStore;

/// `sha256:<hex>` of `text`.
pub(crate) fn sha256_text(text: &str) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    )
}
