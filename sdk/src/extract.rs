//! Safe extraction of `.tar`, `.tar.gz`/`.tgz` and `.zip` archives into a layer.
//!
//! Two ways, with the same checks (no absolute paths, no `..`, no entries under a symlink,
//! symlinks relative and inside the destination, hard links as copies, devices skipped):
//! - [`extract_downloads`] asks the host to unpack verified downloads (under `/downloads`)
//!   into the buildpack's own layers, at native speed, several archives per call. Prefer it
//!   for downloads.
//! - [`extract_tar_gz`], [`extract_tar`], [`extract_zip`] unpack in the guest, from any file
//!   or stream.
//!
//! File modes are not applied (WASI has none): reports list the executable files so the layer
//! can mark them.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::bindings::kiln::buildpack::extract as wit;

pub use kiln_extract::{ExtractOptions, ExtractReport};

impl From<kiln_extract::Error> for Error {
    fn from(e: kiln_extract::Error) -> Self {
        Error::msg(e.message())
    }
}

/// Extract the gzip-compressed tar at `archive` into `dest` (created if missing), in the guest.
pub fn extract_tar_gz(
    archive: &Path,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    Ok(kiln_extract::extract_tar_gz(archive, dest, options)?)
}

/// Extract an uncompressed tar stream into `dest` (created if missing), in the guest.
pub fn extract_tar(
    reader: impl std::io::Read,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    Ok(kiln_extract::extract_tar(reader, dest, options)?)
}

/// Extract the zip archive at `archive` into `dest` (created if missing), in the guest.
pub fn extract_zip(
    archive: &Path,
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    Ok(kiln_extract::extract_zip(archive, dest, options)?)
}

/// Extract a zip archive from any seekable reader into `dest`, in the guest.
pub fn extract_zip_from(
    reader: &mut (impl std::io::Read + std::io::Seek),
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractReport, Error> {
    Ok(kiln_extract::extract_zip_from(reader, dest, options)?)
}

/// Create a symlink at `link` pointing to `target` (stored verbatim).
pub fn symlink(target: &Path, link: &Path) -> Result<(), Error> {
    Ok(kiln_extract::symlink(target, link)?)
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
    let wit_requests: Vec<wit::ExtractRequest> = requests
        .iter()
        .map(|r| wit::ExtractRequest {
            archive: r.archive.to_string_lossy().into_owned(),
            format: match r.format {
                ArchiveFormat::Tar => wit::ArchiveFormat::Tar,
                ArchiveFormat::TarGz => wit::ArchiveFormat::TarGz,
                ArchiveFormat::Zip => wit::ArchiveFormat::Zip,
            },
            destination: r.destination.to_string_lossy().into_owned(),
            strip_components: u32::try_from(r.options.strip_components).unwrap_or(u32::MAX),
        })
        .collect();
    wit::extract(&wit_requests)
        .into_iter()
        .map(|r| {
            r.map(|e| ExtractReport {
                files: usize::try_from(e.files).unwrap_or(usize::MAX),
                symlinks: usize::try_from(e.symlinks).unwrap_or(usize::MAX),
                bytes: e.bytes,
                executables: e.executables,
            })
            .map_err(Error::msg)
        })
        .collect()
}
