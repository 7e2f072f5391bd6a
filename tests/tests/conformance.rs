//! The CNB image conformance checks (reference digest §8) against an exported image.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;
use support::*;

const MTIME: u64 = 315_532_801;

/// A busybox run image with base labels and a non-root user, as run images should have.
fn labelled_base(dir: &Path, distro: &str) -> String {
    edited_busybox(dir, "labelled", |config| {
        config.set_label("io.buildpacks.base.id", "org.kiln.busybox");
        config.set_label("io.buildpacks.base.distro.name", distro);
        config.set_label("io.buildpacks.base.distro.version", "1.35");
        config.set_user(Some("2000:2000"));
    })
}

struct Entry {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    kind: tar::EntryType,
    link: Option<String>,
    uname_empty: bool,
    bytes: Vec<u8>,
}

fn layer_entries(layout: &Path, digest: &str) -> BTreeMap<String, Entry> {
    let gz = std::fs::File::open(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = BTreeMap::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let name = e.path().unwrap().display().to_string();
        let link = e.link_name().unwrap().map(|l| l.display().to_string());
        let mut bytes = Vec::new();
        e.read_to_end(&mut bytes).unwrap();
        out.insert(
            name.trim_start_matches('/')
                .trim_end_matches('/')
                .to_owned(),
            Entry {
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                kind: h.entry_type(),
                link,
                uname_empty: h.username().unwrap().unwrap_or("").is_empty()
                    && h.groupname().unwrap().unwrap_or("").is_empty(),
                bytes,
            },
        );
    }
    out
}

fn is_sha(v: &Value) -> bool {
    v.as_str()
        .and_then(|s| s.strip_prefix("sha256:"))
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn exported_image_passes_the_cnb_conformance_checks() {
    let work = tempfile::tempdir().unwrap();
    let base = labelled_base(&work.path().join("base"), "busybox");
    let layout = work.path().join("image");
    let build = || {
        digest_of(
            &kiln([
                "-q",
                "build",
                &format!("oci:{}:app", layout.display()),
                "--path",
                fixture("plan-app").to_str().unwrap(),
                "--buildpack",
                test_buildpack("provider").to_str().unwrap(),
                "--buildpack",
                test_buildpack("consumer").to_str().unwrap(),
                "--run-image",
                &base,
            ])
            .success(),
        )
    };
    let digest = build();
    let info = inspect_json(&layout, "app");
    let s = &info["summary"];
    let base_info = inspect_json(&work.path().join("base"), "labelled");
    let base_ids: Vec<&Value> = base_info["summary"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["diff_id"])
        .collect();
    let layers = s["layers"].as_array().unwrap();
    let diff_ids: Vec<&Value> = layers.iter().map(|l| &l["diff_id"]).collect();
    let lc = &info["lifecycle"];
    let bm = &info["build"];

    // 1. Lifecycle label shape; every sha is a digest present in rootfs.diff_ids.
    assert!(!lc["app"].as_array().unwrap().is_empty());
    let mut shas = vec![
        &lc["config"]["sha"],
        &lc["launcher"]["sha"],
        &lc["runImage"]["topLayer"],
        &lc["process-types"]["sha"],
        &lc["sbom"]["sha"],
    ];
    shas.extend(lc["app"].as_array().unwrap().iter().map(|a| &a["sha"]));
    for bp in lc["buildpacks"].as_array().unwrap() {
        assert!(
            bp["key"].is_string() && bp["version"].is_string() && bp["layers"].is_object(),
            "{bp}"
        );
        shas.extend(
            bp["layers"]
                .as_object()
                .unwrap()
                .values()
                .map(|l| &l["sha"]),
        );
    }
    for sha in shas {
        assert!(is_sha(sha), "{sha}");
        assert!(diff_ids.contains(&sha), "{sha} not in diff_ids");
    }
    assert!(
        lc["runImage"]["reference"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // 2. The run image's layers are the bottom prefix, ending at topLayer.
    let k = base_ids.len();
    assert_eq!(diff_ids[..k], base_ids[..]);
    assert_eq!(&lc["runImage"]["topLayer"], base_ids[k - 1]);

    // 3. Layer count and order: launch layers, sbom, app, launcher, config, process types.
    let launch_layers: usize = lc["buildpacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["layers"].as_object().unwrap().len())
        .sum();
    assert_eq!(layers.len(), k + launch_layers + 1 + 1 + 1 + 1 + 1);
    let order: Vec<&Value> = vec![
        &lc["sbom"]["sha"],
        &lc["app"][0]["sha"],
        &lc["launcher"]["sha"],
        &lc["config"]["sha"],
        &lc["process-types"]["sha"],
    ];
    assert_eq!(diff_ids[k + launch_layers..], order[..]);

    // 4. Only launch layers are recorded, with their metadata.
    let provider = &lc["buildpacks"][0]["layers"];
    assert_eq!(
        provider.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["runtime"],
        "build-only/ignored layers must not be exported"
    );
    assert_eq!(provider["runtime"]["launch"], true);
    assert_eq!(provider["runtime"]["data"]["version"], "1.0");

    // 5. Build label: sorted unique process types, array commands, the group in order.
    let types: Vec<&str> = bm["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    let mut sorted = types.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(types, sorted);
    assert!(
        bm["processes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["command"].is_array())
    );
    let group: Vec<(&str, &str)> = bm["buildpacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["id"].as_str().unwrap(), b["version"].as_str().unwrap()))
        .collect();
    assert_eq!(
        group,
        [("tests/provider", "0.1.0"), ("tests/consumer", "0.1.0")]
    );

    // 6. Entrypoint and Cmd.
    assert_eq!(s["entrypoint"], serde_json::json!(["/cnb/process/web"]));
    assert!(s["cmd"].is_null() || s["cmd"].as_array().is_some_and(Vec::is_empty));

    // 7. Env.
    let env: BTreeMap<&str, &str> = s["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str().unwrap().split_once('='))
        .collect();
    assert_eq!(env["CNB_LAYERS_DIR"], "/layers");
    assert_eq!(env["CNB_APP_DIR"], "/workspace");
    assert!(env["PATH"].starts_with("/cnb/process:"));
    assert!(env["PATH"].ends_with("/usr/sbin:/usr/bin:/sbin:/bin"));

    // 8. WorkingDir and User.
    assert_eq!(s["working_dir"], "/workspace");
    assert_eq!(s["user"], "2000:2000");

    // 9. Process-type symlinks and the launcher file.
    let ptypes = layer_entries(
        &layout,
        layers[layers.len() - 1]["digest"].as_str().unwrap(),
    );
    for t in &types {
        let e = &ptypes[&format!("cnb/process/{t}")];
        assert_eq!(e.kind, tar::EntryType::Symlink);
        assert_eq!(e.link.as_deref(), Some("/cnb/lifecycle/launcher"));
        assert_eq!((e.uid, e.gid), (0, 0));
    }
    let launcher = layer_entries(
        &layout,
        layers[layers.len() - 3]["digest"].as_str().unwrap(),
    );
    let l = &launcher["cnb/lifecycle/launcher"];
    assert_eq!(
        (l.kind, l.mode, l.uid, l.gid),
        (tar::EntryType::Regular, 0o755, 0, 0)
    );

    // 10. The config layer's metadata.toml matches the build label.
    let config = layer_entries(
        &layout,
        layers[layers.len() - 2]["digest"].as_str().unwrap(),
    );
    let meta: toml::Table =
        toml::from_str(std::str::from_utf8(&config["layers/config/metadata.toml"].bytes).unwrap())
            .unwrap();
    let meta_types: Vec<&str> = meta["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(meta_types, types);
    assert_eq!(meta["buildpack-default-process-type"].as_str(), Some("web"));

    // 11. Tar conventions in launch, sbom, app and config layers.
    for layer in &layers[k..layers.len() - 3] {
        for (name, e) in layer_entries(&layout, layer["digest"].as_str().unwrap()) {
            assert_eq!(e.mtime, MTIME, "{name}");
            assert!(e.uname_empty, "{name}");
            assert_eq!((e.uid, e.gid), (1000, 1000), "{name}");
        }
    }

    // 12. created, and the same image again from the same inputs.
    assert_eq!(s["created"], "1980-01-01T00:00:01Z");
    std::fs::remove_dir_all(&layout).unwrap();
    assert_eq!(build(), digest);

    // 13. Project metadata.
    let labels = &s["labels"];
    assert_eq!(
        serde_json::from_str::<Value>(labels["io.buildpacks.project.metadata"].as_str().unwrap())
            .unwrap(),
        serde_json::json!({})
    );

    // 14. Base labels come from the run image, and from the new one after a rebase.
    assert_eq!(labels["io.buildpacks.base.id"], "org.kiln.busybox");
    assert_eq!(labels["io.buildpacks.base.distro.name"], "busybox");
    let v2 = labelled_base(&work.path().join("base-v2"), "busybox-v2");
    kiln([
        "-q",
        "rebase",
        &format!("oci:{}:app", layout.display()),
        "--run-image",
        &v2,
    ])
    .success();
    let rebased = inspect_json(&layout, "app");
    assert_eq!(
        rebased["summary"]["labels"]["io.buildpacks.base.distro.name"],
        "busybox-v2"
    );
    assert_eq!(rebased["summary"]["user"], "2000:2000");
}
