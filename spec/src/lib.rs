//! Names and rules that the Kiln host and buildpacks agree on.
//!
//! [`integrity`] parses and formats the digests that pin downloads (`sha256:<hex>`, SRI).
//!
//! Both sides validate with the same functions, so a name the SDK accepts is a name the host
//! accepts. The validators are `const fn`, which lets the SDK check literals at compile time.

pub mod env_file;
pub mod error_chain;
pub mod integrity;
pub mod labels;
pub mod names;
pub mod platform;

pub use error_chain::error_chain;
pub use integrity::{Algorithm, Integrity, IntegrityError};
pub use names::{BuildpackId, LayerName, NameError, ProcessType};
pub use platform::Platform;

/// The CNB Buildpack API version Kiln implements.
pub const BUILDPACK_API: &str = "0.12";

/// The CNB Platform API version Kiln implements.
pub const PLATFORM_API: &str = "0.15";

/// Guest path of the application directory.
pub const APP_DIR: &str = "/workspace";

/// Guest path of the platform directory.
pub const PLATFORM_DIR: &str = "/platform";

/// Guest path of the layers root; each buildpack sees only `<LAYERS_DIR>/<escaped id>`.
pub const LAYERS_DIR: &str = "/layers";

/// Escape a buildpack id for use as a directory name (`/` becomes `_`).
pub fn escape_id(id: &str) -> String {
    id.replace('/', "_")
}
