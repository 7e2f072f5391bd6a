//! HTTP(S) downloads with timeouts and retries: streams the body into a cache
//! [`Pending`] file. Proxies come from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.

use std::sync::Arc;
use std::time::Duration;

use kiln_fs::retry::Retry;

use super::cache::Pending;
use super::destination::{GuardedResolver, Trusted, redirect_policy};
use super::policy::Policy;

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a read may stall.
const READ_TIMEOUT: Duration = Duration::from_mins(1);

/// A download failure.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 404 or 410.
    #[error("the server answered {status}: the file is not there")]
    NotFound {
        /// The HTTP status.
        status: u16,
    },
    /// Another non-success status, after retries for 5xx.
    #[error("the server answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The destination (or a redirect) was refused by the network policy; not retried.
    #[error("{0}")]
    Refused(String),
    /// Connection, TLS or body errors, after retries.
    #[error("{0}")]
    Network(String),
    /// The cache file could not be written.
    #[error("could not write to the download cache: {0}")]
    Storage(#[from] std::io::Error),
}

/// An HTTP client for downloads.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    /// A client with Kiln's timeouts, `policy`'s allowlist and `trusted`'s internal
    /// destinations (also after DNS and redirects); proxies from the environment.
    pub fn new(policy: &Policy, trusted: Arc<Trusted>) -> Result<Self, String> {
        let allowlist = policy.clone();
        let client = reqwest::Client::builder()
            .dns_resolver(GuardedResolver::new(trusted.clone()))
            .redirect(redirect_policy(trusted, move |authority| {
                let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
                allowlist.host_allowed(host, authority)
            }))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("kiln/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("could not start the HTTP client: {e}"))?;
        Ok(Self { client })
    }

    /// Download `url` into a fresh [`Pending`] from `begin`, retrying transient failures.
    pub async fn download(
        &self,
        url: &str,
        begin: impl Fn() -> std::io::Result<Pending>,
    ) -> Result<Pending, HttpError> {
        Retry::NETWORK
            .run(
                url,
                || self.attempt(url, &begin),
                |e| {
                    matches!(
                        e,
                        HttpError::Network(_) | HttpError::Status { status: 500.. }
                    )
                },
                tokio::time::sleep,
            )
            .await
            .map_err(|(e, _)| e)
    }

    async fn attempt(
        &self,
        url: &str,
        begin: &impl Fn() -> std::io::Result<Pending>,
    ) -> Result<Pending, HttpError> {
        let mut response = self.client.get(url).send().await.map_err(|e| {
            if super::destination::is_refusal(&e) {
                HttpError::Refused(kiln_spec::error_chain(&e))
            } else {
                HttpError::Network(kiln_spec::error_chain(&e))
            }
        })?;
        let status = response.status().as_u16();
        if status == 404 || status == 410 {
            return Err(HttpError::NotFound { status });
        }
        if !response.status().is_success() {
            return Err(HttpError::Status { status });
        }
        let mut pending = begin()?;
        loop {
            match response.chunk().await {
                Ok(Some(bytes)) => pending.write(&bytes)?,
                Ok(None) => return Ok(pending),
                Err(e) => {
                    pending.discard();
                    return Err(HttpError::Network(kiln_spec::error_chain(&e)));
                }
            }
        }
    }
}
