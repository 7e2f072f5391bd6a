//! The CronJob: one pod per schedule tick reconciling every spec with `--jobs` builds at once.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::{FleetSettings, K8sError, Object, pod, schedule, validate};

/// Runs that may start this late after their tick still start; later ones are skipped.
pub const STARTING_DEADLINE_SECONDS: i64 = 300;
/// Finished Jobs kept, for each of success and failure.
pub const HISTORY_LIMIT: i32 = 3;
/// A reconcile running longer than this is stopped, so a stuck pod cannot block every
/// later run (`concurrencyPolicy: Forbid`).
pub const ACTIVE_DEADLINE_SECONDS: i64 = 6 * 60 * 60;

/// The container args: reconcile every spec in `/specs`, `jobs` at a time.
pub fn args(settings: &FleetSettings) -> Vec<String> {
    [
        "image",
        "reconcile",
        "--all",
        "--specs",
        pod::SPECS_DIR,
        "--jobs",
        &settings.jobs.to_string(),
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// The specs ConfigMap and a CronJob (`concurrencyPolicy: Forbid`) running one reconcile
/// pod per tick of `settings.schedule`. A failed run is not retried in the same tick
/// (`backoffLimit: 0`): the next tick reconciles again, and images already up to date
/// are left alone.
pub fn cron_job(settings: &FleetSettings) -> Result<Vec<Object>, K8sError> {
    validate::settings(settings)?;
    schedule::validate(&settings.schedule)?;
    let job_spec = JobSpec {
        backoff_limit: Some(0),
        active_deadline_seconds: Some(ACTIVE_DEADLINE_SECONDS),
        template: pod::template(settings, args(settings), Vec::new()),
        ..JobSpec::default()
    };
    let cron = CronJob {
        metadata: pod::metadata(settings, settings.name.clone()),
        spec: CronJobSpec {
            schedule: settings.schedule.trim().to_owned(),
            concurrency_policy: Some("Forbid".into()),
            starting_deadline_seconds: Some(STARTING_DEADLINE_SECONDS),
            successful_jobs_history_limit: Some(HISTORY_LIMIT),
            failed_jobs_history_limit: Some(HISTORY_LIMIT),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod::labels(settings)),
                    ..ObjectMeta::default()
                }),
                spec: Some(job_spec),
            },
            ..CronJobSpec::default()
        },
        ..CronJob::default()
    };
    Ok(vec![
        Object::ConfigMap(pod::config_map(settings)),
        Object::CronJob(cron),
    ])
}
