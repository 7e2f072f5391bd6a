//! The decision for one image: compare the freshly resolved inputs with those recorded on
//! the image at the spec's tag, and name the reasons as kpack does.
//!
//! Only a changed run image (`STACK`, nothing else) is a rebase; any other reason is a full
//! build; no reason is nothing to do.

use serde::{Deserialize, Serialize};

use crate::inputs::BuildInputs;

/// Why an image is rebuilt or rebased (kpack's build reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Reason {
    /// The spec (tag, source, env, builder, cache) changed, or the image at the tag records
    /// no inputs Kiln can read.
    Config,
    /// The source resolved to another commit (or another blob/directory digest).
    Commit,
    /// A buildpack resolved to another digest, or another Kiln version (lifecycle) runs.
    Buildpack,
    /// The run image (or the build image) resolved to another digest.
    Stack,
    /// `kiln image trigger` asked for a build.
    Trigger,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Config => "CONFIG",
            Self::Commit => "COMMIT",
            Self::Buildpack => "BUILDPACK",
            Self::Stack => "STACK",
            Self::Trigger => "TRIGGER",
        })
    }
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The image is up to date.
    Nothing,
    /// Put the app layers on the new run image (manifest and config only).
    Rebase,
    /// Build from source, with the cache.
    Build,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Nothing => "up to date",
            Self::Rebase => "rebase",
            Self::Build => "build",
        })
    }
}

/// What the image at the spec's tag says about how it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// There is no image at the tag.
    Missing,
    /// There is an image, without an inputs label.
    Unlabelled,
    /// The inputs label's value.
    Label(String),
}

/// The decision, its reasons (sorted, each once) and one line per changed input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// Why.
    pub reasons: Vec<Reason>,
    /// What changed, one line each (`source: 1a2b3c4 -> 5d6e7f8`).
    pub changes: Vec<String>,
}

/// Decide for `desired` inputs against the `current` image; `triggered` adds `TRIGGER`.
pub fn decide(desired: &BuildInputs, current: &Current, triggered: bool) -> Decision {
    let mut changes = Vec::new();
    let mut reasons = Vec::new();
    let mut rebuild_stack = false;
    let mut note = |reason: Reason, line: String, reasons: &mut Vec<Reason>| {
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
        changes.push(line);
    };
    match current {
        Current::Missing => note(
            Reason::Config,
            "no image at the tag yet".into(),
            &mut reasons,
        ),
        Current::Unlabelled => note(
            Reason::Config,
            format!(
                "the image at the tag has no {} label (it was not built by kiln image reconcile)",
                crate::INPUTS_LABEL
            ),
            &mut reasons,
        ),
        Current::Label(text) => match BuildInputs::from_label(text) {
            Err(why) => note(
                Reason::Config,
                format!(
                    "the image's {} label cannot be read ({why})",
                    crate::INPUTS_LABEL
                ),
                &mut reasons,
            ),
            Ok(old) => {
                if old.spec_hash != desired.spec_hash {
                    note(Reason::Config, "the spec changed".into(), &mut reasons);
                }
                if old.source.id != desired.source.id {
                    note(
                        Reason::Commit,
                        format!(
                            "source: {} -> {}",
                            short(&old.source.id),
                            short(&desired.source.id)
                        ),
                        &mut reasons,
                    );
                }
                let digests = |i: &BuildInputs| {
                    i.buildpacks
                        .iter()
                        .map(|b| (b.reference.clone(), b.digest.clone()))
                        .collect::<Vec<_>>()
                };
                if digests(&old) != digests(desired) {
                    for (i, bp) in desired.buildpacks.iter().enumerate() {
                        let before = old.buildpacks.get(i).map_or("none", |b| b.digest.as_str());
                        if before != bp.digest {
                            note(
                                Reason::Buildpack,
                                format!(
                                    "buildpack {}: {} -> {}",
                                    bp.reference,
                                    short(before),
                                    short(&bp.digest)
                                ),
                                &mut reasons,
                            );
                        }
                    }
                    if old.buildpacks.len() > desired.buildpacks.len() {
                        note(Reason::Buildpack, "fewer buildpacks".into(), &mut reasons);
                    }
                }
                if old.kiln != desired.kiln {
                    note(
                        Reason::Buildpack,
                        format!("lifecycle: kiln {} -> {}", old.kiln, desired.kiln),
                        &mut reasons,
                    );
                }
                if old.build_image != desired.build_image {
                    rebuild_stack = true;
                    note(
                        Reason::Stack,
                        format!(
                            "build image: {} -> {}",
                            old.build_image
                                .as_ref()
                                .map_or("none", |i| short(&i.digest)),
                            desired
                                .build_image
                                .as_ref()
                                .map_or("none", |i| short(&i.digest))
                        ),
                        &mut reasons,
                    );
                }
                if old.run_image.digest != desired.run_image.digest {
                    note(
                        Reason::Stack,
                        format!(
                            "run image: {} -> {}",
                            short(&old.run_image.digest),
                            short(&desired.run_image.digest)
                        ),
                        &mut reasons,
                    );
                }
            }
        },
    }
    if triggered {
        note(
            Reason::Trigger,
            "kiln image trigger asked for a build".into(),
            &mut reasons,
        );
    }
    reasons.sort();
    let action = match reasons.as_slice() {
        [] => Action::Nothing,
        [Reason::Stack] if !rebuild_stack => Action::Rebase,
        _ => Action::Build,
    };
    Decision {
        action,
        reasons,
        changes,
    }
}

/// The first 12 hex digits of a digest or commit id.
fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests;
