//! Restore: before build, put cached layers back into the layers directory and tell each
//! buildpack what its previous layers were (from the cache and from the previous image).

use std::collections::BTreeMap;
use std::path::Path;

use kiln_spec::LayerName;

use crate::Restored;
use crate::analyze::PreviousImage;
use crate::buildpack::Buildpack;
use crate::cache::{Cache, CacheMetadata};
use crate::layer_paths::layer_dest;
use kiln_runtime::bindings::types;

/// Restore the layers of every buildpack of `group`. Problems with the cache are reported
/// through `warn` and the affected layers are skipped; they never fail the build.
pub fn restore(
    cache: Option<(&Cache, &CacheMetadata)>,
    previous: Option<&PreviousImage>,
    buildpacks: &[Buildpack],
    group: &[usize],
    layers_dir: &Path,
    warn: &dyn Fn(&str),
) -> BTreeMap<usize, Restored> {
    let mut out = BTreeMap::new();
    for &index in group {
        let bp = &buildpacks[index];
        let id = bp.descriptor.id.as_str();
        let esc = bp.escaped_id();
        let host_root = layers_dir.join(&esc);
        let mut restored = Restored::default();
        if let Some((cache, meta)) = cache
            && let Some(cached) = meta.buildpack(id)
        {
            for (name, layer) in &cached.layers {
                if LayerName::new(name.clone()).is_err() {
                    warn(&format!(
                        "cache entry {id}:{name} has an invalid layer name; skipped"
                    ));
                    continue;
                }
                // As the CNB lifecycle does: a launch layer is restored only when the previous
                // image still has the same contents.
                if layer.launch
                    && previous
                        .and_then(|p| p.layer(id, name))
                        .is_some_and(|p| p.sha != layer.sha)
                {
                    continue;
                }
                let target = host_root.join(name);
                let restore = std::fs::create_dir_all(&host_root)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        cache
                            .restore_layer(layer, &layer_dest(&esc, name), &target)
                            .map_err(|e| e.to_string())
                    });
                match restore {
                    Ok(()) => {
                        // The host writes env files from the records again after build.
                        for reserved in ["env", "env.build", "env.launch"] {
                            let _ = std::fs::remove_dir_all(target.join(reserved));
                        }
                        restored.layers.push(types::RestoredLayer {
                            name: name.clone(),
                            metadata: serde_json::Value::Object(layer.data.clone()).to_string(),
                            has_contents: true,
                        });
                    }
                    Err(e) => {
                        let _ = std::fs::remove_dir_all(&target);
                        warn(&format!("cached layer {id}:{name} discarded: {e}"));
                    }
                }
            }
        }
        if let Some(layers) = previous.and_then(|p| p.buildpack_layers(id)) {
            for (name, layer) in layers {
                if !layer.launch || restored.layers.iter().any(|l| &l.name == name) {
                    continue;
                }
                restored.layers.push(types::RestoredLayer {
                    name: name.clone(),
                    metadata: serde_json::Value::Object(layer.data.clone()).to_string(),
                    has_contents: false,
                });
                restored.reusable.insert(name.clone(), layer.sha.clone());
            }
        }
        restored.layers.sort_by(|a, b| a.name.cmp(&b.name));
        out.insert(index, restored);
    }
    out
}

#[cfg(test)]
mod tests;
