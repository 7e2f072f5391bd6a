//! Pinned downloads through the host (`fetch` import), and guest-side verification.
//!
//! The host downloads, verifies and caches each file and returns a read-only guest path
//! under `/downloads`. Downloads work during `build` only.
//!
//! ```no_run
//! use kiln_sdk::fetch::{fetch_all, Download};
//! let files = fetch_all(&[Download::pinned(
//!     "https://example.invalid/a.tgz",
//!     "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
//! )]);
//! ```

use std::io::Read as _;
use std::path::{Path, PathBuf};

use kiln_spec::{Algorithm, Integrity};

use crate::Error;

/// One file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Expected digest (`sha256:<hex>`, `sha512:<hex>`, SRI, or `h1:<base64>` from `go.sum`
    /// for a Go module zip or `go.mod`), or `None` for unpinned.
    pub integrity: Option<String>,
}

impl Download {
    /// A download pinned to `integrity`.
    pub fn pinned(url: impl Into<String>, integrity: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            integrity: Some(integrity.into()),
        }
    }

    /// An unpinned download (refused unless the user passed `--allow-unpinned`).
    pub fn unpinned(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            integrity: None,
        }
    }
}

/// A verified file in the host's download cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The URL asked for.
    pub url: String,
    /// Read-only guest path of the file.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Verified digest (`sha256:<hex>`, `sha512:<hex>` or `h1:<base64>`).
    pub digest: String,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// Why a download failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// Malformed request (URL, digest).
    Invalid,
    /// Refused by the user's policy (unpinned, host not allowed), or not during build.
    Denied,
    /// `--offline` and not cached.
    OfflineMiss,
    /// The server does not have the file (404/410).
    NotFound,
    /// The bytes did not match the expected digest.
    IntegrityMismatch,
    /// A network or server error.
    Network,
    /// The host could not store the file.
    Storage,
}

/// A failed download.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// The URL asked for.
    pub url: String,
    /// The kind of failure.
    pub kind: FetchErrorKind,
    /// The host's one-line explanation (names the URL and what to do).
    pub message: String,
}

/// Download a batch in parallel on the host; results are in request order.
pub fn fetch_all(downloads: &[Download]) -> Vec<Result<Fetched, FetchError>> {
    crate::host::with_current(|h| h.fetch(downloads))
}

/// Download a batch of package-index pages (a PyPI "simple" project page, say) in parallel
/// on the host: metadata fetched without a digest and allowed without `--allow-unpinned`,
/// because the buildpack then installs only files it fetches pinned. Results are in request
/// order; under `--offline` each is the page last fetched from that URL.
pub fn fetch_index(urls: &[String]) -> Vec<Result<Fetched, FetchError>> {
    crate::host::with_current(|h| h.fetch_index(urls))
}

/// Download one file.
pub fn fetch(download: &Download) -> Result<Fetched, FetchError> {
    fetch_all(std::slice::from_ref(download))
        .pop()
        .unwrap_or_else(|| {
            Err(FetchError {
                url: download.url.clone(),
                kind: FetchErrorKind::Network,
                message: format!("{}: the host returned no result", download.url),
            })
        })
}

/// Check the file at `path` against `integrity` (`sha256:<hex>`, `sha512:<hex>`, SRI, or
/// `h1:<base64>` for a Go module zip or `go.mod`, see [`kiln_extract::go_h1`]) in the guest.
/// The host already verifies downloads; this is for files from elsewhere.
pub fn verify_file(path: &Path, integrity: &str) -> Result<(), Error> {
    let want = Integrity::parse(integrity)?;
    let got = match want.algorithm() {
        Algorithm::Sha256 => stream_digest::<sha2::Sha256>(path)?,
        Algorithm::Sha512 => stream_digest::<sha2::Sha512>(path)?,
        Algorithm::GoH1 => kiln_extract::go_h1_file(path)
            .map_err(|e| {
                Error::msg(format!(
                    "{} does not match {integrity}: {e}",
                    path.display()
                ))
            })?
            .to_vec(),
    };
    if got == want.bytes() {
        return Ok(());
    }
    let actual = Integrity::new(want.algorithm(), got)?;
    let shown = if want.algorithm() == Algorithm::GoH1 {
        actual.to_string()
    } else {
        actual.hex()
    };
    Err(Error::msg(format!(
        "{} does not match {integrity}: its {} is {shown}",
        path.display(),
        want.algorithm(),
    )))
}

/// The `D` digest of the file at `path`, read in chunks.
fn stream_digest<D: sha2::Digest>(path: &Path) -> Result<Vec<u8>, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut hasher = D::new();
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            return Ok(hasher.finalize().to_vec());
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest as _;

    use super::*;

    #[test]
    fn verifies_hex_and_sri() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let hex256 = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        verify_file(&path, hex256).unwrap();
        let sri = Integrity::new(Algorithm::Sha512, sha2::Sha512::digest(b"abc").to_vec())
            .unwrap()
            .sri();
        verify_file(&path, &sri).unwrap();
        std::fs::write(&path, b"abd").unwrap();
        let err = verify_file(&path, hex256).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(verify_file(&path, "md5:00").is_err());
    }

    #[test]
    fn verifies_go_h1() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v0.3.0.mod");
        std::fs::write(&path, b"module golang.org/x/text\n").unwrap();
        // A real go.sum line for golang.org/x/text v0.3.0/go.mod.
        let pin = "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=";
        verify_file(&path, pin).unwrap();
        std::fs::write(&path, b"module golang.org/x/evil\n").unwrap();
        let err = verify_file(&path, pin).unwrap_err();
        assert!(err.to_string().contains("its h1 is h1:"), "{err}");
        std::fs::write(&path, b"PK\x03\x04broken").unwrap();
        let err = verify_file(&path, pin).unwrap_err();
        assert!(err.to_string().contains("zip"), "{err}");
    }
}
