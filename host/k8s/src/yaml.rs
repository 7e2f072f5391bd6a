//! Multi-document YAML out and in, and the dispatch of a document to its typed object.

use k8s_openapi::Resource;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ConfigMap;
use serde::Deserialize;

use crate::{K8sError, Object};

/// The objects as YAML documents separated by `---` lines, each with `apiVersion` and
/// `kind`; maps are written in key order, so the same objects give the same bytes.
pub fn to_yaml(objects: &[Object]) -> Result<String, K8sError> {
    let mut out = String::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_norway::to_string(object)?);
    }
    Ok(out)
}

/// Every object of a multi-document YAML stream, typed by its `apiVersion` and `kind`
/// (ConfigMap `v1`, CronJob and Job `batch/v1`); empty documents are skipped.
pub fn from_yaml(text: &str) -> Result<Vec<Object>, K8sError> {
    let mut objects = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = serde_json::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        objects.push(from_value(value, index)?);
    }
    Ok(objects)
}

/// The typed object of one document (`index` is only used in errors).
pub(crate) fn from_value(value: serde_json::Value, index: usize) -> Result<Object, K8sError> {
    let field = |name: &str| {
        value
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    let is = |api: &str, k: &str| api_version == api && kind == k;
    let document = |source| K8sError::Document { index, source };
    if is(ConfigMap::API_VERSION, ConfigMap::KIND) {
        serde_json::from_value(value)
            .map(Object::ConfigMap)
            .map_err(document)
    } else if is(CronJob::API_VERSION, CronJob::KIND) {
        serde_json::from_value(value)
            .map(Object::CronJob)
            .map_err(document)
    } else if is(Job::API_VERSION, Job::KIND) {
        serde_json::from_value(value)
            .map(Object::Job)
            .map_err(document)
    } else {
        Err(K8sError::UnsupportedKind {
            index,
            api_version,
            kind,
        })
    }
}
