//! Resolve git sources (URL + branch, tag or commit) to commits and check out their trees,
//! without the `git` binary.
//!
//! A bare mirror per source URL is kept under a cache directory, so repeated resolves only
//! fetch what is new. Sources are local paths (normal or bare repositories), `file://` URLs,
//! or `http(s)://` URLs (smart HTTP via gix with reqwest and rustls). No hooks run, no
//! filters (smudge, LFS) are applied and credentials are never prompted for.
//!
//! ```no_run
//! # fn main() -> Result<(), kiln_git::GitError> {
//! let sources = kiln_git::GitSources::new("/var/cache/kiln/git");
//! let resolved = sources.resolve("https://github.com/org/app.git", "main")?;
//! sources.checkout(&resolved.url, &resolved.commit, std::path::Path::new("/tmp/app"))?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

mod checkout;
mod error;
mod http;
mod local;
mod lock;
mod mirror;
mod resolve;
mod source;

pub use error::GitError;

use mirror::Mirror;
use resolve::Wanted;
use source::Source;

/// A resolved source: the 40-hex commit id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Resolved {
    /// The commit id, 40 lowercase hex digits.
    pub commit: String,
    /// The source URL, as given to [`GitSources::resolve`].
    pub url: String,
    /// The revision, as given to [`GitSources::resolve`].
    pub revision: String,
}

/// Resolves and checks out git sources; keeps a bare mirror per remote URL under `cache_dir` so repeated resolves only fetch what is new.
#[derive(Debug, Clone)]
pub struct GitSources {
    cache_dir: PathBuf,
    lock_timeout: Duration,
}

impl GitSources {
    /// Use `cache_dir` (created on first use) for the mirrors.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        GitSources {
            cache_dir: cache_dir.into(),
            lock_timeout: Duration::from_mins(10),
        }
    }

    /// How long to wait for another process that is fetching the same source (default 10 minutes).
    #[must_use]
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The directory holding the mirrors.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Resolve `revision` (branch name, tag name, `refs/...`, or a full 40-hex commit id; short ids are refused with a clear message) at `url` to a commit. `url` is a local path (absolute or relative, a normal or bare repository), a `file://` URL, or an `https://`/`http://` URL. Every call asks the remote again (fetches into the mirror), so a new commit on a branch is seen.
    ///
    /// A name is looked up as a branch first, then as a tag; annotated tags are peeled to
    /// their commit. `HEAD` means the remote's default branch. A full commit id that the
    /// mirror already has is returned without contacting the remote (commit ids never move).
    pub fn resolve(&self, url: &str, revision: &str) -> Result<Resolved, GitError> {
        let source = Source::parse(url)?;
        let wanted = Wanted::parse(revision, &source.display)?;
        let mirror = Mirror::open_for_fetch(&self.cache_dir, &source, self.lock_timeout)?;
        let commit = match &wanted {
            Wanted::Commit(id) if mirror.has(*id) => {
                resolve::peel_to_commit(&mirror, &source, revision, *id)?
            }
            _ => {
                let extra: Vec<String> = wanted.extra_ref().into_iter().collect();
                let refs = mirror.fetch(&source, &extra)?;
                resolve::resolve(&mirror, &source, revision, &wanted, &refs)?
            }
        };
        Ok(Resolved {
            commit: commit.to_string(),
            url: url.to_owned(),
            revision: revision.to_owned(),
        })
    }

    /// Write the tree of `commit` (which `resolve` returned) into `dest` (absent or empty; created), exactly: regular files with their content and the executable bit (0755 vs 0644), directories, symlinks as symlinks (their target text unchanged), no `.git` directory, no submodules (a gitlink entry becomes an empty directory and is reported nowhere else). Never writes outside `dest`: refuse tree entries named `..`, `.git`, or containing `/` or NUL, and never write through a symlink the checkout itself created.
    ///
    /// The commit is read from the mirror; if the mirror lacks it, the source is fetched once.
    /// On failure, what was written into `dest` is removed again.
    pub fn checkout(&self, url: &str, commit: &str, dest: &Path) -> Result<(), GitError> {
        let source = Source::parse(url)?;
        let id = match Wanted::parse(commit, &source.display) {
            Ok(Wanted::Commit(id)) => id,
            _ if commit.len() < 40
                && !commit.is_empty()
                && commit.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                return Err(GitError::ShortCommitId {
                    url: source.display,
                    revision: commit.to_owned(),
                });
            }
            _ => {
                return Err(GitError::Checkout {
                    commit: commit.to_owned(),
                    reason:
                        "not a full 40-character commit id; pass the commit that resolve returned"
                            .to_owned(),
                });
            }
        };
        let mirror = match Mirror::open_existing(&self.cache_dir, &source, self.lock_timeout)? {
            Some(mirror) if mirror.has(id) => mirror,
            other => {
                drop(other);
                let mirror = Mirror::open_for_fetch(&self.cache_dir, &source, self.lock_timeout)?;
                if !mirror.has(id) {
                    let _ = mirror.fetch(&source, &[])?;
                    if !mirror.has(id) {
                        let _ = mirror.fetch_commit(&source, id);
                    }
                }
                if !mirror.has(id) {
                    return Err(GitError::Checkout {
                        commit: commit.to_owned(),
                        reason: format!(
                            "{} has no such commit; resolve the revision again",
                            source.display
                        ),
                    });
                }
                mirror
            }
        };
        let commit_id = resolve::peel_to_commit(&mirror, &source, commit, id)?;
        let tree = mirror
            .repo
            .find_commit(commit_id)
            .and_then(|c| c.tree_id().map(gix::Id::detach))
            .map_err(|e| GitError::Checkout {
                commit: commit.to_owned(),
                reason: format!("reading the commit: {}", error::reason(&e)),
            })?;
        checkout::write_tree(&mirror.repo, commit, tree, dest)
    }
}
