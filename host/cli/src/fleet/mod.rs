//! `kiln image`: the fleet of image specs (`kiln-fleet`) run with this binary's pipeline.
//! `engine` resolves inputs and builds or rebases; `source` materialises a spec's source;
//! `digests` resolves references to digests once per reconcile.

pub mod digests;
pub mod engine;
pub mod source;

pub use engine::KilnEngine;
