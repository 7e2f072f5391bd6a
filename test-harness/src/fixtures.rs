//! Fixture downloads for tests: a static HTTP server on 127.0.0.1 that counts requests
//! (it also answers proxy-style requests and `<path>.redirect` files), deterministic
//! `.tar.gz` archives, and the integrity strings that pin them.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use sha2::Digest as _;

use crate::HarnessError;

type Hits = Arc<Mutex<BTreeMap<String, usize>>>;

/// A static file server on 127.0.0.1 serving a directory, counting GET requests per path.
/// It runs until the process ends.
#[derive(Debug, Clone)]
pub struct FixtureServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The served directory.
    pub root: PathBuf,
    hits: Hits,
}

impl FixtureServer {
    /// Serve `root` on a free port, one thread per connection (HTTP/1.1 keep-alive).
    pub fn start(root: &Path) -> Result<Self, HarnessError> {
        Self::start_with_latency(root, Duration::ZERO)
    }

    /// [`Self::start`], answering each request after `latency` (a network round trip).
    pub fn start_with_latency(root: &Path, latency: Duration) -> Result<Self, HarnessError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(HarnessError::io("listen on", "127.0.0.1:0"))?;
        let addr = listener
            .local_addr()
            .map_err(HarnessError::io("inspect", "127.0.0.1:0"))?;
        let hits: Hits = Arc::default();
        let (dir, counter) = (root.to_path_buf(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (dir, counter) = (dir.clone(), counter.clone());
                std::thread::spawn(move || serve_connection(stream, &dir, &counter, latency));
            }
        });
        Ok(Self {
            base: format!("http://{addr}"),
            root: root.to_path_buf(),
            hits,
        })
    }

    /// `host:port`, for `network_allow`.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The URL of `path` (e.g. `/greet/-/greet-1.0.0.tgz`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// Requests for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// All requests so far, by path.
    pub fn all_hits(&self) -> BTreeMap<String, usize> {
        self.hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Total requests so far.
    pub fn total(&self) -> usize {
        self.all_hits().values().sum()
    }
}

fn serve_connection(
    stream: TcpStream,
    root: &Path,
    hits: &Mutex<BTreeMap<String, usize>>,
    latency: Duration,
) {
    // One write per response and no Nagle delay, so keep-alive requests are not held back
    // by delayed ACKs.
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
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
        let path = request_path(parts.next().unwrap_or("/"));
        *hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(path.clone())
            .or_default() += 1;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        let mut response = respond(root, &path);
        if method == "HEAD" {
            response.truncate(response.len() - body_len(&response));
        }
        if out.write_all(&response).is_err() || close {
            return;
        }
    }
}

/// The path of a request target; an absolute URL (a proxy request) gives its path.
fn request_path(raw: &str) -> String {
    let raw = raw
        .strip_prefix("http://")
        .map_or(raw, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
    raw.split('?')
        .next()
        .unwrap_or(raw)
        .replace("%2f", "/")
        .replace("%2F", "/")
}

/// The full response for `path`: the file, a 302 from `<path>.redirect`, or 404.
fn respond(root: &Path, path: &str) -> Vec<u8> {
    let safe = !path.split('/').any(|s| s == "..");
    let relative = path.trim_start_matches('/');
    let file = root.join(relative);
    let body = if safe && file.is_file() {
        std::fs::read(&file).ok()
    } else {
        None
    };
    let redirect = if safe {
        std::fs::read_to_string(root.join(format!("{relative}.redirect"))).ok()
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
    let mut response = format!(
        "HTTP/1.1 {status}\r\n{location}content-length: {}\r\ncontent-type: application/octet-stream\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    response
}

fn body_len(response: &[u8]) -> usize {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(0, |i| response.len() - i - 4)
}

/// A deterministic gzip-compressed tar of `files` (path, contents, mode) under `prefix/`.
pub fn tgz(prefix: &str, files: &[(&str, &[u8], u32)]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_mtime(499_162_500);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}/{path}"), *data)?;
    }
    let tar = b.into_inner()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar)?;
    gz.finish()
}

/// The SRI sha512 integrity (`sha512-<base64>`) of `data`, as npm lockfiles pin packages.
pub fn integrity(data: &[u8]) -> String {
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(data))
    )
}

/// The `sha256:<hex>` digest of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn get(server: &FixtureServer, path: &str) -> String {
        let mut stream = TcpStream::connect(server.authority()).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nconnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn serves_files_redirects_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("b.txt.redirect"), "http://elsewhere/b").unwrap();
        let server = FixtureServer::start(dir.path()).unwrap();
        assert!(get(&server, "/a.txt").ends_with("\r\n\r\nhello"));
        assert!(get(&server, "/b.txt").contains("location: http://elsewhere/b"));
        assert!(get(&server, "/../etc/passwd").starts_with("HTTP/1.1 404"));
        assert!(get(&server, &format!("{}/a.txt?x=1", server.base)).ends_with("hello"));
        assert_eq!(server.hits("/a.txt"), 2);
        assert_eq!(server.total(), 4);
        assert_eq!(server.url("a.txt"), format!("{}/a.txt", server.base));
    }

    #[test]
    fn archives_are_deterministic_and_pinned() {
        let a = tgz("package", &[("index.js", b"x", 0o644)]).unwrap();
        let b = tgz("package", &[("index.js", b"x", 0o644)]).unwrap();
        assert_eq!(a, b);
        assert!(integrity(&a).starts_with("sha512-"));
        assert_eq!(sha256_digest(b"abc").len(), "sha256:".len() + 64);
    }
}
