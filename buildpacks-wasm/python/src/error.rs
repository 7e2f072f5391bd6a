//! The buildpack's errors. Each keeps its cause as its `source`, so the user sees the chain.

use kiln_sdk::fetch::FetchError;

use crate::inventory::InventoryError;

/// Why the Python buildpack failed.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// An SDK operation (layers, files, extraction) failed.
    #[error(transparent)]
    Sdk(#[from] kiln_sdk::Error),
    /// `KILN_PYTHON_INVENTORY` names a missing file.
    #[error("KILN_PYTHON_INVENTORY names {0}, which is not in the app directory")]
    InventoryMissing(String),
    /// The inventory is unusable or has no fitting release.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The runtime could not be downloaded.
    #[error(
        "could not download CPython {version}; set KILN_PYTHON_DIST_URL to a reachable mirror of the python-build-standalone releases"
    )]
    RuntimeDownload {
        /// The release.
        version: String,
        /// The download error.
        #[source]
        source: FetchError,
    },
    /// The runtime tarball is not a relocatable CPython.
    #[error(
        "CPython {version} from {url} has no {missing} under its top directory; the inventory must name a relocatable install_only build"
    )]
    RuntimeLayout {
        /// The release.
        version: String,
        /// Its URL.
        url: String,
        /// What is missing.
        missing: String,
    },
    /// `pyproject.toml` is not valid TOML.
    #[error("pyproject.toml is not valid TOML")]
    Pyproject(#[source] toml::de::Error),
    /// The lock is unusable.
    #[error(transparent)]
    Lock(#[from] crate::locks::LockError),
    /// Dependencies are declared but nothing pins them.
    #[error(
        "{file} declares dependencies but the app has no lock (uv.lock, poetry.lock, Pipfile.lock, or requirements.txt with --hash pins); run `uv lock`, `poetry lock`, or `uv pip compile --generate-hashes -o requirements.txt {file}` and commit the result"
    )]
    NoLock {
        /// The file that declares them.
        file: String,
    },
    /// A package has no file for the target.
    #[error("{0}")]
    Resolve(String),
    /// Package files could not be downloaded; the first failure and how many more.
    #[error("{first}{}", more_text(.more))]
    Downloads {
        /// The first failure, naming the package and what to do.
        first: String,
        /// The other failures.
        more: Vec<String>,
    },
    /// Packages need building but the build has no build image.
    #[error(
        "package(s) {packages} have only a source distribution for this target; building them needs a build image with a C compiler (kiln build --build-image REF), or pin versions with wheels"
    )]
    SdistNeedsBuildImage {
        /// `name version`, comma-separated.
        packages: String,
        /// The host's refusal.
        #[source]
        source: kiln_sdk::exec::ExecError,
    },
    /// A source distribution could not be built.
    #[error("source distribution of {package}: {why}")]
    Sdist {
        /// `name version`.
        package: String,
        /// What went wrong.
        why: String,
    },
    /// The PEP 517 build of a source distribution failed.
    #[error(
        "building a wheel from the source distribution of {package} failed (its output is above)"
    )]
    SdistBuild {
        /// `name version`.
        package: String,
        /// The command's failure.
        #[source]
        source: kiln_sdk::Error,
    },
    /// A native step failed.
    #[error("could not {what} in the build image")]
    Native {
        /// What was being done.
        what: String,
        /// The failure.
        #[source]
        source: kiln_sdk::Error,
    },
    /// A wheel could not be installed.
    #[error(transparent)]
    Wheel(#[from] crate::wheel::WheelError),
}

fn more_text(more: &[String]) -> String {
    match more.len() {
        0 => String::new(),
        1 => format!(" (and 1 more: {})", more[0]),
        n => format!(" (and {n} more, first: {})", more[0]),
    }
}
