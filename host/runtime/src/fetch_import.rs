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

fn denied_outside_build(url: String) -> Result<wit::Fetched, wit::FetchError> {
    Err(wit::FetchError {
        message: format!("{url}: downloads are only allowed during build"),
        url,
        kind: wit::FetchErrorKind::Denied,
    })
}

impl HostState {
    /// The WIT form of `results`, each download logged (and an unpinned one warned about).
    fn answer(
        &self,
        results: Vec<Result<kiln_fetch::Fetched, kiln_fetch::FetchError>>,
        unpinned: impl Fn(&str) -> bool,
    ) -> Vec<Result<wit::Fetched, wit::FetchError>> {
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
                    if unpinned(&f.url) {
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

impl wit::Host for HostState {
    fn fetch(
        &mut self,
        requests: Vec<wit::FetchRequest>,
    ) -> Vec<Result<wit::Fetched, wit::FetchError>> {
        let Some(fetcher) = self.fetch.clone() else {
            return requests
                .into_iter()
                .map(|r| denied_outside_build(r.url))
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
        self.answer(results, |url| self_unpinned(&requests, url))
    }

    fn fetch_index(&mut self, urls: Vec<String>) -> Vec<Result<wit::Fetched, wit::FetchError>> {
        let Some(fetcher) = self.fetch.clone() else {
            return urls.into_iter().map(denied_outside_build).collect();
        };
        let results = fetcher.fetch_index(&self.buildpack, &urls);
        self.answer(results, |_| false)
    }
}

fn self_unpinned(requests: &[FetchRequest], url: &str) -> bool {
    requests
        .iter()
        .any(|r| r.url == url && r.integrity.is_none())
}
