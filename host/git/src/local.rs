//! Fetch from a repository on this machine by reading its object database directly.
//!
//! gix's `file://` transport spawns `git upload-pack`; to need no `git` binary, local sources
//! are instead opened with gix and every object reachable from their branches, tags and
//! `HEAD` that the mirror lacks is copied into it as a loose object.
//!
//! Objects are written children first (blobs and subtrees before their tree, tree and parents
//! before their commit, target before its tag). Hence an object present in the mirror always
//! has its whole closure present, even after an interrupted copy, and the walk stops at the
//! first object the mirror already has: repeated fetches only copy what is new.

use std::collections::HashSet;
use std::path::Path;

use gix::ObjectId;
use gix::objs::Write as _;
use gix::objs::{CommitRef, Kind, TagRef, TreeRefIter};

use crate::error::{GitError, reason};
use crate::mirror::AdvertisedRef;

/// Open the source, list its refs and copy what the mirror lacks; returns the listed refs.
pub(crate) fn fetch(
    mirror: &gix::Repository,
    source_path: &Path,
    url: &str,
    extra_refs: &[String],
) -> Result<Vec<AdvertisedRef>, GitError> {
    let source = gix::open_opts(source_path, gix::open::Options::isolated()).map_err(|e| {
        GitError::NotARepository {
            url: url.to_owned(),
            reason: reason(&e),
        }
    })?;
    if source.object_hash() != mirror.object_hash() {
        return Err(GitError::Fetch {
            url: url.to_owned(),
            reason: format!(
                "the repository uses {} object ids, only {} is supported",
                source.object_hash(),
                mirror.object_hash()
            ),
        });
    }
    let fetch_err = |what: &str, e: &(dyn std::error::Error + 'static)| GitError::Fetch {
        url: url.to_owned(),
        reason: format!("{what}: {}", reason(e)),
    };
    let refs = list_refs(&source, extra_refs).map_err(|e| fetch_err("listing refs", &e))?;
    let tips: Vec<ObjectId> = refs.iter().map(|r| r.target).collect();
    copy_closure(&source, mirror, &tips).map_err(|e| GitError::Fetch {
        url: url.to_owned(),
        reason: format!("copying objects: {e}"),
    })?;
    Ok(refs)
}

/// `HEAD`, all branches and tags, and the exact `extra_refs` that exist.
fn list_refs(
    source: &gix::Repository,
    extra_refs: &[String],
) -> Result<Vec<AdvertisedRef>, gix::Error> {
    let mut out = Vec::new();
    if let Some(head) = source.try_find_reference("HEAD")?
        && let Some(r) = advertise(head)
    {
        out.push(r);
    }
    let platform = source.references()?;
    for prefix in ["refs/heads/", "refs/tags/"] {
        for reference in platform.prefixed(prefix)? {
            let Ok(reference) = reference else { continue };
            if let Some(r) = advertise(reference) {
                out.push(r);
            }
        }
    }
    for name in extra_refs {
        if out.iter().any(|r| &r.name == name) {
            continue;
        }
        if let Ok(Some(reference)) = source.try_find_reference(name.as_str())
            && reference.name().as_bstr() == name.as_bytes()
            && let Some(r) = advertise(reference)
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// Describe `reference` as a remote would; `None` for unborn or broken refs, which are skipped.
fn advertise(mut reference: gix::Reference<'_>) -> Option<AdvertisedRef> {
    let name = reference.name().as_bstr().to_string();
    let target = reference.follow_to_object().ok()?.detach();
    let peeled = reference.peel_to_id().ok()?.detach();
    Some(AdvertisedRef {
        name,
        target,
        peeled: (peeled != target).then_some(peeled),
    })
}

/// Copy every object reachable from `tips` that `mirror` lacks, children before parents.
///
/// An iterative post-order walk: an object is written only once all its children are written
/// (or were already present), so the mirror never holds an object whose closure is incomplete.
fn copy_closure(
    source: &gix::Repository,
    mirror: &gix::Repository,
    tips: &[ObjectId],
) -> Result<(), String> {
    let hash = source.object_hash();
    let mut expanded: HashSet<ObjectId> = HashSet::new();
    let mut done: HashSet<ObjectId> = HashSet::new();
    // (id, write): `false` expands the object (pushing its children), `true` writes it.
    let mut stack: Vec<(ObjectId, bool)> = tips.iter().map(|id| (*id, false)).collect();
    while let Some((id, write)) = stack.pop() {
        if write {
            write_object(mirror, id, &find(source, id)?)?;
            done.insert(id);
            continue;
        }
        if done.contains(&id) || expanded.contains(&id) {
            continue;
        }
        if mirror.has_object(id) {
            done.insert(id);
            continue;
        }
        let object = find(source, id)?;
        let pending: Vec<ObjectId> = children(object.kind, &object.data, hash)
            .map_err(|e| format!("decoding {id}: {}", reason(&e)))?
            .into_iter()
            .filter(|child| !done.contains(child))
            .collect();
        if pending.is_empty() {
            write_object(mirror, id, &object)?;
            done.insert(id);
            continue;
        }
        expanded.insert(id);
        stack.push((id, true));
        stack.extend(pending.into_iter().map(|child| (child, false)));
    }
    Ok(())
}

fn write_object(
    mirror: &gix::Repository,
    id: ObjectId,
    object: &gix::Object<'_>,
) -> Result<(), String> {
    let written = mirror
        .objects
        .write_buf(object.kind, &object.data)
        .map_err(|e| format!("writing {id}: {}", reason(&e)))?;
    if written != id {
        return Err(format!("object {id} hashed to {written} when copied"));
    }
    Ok(())
}

fn find(source: &gix::Repository, id: ObjectId) -> Result<gix::Object<'_>, String> {
    source
        .try_find_object(id)
        .map_err(|e| format!("reading {id}: {}", reason(&e)))?
        .ok_or_else(|| format!("object {id} is missing from the source repository"))
}

/// The objects `data` refers to; submodule commits (gitlinks) are not part of the closure.
fn children(kind: Kind, data: &[u8], hash: gix::hash::Kind) -> Result<Vec<ObjectId>, gix::Error> {
    Ok(match kind {
        Kind::Blob => Vec::new(),
        Kind::Commit => {
            let commit = CommitRef::from_bytes(data, hash)?;
            let mut ids = vec![commit.tree()];
            ids.extend(commit.parents());
            ids
        }
        Kind::Tag => vec![TagRef::from_bytes(data, hash)?.target()],
        Kind::Tree => {
            let mut ids = Vec::new();
            for entry in TreeRefIter::from_bytes(data, hash) {
                let entry = entry?;
                if !entry.mode.is_commit() {
                    ids.push(entry.oid.to_owned());
                }
            }
            ids
        }
    })
}
