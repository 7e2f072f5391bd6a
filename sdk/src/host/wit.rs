//! The real imports of the `kiln:buildpack` world.

use std::path::PathBuf;

use super::Host;
use crate::bindings::kiln::buildpack::{
    exec as wit_exec, extract as wit_extract, fetch as wit_fetch, log as wit_log,
};
use crate::exec::{ExecError, ExecErrorKind, ExecOutput, ExecRequest};
use crate::extract::{ArchiveFormat, HostExtract};
use crate::fetch::{Download, FetchError, FetchErrorKind, Fetched};
use crate::log::Level;
use kiln_extract::ExtractReport;

/// The host Kiln provides to a component: calls the WIT imports. Only works inside a
/// component run by Kiln; it is the default there.
#[derive(Debug, Clone, Copy, Default)]
pub struct WitHost;

impl Host for WitHost {
    fn log(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => wit_log::Level::Debug,
            Level::Info => wit_log::Level::Info,
            Level::Warn => wit_log::Level::Warn,
            Level::Error => wit_log::Level::Error,
        };
        wit_log::write(level, message);
    }

    fn fetch_index(&self, urls: &[String]) -> Vec<Result<Fetched, FetchError>> {
        wit_fetch::fetch_index(urls)
            .into_iter()
            .map(fetched_from_wit)
            .collect()
    }

    fn fetch(&self, requests: &[Download]) -> Vec<Result<Fetched, FetchError>> {
        let wit_requests: Vec<wit_fetch::FetchRequest> = requests
            .iter()
            .map(|d| wit_fetch::FetchRequest {
                url: d.url.clone(),
                integrity: d.integrity.clone(),
            })
            .collect();
        wit_fetch::fetch(&wit_requests)
            .into_iter()
            .map(fetched_from_wit)
            .collect()
    }

    fn extract(&self, requests: &[HostExtract]) -> Vec<Result<ExtractReport, String>> {
        let wit_requests: Vec<wit_extract::ExtractRequest> = requests
            .iter()
            .map(|r| wit_extract::ExtractRequest {
                archive: r.archive.to_string_lossy().into_owned(),
                format: match r.format {
                    ArchiveFormat::Tar => wit_extract::ArchiveFormat::Tar,
                    ArchiveFormat::TarGz => wit_extract::ArchiveFormat::TarGz,
                    ArchiveFormat::Zip => wit_extract::ArchiveFormat::Zip,
                },
                destination: r.destination.to_string_lossy().into_owned(),
                strip_components: u32::try_from(r.options.strip_components).unwrap_or(u32::MAX),
            })
            .collect();
        wit_extract::extract(&wit_requests)
            .into_iter()
            .map(|r| {
                r.map(|e| ExtractReport {
                    files: usize::try_from(e.files).unwrap_or(usize::MAX),
                    symlinks: usize::try_from(e.symlinks).unwrap_or(usize::MAX),
                    bytes: e.bytes,
                    executables: e.executables,
                })
            })
            .collect()
    }

    fn exec(&self, request: &ExecRequest) -> Result<ExecOutput, ExecError> {
        let command = wit_exec::Command {
            argv: request.argv.clone(),
            env: request
                .env
                .iter()
                .map(
                    |(key, value)| crate::bindings::kiln::buildpack::types::KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                    },
                )
                .collect(),
            cwd: request.cwd.clone(),
            timeout_seconds: request.timeout_seconds,
            capture_stdout: request.capture_stdout,
        };
        wit_exec::run(&command)
            .map(|e| ExecOutput {
                code: e.code,
                stdout: e.stdout,
            })
            .map_err(|e| ExecError {
                kind: match e.kind {
                    wit_exec::ExecErrorKind::Unavailable => ExecErrorKind::Unavailable,
                    wit_exec::ExecErrorKind::Denied => ExecErrorKind::Denied,
                    wit_exec::ExecErrorKind::Invalid => ExecErrorKind::Invalid,
                    wit_exec::ExecErrorKind::TimedOut => ExecErrorKind::TimedOut,
                    wit_exec::ExecErrorKind::Failed => ExecErrorKind::Failed,
                },
                message: e.message,
            })
    }
}

fn fetched_from_wit(
    r: Result<wit_fetch::Fetched, wit_fetch::FetchError>,
) -> Result<Fetched, FetchError> {
    match r {
        Ok(f) => Ok(Fetched {
            url: f.url,
            path: PathBuf::from(f.path),
            size: f.size,
            digest: f.digest,
            cached: f.cached,
        }),
        Err(e) => Err(FetchError {
            url: e.url,
            kind: fetch_kind(e.kind),
            message: e.message,
        }),
    }
}

fn fetch_kind(k: wit_fetch::FetchErrorKind) -> FetchErrorKind {
    match k {
        wit_fetch::FetchErrorKind::Invalid => FetchErrorKind::Invalid,
        wit_fetch::FetchErrorKind::Denied => FetchErrorKind::Denied,
        wit_fetch::FetchErrorKind::OfflineMiss => FetchErrorKind::OfflineMiss,
        wit_fetch::FetchErrorKind::NotFound => FetchErrorKind::NotFound,
        wit_fetch::FetchErrorKind::IntegrityMismatch => FetchErrorKind::IntegrityMismatch,
        wit_fetch::FetchErrorKind::Network => FetchErrorKind::Network,
        wit_fetch::FetchErrorKind::Storage => FetchErrorKind::Storage,
    }
}
