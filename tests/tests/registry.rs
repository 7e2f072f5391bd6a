//! Registries: push and pull against a real distribution registry (`start-registry.sh`),
//! checked with skopeo and run with `run-image.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{
    TestRegistry, busybox, busybox_variant, compile_cache, digest_of, fixture, kiln, kiln_command,
    push_counts, run, test_buildpack, tool_command,
};

/// `kiln build REF` of the Procfile app on `run_image`, plus `extra`.
fn build_to(reference: &str, run_image: &str, extra: &[&str]) -> Command {
    let mut cmd = kiln_command();
    cmd.args(["build", reference, "--path"])
        .arg(fixture("procfile-app"))
        .args(["--run-image", run_image])
        .args(extra);
    cmd
}

/// A command with its own (empty) Kiln cache, so nothing pulled before is there, but the
/// shared compile cache (compiling components is slow in debug builds).
fn with_fresh_cache(cmd: &mut Command, cache: &Path) {
    cmd.env("KILN_CACHE_DIR", cache)
        .arg("--compile-cache")
        .arg(compile_cache().join("components"));
}

#[test]
fn push_pull_back_run_and_push_again_uploading_nothing() {
    let reg = TestRegistry::start(None);
    let base = reg.push_layout(&busybox(), "base/busybox:latest");
    assert!(base.starts_with("sha256:"));
    let app = reg.reference("apps/hello:v1");
    let first = run(&mut build_to(
        &app,
        &reg.reference("base/busybox:latest"),
        &["--tag", "v1-extra"],
    ))
    .success();
    let digest = digest_of(&first);
    // The digest Kiln prints is the registry's, under both tags.
    assert_eq!(reg.digest("apps/hello:v1"), digest);
    assert_eq!(reg.digest("apps/hello:v1-extra"), digest);
    let (uploaded, mounted, _) = push_counts(&first.stderr);
    assert!(uploaded >= 4, "{}", first.stderr);
    assert!(
        mounted >= 1,
        "the busybox layer is mounted from base/busybox:\n{}",
        first.stderr
    );

    // Independent tools accept and run it.
    let validated = run(tool_command("validate-image.sh").arg(format!("docker://{app}")));
    assert_eq!(
        validated.code, 0,
        "{}\n{}",
        validated.stdout, validated.stderr
    );
    let ran = run(tool_command("run-image.sh").arg(format!("docker://{app}")));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), "hello from kiln");

    // The same build again: the same digest, and not one byte uploaded.
    let second = run(&mut build_to(
        &app,
        &reg.reference("base/busybox:latest"),
        &[],
    ))
    .success();
    assert_eq!(digest_of(&second), digest);
    assert!(
        second.stderr.contains("0 blobs uploaded (0 B)"),
        "{}",
        second.stderr
    );
    let (uploaded, mounted, present) = push_counts(&second.stderr);
    assert_eq!((uploaded, mounted), (0, 0));
    assert!(present >= 5, "{}", second.stderr);

    // inspect reads it straight from the registry.
    let inspected = kiln(["inspect", "--json", &app]).success();
    let json: serde_json::Value = serde_json::from_str(&inspected.stdout).unwrap();
    assert_eq!(
        json["summary"]["manifest_digest"].as_str(),
        Some(digest.as_str()),
        "{json}"
    );
}

#[test]
fn run_image_by_digest_is_downloaded_once() {
    let reg = TestRegistry::start(None);
    let base = reg.push_layout(&busybox(), "base/busybox:latest");
    let by_digest = reg.reference(&format!("base/busybox@{base}"));
    let cache = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();

    let mut cmd = build_to(&format!("oci:{}:a", out.path().display()), &by_digest, &[]);
    with_fresh_cache(&mut cmd, cache.path());
    let first = run(&mut cmd).success();
    assert!(
        first
            .stderr
            .contains("Pulled run image: 2 blobs downloaded"),
        "{}",
        first.stderr
    );

    // With the registry down, a second build still works: nothing is downloaded.
    reg.stop();
    let mut cmd = build_to(&format!("oci:{}:b", out.path().display()), &by_digest, &[]);
    with_fresh_cache(&mut cmd, cache.path());
    let second = run(&mut cmd).success();
    assert!(
        second
            .stderr
            .contains("Pulled run image: 0 blobs downloaded (0 B)"),
        "{}",
        second.stderr
    );
    let layout = out.path();
    let inspect = support::inspect_json(layout, "b");
    assert_eq!(
        inspect["lifecycle"]["runImage"]["reference"].as_str(),
        Some(base.as_str()),
        "{inspect}"
    );

    // By tag, the manifest is fetched again but no blob is.
    reg.up();
    let mut cmd = build_to(
        &format!("oci:{}:c", out.path().display()),
        &reg.reference("base/busybox:latest"),
        &[],
    );
    with_fresh_cache(&mut cmd, cache.path());
    let third = run(&mut cmd).success();
    assert!(
        third.stderr.contains("0 blobs downloaded (0 B)"),
        "{}",
        third.stderr
    );

    // By tag with the registry down: the copy in the store is used, with a warning.
    reg.stop();
    let mut cmd = build_to(
        &format!("oci:{}:d", out.path().display()),
        &reg.reference("base/busybox:latest"),
        &[],
    );
    with_fresh_cache(&mut cmd, cache.path());
    let fourth = run(&mut cmd).success();
    assert!(
        fourth
            .stderr
            .contains("registry is unreachable; using the copy in the local store"),
        "{}",
        fourth.stderr
    );
}

/// An environment with no credentials at all (no config files, no env vars).
fn no_credentials(cmd: &mut Command, home: &Path) {
    cmd.env("HOME", home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("CNB_REGISTRY_AUTH")
        .env_remove("KILN_REGISTRY_USERNAME")
        .env_remove("KILN_REGISTRY_PASSWORD")
        .env_remove("KILN_REGISTRY_HOST");
}

#[test]
fn auth_registry_needs_credentials_from_config_helper_or_env() {
    use base64::Engine as _;
    let reg = TestRegistry::start(Some("kiln:s3cret-pw"));
    reg.push_layout(&busybox(), "base/busybox:latest");
    let home = tempfile::tempdir().unwrap();
    let docker_dir = home.path().join(".docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    let app = reg.reference("apps/private:v1");

    // No credentials: a clear 401 naming the image, found while reading the previous image
    // (analyze, exit 32), before any build work.
    let mut cmd = build_to(&app, &busybox(), &[]);
    no_credentials(&mut cmd, home.path());
    let denied = run(&mut cmd);
    assert_eq!(denied.code, 32, "{}", denied.stderr);
    let line = denied.error_line();
    assert!(
        line.contains("401 Unauthorized") && line.contains(&app),
        "{line}"
    );
    assert!(line.contains("no credentials found"), "{line}");
    assert!(!denied.stderr.contains("panicked"), "{}", denied.stderr);

    // Pulling the run image without credentials fails in analyze (exit 32), also with 401.
    let mut cmd = build_to(&app, &reg.reference("base/busybox:latest"), &[]);
    no_credentials(&mut cmd, home.path());
    let denied = run(&mut cmd);
    assert_eq!(denied.code, 32, "{}", denied.stderr);
    assert!(
        denied.error_line().contains("401"),
        "{}",
        denied.error_line()
    );

    // config.json with basic credentials.
    let auth = base64::engine::general_purpose::STANDARD.encode("kiln:s3cret-pw");
    std::fs::write(
        docker_dir.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.addr),
    )
    .unwrap();
    let mut cmd = build_to(&app, &reg.reference("base/busybox:latest"), &[]);
    no_credentials(&mut cmd, home.path());
    let ok = run(&mut cmd).success();
    assert_eq!(reg.digest("apps/private:v1"), digest_of(&ok));

    // A docker-credential helper made here, named by credHelpers.
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = home.path().join("helper.log");
    let helper = bin.join("docker-credential-kilntest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\necho \"$1 $server\" >> {}\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"kiln\",\"Secret\":\"s3cret-pw\"}}' \"$server\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        docker_dir.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"kilntest"}}}}"#, reg.addr),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = build_to(
        &reg.reference("apps/helper:v1"),
        &reg.reference("base/busybox:latest"),
        &[],
    );
    no_credentials(&mut cmd, home.path());
    cmd.env("PATH", &path);
    run(&mut cmd).success();
    let asked = std::fs::read_to_string(&log).unwrap();
    assert!(asked.contains(&format!("get {}", reg.addr)), "{asked}");

    // A helper that rejects: the message names the helper as the source.
    std::fs::write(
        &helper,
        "#!/bin/sh\nprintf '{\"Username\":\"kiln\",\"Secret\":\"wrong\"}'\n",
    )
    .unwrap();
    let mut cmd = build_to(&reg.reference("apps/helper:v2"), &busybox(), &[]);
    no_credentials(&mut cmd, home.path());
    cmd.env("PATH", &path);
    let rejected = run(&mut cmd);
    assert_eq!(rejected.code, 32, "{}", rejected.stderr);
    assert!(
        rejected.error_line().contains("docker-credential-kilntest"),
        "{}",
        rejected.error_line()
    );
}

#[test]
fn credentials_never_reach_buildpacks_or_the_image() {
    let reg = TestRegistry::start(Some("kiln:s3cret-pw"));
    let home = tempfile::tempdir().unwrap();
    let layers = home.path().join("layers");
    let app = reg.reference("apps/envdump:v1");
    let mut cmd = kiln_command();
    cmd.args(["build", &app, "--path"])
        .arg(fixture("procfile-app"))
        .arg("--buildpack")
        .arg(test_buildpack("hostile"))
        .args([
            "--env",
            "KILN_TEST_MODE=env-dump",
            "--run-image",
            &busybox(),
        ])
        .arg("--layers-dir")
        .arg(&layers);
    no_credentials(&mut cmd, home.path());
    cmd.env("KILN_REGISTRY_USERNAME", "kiln")
        .env("KILN_REGISTRY_PASSWORD", "s3cret-pw");
    let out = run(&mut cmd).success();
    assert_eq!(reg.digest("apps/envdump:v1"), digest_of(&out));
    let vars = std::fs::read_to_string(layers.join("tests_hostile/dump/vars.txt")).unwrap();
    assert!(!vars.contains("s3cret-pw"), "{vars}");
    assert!(!vars.contains("KILN_REGISTRY"), "{vars}");

    // Nothing in any blob of the pushed image mentions the password.
    let copy = home.path().join("copy");
    let copied = run(Command::new("skopeo")
        .args([
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            "kiln:s3cret-pw",
        ])
        .arg(format!("docker://{app}"))
        .arg(format!("oci:{}:x", copy.display())));
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    for entry in std::fs::read_dir(copy.join("blobs/sha256")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let mut text = Vec::new();
        let decoded = std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(bytes.as_slice()),
            &mut text,
        );
        let haystack = if decoded.is_ok() { &text } else { &bytes };
        assert!(
            !haystack.windows(9).any(|w| w == b"s3cret-pw"),
            "the password is in a blob"
        );
    }
}

#[test]
fn registry_stopped_mid_push_fails_cleanly_and_the_rerun_completes() {
    let reg = TestRegistry::start(None);
    let app = reg.reference("apps/interrupted:v1");
    let handshake = tempfile::tempdir().unwrap();
    let mut cmd = build_to(&app, &busybox(), &[]);
    cmd.env(
        "KILN_FAULT_PAUSE",
        format!("push-before-manifest:{}", handshake.path().display()),
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let paused = handshake.path().join("paused");
    for _ in 0..1200 {
        if paused.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(paused.exists(), "kiln never reached the pause point");
    // The layers are uploaded, the manifest is not: stop the registry now.
    reg.stop();
    std::fs::write(handshake.path().join("resume"), "").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(63), "{stderr}");
    let line = stderr.lines().rev().find(|l| !l.is_empty()).unwrap();
    assert!(
        line.contains("cannot reach registry") && line.contains(&app),
        "{line}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Restart it (same storage) and run again: the push completes, reusing what arrived.
    reg.up();
    let rerun = run(&mut build_to(&app, &busybox(), &[])).success();
    assert_eq!(reg.digest("apps/interrupted:v1"), digest_of(&rerun));
    let (_, _, present) = push_counts(&rerun.stderr);
    assert!(present >= 4, "{}", rerun.stderr);
    let ran = run(tool_command("run-image.sh").arg(format!("docker://{app}")));
    assert_eq!(ran.stdout.trim(), "hello from kiln", "{}", ran.stderr);
}

#[test]
fn unreachable_registry_and_bad_references_are_clear_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = format!("127.0.0.1:{port}/nothing/here:v1");
    let out = run(&mut build_to(&app, &busybox(), &[]));
    assert_eq!(out.code, 32, "{}", out.stderr);
    assert!(
        out.error_line().contains("cannot reach registry") && out.error_line().contains(&app),
        "{}",
        out.error_line()
    );
    let missing = run(&mut build_to(
        "oci:/tmp/kiln-never-written:x",
        &format!("127.0.0.1:{port}/base/none:latest"),
        &[],
    ));
    assert_eq!(missing.code, 32, "{}", missing.stderr);

    let bad = run(&mut build_to("Upper/Case:v1", &busybox(), &[]));
    assert_eq!(bad.code, 3, "{}", bad.stderr);
    assert!(
        bad.error_line().contains("Upper/Case:v1"),
        "{}",
        bad.error_line()
    );
    let digest_out = run(&mut build_to(
        &format!("127.0.0.1:{port}/a@sha256:{}", "0".repeat(64)),
        &busybox(),
        &[],
    ));
    assert_eq!(digest_out.code, 3, "{}", digest_out.stderr);
}

#[test]
fn multi_platform_index_resolves_to_the_requested_platform() {
    use sha2::Digest as _;
    let reg = TestRegistry::start(None);
    // An index of two images: busybox as the host platform and a variant as linux/riscv64.
    let layout = tempfile::tempdir().unwrap();
    let dir = layout.path().join("multi");
    let host = busybox();
    let other = busybox_variant("v2");
    let path_of = |r: &str| {
        std::path::PathBuf::from(r.trim_start_matches("oci:").trim_end_matches(":latest"))
    };
    support::copy_dir(path_of(&host), &dir);
    support::copy_dir(path_of(&other).join("blobs"), dir.join("blobs"));
    let entry = |r: &str, arch: &str| {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path_of(r).join("index.json")).unwrap()).unwrap();
        let mut d = index["manifests"][0].clone();
        d.as_object_mut().unwrap().remove("annotations");
        d["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        d
    };
    let host_arch = kiln_spec::platform::host_arch();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(&host, host_arch), entry(&other, "riscv64")],
    });
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let index_hex = hex::encode(sha2::Sha256::digest(&index_bytes));
    std::fs::write(dir.join("blobs/sha256").join(&index_hex), &index_bytes).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": format!("sha256:{index_hex}"),
                "size": index_bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": "multi"}
            }]
        }))
        .unwrap(),
    )
    .unwrap();
    let copied = run(Command::new("skopeo")
        .args(["copy", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:multi", dir.display()))
        .arg(format!("docker://{}", reg.reference("base/multi:latest"))));
    assert_eq!(copied.code, 0, "{}", copied.stderr);

    let riscv_manifest = entry(&other, "riscv64")["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let host_manifest = entry(&host, host_arch)["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = tempfile::tempdir().unwrap();
    let target = |tag: &str| format!("oci:{}:{tag}", out.path().display());
    let multi = reg.reference("base/multi:latest");
    let default = run(&mut build_to(&target("host"), &multi, &[])).success();
    assert!(
        default.stderr.contains(&host_manifest),
        "{}",
        default.stderr
    );
    let chosen = run(&mut build_to(
        &target("riscv"),
        &multi,
        &["--platform", "linux/riscv64"],
    ))
    .success();
    assert!(chosen.stderr.contains(&riscv_manifest), "{}", chosen.stderr);
    let none = run(&mut build_to(
        &target("none"),
        &multi,
        &["--platform", "linux/s390x"],
    ));
    assert_eq!(none.code, 32, "{}", none.stderr);
    let line = none.error_line();
    assert!(
        line.contains("linux/s390x") && line.contains("linux/riscv64"),
        "{line}"
    );
}

#[test]
fn rebase_a_registry_image_pushes_only_config_and_manifest() {
    let reg = TestRegistry::start(None);
    reg.push_layout(&busybox(), "base/busybox:v1");
    reg.push_layout(&busybox_variant("v2"), "base/busybox:v2");
    let app = reg.reference("apps/rebased:v1");
    run(&mut build_to(&app, &reg.reference("base/busybox:v1"), &[])).success();
    let out = kiln([
        "rebase",
        &app,
        "--run-image",
        &reg.reference("base/busybox:v2"),
    ])
    .success();
    let digest = digest_of(&out);
    assert_eq!(reg.digest("apps/rebased:v1"), digest);
    let (uploaded, mounted, _) = push_counts(&out.stderr);
    assert_eq!(uploaded, 1, "only the config is uploaded:\n{}", out.stderr);
    assert_eq!(mounted, 1, "the new base layer is mounted:\n{}", out.stderr);
    let ran = run(tool_command("run-image.sh").arg(format!("docker://{app}")));
    assert_eq!(ran.stdout.trim(), "hello from kiln", "{}", ran.stderr);
}

#[test]
fn cache_image_restores_layers_on_a_machine_with_no_local_cache() {
    let reg = TestRegistry::start(None);
    let cache_ref = reg.reference("cache/pair:latest");
    let build = |cache: &Path, tag: &str| {
        let mut cmd = kiln_command();
        cmd.args([
            "build",
            &reg.reference(&format!("apps/pair:{tag}")),
            "--path",
        ])
        .arg(fixture("plan-app"))
        .arg("--buildpack")
        .arg(test_buildpack("provider"))
        .arg("--buildpack")
        .arg(test_buildpack("consumer"))
        .args(["--run-image", &busybox(), "--cache-image", &cache_ref]);
        with_fresh_cache(&mut cmd, cache);
        run(&mut cmd).success()
    };
    let first_machine = tempfile::tempdir().unwrap();
    let first = build(first_machine.path(), "a");
    assert!(
        first.stderr.contains("tool layer created"),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("Saved cache image"),
        "{}",
        first.stderr
    );
    // A second machine: an empty Kiln cache, only the registry.
    let second_machine = tempfile::tempdir().unwrap();
    let second = build(second_machine.path(), "b");
    assert!(
        second.stderr.contains("1 cached layers"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("tool layer restored"),
        "{}",
        second.stderr
    );
}

#[test]
fn buildpacks_packaged_as_artifacts_build_by_reference() {
    let reg = TestRegistry::start(None);
    let provider = reg.reference("buildpacks/provider:0.1.0");
    assert_eq!(kiln(["buildpack", "package"]).code, 3, "missing arguments");
    let packaged = run(kiln_command()
        .args(["buildpack", "package"])
        .arg(test_buildpack("provider"))
        .arg(&provider))
    .success();
    let digest = digest_of(&packaged);
    assert_eq!(reg.digest("buildpacks/provider:0.1.0"), digest);
    // Packaging is deterministic.
    let layout = tempfile::tempdir().unwrap();
    let consumer = format!("oci:{}:consumer", layout.path().join("bp").display());
    let again = run(kiln_command()
        .args(["buildpack", "package"])
        .arg(test_buildpack("provider"))
        .arg(format!(
            "oci:{}:provider",
            layout.path().join("bp").display()
        )))
    .success();
    assert_eq!(digest_of(&again), digest);
    run(kiln_command()
        .args(["buildpack", "package"])
        .arg(test_buildpack("consumer"))
        .arg(&consumer))
    .success();

    let out = tempfile::tempdir().unwrap();
    let built = run(kiln_command()
        .args([
            "build",
            &format!("oci:{}:app", out.path().display()),
            "--path",
        ])
        .arg(fixture("plan-app"))
        .args(["--buildpack", &format!("docker://{provider}")])
        .args(["--buildpack", &consumer, "--run-image", &busybox()]))
    .success();
    assert!(
        built.stderr.contains("tests/provider 0.1.0"),
        "{}",
        built.stderr
    );
    assert!(
        built.stderr.contains("tests/consumer 0.1.0"),
        "{}",
        built.stderr
    );

    // An image is not a buildpack artifact.
    reg.push_layout(&busybox(), "base/busybox:latest");
    let wrong = run(kiln_command()
        .args([
            "build",
            &format!("oci:{}:x", out.path().display()),
            "--path",
        ])
        .arg(fixture("plan-app"))
        .args([
            "--buildpack",
            &format!("docker://{}", reg.reference("base/busybox:latest")),
        ]));
    assert_ne!(wrong.code, 0);
    assert!(
        wrong.error_line().contains("not a Kiln buildpack artifact"),
        "{}",
        wrong.error_line()
    );
}

#[test]
fn bearer_token_flow_with_credentials_and_a_clear_401_without() {
    let reg = TestRegistry::start(None);
    let proxy = support::token_proxy::TokenProxy::start(&reg.addr, "kiln", "t0ken-pw");
    let app = format!("{}/apps/bearer:v1", proxy.addr);
    let home = tempfile::tempdir().unwrap();

    let mut cmd = build_to(&app, &busybox(), &[]);
    no_credentials(&mut cmd, home.path());
    let denied = run(&mut cmd);
    assert_eq!(denied.code, 32, "{}", denied.stderr);
    assert!(
        denied.error_line().contains("401") && denied.error_line().contains(&app),
        "{}",
        denied.error_line()
    );
    assert_eq!(proxy.tokens_issued(), 0);

    let mut cmd = build_to(&app, &busybox(), &[]);
    no_credentials(&mut cmd, home.path());
    cmd.env("KILN_REGISTRY_USERNAME", "kiln")
        .env("KILN_REGISTRY_PASSWORD", "t0ken-pw");
    let pushed = run(&mut cmd).success();
    assert!(proxy.tokens_issued() >= 1, "no token was asked for");
    assert_eq!(reg.digest("apps/bearer:v1"), digest_of(&pushed));
}
