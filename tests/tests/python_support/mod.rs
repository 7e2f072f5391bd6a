//! Fixtures of the Python tests: wheels and source distributions written byte for byte as the
//! packaging specs say (deterministic), a PEP 503 simple index, a counting HTTP server that
//! serves it (directory pages as `text/html`, which pip insists on), a relocatable CPython
//! "install_only" tarball made from the machine's own CPython, its inventory, the reference
//! install with the machine's pip, and readers of an image's venv layer.

#![allow(
    dead_code,
    clippy::missing_panics_doc,
    // File names are matched exactly (`.pyc`, `.so`, `.html` as the tools write them).
    clippy::case_sensitive_file_extension_comparisons
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use sha2::Digest as _;

/// Where Kiln puts the app's virtual environment, in the image and during the build.
pub const VENV: &str = "/layers/kiln_python/venv";

/// The lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// A RECORD hash: `sha256=<urlsafe base64 without padding>`.
pub fn record_hash(data: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data))
    )
}

/// PEP 503 normalised project name: lowercase, runs of `-_.` as one `-`.
pub fn normalise(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The name as it appears in wheel file names and `.dist-info` directories (binary
/// distribution format: runs of `-_.` as `_`; we keep the case the fixture gives).
pub fn escaped(name: &str) -> String {
    normalise(name).replace('-', "_")
}

// ---- zip ------------------------------------------------------------------------------------

/// A zip archive of `files` (name, contents) in the given order: each entry deflated when that
/// is smaller, else stored; fixed 1980-01-01 times, no extra fields, `0o644` (or the mode's
/// `0o755` for names in `executable`) in the external attributes. The same input gives the
/// same bytes.
pub fn zip(files: &[(String, Vec<u8>)], executable: &BTreeSet<String>) -> Vec<u8> {
    let u16_of = |n: usize| u16::try_from(n).unwrap().to_le_bytes();
    let u32_of = |n: usize| u32::try_from(n).unwrap().to_le_bytes();
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in files {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        let deflated = enc.finish().unwrap();
        let (method, body): (u16, &[u8]) = if deflated.len() < data.len() {
            (8, &deflated)
        } else {
            (0, data)
        };
        let offset = out.len();
        // version needed 2.0, flags 0 (sizes in the header), method, time 00:00, date 1980-01-01.
        let mut fields = Vec::new();
        for v in [20u16, 0, method, 0, 0x21] {
            fields.extend_from_slice(&v.to_le_bytes());
        }
        fields.extend_from_slice(&crc.sum().to_le_bytes());
        fields.extend_from_slice(&u32_of(body.len()));
        fields.extend_from_slice(&u32_of(data.len()));
        fields.extend_from_slice(&u16_of(name.len()));
        fields.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&fields);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(body);
        // Central header: made by Unix (3) version 2.0, the same fields, no comment, disk 0,
        // internal attributes 0, external attributes the Unix mode in the high 16 bits.
        let mode: u32 = if executable.contains(name) {
            0o100_755
        } else {
            0o100_644
        };
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&0x0314u16.to_le_bytes());
        central.extend_from_slice(&fields);
        central.extend_from_slice(&[0; 6]);
        central.extend_from_slice(&(mode << 16).to_le_bytes());
        central.extend_from_slice(&u32_of(offset));
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_size) = (out.len(), central.len());
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&u16_of(files.len()));
    out.extend_from_slice(&u16_of(files.len()));
    out.extend_from_slice(&u32_of(cd_size));
    out.extend_from_slice(&u32_of(cd_offset));
    out.extend_from_slice(&[0, 0]);
    out
}

// ---- wheels ---------------------------------------------------------------------------------

/// A compatibility tag: (python, abi, platform), e.g. `("py3", "none", "any")`.
pub type Tag = (String, String, String);

/// `("py3", "none", "any")`.
pub fn pure_tag() -> Tag {
    ("py3".into(), "none".into(), "any".into())
}

/// `cp3X`-`cp3X`-`platform` for the CPython `version` (`3.11.7` → `cp311`).
pub fn cpython_tag(version: &str, platform: &str) -> Tag {
    let cp = cp_tag(version);
    (cp.clone(), cp, platform.into())
}

/// `cp311` for `3.11.x`.
pub fn cp_tag(version: &str) -> String {
    let mut parts = version.split('.');
    format!(
        "cp{}{}",
        parts.next().unwrap_or("3"),
        parts.next().unwrap_or("0")
    )
}

/// `3.11` for `3.11.7`.
pub fn minor_of(version: &str) -> String {
    version.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// One wheel to build: everything the binary distribution format puts in the archive.
#[derive(Debug, Clone)]
pub struct Wheel {
    /// Project name as published (`Name:` in METADATA).
    pub name: String,
    /// Version.
    pub version: String,
    /// The compatibility tag (a single one; the file name may carry a compressed set in
    /// `extra_platforms`).
    pub tag: Tag,
    /// More platform tags of the same (python, abi), e.g. `manylinux2014_x86_64` beside
    /// `manylinux_2_17_x86_64`; they go into the file name and `Tag:` lines.
    pub extra_platforms: Vec<String>,
    /// Files of the root (purelib or platlib): (path, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// `entry_points.txt`, when the project has any.
    pub entry_points: Option<String>,
    /// `.data/scripts/<name>`: scripts copied to `bin` (a `#!python` line is rewritten).
    pub data_scripts: Vec<(String, Vec<u8>)>,
    /// `Requires-Dist:` lines (PEP 508, with markers and `extra == "…"`).
    pub requires_dist: Vec<String>,
    /// `Provides-Extra:` lines.
    pub provides_extra: Vec<String>,
    /// `Requires-Python:`.
    pub requires_python: Option<String>,
}

impl Wheel {
    /// A pure-Python `py3-none-any` wheel with `files`.
    pub fn pure(name: &str, version: &str, files: &[(&str, &str)]) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            tag: pure_tag(),
            extra_platforms: Vec::new(),
            files: files
                .iter()
                .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
                .collect(),
            entry_points: None,
            data_scripts: Vec::new(),
            requires_dist: Vec::new(),
            provides_extra: Vec::new(),
            requires_python: None,
        }
    }

    /// The same wheel with another tag.
    #[must_use]
    pub fn tagged(mut self, tag: Tag, extra_platforms: &[&str]) -> Self {
        self.tag = tag;
        self.extra_platforms = extra_platforms.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// `{name}-{version}` with the name escaped.
    pub fn stem(&self) -> String {
        format!("{}-{}", escaped(&self.name), self.version)
    }

    /// The tag part of the file name: `py3-none-any`, platforms joined with `.`.
    pub fn tag_string(&self) -> String {
        let mut plats = vec![self.tag.2.clone()];
        plats.extend(self.extra_platforms.iter().cloned());
        format!("{}-{}-{}", self.tag.0, self.tag.1, plats.join("."))
    }

    /// `{name}-{version}-{tag}.whl`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.whl", self.stem(), self.tag_string())
    }

    /// `{name}-{version}.dist-info`.
    pub fn dist_info(&self) -> String {
        format!("{}.dist-info", self.stem())
    }

    /// Pure when its ABI is `none` and platform `any` (`Root-Is-Purelib`).
    pub fn is_pure(&self) -> bool {
        self.tag.2 == "any"
    }

    /// METADATA (core metadata 2.1).
    pub fn metadata(&self) -> String {
        let mut m = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: {} (a Kiln test fixture)\n",
            self.name, self.version, self.name
        );
        if let Some(rp) = &self.requires_python {
            writeln!(m, "Requires-Python: {rp}").unwrap();
        }
        for e in &self.provides_extra {
            writeln!(m, "Provides-Extra: {e}").unwrap();
        }
        for r in &self.requires_dist {
            writeln!(m, "Requires-Dist: {r}").unwrap();
        }
        m.push('\n');
        m
    }

    /// WHEEL.
    pub fn wheel_file(&self) -> String {
        let mut w = format!(
            "Wheel-Version: 1.0\nGenerator: kiln-tests\nRoot-Is-Purelib: {}\n",
            self.is_pure()
        );
        let mut plats = vec![self.tag.2.clone()];
        plats.extend(self.extra_platforms.iter().cloned());
        for p in plats {
            writeln!(w, "Tag: {}-{}-{p}", self.tag.0, self.tag.1).unwrap();
        }
        w.push('\n');
        w
    }

    /// The archive's entries in order (RECORD last) and the names of executable ones.
    pub fn entries(&self) -> (Vec<(String, Vec<u8>)>, BTreeSet<String>) {
        let mut entries: Vec<(String, Vec<u8>)> = self.files.clone();
        let mut executable = BTreeSet::new();
        for (name, data) in &self.data_scripts {
            let path = format!("{}.data/scripts/{name}", self.stem());
            executable.insert(path.clone());
            entries.push((path, data.clone()));
        }
        let di = self.dist_info();
        entries.push((format!("{di}/METADATA"), self.metadata().into_bytes()));
        entries.push((format!("{di}/WHEEL"), self.wheel_file().into_bytes()));
        if let Some(ep) = &self.entry_points {
            entries.push((format!("{di}/entry_points.txt"), ep.clone().into_bytes()));
        }
        let mut record = String::new();
        for (path, data) in &entries {
            writeln!(record, "{path},{},{}", record_hash(data), data.len()).unwrap();
        }
        writeln!(record, "{di}/RECORD,,").unwrap();
        entries.push((format!("{di}/RECORD"), record.into_bytes()));
        (entries, executable)
    }

    /// The wheel's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let (entries, executable) = self.entries();
        zip(&entries, &executable)
    }

    /// Write it into `dir`; returns (file name, sha256 hex).
    pub fn write(&self, dir: &Path) -> (String, String) {
        std::fs::create_dir_all(dir).unwrap();
        let data = self.bytes();
        let name = self.file_name();
        std::fs::write(dir.join(&name), &data).unwrap();
        (name, sha256_hex(&data))
    }
}

// ---- source distributions -------------------------------------------------------------------

/// A source distribution `{name}-{version}.tar.gz` (PEP 625 name, one top directory, `PKG-INFO`,
/// a `pyproject.toml` building with setuptools, and `files`), deterministic; returns its bytes.
pub fn sdist(name: &str, version: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let stem = format!("{}-{version}", escaped(name));
    let pkg_info = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n");
    let pyproject = format!(
        "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n\n[project]\nname = \"{name}\"\nversion = \"{version}\"\n"
    );
    let mut all: Vec<(&str, &[u8], u32)> = vec![
        ("PKG-INFO", pkg_info.as_bytes(), 0o644),
        ("pyproject.toml", pyproject.as_bytes(), 0o644),
    ];
    for (p, c) in files {
        all.push((p, c.as_bytes(), 0o644));
    }
    kiln_test::fixtures::tgz(&stem, &all).unwrap()
}

// ---- the simple index -----------------------------------------------------------------------

/// A PEP 503 simple index on disk: `<root>/simple/<project>/index.html` pages listing files
/// kept in `<root>/files/`.
pub struct Index {
    /// The served directory (the server's root).
    pub root: PathBuf,
    /// project (normalised) → (file name, sha256, requires-python).
    projects: BTreeMap<String, Vec<(String, String, Option<String>)>>,
}

impl Index {
    /// An empty index under `root`.
    pub fn new(root: &Path) -> Self {
        std::fs::create_dir_all(root.join("simple")).unwrap();
        std::fs::create_dir_all(root.join("files")).unwrap();
        Self {
            root: root.to_path_buf(),
            projects: BTreeMap::new(),
        }
    }

    /// Publish `wheel` (file under `files/`, an anchor on its project page); returns its
    /// (file name, sha256).
    pub fn publish(&mut self, wheel: &Wheel) -> (String, String) {
        let (file, sha) = wheel.write(&self.root.join("files"));
        self.add(&wheel.name, &file, &sha, wheel.requires_python.as_deref());
        (file, sha)
    }

    /// Publish arbitrary bytes (an sdist, a broken file) as `file` of `project`.
    pub fn publish_bytes(&mut self, project: &str, file: &str, data: &[u8]) -> String {
        std::fs::write(self.root.join("files").join(file), data).unwrap();
        let sha = sha256_hex(data);
        self.add(project, file, &sha, None);
        sha
    }

    fn add(&mut self, project: &str, file: &str, sha: &str, requires_python: Option<&str>) {
        let key = normalise(project);
        let list = self.projects.entry(key.clone()).or_default();
        list.retain(|(f, _, _)| f != file);
        list.push((file.into(), sha.into(), requires_python.map(str::to_owned)));
        list.sort();
        self.write_page(&key);
        self.write_root();
    }

    /// Replace the bytes of a published file without touching the pages (a tampered mirror).
    pub fn tamper(&self, file: &str, data: &[u8]) {
        std::fs::write(self.root.join("files").join(file), data).unwrap();
    }

    fn write_page(&self, key: &str) {
        let mut html = format!(
            "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.0\">\n    <title>Links for {key}</title>\n  </head>\n  <body>\n    <h1>Links for {key}</h1>\n"
        );
        for (file, sha, rp) in &self.projects[key] {
            let rp = rp.as_deref().map_or(String::new(), |r| {
                format!(" data-requires-python=\"{}\"", html_escape(r))
            });
            writeln!(
                html,
                "    <a href=\"../../files/{file}#sha256={sha}\"{rp}>{file}</a><br>"
            )
            .unwrap();
        }
        html.push_str("  </body>\n</html>\n");
        let dir = self.root.join("simple").join(key);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), html).unwrap();
    }

    fn write_root(&self) {
        let mut html = String::from("<!DOCTYPE html>\n<html>\n  <body>\n");
        for key in self.projects.keys() {
            writeln!(html, "    <a href=\"{key}/\">{key}</a>").unwrap();
        }
        html.push_str("  </body>\n</html>\n");
        std::fs::write(self.root.join("simple/index.html"), html).unwrap();
    }

    /// The path of a project's page on the server (`/simple/<normalised>/`).
    pub fn page_path(project: &str) -> String {
        format!("/simple/{}/", normalise(project))
    }

    /// The path of a file on the server.
    pub fn file_path(file: &str) -> String {
        format!("/files/{file}")
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// ---- requirements.txt -----------------------------------------------------------------------

/// A `requirements.txt` as `pip-compile --generate-hashes` writes it: `lines` are
/// (requirement with its `==` pin, optional marker, sha256 hex of each allowed file).
pub fn requirements_txt(lines: &[(&str, Option<&str>, Vec<String>)]) -> String {
    let mut out = String::from(
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n# by the following command:\n#\n#    pip-compile --generate-hashes requirements.in\n#\n",
    );
    for (req, marker, hashes) in lines {
        out.push_str(req);
        if let Some(m) = marker {
            write!(out, " ; {m}").unwrap();
        }
        for h in hashes {
            write!(out, " \\\n    --hash=sha256:{h}").unwrap();
        }
        out.push('\n');
    }
    out
}

// ---- the server -----------------------------------------------------------------------------

type Hits = Arc<Mutex<BTreeMap<String, usize>>>;

/// A static file server on 127.0.0.1 counting requests per path, like `kiln_test`'s
/// `FixtureServer`, but a path ending in `/` is its directory's `index.html` served as
/// `text/html` (what a simple index looks like to pip and to Kiln). It runs until the process
/// ends.
#[derive(Debug, Clone)]
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The served directory.
    pub root: PathBuf,
    hits: Hits,
}

impl Server {
    /// Serve `root` on a free port.
    pub fn start(root: &Path) -> Self {
        std::fs::create_dir_all(root).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits: Hits = Arc::default();
        let (dir, counter) = (root.to_path_buf(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (dir, counter) = (dir.clone(), counter.clone());
                std::thread::spawn(move || serve(stream, &dir, &counter));
            }
        });
        Self {
            base: format!("http://{addr}"),
            root: root.to_path_buf(),
            hits,
        }
    }

    /// `http://127.0.0.1:PORT/simple`, the index URL.
    pub fn index_url(&self) -> String {
        format!("{}/simple", self.base)
    }

    /// Requests for `path` so far.
    pub fn hits(&self, path: &str) -> usize {
        self.all_hits().get(path).copied().unwrap_or(0)
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

fn serve(stream: TcpStream, root: &Path, hits: &Mutex<BTreeMap<String, usize>>) {
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
        let method = parts.next().unwrap_or("").to_owned();
        let path = target_path(parts.next().unwrap_or("/"));
        *hits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(path.clone())
            .or_default() += 1;
        let (status, content_type, body, location) = respond(root, &path);
        let mut response = format!(
            "HTTP/1.1 {status}\r\n{location}content-length: {}\r\ncontent-type: {content_type}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if method != "HEAD" {
            response.extend_from_slice(&body);
        }
        if out.write_all(&response).is_err() || close {
            return;
        }
    }
}

/// The path of a request target (an absolute URL gives its path), query dropped, the escapes
/// URL libraries use for `+`, `/`, `~` and `%` decoded.
fn target_path(raw: &str) -> String {
    let raw = raw
        .strip_prefix("http://")
        .map_or(raw, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
    let raw = raw.split(['?', '#']).next().unwrap_or(raw);
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).unwrap_or("");
        match u8::from_str_radix(code, 16) {
            Ok(b) if b.is_ascii() => {
                out.push(char::from(b));
                rest = &rest[i + 3..];
            }
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn respond(root: &Path, path: &str) -> (&'static str, &'static str, Vec<u8>, String) {
    let not_found = (
        "404 Not Found",
        "text/plain",
        b"not found".to_vec(),
        String::new(),
    );
    if path.split('/').any(|s| s == "..") {
        return not_found;
    }
    let rel = path.trim_start_matches('/');
    let file = root.join(rel);
    if path.ends_with('/') {
        return match std::fs::read(file.join("index.html")) {
            Ok(b) => ("200 OK", "text/html; charset=utf-8", b, String::new()),
            Err(_) => not_found,
        };
    }
    if file.is_dir() {
        return (
            "301 Moved Permanently",
            "text/plain",
            Vec::new(),
            format!("location: {path}/\r\n"),
        );
    }
    match std::fs::read(&file) {
        Ok(b) => {
            let ct = if rel.ends_with(".html") {
                "text/html; charset=utf-8"
            } else {
                "application/octet-stream"
            };
            ("200 OK", ct, b, String::new())
        }
        Err(_) => not_found,
    }
}

// ---- the CPython distribution ---------------------------------------------------------------

/// The CPython install the distribution is made from: `KILN_TEST_PYTHON_PREFIX`, else the
/// `sys.base_prefix` of `python3` on `PATH` (pyenv's on the CI machines), else `/usr`.
///
/// Debian's own `/usr/bin/python3.11` cannot be used: it links `libexpat.so.1`, which the
/// minbase run image lacks, and it has no `RUNPATH` to point at a library shipped beside it.
/// A prefix install (`bin/python3.X` linked to `lib/libpython3.X.so.1.0` through an absolute
/// `RUNPATH`, or statically) is made relocatable the way python-build-standalone is: the
/// `RUNPATH` is rewritten in place to `$ORIGIN/../lib`.
pub fn source_prefix() -> PathBuf {
    if let Some(p) = std::env::var_os("KILN_TEST_PYTHON_PREFIX") {
        return PathBuf::from(p);
    }
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.base_prefix)"])
        .env_remove("PYTHONHOME")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            PathBuf::from(String::from_utf8(o.stdout).unwrap().trim().to_owned())
        }
        _ => PathBuf::from("/usr"),
    }
}

/// `X.Y.Z` of the interpreter at `<prefix>/bin/python3`.
pub fn prefix_version(prefix: &Path) -> String {
    let out = Command::new(prefix.join("bin/python3"))
        .args([
            "-c",
            "import sys; print('.'.join(map(str, sys.version_info[:3])))",
        ])
        .output()
        .unwrap_or_else(|e| panic!("run {}/bin/python3: {e}", prefix.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The dynamic section of an ELF64 little-endian file: the `DT_NEEDED` names and the
/// `DT_RUNPATH`/`DT_RPATH` string with its file offset.
#[derive(Debug, Default)]
pub struct ElfDynamic {
    /// `DT_NEEDED` libraries.
    pub needed: Vec<String>,
    /// `(file offset, string)` of the run path.
    pub runpath: Option<(usize, String)>,
}

/// Parse the dynamic section of `data` (x86_64/aarch64 ELF64 LE only).
pub fn elf_dynamic(data: &[u8]) -> ElfDynamic {
    let u16_at = |o: usize| u16::from_le_bytes(data[o..o + 2].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(data[o..o + 8].try_into().unwrap());
    let us = |v: u64| usize::try_from(v).unwrap();
    assert_eq!(&data[..4], b"\x7fELF", "not an ELF file");
    assert_eq!((data[4], data[5]), (2, 1), "not ELF64 little-endian");
    let (phoff, phentsize, phnum) = (us(u64_at(0x20)), usize::from(u16_at(0x36)), u16_at(0x38));
    // (type, offset, vaddr, filesz) of each program header.
    let headers: Vec<(u32, u64, u64, u64)> = (0..usize::from(phnum))
        .map(|i| {
            let h = phoff + i * phentsize;
            (
                u32::from_le_bytes(data[h..h + 4].try_into().unwrap()),
                u64_at(h + 8),
                u64_at(h + 16),
                u64_at(h + 32),
            )
        })
        .collect();
    let to_offset = |vaddr: u64| -> usize {
        let (_, off, va, _) = headers
            .iter()
            .find(|(t, _, va, sz)| *t == 1 && vaddr >= *va && vaddr < va + sz)
            .expect("address in a PT_LOAD segment");
        us(vaddr - va + off)
    };
    let Some(&(_, dyn_off, _, dyn_size)) = headers.iter().find(|h| h.0 == 2) else {
        return ElfDynamic::default(); // static
    };
    let mut entries = Vec::new();
    let (mut strtab, mut i) = (0u64, us(dyn_off));
    while i + 16 <= us(dyn_off + dyn_size) {
        let (tag, val) = (u64_at(i), u64_at(i + 8));
        if tag == 0 {
            break;
        }
        if tag == 5 {
            strtab = val;
        }
        entries.push((tag, val));
        i += 16;
    }
    let base = to_offset(strtab);
    let string_at = |o: usize| -> String {
        let end = data[o..].iter().position(|b| *b == 0).unwrap();
        String::from_utf8_lossy(&data[o..o + end]).into_owned()
    };
    let mut out = ElfDynamic::default();
    for (tag, val) in entries {
        let o = base + us(val);
        match tag {
            1 => out.needed.push(string_at(o)),
            15 | 29 => out.runpath = Some((o, string_at(o))),
            _ => {}
        }
    }
    out
}

/// Libraries every Debian (minbase) run image has.
const BASE_LIBS: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "libutil.so.1",
    "librt.so.1",
    "libz.so.1",
    "ld-linux-x86-64.so.2",
];

/// The made CPython distribution.
#[derive(Debug, Clone)]
pub struct PythonDist {
    /// Full version, `3.11.7`.
    pub version: String,
    /// The tarball kept in `target/`.
    pub kept: PathBuf,
    /// Its sha256 (hex).
    pub sha256: String,
    /// The release directory and file name below the python-build-standalone download
    /// prefix: `kilntest/cpython-3.11.7+kilntest-x86_64-unknown-linux-gnu-install_only.tar.gz`.
    pub release_path: String,
}

/// The python-build-standalone download prefix that `KILN_PYTHON_DIST_URL` replaces.
pub const PBS_PREFIX: &str =
    "https://github.com/astral-sh/python-build-standalone/releases/download";

/// Names left out of the standard library anywhere (tests, bytecode) and at its top (what an
/// app server never imports and the big parts that only tools use).
const SKIP_ANYWHERE: &[&str] = &["__pycache__", "test", "tests", "idle_test"];
const SKIP_TOP: &[&str] = &[
    "site-packages",
    "dist-packages",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "pydoc_data",
    "turtle.py",
];

/// The relocatable CPython tarball (python-build-standalone "install_only" layout: one
/// `python/` directory with `bin/python3.X`, `bin/python3` and `bin/python` links,
/// `lib/libpython3.X.so.1.0` when the interpreter is shared, and `lib/python3.X` without
/// tests, bytecode, `site-packages` contents, Tk, IDLE, lib2to3 and ensurepip), made once from
/// [`source_prefix`] and kept in `target/kiln-test-python-dist/`; checked by running it from a
/// temporary directory.
pub fn python_dist() -> PythonDist {
    static MAKING: Mutex<Option<PythonDist>> = Mutex::new(None);
    let mut made = MAKING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(d) = made.as_ref() {
        return d.clone();
    }
    let prefix = source_prefix();
    let version = prefix_version(&prefix);
    let tag = "kilntest";
    let file = format!("cpython-{version}+{tag}-x86_64-unknown-linux-gnu-install_only.tar.gz");
    let key = &sha256_hex(prefix.to_string_lossy().as_bytes())[..12];
    let kept = super::support::root()
        .join("target/kiln-test-python-dist")
        .join(key)
        .join(&file);
    if !kept.is_file() {
        let data = make_dist(&prefix, &version);
        let dir = kept.parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let check = tempfile::tempdir_in(dir).unwrap();
        check_relocatable(&data, check.path(), &minor_of(&version));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).unwrap();
        tmp.write_all(&data).unwrap();
        tmp.persist(&kept).unwrap();
    }
    let sha256 = sha256_hex(&std::fs::read(&kept).unwrap());
    let dist = PythonDist {
        version,
        kept,
        sha256,
        release_path: format!("{tag}/{file}"),
    };
    *made = Some(dist.clone());
    dist
}

impl PythonDist {
    /// Copy the tarball under `<served>/<dist_dir>/<release_path>`.
    pub fn serve(&self, served: &Path, dist_dir: &str) {
        let target = served.join(dist_dir).join(&self.release_path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&self.kept, &target).unwrap();
    }

    /// The inventory listing this release (one `[[release]]`) at its python-build-standalone
    /// URL.
    pub fn inventory_toml(&self) -> String {
        format!(
            "[[release]]\nversion = \"{}\"\nos = \"linux\"\narch = \"x86_64\"\nurl = \"{PBS_PREFIX}/{}\"\nsha256 = \"{}\"\n",
            self.version, self.release_path, self.sha256
        )
    }

    /// `3.11`.
    pub fn minor(&self) -> String {
        minor_of(&self.version)
    }

    /// `cp311`.
    pub fn cp(&self) -> String {
        cp_tag(&self.version)
    }
}

/// A file of the distribution: contents and mode, or a symlink target.
enum DistEntry {
    Dir,
    File(Vec<u8>, u32),
    Link(String),
}

fn make_dist(prefix: &Path, version: &str) -> Vec<u8> {
    use std::os::unix::fs::PermissionsExt as _;
    let minor = minor_of(version);
    let exe_name = format!("python{minor}");
    let mut entries: BTreeMap<String, DistEntry> = BTreeMap::new();
    let add_dirs = |entries: &mut BTreeMap<String, DistEntry>, path: &str| {
        let mut acc = String::new();
        for part in path
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            entries.entry(acc.clone()).or_insert(DistEntry::Dir);
        }
    };

    // The interpreter, relocated.
    let exe_path = prefix.join("bin").join(&exe_name);
    let mut exe =
        std::fs::read(&exe_path).unwrap_or_else(|e| panic!("read {}: {e}", exe_path.display()));
    let dynamic = elf_dynamic(&exe);
    let libpython = format!("libpython{minor}.so.1.0");
    for lib in &dynamic.needed {
        assert!(
            BASE_LIBS.contains(&lib.as_str()) || *lib == libpython,
            "{} needs {lib}, which the Debian run image lacks; set KILN_TEST_PYTHON_PREFIX to a \
             CPython installed under a prefix (e.g. pyenv's) for the Python tests",
            exe_path.display()
        );
    }
    if dynamic.needed.contains(&libpython) {
        let (offset, old) = dynamic.runpath.unwrap_or_else(|| {
            panic!(
                "{} links {libpython} without a RUNPATH; it cannot be relocated",
                exe_path.display()
            )
        });
        let new = "$ORIGIN/../lib";
        assert!(
            old.len() >= new.len(),
            "RUNPATH {old:?} is too short to rewrite"
        );
        exe[offset..offset + old.len()].fill(0);
        exe[offset..offset + new.len()].copy_from_slice(new.as_bytes());
        let lib_path = prefix.join("lib").join(&libpython);
        let lib = stripped(&lib_path);
        for needed in elf_dynamic(&lib).needed {
            assert!(
                BASE_LIBS.contains(&needed.as_str()),
                "{} needs {needed}, which the Debian run image lacks",
                lib_path.display()
            );
        }
        entries.insert(format!("lib/{libpython}"), DistEntry::File(lib, 0o755));
    }
    entries.insert(format!("bin/{exe_name}"), DistEntry::File(exe, 0o755));
    entries.insert("bin/python3".into(), DistEntry::Link(exe_name.clone()));
    entries.insert("bin/python".into(), DistEntry::Link(exe_name.clone()));

    // The standard library.
    let stdlib = prefix.join("lib").join(&exe_name);
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            stdlib.clone()
        } else {
            stdlib.join(&rel)
        };
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if SKIP_ANYWHERE.contains(&name.as_str())
                || (rel.is_empty()
                    && (SKIP_TOP.contains(&name.as_str()) || name.starts_with("config-")))
            {
                continue;
            }
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::metadata(e.path()).unwrap();
            if meta.is_dir() {
                stack.push(child);
            } else if !name.ends_with(".pyc") {
                let data = if name.ends_with(".so") {
                    stripped(&e.path())
                } else {
                    std::fs::read(e.path()).unwrap()
                };
                let mode = if meta.permissions().mode() & 0o111 == 0 {
                    0o644
                } else {
                    0o755
                };
                entries.insert(
                    format!("lib/{exe_name}/{child}"),
                    DistEntry::File(data, mode),
                );
            }
        }
    }
    entries.insert(
        format!("lib/{exe_name}/site-packages/README.txt"),
        DistEntry::File(
            b"This directory exists so that 3rd party packages can be installed here.\n".to_vec(),
            0o644,
        ),
    );
    let paths: Vec<String> = entries.keys().cloned().collect();
    for p in paths {
        add_dirs(&mut entries, &p);
    }

    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    let mut tar = tar::Builder::new(gz);
    let mut dir_header = tar::Header::new_gnu();
    dir_header.set_entry_type(tar::EntryType::Directory);
    dir_header.set_mode(0o755);
    dir_header.set_size(0);
    dir_header.set_mtime(0);
    tar.append_data(&mut dir_header.clone(), "python/", std::io::empty())
        .unwrap();
    for (path, entry) in &entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        let name = format!("python/{path}");
        match entry {
            DistEntry::Dir => {
                tar.append_data(
                    &mut dir_header.clone(),
                    format!("{name}/"),
                    std::io::empty(),
                )
                .unwrap();
            }
            DistEntry::File(data, mode) => {
                h.set_size(data.len() as u64);
                h.set_mode(*mode);
                tar.append_data(&mut h, &name, data.as_slice()).unwrap();
            }
            DistEntry::Link(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                tar.append_link(&mut h, &name, target).unwrap();
            }
        }
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// `path` without debug information when `strip` is there, else as it is.
fn stripped(path: &Path) -> Vec<u8> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(out.path())
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        std::fs::read(out.path()).unwrap()
    } else {
        std::fs::read(path).unwrap()
    }
}

/// Unpack `tarball` into `dir` and run its interpreter there with a clean environment: it
/// must import what the test apps use and report `dir/python` as its prefix, with libpython
/// (when shared) loaded from `dir`.
pub fn check_relocatable(tarball: &[u8], dir: &Path, minor: &str) {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tarball));
    archive.unpack(dir).unwrap();
    let exe = dir.join("python/bin").join(format!("python{minor}"));
    let script = "import sys, json, wsgiref.simple_server, venv, zipfile, hashlib, email\n\
                  libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'libpython' in l})\n\
                  print(sys.prefix)\n\
                  print(','.join(libs))";
    let out = Command::new(&exe)
        .args(["-I", "-c", script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the CPython distribution does not run from {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let prefix = dir.join("python");
    assert_eq!(
        lines.next().map(PathBuf::from),
        Some(prefix.clone()),
        "not relocatable: {stdout}"
    );
    for lib in lines
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|l| !l.is_empty())
    {
        assert!(
            Path::new(lib).starts_with(&prefix),
            "libpython comes from {lib}, not the unpacked distribution"
        );
    }
}

// ---- the reference install ------------------------------------------------------------------

/// Install `requirements` with the machine's pip, as a user would (`--require-hashes
/// --no-deps`, wheels only, no bytecode) from `index_url`, into a fresh venv at `venv` made by
/// the interpreter the CPython distribution comes from; returns its site-packages directory.
pub fn pip_reference(index_url: &str, requirements: &Path, venv: &Path) -> PathBuf {
    let prefix = source_prefix();
    let version = prefix_version(&prefix);
    let minor = minor_of(&version);
    let made = Command::new(prefix.join("bin/python3"))
        .args(["-m", "venv", "--without-pip"])
        .arg(venv)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "python3 -m venv: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut cmd = Command::new("python3");
    // Nothing of the user's pip configuration or cache.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PIP_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("PIP_CONFIG_FILE", "/dev/null")
        .args(["-m", "pip", "--isolated", "--disable-pip-version-check"])
        .arg("--python")
        .arg(venv.join("bin/python"))
        .args([
            "install",
            "--no-cache-dir",
            "--no-compile",
            "--no-deps",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "--index-url",
            index_url,
            "-r",
        ])
        .arg(requirements)
        .output()
        .expect("python3 -m pip (pip is needed for the reference install)");
    assert!(
        out.status.success(),
        "pip install failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    venv.join("lib")
        .join(format!("python{minor}"))
        .join("site-packages")
}

// ---- reading an image -----------------------------------------------------------------------

/// Unpack the part of image `layout:tag` under `prefix` (an absolute path, e.g. [`VENV`])
/// into `dest`, layer by layer (later layers win): directories, files with their modes, and
/// symlinks as symlinks.
pub fn unpack_image_path(layout: &Path, tag: &str, prefix: &str, dest: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let image = kiln_oci::OciLayout::open(layout)
        .unwrap()
        .resolve(Some(tag))
        .unwrap();
    let want = prefix.trim_start_matches('/').trim_end_matches('/');
    std::fs::create_dir_all(dest).unwrap();
    for layer in &image.manifest.layers {
        let blob = layout
            .join("blobs")
            .join(layer.digest.algorithm())
            .join(layer.digest.hex());
        let file = std::fs::File::open(&blob).unwrap();
        let reader: Box<dyn std::io::Read> = if layer.media_type.ends_with("zstd") {
            panic!(
                "zstd layers are not read by these tests ({})",
                layer.media_type
            )
        } else if layer.media_type.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut archive = tar::Archive::new(reader);
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let path = path.trim_start_matches("./").trim_start_matches('/');
            let path = path.trim_end_matches('/');
            let Some(rel) = path.strip_prefix(want) else {
                continue;
            };
            if !(rel.is_empty() || rel.starts_with('/')) {
                continue;
            }
            let rel = rel.trim_start_matches('/');
            let out = dest.join(rel);
            match e.header().entry_type() {
                tar::EntryType::Directory => std::fs::create_dir_all(&out).unwrap(),
                tar::EntryType::Symlink => {
                    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
                    let _ = std::fs::remove_file(&out);
                    let target = e.link_name().unwrap().unwrap().into_owned();
                    std::os::unix::fs::symlink(target, &out).unwrap();
                }
                tar::EntryType::Regular => {
                    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
                    let _ = std::fs::remove_file(&out);
                    let mut data = Vec::new();
                    e.read_to_end(&mut data).unwrap();
                    std::fs::write(&out, &data).unwrap();
                    let mode = e.header().mode().unwrap() & 0o7777;
                    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(mode)).unwrap();
                }
                _ => {}
            }
        }
    }
}

/// `(name, version)` of every `*.dist-info` in `site_packages`, sorted.
pub fn installed(site_packages: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(site_packages) else {
        return out;
    };
    for e in entries {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".dist-info")
            && let Some((n, v)) = stem.split_once('-')
        {
            out.push((normalise(n), v.to_owned()));
        }
    }
    out.sort();
    out
}

/// The `Tag:` lines of an installed distribution's `WHEEL`.
pub fn installed_tags(site_packages: &Path, dist_info: &str) -> Vec<String> {
    let text = std::fs::read_to_string(site_packages.join(dist_info).join("WHEEL")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("Tag: "))
        .map(str::to_owned)
        .collect()
}

/// Rows of a RECORD: (path, hash, size).
pub fn record_rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // Paths with commas are quoted (csv); the fixtures have none, so split from the
            // right.
            let mut parts = l.rsplitn(3, ',');
            let size = parts.next().unwrap_or("").to_owned();
            let hash = parts.next().unwrap_or("").to_owned();
            let path = parts.next().unwrap_or("").trim_matches('"').to_owned();
            (path, hash, size)
        })
        .collect()
}

fn is_bytecode(path: &str) -> bool {
    path.contains("__pycache__/") || path.ends_with(".pyc")
}

/// Dist-info files the installer writes itself (not from the wheel).
const INSTALLER_FILES: &[&str] = &["INSTALLER", "RECORD", "REQUESTED", "direct_url.json"];

/// Differences between the venv Kiln made (`kiln_venv`, unpacked from the image; its root is
/// [`VENV`] in the image) and pip's reference site-packages (`pip_site`, in the venv at
/// `pip_venv`): the distributions, each RECORD's path list, the contents of every installed
/// file (scripts' `#!` lines compared as "the venv's python"), Kiln's RECORD hashes and sizes
/// against its files, `INSTALLER` = `kiln`. `launchers` are console/GUI scripts, which
/// installers write from a template of their own: for those only the `#!` line, the
/// executable bit and the entry point named are compared. Empty when they agree.
pub fn compare_with_pip(
    kiln_venv: &Path,
    pip_venv: &Path,
    pip_site: &Path,
    launchers: &[(&str, &str, &str)],
) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut diffs = Vec::new();
    let rel_site = pip_site.strip_prefix(pip_venv).unwrap();
    let kiln_site = kiln_venv.join(rel_site);
    let pip_dists = installed(pip_site);
    let kiln_dists = installed(&kiln_site);
    if pip_dists != kiln_dists {
        diffs.push(format!(
            "distributions: pip {pip_dists:?}, kiln {kiln_dists:?}"
        ));
    }
    let launcher_paths: BTreeMap<String, (&str, &str)> = launchers
        .iter()
        .map(|(name, module, func)| (format!("../../../bin/{name}"), (*module, *func)))
        .collect();
    let normalise_script = |data: &[u8], venv: &str| -> Vec<u8> {
        let text = String::from_utf8_lossy(data);
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let first = first.replace(&format!("{venv}/bin/python"), "<venv>/bin/python");
        format!("{first}\n{rest}").into_bytes()
    };
    let pip_root = pip_venv.to_string_lossy().into_owned();
    for entry in std::fs::read_dir(pip_site).unwrap() {
        let di = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !di.ends_with(".dist-info") {
            continue;
        }
        let read_record = |site: &Path| {
            std::fs::read_to_string(site.join(&di).join("RECORD")).map(|t| record_rows(&t))
        };
        let pip_rows = read_record(pip_site).unwrap();
        let Ok(kiln_rows) = read_record(&kiln_site) else {
            diffs.push(format!("{di}: no RECORD in Kiln's venv"));
            continue;
        };
        let keep = |rows: &[(String, String, String)]| -> BTreeSet<String> {
            rows.iter()
                .map(|r| r.0.clone())
                .filter(|p| !is_bytecode(p))
                .collect()
        };
        let (pip_paths, kiln_paths) = (keep(&pip_rows), keep(&kiln_rows));
        if pip_paths != kiln_paths {
            diffs.push(format!(
                "{di}/RECORD paths: only pip {:?}, only kiln {:?}",
                pip_paths.difference(&kiln_paths).collect::<Vec<_>>(),
                kiln_paths.difference(&pip_paths).collect::<Vec<_>>()
            ));
        }
        // Kiln's RECORD describes Kiln's files.
        for (path, hash, size) in &kiln_rows {
            let file = kiln_site.join(path);
            if hash.is_empty() {
                continue;
            }
            match std::fs::read(&file) {
                Ok(data) => {
                    if *hash != record_hash(&data) || *size != data.len().to_string() {
                        diffs.push(format!("{di}/RECORD: {path} is not {hash},{size}"));
                    }
                }
                Err(e) => diffs.push(format!("{di}/RECORD names {path}, which is missing: {e}")),
            }
        }
        for path in pip_paths.intersection(&kiln_paths) {
            let file_name = path.rsplit('/').next().unwrap_or("");
            if path.starts_with(&di) && INSTALLER_FILES.contains(&file_name) {
                continue;
            }
            let (pf, kf) = (pip_site.join(path), kiln_site.join(path));
            let (Ok(pd), Ok(kd)) = (std::fs::read(&pf), std::fs::read(&kf)) else {
                diffs.push(format!("{path}: unreadable in Kiln's venv"));
                continue;
            };
            let pip_exec = std::fs::metadata(&pf).unwrap().permissions().mode() & 0o111 != 0;
            let kiln_exec = std::fs::metadata(&kf).unwrap().permissions().mode() & 0o111 != 0;
            if pip_exec != kiln_exec {
                diffs.push(format!(
                    "{path}: executable for pip {pip_exec}, for kiln {kiln_exec}"
                ));
            }
            if let Some((module, func)) = launcher_paths.get(path) {
                let text = String::from_utf8_lossy(&kd);
                let first = text.lines().next().unwrap_or("");
                if first != format!("#!{VENV}/bin/python") {
                    diffs.push(format!("{path}: #! line {first:?}"));
                }
                if !text.contains(&format!("from {module} import {func}")) {
                    diffs.push(format!("{path}: does not import {module}:{func}:\n{text}"));
                }
                continue;
            }
            if path.starts_with("../../../bin/") {
                let (pn, kn) = (
                    normalise_script(&pd, &pip_root),
                    normalise_script(&kd, VENV),
                );
                if pn != kn {
                    diffs.push(format!(
                        "{path}: pip\n{}\nkiln\n{}",
                        String::from_utf8_lossy(&pn),
                        String::from_utf8_lossy(&kn)
                    ));
                }
            } else if pd != kd {
                diffs.push(format!("{path}: contents differ"));
            }
        }
        match std::fs::read_to_string(kiln_site.join(&di).join("INSTALLER")) {
            Ok(t) if t.trim() == "kiln" => {}
            other => diffs.push(format!("{di}/INSTALLER: {other:?}")),
        }
    }
    diffs
}
