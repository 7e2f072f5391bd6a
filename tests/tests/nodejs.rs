//! The Node.js buildpack end to end, with no internet: a local registry and Node.js mirror
//! on 127.0.0.1 (counting requests), the Debian run image, and the machine's own node.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node_support;
mod support;

use std::path::PathBuf;

use node_support::{NpmPackage, Server, inventory_toml, lockfile, node_dist, publish};
use support::*;

const SERVER_JS: &str = r"const http = require('http');
const greet = require('greet');
const shout = require('shout');
const handler = (req, res) => res.end(greet('kiln') + ' ' + shout('v2'));
const server = http.createServer(handler);
server.on('error', (e) => {
  console.log('response: ' + greet('kiln') + ' ' + shout('v2') + ' node ' + process.version + ' (direct: ' + e.code + ')');
});
server.listen(0, '127.0.0.1', () => {
  if (!process.env.SELFTEST) return;
  http.get({ host: '127.0.0.1', port: server.address().port, path: '/' }, (r) => {
    let body = '';
    r.on('data', (d) => (body += d));
    r.on('end', () => {
      console.log('response: ' + body + ' node ' + process.version + ' (http)');
      server.close();
    });
  });
});
";

/// A lockfile entry: install path, name, version, integrity, extra fields.
type LockEntry = (String, &'static str, String, String, serde_json::Value);

/// The app's lockfile with `entries`.
fn lockfile_of(deps: &[(&str, &str)], entries: &[LockEntry]) -> String {
    let borrowed: Vec<(&str, &str, &str, &str, serde_json::Value)> = entries
        .iter()
        .map(|(p, n, v, i, x)| (p.as_str(), *n, v.as_str(), i.as_str(), x.clone()))
        .collect();
    lockfile("app", deps, &borrowed)
}

/// A test world: the fixture server (registry + dist), an app, a download cache.
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
        let (version, sha) = node_dist(&served_dir.join("dist"));
        let mut integrity = std::collections::BTreeMap::new();
        let shout = |v: &str, bang: &str| NpmPackage {
            name: "shout",
            version: "",
            files: vec![(
                "index.js",
                format!("module.exports = (s) => s.toUpperCase() + '{bang}';\n// {v}\n"),
                0o644,
            )],
            bin: &[],
        };
        for (v, bang) in [("1.0.0", "!"), ("2.0.0", "!!"), ("2.1.0", "!!!")] {
            let mut p = shout(v, bang);
            p.version = v;
            let (_, i) = publish(&registry, &p);
            integrity.insert(format!("shout@{v}"), i);
        }
        let greet = NpmPackage {
            name: "greet",
            version: "1.0.0",
            files: vec![
                (
                    "index.js",
                    "const shout = require('shout');\nmodule.exports = (n) => shout('hello ' + n);\n"
                        .into(),
                    0o644,
                ),
                (
                    "bin/greet.js",
                    "#!/usr/bin/env node\nconsole.log('bin: ' + require('../index.js')(process.argv[2] || 'world'));\n"
                        .into(),
                    0o755,
                ),
            ],
            bin: &[("greet", "bin/greet.js")],
        };
        let (_, i) = publish(&registry, &greet);
        integrity.insert("greet@1.0.0".into(), i);
        let devtool = NpmPackage {
            name: "devtool",
            version: "1.0.0",
            files: vec![("index.js", "module.exports = 1;\n".into(), 0o644)],
            bin: &[],
        };
        let (_, i) = publish(&registry, &devtool);
        integrity.insert("devtool@1.0.0".into(), i);

        let app = work.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("server.js"), SERVER_JS).unwrap();
        std::fs::write(
            app.join("node-inventory.toml"),
            inventory_toml(&version, &sha),
        )
        .unwrap();
        std::fs::write(
            app.join("package.json"),
            r#"{"name":"app","version":"1.0.0","engines":{"node":">=18"},
"scripts":{"start":"node server.js"},
"dependencies":{"greet":"^1.0.0","shout":"^2.0.0"},"devDependencies":{"devtool":"^1.0.0"}}"#,
        )
        .unwrap();
        let server = Server::start(&served_dir).unwrap();
        let w = Self {
            work,
            server,
            app,
            integrity,
        };
        w.write_lock("2.0.0");
        w
    }

    /// Lockfile entries of greet (with its own shout 1.0.0) and a top-level shout.
    fn greet_and_shout(&self, top_shout: &str) -> Vec<LockEntry> {
        let i = |k: &str| self.integrity[k].clone();
        vec![
            (
                "node_modules/greet".into(),
                "greet",
                "1.0.0".into(),
                i("greet@1.0.0"),
                serde_json::json!({"bin": {"greet": "bin/greet.js"}, "dependencies": {"shout": "^1.0.0"}}),
            ),
            (
                "node_modules/greet/node_modules/shout".into(),
                "shout",
                "1.0.0".into(),
                i("shout@1.0.0"),
                serde_json::json!({}),
            ),
            (
                "node_modules/shout".into(),
                "shout",
                top_shout.into(),
                i(&format!("shout@{top_shout}")),
                serde_json::json!({}),
            ),
        ]
    }

    fn write_lock(&self, top_shout: &str) {
        let mut entries = self.greet_and_shout(top_shout);
        entries.push((
            "node_modules/devtool".into(),
            "devtool",
            "1.0.0".into(),
            self.integrity["devtool@1.0.0"].clone(),
            serde_json::json!({"dev": true}),
        ));
        let lock = lockfile_of(&[("greet", "^1.0.0"), ("shout", "^2.0.0")], &entries);
        std::fs::write(self.app.join("package-lock.json"), lock).unwrap();
    }

    fn downloads(&self) -> PathBuf {
        self.work.path().join("downloads")
    }

    fn layout(&self) -> PathBuf {
        self.work.path().join("image")
    }

    fn build(&self, run_image: &str, extra: &[&str]) -> Output {
        self.build_at(&self.layout(), "layer-cache", run_image, extra)
    }

    /// Build into `layout` with the layer cache `cache` (a name in the work dir); the
    /// download cache is shared.
    fn build_at(
        &self,
        layout: &std::path::Path,
        cache: &str,
        run_image: &str,
        extra: &[&str],
    ) -> Output {
        let mut cmd = kiln_command();
        cmd.arg("build")
            .arg(format!("oci:{}", layout.display()))
            .arg("--path")
            .arg(&self.app)
            .args(["--run-image", run_image])
            .arg("--download-cache")
            .arg(self.downloads())
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
            .args(extra);
        // The fixture server is on loopback, which downloads may reach only when allowed.
        if !extra.contains(&"--network-allow") {
            cmd.args(["--network-allow", "127.0.0.1"]);
        }
        run(&mut cmd)
    }
}

fn all_output(o: &Output) -> String {
    format!("{}\n{}", o.stdout, o.stderr)
}

fn downloads_line(o: &Output) -> String {
    all_output(o)
        .lines()
        .find(|l| l.contains("Downloads: fetched"))
        .unwrap_or("")
        .to_owned()
}

#[test]
fn node_app_installs_runs_rebuilds_and_works_offline() {
    let w = World::new();
    let base = debian();
    let version = node_support::node_version();

    // Cold build: the runtime and the three production packages are fetched; devtool is not.
    let cold = w.build(&base, &[]).success();
    assert!(
        downloads_line(&cold).contains("fetched 4 "),
        "{}",
        all_output(&cold)
    );
    assert_eq!(w.server.hits("/registry/devtool/-/devtool-1.0.0.tgz"), 0);
    assert_eq!(w.server.hits("/registry/greet/-/greet-1.0.0.tgz"), 1);
    assert_eq!(
        w.server.hits(&format!(
            "/dist/v{version}/node-v{version}-linux-x64.tar.gz"
        )),
        1
    );

    // The image runs the app with the two dependency levels resolved as the lockfile says.
    let ran = run_image(&w.layout(), "latest", &["-e", "SELFTEST=1"], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains(&format!("response: HELLO KILN! V2!! node v{version}")),
        "{}",
        ran.stdout
    );
    // The `bin` link is on the launch PATH.
    let bin = run_image(
        &w.layout(),
        "latest",
        &["--entrypoint", "/cnb/lifecycle/launcher"],
        &["--", "greet", "cnb"],
    );
    assert_eq!(bin.stdout.trim(), "bin: HELLO CNB!", "{}", bin.stderr);

    // Unchanged lockfile: nothing fetched, the layers are reused.
    let before = w.server.total();
    let warm = w.build(&base, &[]).success();
    assert_eq!(w.server.total(), before, "{:?}", w.server.all_hits());
    assert!(
        all_output(&warm).contains("modules: cache kept: package-lock.json is unchanged"),
        "{}",
        all_output(&warm)
    );
    assert_eq!(
        digest_of(&warm),
        digest_of(&cold),
        "same inputs, same image"
    );

    // One dependency changes: only that tarball is fetched.
    w.write_lock("2.1.0");
    let before = w.server.all_hits();
    let changed = w.build(&base, &[]).success();
    let mut new_requests: Vec<String> = w
        .server
        .all_hits()
        .into_iter()
        .filter(|(p, n)| before.get(p) != Some(n))
        .map(|(p, _)| p)
        .collect();
    new_requests.sort();
    assert_eq!(
        new_requests,
        vec!["/registry/shout/-/shout-2.1.0.tgz".to_owned()],
        "{}",
        all_output(&changed)
    );
    assert!(downloads_line(&changed).contains("fetched 1 "));

    // Offline after a warm build: fine, and no request at all.
    let before = w.server.total();
    w.build(&base, &["--offline"]).success();
    assert_eq!(w.server.total(), before);
}

/// Builds on busybox (these fail before anything runs).
fn busy(w: &World, extra: &[&str]) -> Output {
    w.build(&busybox(), extra)
}

#[test]
fn offline_with_an_empty_cache_names_the_url() {
    let w = World::new();
    let out = busy(&w, &["--offline"]);
    assert_ne!(out.code, 0);
    let text = all_output(&out);
    assert!(text.contains("--offline"), "{text}");
    assert!(
        text.contains(&format!("{}/dist/v", w.server.base)),
        "{text}"
    );
    assert_eq!(w.server.total(), 0);
}

#[test]
fn integrity_mismatch_fails_and_keeps_nothing() {
    let w = World::new();
    // The mirror now serves different bytes for greet than the lockfile pins.
    let evil = node_support::tgz("package", &[("index.js", b"evil", 0o644)]);
    std::fs::write(
        w.server.root.join("registry/greet/-/greet-1.0.0.tgz"),
        &evil,
    )
    .unwrap();
    let out = busy(&w, &[]);
    assert_ne!(out.code, 0);
    let text = all_output(&out);
    assert!(text.contains("greet@1.0.0"), "{text}");
    assert!(text.contains("integrity mismatch"), "{text}");
    // The pinned digest in both forms: the lockfile's SRI and hex.
    assert!(text.contains(&w.integrity["greet@1.0.0"]), "{text}");
    assert!(text.contains("sha512:"), "{text}");
    // Never the digest of what the mirror served.
    let served = node_support::integrity(&evil);
    assert!(!text.contains(&served), "{text}");
    // Nothing of the bad file (and no partial file) is in the cache.
    let bad = node_support::integrity(&evil);
    let sha512_dir = w.downloads().join("sha512");
    for e in std::fs::read_dir(&sha512_dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".partial"), "partial file left: {name}");
        assert_ne!(Some(name.as_str()), bad.strip_prefix("sha512-"));
    }
    let good = std::fs::read_dir(&sha512_dir).unwrap().count();
    assert_eq!(good, 2, "the two good shout tarballs are kept");
}

#[test]
fn missing_package_and_lockfile_problems_name_what_to_do() {
    let w = World::new();
    std::fs::remove_file(w.server.root.join("registry/shout/-/shout-2.0.0.tgz")).unwrap();
    let out = busy(&w, &[]);
    let text = all_output(&out);
    assert_ne!(out.code, 0);
    assert!(
        text.contains("shout@2.0.0") && text.contains("missing from the registry"),
        "{text}"
    );

    std::fs::write(
        w.app.join("package-lock.json"),
        r#"{"lockfileVersion": 1, "dependencies": {}}"#,
    )
    .unwrap();
    let text = all_output(&busy(&w, &[]));
    assert!(text.contains("lockfileVersion 1"), "{text}");

    std::fs::remove_file(w.app.join("package-lock.json")).unwrap();
    let text = all_output(&busy(&w, &[]));
    assert!(text.contains("no package-lock.json"), "{text}");
}

#[test]
fn install_scripts_warn_or_fail_under_the_strict_flag() {
    let w = World::new();
    let lock = std::fs::read_to_string(w.app.join("package-lock.json")).unwrap();
    let lock = lock.replacen(
        "\"version\": \"2.0.0\"",
        "\"version\": \"2.0.0\", \"hasInstallScript\": true",
        1,
    );
    std::fs::write(w.app.join("package-lock.json"), lock).unwrap();
    let strict = busy(&w, &["--env", "KILN_NODEJS_STRICT_SCRIPTS=true"]);
    assert_ne!(strict.code, 0);
    assert!(all_output(&strict).contains("shout@2.0.0"));
    // Named as required: the build fails, naming it; other packages' scripts do not matter.
    let required = busy(&w, &["--env", "KILN_NODEJS_SCRIPTS_REQUIRED=greet,shout"]);
    assert_ne!(required.code, 0);
    assert!(
        all_output(&required).contains("shout@2.0.0"),
        "{}",
        all_output(&required)
    );
    busy(&w, &["--env", "KILN_NODEJS_SCRIPTS_REQUIRED=greet"]).success();
    // Strict, but this one is known not to matter.
    busy(
        &w,
        &[
            "--env",
            "KILN_NODEJS_STRICT_SCRIPTS=true",
            "--env",
            "KILN_NODEJS_SCRIPTS_SKIP=shout",
        ],
    )
    .success();
    // By default a warning that names the package and what to do.
    let ok = busy(&w, &[]).success();
    let text = all_output(&ok);
    assert!(
        text.contains("install scripts") && text.contains("shout@2.0.0"),
        "{text}"
    );
    assert!(
        text.contains("KILN_NODEJS_SCRIPTS_REQUIRED") && text.contains("KILN_NODEJS_SCRIPTS_SKIP"),
        "{text}"
    );
    let skipped = busy(&w, &["--env", "KILN_NODEJS_SCRIPTS_SKIP=shout"]).success();
    assert!(
        !all_output(&skipped).contains("install scripts"),
        "{}",
        all_output(&skipped)
    );
}

#[test]
fn policy_flags_unpinned_and_allowlist() {
    let w = World::new();
    // A lockfile entry without integrity is an unpinned download.
    let lock = std::fs::read_to_string(w.app.join("package-lock.json")).unwrap();
    let pinned = &w.integrity["devtool@1.0.0"];
    let lock = lock.replace(&format!("\"integrity\": \"{pinned}\","), "");
    std::fs::write(
        w.app.join("package-lock.json"),
        lock.replace("\"dev\": true", "\"dev\": false"),
    )
    .unwrap();
    let refused = busy(&w, &[]);
    assert_ne!(refused.code, 0);
    let text = all_output(&refused);
    assert!(
        text.contains("devtool@1.0.0") && text.contains("--allow-unpinned"),
        "{text}"
    );

    // With an allowlist that does not name the mirror, nothing is downloaded.
    let before = w.server.total();
    let denied = busy(
        &w,
        &["--allow-unpinned", "--network-allow", "mirror.example"],
    );
    assert_ne!(denied.code, 0);
    assert!(
        all_output(&denied).contains("--network-allow 127.0.0.1"),
        "{}",
        all_output(&denied)
    );
    assert_eq!(w.server.total(), before);

    let allowed = busy(&w, &["--allow-unpinned"]).success();
    assert!(all_output(&allowed).contains("unpinned"));
    let info = inspect_json(&w.layout(), "latest");
    assert_eq!(
        info["summary"]["labels"]["io.kiln.reproducible"].as_str(),
        Some("false"),
        "{info}"
    );
}

#[test]
fn the_component_also_works_with_buildpack_path() {
    let wasm = root().join("target/wasm-guests/wasm32-wasip2/wasm/kiln_buildpack_nodejs.wasm");
    assert!(wasm.is_file(), "{}", wasm.display());
    let w = World::new();
    let args = ["--buildpack", wasm.to_str().unwrap()];
    let out = busy(&w, &args).success();
    assert!(
        downloads_line(&out).contains("fetched 4 "),
        "{}",
        all_output(&out)
    );
    // Determinism: a second build from scratch (new layout, empty layer cache; downloads
    // cached) reinstalls everything and gives the same image digest.
    let other = w.work.path().join("other-image");
    let again = w
        .build_at(&other, "other-layer-cache", &busybox(), &args)
        .success();
    assert!(
        downloads_line(&again).contains("fetched 0 ")
            && downloads_line(&again).contains("cached 4"),
        "{}",
        all_output(&again)
    );
    assert!(
        all_output(&again).contains("Installed 3 packages"),
        "{}",
        all_output(&again)
    );
    assert_eq!(digest_of(&again), digest_of(&out));
}

#[test]
fn downloads_go_through_the_http_proxy_from_the_environment() {
    let w = World::new();
    // Hosts that do not resolve: only the proxy (the fixture server) can serve them.
    let mut cmd = kiln_command();
    cmd.arg("build")
        .arg(format!("oci:{}", w.layout().display()))
        .arg("--path")
        .arg(&w.app)
        .args(["--run-image", &busybox()])
        .arg("--download-cache")
        .arg(w.downloads())
        .args(["--env", "KILN_NODEJS_INVENTORY=node-inventory.toml"])
        .args(["--env", "KILN_NODEJS_DIST_URL=http://nodejs.invalid/dist"])
        .args([
            "--env",
            "npm_config_registry=http://registry.invalid/registry/",
        ])
        .env("HTTP_PROXY", &w.server.base)
        .env("http_proxy", &w.server.base)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    let out = run(&mut cmd).success();
    assert!(
        downloads_line(&out).contains("fetched 4 "),
        "{}",
        all_output(&out)
    );
    assert_eq!(w.server.hits("/registry/greet/-/greet-1.0.0.tgz"), 1);
}

/// An ES module app that also runs a `.bin` tool by its path under the app, compares a
/// `require.resolve` result with a path under the app and uses a package that reads a file
/// next to itself.
const ESM_MAIN: &str = r"import greet from 'greet';
import shout from 'shout';
import data from 'datafile';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
console.log('esm: ' + greet('esm') + ' ' + shout('top'));
console.log(execFileSync('node_modules/.bin/greet', ['child'], { cwd: here }).toString().trim());
console.log('resolve: ' + path.relative(here, require.resolve('greet')));
console.log('data: ' + data());
console.log('list: ' + readdirSync(path.join(here, 'node_modules')).filter((n) => !n.startsWith('.')).sort().join(','));
";

#[test]
fn node_modules_is_where_node_and_the_app_look_for_it() {
    let w = World::new();
    let datafile = NpmPackage {
        name: "datafile",
        version: "1.0.0",
        files: vec![
            (
                "index.js",
                "const fs = require('fs');\nconst path = require('path');\nmodule.exports = () => fs.readFileSync(path.join(__dirname, 'data.txt'), 'utf8').trim();\n".into(),
                0o644,
            ),
            ("data.txt", "next to me\n".into(), 0o644),
        ],
        bin: &[],
    };
    let (_, data_integrity) = publish(&w.server.root.join("registry"), &datafile);
    std::fs::remove_file(w.app.join("server.js")).unwrap();
    std::fs::write(w.app.join("main.js"), ESM_MAIN).unwrap();
    std::fs::write(
        w.app.join("package.json"),
        r#"{"name":"app","version":"1.0.0","type":"module","scripts":{"start":"node main.js"},
"dependencies":{"greet":"^1.0.0","shout":"^2.0.0","datafile":"1.0.0"}}"#,
    )
    .unwrap();
    let mut entries = w.greet_and_shout("2.0.0");
    entries.push((
        "node_modules/datafile".into(),
        "datafile",
        "1.0.0".into(),
        data_integrity,
        serde_json::json!({}),
    ));
    let lock = lockfile_of(
        &[
            ("greet", "^1.0.0"),
            ("shout", "^2.0.0"),
            ("datafile", "1.0.0"),
        ],
        &entries,
    );
    std::fs::write(w.app.join("package-lock.json"), lock).unwrap();
    // A node_modules of the user's own: the image gets the locked tree, the user's dir stays.
    std::fs::create_dir_all(w.app.join("node_modules/stale")).unwrap();

    let base = debian();
    for round in ["cold", "warm (layer restored)"] {
        w.build(&base, &[]).success();
        let ran = run_image(&w.layout(), "latest", &[], &[]);
        assert_eq!(ran.code, 0, "{round}: {}\n{}", ran.stdout, ran.stderr);
        let lines: Vec<&str> = ran.stdout.lines().collect();
        let line = |prefix: &str| {
            lines
                .iter()
                .find(|l| l.starts_with(prefix))
                .copied()
                .unwrap_or_else(|| {
                    panic!(
                        "{round}: no {prefix:?} line in {}\n{}",
                        ran.stdout, ran.stderr
                    )
                })
        };
        assert_eq!(
            line("esm:"),
            "esm: HELLO ESM! TOP!!",
            "{round}: ES module imports"
        );
        assert_eq!(
            line("bin:"),
            "bin: HELLO CHILD!",
            "{round}: .bin via child_process"
        );
        assert_eq!(
            line("resolve:"),
            "resolve: node_modules/greet/index.js",
            "{round}: require.resolve gives a path under the app"
        );
        assert_eq!(
            line("data:"),
            "data: next to me",
            "{round}: a file next to a package"
        );
        assert_eq!(
            line("list:"),
            "list: datafile,greet,shout",
            "{round}: the locked tree"
        );
    }
    assert!(
        w.app.join("node_modules/stale").is_dir(),
        "the user's files are not written"
    );
}
