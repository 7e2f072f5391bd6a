//! Reconcile: for each spec, resolve its inputs, read the inputs recorded on the image at
//! its tag, decide ([`crate::decide`]) and then build, rebase or do nothing, on a bounded
//! pool of workers. One image's failure never stops the others; every build and every
//! failure is recorded in the image's history.
//!
//! Two reconciles on one state directory never work on the same image at once: each image
//! is locked (without waiting) for the whole of its turn, and a busy image is reported and
//! skipped.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use serde::Serialize;

use crate::decision::{Action, Current, Decision, decide};
use crate::history::{self, BuildRecord, History};
use crate::inputs::BuildInputs;
use crate::spec::ImageSpec;
use crate::store::SpecStore;

/// An error of the engine, as one line of text for the summary and the history.
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;

/// What the caller provides: resolution of inputs, the current image, builds and rebases.
/// Called from several threads at once.
pub trait Engine: Sync {
    /// Resolve the spec's inputs (source revision, buildpack, build and run image digests).
    fn resolve(&self, spec: &ImageSpec) -> Result<BuildInputs, EngineError>;
    /// What the image at the spec's tag records.
    fn current(&self, spec: &ImageSpec) -> Result<Current, EngineError>;
    /// Build the image from `inputs`, writing progress to `log`; returns the manifest digest
    /// and the inputs as recorded (with the buildpacks' ids and versions).
    fn build(
        &self,
        spec: &ImageSpec,
        inputs: &BuildInputs,
        log: &Path,
    ) -> Result<(String, BuildInputs), EngineError>;
    /// Rebase the image at the spec's tag onto `inputs.run_image`, recording `inputs` (whose
    /// buildpacks carry the ids and versions the image already records).
    fn rebase(
        &self,
        spec: &ImageSpec,
        inputs: &BuildInputs,
        log: &Path,
    ) -> Result<String, EngineError>;
}

/// How to reconcile.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Decide only: no build, no rebase, no history, no lock.
    pub dry_run: bool,
    /// Images worked on at once (at least 1).
    pub jobs: usize,
}

/// How one image's turn ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum ImageOutcome {
    /// Nothing to do.
    UpToDate,
    /// Built (or, in a dry run, would be).
    Built {
        /// The new manifest digest (`None` in a dry run).
        digest: Option<String>,
    },
    /// Rebased (or, in a dry run, would be).
    Rebased {
        /// The new manifest digest (`None` in a dry run).
        digest: Option<String>,
    },
    /// Failed.
    Failed {
        /// Why.
        error: String,
    },
    /// Another reconcile is working on this image.
    Busy,
}

/// One image of a reconcile.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// The image's name.
    pub name: String,
    /// Its tag.
    pub tag: String,
    /// The decision (absent when its inputs could not be resolved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// How it ended.
    pub outcome: ImageOutcome,
    /// Milliseconds spent on it.
    pub duration_ms: u64,
    /// Its log file, when it built or rebased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
}

/// Reconcile `specs` with `engine`; reports in the order of `specs`.
pub fn reconcile(
    store: &SpecStore,
    specs: &[ImageSpec],
    engine: &dyn Engine,
    options: Options,
) -> Vec<ImageReport> {
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Option<ImageReport>>> = Mutex::new(vec![None; specs.len()]);
    let workers = options.jobs.clamp(1, specs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(spec) = specs.get(i) else { break };
                    let report = one(store, spec, engine, options);
                    if let Ok(mut r) = reports.lock() {
                        r[i] = Some(report);
                    }
                }
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect()
}

/// One image's turn.
fn one(store: &SpecStore, spec: &ImageSpec, engine: &dyn Engine, options: Options) -> ImageReport {
    let started = Instant::now();
    let report =
        |decision: Option<Decision>, outcome: ImageOutcome, log: Option<PathBuf>| ImageReport {
            name: spec.name.clone(),
            tag: spec.tag.clone(),
            decision,
            outcome,
            duration_ms: millis(started),
            log,
        };
    let _lock = if options.dry_run {
        None
    } else {
        match kiln_fs::DirLock::acquire(
            &store.locks_dir(),
            &store.lock_path(&spec.name),
            "image",
            false,
            &|_| {},
        ) {
            Ok(lock) => Some(lock),
            Err(kiln_fs::dir_lock::LockError::Busy { .. }) => {
                return report(None, ImageOutcome::Busy, None);
            }
            Err(e) => {
                return report(
                    None,
                    ImageOutcome::Failed {
                        error: e.to_string(),
                    },
                    None,
                );
            }
        }
    };
    let triggered = store.is_triggered(&spec.name);
    let resolved = engine
        .resolve(spec)
        .and_then(|inputs| Ok((engine.current(spec)?, inputs)));
    let (current, inputs) = match resolved {
        Ok(v) => v,
        Err(e) => {
            let error = one_line(e.as_ref());
            let log = (!options.dry_run)
                .then(|| record_failure(store, spec, started, &[], None, &error))
                .flatten();
            return report(None, ImageOutcome::Failed { error }, log);
        }
    };
    let decision = decide(&inputs, &current, triggered);
    let inputs = if decision.action == Action::Rebase {
        with_recorded_buildpacks(inputs, &current)
    } else {
        inputs
    };
    if options.dry_run || decision.action == Action::Nothing {
        let outcome = match decision.action {
            Action::Nothing => ImageOutcome::UpToDate,
            Action::Rebase => ImageOutcome::Rebased { digest: None },
            Action::Build => ImageOutcome::Built { digest: None },
        };
        return report(Some(decision), outcome, None);
    }
    let mut history = match History::read(&store.history_file(&spec.name)) {
        Ok(h) => h,
        Err(e) => {
            let error = e.to_string();
            return report(Some(decision), ImageOutcome::Failed { error }, None);
        }
    };
    let number = history.take_number();
    let log = store.logs_dir(&spec.name).join(format!("{number}.log"));
    let when = unix_seconds();
    let result = std::fs::create_dir_all(store.logs_dir(&spec.name))
        .map_err(EngineError::from)
        .and_then(|()| match decision.action {
            Action::Rebase => engine
                .rebase(spec, &inputs, &log)
                .map(|d| (history::Result::Rebased, d, inputs.clone())),
            _ => engine
                .build(spec, &inputs, &log)
                .map(|(d, recorded)| (history::Result::Built, d, recorded)),
        });
    let (outcome, record) = match result {
        Ok((kind, digest, recorded)) => {
            if decision.reasons.contains(&crate::Reason::Trigger) {
                let _ = store.clear_trigger(&spec.name);
            }
            let outcome = if kind == history::Result::Rebased {
                ImageOutcome::Rebased {
                    digest: Some(digest.clone()),
                }
            } else {
                ImageOutcome::Built {
                    digest: Some(digest.clone()),
                }
            };
            let record = BuildRecord {
                number,
                started: when,
                duration_ms: millis(started),
                reasons: decision.reasons.clone(),
                result: kind,
                digest: Some(digest),
                error: None,
                inputs: Some(recorded),
                log: log.clone(),
            };
            (outcome, record)
        }
        Err(e) => {
            let error = one_line(e.as_ref());
            let record = BuildRecord {
                number,
                started: when,
                duration_ms: millis(started),
                reasons: decision.reasons.clone(),
                result: history::Result::Failed,
                digest: None,
                error: Some(error.clone()),
                inputs: Some(inputs),
                log: log.clone(),
            };
            (ImageOutcome::Failed { error }, record)
        }
    };
    let outcome = match history.record(record, spec.history, &store.history_file(&spec.name)) {
        Ok(()) => outcome,
        Err(e) => ImageOutcome::Failed {
            error: format!(
                "the build ended ({outcome:?}) but its history could not be written: {e}"
            ),
        },
    };
    report(Some(decision), outcome, Some(log))
}

/// `inputs` with the buildpacks' ids and versions the image's label recorded (a rebase keeps
/// the buildpacks, and only a build can load them).
fn with_recorded_buildpacks(mut inputs: BuildInputs, current: &Current) -> BuildInputs {
    if let Current::Label(text) = current
        && let Ok(old) = BuildInputs::from_label(text)
        && old.buildpacks.len() == inputs.buildpacks.len()
    {
        inputs.buildpacks = old.buildpacks;
    }
    inputs
}

/// Record a failure to resolve inputs (with the error as the log); returns the log file.
fn record_failure(
    store: &SpecStore,
    spec: &ImageSpec,
    started: Instant,
    reasons: &[crate::Reason],
    inputs: Option<BuildInputs>,
    error: &str,
) -> Option<PathBuf> {
    let mut history = History::read(&store.history_file(&spec.name)).ok()?;
    let number = history.take_number();
    let dir = store.logs_dir(&spec.name);
    let log = dir.join(format!("{number}.log"));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(&log, format!("ERROR: {error}\n")).ok()?;
    let record = BuildRecord {
        number,
        started: unix_seconds(),
        duration_ms: millis(started),
        reasons: reasons.to_vec(),
        result: history::Result::Failed,
        digest: None,
        error: Some(error.to_owned()),
        inputs,
        log: log.clone(),
    };
    history
        .record(record, spec.history, &store.history_file(&spec.name))
        .ok()?;
    Some(log)
}

/// An error and its sources on one line.
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
