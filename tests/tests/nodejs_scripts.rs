//! The Node.js buildpack's scripts end to end, with no internet: install scripts and the app's
//! build script run in a Debian build image with node-gyp's toolchain (python3, make, g++),
//! against a runtime made from the machine's own node with its headers and npm (node-gyp), all
//! served by a local registry and Node.js mirror on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use node_support::{NpmPackage, Server, inventory_toml, lockfile, publish};
use support::*;

/// The Debian run image (the same one `nodejs.rs` uses).
fn run_image_ref() -> String {
    debian_image("debian-slim", None)
}

/// A Debian build image with node-gyp's toolchain.
fn build_image_ref() -> String {
    debian_image("debian-node-gyp", Some("python3,make,g++"))
}

/// The machine's node: (binary, install prefix).
fn machine_node() -> (PathBuf, PathBuf) {
    let out = Command::new("sh")
        .args(["-c", "command -v node"])
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let node = std::fs::canonicalize(&path).unwrap_or(path);
    let prefix = node.parent().unwrap().parent().unwrap().to_path_buf();
    (node, prefix)
}

/// Files under `dir` (sorted, not following symlinks): (relative path, is symlink).
fn walk(dir: &Path) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries.into_iter().rev() {
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if meta.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, meta.file_type().is_symlink()));
            }
        }
    }
    out.sort();
    out
}

/// A Node.js distribution tarball like the official one, from the machine's install:
/// `bin/node`, `include/node` (the headers node-gyp builds against; of OpenSSL's per-platform
/// headers only linux-x86_64's) and `lib/node_modules/npm` (with its node-gyp). Made once and
/// kept in `target/`, copied to `<dist>/v<V>/`; returns (version, sha256).
fn node_dist_with_headers(dist_dir: &Path) -> (String, String) {
    static MAKING: Mutex<()> = Mutex::new(());
    let version = node_support::node_version();
    let name = format!("node-v{version}-linux-x64.tar.gz");
    let kept = root()
        .join("target/kiln-test-node-dist")
        .join(format!("with-headers-{name}"));
    let guard = MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !kept.is_file() {
        let (node, prefix) = machine_node();
        let headers = prefix.join("include/node");
        let npm = prefix.join("lib/node_modules/npm");
        assert!(
            headers.join("node_api.h").is_file() && npm.join("node_modules/node-gyp").is_dir(),
            "the Node.js scripts tests need node's headers in {} and npm with node-gyp in {}",
            headers.display(),
            npm.display()
        );
        let top = format!("node-v{version}-linux-x64");
        let mut tar = tar::Builder::new(Vec::new());
        let add_file = |tar: &mut tar::Builder<Vec<u8>>, src: &Path, dest: &str| {
            let data = std::fs::read(src).unwrap();
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(src).unwrap().permissions(),
            );
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
            h.set_mtime(499_162_500);
            h.set_cksum();
            tar.append_data(&mut h, format!("{top}/{dest}"), data.as_slice())
                .unwrap();
        };
        let add_link = |tar: &mut tar::Builder<Vec<u8>>, target: &Path, dest: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_mtime(499_162_500);
            tar.append_link(&mut h, format!("{top}/{dest}"), target)
                .unwrap();
        };
        add_file(&mut tar, &node, "bin/node");
        add_link(
            &mut tar,
            Path::new("../lib/node_modules/npm/bin/npm-cli.js"),
            "bin/npm",
        );
        for (rel, _) in walk(&headers) {
            let other_platform = rel.starts_with("openssl/archs/")
                && !rel.starts_with("openssl/archs/linux-x86_64/");
            if !other_platform {
                add_file(
                    &mut tar,
                    &headers.join(&rel),
                    &format!("include/node/{rel}"),
                );
            }
        }
        for (rel, is_link) in walk(&npm) {
            let dest = format!("lib/node_modules/npm/{rel}");
            if is_link {
                add_link(
                    &mut tar,
                    &std::fs::read_link(npm.join(&rel)).unwrap(),
                    &dest,
                );
            } else {
                add_file(&mut tar, &npm.join(&rel), &dest);
            }
        }
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        let data = gz.finish().unwrap();
        let dir = kept.parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let mut tmp = tempfile::NamedTempFile::new_in(dir).unwrap();
        std::io::Write::write_all(&mut tmp, &data).unwrap();
        tmp.persist(&kept).unwrap();
    }
    drop(guard);
    let target = dist_dir.join(format!("v{version}")).join(&name);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(&kept, &target).unwrap();
    let sha = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(std::fs::read(&target).unwrap()))
    };
    (version, sha)
}

/// A tiny N-API addon: `add(a, b)`, compiled by node-gyp at install.
const ADDON_C: &str = r#"#include <node_api.h>

static napi_value Add(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  double a = 0, b = 0;
  napi_value sum;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  napi_get_value_double(env, args[0], &a);
  napi_get_value_double(env, args[1], &b);
  napi_create_double(env, a + b, &sum);
  return sum;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "add", NAPI_AUTO_LENGTH, Add, NULL, &fn);
  napi_set_named_property(env, exports, "add", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
"#;

const BINDING_GYP: &str = r#"{ "targets": [ { "target_name": "addon", "sources": [ "addon.c" ] } ] }
"#;

/// The real TypeScript compiler's npm tarball, fetched (pinned) by `scripts/setup.sh --test`.
const TYPESCRIPT: &str = "typescript-5.6.3.tgz";

/// `tsconfig.json` of the TypeScript app: `src/` to `dist/`, CommonJS, strict.
const TSCONFIG: &str = r#"{ "compilerOptions": { "target": "es2019", "module": "commonjs", "strict": true, "rootDir": "src", "outDir": "dist" }, "include": ["src"] }
"#;

const MAIN_TS: &str = r"declare function require(name: string): any;
interface Greeting {
  text: string;
}
const greet = require('greet');
function shout(word: string): string {
  return word.toUpperCase() + '!';
}
const times: number = 2;
const g: Greeting = { text: greet('ts') };
console.log('ts says ' + shout(g.text) + ' x' + times);
";

/// The test's registry, Node.js mirror, app dir and caches.
struct World {
    work: tempfile::TempDir,
    server: Server,
    app: PathBuf,
    integrity: std::collections::BTreeMap<String, String>,
}

impl World {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let served_dir = work.path().join("served");
        let registry = served_dir.join("registry");
        let (version, sha) = node_dist_with_headers(&served_dir.join("dist"));
        let mut integrity = std::collections::BTreeMap::new();
        let packages = [
            NpmPackage {
                name: "addon",
                version: "1.0.0",
                files: vec![
                    ("binding.gyp", BINDING_GYP.into(), 0o644),
                    ("addon.c", ADDON_C.into(), 0o644),
                    (
                        "index.js",
                        "module.exports = require('./build/Release/addon.node');\n".into(),
                        0o644,
                    ),
                ],
                bin: &[],
            },
            NpmPackage {
                name: "greet",
                version: "1.0.0",
                files: vec![(
                    "index.js",
                    "module.exports = (n) => 'hello ' + n;\n".into(),
                    0o644,
                )],
                bin: &[],
            },
        ];
        for p in &packages {
            let (_, i) = publish(&registry, p);
            integrity.insert(p.name.to_owned(), i);
        }
        let typescript = support::root()
            .join("target/kiln-test-npm")
            .join(TYPESCRIPT);
        let bytes = std::fs::read(&typescript).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; scripts/setup.sh --test fetches the TypeScript compiler for this test",
                typescript.display()
            )
        });
        let ts_tarball = registry.join("typescript/-").join(TYPESCRIPT);
        std::fs::create_dir_all(ts_tarball.parent().unwrap()).unwrap();
        std::fs::write(&ts_tarball, &bytes).unwrap();
        integrity.insert("typescript".to_owned(), node_support::integrity(&bytes));
        let app = work.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            app.join("node-inventory.toml"),
            inventory_toml(&version, &sha),
        )
        .unwrap();
        let server = Server::start(&served_dir).unwrap();
        Self {
            work,
            server,
            app,
            integrity,
        }
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.app.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// An app whose server.js prints what the native addon computes.
    fn addon_app(self) -> Self {
        self.write(
            "package.json",
            r#"{"name":"addon-app","version":"1.0.0","scripts":{"start":"node server.js"},"dependencies":{"addon":"1.0.0"}}"#,
        );
        self.write(
            "server.js",
            "const addon = require('addon');\nconsole.log('addon: 2 + 3 = ' + addon.add(2, 3));\n",
        );
        let lock = lockfile(
            "addon-app",
            &[("addon", "1.0.0")],
            &[(
                "node_modules/addon",
                "addon",
                "1.0.0",
                &self.integrity["addon"],
                serde_json::json!({"hasInstallScript": true}),
            )],
        );
        self.write("package-lock.json", &lock);
        self
    }

    /// A TypeScript app built by its `build` script (`tsc`) with the dev dependency
    /// `typescript`.
    fn typescript_app(self) -> Self {
        self.write(
            "package.json",
            r#"{"name":"ts-app","version":"1.0.0","scripts":{"build":"tsc","start":"node dist/main.js"},
"dependencies":{"greet":"1.0.0"},"devDependencies":{"typescript":"5.6.3"}}"#,
        );
        self.write("tsconfig.json", TSCONFIG);
        self.write("src/main.ts", MAIN_TS);
        let lock = lockfile(
            "ts-app",
            &[("greet", "1.0.0")],
            &[
                (
                    "node_modules/greet",
                    "greet",
                    "1.0.0",
                    &self.integrity["greet"],
                    serde_json::json!({}),
                ),
                (
                    "node_modules/typescript",
                    "typescript",
                    "5.6.3",
                    &self.integrity["typescript"],
                    serde_json::json!({"dev": true, "bin": {"tsc": "bin/tsc", "tsserver": "bin/tsserver"}}),
                ),
            ],
        );
        self.write("package-lock.json", &lock);
        self
    }

    fn layout(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `kiln build` into the layout `name` with the layer cache `cache`; `build_image` for
    /// `--build-image`.
    fn build(
        &self,
        name: &str,
        cache: &str,
        run_image: &str,
        build_image: Option<&str>,
        extra: &[&str],
    ) -> Output {
        let mut cmd = kiln_command();
        cmd.arg("build")
            .arg(format!("oci:{}", self.layout(name).display()))
            .arg("--path")
            .arg(&self.app)
            .args(["--run-image", run_image])
            .arg("--download-cache")
            .arg(self.work.path().join("downloads"))
            .arg("--cache-dir")
            .arg(self.work.path().join(cache))
            .args(["--env", "KILN_NODEJS_INVENTORY=node-inventory.toml"])
            .arg("--env")
            .arg(format!("KILN_NODEJS_DIST_URL={}/dist", self.server.base))
            .arg("--env")
            .arg(format!(
                "npm_config_registry={}/registry/",
                self.server.base
            ))
            .args(["--network-allow", "127.0.0.1"])
            .args(extra);
        if let Some(image) = build_image {
            cmd.args(["--build-image", image]);
        }
        let started = std::time::Instant::now();
        let out = run(&mut cmd);
        eprintln!(
            "kiln build {name} ({cache}): {:.1} s, exit {}",
            started.elapsed().as_secs_f64(),
            out.code
        );
        out
    }
}

fn all_output(o: &Output) -> String {
    format!("{}\n{}", o.stdout, o.stderr)
}

#[test]
fn a_native_addon_is_built_by_node_gyp_in_the_build_image_and_runs() {
    let w = World::new().addon_app();
    let (base, builder) = (run_image_ref(), build_image_ref());
    let cold = w
        .build("image", "cache", &base, Some(&builder), &[])
        .success();
    let text = all_output(&cold);
    assert!(
        text.contains("addon@1.0.0 install: node-gyp rebuild"),
        "{text}"
    );
    assert!(
        text.contains("Ran the install scripts of 1 package(s)"),
        "{text}"
    );
    let ran = run_image(&w.layout("image"), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("addon: 2 + 3 = 5"), "{}", ran.stdout);
    // Built against the runtime's own headers: nothing but the packages and the runtime was
    // fetched (node-gyp downloaded no headers).
    let hits = w.server.all_hits();
    assert!(
        hits.keys()
            .all(|p| p.starts_with("/registry/") || p.starts_with("/dist/")),
        "{hits:?}"
    );

    // Unchanged: the compiled addon comes back from the cache; no script runs; same image.
    let warm = w
        .build("image", "cache", &base, Some(&builder), &[])
        .success();
    let text = all_output(&warm);
    assert!(
        text.contains("modules: cache kept: package-lock.json is unchanged"),
        "{text}"
    );
    assert!(!text.contains("node-gyp rebuild"), "{text}");
    assert_eq!(digest_of(&warm), digest_of(&cold));

    // From scratch again (another layer cache): the same digest.
    let other = w
        .build("other-image", "other-cache", &base, Some(&builder), &[])
        .success();
    assert_eq!(
        digest_of(&other),
        digest_of(&cold),
        "same inputs, same image"
    );
}

#[test]
fn ignore_scripts_skips_the_addon_build() {
    let w = World::new().addon_app();
    let out = w
        .build(
            "image",
            "cache",
            &run_image_ref(),
            Some(&build_image_ref()),
            &["--env", "KILN_NODEJS_IGNORE_SCRIPTS=true"],
        )
        .success();
    let text = all_output(&out);
    assert!(
        text.contains("which are not run (KILN_NODEJS_IGNORE_SCRIPTS=true): addon@1.0.0"),
        "{text}"
    );
    assert!(text.contains("binding.gyp"), "{text}");
    assert!(!text.contains("node-gyp rebuild"), "{text}");
    let ran = run_image(&w.layout("image"), "latest", &[], &[]);
    assert_ne!(ran.code, 0, "{}", ran.stdout);
    assert!(
        ran.stderr.contains("build/Release/addon.node"),
        "{}",
        ran.stderr
    );
}

#[test]
fn a_typescript_app_is_built_by_its_build_script_and_dev_packages_are_pruned() {
    let w = World::new().typescript_app();
    let base = run_image_ref();
    let out = w
        .build("image", "cache", &base, Some(&build_image_ref()), &[])
        .success();
    let text = all_output(&out);
    assert!(
        !text.contains("error TS"),
        "tsc reported type errors: {text}"
    );
    assert!(
        text.contains("Removed 1 dev packages from the launch layer after the build"),
        "{text}"
    );
    let ran = run_image(&w.layout("image"), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stdout.trim(), "ts says HELLO TS! x2");
    let dist = run_image(
        &w.layout("image"),
        "latest",
        &["--entrypoint", "/bin/cat"],
        &["/workspace/dist/main.js"],
    )
    .success();
    // tsc's CommonJS output: strict mode, the interface and the annotations gone.
    assert!(
        dist.stdout.starts_with("\"use strict\";"),
        "{}",
        dist.stdout
    );
    assert!(!dist.stdout.contains("interface"), "{}", dist.stdout);
    assert!(
        dist.stdout.contains("function shout(word) {"),
        "{}",
        dist.stdout
    );
    let modules = run_image(
        &w.layout("image"),
        "latest",
        &["--entrypoint", "/bin/ls"],
        &["-A", "/layers/kiln_nodejs/modules/node_modules"],
    )
    .success();
    assert_eq!(modules.stdout.trim(), "greet", "typescript is pruned");
    // The user's app dir is untouched: dist/ only exists in the build's copy.
    assert!(!w.app.join("dist").exists());

    // A warm build installs the dev package again for the build and gives the same image.
    let warm = w
        .build("image", "cache", &base, Some(&build_image_ref()), &[])
        .success();
    assert!(
        all_output(&warm).contains("Installed 1 dev packages for the build script"),
        "{}",
        all_output(&warm)
    );
    assert_eq!(digest_of(&warm), digest_of(&out));
}

#[test]
fn without_a_build_image_a_build_script_fails_naming_the_flag() {
    let w = World::new().typescript_app();
    let out = w.build("image", "cache", &busybox(), None, &[]);
    assert_ne!(out.code, 0);
    let text = all_output(&out);
    assert!(text.contains("scripts.build"), "{text}");
    assert!(text.contains("--build-image"), "{text}");
    assert_eq!(w.server.total(), 0, "it fails before any download");
    // Without the script, the same app builds (and is not compiled).
    w.build(
        "image",
        "cache",
        &busybox(),
        None,
        &["--env", "KILN_NODEJS_BUILD_SCRIPT="],
    )
    .success();
}

#[test]
fn a_workspace_is_linked_as_npm_lays_it_out_and_runs() {
    let w = World::new();
    w.write(
        "package.json",
        r#"{"name":"mono","version":"1.0.0","workspaces":["packages/*"],"scripts":{"start":"node server.js"},"dependencies":{"@mono/lib":"*"}}"#,
    );
    w.write(
        "packages/lib/package.json",
        r#"{"name":"@mono/lib","version":"0.1.0","dependencies":{"greet":"1.0.0"}}"#,
    );
    w.write(
        "packages/lib/index.js",
        "const fs = require('fs');\nconst path = require('path');\nmodule.exports = () => require('greet')('workspace') + ' from ' + path.relative(process.cwd(), fs.realpathSync(__dirname));\n",
    );
    w.write(
        "server.js",
        "console.log('lib: ' + require('@mono/lib')());\n",
    );
    let mut lock: serde_json::Value = serde_json::from_str(&lockfile(
        "mono",
        &[("@mono/lib", "*")],
        &[(
            "node_modules/greet",
            "greet",
            "1.0.0",
            &w.integrity["greet"],
            serde_json::json!({}),
        )],
    ))
    .unwrap();
    let packages = lock["packages"].as_object_mut().unwrap();
    packages.insert(
        "node_modules/@mono/lib".into(),
        serde_json::json!({"resolved": "packages/lib", "link": true}),
    );
    packages.insert(
        "packages/lib".into(),
        serde_json::json!({"name": "@mono/lib", "version": "0.1.0", "dependencies": {"greet": "1.0.0"}}),
    );
    w.write("package-lock.json", &lock.to_string());
    w.build("image", "cache", &run_image_ref(), None, &[])
        .success();
    let ran = run_image(&w.layout("image"), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.stdout.trim(), "lib: hello workspace from packages/lib");
    let link = run_image(
        &w.layout("image"),
        "latest",
        &["--entrypoint", "/bin/readlink"],
        &["/workspace/node_modules/@mono/lib"],
    )
    .success();
    assert_eq!(link.stdout.trim(), "../../packages/lib");
}
