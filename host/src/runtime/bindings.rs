//! Host bindings generated from `wit/buildpack.wit`.

#![allow(missing_docs, clippy::pedantic)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "buildpack",
});

pub use kiln::buildpack::log::Level;
pub use kiln::buildpack::types;
