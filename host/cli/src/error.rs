//! Kiln's top-level error and the exit codes the CLI maps it to (grouped by phase, as the CNB
//! lifecycle does).

use crate::transport::OpenError;
use kiln_lifecycle::build::BuildError;
use kiln_lifecycle::buildpack::BuildpackError;
use kiln_lifecycle::detect::DetectError;
use kiln_lifecycle::export::{ExportError, RunImageError};
use kiln_lifecycle::workspace::WorkspaceError;
use kiln_oci::ImageError;
use kiln_registry::RegistryError;

/// Exit codes. See the README for the table.
pub mod exit {
    /// Unexpected failure.
    pub const GENERIC: u8 = 1;
    /// Invalid arguments or input (missing app dir, bad env file, bad image reference).
    pub const INVALID_INPUT: u8 = 3;
    /// A buildpack could not be loaded (not a component, wrong world, bad description).
    pub const BUILDPACK_INVALID: u8 = 12;
    /// No group passed detection.
    pub const DETECT_NO_MATCH: u8 = 20;
    /// Detection failed with buildpack errors.
    pub const DETECT_ERROR: u8 = 21;
    /// The run image (or previous image) could not be read.
    pub const ANALYZE_ERROR: u8 = 32;
    /// A buildpack's build failed (error, crash, limit, sandbox violation, invalid records).
    pub const BUILD_BUILDPACK_FAILED: u8 = 51;
    /// The build phase failed on the host side.
    pub const BUILD_LIFECYCLE_ERROR: u8 = 52;
    /// Export failed.
    pub const EXPORT_ERROR: u8 = 62;
    /// A registry refused a push or could not be reached (push, package).
    pub const REGISTRY_ERROR: u8 = 63;
    /// Rebase refused or failed.
    pub const REBASE_ERROR: u8 = 72;
    /// Another build holds the output or the layer cache (`--no-wait`).
    pub const BUSY: u8 = 5;
}

/// Anything that stops a Kiln command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid user input.
    #[error("{0}")]
    InvalidInput(String),
    /// Some images of a fleet reconcile failed (each is reported and recorded).
    #[error("{0}")]
    Fleet(String),
    /// Preparing the working directories failed.
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    /// A buildpack could not be resolved or loaded.
    #[error(transparent)]
    Buildpack(#[from] BuildpackError),
    /// The run image could not be used.
    #[error(transparent)]
    RunImage(#[from] RunImageError),
    /// The run image could not be opened.
    #[error("run image{}", describe_open(.0, "; check the path and tag, or rebuild it (e.g. with make-busybox-base.sh)"))]
    OpenRunImage(OpenError),
    /// The project descriptor is unreadable or invalid.
    #[error(transparent)]
    Project(#[from] kiln_project::ProjectError),
    /// The build image could not be opened.
    #[error("build image{}", describe_open(.0, "; check the path and tag"))]
    OpenBuildImage(OpenError),
    /// The build image cannot be used.
    #[error(transparent)]
    BuildImage(#[from] crate::pipeline::build_image::BuildImageError),
    /// An image could not be opened (inspect, sbom).
    #[error(transparent)]
    Open(OpenError),
    /// The previous image could not be read.
    #[error("previous image{}", describe_open(.0, ""))]
    OpenPreviousImage(OpenError),
    /// Detection failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// Build failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Export failed.
    #[error("export failed: {0}")]
    Export(#[from] ExportError),
    /// Rebase refused or failed.
    #[error(transparent)]
    Rebase(#[from] crate::rebase_image::RebaseImageError),
    /// An image reference does not parse.
    #[error("{what}: {source}")]
    Reference {
        /// Which reference (`output image`, `--run-image`, ...).
        what: &'static str,
        /// Cause.
        #[source]
        source: crate::image_ref::ImageRefError,
    },
    /// The SBOM could not be extracted.
    #[error(transparent)]
    Sbom(#[from] kiln_lifecycle::sbom::SbomError),
    /// Writing a new buildpack crate failed.
    #[error(transparent)]
    Scaffold(crate::cli::scaffold::ScaffoldError),
    /// Reading an image failed (inspect).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A registry operation failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The output or the layer cache could not be locked.
    #[error(transparent)]
    Locked(#[from] kiln_fs::dir_lock::LockError),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Workspace(WorkspaceError::Io { .. } | WorkspaceError::NoSpace { .. }) => {
                exit::GENERIC
            }
            Self::Open(OpenError::Registry(_)) => exit::REGISTRY_ERROR,
            Self::InvalidInput(_)
            | Self::Project(_)
            | Self::Open(_)
            | Self::Workspace(_)
            | Self::Image(_)
            | Self::Reference { .. }
            | Self::Sbom(_)
            | Self::Registry(RegistryError::InvalidReference { .. })
            | Self::Buildpack(BuildpackError::Unknown { .. } | BuildpackError::Read { .. }) => {
                exit::INVALID_INPUT
            }
            Self::Buildpack(_) => exit::BUILDPACK_INVALID,
            Self::BuildImage(
                crate::pipeline::build_image::BuildImageError::Platform { .. }
                | crate::pipeline::build_image::BuildImageError::Distro { .. },
            ) => exit::INVALID_INPUT,
            Self::RunImage(_)
            | Self::OpenRunImage(_)
            | Self::OpenPreviousImage(_)
            | Self::OpenBuildImage(_)
            | Self::BuildImage(_) => exit::ANALYZE_ERROR,
            Self::Detect(DetectError::NoMatch(_)) => exit::DETECT_NO_MATCH,
            Self::Detect(DetectError::Errored(_)) => exit::DETECT_ERROR,
            Self::Build(e) if e.is_buildpack_fault() => exit::BUILD_BUILDPACK_FAILED,
            Self::Build(_) => exit::BUILD_LIFECYCLE_ERROR,
            Self::Export(_) => exit::EXPORT_ERROR,
            Self::Rebase(_) => exit::REBASE_ERROR,
            Self::Registry(_) => exit::REGISTRY_ERROR,
            Self::Locked(kiln_fs::dir_lock::LockError::Busy { .. }) => exit::BUSY,
            Self::Locked(_) | Self::Scaffold(_) | Self::Fleet(_) => exit::GENERIC,
        }
    }
}

/// An open error after `run image` / `previous image`: a registry error names the image
/// itself; a layout or archive error gets the reference and `advice`.
fn describe_open(error: &OpenError, advice: &str) -> String {
    match error {
        OpenError::Image { reference, source } => format!(" {reference}: {source}{advice}"),
        OpenError::Registry(e) => format!(": {e}"),
    }
}

/// Result alias for Kiln commands.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use kiln_spec::error_chain as chain;
