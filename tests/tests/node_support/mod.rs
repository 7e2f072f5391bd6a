//! Fixtures for the Node.js and fetch tests: a counting HTTP server on 127.0.0.1 serving a
//! directory, npm package tarballs with computed integrity, and a Node.js "distribution"
//! tarball made from the machine's own `node`.

#![allow(dead_code, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::Digest as _;

/// A static file server on 127.0.0.1 that counts GET requests per path.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The served directory.
    pub root: PathBuf,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Server {
    /// Serve `root` on a free port, one thread per connection (HTTP/1.1 keep-alive).
    pub fn start(root: &Path) -> Self {
        Self::start_with_latency(root, std::time::Duration::ZERO)
    }

    /// [`Self::start`], answering each request after `latency` (a network round trip, for
    /// the benchmark: loopback has almost none).
    pub fn start_with_latency(root: &Path, latency: std::time::Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let (dir, counter) = (root.to_path_buf(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (dir, counter) = (dir.clone(), counter.clone());
                std::thread::spawn(move || serve_connection(stream, &dir, &counter, latency));
            }
        });
        Self {
            base,
            root: root.to_path_buf(),
            hits,
        }
    }

    /// Requests for `path` (e.g. `/greet/-/greet-1.0.0.tgz`) so far.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// All requests so far, by path.
    pub fn all_hits(&self) -> BTreeMap<String, usize> {
        self.hits.lock().unwrap().clone()
    }

    /// Total requests so far.
    pub fn total(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

fn serve_connection(
    stream: TcpStream,
    root: &Path,
    hits: &Mutex<BTreeMap<String, usize>>,
    latency: std::time::Duration,
) {
    // One write per response and no Nagle delay, so keep-alive requests are not held back
    // by delayed ACKs (40 ms each).
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut close = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("");
        let raw = parts.next().unwrap_or("/");
        // A proxy request carries an absolute URL: serve its path, so the server doubles as
        // an HTTP proxy for the tests of `HTTP_PROXY`.
        let raw = raw
            .strip_prefix("http://")
            .map_or(raw, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
        let path = raw
            .split('?')
            .next()
            .unwrap_or(raw)
            .replace("%2f", "/")
            .replace("%2F", "/");
        *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let file = root.join(path.trim_start_matches('/'));
        let safe = !path.split('/').any(|s| s == "..");
        let body = if safe && file.is_file() {
            std::fs::read(&file).ok()
        } else {
            None
        };
        // A file `<path>.redirect` answers 302 to the URL it holds.
        let redirect = if safe {
            std::fs::read_to_string(root.join(format!("{}.redirect", path.trim_start_matches('/'))))
                .ok()
        } else {
            None
        };
        let (status, body, location) = match (redirect, body) {
            (Some(to), _) => (
                "302 Found",
                Vec::new(),
                format!("location: {}\r\n", to.trim()),
            ),
            (None, Some(b)) => ("200 OK", b, String::new()),
            (None, None) => ("404 Not Found", b"not found".to_vec(), String::new()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\n{location}content-length: {}\r\ncontent-type: application/octet-stream\r\n\r\n",
            body.len()
        );
        let mut response = head.into_bytes();
        if method != "HEAD" {
            response.extend_from_slice(&body);
        }
        if out.write_all(&response).is_err() {
            return;
        }
        if close {
            return;
        }
    }
}

/// A gzip-compressed tar of `files` (path → contents) under `prefix/`, deterministic.
pub fn tgz(prefix: &str, files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(499_162_500);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}/{path}"), *data)
            .unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// The SRI sha512 integrity of `data`.
pub fn integrity(data: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(data))
    )
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
