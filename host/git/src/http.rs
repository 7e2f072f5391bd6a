//! Fetch from an `http(s)://` remote with gix's blocking smart-HTTP client (reqwest + rustls).
//!
//! Credentials are never asked for: an authentication challenge fails the fetch. Branches and
//! tags are fetched into the mirror's `refs/heads/*` and `refs/tags/*` (forced), so gix only
//! downloads objects the mirror does not have yet.

use std::sync::atomic::AtomicBool;

use gix::ObjectId;
use gix::remote::Direction;

use crate::error::{GitError, reason};
use crate::mirror::{AdvertisedRef, MIRROR_REFSPECS};

/// Fetch branches, tags, `HEAD` and the `extra` refspecs from `url` into `mirror`; returns the
/// refs the remote advertised.
pub(crate) fn fetch(
    mirror: &gix::Repository,
    url: &str,
    display: &str,
    extra: &[String],
) -> Result<Vec<AdvertisedRef>, GitError> {
    let unreachable = |e: gix::Error| GitError::Unreachable {
        url: display.to_owned(),
        reason: reason(&e),
    };
    let remote = mirror
        .remote_at_without_url_rewrite(url)
        .and_then(|r| r.with_refspecs(MIRROR_REFSPECS, Direction::Fetch))
        .map_err(|e| GitError::UnsupportedUrl {
            url: display.to_owned(),
            reason: reason(&e),
        })?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let connection = remote
        .connect(Direction::Fetch)
        .map_err(unreachable)?
        .with_credentials(|action| match action {
            gix::credentials::helper::Action::Get(_) => {
                Err(gix::Error::from_error(gix::error::message(
                    "the remote requires authentication, and kiln never prompts for credentials; \
                     make the repository public or embed a token in the URL",
                )))
            }
            _ => Ok(None),
        });
    let mut extra_refspecs = Vec::with_capacity(extra.len() + 1);
    for spec in std::iter::once("HEAD").chain(extra.iter().map(String::as_str)) {
        let parsed = gix::refspec::parse(spec.into(), gix::refspec::parse::Operation::Fetch)
            .map_err(|e| GitError::InvalidRevision {
                url: display.to_owned(),
                revision: spec.to_owned(),
                reason: reason(&e),
            })?;
        extra_refspecs.push(parsed.to_owned());
    }
    let options = gix::remote::ref_map::Options {
        extra_refspecs,
        ..Default::default()
    };
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, options)
        .map_err(unreachable)?;
    let interrupt = AtomicBool::new(false);
    let outcome = prepare
        .receive(gix::progress::Discard, &interrupt)
        .map_err(|e| GitError::Fetch {
            url: display.to_owned(),
            reason: reason(&e),
        })?;
    Ok(outcome
        .ref_map
        .remote_refs
        .iter()
        .filter_map(convert)
        .collect())
}

fn convert(r: &gix::protocol::handshake::Ref) -> Option<AdvertisedRef> {
    use gix::protocol::handshake::Ref;
    let (name, target, peeled): (_, ObjectId, Option<ObjectId>) = match r {
        Ref::Peeled {
            full_ref_name,
            tag,
            object,
        } => (full_ref_name, *tag, Some(*object)),
        Ref::Direct {
            full_ref_name,
            object,
        } => (full_ref_name, *object, None),
        Ref::Symbolic {
            full_ref_name,
            tag,
            object,
            ..
        } => match tag {
            Some(tag) => (full_ref_name, *tag, Some(*object)),
            None => (full_ref_name, *object, None),
        },
        Ref::Unborn { .. } => return None,
    };
    Some(AdvertisedRef {
        name: name.to_string(),
        target,
        peeled,
    })
}
