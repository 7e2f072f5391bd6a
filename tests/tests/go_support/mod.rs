//! Fixtures of the Go tests and benchmark: the machine's Go (Debian's `golang-go`) packaged
//! as a go.dev-style release, a module proxy with two modules (one requiring the other), an
//! app using them, and `kiln build` of it against a local server.

#![allow(dead_code, clippy::missing_panics_doc)]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use kiln_test::FixtureServer as Server;
use sha2::Digest as _;

use super::support::{Output, kiln_command, root, run};

/// `go env NAME` of the machine's Go.
pub fn go_env(name: &str) -> String {
    let out = Command::new("go")
        .args(["env", name])
        .output()
        .expect("Go is needed for the Go tests (apt-get install golang-go)");
    assert!(out.status.success(), "go env {name} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Files of the GOROOT that `go build` uses (links followed): `VERSION`, `bin/`,
/// `pkg/tool/`, `pkg/include/` and `src/` without tests.
pub fn goroot_files(goroot: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack: Vec<String> = ["VERSION", "bin", "pkg/tool", "pkg/include", "src"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    while let Some(rel) = stack.pop() {
        let path = goroot.join(&rel);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                let name = e.unwrap().file_name().into_string().unwrap();
                if name != "testdata" && !name.ends_with("_test.go") {
                    stack.push(format!("{rel}/{name}"));
                }
            }
        } else {
            out.push((rel, path));
        }
    }
    out.sort();
    out
}

/// `go<V>.linux-amd64.tar.gz` with a top `go/` directory, made from the machine's GOROOT once
/// and kept in `target/`; returns (version without `go`, path, sha256).
pub fn go_dist() -> (String, PathBuf, String) {
    use std::os::unix::fs::PermissionsExt as _;
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let version = go_env("GOVERSION").trim_start_matches("go").to_owned();
    let kept = root()
        .join("target/kiln-test-go-dist")
        .join(format!("go{version}.linux-amd64.tar.gz"));
    let guard = MAKING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !kept.is_file() {
        let goroot = PathBuf::from(go_env("GOROOT"));
        let dir = kept.parent().unwrap();
        std::fs::create_dir_all(dir).unwrap();
        let tmp = tempfile::NamedTempFile::new_in(dir).unwrap();
        let gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(tmp.as_file()),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (rel, path) in goroot_files(&goroot) {
            let data = std::fs::read(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(mode);
            h.set_mtime(0);
            h.set_cksum();
            tar.append_data(&mut h, format!("go/{rel}"), data.as_slice())
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
        tmp.persist(&kept).unwrap();
    }
    drop(guard);
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&kept).unwrap()));
    (version, kept, sha)
}

/// A zip of `files` (name, contents), entries stored uncompressed.
pub fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    let u16_of = |n: usize| u16::try_from(n).unwrap().to_le_bytes();
    let u32_of = |n: usize| u32::try_from(n).unwrap().to_le_bytes();
    for (name, data) in files {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let offset = out.len();
        // version 2.0, no flags, stored, 1980-01-01, crc, sizes, name length, no extra.
        let mut fields = Vec::new();
        for v in [20u16, 0, 0, 0, 0x21] {
            fields.extend_from_slice(&v.to_le_bytes());
        }
        fields.extend_from_slice(&crc.sum().to_le_bytes());
        fields.extend_from_slice(&u32_of(data.len()));
        fields.extend_from_slice(&u32_of(data.len()));
        fields.extend_from_slice(&u16_of(name.len()));
        fields.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&fields);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&fields);
        central.extend_from_slice(&[0; 10]);
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

/// Go's `h1:` hash (dirhash `Hash1`) of files given by name and contents.
pub fn h1(files: &[(String, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut summary = String::new();
    for (name, data) in sorted {
        writeln!(
            summary,
            "{}  {name}",
            hex::encode(sha2::Sha256::digest(data))
        )
        .unwrap();
    }
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(summary))
    )
}

/// Publish `path@v1.0.0` (its go.mod and `files`) on the proxy under `proxy_dir`; returns
/// its two go.sum lines.
pub fn publish(proxy_dir: &Path, path: &str, go_mod: &str, files: &[(&str, &str)]) -> String {
    let version = "v1.0.0";
    let dir = proxy_dir.join(path).join("@v");
    std::fs::create_dir_all(&dir).unwrap();
    let mut entries = vec![(
        format!("{path}@{version}/go.mod"),
        go_mod.as_bytes().to_vec(),
    )];
    for (name, text) in files {
        entries.push((format!("{path}@{version}/{name}"), text.as_bytes().to_vec()));
    }
    std::fs::write(dir.join(format!("{version}.mod")), go_mod).unwrap();
    std::fs::write(dir.join(format!("{version}.zip")), zip(&entries)).unwrap();
    std::fs::write(
        dir.join(format!("{version}.info")),
        format!(r#"{{"Version":"{version}"}}"#),
    )
    .unwrap();
    std::fs::write(dir.join("list"), format!("{version}\n")).unwrap();
    let mod_h1 = h1(&[("go.mod".to_owned(), go_mod.as_bytes().to_vec())]);
    format!(
        "{path} {version} {}\n{path} {version}/go.mod {mod_h1}\n",
        h1(&entries)
    )
}

pub const MAIN_GO: &str = r#"package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"

	"example.com/greet"
)

func handler(w http.ResponseWriter, r *http.Request) {
	fmt.Fprint(w, greet.Hello("kiln"))
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if os.Getenv("SELFTEST") == "" {
		http.HandleFunc("/", handler)
		if err := http.ListenAndServe(":"+port, nil); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		return
	}
	// Serve in the background and query it, for a test without curl.
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Printf("response: %s (direct: %v)\n", greet.Hello("kiln"), err)
		return
	}
	go http.Serve(l, http.HandlerFunc(handler))
	res, err := http.Get("http://" + l.Addr().String() + "/")
	if err != nil {
		fmt.Printf("response: %s (direct: %v)\n", greet.Hello("kiln"), err)
		return
	}
	body, _ := io.ReadAll(res.Body)
	fmt.Printf("response: %s (http)\n", body)
}
"#;

pub const HELLO_GO: &str = r#"package main

import (
	"fmt"

	"example.com/greet"
)

func main() {
	fmt.Println("hello binary: " + greet.Hello("cmd"))
}
"#;

/// The fixture server (Go release + module proxy), the app, the caches.
pub struct World {
    /// Scratch space: caches, layouts, the served files.
    pub work: tempfile::TempDir,
    /// Serves `/dl` (the Go release) and `/proxy` (the module proxy).
    pub server: Server,
    /// The app.
    pub app: PathBuf,
    /// The Go version of the release.
    pub version: String,
}

impl World {
    pub fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let served_dir = work.path().join("served");
        let (version, tarball, sha) = go_dist();
        let dl = served_dir.join("dl");
        std::fs::create_dir_all(&dl).unwrap();
        let name = tarball.file_name().unwrap();
        if std::fs::hard_link(&tarball, dl.join(name)).is_err() {
            std::fs::copy(&tarball, dl.join(name)).unwrap();
        }
        let proxy = served_dir.join("proxy");
        let mut go_sum = publish(
            &proxy,
            "example.com/greet",
            "module example.com/greet\n\ngo 1.19\n\nrequire example.com/words v1.0.0\n",
            &[(
                "greet.go",
                "package greet\n\nimport \"example.com/words\"\n\n// Hello greets name.\nfunc Hello(name string) string { return words.Hello + \", \" + name + \"!\" }\n",
            )],
        );
        go_sum.push_str(&publish(
            &proxy,
            "example.com/words",
            "module example.com/words\n\ngo 1.19\n",
            &[(
                "words.go",
                "package words\n\n// Hello is the greeting.\nconst Hello = \"Hello\"\n",
            )],
        ));
        let app = work.path().join("app");
        std::fs::create_dir_all(app.join("cmd/hello")).unwrap();
        std::fs::write(
            app.join("go.mod"),
            "module example.com/app\n\ngo 1.19\n\nrequire example.com/greet v1.0.0\n\nrequire example.com/words v1.0.0 // indirect\n",
        )
        .unwrap();
        std::fs::write(app.join("go.sum"), go_sum).unwrap();
        std::fs::write(app.join("main.go"), MAIN_GO).unwrap();
        std::fs::write(app.join("cmd/hello/main.go"), HELLO_GO).unwrap();
        std::fs::write(
            app.join("go-inventory.toml"),
            format!(
                "[[release]]\nversion = \"{version}\"\nos = \"linux\"\narch = \"amd64\"\nurl = \"https://go.dev/dl/go{version}.linux-amd64.tar.gz\"\nsha256 = \"{sha}\"\n"
            ),
        )
        .unwrap();
        let server = Server::start(&served_dir).unwrap();
        Self {
            work,
            server,
            app,
            version,
        }
    }

    /// `kiln build` of `app` into `layout` with the layer cache `cache` (a name in the work
    /// dir); the download cache is shared. `base` is the proxy/mirror server's URL.
    pub fn build(
        &self,
        app: &Path,
        layout: &Path,
        cache: &str,
        base: &str,
        extra: &[&str],
    ) -> Output {
        let mut cmd = kiln_command();
        cmd.arg("build")
            .arg(format!("oci:{}", layout.display()))
            .arg("--path")
            .arg(app)
            .arg("--download-cache")
            .arg(self.work.path().join("downloads"))
            .arg("--cache-dir")
            .arg(self.work.path().join(cache))
            .args(["--env", "KILN_GO_INVENTORY=go-inventory.toml"])
            .arg("--env")
            .arg(format!("KILN_GO_DIST_URL={base}/dl"))
            .arg("--env")
            .arg(format!("GOPROXY={base}/proxy,direct"))
            .args(["--network-allow", "127.0.0.1"])
            .args(extra);
        run(&mut cmd)
    }

    pub fn layout(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }
}
