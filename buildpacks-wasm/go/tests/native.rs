//! The buildpack's detect and build as native Rust with the SDK's fake host: a Go "release"
//! and two modules are served from memory, and `go build` is answered by a handler that
//! records the command and writes a stand-in binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kiln_buildpack_go::{GoBuildpack, GoError};
use kiln_sdk::exec::{ExecError, ExecErrorKind, ExecOutput, ExecRequest};
use kiln_sdk::testing::FakeHost;
use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, DetectContext, DetectResult, Layer, RestoredLayer,
    buildpack_id, layer_name,
};
use sha2::Digest as _;
use support::Module;

const GO_URL: &str = "https://go.dev/dl/go1.22.5.linux-amd64.tar.gz";
const PROXY: &str = "https://proxy.golang.org";

struct App {
    dir: tempfile::TempDir,
    host: FakeHost,
    greet: Module,
    words: Module,
}

/// The fake build image: `chmod` succeeds; `go build` writes `built <package>` to its `-o`
/// path, or fails with `code`.
fn fake_go(code: i32) -> impl Fn(&ExecRequest) -> Result<ExecOutput, ExecError> {
    move |r: &ExecRequest| {
        if r.argv[0] == "chmod" {
            return Ok(ExecOutput {
                code: 0,
                stdout: Vec::new(),
            });
        }
        if code == 0 {
            let out = r.argv.iter().position(|a| a == "-o").unwrap() + 1;
            std::fs::write(&r.argv[out], format!("built {}", r.argv[out + 1])).unwrap();
        }
        Ok(ExecOutput {
            code,
            stdout: Vec::new(),
        })
    }
}

fn inventory(sha: &str) -> String {
    let mut text = String::new();
    for (version, url, sha) in [
        (
            "1.21.9",
            "https://go.dev/dl/go1.21.9.linux-amd64.tar.gz",
            "0".repeat(64),
        ),
        ("1.22.5", GO_URL, sha.to_owned()),
        (
            "1.22.1",
            "https://go.dev/dl/go1.22.1.linux-amd64.tar.gz",
            "1".repeat(64),
        ),
    ] {
        writeln!(
            text,
            "[[release]]\nversion = \"{version}\"\nos = \"linux\"\narch = \"amd64\"\nurl = \"{url}\"\nsha256 = \"{sha}\"\n"
        )
        .unwrap();
    }
    text
}

impl App {
    /// An app `example.com/app` (go 1.22, main package at the root and in `cmd/tool`) that
    /// requires `example.com/Greet`, which requires `example.com/words`.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(app.join("cmd/tool")).unwrap();
        let words = Module::new(
            "example.com/words",
            "v1.0.0",
            &[],
            &[("words.go", "package words\n\nconst Hello = \"hello\"\n")],
        );
        let greet = Module::new(
            "example.com/Greet",
            "v1.2.0-RC1",
            &["example.com/words v1.0.0"],
            &[("greet.go", "package greet\n")],
        );
        std::fs::write(
            app.join("go.mod"),
            "module example.com/app\n\ngo 1.22\n\nrequire example.com/Greet v1.2.0-RC1\n\nrequire example.com/words v1.0.0 // indirect\n",
        )
        .unwrap();
        std::fs::write(
            app.join("go.sum"),
            format!("{}{}", greet.sum_lines, words.sum_lines),
        )
        .unwrap();
        std::fs::write(app.join("main.go"), "package main\n\nfunc main() {}\n").unwrap();
        std::fs::write(app.join("cmd/tool/main.go"), "package main\n").unwrap();
        let go = support::go_tarball(&[
            ("bin/go", "#!/bin/sh\necho fake go\n", 0o755),
            ("pkg/tool/linux_amd64/compile", "#!/bin/sh\n", 0o755),
            ("src/fmt/print.go", "package fmt\n", 0o644),
        ]);
        let sha = hex::encode(sha2::Sha256::digest(&go));
        std::fs::write(app.join("go-inventory.toml"), inventory(&sha)).unwrap();
        let host = FakeHost::new(dir.path().join("downloads"))
            .serve(GO_URL, go)
            .on_exec(fake_go(0));
        let host = serve_module(host, &greet, "example.com/!greet", "v1.2.0-!r!c1");
        let host = serve_module(host, &words, "example.com/words", "v1.0.0");
        Self {
            dir,
            host,
            greet,
            words,
        }
    }

    fn app_dir(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    fn layers(&self) -> PathBuf {
        self.dir.path().join("layers")
    }

    fn detect_context(&self) -> DetectContext {
        DetectContext::new(buildpack_id!("kiln/go"), self.app_dir())
            .with_env("KILN_GO_INVENTORY", "go-inventory.toml")
    }

    fn build_context(&self) -> BuildContext {
        BuildContext::new(self.detect_context(), self.layers())
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, GoError> {
        self.host.run(|| GoBuildpack.build(ctx))
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.app_dir().join(rel), text).unwrap();
    }
}

fn serve_module(host: FakeHost, m: &Module, escaped: &str, version: &str) -> FakeHost {
    host.serve(
        format!("{PROXY}/{escaped}/@v/{version}.mod"),
        m.go_mod.clone(),
    )
    .serve(format!("{PROXY}/{escaped}/@v/{version}.zip"), m.zip.clone())
}

/// A restored-layer record of `layer` as the host would pass it to the next build.
fn restored(layer: &Layer) -> RestoredLayer {
    RestoredLayer {
        metadata: layer.metadata().clone(),
        has_contents: true,
    }
}

/// The `go build` commands run so far.
fn go_builds(host: &FakeHost) -> Vec<ExecRequest> {
    host.commands()
        .into_iter()
        .filter(|c| c.argv.get(1).is_some_and(|a| a == "build"))
        .collect()
}

fn env_of<'a>(r: &'a ExecRequest, key: &str) -> Option<&'a str> {
    r.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn detects_go_mod_and_provides_go() {
    let app = App::new();
    let DetectResult::Pass(plans) = GoBuildpack.detect(app.detect_context()).unwrap() else {
        panic!("detect failed");
    };
    assert_eq!(plans.len(), 1);
    std::fs::remove_file(app.app_dir().join("go.mod")).unwrap();
    assert!(matches!(
        GoBuildpack.detect(app.detect_context()).unwrap(),
        DetectResult::Fail(_)
    ));
}

#[test]
fn builds_offline_from_a_file_proxy_with_the_exact_commands() {
    let app = App::new();
    let result = app.build(app.build_context()).unwrap();
    let layers = app.layers();

    // One toolchain download, one batch of the four module files.
    let mut requested = app.host.requested();
    assert_eq!(requested.remove(0), GO_URL);
    requested.sort();
    assert_eq!(
        requested,
        [
            format!("{PROXY}/example.com/!greet/@v/v1.2.0-!r!c1.mod"),
            format!("{PROXY}/example.com/!greet/@v/v1.2.0-!r!c1.zip"),
            format!("{PROXY}/example.com/words/@v/v1.0.0.mod"),
            format!("{PROXY}/example.com/words/@v/v1.0.0.zip"),
        ]
    );

    // The toolchain: GOROOT in a build + cache layer, executables listed.
    let go = result.layer_named("go").unwrap();
    assert!(go.types().build && go.types().cache && !go.types().launch);
    assert_eq!(go.executables(), ["bin/go", "pkg/tool/linux_amd64/compile"]);
    assert_eq!(go.metadata()["version"], "1.22.5");
    assert!(app.host.logged("Go 1.22.5 for linux/amd64 (go 1.22)"));

    // The file-system proxy, with escaped paths, .info and list files.
    let proxy = layers.join("goproxy");
    let greet_dir = proxy.join("example.com/!greet/@v");
    assert_eq!(read(&greet_dir.join("v1.2.0-!r!c1.mod")), app.greet.go_mod);
    assert_eq!(
        std::fs::read(greet_dir.join("v1.2.0-!r!c1.zip")).unwrap(),
        app.greet.zip
    );
    assert_eq!(
        read(&greet_dir.join("v1.2.0-!r!c1.info")),
        r#"{"Version":"v1.2.0-RC1"}"#
    );
    assert_eq!(read(&greet_dir.join("list")), "v1.2.0-RC1\n");
    let words_dir = proxy.join("example.com/words/@v");
    assert_eq!(read(&words_dir.join("v1.0.0.mod")), app.words.go_mod);
    assert_eq!(read(&words_dir.join("list")), "v1.0.0\n");
    let proxy_layer = result.layer_named("goproxy").unwrap();
    assert!(proxy_layer.types().cache && !proxy_layer.types().launch);

    // The toolchain's programs get their mode natively (the host unpacks without modes),
    // then one `go build` per main package, root first, with the offline environment.
    let mut commands = app.host.commands();
    assert_eq!(commands.len(), 3);
    let goroot = layers.join("go");
    let chmod = commands.remove(0);
    assert_eq!(
        chmod.argv,
        ["chmod", "755", "bin/go", "pkg/tool/linux_amd64/compile"]
    );
    assert_eq!(chmod.cwd, goroot.display().to_string());
    let bin = layers.join("bin");
    for (cmd, (out, pkg)) in commands.iter().zip([("app", "."), ("tool", "./cmd/tool")]) {
        assert_eq!(
            cmd.argv,
            [
                goroot.join("bin/go").display().to_string(),
                "build".into(),
                "-trimpath".into(),
                "-buildvcs=false".into(),
                "-ldflags=-buildid=".into(),
                "-o".into(),
                bin.join(out).display().to_string(),
                pkg.into(),
            ]
        );
        assert_eq!(cmd.cwd, app.app_dir().display().to_string());
        let env = |k| env_of(cmd, k);
        assert_eq!(env("GOROOT"), Some(goroot.display().to_string().as_str()));
        assert_eq!(
            env("GOPROXY"),
            Some(format!("file://{}", proxy.display()).as_str())
        );
        assert_eq!(env("GOSUMDB"), Some("off"));
        assert_eq!(env("GOFLAGS"), Some("-mod=mod -modcacherw"));
        assert_eq!(env("GOTOOLCHAIN"), Some("local"));
        assert_eq!(env("GOTELEMETRY"), Some("off"));
        assert_eq!(env("GOWORK"), Some("off"));
        assert_eq!(env("CGO_ENABLED"), Some("0"));
        assert_eq!(
            env("GOCACHE"),
            Some(layers.join("gocache").display().to_string().as_str())
        );
        assert_eq!(
            env("GOMODCACHE"),
            Some(layers.join("gomodcache").display().to_string().as_str())
        );
        assert!(
            env("PATH")
                .unwrap()
                .starts_with(&format!("{}:", goroot.join("bin").display())),
            "{:?}",
            env("PATH")
        );
        for removed in ["GOPRIVATE", "GONOPROXY", "GONOSUMDB"] {
            assert_eq!(env(removed), None, "{removed}");
        }
    }

    // The binaries in a launch layer, one process each, `web` the first and the default.
    let bin_layer = result.layer_named("bin").unwrap();
    assert!(bin_layer.types().launch && !bin_layer.types().cache);
    assert_eq!(bin_layer.executables(), ["app", "tool"]);
    assert_eq!(read(&bin.join("app")), "built .");
    let web = result.process_of("web").unwrap();
    assert_eq!(web.command(), [bin.join("app").display().to_string()]);
    assert!(web.is_default());
    let tool = result.process_of("tool").unwrap();
    assert_eq!(tool.command(), [bin.join("tool").display().to_string()]);
    assert!(!tool.is_default());
    for cache in ["gocache", "gomodcache"] {
        let l = result.layer_named(cache).unwrap();
        assert!(
            l.types().cache && !l.types().launch && !l.types().build,
            "{cache}"
        );
    }
}

#[test]
fn a_rebuild_with_an_unchanged_go_sum_downloads_nothing() {
    let app = App::new();
    let first = app.build(app.build_context()).unwrap();
    let downloads = app.host.requested().len();
    let mut ctx = app.build_context();
    for name in ["go", "goproxy", "gocache", "gomodcache"] {
        let layer = first.layer_named(name).unwrap();
        ctx = ctx.with_restored(&kiln_sdk::LayerName::new(name).unwrap(), restored(layer));
    }
    let again = app.build(ctx.clone()).unwrap();
    assert_eq!(app.host.requested().len(), downloads, "nothing fetched");
    assert!(app.host.logged("go: cache kept: Go 1.22.5 is unchanged"));
    assert!(app.host.logged("goproxy: cache kept: go.sum is unchanged"));
    assert!(
        app.host
            .logged("gocache: cache kept: compiled by Go 1.22.5")
    );
    // A kept toolchain lists its executables again, so the cache keeps their modes.
    assert_eq!(
        again.layer_named("go").unwrap().executables(),
        ["bin/go", "pkg/tool/linux_amd64/compile"]
    );
    assert_eq!(
        app.host.commands().len(),
        6,
        "chmod and go build run every time"
    );

    // A changed go.sum lays the proxy out again (the host's download cache answers).
    let go_sum = read(&app.app_dir().join("go.sum"));
    app.write("go.sum", &format!("{go_sum}\n"));
    let _ = app.build(ctx).unwrap();
    assert!(app.host.logged("goproxy: cache discarded: go.sum changed"));
    assert_eq!(app.host.requested().len(), downloads + 4);
}

#[test]
fn settings_choose_targets_web_process_and_cgo() {
    let app = App::new();
    std::fs::create_dir_all(app.app_dir().join("cmd/other")).unwrap();
    let ctx = BuildContext::new(
        app.detect_context()
            .with_env("KILN_GO_TARGETS", "./cmd/tool:./cmd/other")
            .with_env("KILN_GO_WEB", "other")
            .with_env("CGO_ENABLED", "1"),
        app.layers(),
    );
    let result = app.build(ctx).unwrap();
    let commands = go_builds(&app.host);
    let packages: Vec<&str> = commands.iter().map(|c| c.argv[7].as_str()).collect();
    assert_eq!(packages, ["./cmd/tool", "./cmd/other"]);
    assert!(
        commands
            .iter()
            .all(|c| env_of(c, "CGO_ENABLED") == Some("1"))
    );
    let web = result.process_of("web").unwrap();
    assert!(
        web.command()[0].ends_with("/bin/other"),
        "{:?}",
        web.command()
    );
    assert!(result.process_of("tool").is_some());
    assert!(result.process_of("app").is_none());
}

#[test]
fn a_vendor_directory_builds_with_mod_vendor_and_fetches_no_module() {
    let app = App::new();
    std::fs::create_dir_all(app.app_dir().join("vendor")).unwrap();
    app.write("vendor/modules.txt", "# example.com/Greet v1.2.0-RC1\n");
    let result = app.build(app.build_context()).unwrap();
    assert_eq!(app.host.requested(), [GO_URL]);
    assert!(result.layer_named("goproxy").is_none());
    for c in go_builds(&app.host) {
        assert_eq!(env_of(&c, "GOFLAGS"), Some("-mod=vendor"));
        assert_eq!(env_of(&c, "GOPROXY"), Some("off"));
    }
}

#[test]
fn the_toolchain_directive_and_missing_versions() {
    let app = App::new();
    app.write(
        "go.mod",
        "module example.com/app\n\ngo 1.21\n\ntoolchain go1.22.3\n",
    );
    app.write("go.sum", "");
    let _ = app.build(app.build_context()).unwrap();
    assert!(
        app.host
            .logged("Go 1.22.5 for linux/amd64 (toolchain go1.22.3)")
    );
    assert_eq!(app.host.requested(), [GO_URL], "no module files to fetch");
    let c = &go_builds(&app.host)[0];
    assert_eq!(env_of(c, "GOPROXY"), Some("off"));

    app.write("go.mod", "module example.com/app\n\ngo 1.20\n");
    let err = app.build(app.build_context()).unwrap_err();
    let text = kiln_sdk::Report::new(&err).to_string();
    assert!(
        text.contains("`go 1.20`") && text.contains("available: 1.22.5, 1.22.1, 1.21.9"),
        "{text}"
    );
}

#[test]
fn requires_without_go_sum_say_go_mod_tidy() {
    let app = App::new();
    std::fs::remove_file(app.app_dir().join("go.sum")).unwrap();
    let err = app.build(app.build_context()).unwrap_err();
    assert!(matches!(err, GoError::NoGoSum { requires: 2 }), "{err}");
    assert!(err.to_string().contains("go mod tidy"), "{err}");
    assert!(app.host.requested().is_empty());
}

#[test]
fn a_tampered_module_fails_naming_its_url() {
    let mut app = App::new();
    let url = format!("{PROXY}/example.com/words/@v/v1.0.0.zip");
    let evil = support::zip(&[(
        "example.com/words@v1.0.0/words.go",
        b"package words\n// evil\n",
    )]);
    app.host = app.host.clone().serve(&url, evil);
    let err = app.build(app.build_context()).unwrap_err();
    let text = kiln_sdk::Report::new(&err).to_string();
    assert!(text.contains("module example.com/words@v1.0.0"), "{text}");
    assert!(
        text.contains(&url) && text.contains("integrity mismatch"),
        "{text}"
    );
    assert!(app.host.commands().is_empty(), "go never runs");
}

#[test]
fn a_missing_module_and_an_unusable_goproxy() {
    let app = App::new();
    let mirror = "http://mirror.invalid/go";
    let ctx = BuildContext::new(
        app.detect_context()
            .with_env("GOPROXY", format!("off,{mirror}/,direct")),
        app.layers(),
    );
    let err = app.build(ctx).unwrap_err();
    let text = kiln_sdk::Report::new(&err).to_string();
    assert!(
        text.contains(&format!("{mirror}/example.com/!greet/@v/v1.2.0-!r!c1.mod"))
            && text.contains("missing from the module proxy")
            && text.contains("3 more file(s) failed"),
        "{text}"
    );
    let ctx = BuildContext::new(
        app.detect_context().with_env("GOPROXY", "direct"),
        app.layers(),
    );
    let err = app.build(ctx).unwrap_err();
    assert!(matches!(err, GoError::Proxy(_)), "{err}");
}

#[test]
fn go_build_failures_and_a_missing_build_image_are_explained() {
    let mut app = App::new();
    app.host = app.host.clone().on_exec(fake_go(2));
    let err = app.build(app.build_context()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "go build . failed with exit status 2; the compiler's output is above"
    );

    app.host = app.host.clone().on_exec(|_| {
        Err(ExecError {
            kind: ExecErrorKind::Unavailable,
            message: "native steps need a build image: pass --build-image REF".into(),
        })
    });
    let err = app.build(app.build_context()).unwrap_err();
    assert!(matches!(err, GoError::ToolchainModes { .. }), "{err}");
    let text = kiln_sdk::Report::new(&err).to_string();
    assert!(text.contains("--build-image REF"), "{text}");
}

#[test]
fn restored_metadata_of_another_release_discards_the_toolchain() {
    let app = App::new();
    std::fs::create_dir_all(app.layers().join("go/bin")).unwrap();
    let ctx = app.build_context().with_restored(
        &layer_name!("go"),
        RestoredLayer {
            metadata: serde_json::json!({"version": "1.21.9", "sha256": "0", "executables": []}),
            has_contents: true,
        },
    );
    let _ = app.build(ctx).unwrap();
    assert!(
        app.host
            .logged("go: cache discarded: Go 1.22.5 replaces 1.21.9")
    );
    assert_eq!(app.host.requested()[0], GO_URL);
}
