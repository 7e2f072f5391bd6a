//! Conversions between the SDK's types and the WIT records. Used by [`crate::export_buildpack!`].

use crate::bindings::kiln::buildpack::types as wit;
use crate::layer::{EnvAction, EnvScope};
use crate::{BuildContext, BuildResult, Buildpack, DetectContext, DetectResult};

fn to_wit_error(err: &impl std::fmt::Display) -> wit::Error {
    wit::Error {
        message: err.to_string(),
        detail: String::new(),
    }
}

fn sdk_error(err: &crate::Error) -> wit::Error {
    wit::Error {
        message: err.message().to_owned(),
        detail: err.detail().to_owned(),
    }
}

/// `describe` export.
pub fn describe<B: Buildpack>() -> wit::BuildpackInfo {
    let info = B::info();
    wit::BuildpackInfo {
        id: info.id.as_str().to_owned(),
        version: info.version,
        name: info.name,
        homepage: info.homepage,
        description: info.description,
        api: kiln_spec::BUILDPACK_API.to_owned(),
        targets: info
            .targets
            .into_iter()
            .map(|t| wit::Target {
                os: t.os,
                arch: t.arch,
                variant: t.variant,
                distro_name: t.distro_name,
                distro_version: t.distro_version,
            })
            .collect(),
        clear_env: info.clear_env,
        sbom_formats: Vec::new(),
    }
}

/// `detect` export.
pub fn detect<B: Buildpack>(ctx: wit::Context) -> Result<wit::DetectOutcome, wit::Error> {
    let result = B::default()
        .detect(DetectContext::from(ctx))
        .map_err(|e| to_wit_error(&e))?;
    Ok(match result {
        DetectResult::Fail(reason) => wit::DetectOutcome::Fail(reason),
        DetectResult::Pass(plans) => wit::DetectOutcome::Pass(
            plans
                .into_iter()
                .map(|p| wit::PlanAlternative {
                    provides: p
                        .provides
                        .into_iter()
                        .map(|name| wit::PlanProvide { name })
                        .collect(),
                    requires: p
                        .requires
                        .into_iter()
                        .map(|(name, metadata)| wit::PlanRequire {
                            name,
                            metadata: metadata.to_string(),
                        })
                        .collect(),
                })
                .collect(),
        ),
    })
}

/// `build` export.
pub fn build<B: Buildpack>(ctx: wit::BuildContext) -> Result<wit::BuildOutcome, wit::Error> {
    let result = B::default()
        .build(BuildContext::from(ctx))
        .map_err(|e| to_wit_error(&e))?;
    let result = result.build().map_err(|e| sdk_error(&e))?;
    Ok(outcome(result))
}

fn outcome(result: BuildResult) -> wit::BuildOutcome {
    wit::BuildOutcome {
        layers: result
            .layers
            .into_iter()
            .map(|l| wit::Layer {
                name: l.name.as_str().to_owned(),
                launch: l.types.launch,
                build: l.types.build,
                cache: l.types.cache,
                env: l
                    .env
                    .into_iter()
                    .map(|e| wit::EnvModification {
                        name: e.name,
                        action: match e.action {
                            EnvAction::Override => wit::EnvAction::Override,
                            EnvAction::Default => wit::EnvAction::Default,
                            EnvAction::Append => wit::EnvAction::Append,
                            EnvAction::Prepend => wit::EnvAction::Prepend,
                        },
                        value: e.value,
                        delimiter: e.delimiter,
                        scope: match e.scope {
                            EnvScope::All => wit::EnvScope::All,
                            EnvScope::Build => wit::EnvScope::Build,
                            EnvScope::Launch => wit::EnvScope::Launch,
                            EnvScope::Process(t) => wit::EnvScope::Process(t.as_str().to_owned()),
                        },
                    })
                    .collect(),
                metadata: l.metadata.to_string(),
                executables: l.executables,
                sbom: l.sbom,
            })
            .collect(),
        processes: result
            .processes
            .into_iter()
            .map(|p| wit::Process {
                type_: p.process_type.as_str().to_owned(),
                command: p.command,
                args: p.args,
                default: p.default,
                working_dir: p.working_dir,
            })
            .collect(),
        labels: result
            .labels
            .into_iter()
            .map(|(key, value)| wit::KeyValue { key, value })
            .collect(),
        unmet: result.unmet,
    }
}
