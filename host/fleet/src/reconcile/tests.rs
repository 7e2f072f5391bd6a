//! The pool, the history and the failure isolation, with an engine that records calls
//! (the real engine is the `kiln` CLI's, tested end to end in `tests/tests/fleet.rs`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::inputs::{ResolvedImage, ResolvedSource};
use crate::{Reason, Source, SourceKind};

struct Recording {
    current: Mutex<BTreeMap<String, BuildInputs>>,
    run_digest: String,
    fail: Vec<String>,
    calls: Mutex<Vec<String>>,
}

impl Recording {
    fn inputs(&self, spec: &ImageSpec) -> BuildInputs {
        BuildInputs {
            build_image: None,
            buildpacks: Vec::new(),
            kiln: "0.1.0".into(),
            run_image: ResolvedImage {
                digest: self.run_digest.clone(),
                reference: spec.builder.run_image.clone(),
            },
            source: ResolvedSource {
                id: "c1".into(),
                kind: "path".into(),
                revision: None,
                sub_path: None,
                url: spec.name.clone(),
            },
            spec_hash: spec.config_hash(),
        }
    }
}

impl Engine for Recording {
    fn resolve(&self, spec: &ImageSpec) -> Result<BuildInputs, EngineError> {
        Ok(self.inputs(spec))
    }
    fn current(&self, spec: &ImageSpec) -> Result<Current, EngineError> {
        Ok(self
            .current
            .lock()
            .unwrap()
            .get(&spec.name)
            .map_or(Current::Missing, |i| Current::Label(i.to_label())))
    }
    fn build(
        &self,
        spec: &ImageSpec,
        inputs: &BuildInputs,
        log: &Path,
    ) -> Result<(String, BuildInputs), EngineError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("build {}", spec.name));
        std::fs::write(log, "building\n")?;
        if self.fail.contains(&spec.name) {
            return Err("detect failed: no buildpack applies".into());
        }
        self.current
            .lock()
            .unwrap()
            .insert(spec.name.clone(), inputs.clone());
        Ok((format!("sha256:{}", spec.name), inputs.clone()))
    }
    fn rebase(
        &self,
        spec: &ImageSpec,
        inputs: &BuildInputs,
        _log: &Path,
    ) -> Result<String, EngineError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("rebase {}", spec.name));
        self.current
            .lock()
            .unwrap()
            .insert(spec.name.clone(), inputs.clone());
        Ok(format!("sha256:r-{}", spec.name))
    }
}

fn specs(n: usize) -> Vec<ImageSpec> {
    (0..n)
        .map(|i| ImageSpec {
            name: format!("app-{i}"),
            tag: format!("oci:/out:{i}"),
            source: Source {
                kind: SourceKind::Path { path: "x".into() },
                sub_path: None,
            },
            env: BTreeMap::new(),
            builder: crate::Builder {
                buildpacks: Vec::new(),
                build_image: None,
                run_image: "oci:/base:latest".into(),
            },
            cache_image: None,
            history: crate::HistoryLimits::default(),
            file: format!("/specs/app-{i}.toml").into(),
        })
        .collect()
}

#[test]
fn a_fleet_builds_once_then_rebases_on_a_new_run_image_and_isolates_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SpecStore::new(tmp.path(), None);
    let specs = specs(6);
    let mut engine = Recording {
        current: Mutex::default(),
        run_digest: "sha256:run1".into(),
        fail: vec!["app-3".into()],
        calls: Mutex::default(),
    };
    let options = Options {
        dry_run: false,
        jobs: 3,
    };
    let first = reconcile(&store, &specs, &engine, options);
    assert_eq!(first.len(), 6);
    assert_eq!(
        first[3].outcome,
        ImageOutcome::Failed {
            error: "detect failed: no buildpack applies".into()
        }
    );
    for (i, r) in first.iter().enumerate().filter(|(i, _)| *i != 3) {
        assert_eq!(
            r.name,
            format!("app-{i}"),
            "reports keep the order of the specs"
        );
        assert!(matches!(r.outcome, ImageOutcome::Built { digest: Some(_) }));
    }
    let history = History::read(&store.history_file("app-3")).unwrap();
    assert_eq!(history.builds[0].result, history::Result::Failed);
    assert!(history.builds[0].log.is_file());

    engine.fail.clear();
    engine.calls.lock().unwrap().clear();
    let second = reconcile(&store, &specs, &engine, options);
    let calls = engine.calls.lock().unwrap().clone();
    assert_eq!(calls, ["build app-3"], "only the failed image builds again");
    assert!(
        second
            .iter()
            .filter(|r| r.name != "app-3")
            .all(|r| r.outcome == ImageOutcome::UpToDate)
    );

    engine.run_digest = "sha256:run2".into();
    engine.calls.lock().unwrap().clear();
    let dry = reconcile(
        &store,
        &specs,
        &engine,
        Options {
            dry_run: true,
            jobs: 2,
        },
    );
    assert!(
        engine.calls.lock().unwrap().is_empty(),
        "a dry run changes nothing"
    );
    assert!(
        dry.iter()
            .all(|r| r.outcome == ImageOutcome::Rebased { digest: None })
    );
    let third = reconcile(&store, &specs, &engine, options);
    assert_eq!(engine.calls.lock().unwrap().len(), 6);
    for r in &third {
        let d = r.decision.as_ref().unwrap();
        assert_eq!(
            (d.action, d.reasons.as_slice()),
            (Action::Rebase, &[Reason::Stack][..])
        );
    }
    let history = History::read(&store.history_file("app-0")).unwrap();
    let results: Vec<_> = history.builds.iter().map(|b| b.result).collect();
    assert_eq!(results, [history::Result::Built, history::Result::Rebased]);
}

#[test]
fn a_trigger_builds_once_and_a_busy_image_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let store = SpecStore::new(tmp.path(), None);
    let specs = specs(1);
    let engine = Recording {
        current: Mutex::default(),
        run_digest: "sha256:run1".into(),
        fail: Vec::new(),
        calls: Mutex::default(),
    };
    let options = Options {
        dry_run: false,
        jobs: 1,
    };
    reconcile(&store, &specs, &engine, options);
    std::fs::create_dir_all(tmp.path().join(".kiln/triggers")).unwrap();
    std::fs::write(tmp.path().join(".kiln/triggers/app-0"), "").unwrap();
    let r = reconcile(&store, &specs, &engine, options);
    assert_eq!(r[0].decision.as_ref().unwrap().reasons, [Reason::Trigger]);
    assert!(!store.is_triggered("app-0"));
    let r = reconcile(&store, &specs, &engine, options);
    assert_eq!(r[0].outcome, ImageOutcome::UpToDate);

    let _held = kiln_fs::DirLock::acquire(
        &store.locks_dir(),
        &store.lock_path("app-0"),
        "image",
        false,
        &|_| {},
    )
    .unwrap();
    let r = reconcile(&store, &specs, &engine, options);
    assert_eq!(r[0].outcome, ImageOutcome::Busy);
}
