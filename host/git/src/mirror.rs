//! The bare mirror kept per source under the cache directory, and fetching into it.
//!
//! Layout: `<cache_dir>/<sha256 of the normalised URL>/` is a bare repository and
//! `<cache_dir>/<same hash>.lock` its lock file. Fetching (and creating the mirror) happens
//! under the exclusive lock; checkouts read under the shared lock.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gix::ObjectId;
use gix::refs::transaction::{Change, PreviousValue, RefEdit, RefLog};
use sha2::{Digest, Sha256};

use crate::error::{GitError, reason};
use crate::lock::{Access, Lock};
use crate::source::{Location, Source};
use crate::{http, local};

/// The refspecs that make the mirror a mirror of the source's branches and tags.
pub(crate) const MIRROR_REFSPECS: [&str; 2] =
    ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// A ref as the source advertised it during the last fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdvertisedRef {
    /// The full name, like `refs/heads/main` or `HEAD`.
    pub(crate) name: String,
    /// The object the ref points to (an annotated tag for annotated tags).
    pub(crate) target: ObjectId,
    /// The object `target` peels to, if it is a tag.
    pub(crate) peeled: Option<ObjectId>,
}

impl AdvertisedRef {
    /// The object after peeling tags.
    pub(crate) fn object(&self) -> ObjectId {
        self.peeled.unwrap_or(self.target)
    }
}

/// An open mirror, held under its lock.
pub(crate) struct Mirror {
    pub(crate) repo: gix::Repository,
    path: PathBuf,
    _lock: Lock,
}

impl Mirror {
    /// Open the mirror of `source` for reading, or `None` if it was never created.
    pub(crate) fn open_existing(
        cache_dir: &Path,
        source: &Source,
        timeout: Duration,
    ) -> Result<Option<Self>, GitError> {
        let (path, lock_path) = paths(cache_dir, source)?;
        let lock = Lock::acquire(&lock_path, Access::Shared, timeout, &source.display)?;
        if !path.exists() {
            return Ok(None);
        }
        let repo = open_repo(&path).map_err(|e| cache_err(source, &path, &e))?;
        Ok(Some(Mirror {
            repo,
            path,
            _lock: lock,
        }))
    }

    /// Open the mirror of `source` for fetching, creating it if needed.
    pub(crate) fn open_for_fetch(
        cache_dir: &Path,
        source: &Source,
        timeout: Duration,
    ) -> Result<Self, GitError> {
        let (path, lock_path) = paths(cache_dir, source)?;
        let lock = Lock::acquire(&lock_path, Access::Exclusive, timeout, &source.display)?;
        let repo = match open_repo(&path) {
            Ok(repo) => repo,
            Err(_) => create(&path).map_err(|e| cache_err(source, &path, &*e))?,
        };
        Ok(Mirror {
            repo,
            path,
            _lock: lock,
        })
    }

    /// Ask the source for its refs and fetch what is new; `extra_refs` are exact ref names
    /// outside `refs/heads` and `refs/tags` to fetch as well.
    ///
    /// Branches and tags the source no longer has are removed from the mirror.
    pub(crate) fn fetch(
        &self,
        source: &Source,
        extra_refs: &[String],
    ) -> Result<Vec<AdvertisedRef>, GitError> {
        let refs = match &source.location {
            Location::Local(path) => {
                let refs = local::fetch(&self.repo, path, &source.display, extra_refs)?;
                self.update_refs(source, &refs, extra_refs)?;
                refs
            }
            Location::Http(url) => {
                let specs: Vec<String> = extra_refs.iter().map(|r| format!("+{r}:{r}")).collect();
                http::fetch(&self.repo, url, &source.display, &specs)?
            }
        };
        self.prune(source, &refs)?;
        Ok(refs)
    }

    /// Fetch the single commit `id` (for commits no branch or tag reaches); only over HTTP,
    /// as a local source's objects are all reachable through the refs already copied.
    pub(crate) fn fetch_commit(&self, source: &Source, id: ObjectId) -> Result<(), GitError> {
        if let Location::Http(url) = &source.location {
            http::fetch(&self.repo, url, &source.display, &[id.to_string()])?;
        }
        Ok(())
    }

    /// Whether the mirror has the object `id`.
    pub(crate) fn has(&self, id: ObjectId) -> bool {
        self.repo.has_object(id)
    }

    /// Point the mirror's branches, tags and `extra_refs` at what a local source advertised.
    fn update_refs(
        &self,
        source: &Source,
        refs: &[AdvertisedRef],
        extra_refs: &[String],
    ) -> Result<(), GitError> {
        let edits: Vec<RefEdit> = refs
            .iter()
            .filter(|r| is_mirrored(&r.name) || extra_refs.contains(&r.name))
            .filter_map(|r| {
                let name = gix::refs::FullName::try_from(r.name.as_str()).ok()?;
                Some(RefEdit {
                    change: Change::Update {
                        log: gix::refs::transaction::LogChange {
                            mode: RefLog::AndReference,
                            force_create_reflog: false,
                            message: "kiln: fetch".into(),
                        },
                        expected: PreviousValue::Any,
                        new: gix::refs::Target::Object(r.target),
                    },
                    name,
                    deref: false,
                })
            })
            .collect();
        self.edit(source, edits)
    }

    /// Delete mirrored branches and tags that `refs` no longer lists.
    fn prune(&self, source: &Source, refs: &[AdvertisedRef]) -> Result<(), GitError> {
        let keep: HashSet<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        let mut edits = Vec::new();
        let platform = self
            .repo
            .references()
            .map_err(|e| cache_err(source, &self.path, &e))?;
        for prefix in ["refs/heads/", "refs/tags/"] {
            let iter = platform
                .prefixed(prefix)
                .map_err(|e| cache_err(source, &self.path, &e))?;
            for reference in iter.flatten() {
                let name = reference.name().to_owned();
                if !keep.contains(name.as_bstr().to_string().as_str()) {
                    edits.push(RefEdit {
                        change: Change::Delete {
                            expected: PreviousValue::Any,
                            log: RefLog::AndReference,
                        },
                        name,
                        deref: false,
                    });
                }
            }
        }
        self.edit(source, edits)
    }

    fn edit(&self, source: &Source, edits: Vec<RefEdit>) -> Result<(), GitError> {
        if edits.is_empty() {
            return Ok(());
        }
        self.repo
            .edit_references_as(edits, None)
            .map(|_| ())
            .map_err(|e| cache_err(source, &self.path, &e))
    }
}

/// Whether `name` is kept in sync by [`MIRROR_REFSPECS`].
pub(crate) fn is_mirrored(name: &str) -> bool {
    name.starts_with("refs/heads/") || name.starts_with("refs/tags/")
}

/// The mirror directory and lock file of `source`; creates the cache directory.
fn paths(cache_dir: &Path, source: &Source) -> Result<(PathBuf, PathBuf), GitError> {
    std::fs::create_dir_all(cache_dir).map_err(|e| GitError::io(cache_dir, e))?;
    let digest = Sha256::digest(source.key.as_bytes());
    let name = hex::encode(digest);
    Ok((
        cache_dir.join(&name),
        cache_dir.join(format!("{name}.lock")),
    ))
}

/// Options that read no global, user or environment configuration.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated().config_overrides([
        "core.logAllRefUpdates=false",
        "user.name=kiln",
        "user.email=kiln@localhost",
    ])
}

fn open_repo(path: &Path) -> Result<gix::Repository, gix::Error> {
    gix::open_opts(path, open_options())
}

/// Create a fresh bare mirror at `path`, replacing a broken one (the caller holds the lock).
fn create(path: &Path) -> Result<gix::Repository, Box<dyn std::error::Error + Send + Sync>> {
    let staging = path.with_extension("init");
    for dir in [path, staging.as_path()] {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
    }
    gix::ThreadSafeRepository::init_opts(
        &staging,
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        open_options(),
    )?;
    std::fs::rename(&staging, path)?;
    Ok(open_repo(path)?)
}

fn cache_err(
    source: &Source,
    path: &Path,
    err: &(dyn std::error::Error + Send + Sync + 'static),
) -> GitError {
    GitError::Cache {
        url: source.display.clone(),
        path: path.to_owned(),
        reason: reason(err),
    }
}
