//! Kiln: build OCI images from source with WebAssembly Cloud Native Buildpacks.
//!
//! See `ARCHITECTURE.md` for the map of modules and the data flow from app dir to image.

pub mod buildpack_artifact;
pub mod cache_gc;
pub mod cache_image;
pub mod cli;
pub mod download_report;
pub mod embedded;
pub mod error;
pub mod fleet;
pub mod image_ref;
pub mod layout_gc;
pub mod pipeline;
pub mod project;
pub mod rebase_image;
pub mod services;
pub mod transport;
