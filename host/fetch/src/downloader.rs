//! What the sandbox needs of the download side: the seam between `kiln-runtime` and the
//! policy, cache and HTTP code of this crate.

use std::sync::Arc;

use crate::view::DownloadView;
use crate::{FetchError, FetchRequest, Fetched, Fetcher, Stats};

/// Serves the buildpacks' `fetch` import for one build.
pub trait Downloader: Send + Sync {
    /// Serve a batch for `buildpack`; results are in request order.
    fn fetch(&self, buildpack: &str, requests: &[FetchRequest])
    -> Vec<Result<Fetched, FetchError>>;

    /// Serve a batch of package-index pages for `buildpack` (see [`Fetcher::fetch_index`]).
    fn fetch_index(&self, buildpack: &str, urls: &[String]) -> Vec<Result<Fetched, FetchError>>;

    /// The buildpack's view of what this build fetched for it (granted at `/downloads`).
    fn view(&self, buildpack: &str) -> Result<Arc<DownloadView>, String>;

    /// What the build fetched so far.
    fn stats(&self) -> Stats;
}

impl Downloader for Fetcher {
    fn fetch(
        &self,
        buildpack: &str,
        requests: &[FetchRequest],
    ) -> Vec<Result<Fetched, FetchError>> {
        Fetcher::fetch(self, buildpack, requests)
    }

    fn fetch_index(&self, buildpack: &str, urls: &[String]) -> Vec<Result<Fetched, FetchError>> {
        Fetcher::fetch_index(self, buildpack, urls)
    }

    fn view(&self, buildpack: &str) -> Result<Arc<DownloadView>, String> {
        Fetcher::view(self, buildpack)
    }

    fn stats(&self) -> Stats {
        Fetcher::stats(self)
    }
}
