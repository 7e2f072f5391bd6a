//! The layer cache of a build: a directory (default: one per output) or a registry cache
//! image mirrored into one; locked for the build, read before the build phase, saved after
//! export. Failures to read or save it are warnings, never a failed build.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_fs::DirLock;
use kiln_lifecycle::analyze::PreviousImage;
use kiln_lifecycle::build;
use kiln_lifecycle::buildpack::Buildpack;
use kiln_lifecycle::cache::{self, Cache, LayerToSave};
use kiln_lifecycle::{Restored, restore};
use kiln_registry as registry;

use super::output::OutputTarget;
use super::{Reporter, Request};
use crate::cache_image::CacheImage;
use crate::error::Result;

/// The layer cache of one build, locked until dropped.
pub(super) struct LayerCache {
    cache: Option<Cache>,
    image: Option<CacheImage>,
    _lock: Option<DirLock>,
}

impl LayerCache {
    /// The cache `request` asks for (`--cache-image`, `--cache-dir`, else the output's
    /// default), restored from its registry image first when there is one, and locked.
    pub fn open(
        request: &Request,
        output: &OutputTarget,
        locks: &Path,
        reporter: &dyn Reporter,
    ) -> Result<Self> {
        let image = request
            .cache_image
            .clone()
            .map(|r| CacheImage::new(r, &request.services));
        if let Some(image) = &image {
            match image.restore() {
                Ok(n) => reporter.info(&format!(
                    "Cache image {}: {n} cached layers",
                    image.reference()
                )),
                Err(e) => reporter.warn(&format!(
                    "could not restore the cache image (building without a cache): {e}"
                )),
            }
        }
        let cache = match &image {
            Some(image) => Some(image.cache().clone()),
            None => request
                .cache_dir
                .clone()
                .or_else(|| cache::default_dir(&request.services.caches, &output.cache_key()))
                .map(Cache::new),
        };
        let wait_note = |m: &str| reporter.info(m);
        let lock = match &cache {
            Some(c) => Some(DirLock::acquire(
                locks,
                c.dir(),
                "layer cache",
                request.wait_for_locks,
                &wait_note,
            )?),
            None => None,
        };
        Ok(Self {
            cache,
            image,
            _lock: lock,
        })
    }

    /// The restore phase: cached layers back into `layers_dir`, and what each buildpack of
    /// the group gets to see from the cache and the `previous` image.
    pub fn restore(
        &self,
        previous: Option<&PreviousImage>,
        buildpacks: &[Buildpack],
        group: &[usize],
        layers_dir: &Path,
        reporter: &dyn Reporter,
    ) -> BTreeMap<usize, Restored> {
        let meta = self.cache.as_ref().and_then(|c| match c.load() {
            Ok(meta) => meta,
            Err(e) => {
                reporter.warn(&e.to_string());
                None
            }
        });
        let warn = |m: &str| reporter.warn(m);
        let restored = restore::restore(
            self.cache.as_ref().zip(meta.as_ref()),
            previous,
            buildpacks,
            group,
            layers_dir,
            &warn,
        );
        for (i, r) in &restored {
            for l in &r.layers {
                let from = if l.has_contents {
                    "cache"
                } else {
                    "previous image"
                };
                reporter.debug(&format!(
                    "Restored {}:{} metadata from the {from}",
                    buildpacks[*i].descriptor.id, l.name
                ));
            }
        }
        restored
    }

    /// Save the `cache=true` layers, then publish the cache image if there is one.
    pub fn save(
        &self,
        buildpacks: &[Buildpack],
        built: &[build::BuiltBuildpack],
        layers_dir: &Path,
        request: &Request,
        reporter: &dyn Reporter,
    ) {
        if let Some(cache) = &self.cache {
            save_cache(cache, buildpacks, built, layers_dir, request, reporter);
        }
        if let Some(image) = &self.image {
            match image.publish() {
                Ok(p) => reporter.info(&format!(
                    "Saved cache image {}: {} blobs uploaded ({}), {} already present",
                    image.reference(),
                    p.uploaded,
                    registry::human_bytes(p.uploaded_bytes),
                    p.present
                )),
                Err(e) => reporter.warn(&format!("could not save the cache image: {e}")),
            }
        }
    }
}

/// Save the `cache=true` layers; a failure is a warning, never a failed build.
fn save_cache(
    cache: &Cache,
    buildpacks: &[Buildpack],
    built: &[build::BuiltBuildpack],
    layers_dir: &Path,
    request: &Request,
    reporter: &dyn Reporter,
) {
    let mut to_save = Vec::new();
    for b in built {
        let bp = &buildpacks[b.index];
        let esc = bp.escaped_id();
        for layer in b
            .output
            .layers
            .iter()
            .filter(|l| l.cache && l.reuse.is_none())
        {
            let host_dir = layers_dir.join(&esc).join(layer.name.as_str());
            if !host_dir.is_dir() {
                continue;
            }
            to_save.push((bp, esc.clone(), layer, host_dir));
        }
    }
    let entries: Vec<LayerToSave<'_>> = to_save
        .iter()
        .map(|(bp, esc, layer, host_dir)| LayerToSave {
            buildpack: bp.descriptor.id.as_str(),
            version: &bp.descriptor.version,
            name: layer.name.as_str(),
            host_dir,
            dest: kiln_lifecycle::layer_paths::layer_dest(esc, layer.name.as_str()),
            build: layer.build,
            launch: layer.launch,
            metadata: &layer.metadata,
            executables: &layer.executables,
        })
        .collect();
    match cache.save(&entries, request.ownership) {
        Ok(_) if entries.is_empty() => {}
        Ok(written) => reporter.info(&format!(
            "Saved cache: {} layers ({written} written) in {}",
            entries.len(),
            cache.dir().display()
        )),
        Err(e) => reporter.warn(&format!("could not save the cache: {e}")),
    }
}
