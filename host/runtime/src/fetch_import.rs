//! The `fetch` import: hands a buildpack's batch to the build's [`Fetcher`] and logs what
//! was downloaded. Outside `build` every request is denied.

use super::bindings::kiln::buildpack::fetch as wit;
use super::{HostState, LogLevel};
use kiln_fetch::{FetchErrorKind, FetchRequest};

fn kind(k: FetchErrorKind) -> wit::FetchErrorKind {
    match k {
        FetchErrorKind::Invalid => wit::FetchErrorKind::Invalid,
        FetchErrorKind::Denied => wit::FetchErrorKind::Denied,
        FetchErrorKind::OfflineMiss => wit::FetchErrorKind::OfflineMiss,
        FetchErrorKind::NotFound => wit::FetchErrorKind::NotFound,
        FetchErrorKind::IntegrityMismatch => wit::FetchErrorKind::IntegrityMismatch,
        FetchErrorKind::Network => wit::FetchErrorKind::Network,
        FetchErrorKind::Storage => wit::FetchErrorKind::Storage,
    }
}

impl wit::Host for HostState {
    fn fetch(
        &mut self,
        requests: Vec<wit::FetchRequest>,
    ) -> Vec<Result<wit::Fetched, wit::FetchError>> {
        let Some(fetcher) = self.fetch.clone() else {
            return requests
                .into_iter()
                .map(|r| {
                    Err(wit::FetchError {
                        message: format!("{}: downloads are only allowed during build", r.url),
                        url: r.url,
                        kind: wit::FetchErrorKind::Denied,
                    })
                })
                .collect();
        };
        let requests: Vec<FetchRequest> = requests
            .into_iter()
            .map(|r| FetchRequest {
                url: r.url,
                integrity: r.integrity,
            })
            .collect();
        let results = fetcher.fetch(&self.buildpack, &requests);
        results
            .into_iter()
            .map(|r| match r {
                Ok(f) => {
                    let how = if f.cached { "cached" } else { "fetched" };
                    (self.log)(
                        &self.buildpack,
                        LogLevel::Debug,
                        &format!("{how} {} ({} bytes, {})", f.url, f.size, f.digest),
                    );
                    if self_unpinned(&requests, &f.url) {
                        (self.log)(
                            &self.buildpack,
                            LogLevel::Warn,
                            &format!(
                                "unpinned download {} ({}): the image is labelled not reproducible",
                                f.url, f.digest
                            ),
                        );
                    }
                    Ok(wit::Fetched {
                        url: f.url,
                        path: f.guest_path,
                        size: f.size,
                        digest: f.digest.to_string(),
                        cached: f.cached,
                    })
                }
                Err(e) => Err(wit::FetchError {
                    url: e.url,
                    kind: kind(e.kind),
                    message: e.message,
                }),
            })
            .collect()
    }
}

fn self_unpinned(requests: &[FetchRequest], url: &str) -> bool {
    requests
        .iter()
        .any(|r| r.url == url && r.integrity.is_none())
}
