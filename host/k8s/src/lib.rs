//! Kubernetes manifests that run `kiln image reconcile` over a fleet of image specs, built
//! as typed [`k8s_openapi`] objects and printed as YAML.
//!
//! Two shapes, both shipping the specs in a ConfigMap `<name>-specs` mounted at `/specs`:
//!
//! - [`cron_job`]: a CronJob whose single pod reconciles every spec, `--jobs` at a time.
//! - [`indexed_job`]: a one-off indexed Job with one pod per spec.
//!
//! Both pods run non-root with a read-only root filesystem, no capabilities and no service
//! account token; see [`pod`] for the volumes, env and resources. Kiln keeps each image's
//! layer cache as a registry cache image named in its spec, so nothing here persists
//! between runs.

mod cron;
mod error;
mod indexed;
pub mod pod;
mod schedule;
mod validate;
mod yaml;

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use cron::{
    ACTIVE_DEADLINE_SECONDS, HISTORY_LIMIT, STARTING_DEADLINE_SECONDS, args as cron_args, cron_job,
};
pub use error::K8sError;
pub use indexed::{
    BACKOFF_LIMIT_PER_INDEX, COMPLETION_INDEX_FIELD, INDEX_ORDER_ANNOTATION, MAX_COMPLETIONS,
    TTL_SECONDS_AFTER_FINISHED, args as indexed_args, indexed_job,
};
pub use k8s_openapi;
pub use validate::{MAX_CONFIG_MAP_BYTES, MAX_NAME_LEN, SPEC_EXTENSIONS};
pub use yaml::{from_yaml, to_yaml};

/// What to generate: names, the Kiln image, how to run it, and the specs to ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSettings {
    /// Base name of the objects (a DNS-1123 label of at most [`MAX_NAME_LEN`] characters);
    /// the ConfigMap is `<name>-specs`.
    pub name: String,
    /// Namespace of every object; `None` leaves it to `kubectl`'s context.
    pub namespace: Option<String>,
    /// The Kiln container image, e.g. `registry.example.com/kiln:0.1.0`.
    pub image: String,
    /// The CronJob's cron schedule, e.g. `*/15 * * * *` (five fields, or `@hourly` etc.).
    pub schedule: String,
    /// A `kubernetes.io/dockerconfigjson` Secret with the registry credentials.
    pub registry_secret: String,
    /// `--jobs` of the CronJob's reconcile; the indexed Job's parallelism (at most the
    /// number of specs). At least 1.
    pub jobs: u32,
    /// `sizeLimit` of the `/work` emptyDir, e.g. `20Gi`; `None` for no limit.
    pub work_size_limit: Option<String>,
    /// The image specs to ship in the ConfigMap.
    pub specs: Vec<SpecFile>,
}

/// One image spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecFile {
    /// Its file name, the ConfigMap key: `[-._a-zA-Z0-9]`, ending in `.toml`, `.yaml` or
    /// `.yml`, not starting with `.`; unique.
    pub file_name: String,
    /// The image it describes (its name in the fleet); unique. Orders the indexed Job.
    pub image_name: String,
    /// The file's text.
    pub contents: String,
}

/// One generated Kubernetes object.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a few objects per fleet; unboxed variants keep matching on them plain"
)]
pub enum Object {
    /// The specs ConfigMap.
    ConfigMap(ConfigMap),
    /// The fleet CronJob.
    CronJob(CronJob),
    /// The indexed Job.
    Job(Job),
}

impl Object {
    /// The object's `kind`.
    pub fn kind(&self) -> &'static str {
        use k8s_openapi::Resource;
        match self {
            Object::ConfigMap(_) => ConfigMap::KIND,
            Object::CronJob(_) => CronJob::KIND,
            Object::Job(_) => Job::KIND,
        }
    }

    /// The object's `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        let metadata = match self {
            Object::ConfigMap(o) => &o.metadata,
            Object::CronJob(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
        };
        metadata.name.as_deref()
    }
}

/// Serializes as the inner object, with its `apiVersion` and `kind`.
impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Object::ConfigMap(o) => o.serialize(serializer),
            Object::CronJob(o) => o.serialize(serializer),
            Object::Job(o) => o.serialize(serializer),
        }
    }
}

/// Deserializes any supported object, picked by its `apiVersion` and `kind`.
impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        yaml::from_value(value, 0).map_err(serde::de::Error::custom)
    }
}
