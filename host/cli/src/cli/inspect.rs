//! `kiln inspect`: processes, buildpacks, layers with sizes, run image and digest.

use serde_json::Value;

use super::args::InspectArgs;
use crate::error::Error;
use crate::services::Services;
use crate::transport::{self, Depth};
use kiln_lifecycle::export::labels::{BUILD_METADATA, LIFECYCLE_METADATA};
use kiln_oci::ImageSummary;

/// Run `kiln inspect`.
pub fn run(args: &InspectArgs, services: &Services) -> Result<(), Error> {
    let reference = super::parse_ref("image", &args.image)?;
    let opened = transport::open_existing_to(&services.registries, &reference, Depth::ConfigOnly)
        .map_err(Error::Open)?;
    let Some(image) = opened.image else {
        return Err(Error::InvalidInput(
            "`scratch` has nothing to inspect".into(),
        ));
    };
    let summary = ImageSummary::from_resolved(&image.resolved)?;
    let lifecycle: Value = label_json(&summary, LIFECYCLE_METADATA);
    let build: Value = label_json(&summary, BUILD_METADATA);
    if args.json {
        let doc = serde_json::json!({
            "image": args.image,
            "summary": summary,
            "lifecycle": lifecycle,
            "build": build,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(());
    }
    println!("Image:      {}", args.image);
    println!("Digest:     {}", summary.manifest_digest);
    println!("Image ID:   {}", summary.config_digest);
    println!(
        "Platform:   {}/{}",
        summary.os.as_deref().unwrap_or("?"),
        summary.architecture.as_deref().unwrap_or("?")
    );
    let top = lifecycle["runImage"]["topLayer"].as_str().unwrap_or("");
    println!(
        "Run image:  {}{}",
        lifecycle["runImage"]["image"].as_str().unwrap_or("-"),
        if top.is_empty() {
            " (no layers)".to_owned()
        } else {
            format!(" (top layer {top})")
        }
    );
    println!("\nBuildpacks:");
    for bp in build["buildpacks"].as_array().into_iter().flatten() {
        println!(
            "  {} {}",
            bp["id"].as_str().unwrap_or("?"),
            bp["version"].as_str().unwrap_or("?")
        );
    }
    let default = build["buildpack-default-process-type"]
        .as_str()
        .unwrap_or("");
    println!("\nProcesses:");
    for p in build["processes"].as_array().into_iter().flatten() {
        let t = p["type"].as_str().unwrap_or("?");
        let words: Vec<&str> = p["command"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(p["args"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        let mark = if t == default { " (default)" } else { "" };
        println!("  {t}{mark}: {}", shell_words(&words));
    }
    println!("\nLayers:");
    for l in &summary.layers {
        println!(
            "  {}  {:>10}  {}",
            l.diff_id.as_ref().map_or("-", |d| d.short()),
            human_size(l.size),
            l.created_by.as_deref().unwrap_or("")
        );
    }
    if let Some(e) = &summary.entrypoint {
        println!(
            "\nEntrypoint: {}",
            shell_words(&e.iter().map(String::as_str).collect::<Vec<_>>())
        );
    }
    Ok(())
}

fn label_json(summary: &ImageSummary, key: &str) -> Value {
    summary
        .labels
        .get(key)
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or(Value::Null)
}

fn shell_words(argv: &[&str]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
            {
                (*a).to_owned()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Bytes as B/KiB/MiB.
pub fn human_size(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    }
}
