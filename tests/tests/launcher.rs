//! The launcher in exported images: default process, other processes through
//! `/cnb/process/<type>`, user arguments, per-process env, and `launcher -- CMD`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use support::*;

fn image() -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("image");
    build_pair(&fixture("plan-app"), &layout, &["-q"]).success();
    (work, layout)
}

fn run(layout: &std::path::Path, entrypoint: Option<&str>, args: &[&str]) -> String {
    let options: Vec<&str> = entrypoint
        .map(|e| vec!["--entrypoint", e])
        .unwrap_or_default();
    let out = run_image(layout, "latest", &options, args);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    out.stdout.trim().to_owned()
}

#[test]
fn processes_args_and_env_at_run_time() {
    let (_work, layout) = image();
    // The default process (web) through the Entrypoint /cnb/process/web.
    assert_eq!(
        run(&layout, None, &[]),
        "hello from kiln appended prepended dflt"
    );
    // Another process through its /cnb/process/<type> entrypoint, with its own env.
    assert_eq!(run(&layout, Some("/cnb/process/worker"), &[]), "worker 1");
    // Default args, then user args replacing them.
    assert_eq!(
        run(&layout, Some("/cnb/process/args-demo"), &[]),
        "fixed default-arg"
    );
    assert_eq!(
        run(&layout, Some("/cnb/process/args-demo"), &["a", "b c"]),
        "fixed a b c"
    );
    // A user command after `--` runs directly with the launch env (but no process env).
    let env = run(
        &layout,
        Some("/cnb/lifecycle/launcher"),
        &["--", "/bin/sh", "-c", "echo $GREETING/$WORKER_ONLY"],
    );
    assert_eq!(env, "kiln/");
}

#[test]
fn launcher_and_process_type_layers() {
    let (_work, layout) = image();
    let info = inspect_json(&layout, "latest");
    let types: Vec<&str> = info["build"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    let layers = info["summary"]["layers"].as_array().unwrap();
    let process_layer = layers.last().unwrap();
    let digest = process_layer["digest"]
        .as_str()
        .unwrap()
        .replace("sha256:", "");
    let gz = std::fs::File::open(layout.join("blobs/sha256").join(digest)).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut links = Vec::new();
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        if let Some(t) = path.strip_prefix("cnb/process/").filter(|t| !t.is_empty()) {
            assert_eq!(e.header().entry_type(), tar::EntryType::Symlink, "{path}");
            assert_eq!(
                e.link_name().unwrap().unwrap().display().to_string(),
                "/cnb/lifecycle/launcher"
            );
            assert_eq!(
                (e.header().uid().unwrap(), e.header().gid().unwrap()),
                (0, 0)
            );
            links.push(t.trim_end_matches('/').to_owned());
        }
    }
    links.sort();
    assert_eq!(links, types);
}
