//! Bad input: each case gives a one-line error naming the thing at fault, exits with the
//! documented code, never panics, and leaves an existing output layout untouched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use support::*;

struct Case {
    name: &'static str,
    args: Vec<String>,
    code: i32,
    needles: Vec<String>,
}

fn case(name: &'static str, args: &[&str], code: i32, needles: &[&str]) -> Case {
    Case {
        name,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        code,
        needles: needles.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A busybox run-image layout copy whose first layer blob is corrupted.
fn corrupt_run_image(dir: &Path) -> String {
    let busybox = busybox();
    let src = PathBuf::from(
        busybox
            .trim_start_matches("oci:")
            .trim_end_matches(":latest"),
    );
    copy_dir(&src, dir);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .replace("sha256:", "");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(manifest_digest)).unwrap(),
    )
    .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .replace("sha256:", "");
    let blob = dir.join("blobs/sha256").join(layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    format!("oci:{}:latest", dir.display())
}

/// A busybox copy whose config claims another diff_id for its layer (the blob is intact).
fn wrong_diff_id_run_image(dir: &Path) -> String {
    edited_busybox(dir, "latest", |config| {
        let other = kiln_oci::Digest::of_bytes(b"not the layer");
        config.set_diff_ids(&[other]);
    })
}

/// A busybox copy whose layer descriptor has a media type that is not a layer type.
fn bogus_media_type_run_image(dir: &Path) -> String {
    let reference = edited_busybox(dir, "latest", |_| {});
    let layout = kiln_oci::OciLayout::open(dir).unwrap();
    let base = layout.resolve(Some("latest")).unwrap();
    let mut layers = base.manifest.layers.clone();
    layers[0].media_type = "application/vnd.example.bogus".into();
    layout.write_image("latest", &base.config, layers).unwrap();
    reference
}

#[test]
fn bad_input_is_reported_in_one_line_and_leaves_the_output_alone() {
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let layout = w.join("out");
    let target = format!("oci:{}:new", layout.display());
    // An existing output layout with a previous image in it.
    kiln([
        "-q",
        "build",
        &format!("oci:{}:prev", layout.display()),
        "--path",
        &s(&fixture("procfile-app")),
    ])
    .success();
    let before = snapshot(&layout);

    let procfile_app = s(&fixture("procfile-app"));
    let bad_procfile = w.join("bad-procfile");
    std::fs::create_dir_all(&bad_procfile).unwrap();
    std::fs::write(bad_procfile.join("Procfile"), "web: ok\n\nno colon here\n").unwrap();
    let not_wasm = w.join("notes.wasm");
    std::fs::write(&not_wasm, "this is not wasm").unwrap();
    let truncated = w.join("truncated.wasm");
    let full = std::fs::read(test_buildpack("provider")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 3]).unwrap();
    let core_module = w.join("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    let corrupt = corrupt_run_image(&w.join("corrupt-run"));
    let wrong_diff_id = wrong_diff_id_run_image(&w.join("wrong-diff-id-run"));
    let bogus_media_type = bogus_media_type_run_image(&w.join("bogus-media-run"));
    let garbage_index = w.join("garbage-run");
    std::fs::create_dir_all(&garbage_index).unwrap();
    std::fs::write(
        garbage_index.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(garbage_index.join("index.json"), "{ not json").unwrap();
    let raw = s(&test_buildpack("raw"));
    let env_file = w.join("bad.env");
    std::fs::write(&env_file, "GOOD=1\nthis is not an assignment\n").unwrap();

    let cases = vec![
        case(
            "missing app dir",
            &["build", &target, "--path", &s(&w.join("nope"))],
            3,
            &["app directory", "nope", "does not exist"],
        ),
        case(
            "malformed Procfile",
            &["build", &target, "--path", &s(&bad_procfile)],
            51,
            &["Procfile line 3 is malformed"],
        ),
        case(
            "non-wasm file",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &s(&not_wasm),
            ],
            12,
            &["notes.wasm", "is not a valid WebAssembly component"],
        ),
        case(
            "truncated wasm",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &s(&truncated),
            ],
            12,
            &["truncated.wasm", "is not a valid WebAssembly component"],
        ),
        case(
            "core module, not a component",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &s(&core_module),
            ],
            12,
            &["core.wasm"],
        ),
        case(
            "component of another world",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &s(&test_buildpack("not-buildpack")),
            ],
            12,
            &["does not implement the kiln:buildpack@0.1.0 world"],
        ),
        case(
            "layer name ../x",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &raw,
                "--env",
                "KILN_TEST_MODE=bad-layer-dotdot",
            ],
            51,
            &["buildpack tests/raw returned an invalid layer name \"../x\""],
        ),
        case(
            "empty layer name",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &raw,
                "--env",
                "KILN_TEST_MODE=bad-layer-empty",
            ],
            51,
            &["invalid layer name \"\"", "must not be empty"],
        ),
        case(
            "layer name /",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &raw,
                "--env",
                "KILN_TEST_MODE=bad-layer-slash",
            ],
            51,
            &["invalid layer name \"/\""],
        ),
        case(
            "duplicate process types",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &raw,
                "--env",
                "KILN_TEST_MODE=dup-process",
            ],
            51,
            &["process web", "declared twice"],
        ),
        case(
            "SBOM that is not CycloneDX",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &raw,
                "--env",
                "KILN_TEST_MODE=bad-sbom",
            ],
            51,
            &["layer badsbom", "not CycloneDX"],
        ),
        case(
            "invalid env name",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                &raw,
                "--env",
                "KILN_TEST_MODE=bad-env-name",
            ],
            51,
            &["\"A=B\""],
        ),
        case(
            "missing run image",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--run-image",
                &format!("oci:{}", s(&w.join("no-such-layout"))),
            ],
            32,
            &["run image", "no-such-layout"],
        ),
        case(
            "corrupt run image blob",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--run-image",
                &corrupt,
            ],
            32,
            &["run image", "corrupt-run"],
        ),
        case(
            "run image with a wrong diff_id",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--run-image",
                &wrong_diff_id,
            ],
            32,
            &["run image", "wrong-diff-id-run", "layer 1", "diff_id"],
        ),
        case(
            "run image layer with a bogus media type",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--run-image",
                &bogus_media_type,
            ],
            32,
            &["run image", "layer 1", "application/vnd.example.bogus"],
        ),
        case(
            "rebase onto a run image with a wrong diff_id",
            &[
                "rebase",
                &format!("oci:{}:prev", layout.display()),
                "--run-image",
                &wrong_diff_id,
            ],
            32,
            &["run image", "layer 1", "diff_id"],
        ),
        case(
            "garbage run image index",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--run-image",
                &format!("oci:{}", s(&garbage_index)),
            ],
            32,
            &["index.json"],
        ),
        case(
            "unknown run image tag",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--run-image",
                &format!("oci:{}:nope", layout.display()),
            ],
            32,
            &["nope"],
        ),
        case(
            "unknown buildpack",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--buildpack",
                "acme/unknown",
            ],
            3,
            &[
                "acme/unknown",
                "embedded: kiln/nodejs, kiln/go, kiln/python, kiln/procfile",
            ],
        ),
        case(
            "bad --env",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--env",
                "NOVALUE",
            ],
            3,
            &["--env \"NOVALUE\""],
        ),
        case(
            "bad env file",
            &[
                "build",
                &target,
                "--path",
                &procfile_app,
                "--env-file",
                &s(&env_file),
            ],
            3,
            &["bad.env line 2"],
        ),
    ];
    // Records the SDK would refuse, returned by the raw test buildpack.
    let raw_modes: [(&'static str, &str, &[&str]); 7] = [
        (
            "a 16 MiB error message is cut",
            "huge-error",
            &["more bytes cut"],
        ),
        (
            "a NUL byte in an env value",
            "nul-env",
            &["layer nulenv", "GREETING", "NUL byte"],
        ),
        (
            "a NUL byte in a process command",
            "nul-command",
            &["process web", "NUL byte"],
        ),
        (
            "100,000 processes",
            "many-processes",
            &["100000 processes", "limit of 1024"],
        ),
        (
            "a 2 MiB label value",
            "huge-label",
            &["label \"big\"", "limit of 1 MiB"],
        ),
        (
            "a stack overflow",
            "stack-overflow",
            &["crashed during build", "call stack overflowed"],
        ),
        (
            "a layer directory that is a file",
            "layer-is-file",
            &["left a file at /layers/tests_raw/notadir"],
        ),
    ];
    let mut cases = cases;
    for (name, mode, needles) in raw_modes {
        let env = format!("KILN_TEST_MODE={mode}");
        let args = [
            "build",
            &target,
            "--path",
            &procfile_app,
            "--buildpack",
            &raw,
            "--env",
            &env,
            "--build-timeout",
            "60",
        ];
        cases.push(case(name, &args, 51, needles));
    }
    for c in cases {
        let out = kiln(&c.args);
        assert_eq!(
            out.code, c.code,
            "{}: wrong exit code\n{}",
            c.name, out.stderr
        );
        let line = out.error_line();
        assert!(line.starts_with("ERROR: "), "{}: {line}", c.name);
        for n in &c.needles {
            assert!(
                line.contains(n.as_str()),
                "{}: expected {n:?} in {line:?}",
                c.name
            );
        }
        assert!(
            !out.stderr.contains("panicked"),
            "{}: {}",
            c.name,
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "{}: printed a result: {}",
            c.name,
            out.stdout
        );
        assert_eq!(
            snapshot(&layout),
            before,
            "{}: the output layout changed",
            c.name
        );
    }
}

#[test]
fn an_output_path_that_is_not_a_layout_is_refused_untouched() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("precious");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let before = snapshot(&out);
    let o = kiln([
        "build",
        &format!("oci:{}", out.display()),
        "--path",
        &s(&fixture("procfile-app")),
    ]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.error_line().contains("is not an OCI image layout"),
        "{}",
        o.error_line()
    );
    assert_eq!(snapshot(&out), before);
}

/// A compile cache that cannot be written does not fail the build, and the host's warning
/// reaches the user (unless `-q` or `RUST_LOG` say otherwise).
#[test]
fn compile_cache_trouble_is_reported_as_a_warning() {
    let work = tempfile::tempdir().unwrap();
    // `components` is a file, so no precompiled component can be stored under it.
    let cache = work.path().join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("components"), "not a directory").unwrap();
    let build = |name: &str, extra: &[&str], rust_log: Option<&str>| {
        let mut cmd = kiln_command();
        cmd.env("KILN_CACHE_DIR", &cache).env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            cmd.env("RUST_LOG", filter);
        }
        cmd.args(extra)
            .arg("build")
            .arg(format!("oci:{}", work.path().join(name).display()))
            .arg("--path")
            .arg(fixture("procfile-app"))
            .arg("--cache-dir")
            .arg(work.path().join("layer-cache"));
        run(&mut cmd).success()
    };
    let shown = build("normal", &[], None);
    assert!(
        shown
            .stderr
            .contains("warning: could not write compile cache"),
        "{}",
        shown.stderr
    );
    let quiet = build("quiet", &["-q"], None);
    assert!(!quiet.stderr.contains("compile cache"), "{}", quiet.stderr);
    let filtered = build("filtered", &[], Some("off"));
    assert!(
        !filtered.stderr.contains("compile cache"),
        "{}",
        filtered.stderr
    );
}

/// One component's precompiled artifact copied over another's is detected (its sidecar binds
/// it to its component) and recompiled; a cache others can write is not used at all.
#[test]
fn a_swapped_or_shared_compile_cache_entry_is_not_trusted() {
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let build = |name: &str, extra: &[&str]| {
        let mut cmd = kiln_command();
        cmd.env("KILN_CACHE_DIR", &cache)
            .env_remove("RUST_LOG")
            .arg("build")
            .arg(format!("oci:{}", work.path().join(name).display()))
            .arg("--path")
            .arg(fixture("procfile-app"))
            .args(extra);
        run(&mut cmd).success()
    };
    build("first", &[]);
    let components = cache.join("components");
    let mut artifacts: Vec<PathBuf> = std::fs::read_dir(&components)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    artifacts.sort();
    assert!(artifacts.len() >= 2, "{artifacts:?}");
    // Every artifact replaced by another component's (with and without its sidecar).
    let first = std::fs::read(&artifacts[0]).unwrap();
    let first_sum = std::fs::read(format!("{}.sum", artifacts[0].display())).unwrap();
    for (i, other) in artifacts.iter().enumerate().skip(1) {
        std::fs::write(other, &first).unwrap();
        if i % 2 == 0 {
            std::fs::write(format!("{}.sum", other.display()), &first_sum).unwrap();
        }
    }
    let swapped = build("swapped", &[]);
    assert!(
        swapped.stderr.contains("discarding compile cache entry")
            && swapped.stderr.contains("sidecar"),
        "{}",
        swapped.stderr
    );
    assert!(
        swapped.stderr.contains("kiln/procfile"),
        "the right buildpack ran: {}",
        swapped.stderr
    );

    // A cache directory other users can write is not used.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&components, std::fs::Permissions::from_mode(0o777)).unwrap();
        let shared = build("shared", &[]);
        assert!(
            shared.stderr.contains("not using the compile cache")
                && shared.stderr.contains("writable by other users"),
            "{}",
            shared.stderr
        );
    }

    // `--compile-cache none` writes nothing.
    let none_cache = work.path().join("untouched");
    let mut cmd = kiln_command();
    cmd.env("KILN_CACHE_DIR", &none_cache)
        .arg("build")
        .arg(format!("oci:{}", work.path().join("none").display()))
        .arg("--path")
        .arg(fixture("procfile-app"))
        .args(["--compile-cache", "none"]);
    run(&mut cmd).success();
    assert!(!none_cache.join("components").exists());
}

/// A full disk while copying the app is reported as such (not as a read failure of the app).
#[test]
fn a_full_disk_during_the_app_copy_is_named() {
    let work = tempfile::tempdir().unwrap();
    let small = work.path().join("small-tmp");
    std::fs::create_dir_all(&small).unwrap();
    // A 256 KiB tmpfs as the build's temp dir (the tests run as root, as CI does).
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mounting a small tmpfs needs root");
    let app = work.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("Procfile"), "web: echo hi\n").unwrap();
    std::fs::write(app.join("big.bin"), vec![7u8; 1 << 20]).unwrap();
    // The app snapshot lives in the cache dir, a temporary copy in TMPDIR: both small.
    let mut cmd = kiln_command();
    cmd.env("TMPDIR", &small)
        .env("KILN_CACHE_DIR", &small)
        .arg("build")
        .arg(format!("oci:{}", work.path().join("out").display()))
        .arg("--path")
        .arg(&app)
        .arg("--compile-cache")
        .arg(compile_cache().join("components"));
    let out = run(&mut cmd);
    let _ = std::process::Command::new("umount").arg(&small).status();
    assert_eq!(out.code, 1, "{}", out.stderr);
    let line = out.error_line();
    assert!(line.contains("no space left"), "{line}");
    assert!(
        line.contains("while copying")
            && line.contains("KILN_CACHE_DIR")
            && line.contains("TMPDIR"),
        "{line}"
    );
    assert!(!work.path().join("out").exists(), "nothing written");
}
