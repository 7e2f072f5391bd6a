//! The error type of this crate and helpers to turn foreign errors into readable reasons.

use std::path::PathBuf;

/// Everything that can go wrong while resolving or checking out a git source.
///
/// Every message names the source (with any password in the URL hidden) and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// The remote could not be contacted or refused to talk to us.
    #[error("could not reach git remote {url}: {reason}; check the URL and the network")]
    Unreachable {
        /// The source URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The remote was reached but fetching its objects failed.
    #[error(
        "could not fetch from git remote {url}: {reason}; retry, and check that the remote is a healthy git repository"
    )]
    Fetch {
        /// The source URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The revision names no branch, tag, ref or known commit of the source.
    #[error("revision `{revision}` not found in {url}; {}", known_hint(.known))]
    RevisionNotFound {
        /// The source URL.
        url: String,
        /// The revision that was asked for.
        revision: String,
        /// Some branch and tag names that do exist (at most ten).
        known: Vec<String>,
    },
    /// The revision is an abbreviated commit id, which is refused because it can become ambiguous.
    #[error(
        "revision `{revision}` for {url} looks like an abbreviated commit id; use the full 40-character commit id, a branch or a tag"
    )]
    ShortCommitId {
        /// The source URL.
        url: String,
        /// The revision that was asked for.
        revision: String,
    },
    /// The revision is not something that can be resolved (empty, or not a valid ref name).
    #[error(
        "revision `{revision}` for {url} is invalid: {reason}; use a branch, a tag, `refs/...` or a full commit id"
    )]
    InvalidRevision {
        /// The source URL.
        url: String,
        /// The revision that was asked for.
        revision: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The revision resolved to an object that is not a commit (for example a tag of a tree).
    #[error(
        "revision `{revision}` in {url} points to a {kind}, not a commit; use a branch, a tag of a commit or a commit id"
    )]
    NotACommit {
        /// The source URL.
        url: String,
        /// The revision that was asked for.
        revision: String,
        /// The kind of object found.
        kind: String,
    },
    /// A local path exists but is not a git repository.
    #[error(
        "{url} is not a git repository: {reason}; point the source at the repository's top directory or its .git directory"
    )]
    NotARepository {
        /// The source URL or path.
        url: String,
        /// What gix reported.
        reason: String,
    },
    /// The URL uses a scheme this crate does not support.
    #[error(
        "unsupported git source {url}: {reason}; use a local path, a file:// URL or an https:// URL"
    )]
    UnsupportedUrl {
        /// The source URL.
        url: String,
        /// Why it is unsupported.
        reason: String,
    },
    /// The destination of a checkout exists and is not an empty directory.
    #[error("cannot check out into {}: it exists and is not an empty directory; remove it or choose another destination", .path.display())]
    DestinationNotEmpty {
        /// The destination directory.
        path: PathBuf,
    },
    /// Another process held the cache lock for too long.
    #[error("timed out waiting for the git cache lock {}; another process is fetching {url}, retry when it is done", .path.display())]
    Locked {
        /// The source URL.
        url: String,
        /// The lock file.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("I/O error at {}: {source}; check permissions and free disk space", .path.display())]
    Io {
        /// The path that was being accessed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The cache (bare mirror) of a source could not be created, opened or updated.
    #[error("git cache for {url} at {} is unusable: {reason}; remove that directory to rebuild it", .path.display())]
    Cache {
        /// The source URL.
        url: String,
        /// The mirror directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Writing the tree of a commit failed or the tree is unsafe to write.
    #[error("cannot check out commit {commit}: {reason}")]
    Checkout {
        /// The commit being checked out.
        commit: String,
        /// What failed.
        reason: String,
    },
}

fn known_hint(known: &[String]) -> String {
    if known.is_empty() {
        "the repository has no branches or tags; push one, or use a full commit id".to_owned()
    } else {
        format!(
            "existing branches and tags include: {}; check the spelling",
            known.join(", ")
        )
    }
}

impl GitError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        GitError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Render an error and all its sources as one line, skipping repeated messages.
pub(crate) fn reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
