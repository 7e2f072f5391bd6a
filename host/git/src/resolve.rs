//! Turn a revision (branch, tag, `refs/...`, `HEAD` or full commit id) into a commit id.

use gix::ObjectId;
use gix::objs::Kind;

use crate::error::{GitError, reason};
use crate::mirror::{AdvertisedRef, Mirror, is_mirrored};
use crate::source::Source;

/// How many existing names a `RevisionNotFound` lists.
const KNOWN_LIMIT: usize = 10;

/// What a revision string asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// A full commit id.
    Commit(ObjectId),
    /// The remote's `HEAD` (its default branch).
    Head,
    /// An exact ref name starting with `refs/`.
    Ref(String),
    /// A branch name, else a tag name.
    Name(String),
}

impl Wanted {
    /// Classify `revision`; refuses empty and malformed names up front.
    pub(crate) fn parse(revision: &str, url: &str) -> Result<Self, GitError> {
        let invalid = |reason: &str| GitError::InvalidRevision {
            url: url.to_owned(),
            revision: revision.to_owned(),
            reason: reason.to_owned(),
        };
        if revision.is_empty() {
            return Err(invalid("it is empty"));
        }
        if revision.len() == 40 && is_hex(revision) {
            return ObjectId::from_hex(revision.as_bytes())
                .map(Wanted::Commit)
                .map_err(|e| invalid(&reason(&e)));
        }
        if revision == "HEAD" {
            return Ok(Wanted::Head);
        }
        let full = if revision.starts_with("refs/") {
            revision.to_owned()
        } else {
            format!("refs/heads/{revision}")
        };
        if let Err(e) = gix::refs::FullName::try_from(full.as_str()) {
            return Err(invalid(&format!("not a valid ref name ({})", reason(&e))));
        }
        Ok(if revision.starts_with("refs/") {
            Wanted::Ref(full)
        } else {
            Wanted::Name(revision.to_owned())
        })
    }

    /// An exact ref outside branches and tags that has to be fetched explicitly.
    pub(crate) fn extra_ref(&self) -> Option<String> {
        match self {
            Wanted::Ref(name) if !is_mirrored(name) => Some(name.clone()),
            _ => None,
        }
    }
}

/// Resolve `wanted` against the refs the source just advertised, fetching a bare commit id
/// if no ref reaches it, and peel the result to a commit present in the mirror.
pub(crate) fn resolve(
    mirror: &Mirror,
    source: &Source,
    revision: &str,
    wanted: &Wanted,
    refs: &[AdvertisedRef],
) -> Result<ObjectId, GitError> {
    let not_found = || GitError::RevisionNotFound {
        url: source.display.clone(),
        revision: revision.to_owned(),
        known: known_names(refs),
    };
    let find = |name: &str| refs.iter().find(|r| r.name == name);
    let id = match wanted {
        Wanted::Commit(id) => {
            if !mirror.has(*id) {
                // Servers may refuse ids that no ref reaches; then it is simply not found.
                if mirror.fetch_commit(source, *id).is_err() || !mirror.has(*id) {
                    return Err(not_found());
                }
            }
            *id
        }
        Wanted::Head => find("HEAD").ok_or_else(not_found)?.object(),
        Wanted::Ref(name) => find(name).ok_or_else(not_found)?.object(),
        Wanted::Name(name) => find(&format!("refs/heads/{name}"))
            .or_else(|| find(&format!("refs/tags/{name}")))
            .map(AdvertisedRef::object)
            .ok_or_else(|| {
                if is_short_id(name) {
                    GitError::ShortCommitId {
                        url: source.display.clone(),
                        revision: revision.to_owned(),
                    }
                } else {
                    not_found()
                }
            })?,
    };
    peel_to_commit(mirror, source, revision, id)
}

/// Follow annotated tags from `id` to a commit that the mirror has.
pub(crate) fn peel_to_commit(
    mirror: &Mirror,
    source: &Source,
    revision: &str,
    mut id: ObjectId,
) -> Result<ObjectId, GitError> {
    for _ in 0..64 {
        let object = mirror
            .repo
            .try_find_object(id)
            .map_err(|e| GitError::Fetch {
                url: source.display.clone(),
                reason: format!("reading {id}: {}", reason(&e)),
            })?
            .ok_or_else(|| GitError::Fetch {
                url: source.display.clone(),
                reason: format!("the remote advertised {id} but did not send it"),
            })?;
        match object.kind {
            Kind::Commit => return Ok(id),
            Kind::Tag => {
                id = object
                    .into_tag()
                    .target_id()
                    .map_err(|e| GitError::Fetch {
                        url: source.display.clone(),
                        reason: format!("decoding tag {id}: {}", reason(&e)),
                    })?
                    .detach();
            }
            kind => {
                return Err(GitError::NotACommit {
                    url: source.display.clone(),
                    revision: revision.to_owned(),
                    kind: kind.to_string(),
                });
            }
        }
    }
    Err(GitError::NotACommit {
        url: source.display.clone(),
        revision: revision.to_owned(),
        kind: "chain of more than 64 tags".to_owned(),
    })
}

/// Up to [`KNOWN_LIMIT`] branch then tag names, plus a count of the rest.
fn known_names(refs: &[AdvertisedRef]) -> Vec<String> {
    let mut names: Vec<String> = ["refs/heads/", "refs/tags/"]
        .iter()
        .flat_map(|prefix| {
            let mut group: Vec<String> = refs
                .iter()
                .filter_map(|r| r.name.strip_prefix(prefix).map(str::to_owned))
                .collect();
            group.sort();
            group
        })
        .collect();
    let total = names.len();
    if total > KNOWN_LIMIT {
        names.truncate(KNOWN_LIMIT);
        names.push(format!("… and {} more", total - KNOWN_LIMIT));
    }
    names
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Abbreviated commit ids as git prints them: 4 to 39 hex digits.
fn is_short_id(s: &str) -> bool {
    (4..40).contains(&s.len()) && is_hex(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_revisions() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert!(matches!(Wanted::parse(sha, "u"), Ok(Wanted::Commit(_))));
        assert_eq!(Wanted::parse("HEAD", "u").unwrap(), Wanted::Head);
        assert_eq!(
            Wanted::parse("refs/heads/x", "u").unwrap(),
            Wanted::Ref("refs/heads/x".into())
        );
        assert_eq!(
            Wanted::parse("main", "u").unwrap(),
            Wanted::Name("main".into())
        );
        assert!(matches!(
            Wanted::parse("", "u"),
            Err(GitError::InvalidRevision { .. })
        ));
        assert!(matches!(
            Wanted::parse("a..b", "u"),
            Err(GitError::InvalidRevision { .. })
        ));
        assert_eq!(
            Wanted::parse("refs/pull/1/head", "u")
                .unwrap()
                .extra_ref()
                .as_deref(),
            Some("refs/pull/1/head")
        );
        assert_eq!(
            Wanted::parse("refs/tags/v1", "u").unwrap().extra_ref(),
            None
        );
    }

    #[test]
    fn short_ids() {
        assert!(is_short_id("abc1234"));
        assert!(!is_short_id("abc"));
        assert!(!is_short_id("main"));
    }
}
