//! Fixtures for the Node.js and fetch tests: `kiln-test`'s counting HTTP server and
//! archives, npm package tarballs with computed integrity, and a Node.js "distribution"
//! tarball made from the machine's own `node`.

#![allow(dead_code, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};

use sha2::Digest as _;

/// The fixture server of `kiln-test`: static files on 127.0.0.1, requests counted.
pub use kiln_test::FixtureServer as Server;
pub use kiln_test::fixtures::integrity;

/// A gzip-compressed tar of `files` (path → contents) under `prefix/`, deterministic.
pub fn tgz(prefix: &str, files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    kiln_test::fixtures::tgz(prefix, files).unwrap()
}

/// One npm package to publish on the fixture registry.
pub struct NpmPackage<'a> {
    /// Name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// Files besides package.json: (path, contents, mode).
    pub files: Vec<(&'a str, String, u32)>,
    /// `bin` map.
    pub bin: &'a [(&'a str, &'a str)],
}

/// Write the package's tarball to `<registry>/<name>/-/<name>-<version>.tgz`; returns its
/// registry path and integrity.
pub fn publish(registry_dir: &Path, p: &NpmPackage<'_>) -> (String, String) {
    let bin: serde_json::Map<String, serde_json::Value> = p
        .bin
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let manifest = serde_json::json!({"name": p.name, "version": p.version, "bin": bin});
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    let mut files: Vec<(&str, &[u8], u32)> = vec![("package.json", &manifest, 0o644)];
    for (path, text, mode) in &p.files {
        files.push((path, text.as_bytes(), *mode));
    }
    let data = tgz("package", &files);
    let rel = format!("{}/-/{}-{}.tgz", p.name, p.name, p.version);
    let file = registry_dir.join(&rel);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &data).unwrap();
    (format!("/{rel}"), integrity(&data))
}

/// `node --version` of the machine, without the `v`.
pub fn node_version() -> String {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .expect("node is needed for the Node.js tests (apt-get install nodejs)");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches('v')
        .to_owned()
}

/// A Node.js distribution tarball (`node-v<V>-linux-x64/bin/node`, the machine's own
/// binary) under `<dist>/v<V>/`, made once and kept in `target/`; returns (version, sha256).
pub fn node_dist(dist_dir: &Path) -> (String, String) {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let version = node_version();
    let name = format!("node-v{version}-linux-x64.tar.gz");
    let kept = super::support::root()
        .join("target/kiln-test-node-dist")
        .join(&name);
    // Made once per process (tests run in parallel threads), written to a unique temp file
    // and renamed, so a concurrent test process never sees a partial tarball.
    let guard = MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !kept.is_file() {
        let node = which_node();
        let bytes = std::fs::read(&node).unwrap();
        let data = tgz(
            &format!("node-v{version}-linux-x64"),
            &[("bin/node", &bytes, 0o755)],
        );
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
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&target).unwrap()));
    (version, sha)
}

fn which_node() -> PathBuf {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v node"])
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// An inventory listing one release (the machine's node) with its sha256.
pub fn inventory_toml(version: &str, sha256: &str) -> String {
    format!(
        "[[release]]\nversion = \"{version}\"\nlts = true\nos = \"linux\"\narch = \"x64\"\nurl = \"https://nodejs.org/dist/v{version}/node-v{version}-linux-x64.tar.gz\"\nsha256 = \"{sha256}\"\n"
    )
}

/// A lockfile (v3) for `entries`: (install path, name, version, integrity, extra JSON fields).
pub fn lockfile(
    app: &str,
    deps: &[(&str, &str)],
    entries: &[(&str, &str, &str, &str, serde_json::Value)],
) -> String {
    let mut packages = serde_json::Map::new();
    let deps: serde_json::Map<String, serde_json::Value> = deps
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    packages.insert(
        String::new(),
        serde_json::json!({"name": app, "version": "1.0.0", "dependencies": deps}),
    );
    for (path, name, version, integrity, extra) in entries {
        let mut e = serde_json::json!({
            "version": version,
            "resolved": format!("https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"),
            "integrity": integrity,
        });
        if let (Some(obj), Some(more)) = (e.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        packages.insert((*path).to_owned(), e);
    }
    serde_json::to_string_pretty(&serde_json::json!({
        "name": app, "version": "1.0.0", "lockfileVersion": 3, "requires": true,
        "packages": packages,
    }))
    .unwrap()
}
