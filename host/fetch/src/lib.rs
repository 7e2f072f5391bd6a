//! Pinned downloads for buildpacks (the `fetch` WIT import): policy checks, a
//! content-addressed download cache, and parallel HTTP(S) downloads with verification.
//!
//! One [`Fetcher`] serves a whole build. Buildpacks never get sockets: the host downloads,
//! verifies, and grants the guest read-only access to the cache at [`cache::GUEST_DIR`].

pub mod cache;
pub mod destination;
pub mod digest;
pub mod downloader;
pub mod http;
pub mod policy;
pub mod view;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

pub use cache::DownloadCache;
pub use digest::{Algorithm, Digest};
pub use downloader::Downloader;
pub use policy::Policy;

/// Default number of downloads in flight at once.
pub const DEFAULT_JOBS: usize = 16;

/// Label set on images built with unpinned downloads.
pub const REPRODUCIBLE_LABEL: &str = kiln_spec::labels::REPRODUCIBLE;

/// Download settings of a build (`kiln build --offline/--allow-unpinned/--network-allow`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// The policy.
    pub policy: Policy,
    /// Downloads in flight at once (at least 1).
    pub jobs: usize,
    /// The download cache (`None`: `<cache base>/downloads`).
    pub cache_dir: Option<PathBuf>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            jobs: DEFAULT_JOBS,
            cache_dir: None,
        }
    }
}

/// One request from a buildpack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The URL.
    pub url: String,
    /// Expected digest text (`sha256:<hex>`, `sha512:<hex>`, SRI, or `h1:<base64>` for a Go
    /// module zip or `go.mod`); `None`: unpinned.
    pub integrity: Option<String>,
}

/// A verified file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL asked for.
    pub url: String,
    /// Guest path of the file.
    pub guest_path: String,
    /// Size in bytes.
    pub size: u64,
    /// The verified digest.
    pub digest: Digest,
    /// Served from the cache.
    pub cached: bool,
}

/// Kinds of failure, mirrored in the WIT `fetch-error-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// Malformed request.
    Invalid,
    /// Refused by policy.
    Denied,
    /// Offline and not cached.
    OfflineMiss,
    /// 404/410.
    NotFound,
    /// Wrong bytes.
    IntegrityMismatch,
    /// Network or server error after retries.
    Network,
    /// Cache write failure.
    Storage,
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// The URL asked for.
    pub url: String,
    /// What kind of failure.
    pub kind: FetchErrorKind,
    /// One line naming the URL and what to do.
    pub message: String,
}

impl FetchError {
    fn new(url: &str, kind: FetchErrorKind, message: impl Into<String>) -> Self {
        Self {
            url: url.to_owned(),
            kind,
            message: message.into(),
        }
    }
}

/// What a build's downloads did, for the summary line and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files downloaded over the network.
    pub fetched: usize,
    /// Files served from the download cache.
    pub cached: usize,
    /// Bytes downloaded.
    pub bytes: u64,
    /// URLs fetched without a pinned digest.
    pub unpinned: Vec<String>,
    /// Package-index pages asked for (`fetch-index`), from the network or the cache.
    pub index_pages: usize,
}

/// Serves `fetch` calls for one build.
pub struct Fetcher {
    cache: DownloadCache,
    policy: Policy,
    jobs: usize,
    /// The caller's async runtime the downloads run on.
    runtime: tokio::runtime::Handle,
    /// The HTTP client, made on first use.
    http: OnceLock<Result<http::Http, String>>,
    stats: Mutex<Stats>,
    /// The destinations the user allowed (built once from the policy and the environment).
    trusted: Arc<destination::Trusted>,
    /// Each buildpack's `/downloads`, by buildpack id.
    views: Mutex<std::collections::BTreeMap<String, Arc<view::DownloadView>>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache", &self.cache)
            .field("policy", &self.policy)
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// What a request is for: a pinned (or, with `--allow-unpinned`, unpinned) file, or a
/// package-index page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Pinned,
    Index,
}

/// A request that passed the checks and was not in the cache.
struct Job {
    index: usize,
    url: String,
    expected: Option<Digest>,
}

impl Fetcher {
    /// A fetcher for `options` whose downloads run on `runtime`; the download cache defaults
    /// to `default_cache`.
    pub fn new(
        options: &FetchOptions,
        default_cache: PathBuf,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            cache: DownloadCache::new(options.cache_dir.clone().unwrap_or(default_cache)),
            policy: options.policy.clone(),
            trusted: Arc::new(destination::Trusted::new(&options.policy.network_allow)),
            jobs: options.jobs.max(1),
            runtime,
            http: OnceLock::new(),
            stats: Mutex::new(Stats::default()),
            views: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    /// The `/downloads` of `buildpack` in this build, created on first use: only the files
    /// this build fetched for it.
    pub fn view(&self, buildpack: &str) -> Result<Arc<view::DownloadView>, String> {
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = views.get(buildpack) {
            return Ok(v.clone());
        }
        let created = Arc::new(view::DownloadView::create(&self.cache).map_err(|e| {
            format!(
                "could not create a download view in {}: {e}",
                self.cache.root().display()
            )
        })?);
        views.insert(buildpack.to_owned(), created.clone());
        Ok(created)
    }

    /// The download cache.
    pub fn cache(&self) -> &DownloadCache {
        &self.cache
    }

    /// What has been fetched so far.
    pub fn stats(&self) -> Stats {
        self.stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Serve a batch for `buildpack`: policy and cache first, then the misses downloaded in
    /// parallel; each file is shown in that buildpack's view. Results are in request order.
    pub fn fetch(
        &self,
        buildpack: &str,
        requests: &[FetchRequest],
    ) -> Vec<Result<Fetched, FetchError>> {
        self.serve(buildpack, requests, Purpose::Pinned)
    }

    /// Serve a batch of package-index pages for `buildpack`: unpinned metadata, allowed
    /// without `--allow-unpinned` and not counted as unpinned, always asked of the server
    /// when online (under `--offline`, the page last fetched from the URL).
    pub fn fetch_index(
        &self,
        buildpack: &str,
        urls: &[String],
    ) -> Vec<Result<Fetched, FetchError>> {
        let requests: Vec<FetchRequest> = urls
            .iter()
            .map(|url| FetchRequest {
                url: url.clone(),
                integrity: None,
            })
            .collect();
        self.count(|s| s.index_pages += urls.len());
        self.serve(buildpack, &requests, Purpose::Index)
    }

    fn serve(
        &self,
        buildpack: &str,
        requests: &[FetchRequest],
        purpose: Purpose,
    ) -> Vec<Result<Fetched, FetchError>> {
        let mut results: Vec<Option<Result<Fetched, FetchError>>> = vec![None; requests.len()];
        let mut jobs = Vec::new();
        for (index, r) in requests.iter().enumerate() {
            match self.prepare(r, purpose) {
                Ok(Some(hit)) => results[index] = Some(Ok(hit)),
                Ok(None) => jobs.push(Job {
                    index,
                    url: r.url.clone(),
                    expected: r.integrity.as_deref().and_then(|i| Digest::parse(i).ok()),
                }),
                Err(e) => results[index] = Some(Err(e)),
            }
        }
        if !jobs.is_empty() {
            for (index, outcome) in self.download_all(jobs) {
                results[index] = Some(outcome);
            }
        }
        results
            .into_iter()
            .zip(requests)
            .map(|(r, req)| {
                r.unwrap_or_else(|| {
                    Err(FetchError::new(
                        &req.url,
                        FetchErrorKind::Network,
                        format!("{}: the download did not finish", req.url),
                    ))
                })
                .and_then(|f| self.show(buildpack, f))
            })
            .collect()
    }

    /// Put a verified file into `buildpack`'s view.
    fn show(&self, buildpack: &str, f: Fetched) -> Result<Fetched, FetchError> {
        let storage = |why: String| FetchError::new(&f.url, FetchErrorKind::Storage, why);
        self.view(buildpack)
            .map_err(storage)?
            .add(&self.cache, &f.digest)
            .map_err(|e| storage(format!("could not show {} to the buildpack: {e}", f.url)))?;
        Ok(f)
    }

    /// Checks and cache lookup: `Ok(Some)` on a hit, `Ok(None)` when a download is needed.
    fn prepare(&self, r: &FetchRequest, purpose: Purpose) -> Result<Option<Fetched>, FetchError> {
        let url = r.url.as_str();
        let expected = match r.integrity.as_deref() {
            Some(text) => Some(Digest::parse(text).map_err(|why| {
                FetchError::new(
                    url,
                    FetchErrorKind::Invalid,
                    format!("{url}: bad expected digest: {why}"),
                )
            })?),
            None => None,
        };
        let index = purpose == Purpose::Index;
        self.policy
            .check(url, expected.is_some() || index)
            .map_err(|e| FetchError::new(url, FetchErrorKind::Denied, e.to_string()))?;
        destination::check_url(&self.trusted, url)
            .map_err(|why| FetchError::new(url, FetchErrorKind::Denied, format!("{url}: {why}")))?;
        if expected.is_none() && !index {
            self.count(|s| s.unpinned.push(url.to_owned()));
        }
        let known = match &expected {
            Some(d) => Some(d.clone()),
            None if self.policy.offline => self.cache.hint(url),
            None => None,
        };
        if let Some(d) = known
            && let Some(size) = self.cache.lookup(&d)
        {
            self.count(|s| s.cached += 1);
            return Ok(Some(Fetched {
                url: url.to_owned(),
                guest_path: DownloadCache::guest_path(&d),
                size,
                digest: d,
                cached: true,
            }));
        }
        if self.policy.offline {
            return Err(FetchError::new(
                url,
                FetchErrorKind::OfflineMiss,
                format!(
                    "{url} is not in the download cache ({}) and --offline is set; run the build once without --offline to fill the cache",
                    self.cache.root().display()
                ),
            ));
        }
        Ok(None)
    }

    fn client(&self) -> Result<(&tokio::runtime::Handle, &http::Http), String> {
        let http = self
            .http
            .get_or_init(|| http::Http::new(&self.policy, self.trusted.clone()))
            .as_ref()
            .map_err(Clone::clone)?;
        Ok((&self.runtime, http))
    }

    fn download_all(&self, jobs: Vec<Job>) -> Vec<(usize, Result<Fetched, FetchError>)> {
        let (rt, http) = match self.client() {
            Ok(c) => c,
            Err(why) => {
                return jobs
                    .into_iter()
                    .map(|j| {
                        let e = FetchError::new(&j.url, FetchErrorKind::Network, why.clone());
                        (j.index, Err(e))
                    })
                    .collect();
            }
        };
        let limit = Arc::new(tokio::sync::Semaphore::new(self.jobs));
        let outcomes = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for job in jobs {
                let limit = limit.clone();
                let http = http.clone();
                let cache = self.cache.clone();
                set.spawn(async move {
                    let _permit = limit.acquire_owned().await;
                    let outcome = download_one(&http, &cache, &job).await;
                    (job.index, outcome)
                });
            }
            let mut out = Vec::new();
            while let Some(done) = set.join_next().await {
                if let Ok(pair) = done {
                    out.push(pair);
                }
            }
            out
        });
        for (_, outcome) in &outcomes {
            if let Ok(f) = outcome {
                self.count(|s| {
                    s.fetched += 1;
                    s.bytes += f.size;
                });
            }
        }
        outcomes
    }
}

async fn download_one(
    http: &http::Http,
    cache: &DownloadCache,
    job: &Job,
) -> Result<Fetched, FetchError> {
    let url = job.url.as_str();
    let algorithm = job
        .expected
        .as_ref()
        .map_or(Algorithm::Sha256, kiln_spec::Integrity::algorithm);
    let pending = http
        .download(url, || cache.begin(algorithm))
        .await
        .map_err(|e| {
            let kind = match e {
                http::HttpError::NotFound { .. } => FetchErrorKind::NotFound,
                http::HttpError::Storage(_) => FetchErrorKind::Storage,
                http::HttpError::Refused(_) => FetchErrorKind::Denied,
                _ => FetchErrorKind::Network,
            };
            FetchError::new(url, kind, format!("could not download {url}: {e}"))
        })?;
    // Off the async workers: the commit syncs the file, and an `h1` pin reads it whole.
    let committed = {
        let (cache, expected) = (cache.clone(), job.expected.clone());
        tokio::task::spawn_blocking(move || pending.commit(&cache, expected.as_ref())).await
    };
    let committed = committed.unwrap_or_else(|e| {
        Ok(Err(std::io::Error::other(format!(
            "the verification task failed: {e}"
        ))))
    });
    let (digest, size) = match committed {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            return Err(FetchError::new(
                url,
                FetchErrorKind::Storage,
                format!(
                    "could not store {url} in the download cache {}: {e}",
                    cache.root().display()
                ),
            ));
        }
        Err(mismatch) => {
            // Only what the buildpack pinned is named: the actual digest of content it did
            // not pin is never told to it. SRI has no `h1`: that one is named once.
            let want = job.expected.as_ref().map_or_else(String::new, |d| {
                if d.algorithm().is_sri() {
                    format!("{d} (SRI {})", d.sri())
                } else {
                    d.to_string()
                }
            });
            let why = match mismatch {
                cache::Mismatch::Differs { .. } => String::new(),
                cache::Mismatch::Unhashable { reason } => format!(" ({reason})"),
            };
            return Err(FetchError::new(
                url,
                FetchErrorKind::IntegrityMismatch,
                format!(
                    "integrity mismatch for {url}: the file does not match the pinned {want}{why}; nothing was kept. The file changed on the server or the pinned digest is wrong"
                ),
            ));
        }
    };
    if job.expected.is_none() {
        cache.record_hint(url, &digest);
    }
    Ok(Fetched {
        url: url.to_owned(),
        guest_path: DownloadCache::guest_path(&digest),
        size,
        digest,
        cached: false,
    })
}

#[cfg(test)]
mod tests;
