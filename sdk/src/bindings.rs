//! Guest bindings generated from `wit/buildpack.wit`. Authors never use this module directly.

#![allow(missing_docs, clippy::pedantic, unsafe_op_in_unsafe_fn)]

wit_bindgen::generate!({
    path: "wit",
    world: "buildpack",
    pub_export_macro: true,
    export_macro_name: "__export_kiln_buildpack_world",
    default_bindings_module: "::kiln_sdk::bindings",
    runtime_path: "::kiln_sdk::__private::wit_bindgen::rt",
});
