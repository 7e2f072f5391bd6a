//! Host bindings generated from `wit/buildpack.wit`.

#![allow(missing_docs, clippy::pedantic)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "buildpack",
});

pub use self::kiln::buildpack::log::Level;
pub use self::kiln::buildpack::types;
