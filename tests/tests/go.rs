//! The Go buildpack end to end, with no internet: the machine's own Go (Debian's
//! `golang-go`) packaged as a go.dev-style release, a module proxy on 127.0.0.1 with two
//! modules (one requiring the other), and the Debian image as build and run image.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use kiln_test::FixtureServer as Server;
use sha2::Digest as _;
use support::*;

/// `oci:` reference of the Debian image (built once by the shared tools), as in nodejs.rs.
fn debian() -> String {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tools_work_dir().join("images/debian-slim");
    if !dir.join("index.json").is_file() {
        run(Command::new("bash")
            .arg(tools().join("make-debian-base.sh"))
            .env("KILN_TOOLS_DIR", tools_work_dir()))
        .success();
    }
    format!("oci:{}:bookworm-slim", dir.display())
}

/// `go env NAME` of the machine's Go.
fn go_env(name: &str) -> String {
    let out = Command::new("go")
        .args(["env", name])
        .output()
        .expect("Go is needed for the Go tests (apt-get install golang-go)");
    assert!(out.status.success(), "go env {name} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Files of the GOROOT that `go build` uses (links followed): `VERSION`, `bin/`,
/// `pkg/tool/`, `pkg/include/` and `src/` without tests.
fn goroot_files(goroot: &Path) -> Vec<(String, PathBuf)> {
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
fn go_dist() -> (String, PathBuf, String) {
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
fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
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
fn h1(files: &[(String, Vec<u8>)]) -> String {
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
fn publish(proxy_dir: &Path, path: &str, go_mod: &str, files: &[(&str, &str)]) -> String {
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

const MAIN_GO: &str = r#"package main

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

const HELLO_GO: &str = r#"package main

import (
	"fmt"

	"example.com/greet"
)

func main() {
	fmt.Println("hello binary: " + greet.Hello("cmd"))
}
"#;

/// The fixture server (Go release + module proxy), the app, the caches.
struct World {
    work: tempfile::TempDir,
    server: Server,
    app: PathBuf,
    version: String,
}

impl World {
    fn new() -> Self {
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
    fn build(&self, app: &Path, layout: &Path, cache: &str, base: &str, extra: &[&str]) -> Output {
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

    fn layout(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }
}

fn all_output(o: &Output) -> String {
    format!("{}\n{}", o.stdout, o.stderr)
}

/// A URL on 127.0.0.1 where nothing listens.
fn dead_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn go_app_builds_offline_runs_is_reproducible_and_rebuilds_from_cache() {
    let w = World::new();
    let image = debian();
    let images = [
        "--build-image",
        image.as_str(),
        "--run-image",
        image.as_str(),
    ];
    let base = w.server.base.clone();

    let started = std::time::Instant::now();
    let cold = w
        .build(&w.app, &w.layout("image"), "cache", &base, &images)
        .success();
    let cold_time = started.elapsed();
    let text = all_output(&cold);
    assert!(
        text.contains(&format!("Go {} for linux/amd64 (go 1.19)", w.version)),
        "{text}"
    );
    assert!(text.contains("Downloads: fetched 5 "), "{text}");
    assert_eq!(w.server.hits("/proxy/example.com/words/@v/v1.0.0.zip"), 1);
    assert_eq!(w.server.hits("/proxy/example.com/greet/@v/v1.0.0.mod"), 1);

    // The web process serves the greeting of the two modules over HTTP.
    let ran = run_image(&w.layout("image"), "latest", &["-e", "SELFTEST=1"], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("response: Hello, kiln! (http)"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
    // The second main package is a binary on the launch PATH.
    let hello = run_image(
        &w.layout("image"),
        "latest",
        &["--entrypoint", "/cnb/lifecycle/launcher"],
        &["--", "hello"],
    );
    assert_eq!(
        hello.stdout.trim(),
        "hello binary: Hello, cmd!",
        "{}",
        hello.stderr
    );
    let info = inspect_json(&w.layout("image"), "latest");
    let types: Vec<&str> = info["build"]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["hello", "web"], "{info}");

    // The same app at another path, built from scratch (empty layer cache): the same image.
    let copy = w.work.path().join("elsewhere/app");
    copy_dir(&w.app, &copy);
    let again = w
        .build(&copy, &w.layout("image-2"), "cache-2", &base, &images)
        .success();
    assert_eq!(
        digest_of(&again),
        digest_of(&cold),
        "same inputs, same image"
    );

    // Offline, with the mirror and the proxy unreachable, and go.sum unchanged: everything
    // comes from the layer cache and nothing is downloaded.
    let hits = w.server.total();
    let started = std::time::Instant::now();
    let warm = w
        .build(
            &w.app,
            &w.layout("image"),
            "cache",
            &dead_base(),
            &[&images[..], &["--offline"]].concat(),
        )
        .success();
    let warm_time = started.elapsed();
    let text = all_output(&warm);
    assert_eq!(w.server.total(), hits);
    assert!(!text.contains("Downloads:"), "{text}");
    assert!(
        text.contains("goproxy: cache kept: go.sum is unchanged"),
        "{text}"
    );
    assert!(
        text.contains(&format!("go: cache kept: Go {} is unchanged", w.version)),
        "{text}"
    );
    assert_eq!(digest_of(&warm), digest_of(&cold));
    let ran = run_image(&w.layout("image"), "latest", &["-e", "SELFTEST=1"], &[]);
    assert!(
        ran.stdout.contains("response: Hello, kiln!"),
        "{}",
        ran.stderr
    );

    // One changed file: rebuilt from the kept caches, and the image has the change.
    let main = std::fs::read_to_string(w.app.join("main.go")).unwrap();
    std::fs::write(
        w.app.join("main.go"),
        main.replace(
            r#"greet.Hello("kiln"))"#,
            r#"greet.Hello("kiln")+" again")"#,
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let edited = w
        .build(&w.app, &w.layout("image"), "cache", &base, &images)
        .success();
    let edited_time = started.elapsed();
    assert!(
        all_output(&edited).contains("gocache: cache kept"),
        "{}",
        all_output(&edited)
    );
    assert_ne!(digest_of(&edited), digest_of(&cold));
    let ran = run_image(&w.layout("image"), "latest", &["-e", "SELFTEST=1"], &[]);
    assert!(
        ran.stdout.contains("response: Hello, kiln! again (http)"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );
    eprintln!(
        "go e2e: cold build {cold_time:?}, warm offline build {warm_time:?}, one file changed {edited_time:?}"
    );
}

#[test]
fn a_tampered_module_fails_with_an_integrity_error_naming_its_url() {
    let w = World::new();
    let path = w.server.root.join("proxy/example.com/words/@v/v1.0.0.zip");
    let evil = zip(&[(
        "example.com/words@v1.0.0/words.go".to_owned(),
        b"package words\n\nconst Hello = \"Owned\"\n".to_vec(),
    )]);
    std::fs::write(&path, evil).unwrap();
    let out = w.build(&w.app, &w.layout("image"), "cache", &w.server.base, &[]);
    assert_ne!(out.code, 0);
    let text = all_output(&out);
    assert!(
        text.contains(&format!(
            "{}/proxy/example.com/words/@v/v1.0.0.zip",
            w.server.base
        )),
        "{text}"
    );
    assert!(text.contains("integrity mismatch"), "{text}");
    assert!(text.contains("module example.com/words@v1.0.0"), "{text}");
    assert!(!w.layout("image").exists());
}
