//! Analyze: read the previous image (by default the output image, if it exists) so buildpacks
//! get the metadata of their launch layers and unchanged layers can be reused by digest.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::export::labels::LIFECYCLE_METADATA;
use crate::image::{Descriptor, Digest, ImageError, ImageRef, OciLayout, ResolvedImage};

/// A launch layer recorded in the previous image's label.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreviousLayer {
    /// diff_id.
    pub sha: String,
    /// Metadata.
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Types.
    #[serde(default)]
    pub build: bool,
    /// Types.
    #[serde(default)]
    pub launch: bool,
    /// Types.
    #[serde(default)]
    pub cache: bool,
}

#[derive(Debug, Deserialize)]
struct LabelBuildpack {
    key: String,
    #[serde(default)]
    layers: BTreeMap<String, PreviousLayer>,
}

#[derive(Debug, Deserialize)]
struct Label {
    #[serde(default)]
    buildpacks: Vec<LabelBuildpack>,
}

/// The previous image, when there is one.
pub struct PreviousImage {
    layout: OciLayout,
    resolved: ResolvedImage,
    layers: BTreeMap<String, BTreeMap<String, PreviousLayer>>,
}

/// The previous image could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}", match source {
    ImageError::Registry(e) => format!("previous image: {e}"),
    other => format!("previous image {reference}: {other}"),
})]
pub struct AnalyzeError {
    /// The reference.
    pub reference: String,
    /// Cause.
    #[source]
    pub source: ImageError,
}

impl PreviousImage {
    /// Open `reference` (`oci:DIR[:TAG]` or a registry reference, which is pulled into the
    /// local store). A registry image, layout or tag that does not exist is not an
    /// error (there is simply no previous image); a damaged one is.
    pub fn open(reference: &str) -> Result<Option<Self>, AnalyzeError> {
        let wrap = |source| AnalyzeError {
            reference: reference.to_owned(),
            source,
        };
        if crate::registry::is_registry_ref(reference) {
            let options = crate::registry::PullOptions { layers: true };
            return match crate::registry::localize(reference, options)
                .map_err(|e| wrap(e.into()))?
            {
                Some(local) => Self::open(&local.local),
                None => Ok(None),
            };
        }
        let ImageRef::Layout { dir, tag } = ImageRef::parse(reference).map_err(wrap)? else {
            return Ok(None);
        };
        if !dir.join("index.json").is_file() {
            return Ok(None);
        }
        let layout = OciLayout::open(&dir).map_err(wrap)?;
        if !layout.tags().map_err(wrap)?.contains(&tag) {
            return Ok(None);
        }
        let resolved = layout.resolve(Some(&tag)).map_err(wrap)?;
        let label: Option<Label> = resolved
            .config
            .label(LIFECYCLE_METADATA)
            .and_then(|l| serde_json::from_str(l).ok());
        let layers = label
            .map(|l| {
                l.buildpacks
                    .into_iter()
                    .map(|b| (b.key, b.layers))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(Self {
            layout,
            resolved,
            layers,
        }))
    }

    /// The recorded launch layers of buildpack `id`.
    pub fn buildpack_layers(&self, id: &str) -> Option<&BTreeMap<String, PreviousLayer>> {
        self.layers.get(id)
    }

    /// The recorded layer `name` of buildpack `id`.
    pub fn layer(&self, id: &str, name: &str) -> Option<&PreviousLayer> {
        self.layers.get(id)?.get(name)
    }

    /// The descriptor of the previous image's layer with `diff_id`, if it has one.
    pub fn descriptor_for(&self, diff_id: &Digest) -> Option<Descriptor> {
        let ids = self.resolved.config.diff_ids().ok()?;
        let i = ids.iter().position(|d| d == diff_id)?;
        self.resolved.manifest.layers.get(i).cloned()
    }

    /// The layout holding the previous image (its blobs).
    pub fn layout(&self) -> &OciLayout {
        &self.layout
    }
}
