//! A valid WebAssembly component that does not implement the `kiln:buildpack` world: it
//! exports a single `hello` function. Kiln must refuse it with a clear error.

mod bindings {
    #![allow(missing_docs, clippy::pedantic, unsafe_op_in_unsafe_fn)]

    wit_bindgen::generate!({
        inline: "
            package kiln-test:other;

            world other {
                export hello: func() -> string;
            }
        ",
        world: "other",
    });
}

/// The component's implementation of the `other` world.
pub struct NotBuildpack;

impl bindings::Guest for NotBuildpack {
    fn hello() -> String {
        "hello, I am not a buildpack".to_owned()
    }
}

bindings::export!(NotBuildpack with_types_in bindings);
