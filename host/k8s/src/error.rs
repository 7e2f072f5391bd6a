//! The one error type of the crate.

use thiserror::Error;

/// Why manifests could not be generated, printed or parsed.
#[derive(Debug, Error)]
pub enum K8sError {
    /// A Kubernetes object name (`name`, `namespace`, `registry_secret`) is not valid.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidName {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The CronJob schedule is not a 5-field cron expression (or a `@hourly`-style macro).
    #[error("invalid schedule {schedule:?}: {reason}")]
    InvalidSchedule {
        /// The schedule given.
        schedule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Kiln container image reference is empty or has whitespace.
    #[error("invalid container image {0:?}: must be a non-empty reference without whitespace")]
    InvalidImage(String),
    /// `jobs` is zero.
    #[error("jobs must be at least 1")]
    ZeroJobs,
    /// `work_size_limit` is not a Kubernetes quantity.
    #[error("invalid work_size_limit {0:?}: expected a Kubernetes quantity such as 20Gi or 500M")]
    InvalidQuantity(String),
    /// A spec file name cannot be a ConfigMap key or would not be read by Kiln.
    #[error("invalid spec file name {name:?}: {reason}")]
    InvalidSpecFileName {
        /// The file name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two spec files have the same file name (the same ConfigMap key).
    #[error("duplicate spec file name {0:?}")]
    DuplicateSpecFile(String),
    /// A spec has an empty image name or one with control characters.
    #[error("spec file {file:?}: invalid image name {image:?}")]
    InvalidImageName {
        /// The spec file.
        file: String,
        /// The image name given.
        image: String,
    },
    /// Two spec files name the same image.
    #[error("image name {image:?} is used by both {first:?} and {second:?}")]
    DuplicateImageName {
        /// The image name.
        image: String,
        /// The first file naming it.
        first: String,
        /// The second file naming it.
        second: String,
    },
    /// The indexed Job needs at least one spec (one completion per spec).
    #[error("the indexed Job needs at least one spec")]
    NoSpecs,
    /// More specs than an indexed Job may have completions.
    #[error("{count} specs, over the indexed Job limit of {limit} completions")]
    TooManySpecs {
        /// Number of specs.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The specs do not fit in one ConfigMap.
    #[error("the specs take {bytes} bytes, over the ConfigMap limit of {limit} bytes")]
    SpecsTooLarge {
        /// Bytes of keys and values.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The YAML could not be written or read.
    #[error("YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// A document could not be converted from or to the typed object.
    #[error("document {index}: {source}")]
    Document {
        /// Zero-based index of the document in the stream.
        index: usize,
        /// The conversion error.
        source: serde_json::Error,
    },
    /// A document is not a ConfigMap, CronJob or Job (or has no apiVersion/kind).
    #[error("document {index}: unsupported object apiVersion {api_version:?} kind {kind:?}")]
    UnsupportedKind {
        /// Zero-based index of the document in the stream.
        index: usize,
        /// Its `apiVersion` (empty when missing).
        api_version: String,
        /// Its `kind` (empty when missing).
        kind: String,
    },
}
