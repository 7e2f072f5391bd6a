//! `NAME:TAG` and `docker-archive:FILE[:NAME:TAG]`.

use super::*;

// ---------------------------------------------------------------------------
// NAME:TAG
// ---------------------------------------------------------------------------

/// An image name with an explicit tag, as in a docker-archive's `RepoTags`:
/// `[HOST[:PORT]/]PATH[/PATH…]:TAG`, e.g. `app:v1` or `localhost:5000/team/app:v1`.
///
/// The grammar is the distribution reference grammar without digests: path
/// components are lowercase letters and digits separated by `.`, `_`, `__`
/// or dashes; the first component is a registry host when there are at
/// least two and it contains `.` or `:`, is `localhost`, or has an uppercase
/// letter. Names are kept as written (no `docker.io/library/` added); see
/// [`RepoTag::normalized`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoTag {
    name: String,
    tag: String,
    /// The fully qualified form (registry, repository and tag).
    normalized: String,
}

impl RepoTag {
    /// Parses `NAME:TAG`; the tag is required.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: String| ImageError::InvalidTag {
            tag: input.to_owned(),
            reason,
        };
        if input.contains('@') {
            return Err(bad(
                "digest references (NAME@sha256:…) are not supported; use NAME:TAG".into(),
            ));
        }
        let Some((name, tag)) = split_name_tag(input) else {
            return Err(bad("missing :TAG (write NAME:TAG, e.g. app:latest)".into()));
        };
        check_name(name).map_err(|r| bad(format!("invalid image name {name:?}: {r}")))?;
        let reference =
            Reference::try_from(input).map_err(|r| bad(format!("invalid tag {tag:?}: {r}")))?;
        Ok(Self {
            name: name.to_owned(),
            tag: tag.to_owned(),
            normalized: reference.whole(),
        })
    }

    /// The name, e.g. `localhost:5000/app`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag, e.g. `v1`.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The fully qualified form, as skopeo and podman write it:
    /// `app:v1` → `docker.io/library/app:v1`, `team/app:v1` → `docker.io/team/app:v1`.
    pub fn normalized(&self) -> String {
        self.normalized.clone()
    }
}

impl fmt::Display for RepoTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

impl FromStr for RepoTag {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Splits `NAME:TAG` at the last `:` when it comes after the last `/`.
fn split_name_tag(s: &str) -> Option<(&str, &str)> {
    let colon = s.rfind(':')?;
    match s.rfind('/') {
        Some(slash) if slash > colon => None,
        _ => Some((&s[..colon], &s[colon + 1..])),
    }
}

/// Checks an image name (no tag) against the distribution reference grammar (the one
/// registry references are parsed with).
fn check_name(name: &str) -> Result<(), String> {
    if name.contains(['@', ':']) && !name.contains('/') {
        return Err("a name has no tag or digest".into());
    }
    // Parsed with a tag of its own, so a `:` in `name` cannot pass as one.
    match Reference::try_from(format!("{name}:{DEFAULT_TAG}")) {
        Ok(r) if r.tag() == Some(DEFAULT_TAG) && r.digest().is_none() => Ok(()),
        Ok(_) => Err("a name has no tag or digest".into()),
        Err(e) => Err(e.to_string()),
    }
}

// ---------------------------------------------------------------------------
// docker-archive:FILE[:NAME:TAG]
// ---------------------------------------------------------------------------

/// A `docker-archive:FILE[:NAME:TAG]` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerArchiveRef {
    /// The archive file.
    pub file: PathBuf,
    /// The image name and tag: for output, the archive's `RepoTags`; for input,
    /// which image of the archive to read.
    pub repo_tag: Option<RepoTag>,
}

impl DockerArchiveRef {
    /// Parses `docker-archive:FILE[:NAME:TAG]`.
    ///
    /// The rule, for FILE paths that contain `:` (a FILE without `:` is simply
    /// everything after the prefix, with an optional `:NAME:TAG`):
    ///
    /// 1. FILE ends at the **first** `:` whose remainder is a valid `NAME:TAG`
    ///    ([`RepoTag`] grammar; NAME may include a registry host and port, as
    ///    in `out.tar:localhost:5000/team/app:v1`).
    /// 2. Otherwise, if the remainder after the first `:` has the shape
    ///    `NAME:TAG` but is invalid (e.g. `out.tar:App:v1`), that is an error
    ///    naming what is wrong.
    /// 3. Otherwise, if the remainder after any `:` is a valid NAME without a
    ///    tag (`out.tar:app`, `/tmp/x:y/out.tar`), that is an error too: the
    ///    tag is required, and a FILE containing `:` followed by something
    ///    that reads as a name must be given with an explicit `:NAME:TAG`.
    /// 4. Otherwise the whole string is FILE (`/mnt/c:/out.tar`, `a:B.tar`).
    ///
    /// skopeo and podman split at the first `:` and default a missing tag to
    /// `latest`; for every reference they accept whose FILE has no `:` and
    /// whose tag is given, this rule gives the same FILE and NAME:TAG.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |reason: String| ImageError::InvalidImageRef {
            input: input.to_owned(),
            reason,
        };
        let Some(rest) = input.strip_prefix(TRANSPORT) else {
            return Err(bad(format!("expected {TRANSPORT}FILE[:NAME:TAG]")));
        };
        let colons: Vec<usize> = rest.match_indices(':').map(|(i, _)| i).collect();
        for &i in &colons {
            if let Ok(repo_tag) = RepoTag::parse(&rest[i + 1..]) {
                if i == 0 {
                    return Err(bad("FILE is empty".into()));
                }
                return Ok(Self {
                    file: PathBuf::from(&rest[..i]),
                    repo_tag: Some(repo_tag),
                });
            }
        }
        if let Some(&first) = colons.first()
            && split_name_tag(&rest[first + 1..]).is_some()
            && let Err(e) = RepoTag::parse(&rest[first + 1..])
        {
            return Err(bad(match e {
                ImageError::InvalidTag { reason, .. } => reason,
                other => other.to_string(),
            }));
        }
        for &i in &colons {
            let remainder = &rest[i + 1..];
            if check_name(remainder).is_ok() {
                return Err(bad(format!(
                    "{remainder:?} reads as an image name without a tag; write {}:{remainder}:{DEFAULT_TAG} \
                     (a FILE containing ':' needs an explicit :NAME:TAG after it)",
                    &rest[..i]
                )));
            }
        }
        if rest.is_empty() {
            return Err(bad("FILE is empty".into()));
        }
        Ok(Self {
            file: PathBuf::from(rest),
            repo_tag: None,
        })
    }

    /// The `RepoTags` to write: the NAME:TAG, if one was given.
    pub fn repo_tags(&self) -> Vec<String> {
        self.repo_tag.iter().map(ToString::to_string).collect()
    }

    /// The NAME:TAG as a string, if one was given.
    pub fn name_tag(&self) -> Option<String> {
        self.repo_tag.as_ref().map(ToString::to_string)
    }
}

impl FromStr for DockerArchiveRef {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for DockerArchiveRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{TRANSPORT}{}", self.file.display())?;
        if let Some(rt) = &self.repo_tag {
            write!(f, ":{rt}")?;
        }
        Ok(())
    }
}
