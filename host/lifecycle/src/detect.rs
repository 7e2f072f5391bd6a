//! The detect phase: run `detect` over ordered groups; the first group whose passing
//! buildpacks yield a satisfiable build plan wins.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::plan::{self, Candidate, PlanOption, Require};
use super::{BuildInputs, OrderEntry, base_context, guest_env, seed};
use crate::buildpack::Buildpack;
use kiln_runtime::bindings::types;
use kiln_runtime::guest_text;
use kiln_runtime::{Grants, Phase, Runtime};

/// What one buildpack's detect said.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Passed with these plan options.
    Pass(Vec<PlanOption>),
    /// Does not apply.
    Fail(String),
    /// Returned an error or crashed.
    Error(String),
}

/// The chosen group and plan.
#[derive(Debug, Clone)]
pub struct DetectOutput {
    /// Indices into the buildpack list, in group order.
    pub group: Vec<usize>,
    /// Resolved plan entries (providers are buildpack indices).
    pub plan: Vec<plan::Entry>,
}

/// No group passed.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// Every group failed and no buildpack errored (exit 20).
    #[error("no buildpack group passed detection{0}")]
    NoMatch(String),
    /// Every group failed and at least one buildpack errored (exit 21).
    #[error("detection failed with buildpack errors{0}")]
    Errored(String),
}

/// Run detection over `order` (groups of entries indexing `buildpacks`).
pub fn detect(
    runtime: &Runtime,
    buildpacks: &[Buildpack],
    order: &[Vec<OrderEntry>],
    inputs: &BuildInputs,
    mut on_verdict: impl FnMut(&Buildpack, &Verdict),
) -> Result<DetectOutput, DetectError> {
    let mut verdicts: BTreeMap<usize, Verdict> = BTreeMap::new();
    let mut report = String::new();
    let mut errored = false;
    for group in order {
        let mut candidates = Vec::new();
        let mut group_ok = true;
        for entry in group {
            let bp = &buildpacks[entry.buildpack];
            let verdict = verdicts
                .entry(entry.buildpack)
                .or_insert_with(|| {
                    let v = run_one(runtime, bp, inputs);
                    on_verdict(bp, &v);
                    v
                })
                .clone();
            match verdict {
                Verdict::Pass(options) => candidates.push(Candidate {
                    index: entry.buildpack,
                    optional: entry.optional,
                    options,
                }),
                Verdict::Fail(reason) => {
                    let _ = write!(report, "\n  - {}: {reason}", bp.descriptor.id);
                    if !entry.optional {
                        group_ok = false;
                    }
                }
                Verdict::Error(reason) => {
                    errored = true;
                    let _ = write!(report, "\n  - {}: error: {reason}", bp.descriptor.id);
                    if !entry.optional {
                        group_ok = false;
                    }
                }
            }
        }
        if !group_ok || candidates.is_empty() {
            continue;
        }
        if let Some(res) = plan::resolve(&candidates) {
            return Ok(DetectOutput {
                group: res.members,
                plan: res.entries,
            });
        }
        let _ = write!(
            report,
            "\n  - group [{}]: the build plan cannot be satisfied (a require without an earlier provide, or a provide nobody requires)",
            group
                .iter()
                .map(|e| buildpacks[e.buildpack].descriptor.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if errored {
        Err(DetectError::Errored(report))
    } else {
        Err(DetectError::NoMatch(report))
    }
}

fn run_one(runtime: &Runtime, bp: &Buildpack, inputs: &BuildInputs) -> Verdict {
    let ctx = base_context(bp, inputs);
    let mut grants = Grants {
        env: guest_env(bp, inputs, None, &inputs.build_image_env).pairs(),
        seed: seed(bp, Phase::Detect, inputs),
        epoch_seconds: inputs.epoch_seconds,
        ..Grants::default()
    };
    grants.read_only(&inputs.app_dir, kiln_spec::APP_DIR);
    grants.read_only(&inputs.platform_dir, kiln_spec::PLATFORM_DIR);
    match runtime.detect(&bp.component, &ctx, &grants) {
        Ok(Ok(types::DetectOutcome::Pass(alternatives))) => match options(alternatives) {
            Ok(opts) => Verdict::Pass(opts),
            Err(reason) => Verdict::Error(reason),
        },
        Ok(Ok(types::DetectOutcome::Fail(reason))) => Verdict::Fail(if reason.is_empty() {
            "does not apply".into()
        } else {
            guest_text::capped(reason, guest_text::MAX_MESSAGE_BYTES)
        }),
        Ok(Err(e)) => Verdict::Error(guest_text::error_message(e.message, &e.detail)),
        Err(e) => Verdict::Error(e.to_string()),
    }
}

/// Most build plan alternatives one buildpack may return (resolution is exponential in them).
pub const MAX_PLAN_ALTERNATIVES: usize = 64;

fn options(alternatives: Vec<types::PlanAlternative>) -> Result<Vec<PlanOption>, String> {
    if alternatives.len() > MAX_PLAN_ALTERNATIVES {
        return Err(format!(
            "returned {} build plan alternatives; at most {MAX_PLAN_ALTERNATIVES} are allowed",
            alternatives.len()
        ));
    }
    let mut out = Vec::new();
    for alt in alternatives {
        let mut requires = Vec::new();
        for r in alt.requires {
            if r.name.is_empty() {
                return Err("a build plan require has an empty name".into());
            }
            let metadata: serde_json::Value = serde_json::from_str(&r.metadata)
                .map_err(|e| format!("metadata of require {:?} is not JSON: {e}", r.name))?;
            if !metadata.is_object() {
                return Err(format!(
                    "metadata of require {:?} must be a JSON object",
                    r.name
                ));
            }
            requires.push(Require {
                name: r.name,
                metadata,
            });
        }
        let provides: Vec<String> = alt.provides.into_iter().map(|p| p.name).collect();
        if provides.iter().any(String::is_empty) {
            return Err("a build plan provide has an empty name".into());
        }
        out.push(PlanOption { provides, requires });
    }
    if out.is_empty() {
        out.push(PlanOption::default());
    }
    Ok(out)
}

/// The `ctx` value for a given buildpack (shared with build).
pub fn context(bp: &Buildpack, inputs: &BuildInputs) -> types::Context {
    base_context(bp, inputs)
}

#[cfg(test)]
mod tests;
