//! The Node.js buildpack's component in the real Kiln host, in-process, with `kiln-test`:
//! downloads come from a fixture server on 127.0.0.1 (a stand-in runtime and one package).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use kiln_test::fixtures::{integrity, tgz};
use kiln_test::{BuildpackRef, FixtureServer, TestBuild};
use sha2::Digest as _;

const VERSION: &str = "22.1.0";

struct World {
    _dir: tempfile::TempDir,
    app: std::path::PathBuf,
    server: FixtureServer,
}

/// Publish a stand-in Node.js release and the package `greet` on a fixture server, and
/// write an app that uses them.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("served");
    let dist = files.join(format!("dist/v{VERSION}"));
    std::fs::create_dir_all(&dist).unwrap();
    let node = tgz(
        &format!("node-v{VERSION}-linux-x64"),
        &[("bin/node", b"#!/bin/sh\necho stand-in node\n", 0o755)],
    )
    .unwrap();
    std::fs::write(
        dist.join(format!("node-v{VERSION}-linux-x64.tar.gz")),
        &node,
    )
    .unwrap();
    let greet = tgz(
        "package",
        &[
            (
                "package.json",
                br#"{"name":"greet","version":"1.0.0"}"#,
                0o644,
            ),
            ("index.js", b"module.exports = () => 'hi';\n", 0o644),
        ],
    )
    .unwrap();
    let registry = files.join("registry/greet/-");
    std::fs::create_dir_all(&registry).unwrap();
    std::fs::write(registry.join("greet-1.0.0.tgz"), &greet).unwrap();
    let server = FixtureServer::start(&files).unwrap();

    let app = dir.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    write(
        &app,
        "package.json",
        r#"{"name":"app","dependencies":{"greet":"^1.0.0"}}"#,
    );
    write(&app, "server.js", "console.log(require('greet')());\n");
    let sha = hex::encode(sha2::Sha256::digest(&node));
    write(
        &app,
        "inventory.toml",
        &format!(
            "[[release]]\nversion = \"{VERSION}\"\nlts = true\nos = \"linux\"\narch = \"x64\"\nurl = \"https://nodejs.org/dist/v{VERSION}/node-v{VERSION}-linux-x64.tar.gz\"\nsha256 = \"{sha}\"\n"
        ),
    );
    let lock = serde_json::json!({
        "name": "app", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
        "packages": {
            "": {"name": "app", "dependencies": {"greet": "^1.0.0"}},
            "node_modules/greet": {
                "version": "1.0.0",
                "resolved": "https://registry.npmjs.org/greet/-/greet-1.0.0.tgz",
                "integrity": integrity(&greet)
            }
        }
    });
    write(&app, "package-lock.json", &lock.to_string());
    World {
        _dir: dir,
        app,
        server,
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn build(w: &World) -> TestBuild {
    TestBuild::new(&w.app)
        .buildpack(BuildpackRef::crate_at(env!("CARGO_MANIFEST_DIR")))
        .env("KILN_NODEJS_INVENTORY", "inventory.toml")
        .env("KILN_NODEJS_DIST_URL", w.server.url("dist"))
        .env("npm_config_registry", w.server.url("registry"))
        .network_allow(w.server.authority())
}

#[test]
fn installs_runtime_and_modules_then_reuses_both() {
    let w = world();
    let out = build(&w).run();
    assert_eq!(out.group[0].id, "kiln/nodejs");

    let node = out.layer("kiln/nodejs", "node").unwrap();
    assert!(node.launch && node.build && node.cache);
    assert!(node.has_file("bin/node"), "{:?}", node.files);
    assert_eq!(node.metadata["version"].as_str(), Some(VERSION));

    let modules = out.layer("kiln/nodejs", "modules").unwrap();
    assert!(
        modules.has_file("node_modules/greet/index.js"),
        "{:?}",
        modules.files
    );
    let node_path = modules.env_value("env", "NODE_PATH.override").unwrap();
    assert!(node_path.ends_with("/modules/node_modules"), "{node_path}");
    assert_eq!(modules.env_value("env", "PATH.delim"), Some(":"));

    assert_eq!(out.process("web").unwrap().command, ["node", "server.js"]);
    assert!(
        out.logged("Installed 1 packages (1 downloaded"),
        "{}",
        out.log_text()
    );
    assert_eq!(w.server.hits("/registry/greet/-/greet-1.0.0.tgz"), 1);

    // Unchanged inputs: both layers come back from the cache, nothing is downloaded.
    let before = w.server.total();
    let again = out.rebuild().run();
    assert_eq!(w.server.total(), before, "{:?}", w.server.all_hits());
    let log = again.log_text();
    assert!(
        again.logged(&format!("node: cache kept: Node.js {VERSION} is unchanged")),
        "{log}"
    );
    assert!(
        again.logged("modules: cache kept: package-lock.json is unchanged"),
        "{log}"
    );
    assert!(
        again
            .layer("kiln/nodejs", "modules")
            .unwrap()
            .has_file("node_modules/greet/index.js")
    );
}

#[test]
fn dev_environments_reinstall_modules_with_the_cause_logged() {
    let w = world();
    let out = build(&w).run();
    let dev = out.rebuild().exec_env("development").run();
    assert!(
        dev.logged("modules: cache discarded: dev dependencies are now included"),
        "{}",
        dev.log_text()
    );
}

#[test]
fn a_missing_package_fails_the_build_naming_it() {
    let w = world();
    std::fs::remove_file(w.server.root.join("registry/greet/-/greet-1.0.0.tgz")).unwrap();
    let err = build(&w).try_run().unwrap_err();
    let kiln_test::HarnessError::Build {
        message, exit_code, ..
    } = &err
    else {
        panic!("unexpected {err}");
    };
    assert_eq!(*exit_code, 51, "{message}");
    assert!(
        message.contains("greet@1.0.0") && message.contains("missing from the registry"),
        "{message}"
    );
}
