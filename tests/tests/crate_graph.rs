//! The host's crate map (ARCHITECTURE.md): each crate may depend only on the Kiln crates
//! below it. Cargo rejects cycles; this keeps the layering itself from eroding.

use std::collections::BTreeSet;
use std::path::Path;

/// (crate dir, package name, Kiln crates it may depend on).
const LAYERS: &[(&str, &str, &[&str])] = &[
    ("spec", "kiln-spec", &[]),
    ("host/fs", "kiln-fs", &[]),
    ("host/compress", "kiln-compress", &[]),
    ("host/sandbox", "kiln-sandbox", &[]),
    ("host/project", "kiln-project", &["kiln-spec"]),
    ("host/git", "kiln-git", &[]),
    ("host/k8s", "kiln-k8s", &[]),
    ("host/fleet", "kiln-fleet", &["kiln-fs"]),
    (
        "host/oci",
        "kiln-oci",
        &["kiln-compress", "kiln-fs", "kiln-spec"],
    ),
    (
        "host/fetch",
        "kiln-fetch",
        &["kiln-extract", "kiln-fs", "kiln-spec"],
    ),
    (
        "host/registry",
        "kiln-registry",
        &["kiln-fs", "kiln-oci", "kiln-spec"],
    ),
    (
        "host/runtime",
        "kiln-runtime",
        &[
            "kiln-extract",
            "kiln-fetch",
            "kiln-fs",
            "kiln-sandbox",
            "kiln-spec",
        ],
    ),
    (
        "host/lifecycle",
        "kiln-lifecycle",
        &["kiln-fs", "kiln-oci", "kiln-runtime", "kiln-spec"],
    ),
];

fn kiln_deps(manifest: &toml::Table, table: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut collect = |t: Option<&toml::Value>| {
        if let Some(t) = t.and_then(toml::Value::as_table) {
            deps.extend(t.keys().filter(|k| k.starts_with("kiln")).cloned());
        }
    };
    collect(manifest.get(table));
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for t in targets.values() {
            collect(t.get(table));
        }
    }
    deps
}

#[test]
fn each_host_crate_depends_only_on_the_crates_below_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (dir, name, allowed) in LAYERS {
        let text = std::fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap();
        let manifest: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(manifest["package"]["name"].as_str(), Some(*name));
        let deps = kiln_deps(&manifest, "dependencies");
        let extra: Vec<_> = deps
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{name} depends on {extra:?}, which ARCHITECTURE.md puts at or above it"
        );
    }
}

#[test]
fn every_host_crate_is_in_the_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host");
    let mut dirs: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| format!("host/{}", e.file_name().to_string_lossy()))
        .collect();
    dirs.sort();
    let mut mapped: Vec<String> = LAYERS
        .iter()
        .map(|(d, _, _)| (*d).to_owned())
        .filter(|d| d.starts_with("host/"))
        .chain(std::iter::once("host/cli".to_owned()))
        .collect();
    mapped.sort();
    assert_eq!(dirs, mapped, "a host crate is missing from the layer map");
}
