//! `kiln build` flags for the buildpacks' pinned downloads.

use std::path::PathBuf;

use clap::Args;

use crate::error::Error;
use kiln_fetch::{DEFAULT_JOBS, FetchOptions, Policy};

/// Download policy flags.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Use only the download cache; a download that is not cached fails, naming its URL.
    #[arg(long)]
    pub offline: bool,
    /// Allow downloads without a pinned digest (the image is labelled io.kiln.reproducible=false).
    #[arg(long)]
    pub allow_unpinned: bool,
    /// Allow downloads only from this host (`host` or `host:port`; repeatable).
    #[arg(long = "network-allow", value_name = "HOST")]
    pub network_allow: Vec<String>,
    /// Downloads in flight at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_JOBS)]
    pub fetch_jobs: usize,
    /// Download cache directory (default: `downloads` under the user cache dir or $KILN_CACHE_DIR).
    #[arg(long, value_name = "DIR")]
    pub download_cache: Option<PathBuf>,
}

impl FetchArgs {
    /// The pipeline's download options.
    pub fn options(&self) -> Result<FetchOptions, Error> {
        if self.fetch_jobs == 0 {
            return Err(Error::InvalidInput(
                "--fetch-jobs must be at least 1".into(),
            ));
        }
        if let Some(bad) = self
            .network_allow
            .iter()
            .find(|h| h.is_empty() || h.contains(['/', ' ']))
        {
            return Err(Error::InvalidInput(format!(
                "--network-allow {bad:?} is not a host; use a name like mirror.example or 127.0.0.1:8080"
            )));
        }
        Ok(FetchOptions {
            policy: Policy {
                offline: self.offline,
                allow_unpinned: self.allow_unpinned,
                network_allow: self.network_allow.clone(),
            },
            jobs: self.fetch_jobs,
            cache_dir: self.download_cache.clone(),
        })
    }
}
