//! Diff_ids remembered by layer identity ([`LayerBuilder::identity`]): a layer made of the
//! same unchanged host files has the same tar, so its diff_id is known without reading the
//! files again. Records live in a directory Kiln owns (`<cache>/layer-ids/<hex>`); a missing or
//! unreadable record only costs a re-hash.
//!
//! [`LayerBuilder::identity`]: crate::LayerBuilder::identity

use std::path::PathBuf;

use super::Digest;

/// The record of diff_ids by layer identity (`None`: no cache dir; nothing is remembered).
#[derive(Debug, Clone, Default)]
pub struct LayerIds {
    dir: Option<PathBuf>,
}

impl LayerIds {
    /// Records kept in `dir`.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The diff_id and uncompressed size remembered for `identity`.
    pub fn get(&self, identity: &Digest) -> Option<(Digest, u64)> {
        let path = self.dir.as_ref()?.join(identity.hex());
        let text = std::fs::read_to_string(path).ok()?;
        let (diff_id, size) = text.trim_end().split_once(' ')?;
        Some((Digest::parse(diff_id).ok()?, size.parse().ok()?))
    }

    /// Remember that the layer with `identity` has `diff_id` and `size` uncompressed bytes;
    /// a failure to write is logged and otherwise ignored.
    pub fn put(&self, identity: &Digest, diff_id: &Digest, size: u64) {
        let Some(dir) = &self.dir else {
            return;
        };
        let path = dir.join(identity.hex());
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            kiln_fs::atomic_file::write(&path, format!("{diff_id} {size}\n").as_bytes())
        });
        if let Err(e) = written {
            tracing::debug!(path = %path.display(), error = %e, "could not remember a layer's diff_id");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_ignores_garbage() {
        let t = tempfile::tempdir().unwrap();
        let ids = LayerIds::new(Some(t.path().join("ids")));
        let identity = Digest::of_bytes(b"layer");
        assert_eq!(ids.get(&identity), None);
        let diff_id = Digest::of_bytes(b"tar");
        ids.put(&identity, &diff_id, 42);
        assert_eq!(ids.get(&identity), Some((diff_id, 42)));
        std::fs::write(t.path().join("ids").join(identity.hex()), "sha256:zz 1\n").unwrap();
        assert_eq!(ids.get(&identity), None);
        assert_eq!(LayerIds::new(None).get(&identity), None);
    }
}
