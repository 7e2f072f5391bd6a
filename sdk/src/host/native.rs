//! The default host outside a component: logs to stderr, refuses downloads and native
//! commands, unpacks natively.

use std::path::Path;

use super::Host;
use crate::exec::{ExecError, ExecErrorKind, ExecOutput, ExecRequest};
use crate::extract::{ArchiveFormat, HostExtract};
use crate::fetch::{Download, FetchError, FetchErrorKind, Fetched};
use crate::log::Level;
use kiln_extract::ExtractReport;

/// A host for native code that installed none: log lines go to stderr, every download is
/// refused (`Denied`), and archives are unpacked in-process with the host's rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeHost;

impl Host for NativeHost {
    fn log(&self, level: Level, message: &str) {
        eprintln!("[{level}] {message}");
    }

    fn fetch(&self, requests: &[Download]) -> Vec<Result<Fetched, FetchError>> {
        requests
            .iter()
            .map(|d| {
                Err(FetchError {
                    url: d.url.clone(),
                    kind: FetchErrorKind::Denied,
                    message: format!(
                        "{}: no host serves downloads here; install one with kiln_sdk::host::with_host (e.g. kiln_sdk::testing::FakeHost)",
                        d.url
                    ),
                })
            })
            .collect()
    }

    fn fetch_index(&self, urls: &[String]) -> Vec<Result<Fetched, FetchError>> {
        let downloads: Vec<Download> = urls.iter().map(Download::unpinned).collect();
        self.fetch(&downloads)
    }

    fn extract(&self, requests: &[HostExtract]) -> Vec<Result<ExtractReport, String>> {
        requests.iter().map(extract_natively).collect()
    }

    fn exec(&self, request: &ExecRequest) -> Result<ExecOutput, ExecError> {
        Err(ExecError {
            kind: ExecErrorKind::Unavailable,
            message: format!(
                "{}: no host runs native commands here; install one with kiln_sdk::host::with_host (e.g. kiln_sdk::testing::FakeHost::on_exec)",
                request.argv.first().map_or("", String::as_str)
            ),
        })
    }
}

/// Unpack one archive in-process, refusing a destination that exists and is not empty, as
/// the host does.
pub(crate) fn extract_natively(r: &HostExtract) -> Result<ExtractReport, String> {
    if !is_empty_or_missing(&r.destination) {
        return Err(format!(
            "{}: the destination {} exists and is not empty",
            r.archive.display(),
            r.destination.display()
        ));
    }
    let result = match r.format {
        ArchiveFormat::TarGz => kiln_extract::extract_tar_gz(&r.archive, &r.destination, r.options),
        ArchiveFormat::Zip => kiln_extract::extract_zip(&r.archive, &r.destination, r.options),
        ArchiveFormat::Tar => std::fs::File::open(&r.archive)
            .map_err(|e| kiln_extract::Error::msg(e.to_string()))
            .and_then(|f| kiln_extract::extract_tar(f, &r.destination, r.options)),
    };
    result.map_err(|e| e.to_string())
}

fn is_empty_or_missing(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}
