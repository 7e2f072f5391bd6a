//! A flat summary of one image in a layout, for `kiln inspect` and tests.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Digest, OciLayout, ResolvedImage, Result};

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerSummary {
    /// Layer media type.
    pub media_type: String,
    /// Digest of the (compressed) blob.
    pub digest: Digest,
    /// Size of the blob in bytes.
    pub size: u64,
    /// The matching `rootfs.diff_ids` entry, if the config has one.
    pub diff_id: Option<Digest>,
    /// `created_by` of the matching non-empty history entry, if any.
    pub created_by: Option<String>,
}

/// The interesting parts of an image's manifest and config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    /// The tag of the index entry, if it has one.
    pub tag: Option<String>,
    /// sha256 of the manifest bytes.
    pub manifest_digest: Digest,
    /// Size of the manifest in bytes.
    pub manifest_size: u64,
    /// Config digest (the image ID).
    pub config_digest: Digest,
    /// `os`.
    pub os: Option<String>,
    /// `architecture`.
    pub architecture: Option<String>,
    /// `variant`.
    pub variant: Option<String>,
    /// `created`.
    pub created: Option<String>,
    /// Layers, bottom first.
    pub layers: Vec<LayerSummary>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// `config.Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `config.Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `config.Env`.
    pub env: Vec<String>,
    /// `config.WorkingDir`.
    pub working_dir: Option<String>,
    /// `config.User`.
    pub user: Option<String>,
}

impl ImageSummary {
    /// Reads and summarises the image `tag` (see [`OciLayout::resolve`]).
    pub fn from_layout(layout: &OciLayout, tag: Option<&str>) -> Result<Self> {
        Self::from_resolved(&layout.resolve(tag)?)
    }

    /// Summarises an already resolved image.
    pub fn from_resolved(img: &ResolvedImage) -> Result<Self> {
        let c = &img.config;
        let diff_ids = c.diff_ids()?;
        let mut created_by = c
            .history()
            .into_iter()
            .filter(|h| h.empty_layer != Some(true))
            .map(|h| h.created_by);
        let layers = img
            .manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, d)| LayerSummary {
                media_type: d.media_type.clone(),
                digest: d.digest.clone(),
                size: d.size,
                diff_id: diff_ids.get(i).cloned(),
                created_by: created_by.next().flatten(),
            })
            .collect();
        Ok(Self {
            tag: img.tag.clone(),
            manifest_digest: img.manifest_descriptor.digest.clone(),
            manifest_size: img.manifest_descriptor.size,
            config_digest: img.manifest.config.digest.clone(),
            os: c.os().map(str::to_owned),
            architecture: c.architecture().map(str::to_owned),
            variant: c.variant().map(str::to_owned),
            created: c.created().map(str::to_owned),
            layers,
            labels: c.labels(),
            entrypoint: c.entrypoint(),
            cmd: c.cmd(),
            env: c.env(),
            working_dir: c.working_dir().map(str::to_owned),
            user: c.user().map(str::to_owned),
        })
    }
}
