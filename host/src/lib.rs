//! Kiln: build OCI images from source with WebAssembly Cloud Native Buildpacks.
//!
//! See `ARCHITECTURE.md` for the map of modules and the data flow from app dir to image.

pub mod image;
pub mod runtime;
pub mod buildpack;
pub mod lifecycle;
pub mod export;
pub mod error;
pub mod pipeline;
pub mod cli;
