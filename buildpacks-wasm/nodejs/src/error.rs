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
    /// Packages need install scripts, which cannot run in this build.
    #[error(
        "{count} package(s) need install scripts, which are not run ({reason}): {list}; run them in a build image with the toolchain they need (`kiln build --build-image REF`), use a version or an alternative with prebuilt binaries or pure JavaScript, or remove the package from KILN_NODEJS_SCRIPTS_REQUIRED (and unset KILN_NODEJS_STRICT_SCRIPTS) to install it without its script"
    )]
    ScriptsRequired {
        /// How many.
        count: usize,
        /// `name@version, …`.
        list: String,
        /// Why scripts do not run.
        reason: String,
    },
    /// A script needs node-gyp, which the runtime lacks.
    #[error(
        "{package} builds a native addon with node-gyp, but the Node.js {version} runtime has no {missing}; use an official Node.js release tarball (it has npm's node-gyp and the headers) in the inventory, or list the package in KILN_NODEJS_SCRIPTS_SKIP"
    )]
    NodeGypMissing {
        /// `name@version`.
        package: String,
        /// The runtime's version.
        version: String,
        /// What is missing.
        missing: String,
    },
    /// An install script failed.
    #[error(
        "the {event} script of {package} ({path}) failed: {command}; fix the package (or the build image's toolchain), list it in KILN_NODEJS_SCRIPTS_SKIP to install it without its scripts, or set KILN_NODEJS_IGNORE_SCRIPTS=true to run none"
    )]
    InstallScript {
        /// `name@version`.
        package: String,
        /// Where it is installed.
        path: String,
        /// The lifecycle event.
        event: String,
        /// The script.
        command: String,
        /// How it failed.
        #[source]
        source: Box<kiln_sdk::Error>,
    },
    /// The app's build script failed.
    #[error(
        "the app's script {event} failed: {command}; fix it, pick another with KILN_NODEJS_BUILD_SCRIPT=NAME, or run none with KILN_NODEJS_BUILD_SCRIPT= (empty)"
    )]
    BuildScript {
        /// The script's name.
        event: String,
        /// The script.
        command: String,
        /// How it failed.
        #[source]
        source: Box<kiln_sdk::Error>,
    },
    /// `KILN_NODEJS_BUILD_SCRIPT` names a script the app does not have.
    #[error(
        "KILN_NODEJS_BUILD_SCRIPT names the script {name:?}, which package.json does not have (its scripts: {available}); name one of them, or set it empty to run none"
    )]
    BuildScriptMissing {
        /// The name.
        name: String,
        /// The app's scripts.
        available: String,
    },
    /// The app has a build script but the build cannot run native commands.
    #[error(
        "package.json scripts.{name} must run in a build image, and this build has none: pass `kiln build --build-image REF` (an image with the tools the script needs, e.g. a Debian image), or build without it with KILN_NODEJS_BUILD_SCRIPT= (empty)"
    )]
    BuildScriptNeedsBuildImage {
        /// The script's name.
        name: String,
        /// The host's refusal.
        #[source]
        source: kiln_sdk::exec::ExecError,
    },
    /// A helper command in the build image failed.
    #[error("could not {what} in the build image")]
    Native {
        /// What it was for.
        what: String,
        /// How it failed.
        #[source]
        source: kiln_sdk::Error,
    },
    /// A link's folder is not in the app.
    #[error(
        "package-lock.json links {path} to the folder {target}, which is not in the app directory; add the workspace folder or regenerate the lockfile"
    )]
    LinkTargetMissing {
        /// The link's path.
        path: String,
        /// The folder.
        target: String,
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
