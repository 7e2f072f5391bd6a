//! The buildpack's detect and build as native Rust with the SDK's fake host: a Node.js
//! "release" and an npm package are served from memory, nothing leaves the process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;

use kiln_buildpack_nodejs::{NodejsBuildpack, NodejsError};
use kiln_sdk::testing::{FakeHost, sha256_integrity};
use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, DetectContext, DetectResult, RestoredLayer, buildpack_id,
    layer_name,
};
use sha2::Digest as _;

const NODE_URL: &str = "https://nodejs.org/dist/v22.1.0/node-v22.1.0-linux-x64.tar.gz";
const REGISTRY: &str = "https://registry.npmjs.org/";

/// A gzip-compressed tar of `files` (path, contents, mode) under `prefix/`.
fn tgz(prefix: &str, files: &[(&str, &str, u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}/{path}"), data.as_bytes())
            .unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

struct App {
    dir: tempfile::TempDir,
    host: FakeHost,
}

impl App {
    /// An app with `package.json`, an inventory listing one fake release, served by the host.
    fn new(package_json: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("package.json"), package_json).unwrap();
        let node = tgz(
            "node-v22.1.0-linux-x64",
            &[("bin/node", "#!/bin/sh\necho fake node\n", 0o755)],
        );
        let sha = hex::encode(sha2::Sha256::digest(&node));
        std::fs::write(
            app.join("inventory.toml"),
            format!(
                "[[release]]\nversion = \"22.1.0\"\nlts = true\nos = \"linux\"\narch = \"x64\"\nurl = \"{NODE_URL}\"\nsha256 = \"{sha}\"\n"
            ),
        )
        .unwrap();
        let host = FakeHost::new(dir.path().join("downloads")).serve(NODE_URL, node);
        Self { dir, host }
    }

    fn app_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("app")
    }

    fn detect_context(&self) -> DetectContext {
        DetectContext::new(buildpack_id!("kiln/nodejs"), self.app_dir())
            .with_env("KILN_NODEJS_INVENTORY", "inventory.toml")
    }

    fn build_context(&self) -> BuildContext {
        BuildContext::new(self.detect_context(), self.dir.path().join("layers"))
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, NodejsError> {
        self.host.run(|| NodejsBuildpack.build(ctx))
    }
}

/// A restored-layer record of `layer` as the host would pass it to the next build.
fn restored(layer: &kiln_sdk::Layer) -> RestoredLayer {
    RestoredLayer {
        metadata: layer.metadata().clone(),
        has_contents: true,
    }
}

#[test]
fn detects_package_json() {
    let app = App::new("{}");
    assert_eq!(
        NodejsBuildpack.detect(app.detect_context()).unwrap(),
        DetectResult::Pass(Vec::new())
    );
    std::fs::remove_file(app.app_dir().join("package.json")).unwrap();
    assert!(matches!(
        NodejsBuildpack.detect(app.detect_context()).unwrap(),
        DetectResult::Fail(_)
    ));
}

#[test]
fn installs_the_runtime_and_reuses_it_when_unchanged() {
    let app = App::new(r#"{"scripts": {"start": "node app.js"}}"#);
    let result = app.build(app.build_context()).unwrap();
    let node = result.layer_named("node").unwrap();
    assert!(node.path().join("bin/node").is_file());
    assert_eq!(node.executables(), ["bin/node"]);
    assert_eq!(node.metadata()["version"], "22.1.0");
    assert!(result.layer_named("modules").is_none());
    let web = result.process_of("web").unwrap();
    assert_eq!(web.command(), ["/bin/sh", "-c", "node app.js"]);
    assert_eq!(app.host.requested(), [NODE_URL]);
    assert!(app.host.logged("Installing Node.js 22.1.0"));

    // The next build gets the layer back: kept, with the cause logged, nothing fetched.
    let ctx = app
        .build_context()
        .with_restored(&layer_name!("node"), restored(node));
    let again = app.build(ctx).unwrap();
    assert!(
        again
            .layer_named("node")
            .unwrap()
            .path()
            .join("bin/node")
            .is_file()
    );
    assert_eq!(app.host.requested().len(), 1);
    assert!(
        app.host
            .logged("node: cache kept: Node.js 22.1.0 is unchanged")
    );
}

#[test]
fn a_different_release_discards_the_runtime_layer() {
    let app = App::new("{}");
    let ctx = app.build_context().with_restored(
        &layer_name!("node"),
        RestoredLayer {
            metadata: serde_json::json!({"version": "20.0.0", "sha256": "00"}),
            has_contents: true,
        },
    );
    std::fs::create_dir_all(app.dir.path().join("layers/node/bin")).unwrap();
    let result = app.build(ctx).unwrap();
    assert_eq!(
        result.layer_named("node").unwrap().metadata()["version"],
        "22.1.0"
    );
    assert!(
        app.host
            .logged("node: cache discarded: Node.js 22.1.0 replaces 20.0.0")
    );
    assert_eq!(app.host.requested(), [NODE_URL]);
}

#[test]
fn installs_locked_packages_and_links_node_modules() {
    let pkg = tgz(
        "package",
        &[
            (
                "package.json",
                r#"{"name":"greet","version":"1.0.0"}"#,
                0o644,
            ),
            ("index.js", "module.exports = 'hi';", 0o644),
        ],
    );
    let integrity = sha256_integrity(&pkg);
    let url = format!("{REGISTRY}greet/-/greet-1.0.0.tgz");
    let mut app = App::new(r#"{"dependencies": {"greet": "^1.0.0"}}"#);
    app.host = app.host.clone().serve(&url, pkg);
    let lock = serde_json::json!({
        "name": "app", "lockfileVersion": 3,
        "packages": {
            "": {"dependencies": {"greet": "^1.0.0"}},
            "node_modules/greet": {"version": "1.0.0", "resolved": url, "integrity": integrity}
        }
    });
    std::fs::write(app.app_dir().join("package-lock.json"), lock.to_string()).unwrap();
    let result = app.build(app.build_context()).unwrap();
    let modules = result.layer_named("modules").unwrap();
    let installed = modules.path().join("node_modules/greet/index.js");
    assert_eq!(
        std::fs::read_to_string(installed).unwrap(),
        "module.exports = 'hi';"
    );
    assert!(modules.env().iter().any(|e| e.name() == "NODE_PATH"));
    let link = std::fs::read_link(app.app_dir().join("node_modules")).unwrap();
    assert!(
        link.ends_with("layers/modules/node_modules"),
        "{}",
        link.display()
    );
    assert!(app.host.logged("Installed 1 packages (1 downloaded"));

    // The same lockfile next time: kept. A changed one: discarded, with the cause.
    let ctx = app
        .build_context()
        .with_restored(&layer_name!("modules"), restored(modules));
    let kept = app.build(ctx.clone()).unwrap();
    let greet = kept
        .layer_named("modules")
        .unwrap()
        .path()
        .join("node_modules/greet");
    assert!(greet.is_dir());
    assert!(
        app.host
            .logged("modules: cache kept: package-lock.json is unchanged")
    );
    std::fs::write(app.app_dir().join("package-lock.json"), format!("{lock}\n")).unwrap();
    let rebuilt = app.build(ctx).unwrap();
    let rebuilt = rebuilt.layer_named("modules").unwrap();
    assert_ne!(rebuilt.metadata(), modules.metadata());
    assert!(
        app.host
            .logged("modules: cache discarded: package-lock.json changed")
    );
}

#[test]
fn dependencies_without_a_lockfile_fail_with_a_typed_error() {
    let app = App::new(r#"{"dependencies": {"greet": "^1.0.0"}}"#);
    let err = app.build(app.build_context()).unwrap_err();
    assert!(matches!(err, NodejsError::NoLockfile), "{err}");
}

#[test]
fn a_missing_release_keeps_the_download_error_as_source() {
    let app = App::new("{}");
    let host = FakeHost::new(app.dir.path().join("downloads"));
    let ctx = app.build_context();
    let err = host.run(|| NodejsBuildpack.build(ctx)).unwrap_err();
    let NodejsError::RuntimeDownload { version, source } = &err else {
        panic!("unexpected error {err}");
    };
    assert_eq!(version, "22.1.0");
    assert_eq!(source.kind, kiln_sdk::fetch::FetchErrorKind::NotFound);
    let report = kiln_sdk::Report::new(&err);
    assert!(report.detail.contains(NODE_URL), "{report}");
}

#[test]
fn invalid_package_json_names_the_file() {
    let app = App::new("{");
    let err = app.build(app.build_context()).unwrap_err();
    assert!(matches!(err, NodejsError::PackageJson(_)), "{err}");
    assert!(
        err.to_string().contains("package.json is not valid JSON"),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
}
