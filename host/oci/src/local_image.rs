//! An image in an OCI layout on this machine, resolved to one manifest: what every transport
//! (layout, docker archive, registry via the local store) yields when it is opened.

use std::path::Path;

use crate::{ImageError, OciLayout, ResolvedImage};

/// An image resolved in a layout, with the layout its blobs are read from.
pub struct LocalImage {
    /// The layout holding its blobs.
    pub layout: OciLayout,
    /// Its manifest descriptor, manifest and config.
    pub resolved: ResolvedImage,
    /// A temporary directory the layout lives in (an imported archive), removed on drop.
    _temp: Option<tempfile::TempDir>,
}

impl LocalImage {
    /// `resolved` in `layout`.
    pub fn new(layout: OciLayout, resolved: ResolvedImage) -> Self {
        Self {
            layout,
            resolved,
            _temp: None,
        }
    }

    /// Open `dir` and resolve `tag` in it; a missing layout or tag is an error naming it.
    pub fn open(dir: &Path, tag: &str) -> Result<Self, ImageError> {
        let layout = OciLayout::open(dir)?;
        let resolved = layout.resolve(Some(tag))?;
        Ok(Self::new(layout, resolved))
    }

    /// Open `dir` and resolve `tag`, or `None` when there is no layout at `dir` or no `tag`
    /// in it (a damaged layout is still an error).
    pub fn open_if_present(dir: &Path, tag: &str) -> Result<Option<Self>, ImageError> {
        if !dir.join("index.json").is_file() {
            return Ok(None);
        }
        let layout = OciLayout::open(dir)?;
        if !layout.tags()?.iter().any(|t| t == tag) {
            return Ok(None);
        }
        let resolved = layout.resolve(Some(tag))?;
        Ok(Some(Self::new(layout, resolved)))
    }

    /// Import a `docker save` tarball into a private temporary layout (layers stay
    /// uncompressed, so their digests are their diff_ids and nothing is recompressed).
    pub fn import_docker_archive(file: &Path, name_tag: Option<&str>) -> Result<Self, ImageError> {
        let archive = crate::read_docker_archive(file, name_tag)?;
        let temp = tempfile::Builder::new()
            .prefix("kiln-import-")
            .tempdir()
            .map_err(crate::io_err(
                "create a temporary directory in",
                std::env::temp_dir(),
            ))?;
        let layout = OciLayout::create_or_open(temp.path().join("layout"))?;
        let layers = archive.import_into(layout.blobs())?;
        layout.write_image(crate::DEFAULT_TAG, &archive.config, layers)?;
        let resolved = layout.resolve(Some(crate::DEFAULT_TAG))?;
        Ok(Self {
            layout,
            resolved,
            _temp: Some(temp),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ImageConfig;

    #[test]
    fn a_missing_layout_or_tag_is_absent_but_a_damaged_layout_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layout");
        assert!(
            LocalImage::open_if_present(&dir, "latest")
                .unwrap()
                .is_none()
        );
        let layout = OciLayout::create_or_open(&dir).unwrap();
        layout
            .write_image("v1", &ImageConfig::new("linux", "amd64"), Vec::new())
            .unwrap();
        assert!(
            LocalImage::open_if_present(&dir, "latest")
                .unwrap()
                .is_none()
        );
        let image = LocalImage::open_if_present(&dir, "v1").unwrap().unwrap();
        assert!(image.resolved.manifest.layers.is_empty());
        std::fs::write(dir.join("index.json"), b"{not json").unwrap();
        assert!(LocalImage::open_if_present(&dir, "v1").is_err());
        assert!(LocalImage::open(&dir, "v1").is_err());
    }
}
