//! Garbage collection of an OCI image layout: remove the blobs nothing in `index.json`
//! reaches.
//!
//! Reachability starts at every `index.json` entry (tagged or not) and follows image
//! indexes (their manifests) and image manifests (config, layers, `subject`). A blob of any
//! other media type is kept if referenced, and never parsed. A referenced manifest or index
//! that is missing, corrupt or not JSON makes the collection fail before anything is
//! deleted. Files Kiln is still writing (`.tmp-*`), files whose names are not sha256 digests
//! and other algorithm directories are left alone.
//!
//! The caller must keep other writers out of the layout (Kiln holds the output lock): a
//! blob written but not yet tagged is unreachable until its `index.json` entry lands.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::layout::{BLOB_TEMP_PREFIX, OCI_LAYOUT_FILE};
use crate::spec::{Descriptor, is_index_media_type, is_manifest_media_type};
use crate::{Digest, ImageError, OciLayout, Result, io_err};

/// Media type of the (withdrawn) OCI artifact manifest, whose `blobs` are followed too.
const MEDIA_TYPE_OCI_ARTIFACT_MANIFEST: &str = "application/vnd.oci.artifact.manifest.v1+json";

/// What a collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Number of blob files removed.
    pub removed: usize,
    /// Their total size in bytes.
    pub freed_bytes: u64,
}

/// Removes every blob of `layout` that no `index.json` entry reaches (see the module docs).
/// Holds the layout's `index.json` lock while it runs.
pub fn collect_garbage(layout: &OciLayout) -> Result<GcReport> {
    collect_garbage_with(layout, None)
}

/// [`collect_garbage`] for a layout other processes may be writing without a lock (Kiln's
/// registry store): with `grace`, an unreachable blob is removed only when it was last
/// modified more than `grace` ago (a blob written for an image not yet tagged is young;
/// [`crate::BlobStore`] freshens an old blob a write finds already present), and `.tmp-*`
/// files older than `grace` (left by killed writers) are removed too.
pub fn collect_garbage_with(layout: &OciLayout, grace: Option<Duration>) -> Result<GcReport> {
    let marker = layout.root().join(OCI_LAYOUT_FILE);
    let lock = File::open(&marker).map_err(io_err("open", &marker))?;
    lock.lock().map_err(io_err("lock", &marker))?;
    let result = reachable(layout).and_then(|keep| sweep(layout.blobs().dir(), &keep, grace));
    let _ = lock.unlock();
    result
}

/// Whether `meta` was last modified more than `grace` ago (always, without a grace).
fn older_than(meta: &fs::Metadata, grace: Option<Duration>) -> bool {
    let Some(grace) = grace else { return true };
    meta.modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > grace)
}

/// The digests reachable from `index.json`.
fn reachable(layout: &OciLayout) -> Result<HashSet<Digest>> {
    let mut seen = HashSet::new();
    let mut pending: Vec<Descriptor> = layout.index()?.manifests;
    while let Some(desc) = pending.pop() {
        if !seen.insert(desc.digest.clone()) || !is_followed(&desc.media_type) {
            continue;
        }
        let bytes = layout.blobs().read_descriptor(&desc)?;
        pending.extend(children(&desc.digest, &bytes)?);
    }
    Ok(seen)
}

fn is_followed(media_type: &str) -> bool {
    is_manifest_media_type(media_type)
        || is_index_media_type(media_type)
        || media_type == MEDIA_TYPE_OCI_ARTIFACT_MANIFEST
}

/// The descriptors a manifest or index blob references: `config`, `subject`, `layers`,
/// `manifests`, `blobs`. Anything unparsable is an error naming the blob.
fn children(digest: &Digest, bytes: &[u8]) -> Result<Vec<Descriptor>> {
    let what = || format!("blob {digest}");
    let value: Value = serde_json::from_slice(bytes).map_err(|source| ImageError::Json {
        what: what(),
        source,
    })?;
    let Value::Object(map) = value else {
        return Err(ImageError::InvalidManifest {
            what: what(),
            reason: "not a JSON object".into(),
        });
    };
    let mut out = Vec::new();
    for key in ["config", "subject", "layers", "manifests", "blobs"] {
        let items = match map.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items.clone(),
            Some(one) => vec![one.clone()],
        };
        for item in items {
            let desc = serde_json::from_value(item).map_err(|source| ImageError::Json {
                what: format!("{} ({key})", what()),
                source,
            })?;
            out.push(desc);
        }
    }
    Ok(out)
}

/// Removes the sha256-named files in `dir` not in `keep` (with `grace`: only old ones, and
/// old temp files).
fn sweep(dir: &Path, keep: &HashSet<Digest>, grace: Option<Duration>) -> Result<GcReport> {
    let mut report = GcReport::default();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        if name.starts_with(BLOB_TEMP_PREFIX) {
            if grace.is_some()
                && fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && older_than(&m, grace))
            {
                remove(&path, &mut report)?;
            }
            continue;
        }
        let Ok(digest) = Digest::parse(&format!("sha256:{name}")) else {
            continue;
        };
        if keep.contains(&digest) {
            continue;
        }
        let meta = fs::symlink_metadata(&path).map_err(io_err("inspect", &path))?;
        if !meta.is_file() || !older_than(&meta, grace) {
            continue;
        }
        remove(&path, &mut report)?;
    }
    Ok(report)
}

/// Remove the file `path` and count it (one already gone is not an error).
fn remove(path: &Path, report: &mut GcReport) -> Result<()> {
    let size = fs::symlink_metadata(path).map_or(0, |m| m.len());
    match fs::remove_file(path) {
        Ok(()) => {
            report.removed += 1;
            report.freed_bytes += size;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", path)(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::{ImageIndex, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, Platform};
    use crate::{ImageConfig, ImageManifest, LayerBuilder, LayerOwnership, WrittenLayer};

    fn layer(layout: &OciLayout, content: &str) -> WrittenLayer {
        let mut b = LayerBuilder::new(LayerOwnership::ROOT);
        b.add_file("etc/content", content.as_bytes().to_vec(), 0o644)
            .unwrap();
        b.write_to(layout.blobs()).unwrap()
    }

    fn image(layout: &OciLayout, tag: &str, layers: &[&WrittenLayer]) -> Descriptor {
        let mut c = ImageConfig::new("linux", kiln_spec::platform::host_arch());
        c.set_label("tag", tag);
        c.set_diff_ids(&layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>());
        let descs = layers.iter().map(|l| l.descriptor.clone()).collect();
        layout.write_image(tag, &c, descs).unwrap().manifest
    }

    fn blob_names(layout: &OciLayout) -> HashSet<String> {
        fs::read_dir(layout.blobs().dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    fn has(layout: &OciLayout, d: &Digest) -> bool {
        layout.blobs().has(d)
    }

    /// Drops `tag`'s entry from `index.json` (as if it had been retagged elsewhere).
    fn untag(layout: &OciLayout, tag: &str) {
        let mut index = layout.index().unwrap();
        index.manifests.retain(|d| d.ref_name() != Some(tag));
        fs::write(layout.index_path(), index.to_bytes().unwrap()).unwrap();
    }

    #[test]
    fn shared_layers_survive_removing_one_tag() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let shared = layer(&layout, "shared");
        let only_a = layer(&layout, "a");
        let only_b = layer(&layout, "b");
        let a = image(&layout, "a", &[&shared, &only_a]);
        let b = image(&layout, "b", &[&shared, &only_b]);
        assert_eq!(collect_garbage(&layout).unwrap(), GcReport::default());

        untag(&layout, "a");
        let before = blob_names(&layout).len();
        let report = collect_garbage(&layout).unwrap();
        assert_eq!(report.removed, 3, "a's layer, config and manifest");
        assert!(report.freed_bytes > 0);
        assert_eq!(blob_names(&layout).len(), before - 3);
        assert!(!has(&layout, &a.digest));
        assert!(!has(&layout, &only_a.descriptor.digest));
        assert!(has(&layout, &shared.descriptor.digest));
        assert!(has(&layout, &only_b.descriptor.digest));
        assert_eq!(
            layout.resolve(Some("b")).unwrap().manifest_digest(),
            &b.digest
        );
    }

    #[test]
    fn index_keeps_its_children_and_untagged_entries_count() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let l1 = layer(&layout, "one");
        let l2 = layer(&layout, "two");
        let m1 = image(&layout, "one", &[&l1]);
        let m2 = image(&layout, "two", &[&l2]);
        let plat = |arch: &str| Platform {
            architecture: arch.into(),
            os: "linux".into(),
            os_version: None,
            os_features: None,
            variant: None,
        };
        let mut idx = ImageIndex::new();
        for (m, arch) in [(&m1, "amd64"), (&m2, "arm64")] {
            let mut e = m.clone();
            e.annotations = None;
            e.platform = Some(plat(arch));
            idx.manifests.push(e);
        }
        let nested = layout
            .blobs()
            .write_bytes(&idx.to_bytes().unwrap(), MEDIA_TYPE_OCI_INDEX)
            .unwrap();
        let mut entry = nested.clone();
        entry.set_ref_name("multi");
        layout.tag_descriptor(entry).unwrap();
        untag(&layout, "one");
        untag(&layout, "two");
        // an untagged entry is a root too
        let l3 = layer(&layout, "three");
        let m3 = image(&layout, "three", &[&l3]);
        let mut index = layout.index().unwrap();
        for d in &mut index.manifests {
            d.annotations = None;
        }
        fs::write(layout.index_path(), index.to_bytes().unwrap()).unwrap();

        assert_eq!(collect_garbage(&layout).unwrap().removed, 0);
        for d in [&nested.digest, &m1.digest, &m2.digest, &m3.digest] {
            assert!(has(&layout, d), "{d}");
        }
        for l in [&l1, &l2, &l3] {
            assert!(has(&layout, &l.descriptor.digest));
        }
    }

    #[test]
    fn unreferenced_blob_is_removed_and_other_files_are_not() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let l = layer(&layout, "x");
        image(&layout, "x", &[&l]);
        let stray = layout
            .blobs()
            .write_bytes(b"nobody wants me", "application/octet-stream")
            .unwrap();
        let dir = layout.blobs().dir();
        let temp = dir.join(format!("{BLOB_TEMP_PREFIX}in-progress"));
        fs::write(&temp, b"half a blob").unwrap();
        fs::write(dir.join("README"), b"not a digest").unwrap();
        fs::create_dir_all(t.path().join("blobs/sha512")).unwrap();
        fs::write(t.path().join("blobs/sha512/abc"), b"other algorithm").unwrap();

        let report = collect_garbage(&layout).unwrap();
        assert_eq!(
            report,
            GcReport {
                removed: 1,
                freed_bytes: 15
            }
        );
        assert!(!has(&layout, &stray.digest));
        assert!(temp.exists());
        assert!(dir.join("README").exists());
        assert!(t.path().join("blobs/sha512/abc").exists());
        layout.resolve(Some("x")).unwrap();
    }

    fn age(path: &Path, secs: u64) {
        let t = SystemTime::now() - Duration::from_secs(secs);
        File::open(path).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn with_a_grace_period_only_old_unreachable_blobs_and_old_temp_files_go() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let l = layer(&layout, "x");
        image(&layout, "x", &[&l]);
        age(&layout.blobs().path(&l.descriptor.digest), 7200);
        let old = layout.blobs().write_bytes(b"old", "x/y").unwrap();
        let young = layout.blobs().write_bytes(b"young", "x/y").unwrap();
        age(&layout.blobs().path(&old.digest), 7200);
        let dir = layout.blobs().dir();
        fs::write(dir.join(format!("{BLOB_TEMP_PREFIX}old")), b"t").unwrap();
        fs::write(dir.join(format!("{BLOB_TEMP_PREFIX}young")), b"t").unwrap();
        age(&dir.join(format!("{BLOB_TEMP_PREFIX}old")), 7200);

        let report = collect_garbage_with(&layout, Some(Duration::from_hours(1))).unwrap();
        assert_eq!(report.removed, 2, "{report:?}");
        assert!(!has(&layout, &old.digest));
        assert!(has(&layout, &young.digest));
        assert!(has(&layout, &l.descriptor.digest));
        assert!(!dir.join(format!("{BLOB_TEMP_PREFIX}old")).exists());
        assert!(dir.join(format!("{BLOB_TEMP_PREFIX}young")).exists());

        // A write that finds an old unreachable blob freshens it: it survives the next sweep.
        age(&layout.blobs().path(&young.digest), 7200);
        layout.blobs().write_bytes(b"young", "x/y").unwrap();
        collect_garbage_with(&layout, Some(Duration::from_hours(1))).unwrap();
        assert!(has(&layout, &young.digest));
    }

    #[test]
    fn referenced_unknown_media_types_and_subjects_are_kept() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let l = layer(&layout, "base");
        let base = image(&layout, "base", &[&l]);
        untag(&layout, "base");
        let sig = layout
            .blobs()
            .write_bytes(b"signature", "application/vnd.example.sig")
            .unwrap();
        let cfg = layout
            .blobs()
            .write_bytes(b"{}", "application/vnd.example.config")
            .unwrap();
        let mut subject = base.clone();
        subject.annotations = None;
        let mut referrer = ImageManifest::new_oci(cfg, vec![sig.clone()]);
        referrer.subject = Some(subject);
        let rdesc = layout
            .blobs()
            .write_bytes(&referrer.to_bytes().unwrap(), MEDIA_TYPE_OCI_MANIFEST)
            .unwrap();
        let mut entry = rdesc;
        entry.set_ref_name("sig");
        layout.tag_descriptor(entry).unwrap();

        assert_eq!(collect_garbage(&layout).unwrap().removed, 0);
        assert!(has(&layout, &sig.digest));
        assert!(has(&layout, &base.digest));
        assert!(has(&layout, &l.descriptor.digest));
    }

    #[test]
    fn corrupt_referenced_manifest_refuses_and_removes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let layout = OciLayout::create_or_open(t.path()).unwrap();
        let l = layer(&layout, "x");
        image(&layout, "x", &[&l]);
        layout
            .blobs()
            .write_bytes(b"stray", "application/octet-stream")
            .unwrap();
        // a referenced "manifest" that is not JSON (its digest matches its content)
        let bogus = layout
            .blobs()
            .write_bytes(b"not json", MEDIA_TYPE_OCI_MANIFEST)
            .unwrap();
        let mut entry = bogus.clone();
        entry.set_ref_name("bogus");
        layout.tag_descriptor(entry).unwrap();
        let before = blob_names(&layout);

        let err = collect_garbage(&layout).unwrap_err();
        assert!(err.to_string().contains(bogus.digest.as_str()), "{err}");
        assert_eq!(blob_names(&layout), before);

        // a referenced manifest whose content no longer matches its digest
        untag(&layout, "bogus");
        let manifest = layout.resolve(Some("x")).unwrap().manifest_descriptor;
        fs::write(layout.blobs().path(&manifest.digest), b"{}").unwrap();
        let before = blob_names(&layout);
        assert!(collect_garbage(&layout).is_err());
        assert_eq!(blob_names(&layout), before);
    }
}
