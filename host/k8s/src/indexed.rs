//! The indexed Job: one pod per spec, each reconciling exactly one image.

use k8s_openapi::api::batch::v1::{Job, JobSpec};

use crate::{FleetSettings, K8sError, Object, pod, validate};

/// Failed pods retried per index before that index (that image) is given up.
pub const BACKOFF_LIMIT_PER_INDEX: i32 = 1;
/// A finished Job is deleted after a day, so the manifests can be applied again.
pub const TTL_SECONDS_AFTER_FINISHED: i32 = 24 * 60 * 60;
/// Most completions the API server allows for a Job with `backoffLimitPerIndex`.
pub const MAX_COMPLETIONS: usize = 100_000;
/// Annotation on the Job listing the image names in index order, one a line.
pub const INDEX_ORDER_ANNOTATION: &str = "kiln/index-order";
/// The downward-API path of an indexed Job pod's completion index.
pub const COMPLETION_INDEX_FIELD: &str =
    "metadata.annotations['batch.kubernetes.io/job-completion-index']";

/// The container args: reconcile the spec at `$(JOB_COMPLETION_INDEX)`, which Kubernetes
/// expands from the env var of that name.
pub fn args() -> Vec<String> {
    [
        "image",
        "reconcile",
        "--specs",
        pod::SPECS_DIR,
        "--index",
        "$(JOB_COMPLETION_INDEX)",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The specs ConfigMap and a Job with `completionMode: Indexed` and one completion per
/// spec, running `min(jobs, specs)` pods at once.
///
/// Pod `i` reconciles the `i`-th spec when the specs are **sorted by image name** (byte
/// order, as `kiln image reconcile --index` sorts them), not by file name; the Job's
/// `kiln/index-order` annotation lists that order. Each index is retried
/// [`BACKOFF_LIMIT_PER_INDEX`] times on its own, so one failing image does not stop the
/// others.
pub fn indexed_job(settings: &FleetSettings) -> Result<Vec<Object>, K8sError> {
    validate::settings(settings)?;
    if settings.specs.is_empty() {
        return Err(K8sError::NoSpecs);
    }
    if settings.specs.len() > MAX_COMPLETIONS {
        return Err(K8sError::TooManySpecs {
            count: settings.specs.len(),
            limit: MAX_COMPLETIONS,
        });
    }
    // At most MAX_COMPLETIONS, so it fits.
    let completions = i32::try_from(settings.specs.len()).unwrap_or(i32::MAX);
    let parallelism = i32::try_from(settings.jobs)
        .unwrap_or(i32::MAX)
        .min(completions);
    let mut images: Vec<&str> = settings
        .specs
        .iter()
        .map(|s| s.image_name.as_str())
        .collect();
    images.sort_unstable();
    let mut metadata = pod::metadata(settings, settings.name.clone());
    metadata.annotations = Some(
        [(INDEX_ORDER_ANNOTATION.to_owned(), images.join("\n"))]
            .into_iter()
            .collect(),
    );
    let env = vec![pod::field_env(
        "JOB_COMPLETION_INDEX",
        COMPLETION_INDEX_FIELD,
    )];
    let job = Job {
        metadata,
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(completions),
            parallelism: Some(parallelism),
            backoff_limit_per_index: Some(BACKOFF_LIMIT_PER_INDEX),
            ttl_seconds_after_finished: Some(TTL_SECONDS_AFTER_FINISHED),
            template: pod::template(settings, args(), env),
            ..JobSpec::default()
        }),
        ..Job::default()
    };
    Ok(vec![
        Object::ConfigMap(pod::config_map(settings)),
        Object::Job(job),
    ])
}
