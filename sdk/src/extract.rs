//! Safe extraction of `.tar`, `.tar.gz`/`.tgz` and `.zip` archives into a layer.
//!
//! Two ways, with the same checks (no absolute paths, no `..`, no entries under a symlink,
//! symlinks relative and inside the destination, hard links as copies, devices skipped):
//! - [`extract_downloads`] asks the host to unpack verified downloads (under `/downloads`)
//!   into the buildpack's own layers, at native speed, several archives per call
//!   ([`extract_download`] for one). Prefer it for downloads.
//! - [`extract_tar_gz`], [`extract_tar`], [`extract_zip`] unpack in the guest, from any file
//!   or stream.
//!
//! File modes are not applied (WASI has none): reports list the executable files so the layer
//! can mark them.

use std::path::{Path, PathBuf};

use crate::Error;

pub use kiln_extract::{ExtractOptions, ExtractReport};

/// Why an archive could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ExtractFailure {
    /// Refused or failed in the guest.
    #[error(transparent)]
    Guest(#[from] kiln_extract::Error),
    /// Refused or failed on the host; the host's one-line explanation.
    #[error("{0}")]
    Host(String),
}

fn guest(archive: &Path, source: kiln_extract::Error) -> Error {
    Error::Extract {
        archive: archive.to_path_buf(),
        source: ExtractFailure::Guest(source),
    }
}

/// Extract the gzip-compressed tar at `archive` into `dest` (created if missing), in the guest.
pub fn extract_tar_gz(
    archive: &Path,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    kiln_extract::extract_tar_gz(archive, dest, options).map_err(|e| guest(archive, e))
}

/// Extract an uncompressed tar stream into `dest` (created if missing), in the guest.
pub fn extract_tar(
    reader: impl std::io::Read,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    kiln_extract::extract_tar(reader, dest, options)
        .map_err(|e| guest(Path::new("<tar stream>"), e))
}

/// Extract the zip archive at `archive` into `dest` (created if missing), in the guest.
pub fn extract_zip(
    archive: &Path,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    kiln_extract::extract_zip(archive, dest, options).map_err(|e| guest(archive, e))
}

/// Extract a zip archive from any seekable reader into `dest`, in the guest.
pub fn extract_zip_from(
    reader: &mut (impl std::io::Read + std::io::Seek),
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    kiln_extract::extract_zip_from(reader, dest, options)
        .map_err(|e| guest(Path::new("<zip stream>"), e))
}

/// Create a symlink at `link` pointing to `target` (stored verbatim).
pub fn symlink(target: &Path, link: &Path) -> Result<(), Error> {
    kiln_extract::symlink(target, link).map_err(|source| Error::Symlink {
        link: link.to_path_buf(),
        source,
    })
}

/// An archive format the host can unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// An uncompressed tar.
    Tar,
    /// A gzip-compressed tar.
    TarGz,
    /// A zip archive.
    Zip,
}

/// One archive for [`extract_downloads`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostExtract {
    /// A verified download (the `path` of a [`crate::fetch::Fetched`]).
    pub archive: PathBuf,
    /// Its format.
    pub format: ArchiveFormat,
    /// Where to unpack: inside one of this buildpack's layers; must not exist or be empty.
    pub destination: PathBuf,
    /// Options (`strip_components`).
    pub options: ExtractOptions,
}

/// Unpack verified downloads on the host into this buildpack's layers; results are in request
/// order. Only during `build`.
pub fn extract_downloads(requests: &[HostExtract]) -> Vec<Result<ExtractReport, Error>> {
    let results = crate::host::with_current(|h| h.extract(requests));
    let mut results = results.into_iter();
    requests
        .iter()
        .map(|r| match results.next() {
            Some(Ok(report)) => Ok(report),
            Some(Err(message)) => Err(host_failure(r, message)),
            None => Err(host_failure(r, "the host returned no result".to_owned())),
        })
        .collect()
}

/// Unpack one verified download on the host (see [`extract_downloads`]).
pub fn extract_download(request: &HostExtract) -> Result<ExtractReport, Error> {
    extract_downloads(std::slice::from_ref(request))
        .pop()
        .unwrap_or_else(|| {
            Err(host_failure(
                request,
                "the host returned no result".to_owned(),
            ))
        })
}

fn host_failure(request: &HostExtract, message: String) -> Error {
    Error::Extract {
        archive: request.archive.clone(),
        source: ExtractFailure::Host(message),
    }
}
