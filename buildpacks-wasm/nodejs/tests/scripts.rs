//! Install scripts, the build script, dev packages for the build and workspaces, as native
//! Rust with the SDK's fake host: `FakeHost::on_exec` answers (and records) the commands the
//! buildpack runs in the build image, so their order, directories and environment are
//! asserted exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use kiln_buildpack_nodejs::{NodejsBuildpack, NodejsError};
use kiln_sdk::exec::{ExecOutput, ExecRequest};
use kiln_sdk::testing::{FakeHost, sha256_integrity};
use kiln_sdk::{
    BuildContext, BuildResult, Buildpack, DetectContext, RestoredLayer, buildpack_id, layer_name,
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

/// A stand-in release with what scripts use: node, npm's node-gyp and the headers.
fn node_release() -> Vec<u8> {
    tgz(
        "node-v22.1.0-linux-x64",
        &[
            ("bin/node", "#!/bin/sh\n", 0o755),
            ("include/node/common.gypi", "{}", 0o644),
            (
                "include/node/node_version.h",
                "#define NODE_MAJOR_VERSION 22\n",
                0o644,
            ),
            ("include/node/node_api.h", "", 0o644),
            (
                "lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js",
                "#!/usr/bin/env node\n",
                0o755,
            ),
            (
                "lib/node_modules/npm/bin/node-gyp-bin/node-gyp",
                "#!/bin/sh\n",
                0o755,
            ),
            ("lib/node_modules/npm/bin/npm-cli.js", "", 0o644),
        ],
    )
}

/// One package to serve: name, version, package.json fields besides name/version, files.
struct Pkg {
    name: &'static str,
    manifest: serde_json::Value,
    files: Vec<(&'static str, &'static str, u32)>,
}

fn pkg(name: &'static str, manifest: serde_json::Value) -> Pkg {
    Pkg {
        name,
        manifest,
        files: Vec::new(),
    }
}

/// The app, its fake host and what the exec handler saw.
struct World {
    dir: tempfile::TempDir,
    host: FakeHost,
    /// `(name, version)` → (tarball URL, integrity).
    served: BTreeMap<String, (String, String)>,
}

/// What the handler does with one command: exit 0 (and run `effect`).
type Effect = Rc<dyn Fn(&ExecRequest)>;

impl World {
    fn new(package_json: &serde_json::Value, packages: &[Pkg]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("package.json"), package_json.to_string()).unwrap();
        let node = node_release();
        let sha = hex::encode(sha2::Sha256::digest(&node));
        std::fs::write(
            app.join("inventory.toml"),
            format!(
                "[[release]]\nversion = \"22.1.0\"\nlts = true\nos = \"linux\"\narch = \"x64\"\nurl = \"{NODE_URL}\"\nsha256 = \"{sha}\"\n"
            ),
        )
        .unwrap();
        let mut host = FakeHost::new(dir.path().join("downloads")).serve(NODE_URL, node);
        let mut served = BTreeMap::new();
        for p in packages {
            let version = p.manifest["version"].as_str().unwrap_or("1.0.0");
            let mut manifest = p.manifest.clone();
            manifest["name"] = p.name.into();
            manifest["version"] = version.into();
            let manifest = manifest.to_string();
            let mut files = vec![("package.json", manifest.as_str(), 0o644)];
            files.extend(p.files.iter().copied());
            let data = tgz("package", &files);
            let url = format!("{REGISTRY}{}/-/{}-{version}.tgz", p.name, p.name);
            served.insert(
                format!("{}@{version}", p.name),
                (url.clone(), sha256_integrity(&data)),
            );
            host = host.serve(url, data);
        }
        Self { dir, host, served }
    }

    /// Answer every command with exit 0 after `effect`.
    fn with_exec(mut self, effect: Effect) -> Self {
        self.host = self.host.clone().on_exec(move |r| {
            effect(r);
            Ok(ExecOutput {
                code: 0,
                stdout: Vec::new(),
            })
        });
        self
    }

    fn app_dir(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    fn layers(&self) -> PathBuf {
        self.dir.path().join("layers")
    }

    /// Write the lockfile: (path, name@version, extra fields).
    fn lock(&self, entries: &[(&str, &str, serde_json::Value)]) {
        let mut packages = serde_json::Map::new();
        packages.insert(String::new(), serde_json::json!({"name": "app"}));
        for (path, id, extra) in entries {
            let mut e = match self.served.get(*id) {
                Some((url, integrity)) => serde_json::json!({
                    "version": id.rsplit_once('@').unwrap().1,
                    "resolved": url,
                    "integrity": integrity,
                }),
                None => serde_json::json!({}),
            };
            for (k, v) in extra.as_object().unwrap() {
                e[k] = v.clone();
            }
            packages.insert((*path).to_owned(), e);
        }
        let lock = serde_json::json!({"name": "app", "lockfileVersion": 3, "packages": packages});
        std::fs::write(self.app_dir().join("package-lock.json"), lock.to_string()).unwrap();
    }

    fn context(&self, env: &[(&str, &str)]) -> BuildContext {
        let mut detect = DetectContext::new(buildpack_id!("kiln/nodejs"), self.app_dir())
            .with_env("KILN_NODEJS_INVENTORY", "inventory.toml");
        for (k, v) in env {
            detect = detect.with_env(*k, *v);
        }
        BuildContext::new(detect, self.layers())
    }

    fn build(&self, ctx: BuildContext) -> Result<BuildResult, NodejsError> {
        self.host.run(|| NodejsBuildpack.build(ctx))
    }

    /// Build with the platform env `env`; it must succeed.
    fn build_ok(&self, env: &[(&str, &str)]) {
        if let Err(e) = self.build(self.context(env)) {
            panic!("build failed: {}", kiln_sdk::Report::new(&e));
        }
    }

    /// The scripts run so far: (directory relative to the work dir, event, script).
    fn scripts(&self) -> Vec<(String, String, String)> {
        self.host
            .commands()
            .iter()
            .filter(|c| c.argv[0] == "sh")
            .map(|c| {
                let cwd = Path::new(&c.cwd)
                    .strip_prefix(self.dir.path())
                    .unwrap()
                    .display()
                    .to_string();
                (
                    cwd,
                    env(c, "npm_lifecycle_event").unwrap_or("").to_owned(),
                    c.argv[2].clone(),
                )
            })
            .collect()
    }
}

/// A command's variable `key`.
fn env<'a>(r: &'a ExecRequest, key: &str) -> Option<&'a str> {
    r.env
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn restored(layer: &kiln_sdk::Layer) -> RestoredLayer {
    RestoredLayer {
        metadata: layer.metadata().clone(),
        has_contents: true,
    }
}

fn no_effect() -> Effect {
    Rc::new(|_| {})
}

/// Three packages with scripts: `tool` (preinstall, postinstall) depends on `native` (a
/// `binding.gyp`: node-gyp's default install); `aaa` (install) depends on nothing.
fn scripted_world() -> World {
    let mut native = pkg("native", serde_json::json!({"version": "1.0.0"}));
    native
        .files
        .push(("binding.gyp", "{\"targets\": []}", 0o644));
    let w = World::new(
        &serde_json::json!({"name": "app", "version": "2.0.0", "dependencies": {"tool": "1", "aaa": "1"}}),
        &[
            pkg(
                "tool",
                serde_json::json!({"version": "1.0.0", "scripts": {"postinstall": "node post.js", "preinstall": "echo pre"}, "config": {"port": 81}}),
            ),
            native,
            pkg(
                "aaa",
                serde_json::json!({"version": "1.0.0", "scripts": {"install": "node install.js"}}),
            ),
            pkg("plain", serde_json::json!({"version": "1.0.0"})),
        ],
    );
    w.lock(&[
        (
            "node_modules/tool",
            "tool@1.0.0",
            serde_json::json!({"hasInstallScript": true, "dependencies": {"native": "^1", "plain": "^1"}}),
        ),
        (
            "node_modules/native",
            "native@1.0.0",
            serde_json::json!({"hasInstallScript": true}),
        ),
        (
            "node_modules/aaa",
            "aaa@1.0.0",
            serde_json::json!({"hasInstallScript": true}),
        ),
        ("node_modules/plain", "plain@1.0.0", serde_json::json!({})),
    ]);
    w
}

#[test]
fn install_scripts_run_in_dependency_order_with_npms_environment() {
    let w = scripted_world().with_exec(no_effect());
    let result = w.build(w.context(&[])).unwrap();
    assert_eq!(
        w.scripts(),
        [
            (
                "layers/modules/node_modules/aaa".into(),
                "install".into(),
                "node install.js".into()
            ),
            (
                "layers/modules/node_modules/native".into(),
                "install".into(),
                "node-gyp rebuild".into()
            ),
            (
                "layers/modules/node_modules/tool".into(),
                "preinstall".into(),
                "echo pre".into()
            ),
            (
                "layers/modules/node_modules/tool".into(),
                "postinstall".into(),
                "node post.js".into()
            ),
        ]
    );
    // First the probe, then the unpacked runtime made executable on disk, then the scripts.
    let commands = w.host.commands();
    assert_eq!(commands[0].argv, ["true"]);
    assert_eq!(commands[1].argv[..2], ["chmod", "a+x"]);
    assert_eq!(
        commands[1].cwd,
        w.layers().join("node").display().to_string()
    );
    assert!(commands[1].argv.contains(&"bin/node".to_owned()));
    assert!(
        commands[1]
            .argv
            .contains(&"lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js".to_owned())
    );

    let gyp = commands
        .iter()
        .find(|c| c.argv.get(2).map(String::as_str) == Some("node-gyp rebuild"))
        .unwrap();
    let layers = w.layers().display().to_string();
    let app = w.app_dir().display().to_string();
    assert_eq!(gyp.argv[..2], ["sh", "-c"]);
    assert_eq!(env(gyp, "npm_package_name"), Some("native"));
    assert_eq!(env(gyp, "npm_package_version"), Some("1.0.0"));
    assert_eq!(env(gyp, "npm_lifecycle_script"), Some("node-gyp rebuild"));
    assert_eq!(env(gyp, "npm_command"), Some("ci"));
    assert_eq!(env(gyp, "INIT_CWD"), Some(app.as_str()));
    assert_eq!(
        env(gyp, "npm_config_nodedir"),
        Some(format!("{layers}/node").as_str())
    );
    assert_eq!(
        env(gyp, "npm_config_node_gyp"),
        Some(
            format!("{layers}/node/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js")
                .as_str()
        )
    );
    assert_eq!(
        env(gyp, "npm_node_execpath"),
        Some(format!("{layers}/node/bin/node").as_str())
    );
    let path = env(gyp, "PATH").unwrap();
    assert!(
        path.starts_with(&format!(
            "{layers}/modules/node_modules/native/node_modules/.bin:{layers}/modules/node_modules/node_modules/.bin:{layers}/modules/node_modules/.bin:"
        )),
        "{path}"
    );
    assert!(
        path.contains(&format!(
            "/node_modules/.bin:{layers}/node/lib/node_modules/npm/bin/node-gyp-bin:{layers}/node/bin:"
        )),
        "{path}"
    );
    let tool = commands
        .iter()
        .find(|c| env(c, "npm_lifecycle_event") == Some("preinstall"))
        .unwrap();
    assert_eq!(env(tool, "npm_package_config_port"), Some("81"));

    // The scripts ran with the runtime's version recorded: a rebuild keeps the layer and
    // runs none of them again.
    let modules = result.layer_named("modules").unwrap();
    assert_eq!(modules.metadata()["scripts_node"], "22.1.0");
    assert!(w.host.logged("Ran the install scripts of 3 package(s)"));
    let ctx = w
        .context(&[])
        .with_restored(&layer_name!("modules"), restored(modules))
        .with_restored(
            &layer_name!("node"),
            restored(result.layer_named("node").unwrap()),
        );
    let before = w.scripts().len();
    assert!(w.build(ctx).is_ok());
    assert_eq!(w.scripts().len(), before);
    assert!(
        w.host
            .logged("modules: cache kept: package-lock.json is unchanged")
    );
}

#[test]
fn a_changed_lockfile_or_first_build_image_reruns_the_scripts() {
    // Built without a build image: nothing runs, the warning says why.
    let w = scripted_world();
    let first = w.build(w.context(&[])).unwrap();
    assert!(w.host.commands().iter().all(|c| c.argv[0] == "true"));
    assert!(
        w.host
            .logged("have install scripts, which are not run (this build has no build image"),
        "{:?}",
        w.host.logs()
    );
    let modules = first.layer_named("modules").unwrap();
    assert!(modules.metadata().get("scripts_node").is_none());

    // Now with one: the restored layer is discarded and the scripts run.
    let w2 = World {
        dir: w.dir,
        host: w.host.clone(),
        served: w.served,
    }
    .with_exec(no_effect());
    let ctx = w2
        .context(&[])
        .with_restored(&layer_name!("modules"), restored(modules));
    let second = w2.build(ctx).unwrap();
    assert!(
        w2.host
            .logged("modules: cache discarded: install scripts now run")
    );
    assert_eq!(w2.scripts().len(), 4);

    // A changed lockfile reinstalls and reruns them.
    let lock = std::fs::read_to_string(w2.app_dir().join("package-lock.json")).unwrap();
    std::fs::write(w2.app_dir().join("package-lock.json"), format!("{lock}\n")).unwrap();
    let ctx = w2.context(&[]).with_restored(
        &layer_name!("modules"),
        restored(second.layer_named("modules").unwrap()),
    );
    assert!(w2.build(ctx).is_ok());
    assert!(
        w2.host
            .logged("modules: cache discarded: package-lock.json changed")
    );
    assert_eq!(w2.scripts().len(), 8);
}

#[test]
fn ignore_and_skip_settings_leave_scripts_out() {
    let w = scripted_world().with_exec(no_effect());
    w.build_ok(&[("KILN_NODEJS_IGNORE_SCRIPTS", "true")]);
    assert!(w.scripts().is_empty());
    assert!(w.host.commands().is_empty(), "{:?}", w.host.commands());
    assert!(w.host.logged(
        "which are not run (KILN_NODEJS_IGNORE_SCRIPTS=true): aaa@1.0.0, native@1.0.0, tool@1.0.0"
    ));

    let w = scripted_world().with_exec(no_effect());
    w.build_ok(&[("KILN_NODEJS_SCRIPTS_SKIP", "native,aaa")]);
    let events: Vec<String> = w.scripts().into_iter().map(|(_, e, _)| e).collect();
    assert_eq!(events, ["preinstall", "postinstall"]);

    // Required, but not run: the build fails naming the package and the reason.
    let w = scripted_world().with_exec(no_effect());
    let err = w
        .build(w.context(&[
            ("KILN_NODEJS_IGNORE_SCRIPTS", "true"),
            ("KILN_NODEJS_SCRIPTS_REQUIRED", "native"),
        ]))
        .unwrap_err();
    assert!(matches!(err, NodejsError::ScriptsRequired { .. }), "{err}");
    assert!(err.to_string().contains("native@1.0.0"), "{err}");
}

#[test]
fn a_failing_install_script_names_the_package_and_event() {
    let w = scripted_world();
    let host = w.host.clone().on_exec(|r| {
        Ok(ExecOutput {
            code: if env(r, "npm_lifecycle_event") == Some("preinstall") {
                3
            } else {
                0
            },
            stdout: Vec::new(),
        })
    });
    let ctx = w.context(&[]);
    let err = host.run(|| NodejsBuildpack.build(ctx)).unwrap_err();
    let NodejsError::InstallScript { package, event, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert_eq!(
        (package.as_str(), event.as_str()),
        ("tool@1.0.0", "preinstall")
    );
    let report = kiln_sdk::Report::new(&err);
    assert!(report.detail.contains("status 3"), "{report}");
    assert!(
        report.to_string().contains("KILN_NODEJS_SCRIPTS_SKIP"),
        "{report}"
    );
}

#[test]
fn node_gyp_without_headers_is_a_clear_error() {
    let mut native = pkg("native", serde_json::json!({"version": "1.0.0"}));
    native.files.push(("binding.gyp", "{}", 0o644));
    let w = World::new(
        &serde_json::json!({"name": "app", "dependencies": {"native": "1"}}),
        &[native],
    );
    w.lock(&[(
        "node_modules/native",
        "native@1.0.0",
        serde_json::json!({"hasInstallScript": true}),
    )]);
    // A release with only bin/node.
    let bare = tgz("node-v22.1.0-linux-x64", &[("bin/node", "", 0o755)]);
    let sha = hex::encode(sha2::Sha256::digest(&bare));
    std::fs::write(
        w.app_dir().join("inventory.toml"),
        format!(
            "[[release]]\nversion = \"22.1.0\"\nos = \"linux\"\narch = \"x64\"\nurl = \"{NODE_URL}\"\nsha256 = \"{sha}\"\n"
        ),
    )
    .unwrap();
    let host = w.host.clone().serve(NODE_URL, bare).on_exec(|_| {
        Ok(ExecOutput {
            code: 0,
            stdout: Vec::new(),
        })
    });
    let ctx = w.context(&[]);
    let err = host.run(|| NodejsBuildpack.build(ctx)).unwrap_err();
    assert!(matches!(err, NodejsError::NodeGypMissing { .. }), "{err}");
    assert!(err.to_string().contains("native@1.0.0"), "{err}");
}

/// A production app whose build script uses the dev package `tiny-tsc`.
fn build_script_world() -> World {
    let mut tsc = pkg(
        "tiny-tsc",
        serde_json::json!({"version": "1.0.0", "bin": {"tiny-tsc": "bin/tsc.js"}}),
    );
    tsc.files
        .push(("bin/tsc.js", "#!/usr/bin/env node\n", 0o644));
    let w = World::new(
        &serde_json::json!({
            "name": "app", "version": "3.1.0",
            "scripts": {"prebuild": "echo pre", "build": "tiny-tsc", "postbuild": "echo post", "start": "node dist/main.js", "other": "echo other"},
            "dependencies": {"greet": "1"}, "devDependencies": {"tiny-tsc": "1"}
        }),
        &[tsc, pkg("greet", serde_json::json!({"version": "1.0.0"}))],
    );
    w.lock(&[
        (
            "node_modules/tiny-tsc",
            "tiny-tsc@1.0.0",
            serde_json::json!({"dev": true, "bin": {"tiny-tsc": "bin/tsc.js"}}),
        ),
        ("node_modules/greet", "greet@1.0.0", serde_json::json!({})),
    ]);
    w
}

/// An effect that records, at each build-script command, whether the dev package and its
/// `.bin` link were there.
fn watch_dev(seen: Rc<RefCell<Vec<(String, bool)>>>, app: PathBuf) -> Effect {
    Rc::new(move |r| {
        if let Some(event) = env(r, "npm_lifecycle_event") {
            let there = app.join("node_modules/.bin/tiny-tsc").exists()
                && app.join("node_modules/tiny-tsc/package.json").is_file();
            seen.borrow_mut().push((event.to_owned(), there));
        }
    })
}

#[test]
fn a_build_script_gets_dev_packages_which_leave_the_launch_layer_after() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let w = build_script_world();
    let app = w.app_dir();
    let w = w.with_exec(watch_dev(seen.clone(), app.clone()));
    let result = w.build(w.context(&[])).unwrap();
    assert_eq!(
        *seen.borrow(),
        [
            ("prebuild".to_owned(), true),
            ("build".to_owned(), true),
            ("postbuild".to_owned(), true)
        ]
    );
    let build = w
        .host
        .commands()
        .into_iter()
        .find(|c| env(c, "npm_lifecycle_event") == Some("build"))
        .unwrap();
    assert_eq!(build.cwd, app.display().to_string());
    assert_eq!(build.argv, ["sh", "-c", "tiny-tsc"]);
    assert_eq!(env(&build, "npm_package_name"), Some("app"));
    assert_eq!(env(&build, "npm_package_version"), Some("3.1.0"));
    assert_eq!(env(&build, "npm_command"), Some("run-script"));
    assert!(
        env(&build, "PATH")
            .unwrap()
            .starts_with(&format!("{}/node_modules/.bin:", app.display())),
        "{:?}",
        env(&build, "PATH")
    );
    // The dev package's bin target was made executable before the build script ran.
    let chmod_modules = w
        .host
        .commands()
        .into_iter()
        .find(|c| c.argv[0] == "chmod" && c.cwd.ends_with("layers/modules"))
        .unwrap();
    assert!(
        chmod_modules
            .argv
            .contains(&"node_modules/tiny-tsc/bin/tsc.js".to_owned())
    );

    // The launch layer has what a production install has.
    let modules = result.layer_named("modules").unwrap();
    let root = modules.path();
    assert!(root.join("node_modules/greet/package.json").is_file());
    assert!(!root.join("node_modules/tiny-tsc").exists());
    assert!(root.join("node_modules/.bin").symlink_metadata().is_err());
    assert_eq!(modules.metadata()["include_dev"], false);
    assert!(
        w.host
            .logged("Removed 1 dev packages from the launch layer after the build")
    );
    let snapshot = tree(root);

    // Next build: the layer is kept, the dev package comes back for the build and goes again.
    seen.borrow_mut().clear();
    let ctx = w
        .context(&[])
        .with_restored(&layer_name!("modules"), restored(modules))
        .with_restored(
            &layer_name!("node"),
            restored(result.layer_named("node").unwrap()),
        );
    let again = w.build(ctx).unwrap();
    assert!(
        w.host
            .logged("Installed 1 dev packages for the build script (1 downloaded)")
    );
    assert_eq!(seen.borrow().len(), 3);
    assert!(seen.borrow().iter().all(|(_, there)| *there));
    assert_eq!(tree(again.layer_named("modules").unwrap().path()), snapshot);
}

#[test]
fn build_script_settings_and_npm_run_semantics() {
    // Another script; with install scripts ignored only the script itself runs (no pre/post).
    let w = build_script_world().with_exec(no_effect());
    w.build_ok(&[
        ("KILN_NODEJS_BUILD_SCRIPT", "other"),
        ("KILN_NODEJS_IGNORE_SCRIPTS", "1"),
    ]);
    let events: Vec<String> = w.scripts().into_iter().map(|(_, e, _)| e).collect();
    assert_eq!(events, ["other"]);

    // Empty: none, and the dev package is not installed at all.
    let w = build_script_world().with_exec(no_effect());
    let result = w
        .build(w.context(&[("KILN_NODEJS_BUILD_SCRIPT", "")]))
        .unwrap();
    assert!(w.host.commands().is_empty());
    assert!(w.host.logged("KILN_NODEJS_BUILD_SCRIPT is empty"));
    assert!(w.host.logged("left out 1 dev"));
    assert!(result.layer_named("modules").is_some());

    // A name the app does not have.
    let w = build_script_world().with_exec(no_effect());
    let err = w
        .build(w.context(&[("KILN_NODEJS_BUILD_SCRIPT", "compile")]))
        .unwrap_err();
    assert!(
        matches!(err, NodejsError::BuildScriptMissing { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("build, other, postbuild"), "{err}");

    // Dev dependencies kept (not production): nothing is pruned.
    let w = build_script_world().with_exec(no_effect());
    let result = w
        .build(w.context(&[("KILN_NODEJS_INCLUDE_DEV", "true")]))
        .unwrap();
    let root = result.layer_named("modules").unwrap().path().to_path_buf();
    assert!(root.join("node_modules/tiny-tsc/package.json").is_file());
    assert!(
        root.join("node_modules/.bin/tiny-tsc")
            .symlink_metadata()
            .is_ok()
    );
}

#[test]
fn without_a_build_image_a_build_script_fails_before_any_download() {
    let w = build_script_world();
    let err = w.build(w.context(&[])).unwrap_err();
    assert!(
        matches!(err, NodejsError::BuildScriptNeedsBuildImage { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--build-image"), "{err}");
    assert!(
        err.to_string()
            .contains("KILN_NODEJS_BUILD_SCRIPT= (empty)"),
        "{err}"
    );
    assert!(w.host.requested().is_empty(), "{:?}", w.host.requested());
    // Skipping it builds.
    w.build_ok(&[("KILN_NODEJS_BUILD_SCRIPT", "")]);
}

#[test]
fn a_failing_build_script_is_a_typed_error() {
    let w = build_script_world();
    let host = w.host.clone().on_exec(|r| {
        Ok(ExecOutput {
            code: i32::from(env(r, "npm_lifecycle_event") == Some("build")),
            stdout: Vec::new(),
        })
    });
    let ctx = w.context(&[]);
    let err = host.run(|| NodejsBuildpack.build(ctx)).unwrap_err();
    let NodejsError::BuildScript { event, command, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert_eq!((event.as_str(), command.as_str()), ("build", "tiny-tsc"));
}

#[test]
fn workspaces_are_laid_out_as_npm_does() {
    let w = World::new(
        &serde_json::json!({"name": "root", "workspaces": ["packages/*"], "dependencies": {"greet": "2"}}),
        &[
            pkg("greet", serde_json::json!({"version": "2.0.0"})),
            pkg("greet", serde_json::json!({"version": "1.0.0"})),
            pkg("@s/util", serde_json::json!({"version": "1.0.0"})),
        ],
    );
    let app = w.app_dir();
    for (dir, manifest) in [
        (
            "packages/lib",
            r#"{"name":"@s/lib","version":"0.1.0","bin":{"lib-cli":"cli.js"},"scripts":{"prepare":"echo lib"}}"#,
        ),
        (
            "packages/a",
            r#"{"name":"app-a","version":"0.2.0","dependencies":{"@s/lib":"*","greet":"1"},"scripts":{"postinstall":"echo a"}}"#,
        ),
    ] {
        std::fs::create_dir_all(app.join(dir)).unwrap();
        std::fs::write(app.join(dir).join("package.json"), manifest).unwrap();
    }
    std::fs::write(app.join("packages/lib/cli.js"), "").unwrap();
    w.lock(&[
        (
            "node_modules/@s/lib",
            "-",
            serde_json::json!({"resolved": "packages/lib", "link": true}),
        ),
        (
            "node_modules/app-a",
            "-",
            serde_json::json!({"resolved": "packages/a", "link": true}),
        ),
        ("node_modules/greet", "greet@2.0.0", serde_json::json!({})),
        ("node_modules/@s/util", "@s/util@1.0.0", serde_json::json!({})),
        (
            "packages/a",
            "-",
            serde_json::json!({"name": "app-a", "version": "0.2.0", "dependencies": {"@s/lib": "*", "greet": "1"}}),
        ),
        (
            "packages/a/node_modules/greet",
            "greet@1.0.0",
            serde_json::json!({}),
        ),
        (
            "packages/lib",
            "-",
            serde_json::json!({"name": "@s/lib", "version": "0.1.0", "bin": {"lib-cli": "cli.js"}}),
        ),
    ]);
    let w = w.with_exec(no_effect());
    w.build_ok(&[]);

    let link = |p: &str| std::fs::read_link(app.join(p)).unwrap();
    let nm = app.join("node_modules");
    assert!(nm.symlink_metadata().unwrap().is_dir(), "a real directory");
    assert_eq!(
        link("node_modules/greet"),
        Path::new("../../layers/modules/node_modules/greet")
    );
    assert_eq!(link("node_modules/app-a"), Path::new("../packages/a"));
    assert_eq!(link("node_modules/@s/lib"), Path::new("../../packages/lib"));
    assert_eq!(
        link("node_modules/@s/util"),
        Path::new("../../../layers/modules/node_modules/@s/util")
    );
    assert_eq!(
        link("node_modules/.bin/lib-cli"),
        Path::new("../@s/lib/cli.js")
    );
    assert_eq!(
        link("packages/a/node_modules"),
        Path::new("../../../layers/modules/packages/a/node_modules")
    );
    // Through the links, each name resolves to what the lockfile says.
    let version = |p: &str| {
        let text = std::fs::read_to_string(app.join(p).join("package.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["version"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(version("node_modules/greet"), "2.0.0");
    assert_eq!(version("node_modules/app-a"), "0.2.0");
    assert_eq!(version("packages/a/node_modules/greet"), "1.0.0");
    assert_eq!(version("node_modules/@s/util"), "1.0.0");
    assert!(app.join("node_modules/.bin/lib-cli").is_file());

    // The workspaces' scripts run in their folders, a dependency first.
    assert_eq!(
        w.scripts(),
        [
            (
                "app/packages/lib".into(),
                "prepare".into(),
                "echo lib".into()
            ),
            (
                "app/packages/a".into(),
                "postinstall".into(),
                "echo a".into()
            ),
        ]
    );
}

/// Path → kind (and link target or contents) of every entry under `dir`.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if meta.is_dir() {
                stack.push(p);
                "dir".into()
            } else {
                std::fs::read_to_string(&p).unwrap_or_default()
            };
            out.insert(rel, what);
        }
    }
    out
}
