//! `kiln sbom`: extract the SBOM layer (`/layers/sbom/…`) of an image into a directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use kiln_oci::{ImageError, LocalImage};
use kiln_spec::labels::LIFECYCLE_METADATA;

/// The SBOM of an image could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// The image has no SBOM layer, or its label points at no layer.
    #[error("{0}")]
    Missing(String),
    /// Reading the layer or writing a file failed.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Where SBOM files live inside images.
const SBOM_PREFIX: &str = "layers/sbom/";

/// Extract the SBOM files of `image` (named `name` in messages) into `out`, keeping their
/// paths below `/layers/sbom` (e.g. `launch/<buildpack>/<layer>/sbom.cdx.json`). Returns the
/// files written.
pub fn extract(name: &str, image: &LocalImage, out: &Path) -> Result<Vec<PathBuf>, SbomError> {
    let (layout, resolved) = (&image.layout, &image.resolved);
    let image = name;
    let sha = resolved
        .config
        .label(LIFECYCLE_METADATA)
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .and_then(|v| v["sbom"]["sha"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            SbomError::Missing(format!(
                "image {image} has no SBOM layer (none of its buildpacks attached an SBOM to a launch layer)"
            ))
        })?;
    let diff_ids = resolved.config.diff_ids()?;
    let index = diff_ids
        .iter()
        .position(|d| d.as_str() == sha)
        .ok_or_else(|| {
            SbomError::Missing(format!(
                "image {image}: its SBOM layer {sha} is not among its layers"
            ))
        })?;
    let desc = &resolved.manifest.layers[index];
    let file = layout.blobs().open(&desc.digest)?;
    let reader: Box<dyn Read> = if desc.media_type.ends_with("gzip") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let blob_path = layout.blobs().path(&desc.digest);
    let io = |source: std::io::Error| {
        SbomError::Image(ImageError::Io {
            action: "read SBOM layer",
            path: blob_path.clone(),
            source,
        })
    };
    let mut archive = tar::Archive::new(reader);
    let mut written = Vec::new();
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().map_err(io)?.to_string_lossy().into_owned();
        let Some(rel) = path
            .trim_start_matches('/')
            .strip_prefix(SBOM_PREFIX)
            .map(str::to_owned)
        else {
            continue;
        };
        if !crate::outcome::is_relative_inside(&rel) {
            continue;
        }
        let target = out.join(&rel);
        let parent = target.parent().unwrap_or(out);
        let write_err = |source| {
            SbomError::Image(ImageError::Io {
                action: "write",
                path: target.clone(),
                source,
            })
        };
        std::fs::create_dir_all(parent).map_err(write_err)?;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(io)?;
        std::fs::write(&target, bytes).map_err(write_err)?;
        written.push(target);
    }
    Ok(written)
}
