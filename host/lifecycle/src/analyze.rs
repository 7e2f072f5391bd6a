//! Analyze: read the previous image (by default the output image, if it exists) so buildpacks
//! get the metadata of their launch layers and unchanged layers can be reused by digest.

use std::collections::BTreeMap;

use serde::Deserialize;

use kiln_oci::{Descriptor, Digest, LocalImage, OciLayout};
use kiln_spec::labels::LIFECYCLE_METADATA;

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
    image: LocalImage,
    layers: BTreeMap<String, BTreeMap<String, PreviousLayer>>,
}

impl PreviousImage {
    /// The previous image `image`, with the layer records of its lifecycle label (a label
    /// that does not parse records nothing: every layer is then rebuilt, none is lost).
    pub fn new(image: LocalImage) -> Self {
        let label: Option<Label> = image
            .resolved
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
        Self { image, layers }
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
        let ids = self.image.resolved.config.diff_ids().ok()?;
        let i = ids.iter().position(|d| d == diff_id)?;
        self.image.resolved.manifest.layers.get(i).cloned()
    }

    /// The layout holding the previous image (its blobs).
    pub fn layout(&self) -> &OciLayout {
        &self.image.layout
    }
}

#[cfg(test)]
mod tests;
