//! The resolved inputs of one build, recorded on the image it made as the label
//! `io.kiln.build.inputs`: canonical JSON (sorted keys, no times), so the same inputs give
//! the same label and the same image digest.

use serde::{Deserialize, Serialize};

/// The label the inputs are recorded in.
pub const INPUTS_LABEL: &str = "io.kiln.build.inputs";

/// Everything a build depended on, resolved to digests and commits. Fields are in
/// alphabetical order of their JSON names, so the JSON is sorted however serde_json is built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildInputs {
    /// The build image, when the spec names one.
    #[serde(
        rename = "buildImage",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub build_image: Option<ResolvedImage>,
    /// The buildpacks, in the spec's order.
    pub buildpacks: Vec<ResolvedBuildpack>,
    /// The Kiln version that built the image (its lifecycle).
    pub kiln: String,
    /// The run image.
    #[serde(rename = "runImage")]
    pub run_image: ResolvedImage,
    /// The source.
    pub source: ResolvedSource,
    /// [`crate::ImageSpec::config_hash`] of the spec.
    #[serde(rename = "specHash")]
    pub spec_hash: String,
}

/// An image reference and the manifest digest it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedImage {
    /// The manifest digest.
    pub digest: String,
    /// The reference as the spec writes it.
    pub reference: String,
}

/// A buildpack reference and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedBuildpack {
    /// The digest of the artifact's manifest, or of the component file.
    pub digest: String,
    /// The buildpack id, once the build loaded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The reference as the spec writes it.
    pub reference: String,
    /// The buildpack version, once the build loaded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A source and the revision it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedSource {
    /// What was built: the git commit id, or the `sha256:` digest of a blob or directory.
    pub id: String,
    /// `git`, `blob` or `path`.
    pub kind: String,
    /// The branch, tag or commit asked for (git).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The app's directory inside the source.
    #[serde(rename = "subPath", default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    /// The URL or path.
    pub url: String,
}

impl BuildInputs {
    /// The label value: compact JSON with sorted keys.
    pub fn to_label(&self) -> String {
        // Plain strings, options and vectors: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parse a label value; the error says why it is not what Kiln writes. Unknown keys
    /// (from a newer Kiln) are ignored.
    pub fn from_label(label: &str) -> Result<Self, String> {
        serde_json::from_str(label).map_err(|e| e.to_string())
    }
}
