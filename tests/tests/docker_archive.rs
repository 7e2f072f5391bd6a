//! `docker-archive:` output loads with `podman load` and runs; `docker-archive:` run images work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::*;

fn podman(script: &str) -> Output {
    run(Command::new("bash")
        .arg("-c")
        .arg(format!(
            ". {}/env.sh >/dev/null; {script}",
            tools().display()
        ))
        .env("KILN_TOOLS_DIR", tools_work_dir()))
}

#[test]
fn docker_archive_output_loads_with_podman_and_runs() {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("hello.tar");
    let name = format!("kiln-test/hello:{}", std::process::id());
    let out = kiln([
        "build",
        &format!("docker-archive:{}:{name}", archive.display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--run-image",
        &busybox(),
    ])
    .success();
    let image_id = digest_of(&out);
    let validation = run(Command::new("bash")
        .arg(tools().join("validate-image.sh"))
        .arg(format!("docker-archive:{}", archive.display()))
        .env("KILN_TOOLS_DIR", tools_work_dir()));
    assert!(
        validation.stdout.contains("RESULT: VALID"),
        "{}\n{}",
        validation.stdout,
        validation.stderr
    );

    let loaded = podman(&format!(
        "podman load -i {} && podman run --rm localhost/{name}; podman rmi -f localhost/{name} >/dev/null 2>&1",
        archive.display()
    ));
    assert_eq!(loaded.code, 0, "{}\n{}", loaded.stdout, loaded.stderr);
    assert!(
        loaded.stdout.contains("hello from kiln"),
        "{}\n{}",
        loaded.stdout,
        loaded.stderr
    );

    // The same inputs give the same archive, byte for byte.
    let again = work.path().join("again.tar");
    let out2 = kiln([
        "-q",
        "build",
        &format!("docker-archive:{}:{name}", again.display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--run-image",
        &busybox(),
    ])
    .success();
    assert_eq!(digest_of(&out2), image_id);
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

#[test]
fn a_docker_archive_can_be_the_run_image() {
    let work = tempfile::tempdir().unwrap();
    let base_archive = work.path().join("base.tar");
    let copied = run(Command::new("skopeo")
        .arg("copy")
        .arg(busybox())
        .arg(format!(
            "docker-archive:{}:base/busybox:v1",
            base_archive.display()
        )));
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    let layout = work.path().join("image");
    kiln([
        "-q",
        "build",
        &format!("oci:{}", layout.display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--run-image",
        &format!("docker-archive:{}:base/busybox:v1", base_archive.display()),
    ])
    .success();
    let ran = run_image(&layout, "latest", &[], &[]);
    assert_eq!(ran.stdout.trim(), "hello from kiln", "{}", ran.stderr);
    let info = inspect_json(&layout, "latest");
    assert_eq!(info["lifecycle"]["runImage"]["image"], "base/busybox:v1");
}
