//! The buildpack's errors. Each keeps its cause as its `source`, so the user sees the chain.

use kiln_sdk::fetch::FetchError;

use crate::escape::EscapeError;
use crate::gomod::GoModError;
use crate::goproxy::ProxyError;
use crate::gosum::GoSumError;
use crate::inventory::InventoryError;
use crate::targets::TargetError;

/// Why the Go buildpack failed.
#[derive(Debug, thiserror::Error)]
pub enum GoError {
    /// An SDK operation (layers, files, extraction) failed.
    #[error(transparent)]
    Sdk(#[from] kiln_sdk::Error),
    /// `go.mod` went away between detect and build.
    #[error("go.mod disappeared from the app directory")]
    GoModMissing,
    /// `go.mod` is not usable.
    #[error(transparent)]
    GoMod(#[from] GoModError),
    /// `go.mod` requires modules but there is no `go.sum` to pin them.
    #[error(
        "go.mod requires {requires} module(s) but there is no go.sum; run `go mod tidy` and commit go.sum (or vendor the modules with `go mod vendor`)"
    )]
    NoGoSum {
        /// How many requirements.
        requires: usize,
    },
    /// `go.sum` is not usable.
    #[error(transparent)]
    GoSum(#[from] GoSumError),
    /// `KILN_GO_INVENTORY` names a missing file.
    #[error("KILN_GO_INVENTORY names {0}, which is not in the app directory")]
    InventoryMissing(String),
    /// The inventory is unusable or has no fitting release.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The Go toolchain could not be downloaded.
    #[error(
        "could not download Go {version}; set KILN_GO_DIST_URL to a reachable mirror of go.dev/dl"
    )]
    ToolchainDownload {
        /// The release.
        version: String,
        /// The download error.
        #[source]
        source: FetchError,
    },
    /// `GOPROXY` names no usable proxy.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// A module path or version cannot be placed on a proxy.
    #[error(transparent)]
    Escape(#[from] EscapeError),
    /// Module files could not be downloaded; the first failure, and how many more.
    #[error("{first}{}", more_text(.more))]
    ModuleDownloads {
        /// The first failure, naming the module, its URL and what to do.
        first: String,
        /// The other failures.
        more: Vec<String>,
    },
    /// The packages to build are unclear.
    #[error(transparent)]
    Targets(#[from] TargetError),
    /// The toolchain's programs could not be made executable in the build image.
    #[error("could not make the Go toolchain's programs executable in the build image")]
    ToolchainModes {
        /// The SDK error, with the host's explanation.
        #[source]
        source: kiln_sdk::Error,
    },
    /// `go build` exited with an error.
    #[error("go build {package} failed with exit status {code}; the compiler's output is above")]
    BuildFailed {
        /// The package (`./cmd/app`).
        package: String,
        /// Its exit status.
        code: i32,
    },
    /// `go build` could not run (no build image, a time limit, the sandbox).
    #[error("could not run go build {package}")]
    Exec {
        /// The package.
        package: String,
        /// The SDK error, with the host's explanation.
        #[source]
        source: kiln_sdk::Error,
    },
}

fn more_text(more: &[String]) -> String {
    if more.is_empty() {
        String::new()
    } else {
        format!(" ({} more file(s) failed: {})", more.len(), more.join("; "))
    }
}
