//! Serde types for OCI descriptors, manifests and indexes, media types, and
//! an image-config wrapper that preserves unknown fields.
//!
//! Everything serialises compactly with a fixed field order (struct order or
//! `BTreeMap` key order), so identical values always give identical bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Digest, ImageError};

/// OCI image manifest media type.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip-compressed layer media type.
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI uncompressed layer media type.
pub const MEDIA_TYPE_OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI zstd-compressed layer media type (written with `--compression zstd`).
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker v2 schema 2 manifest media type (read only).
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker v2 schema 2 manifest list media type (read only).
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type (read only).
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip-compressed layer media type (read only).
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Annotation naming a manifest's tag inside an OCI layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Whether `mt` is an image manifest media type (OCI or Docker).
pub fn is_manifest_media_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_OCI_MANIFEST || mt == MEDIA_TYPE_DOCKER_MANIFEST
}

/// Whether `mt` is an index / manifest-list media type (OCI or Docker).
pub fn is_index_media_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_OCI_INDEX || mt == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// Whether `mt` is an image config media type (OCI or Docker).
pub fn is_config_media_type(mt: &str) -> bool {
    mt == MEDIA_TYPE_OCI_CONFIG || mt == MEDIA_TYPE_DOCKER_CONFIG
}

/// The OCI media type to use when re-publishing a layer read with media type
/// `mt` (Docker gzip layers map to OCI gzip); `None` for non-layer types.
pub fn oci_layer_media_type(mt: &str) -> Option<&'static str> {
    match mt {
        MEDIA_TYPE_OCI_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => Some(MEDIA_TYPE_OCI_LAYER_GZIP),
        MEDIA_TYPE_OCI_LAYER_TAR => Some(MEDIA_TYPE_OCI_LAYER_TAR),
        MEDIA_TYPE_OCI_LAYER_ZSTD => Some(MEDIA_TYPE_OCI_LAYER_ZSTD),
        _ => None,
    }
}

/// An OCI platform (used in index descriptors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Operating system version.
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes of the referenced content.
    pub size: u64,
    /// Alternative download URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Arbitrary annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform of the referenced manifest (index entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type of the referenced manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor with only media type, digest and size.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// The `org.opencontainers.image.ref.name` annotation, if any.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_REF_NAME))
            .map(String::as_str)
    }

    /// Sets the `org.opencontainers.image.ref.name` annotation.
    pub fn set_ref_name(&mut self, name: &str) {
        self.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(ANNOTATION_REF_NAME.to_owned(), name.to_owned());
    }
}

/// An OCI image manifest (also reads Docker v2 schema 2 manifests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest media type; always set when Kiln writes a manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (not used for images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image config descriptor.
    pub config: Descriptor,
    /// Layer descriptors, bottom first.
    pub layers: Vec<Descriptor>,
    /// Subject (referrers API), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Manifest annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageManifest {
    /// A new OCI manifest for `config` and `layers`.
    pub fn new_oci(config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: None,
        }
    }

    /// Compact, deterministic JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ImageError> {
        to_json_bytes(self, "image manifest")
    }
}

/// An OCI image index (also reads Docker manifest lists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Referenced manifests (or nested indexes).
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Index annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// An empty OCI index.
    pub fn new() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_INDEX.to_owned()),
            manifests: Vec::new(),
            annotations: None,
        }
    }

    /// Compact, deterministic JSON bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ImageError> {
        to_json_bytes(self, "image index")
    }
}

impl Default for ImageIndex {
    fn default() -> Self {
        Self::new()
    }
}

/// One `history` entry of an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The command (or description) that created the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// A free-form comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True if this step created no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

/// An image config kept as a JSON object, so fields Kiln does not know about
/// (e.g. from a run image) survive a read-modify-write round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageConfig {
    root: Map<String, Value>,
}

/// Turns `v` into an object if it is not one, and returns the map.
fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("value was just made an object"),
    }
}

impl ImageConfig {
    /// A minimal config: `os`, `architecture`, empty `config`, empty `rootfs`.
    pub fn new(os: &str, architecture: &str) -> Self {
        let mut root = Map::new();
        root.insert("architecture".into(), Value::from(architecture));
        root.insert("os".into(), Value::from(os));
        root.insert("config".into(), Value::Object(Map::new()));
        let mut rootfs = Map::new();
        rootfs.insert("type".into(), Value::from("layers"));
        rootfs.insert("diff_ids".into(), Value::Array(Vec::new()));
        root.insert("rootfs".into(), Value::Object(rootfs));
        Self { root }
    }

    /// Wraps an existing JSON value; it must be an object.
    pub fn from_value(value: Value) -> Result<Self, ImageError> {
        match value {
            Value::Object(root) => Ok(Self { root }),
            _ => Err(ImageError::InvalidConfig(
                "image config is not a JSON object".into(),
            )),
        }
    }

    /// Parses config bytes; `what` names the source in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Self, ImageError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|source| ImageError::Json {
            what: what.to_owned(),
            source,
        })?;
        Self::from_value(value).map_err(|_| {
            ImageError::InvalidConfig(format!("{what}: image config is not a JSON object"))
        })
    }

    /// Compact, deterministic JSON bytes (keys sorted).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ImageError> {
        to_json_bytes(&self.root, "image config")
    }

    /// The top-level JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.root
    }

    /// The top-level JSON object, mutably.
    pub fn root_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.root
    }

    /// A copy as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.root.clone())
    }

    /// Consumes the wrapper, returning the JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.root)
    }

    fn top_str(&self, key: &str) -> Option<&str> {
        self.root.get(key).and_then(Value::as_str)
    }

    fn set_top(&mut self, key: &str, v: Option<Value>) {
        match v {
            Some(v) => {
                self.root.insert(key.to_owned(), v);
            }
            None => {
                self.root.remove(key);
            }
        }
    }

    /// `os`.
    pub fn os(&self) -> Option<&str> {
        self.top_str("os")
    }

    /// `architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.top_str("architecture")
    }

    /// `variant`.
    pub fn variant(&self) -> Option<&str> {
        self.top_str("variant")
    }

    /// `os.version`.
    pub fn os_version(&self) -> Option<&str> {
        self.top_str("os.version")
    }

    /// `created` (RFC 3339).
    pub fn created(&self) -> Option<&str> {
        self.top_str("created")
    }

    /// Sets (or with `None` removes) `created`.
    pub fn set_created(&mut self, created: Option<&str>) {
        self.set_top("created", created.map(Value::from));
    }

    /// Sets (or removes) a top-level string field such as `os`, `architecture`, `variant`, `os.version`.
    pub fn set_top_level_str(&mut self, key: &str, value: Option<&str>) {
        self.set_top(key, value.map(Value::from));
    }

    /// The `config` object (container run settings), if present.
    pub fn container_config(&self) -> Option<&Map<String, Value>> {
        self.root.get("config").and_then(Value::as_object)
    }

    /// The `config` object, created if missing or null.
    pub fn container_config_mut(&mut self) -> &mut Map<String, Value> {
        ensure_object(self.root.entry("config").or_insert(Value::Null))
    }

    fn cfg_get(&self, key: &str) -> Option<&Value> {
        self.container_config()
            .and_then(|c| c.get(key))
            .filter(|v| !v.is_null())
    }

    fn cfg_set(&mut self, key: &str, v: Option<Value>) {
        let cfg = self.container_config_mut();
        match v {
            Some(v) => {
                cfg.insert(key.to_owned(), v);
            }
            None => {
                cfg.remove(key);
            }
        }
    }

    fn cfg_str_list(&self, key: &str) -> Option<Vec<String>> {
        self.cfg_get(key).and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
    }

    fn str_list_value(list: Vec<String>) -> Value {
        Value::Array(list.into_iter().map(Value::String).collect())
    }

    /// `config.Env` (`KEY=VALUE` strings); empty if absent.
    pub fn env(&self) -> Vec<String> {
        self.cfg_str_list("Env").unwrap_or_default()
    }

    /// Replaces `config.Env`.
    pub fn set_env(&mut self, env: Vec<String>) {
        self.cfg_set("Env", Some(Self::str_list_value(env)));
    }

    /// The value of variable `name` in `config.Env`.
    pub fn env_var(&self, name: &str) -> Option<String> {
        self.env().into_iter().find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_owned())
        })
    }

    /// Sets variable `name` in `config.Env`, replacing it in place or appending.
    pub fn set_env_var(&mut self, name: &str, value: &str) {
        let mut env = self.env();
        let new = format!("{name}={value}");
        let mut found = false;
        env.retain_mut(|kv| {
            let is_name = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == name;
            if !is_name {
                return true;
            }
            if found {
                return false;
            }
            found = true;
            kv.clone_from(&new);
            true
        });
        if !found {
            env.push(new);
        }
        self.set_env(env);
    }

    /// `config.Labels`; empty if absent.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.cfg_get("Labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One label from `config.Labels`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.cfg_get("Labels")
            .and_then(|l| l.get(key))
            .and_then(Value::as_str)
    }

    /// Replaces `config.Labels` (removes the field when empty).
    pub fn set_labels(&mut self, labels: &BTreeMap<String, String>) {
        if labels.is_empty() {
            self.cfg_set("Labels", None);
        } else {
            let m: Map<String, Value> = labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            self.cfg_set("Labels", Some(Value::Object(m)));
        }
    }

    /// Sets one label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let mut labels = self.labels();
        labels.insert(key.to_owned(), value.to_owned());
        self.set_labels(&labels);
    }

    /// Removes one label; returns its old value.
    pub fn remove_label(&mut self, key: &str) -> Option<String> {
        let mut labels = self.labels();
        let old = labels.remove(key);
        if old.is_some() {
            self.set_labels(&labels);
        }
        old
    }

    /// `config.Entrypoint`.
    pub fn entrypoint(&self) -> Option<Vec<String>> {
        self.cfg_str_list("Entrypoint")
    }

    /// Sets (or with `None` clears) `config.Entrypoint`.
    pub fn set_entrypoint(&mut self, v: Option<Vec<String>>) {
        self.cfg_set("Entrypoint", v.map(Self::str_list_value));
    }

    /// `config.Cmd`.
    pub fn cmd(&self) -> Option<Vec<String>> {
        self.cfg_str_list("Cmd")
    }

    /// Sets (or with `None` clears) `config.Cmd`.
    pub fn set_cmd(&mut self, v: Option<Vec<String>>) {
        self.cfg_set("Cmd", v.map(Self::str_list_value));
    }

    /// `config.WorkingDir`.
    pub fn working_dir(&self) -> Option<&str> {
        self.cfg_get("WorkingDir").and_then(Value::as_str)
    }

    /// Sets (or clears) `config.WorkingDir`.
    pub fn set_working_dir(&mut self, v: Option<&str>) {
        self.cfg_set("WorkingDir", v.map(Value::from));
    }

    /// `config.User`.
    pub fn user(&self) -> Option<&str> {
        self.cfg_get("User").and_then(Value::as_str)
    }

    /// Sets (or clears) `config.User`.
    pub fn set_user(&mut self, v: Option<&str>) {
        self.cfg_set("User", v.map(Value::from));
    }

    /// `rootfs.diff_ids`, validated.
    pub fn diff_ids(&self) -> Result<Vec<Digest>, ImageError> {
        let Some(list) = self
            .root
            .get("rootfs")
            .and_then(|r| r.get("diff_ids"))
            .filter(|v| !v.is_null())
        else {
            return Ok(Vec::new());
        };
        let arr = list.as_array().ok_or_else(|| {
            ImageError::InvalidConfig("rootfs.diff_ids is not an array".to_owned())
        })?;
        arr.iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| {
                        ImageError::InvalidConfig(format!(
                            "rootfs.diff_ids entry {v} is not a string"
                        ))
                    })
                    .and_then(Digest::parse)
            })
            .collect()
    }

    /// Replaces `rootfs` with `{"type":"layers","diff_ids":[...]}` (other rootfs keys kept).
    pub fn set_diff_ids(&mut self, ids: &[Digest]) {
        let m = ensure_object(self.root.entry("rootfs").or_insert(Value::Null));
        m.insert("type".into(), Value::from("layers"));
        m.insert(
            "diff_ids".into(),
            Value::Array(ids.iter().map(|d| Value::from(d.as_str())).collect()),
        );
    }

    /// `history`, parsed leniently (unknown keys dropped, bad entries defaulted).
    pub fn history(&self) -> Vec<HistoryEntry> {
        self.root
            .get("history")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|h| serde_json::from_value(h.clone()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Appends one entry to `history`, keeping existing entries untouched.
    pub fn push_history(&mut self, entry: &HistoryEntry) -> Result<(), ImageError> {
        let v = serde_json::to_value(entry).map_err(|source| ImageError::Json {
            what: "history entry".into(),
            source,
        })?;
        let hist = self
            .root
            .entry("history")
            .or_insert_with(|| Value::Array(Vec::new()));
        match hist {
            Value::Array(a) => a.push(v),
            other => *other = Value::Array(vec![v]),
        }
        Ok(())
    }

    /// Replaces `history` (removed when empty).
    pub fn set_history(&mut self, entries: &[HistoryEntry]) -> Result<(), ImageError> {
        if entries.is_empty() {
            self.set_top("history", None);
            return Ok(());
        }
        let v = serde_json::to_value(entries).map_err(|source| ImageError::Json {
            what: "history".into(),
            source,
        })?;
        self.set_top("history", Some(v));
        Ok(())
    }
}

/// Serialises `v` as compact JSON.
pub(crate) fn to_json_bytes<T: Serialize + ?Sized>(
    v: &T,
    what: &str,
) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(v).map_err(|source| ImageError::Json {
        what: what.to_owned(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn manifest_serialises_in_spec_order() {
        let m = ImageManifest::new_oci(
            Descriptor::new(MEDIA_TYPE_OCI_CONFIG, d('a'), 12),
            vec![Descriptor::new(MEDIA_TYPE_OCI_LAYER_GZIP, d('b'), 34)],
        );
        let s = String::from_utf8(m.to_bytes().unwrap()).unwrap();
        assert_eq!(
            s,
            format!(
                "{{\"schemaVersion\":2,\"mediaType\":\"{MEDIA_TYPE_OCI_MANIFEST}\",\
                 \"config\":{{\"mediaType\":\"{MEDIA_TYPE_OCI_CONFIG}\",\"digest\":\"{}\",\"size\":12}},\
                 \"layers\":[{{\"mediaType\":\"{MEDIA_TYPE_OCI_LAYER_GZIP}\",\"digest\":\"{}\",\"size\":34}}]}}",
                d('a'),
                d('b')
            )
        );
        let back: ImageManifest = serde_json::from_str(&s).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn index_reads_docker_list_and_platform() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_TYPE_DOCKER_MANIFEST_LIST}","manifests":[{{"mediaType":"{MEDIA_TYPE_DOCKER_MANIFEST}","digest":"{}","size":5,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#,
            d('c')
        );
        let idx: ImageIndex = serde_json::from_str(&json).unwrap();
        let p = idx.manifests[0].platform.as_ref().unwrap();
        assert_eq!(p.variant.as_deref(), Some("v8"));
        assert!(is_index_media_type(idx.media_type.as_deref().unwrap()));
        assert!(is_manifest_media_type(&idx.manifests[0].media_type));
    }

    #[test]
    fn config_helpers_preserve_unknown_fields() {
        let raw = br#"{"architecture":"amd64","os":"linux","docker_version":"x","config":{"Env":["PATH=/bin","A=1"],"Labels":{"k":"v"},"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let mut c = ImageConfig::from_bytes(raw, "test").unwrap();
        assert_eq!(c.env_var("PATH").as_deref(), Some("/bin"));
        c.set_env_var("PATH", "/cnb/process:/bin");
        c.set_env_var("NEW", "x=y");
        assert_eq!(c.env(), vec!["PATH=/cnb/process:/bin", "A=1", "NEW=x=y"]);
        c.set_label("z", "1");
        assert_eq!(c.label("k"), Some("v"));
        assert_eq!(c.remove_label("k").as_deref(), Some("v"));
        c.set_entrypoint(Some(vec!["/cnb/lifecycle/launcher".into()]));
        c.set_cmd(None);
        c.set_diff_ids(&[d('a')]);
        c.push_history(&HistoryEntry {
            created_by: Some("x".into()),
            ..HistoryEntry::default()
        })
        .unwrap();
        assert_eq!(c.diff_ids().unwrap(), vec![d('a')]);
        assert_eq!(c.history()[0].created_by.as_deref(), Some("x"));
        let out = String::from_utf8(c.to_bytes().unwrap()).unwrap();
        assert!(out.contains("\"docker_version\":\"x\""));
        assert!(out.contains("\"ExposedPorts\":{\"80/tcp\":{}}"));
        assert!(out.contains("\"Labels\":{\"z\":\"1\"}"));
        // deterministic: parse + reserialise is a fixpoint
        let again = ImageConfig::from_bytes(out.as_bytes(), "again").unwrap();
        assert_eq!(again.to_bytes().unwrap(), out.as_bytes());
    }

    #[test]
    fn config_rejects_non_object() {
        assert!(ImageConfig::from_bytes(b"[1]", "x").is_err());
        assert!(ImageConfig::from_bytes(b"{", "x").is_err());
    }

    #[test]
    fn docker_layer_maps_to_oci() {
        assert_eq!(
            oci_layer_media_type(MEDIA_TYPE_DOCKER_LAYER_GZIP),
            Some(MEDIA_TYPE_OCI_LAYER_GZIP)
        );
        assert_eq!(oci_layer_media_type(MEDIA_TYPE_OCI_CONFIG), None);
    }
}
