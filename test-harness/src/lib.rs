//! Test Kiln buildpacks without Docker.
//!
//! [`TestBuild`] runs the real Kiln host in-process on an app directory: your buildpack is
//! compiled to its WebAssembly component, detected and built in the real sandbox, and the
//! image is exported to an OCI layout in a private directory. The result is typed: the
//! chosen group, the build plan, every layer with its files, env and metadata, the image's
//! processes, the image layout and the log.
//!
//! ```no_run
//! use kiln_test::{BuildpackRef, TestBuild};
//!
//! let out = TestBuild::new("tests/fixtures/hello-app")
//!     .buildpack(BuildpackRef::crate_at(env!("CARGO_MANIFEST_DIR")))
//!     .run();
//! assert_eq!(out.group[0].id, "example/hello");
//! let layer = out.layer("example/hello", "greeting").unwrap();
//! assert!(layer.has_file("bin/hello"));
//!
//! // Rebuild with the layer cache and this image as the previous one.
//! let again = out.rebuild().run();
//! assert!(again.logged("greeting: cache kept"));
//! ```
//!
//! Helpers: [`FixtureServer`] serves fixture downloads on 127.0.0.1 (allow it with
//! [`TestBuild::network_allow`]); [`BuildOutput::run_process`] runs a process of the image
//! with runc or crun when one is usable, and says why it skipped otherwise.

mod build;
mod component;
mod container;
mod error;
pub mod fixtures;
mod host;
mod output;

pub use build::TestBuild;
pub use component::{BuildpackRef, compile_crate};
pub use container::{ProcessOutput, ProcessRun, busybox_run_image};
pub use error::HarnessError;
pub use fixtures::FixtureServer;
pub use output::{
    BuildOutput, DetectOutput, EnvFile, GroupMember, ImageOutput, LayerOutput, LogLine, PlanEntry,
    ProcessInfo, Severity,
};
