//! The buildpack's errors. Each keeps its cause as its `source`, so the user sees the chain.

use kiln_sdk::fetch::FetchError;

use crate::inventory::InventoryError;
use crate::lockfile::LockfileError;
use crate::package_json::PackageJsonError;

/// Why the Node.js buildpack failed.
#[derive(Debug, thiserror::Error)]
pub enum NodejsError {
    /// An SDK operation (layers, files, extraction) failed.
    #[error(transparent)]
    Sdk(#[from] kiln_sdk::Error),
    /// `package.json` went away between detect and build.
    #[error("package.json disappeared from the app directory")]
    PackageJsonMissing,
    /// `package.json` is not valid.
    #[error(transparent)]
    PackageJson(#[from] PackageJsonError),
    /// `KILN_NODEJS_INVENTORY` names a missing file.
    #[error("KILN_NODEJS_INVENTORY names {0}, which is not in the app directory")]
    InventoryMissing(String),
    /// The inventory is unusable or has no fitting release.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The Node.js runtime could not be downloaded.
    #[error(
        "could not download Node.js {version}; set KILN_NODEJS_DIST_URL to a reachable mirror of nodejs.org/dist"
    )]
    RuntimeDownload {
        /// The release.
        version: String,
        /// The download error.
        #[source]
        source: FetchError,
    },
    /// Dependencies without a lockfile.
    #[error(
        "package.json declares dependencies but there is no package-lock.json; run `npm install --package-lock-only` and commit package-lock.json"
    )]
    NoLockfile,
    /// The lockfile is unusable.
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    /// Packages could not be downloaded; the first failure, and how many more.
    #[error("{first}{}", more_text(.more))]
    PackageDownloads {
        /// The first failure, naming the package and what to do.
        first: String,
        /// The other failures.
        more: Vec<String>,
    },
    /// A package tarball could not be unpacked.
    #[error("package {package}: could not unpack {url}")]
    Unpack {
        /// `name@version (path)`.
        package: String,
        /// Its URL.
        url: String,
        /// The extraction error.
        #[source]
        source: kiln_sdk::Error,
    },
    /// Packages need install scripts, which are not run.
    #[error(
        "{count} package(s) need install scripts, which Kiln does not run yet: {list}; use a version or an alternative with prebuilt binaries or pure JavaScript, or remove the package from KILN_NODEJS_SCRIPTS_REQUIRED (and unset KILN_NODEJS_STRICT_SCRIPTS) to install it without its script"
    )]
    ScriptsRequired {
        /// How many.
        count: usize,
        /// `name@version, …`.
        list: String,
    },
}

fn more_text(more: &[String]) -> String {
    if more.is_empty() {
        String::new()
    } else {
        format!(
            " ({} more package(s) failed: {})",
            more.len(),
            more.join("; ")
        )
    }
}
