//! The image config: the run image's, with the CNB labels, env, working dir, entrypoint,
//! history and diff_ids of the exported image.

use kiln_oci::{Digest, HistoryEntry, ImageConfig};

use super::labels::{self, BuildMetadata, LifecycleMetadata};
use super::{ExportError, ExportInputs, LAUNCHER_PATH, image_env, time};

/// The config of the exported image. `history` has one `created_by` per exported layer, in
/// order; `diff_ids` lists every layer (run image first).
pub(super) fn image_config(
    inputs: &ExportInputs<'_>,
    lifecycle: &LifecycleMetadata,
    history: &[&str],
    diff_ids: &[Digest],
) -> Result<ImageConfig, ExportError> {
    let mut config = inputs.run_image.config.clone();
    let mut image_labels = config.labels();
    image_labels.extend(inputs.launch.labels.clone());
    image_labels.insert(
        labels::LIFECYCLE_METADATA.into(),
        labels::to_json(lifecycle),
    );
    image_labels.insert(
        labels::BUILD_METADATA.into(),
        labels::to_json(&BuildMetadata::from_launch(inputs.launch)),
    );
    image_labels.insert(
        labels::PROJECT_METADATA.into(),
        inputs.project_metadata.unwrap_or("{}").into(),
    );
    image_labels.insert(labels::EXEC_ENV.into(), inputs.exec_env.to_owned());
    image_labels.extend(inputs.extra_labels.clone());
    config.set_labels(&image_labels);
    config.set_env(image_env(inputs).to_strings());
    config.set_working_dir(Some(kiln_spec::APP_DIR));
    config.set_entrypoint(Some(vec![match &inputs.launch.default_process {
        Some(t) => format!("/cnb/process/{t}"),
        None => format!("/{LAUNCHER_PATH}"),
    }]));
    config.set_cmd(None);
    let created = time::rfc3339(inputs.epoch_seconds);
    config.set_created(Some(&created));
    config.set_history(&extended_history(
        config.history(),
        inputs.run_image.layers().len(),
        &created,
        history,
    ))?;
    config.set_diff_ids(diff_ids);
    Ok(config)
}

/// The run image's history plus one entry per exported layer, when the run image's history
/// lines up with its layers; otherwise none (a mismatched history is worse than none).
fn extended_history(
    base: Vec<HistoryEntry>,
    base_layers: usize,
    created: &str,
    added: &[&str],
) -> Vec<HistoryEntry> {
    let layer_entries = base.iter().filter(|h| h.empty_layer != Some(true)).count();
    if layer_entries != base_layers {
        return Vec::new();
    }
    let mut history = base;
    history.extend(added.iter().map(|created_by| HistoryEntry {
        created: Some(created.to_owned()),
        author: None,
        created_by: Some((*created_by).to_owned()),
        comment: None,
        empty_layer: None,
    }));
    history
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(empty: bool) -> HistoryEntry {
        HistoryEntry {
            created: None,
            author: None,
            created_by: Some("base".into()),
            comment: None,
            empty_layer: empty.then_some(true),
        }
    }

    #[test]
    fn history_is_extended_only_when_it_lines_up_with_the_run_image_layers() {
        let base = vec![entry(false), entry(true), entry(false)];
        let h = extended_history(base.clone(), 2, "T", &["app", "config"]);
        assert_eq!(h.len(), 5);
        assert_eq!(h[3].created_by.as_deref(), Some("app"));
        assert_eq!(h[4].created.as_deref(), Some("T"));
        assert!(extended_history(base, 3, "T", &["app"]).is_empty());
    }
}
