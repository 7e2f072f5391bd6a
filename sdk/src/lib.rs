//! Write [Kiln](https://example.invalid/kiln) buildpacks in Rust.
//!
//! A Kiln buildpack is a WebAssembly component (`wasm32-wasip2`) that implements the
//! `kiln:buildpack` WIT world. This crate hides the bindings: implement [`Buildpack`], call
//! [`export_buildpack!`], and build with `cargo build --target wasm32-wasip2`. You never write
//! TOML: layers, processes and environment changes are returned as data and the host writes
//! the Cloud Native Buildpacks files.
//!
//! Errors are [`Error`] kinds that keep their sources; cached layers are typed
//! ([`CachedLayer`]); the imports (log, fetch, extract, exec) sit behind [`host::Host`], so
//! `detect` and `build` also run as native Rust in `cargo test` with
//! [`testing::FakeHost`]. The `kiln-test` crate builds with the real host, in-process.
//!
//! ```no_run
//! use kiln_sdk::{
//!     buildpack_id, layer_name, process_type, BuildContext, BuildResult, Buildpack,
//!     BuildpackInfo, DetectContext, DetectResult, EnvChange, LayerTypes, Process,
//! };
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Buildpack for Hello {
//!     type Error = kiln_sdk::Error;
//!
//!     fn info() -> BuildpackInfo {
//!         BuildpackInfo::new(buildpack_id!("example/hello"), "0.1.0").name("Hello")
//!     }
//!
//!     fn detect(&self, ctx: DetectContext) -> Result<DetectResult, Self::Error> {
//!         Ok(if ctx.app_has("hello.txt") {
//!             DetectResult::pass()
//!         } else {
//!             DetectResult::fail("no hello.txt")
//!         })
//!     }
//!
//!     fn build(&self, ctx: BuildContext) -> Result<BuildResult, Self::Error> {
//!         let mut layer = ctx.create_layer(layer_name!("greeting"), LayerTypes::none().launch())?;
//!         layer.write_executable("bin/hello", "#!/bin/sh\necho hello\n")?;
//!         layer.add_env(EnvChange::set("GREETING", "hello").launch_only());
//!         kiln_sdk::log::info("wrote the greeting layer");
//!         BuildResult::new()
//!             .layer(layer)
//!             .process(Process::new(process_type!("web"), ["hello"]).default(true))
//!             .build()
//!     }
//! }
//!
//! kiln_sdk::export_buildpack!(Hello);
//! ```

extern crate self as kiln_sdk;

pub mod bindings;
mod build;
mod cached;
mod context;
mod detect;
pub mod error;
pub mod exec;
pub mod extract;
pub mod fetch;
#[doc(hidden)]
pub mod glue;
pub mod host;
mod layer;
pub mod log;
mod platform;
mod sbom;
pub mod testing;

pub use build::{BuildResult, Process};
pub use cached::{CachedLayer, FreshCause, InvalidMetadata, Restore, RestoreDecision, TypedLayer};
pub use context::{BuildContext, DetectContext, LayerState, PlanEntry, RestoredLayer};
pub use detect::{DetectResult, Plan};
pub use error::{Error, Report};
pub use kiln_spec::{BuildpackId, LayerName, NameError, ProcessType};
pub use layer::{EnvAction, EnvChange, EnvScope, Layer, LayerTypes};
pub use platform::{Arch, ExecEnv, Os, Target};
pub use sbom::Sbom;

/// Re-exports used by macros; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use kiln_spec::names::{buildpack_id_problem, layer_name_problem, process_type_problem};
    pub use wit_bindgen;
}

/// A buildpack: describe yourself, detect whether you apply, build layers and processes.
pub trait Buildpack: Default {
    /// The buildpack's error type. The user sees its `Display` text, followed by its chain of
    /// [`std::error::Error::source`]s (see [`Report`]).
    type Error: std::error::Error + 'static;

    /// Id, version and other facts the host needs before running the buildpack.
    fn info() -> BuildpackInfo;

    /// Decide whether this buildpack applies to the application.
    fn detect(&self, ctx: DetectContext) -> Result<DetectResult, Self::Error>;

    /// Build: create layers and declare processes.
    fn build(&self, ctx: BuildContext) -> Result<BuildResult, Self::Error>;

    /// Called with an error from `detect` or `build` before it goes to the host. The default
    /// logs it, with its causes, at error level.
    fn on_error(&self, error: &Self::Error) {
        log::error(Report::new(error).to_string());
    }
}

/// Facts about a buildpack, returned from [`Buildpack::info`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct BuildpackInfo {
    pub(crate) id: BuildpackId,
    pub(crate) version: String,
    pub(crate) name: String,
    pub(crate) homepage: String,
    pub(crate) description: String,
    pub(crate) targets: Vec<Target>,
    pub(crate) clear_env: bool,
}

impl BuildpackInfo {
    /// A buildpack with this id and version (`X.Y.Z`).
    pub fn new(id: BuildpackId, version: impl Into<String>) -> Self {
        Self {
            name: id.as_str().to_owned(),
            id,
            version: version.into(),
            homepage: String::new(),
            description: String::new(),
            targets: Vec::new(),
            clear_env: false,
        }
    }

    /// Human-readable name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Homepage URL.
    pub fn homepage(mut self, homepage: impl Into<String>) -> Self {
        self.homepage = homepage.into();
        self
    }

    /// One-line description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Add a supported target (none means linux on any architecture).
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// Do not export the user's platform environment as environment variables.
    pub fn clear_env(mut self, clear: bool) -> Self {
        self.clear_env = clear;
        self
    }
}

/// A [`BuildpackId`] from a literal, checked at compile time.
#[macro_export]
macro_rules! buildpack_id {
    ($value:literal) => {{
        const _: () = assert!(
            $crate::__private::buildpack_id_problem($value).is_none(),
            "invalid buildpack id"
        );
        $crate::BuildpackId::from_checked($value)
    }};
}

/// A [`LayerName`] from a literal, checked at compile time.
#[macro_export]
macro_rules! layer_name {
    ($value:literal) => {{
        const _: () = assert!(
            $crate::__private::layer_name_problem($value).is_none(),
            "invalid layer name"
        );
        $crate::LayerName::from_checked($value)
    }};
}

/// A [`ProcessType`] from a literal, checked at compile time.
#[macro_export]
macro_rules! process_type {
    ($value:literal) => {{
        const _: () = assert!(
            $crate::__private::process_type_problem($value).is_none(),
            "invalid process type"
        );
        $crate::ProcessType::from_checked($value)
    }};
}

/// Export a [`Buildpack`] implementation as the component's `kiln:buildpack` world.
#[macro_export]
macro_rules! export_buildpack {
    ($buildpack:ty) => {
        #[doc(hidden)]
        struct __KilnBuildpackExport;

        impl $crate::bindings::Guest for __KilnBuildpackExport {
            fn describe() -> $crate::bindings::kiln::buildpack::types::BuildpackInfo {
                $crate::glue::describe::<$buildpack>()
            }

            fn detect(
                ctx: $crate::bindings::kiln::buildpack::types::Context,
            ) -> ::core::result::Result<
                $crate::bindings::kiln::buildpack::types::DetectOutcome,
                $crate::bindings::kiln::buildpack::types::Error,
            > {
                $crate::glue::detect::<$buildpack>(ctx)
            }

            fn build(
                ctx: $crate::bindings::kiln::buildpack::types::BuildContext,
            ) -> ::core::result::Result<
                $crate::bindings::kiln::buildpack::types::BuildOutcome,
                $crate::bindings::kiln::buildpack::types::Error,
            > {
                $crate::glue::build::<$buildpack>(ctx)
            }
        }

        $crate::bindings::__export_kiln_buildpack_world!(__KilnBuildpackExport);
    };
}
