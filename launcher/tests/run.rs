//! Runs the launcher binary against a layers dir in a temp dir, as a container would.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LAUNCHER: &str = env!("CARGO_BIN_EXE_launcher");

/// `printf` each of FOO, ONLY_WEB, the working dir and the arguments, `|`-terminated.
const SHOW: &str = r#"printf '%s|' "$FOO" "$ONLY_WEB" "$PWD" "$@""#;

struct Image {
    _tmp: tempfile::TempDir,
    layers: PathBuf,
    app: PathBuf,
}

fn write(path: &Path, content: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn image(default: Option<&str>) -> Image {
    let tmp = tempfile::tempdir().unwrap();
    let layers = tmp.path().join("layers");
    let app = tmp.path().join("app");
    fs::create_dir_all(app.join("sub")).unwrap();
    let default = default.map_or(String::new(), |d| {
        format!("buildpack-default-process-type = \"{d}\"\n")
    });
    let show = SHOW.replace('\\', "\\\\").replace('"', "\\\"");
    write(
        &layers.join("config/metadata.toml"),
        &format!(
            r#"{default}
[[buildpacks]]
id = "example/bp"
version = "0.1.0"
api = "0.12"

[[processes]]
type = "web"
command = ["/bin/sh", "-c", "{show}", "sh"]
args = ["default-arg"]
direct = true
working-dir = "{app}/sub"
buildpack-id = "example/bp"

[[processes]]
type = "worker"
command = ["/bin/sh", "-c", "{show}", "sh"]
args = []
direct = true
working-dir = "{app}"
buildpack-id = "example/bp"

[[processes]]
type = "hello"
command = ["hello"]
args = []
direct = true
working-dir = "{app}"
buildpack-id = "example/bp"
"#,
            app = app.display()
        ),
    );
    let layer = layers.join("example_bp/tools");
    write(&layer.join("env.launch/FOO"), "from-layer");
    write(&layer.join("env.launch/web/ONLY_WEB"), "web-only");
    write(&layer.join("env/GREETING.default"), "hi");
    write(
        &layer.join("bin/hello"),
        "#!/bin/sh\necho \"hello $GREETING\"\n",
    );
    fs::set_permissions(layer.join("bin/hello"), fs::Permissions::from_mode(0o755)).unwrap();
    Image {
        _tmp: tmp,
        layers,
        app,
    }
}

/// Run `program` with argv[0] `argv0` and the image's CNB variables in an otherwise clean env.
fn run_as(image: &Image, program: &Path, argv0: &str, args: &[&str]) -> Output {
    Command::new(program)
        .arg0(argv0)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/cnb/process:/usr/local/bin:/usr/bin:/bin:/cnb/lifecycle",
        )
        .env("CNB_LAYERS_DIR", &image.layers)
        .env("CNB_APP_DIR", &image.app)
        .env("CNB_PLATFORM_API", "0.15")
        .env("HOME", "/home/cnb")
        .output()
        .unwrap()
}

fn run(image: &Image, argv0: &str, args: &[&str]) -> Output {
    run_as(image, Path::new(LAUNCHER), argv0, args)
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failure(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(82), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert!(err.starts_with("launcher: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn default_process_with_its_args_env_and_working_dir() {
    let img = image(Some("web"));
    let out = run(&img, "/cnb/lifecycle/launcher", &[]);
    let app = img.app.display();
    assert_eq!(
        stdout(&out),
        format!("from-layer|web-only|{app}/sub|default-arg|")
    );
}

#[test]
fn process_symlink_with_user_args() {
    let img = image(Some("worker"));
    let process_dir = img.layers.parent().unwrap().join("cnb/process");
    fs::create_dir_all(&process_dir).unwrap();
    let link = process_dir.join("web");
    std::os::unix::fs::symlink(LAUNCHER, &link).unwrap();
    let out = run_as(&img, &link, link.to_str().unwrap(), &["one", "two words"]);
    let app = img.app.display();
    assert_eq!(
        stdout(&out),
        format!("from-layer|web-only|{app}/sub|one|two words|")
    );
}

#[test]
fn per_process_env_only_for_its_type() {
    let img = image(Some("web"));
    let out = run(&img, "worker", &[]);
    let app = img.app.display();
    assert_eq!(stdout(&out), format!("from-layer||{app}|"));
}

#[test]
fn command_is_found_in_the_new_path() {
    let img = image(None);
    let out = run(&img, "/cnb/process/hello", &[]);
    assert_eq!(stdout(&out), "hello hi\n");
}

#[test]
fn double_dash_runs_directly_with_the_launch_env() {
    let img = image(Some("web"));
    let out = run(&img, "/cnb/lifecycle/launcher", &["--", "env"]);
    let text = stdout(&out);
    let mut vars: Vec<&str> = text.lines().collect();
    vars.sort_unstable();
    let bin = img.layers.join("example_bp/tools/bin");
    assert_eq!(
        vars,
        [
            "FOO=from-layer".to_owned(),
            "GREETING=hi".to_owned(),
            "HOME=/home/cnb".to_owned(),
            format!("PATH={}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        ]
    );
    // No shell: `$FOO` is an ordinary argument.
    let out = run(&img, "launcher", &["--", "echo", "$FOO"]);
    assert_eq!(stdout(&out), "$FOO\n");
    let out = run(&img, "launcher", &["--", "/bin/pwd"]);
    assert_eq!(stdout(&out), format!("{}\n", img.app.display()));
}

#[test]
fn other_args_run_through_the_shell() {
    let img = image(Some("web"));
    let out = run(
        &img,
        "/cnb/lifecycle/launcher",
        &["echo $FOO", "and", "$GREETING"],
    );
    assert_eq!(stdout(&out), "from-layer and hi\n");
}

#[test]
fn the_process_exit_status_is_the_launchers() {
    let img = image(None);
    let out = run(&img, "launcher", &["--", "/bin/sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn failures_exit_82_with_one_line() {
    let img = image(None);
    let err = failure(&run(&img, "/cnb/lifecycle/launcher", &[]));
    assert!(err.contains("no process"), "{err}");
    let err = failure(&run(&img, "launcher", &["--", "no-such-command-kiln"]));
    assert_eq!(
        err,
        "launcher: command `no-such-command-kiln` not found in PATH\n"
    );
    let err = failure(&run(&img, "launcher", &["--", "/no/such/program"]));
    assert!(
        err.starts_with("launcher: cannot execute /no/such/program: "),
        "{err}"
    );

    let img = image(Some("gone"));
    let err = failure(&run(&img, "launcher", &[]));
    assert!(err.contains("`gone`"), "{err}");

    let metadata = img.layers.join("config/metadata.toml");
    fs::write(&metadata, "[[processes]]\ntype = 3\n").unwrap();
    let err = failure(&run(&img, "/cnb/process/web", &[]));
    assert!(
        err.starts_with(&format!("launcher: invalid {}: ", metadata.display())),
        "{err}"
    );

    let missing = img.layers.join("nowhere");
    let out = Command::new(LAUNCHER)
        .env_clear()
        .env("CNB_LAYERS_DIR", &missing)
        .output()
        .unwrap();
    let err = failure(&out);
    assert!(err.contains(&missing.display().to_string()), "{err}");
}
