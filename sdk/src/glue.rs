//! Conversions between the SDK's types and the WIT records. Used by [`crate::export_buildpack!`].

use std::path::PathBuf;

use crate::bindings::kiln::buildpack::types as wit;
use crate::context::{PlanEntry, RestoredLayer};
use crate::error::Report;
use crate::layer::{EnvAction, EnvScope};
use crate::platform::{Arch, ExecEnv, Os, Target};
use crate::{BuildContext, BuildResult, Buildpack, BuildpackId, DetectContext, DetectResult};

fn wit_error(err: &(dyn std::error::Error + 'static)) -> wit::Error {
    let report = Report::new(err);
    wit::Error {
        message: report.message,
        detail: report.detail,
    }
}

/// Give a buildpack's error to its `on_error` hook, then to the host.
fn failed<B: Buildpack>(buildpack: &B, err: &B::Error) -> wit::Error {
    buildpack.on_error(err);
    wit_error(err)
}

fn opt(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn target_from_wit(t: wit::Target) -> Target {
    Target {
        os: Os::parse(&t.os),
        arch: Arch::parse(&t.arch),
        variant: opt(t.variant),
        distro_name: opt(t.distro_name),
        distro_version: opt(t.distro_version),
    }
}

fn target_to_wit(t: Target) -> wit::Target {
    wit::Target {
        os: t.os.as_str().to_owned(),
        arch: t.arch.map(|a| a.as_str().to_owned()).unwrap_or_default(),
        variant: t.variant.unwrap_or_default(),
        distro_name: t.distro_name.unwrap_or_default(),
        distro_version: t.distro_version.unwrap_or_default(),
    }
}

fn detect_context(c: wit::Context) -> Result<DetectContext, wit::Error> {
    Ok(DetectContext {
        buildpack_id: BuildpackId::new(c.buildpack_id).map_err(|e| wit_error(&e))?,
        buildpack_version: c.buildpack_version,
        app_dir: PathBuf::from(c.app_dir),
        platform_dir: PathBuf::from(c.platform_dir),
        platform_env: c
            .platform_env
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect(),
        target: target_from_wit(c.target),
        exec_env: ExecEnv::parse(&c.exec_env),
    })
}

fn build_context(c: wit::BuildContext) -> Result<BuildContext, wit::Error> {
    Ok(BuildContext {
        detect: detect_context(c.base)?,
        layers_dir: PathBuf::from(c.layers_dir),
        plan: c
            .plan
            .into_iter()
            .map(|e| PlanEntry {
                name: e.name,
                metadata: serde_json::from_str(&e.metadata)
                    .unwrap_or(serde_json::Value::Object(serde_json::Map::new())),
            })
            .collect(),
        restored: c
            .restored_layers
            .into_iter()
            .map(|l| {
                (
                    l.name,
                    RestoredLayer {
                        metadata: serde_json::from_str(&l.metadata)
                            .unwrap_or(serde_json::Value::Null),
                        has_contents: l.has_contents,
                    },
                )
            })
            .collect(),
        build_layers: c.build_layers.into_iter().map(PathBuf::from).collect(),
    })
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
        targets: info.targets.into_iter().map(target_to_wit).collect(),
        clear_env: info.clear_env,
        sbom_formats: Vec::new(),
    }
}

/// `detect` export.
pub fn detect<B: Buildpack>(ctx: wit::Context) -> Result<wit::DetectOutcome, wit::Error> {
    let buildpack = B::default();
    let result = buildpack
        .detect(detect_context(ctx)?)
        .map_err(|e| failed(&buildpack, &e))?;
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
    let buildpack = B::default();
    let result = buildpack
        .build(build_context(ctx)?)
        .map_err(|e| failed(&buildpack, &e))?;
    let result = result.build().map_err(|e| wit_error(&e))?;
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
        slices: result.slices,
        unmet: result.unmet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Level;
    use crate::testing::FakeHost;
    use crate::{BuildpackInfo, Error, buildpack_id};

    #[derive(Default)]
    struct Failing;

    impl Buildpack for Failing {
        type Error = Error;

        fn info() -> BuildpackInfo {
            BuildpackInfo::new(buildpack_id!("test/failing"), "0.1.0")
        }

        fn detect(&self, ctx: DetectContext) -> Result<DetectResult, Error> {
            assert_eq!(ctx.target.os, Os::Linux);
            assert_eq!(ctx.target.arch, Some(Arch::Arm64));
            assert_eq!(ctx.exec_env, ExecEnv::Test);
            let path = ctx.app_dir.join("missing");
            std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
            Ok(DetectResult::pass())
        }

        fn build(&self, _: BuildContext) -> Result<BuildResult, Error> {
            Ok(BuildResult::new())
        }
    }

    fn wit_context(app: &str) -> wit::Context {
        wit::Context {
            buildpack_id: "test/failing".into(),
            buildpack_version: "0.1.0".into(),
            app_dir: app.into(),
            platform_dir: "/platform".into(),
            platform_env: Vec::new(),
            target: wit::Target {
                os: String::new(),
                arch: "arm64".into(),
                variant: String::new(),
                distro_name: String::new(),
                distro_version: String::new(),
            },
            exec_env: "test".into(),
        }
    }

    #[test]
    fn errors_go_to_on_error_and_reach_the_host_with_their_causes() {
        let dir = tempfile::tempdir().unwrap();
        let host = FakeHost::new(dir.path().join("downloads"));
        let app = dir.path().display().to_string();
        let err = host
            .run(|| detect::<Failing>(wit_context(&app)))
            .unwrap_err();
        assert_eq!(err.message, format!("could not read {app}/missing"));
        assert!(err.detail.contains("No such file"), "{}", err.detail);
        let logged = host.logs_at(Level::Error);
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert!(logged[0].starts_with("could not read") && logged[0].contains("No such file"));
    }

    #[test]
    fn an_invalid_buildpack_id_from_the_host_is_an_error() {
        let mut ctx = wit_context("/workspace");
        ctx.buildpack_id = "bad id".into();
        let err = detect::<Failing>(ctx).unwrap_err();
        assert!(err.message.contains("bad id"), "{}", err.message);
    }

    #[test]
    fn targets_go_to_the_host_with_linux_spelled_out() {
        let info = describe::<Failing>();
        assert!(info.targets.is_empty());
        let t = target_to_wit(Target::linux(Arch::Amd64).distro("debian", "12"));
        assert_eq!((t.os.as_str(), t.arch.as_str()), ("linux", "amd64"));
        assert_eq!((t.distro_name.as_str(), t.variant.as_str()), ("debian", ""));
    }
}
