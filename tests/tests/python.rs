//! The Python buildpack end to end, with no internet: a simple index, wheels and a CPython
//! mirror on 127.0.0.1 (counting requests), the Debian run image, and a relocatable CPython
//! made from the machine's own. What Kiln installs is compared with what the machine's pip
//! installs from the same index and lock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod python_support;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use python_support::{
    Index, PythonDist, Server, VENV, Wheel, compare_with_pip, cpython_tag, installed,
    installed_tags, pip_reference, python_dist, requirements_txt, sha256_hex, unpack_image_path,
};
use support::*;

const TINYSERVE_CLI: &str = r#"import importlib
import io
import os
import sys
from wsgiref.validate import validator


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "app:application"
    module_name, _, attr = target.partition(":")
    # Like gunicorn: the app is imported from the working directory.
    sys.path.insert(0, os.getcwd())
    app = getattr(importlib.import_module(module_name), attr or "application")
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "kiln",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": True,
    }
    seen = []

    def start_response(status, headers, exc_info=None):
        seen.append(status)
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    print("status: " + seen[0])
    print("body: " + body.decode())
    return 0
"#;

const TINYSERVE_VERSION: &str =
    "#!python\nimport tinyserve\nprint(\"tinyserve \" + tinyserve.__version__)\n";

const WSGI_APP: &str = r#"import os
import sys


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    body = "hello from wsgi; venv=%s; unbuffered=%s; prefix=%s" % (
        os.environ.get("VIRTUAL_ENV"),
        os.environ.get("PYTHONUNBUFFERED"),
        sys.prefix,
    )
    return [body.encode()]
"#;

/// The body the WSGI app answers in the image.
fn wsgi_body() -> String {
    format!("body: hello from wsgi; venv={VENV}; unbuffered=1; prefix={VENV}")
}

/// The app of the markers, extras and platform test (run as `python main.py`).
const MARKERS_MAIN: &str = r#"import importlib.util
import fancy
import fastcore
import linuxonly
print("paint: " + fancy.paint("kiln"))
print("build: " + fastcore.BUILD)
print("linuxonly: " + linuxonly.WHERE)
print("oldcompat: " + str(importlib.util.find_spec("oldcompat") is not None))
"#;

/// Checks wheels (argv) with Python's zipfile and csv: CRCs, RECORD last and complete, each
/// row's hash and size, the dist-info named as the file, executable data scripts.
const WHEEL_CHECK: &str = r#"import base64, csv, hashlib, io, os, sys, zipfile
for path in sys.argv[1:]:
    z = zipfile.ZipFile(path)
    assert z.testzip() is None, path
    names = z.namelist()
    stem = "-".join(os.path.basename(path).split("-")[:2])
    record = stem + ".dist-info/RECORD"
    assert names[-1] == record, (path, names)
    rows = list(csv.reader(io.StringIO(z.read(record).decode())))
    assert sorted(r[0] for r in rows) == sorted(names), path
    for name, digest, size in rows:
        if name == record:
            assert (digest, size) == ("", ""), path
            continue
        data = z.read(name)
        want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert digest == "sha256=" + want and int(size) == len(data), (path, name)
        if ".data/scripts/" in name:
            assert (z.getinfo(name).external_attr >> 16) & 0o111, (path, name)
print("checked %d" % len(sys.argv[1:]))
"#;

/// A test world: the fixture server (index, files, CPython mirror), an app, caches.
struct World {
    work: tempfile::TempDir,
    server: Server,
    index: Index,
    dist: PythonDist,
    app: PathBuf,
    /// `name==version` (or a wheel file name) → (file name, sha256).
    files: BTreeMap<String, (String, String)>,
}

impl World {
    fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let served_dir = work.path().join("served");
        let dist = python_dist();
        dist.serve(&served_dir, "python-dist");
        let mut index = Index::new(&served_dir);
        let mut files = BTreeMap::new();
        let mut publish = |index: &mut Index, key: &str, wheel: &Wheel| {
            let (file, sha) = index.publish(wheel);
            files.insert(key.to_owned(), (file.clone(), sha.clone()));
            files.insert(file.clone(), (file, sha));
        };

        let mut tinyserve = Wheel::pure(
            "tinyserve",
            "1.0.0",
            &[
                ("tinyserve/__init__.py", "__version__ = \"1.0.0\"\n"),
                ("tinyserve/cli.py", TINYSERVE_CLI),
            ],
        );
        tinyserve.entry_points = Some("[console_scripts]\ntinyserve = tinyserve.cli:main\n".into());
        tinyserve.data_scripts = vec![(
            "tinyserve-version".into(),
            TINYSERVE_VERSION.as_bytes().to_vec(),
        )];
        tinyserve.requires_python = Some(">=3.8".into());
        publish(&mut index, "tinyserve==1.0.0", &tinyserve);

        // One project with wheels for three platforms: only the manylinux one fits the run
        // image.
        let fastcore = |build: &str| {
            Wheel::pure(
                "fastcore",
                "2.0.0",
                &[
                    (
                        "fastcore/__init__.py",
                        "from fastcore._build import BUILD\n",
                    ),
                    ("fastcore/_build.py", &format!("BUILD = \"{build}\"\n")),
                ],
            )
        };
        let v = &dist.version;
        publish(
            &mut index,
            "fastcore==2.0.0",
            &fastcore("manylinux").tagged(
                cpython_tag(v, "manylinux_2_17_x86_64"),
                &["manylinux2014_x86_64"],
            ),
        );
        publish(
            &mut index,
            "fastcore==2.0.0 (macos)",
            &fastcore("macos").tagged(cpython_tag(v, "macosx_11_0_arm64"), &[]),
        );
        publish(
            &mut index,
            "fastcore==2.0.0 (windows)",
            &fastcore("windows").tagged(cpython_tag(v, "win_amd64"), &[]),
        );

        publish(
            &mut index,
            "oldcompat==1.0.0",
            &Wheel::pure(
                "oldcompat",
                "1.0.0",
                &[(
                    "oldcompat.py",
                    "raise ImportError('only for old Pythons')\n",
                )],
            ),
        );
        publish(
            &mut index,
            "linuxonly==1.0.0",
            &Wheel::pure(
                "linuxonly",
                "1.0.0",
                &[("linuxonly.py", "WHERE = \"linux\"\n")],
            ),
        );
        publish(
            &mut index,
            "colorlib==1.0.0",
            &Wheel::pure(
                "colorlib",
                "1.0.0",
                &[(
                    "colorlib/__init__.py",
                    "def red(s):\n    return \"<red>\" + s + \"</red>\"\n",
                )],
            ),
        );
        let mut fancy = Wheel::pure(
            "fancy",
            "1.0.0",
            &[(
                "fancy/__init__.py",
                "try:\n    import colorlib\nexcept ImportError:\n    colorlib = None\n\n\ndef paint(s):\n    return colorlib.red(s) if colorlib else s\n",
            )],
        );
        fancy.provides_extra = vec!["color".into()];
        fancy.requires_dist = vec!["colorlib>=1.0; extra == \"color\"".into()];
        publish(&mut index, "fancy==1.0.0", &fancy);
        publish(
            &mut index,
            "devtool==1.0.0",
            &Wheel::pure("devtool", "1.0.0", &[("devtool.py", "DEV = True\n")]),
        );

        let app = work.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("python-inventory.toml"), dist.inventory_toml()).unwrap();
        let server = Server::start(&served_dir);
        Self {
            work,
            server,
            index,
            dist,
            app,
            files,
        }
    }

    /// (file name, sha256) of `key`.
    fn file(&self, key: &str) -> &(String, String) {
        self.files
            .get(key)
            .unwrap_or_else(|| panic!("no fixture file {key}"))
    }

    fn sha(&self, key: &str) -> String {
        self.file(key).1.clone()
    }

    /// The WSGI app of test (a): `app.py`, a Procfile, requirements.txt pinning tinyserve.
    fn wsgi_app(&self) {
        std::fs::write(self.app.join("app.py"), WSGI_APP).unwrap();
        std::fs::write(
            self.app.join("Procfile"),
            "web: tinyserve app:application\n",
        )
        .unwrap();
        std::fs::write(
            self.app.join(".python-version"),
            format!("{}\n", self.dist.minor()),
        )
        .unwrap();
        std::fs::write(
            self.app.join("requirements.txt"),
            requirements_txt(&[("tinyserve==1.0.0", None, vec![self.sha("tinyserve==1.0.0")])]),
        )
        .unwrap();
    }

    /// The requirements of the markers test: an extra's dependency, a platform project with
    /// three wheels pinned, one dependency for old Pythons only and one for Linux only.
    fn markers_requirements(&self) -> String {
        requirements_txt(&[
            ("colorlib==1.0.0", None, vec![self.sha("colorlib==1.0.0")]),
            ("fancy[color]==1.0.0", None, vec![self.sha("fancy==1.0.0")]),
            (
                "fastcore==2.0.0",
                None,
                vec![
                    self.sha("fastcore==2.0.0"),
                    self.sha("fastcore==2.0.0 (macos)"),
                    self.sha("fastcore==2.0.0 (windows)"),
                ],
            ),
            (
                "linuxonly==1.0.0",
                Some("sys_platform == \"linux\""),
                vec![self.sha("linuxonly==1.0.0")],
            ),
            (
                "oldcompat==1.0.0",
                Some("python_version < \"3.8\""),
                vec![self.sha("oldcompat==1.0.0")],
            ),
        ])
    }

    fn downloads(&self) -> PathBuf {
        self.work.path().join("downloads")
    }

    fn layout(&self) -> PathBuf {
        self.work.path().join("image")
    }

    /// `kiln build` with the index named by `PIP_INDEX_URL`.
    fn build(&self, run_image: &str, extra: &[&str]) -> Output {
        let index = format!("PIP_INDEX_URL={}", self.server.index_url());
        let mut args = vec!["--env", index.as_str()];
        args.extend_from_slice(extra);
        self.build_with(run_image, &args)
    }

    /// `kiln build` of the app into the world's layout with the CPython mirror and `extra`.
    fn build_with(&self, run_image: &str, extra: &[&str]) -> Output {
        let mut cmd = kiln_command();
        cmd.arg("build")
            .arg(format!("oci:{}", self.layout().display()))
            .arg("--path")
            .arg(&self.app)
            .args(["--run-image", run_image])
            .arg("--download-cache")
            .arg(self.downloads())
            .arg("--cache-dir")
            .arg(self.work.path().join("layer-cache"))
            .args(["--env", "KILN_PYTHON_INVENTORY=python-inventory.toml"])
            .arg("--env")
            .arg(format!(
                "KILN_PYTHON_DIST_URL={}/python-dist",
                self.server.base
            ))
            .args(extra);
        // The fixture server is on loopback, which downloads may reach only when allowed.
        if !extra.contains(&"--network-allow") {
            cmd.args(["--network-allow", "127.0.0.1"]);
        }
        run(&mut cmd)
    }

    /// The image's venv layer unpacked into a fresh directory of the work dir.
    fn image_venv(&self, name: &str) -> PathBuf {
        let dest = self.work.path().join(name);
        unpack_image_path(&self.layout(), "latest", VENV, &dest);
        assert!(
            dest.join("pyvenv.cfg").is_file(),
            "no {VENV}/pyvenv.cfg in the image"
        );
        dest
    }

    /// The site-packages of an unpacked venv.
    fn site_packages(&self, venv: &Path) -> PathBuf {
        venv.join(format!("lib/python{}/site-packages", self.dist.minor()))
    }

    /// pip's install of the app's requirements.txt from the same index, in a venv of the
    /// work dir: (venv, site-packages).
    fn pip_reference(&self, name: &str) -> (PathBuf, PathBuf) {
        let venv = self.work.path().join(name);
        let site = pip_reference(
            &self.server.index_url(),
            &self.app.join("requirements.txt"),
            &venv,
        );
        (venv, site)
    }

    /// Requests for the wheel `key`.
    fn file_hits(&self, key: &str) -> usize {
        self.server.hits(&Index::file_path(&self.file(key).0))
    }
}

fn all_output(o: &Output) -> String {
    format!("{}\n{}", o.stdout, o.stderr)
}

/// Run `args` in the image through the launcher (the launch env applied).
fn launch(layout: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--"];
    all.extend_from_slice(args);
    run_image(
        layout,
        "latest",
        &["--entrypoint", "/cnb/lifecycle/launcher"],
        &all,
    )
}

fn line_of<'a>(out: &'a Output, prefix: &str) -> &'a str {
    out.stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{}\n{}", out.stdout, out.stderr))
}

#[test]
fn fixtures_install_with_pip_and_the_runtime_is_relocatable() {
    // The CPython distribution was checked when it was made (unpacked to a temporary
    // directory, run there with a clean environment); check the kept tarball again.
    let w = World::new();
    let check = tempfile::tempdir().unwrap();
    python_support::check_relocatable(
        &std::fs::read(&w.dist.kept).unwrap(),
        check.path(),
        &w.dist.minor(),
    );
    let inventory: toml::Table = toml::from_str(&w.dist.inventory_toml()).unwrap();
    assert_eq!(
        inventory["release"][0]["sha256"].as_str(),
        Some(w.dist.sha256.as_str())
    );

    // Every wheel is a sound zip whose RECORD lists each entry with its hash and size, as
    // Python's own zipfile and csv read them.
    let wheels: Vec<PathBuf> = std::fs::read_dir(w.index.root.join("files"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let checked = std::process::Command::new("python3")
        .args(["-c", WHEEL_CHECK])
        .args(&wheels)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&checked.stdout).trim(),
        format!("checked {}", wheels.len()),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    // The wheels and the index are what pip accepts: hashes, RECORD, tags, markers.
    std::fs::write(w.app.join("requirements.txt"), w.markers_requirements()).unwrap();
    let (venv, site) = w.pip_reference("pip-venv");
    assert_eq!(
        installed(&site),
        [
            ("colorlib", "1.0.0"),
            ("fancy", "1.0.0"),
            ("fastcore", "2.0.0"),
            ("linuxonly", "1.0.0")
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
    );
    assert_eq!(
        std::fs::read_to_string(site.join("fastcore/_build.py")).unwrap(),
        "BUILD = \"manylinux\"\n"
    );
    assert_eq!(w.file_hits("fastcore==2.0.0 (macos)"), 0);
    assert_eq!(w.file_hits("oldcompat==1.0.0"), 0);
    assert!(
        w.server.hits("/simple/fancy/") >= 1,
        "{:?}",
        w.server.all_hits()
    );
    let out = std::process::Command::new(venv.join("bin/python"))
        .args(["-c", MARKERS_MAIN])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "paint: <red>kiln</red>\nbuild: manylinux\nlinuxonly: linux\noldcompat: False\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The console script and the data script as pip installs them.
    std::fs::write(
        w.app.join("requirements.txt"),
        requirements_txt(&[("tinyserve==1.0.0", None, vec![w.sha("tinyserve==1.0.0")])]),
    )
    .unwrap();
    let (venv, site) = w.pip_reference("pip-venv-tinyserve");
    assert!(site.join("tinyserve-1.0.0.dist-info/RECORD").is_file());
    std::fs::write(w.app.join("app.py"), WSGI_APP).unwrap();
    let out = std::process::Command::new(venv.join("bin/tinyserve"))
        .arg("app:application")
        .current_dir(&w.app)
        .env("VIRTUAL_ENV", VENV)
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("status: 200 OK\nbody: hello from wsgi"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(venv.join("bin/tinyserve-version"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tinyserve 1.0.0\n");

    // An sdist for later tests is a well-formed tarball.
    let sd = python_support::sdist("tinyserve", "1.0.0", &[("tinyserve/__init__.py", "")]);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(sd.as_slice()));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "tinyserve-1.0.0/PKG-INFO",
            "tinyserve-1.0.0/pyproject.toml",
            "tinyserve-1.0.0/tinyserve/__init__.py"
        ]
    );
}

#[test]
fn wsgi_app_with_a_console_script_runs_and_matches_pip() {
    let w = World::new();
    w.wsgi_app();
    let base = debian();
    let out = w.build(&base, &[]).success();
    assert_eq!(w.file_hits("tinyserve==1.0.0"), 1, "{}", all_output(&out));
    let version_line = format!("/python-dist/{}", w.dist.release_path);
    assert_eq!(w.server.hits(&version_line), 1, "{:?}", w.server.all_hits());

    // The Procfile's web process: the console script imports the app and calls it once.
    let ran = run_image(&w.layout(), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(line_of(&ran, "status:"), "status: 200 OK");
    assert_eq!(line_of(&ran, "body:"), wsgi_body());

    // The venv's interpreter is the runtime's; the data script is on PATH with its `#!`
    // rewritten.
    let py = launch(
        &w.layout(),
        &[
            "python",
            "-c",
            "import sys, tinyserve; print('prefix: ' + sys.prefix); print('version: ' + '.'.join(map(str, sys.version_info[:3]))); print('module: ' + tinyserve.__file__)",
        ],
    );
    assert_eq!(py.code, 0, "{}\n{}", py.stdout, py.stderr);
    assert_eq!(line_of(&py, "prefix:"), format!("prefix: {VENV}"));
    assert_eq!(
        line_of(&py, "version:"),
        format!("version: {}", w.dist.version)
    );
    assert_eq!(
        line_of(&py, "module:"),
        format!(
            "module: {VENV}/lib/python{}/site-packages/tinyserve/__init__.py",
            w.dist.minor()
        )
    );
    let script = launch(&w.layout(), &["tinyserve-version"]);
    assert_eq!(script.stdout.trim(), "tinyserve 1.0.0", "{}", script.stderr);

    // The same files as pip's install from the same index.
    let kiln_venv = w.image_venv("kiln-venv");
    let cfg = std::fs::read_to_string(kiln_venv.join("pyvenv.cfg")).unwrap();
    assert!(cfg.lines().any(|l| l.starts_with("home = ")), "{cfg}");
    assert!(
        std::fs::symlink_metadata(kiln_venv.join("bin/python"))
            .unwrap()
            .file_type()
            .is_symlink(),
        "bin/python links to the runtime's interpreter"
    );
    let (pip_venv, pip_site) = w.pip_reference("pip-venv");
    let diffs = compare_with_pip(
        &kiln_venv,
        &pip_venv,
        &pip_site,
        &[("tinyserve", "tinyserve.cli", "main")],
    );
    assert!(
        diffs.is_empty(),
        "Kiln and pip differ:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn markers_extras_and_platform_wheels() {
    let w = World::new();
    std::fs::write(w.app.join("requirements.txt"), w.markers_requirements()).unwrap();
    std::fs::write(w.app.join("main.py"), MARKERS_MAIN).unwrap();
    let out = w.build(&debian(), &[]).success();
    let text = all_output(&out);

    // Neither the macOS and Windows wheels nor the old-Python-only project is fetched.
    assert_eq!(w.file_hits("fastcore==2.0.0"), 1, "{text}");
    assert_eq!(w.file_hits("fastcore==2.0.0 (macos)"), 0, "{text}");
    assert_eq!(w.file_hits("fastcore==2.0.0 (windows)"), 0, "{text}");
    assert_eq!(w.file_hits("oldcompat==1.0.0"), 0, "{text}");
    assert_eq!(w.server.hits(&Index::page_path("oldcompat")), 0, "{text}");

    // `python main.py` is the detected process.
    let ran = run_image(&w.layout(), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(line_of(&ran, "paint:"), "paint: <red>kiln</red>");
    assert_eq!(line_of(&ran, "build:"), "build: manylinux");
    assert_eq!(line_of(&ran, "linuxonly:"), "linuxonly: linux");
    assert_eq!(line_of(&ran, "oldcompat:"), "oldcompat: False");

    let kiln_venv = w.image_venv("kiln-venv");
    let site = w.site_packages(&kiln_venv);
    let cp = w.dist.cp();
    assert_eq!(
        installed_tags(&site, "fastcore-2.0.0.dist-info"),
        [
            format!("{cp}-{cp}-manylinux_2_17_x86_64"),
            format!("{cp}-{cp}-manylinux2014_x86_64")
        ]
    );
    let (pip_venv, pip_site) = w.pip_reference("pip-venv");
    let diffs = compare_with_pip(&kiln_venv, &pip_venv, &pip_site, &[]);
    assert!(
        diffs.is_empty(),
        "Kiln and pip differ:\n{}",
        diffs.join("\n")
    );
}

/// A `uv.lock` wheel entry for `key`.
fn uv_wheel(w: &World, key: &str) -> String {
    let (file, sha) = w.file(key);
    let size = std::fs::metadata(w.index.root.join("files").join(file))
        .unwrap()
        .len();
    format!(
        "    {{ url = \"{}/files/{file}\", hash = \"sha256:{sha}\", size = {size} }},\n",
        w.server.base
    )
}

fn uv_package(w: &World, name: &str, version: &str, keys: &[&str], more: &str) -> String {
    let wheels: String = keys.iter().map(|k| uv_wheel(w, k)).collect();
    format!(
        "[[package]]\nname = \"{name}\"\nversion = \"{version}\"\nsource = {{ registry = \"{}\" }}\nwheels = [\n{wheels}]\n{more}\n",
        w.server.index_url()
    )
}

#[test]
fn uv_lock_app_follows_the_graph() {
    let w = World::new();
    std::fs::write(
        w.app.join("pyproject.toml"),
        r#"[project]
name = "uvapp"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = [
    "fancy[color]==1.0.0",
    "fastcore==2.0.0",
    "oldcompat==1.0.0; python_version < '3.8'",
    "linuxonly==1.0.0; sys_platform == 'linux'",
    "tinyserve==1.0.0",
]

[dependency-groups]
dev = ["devtool==1.0.0"]
"#,
    )
    .unwrap();
    let mut lock = String::from("version = 1\nrevision = 2\nrequires-python = \">=3.8\"\n\n");
    lock += &uv_package(&w, "colorlib", "1.0.0", &["colorlib==1.0.0"], "");
    lock += &uv_package(&w, "devtool", "1.0.0", &["devtool==1.0.0"], "");
    lock += &uv_package(
        &w,
        "fancy",
        "1.0.0",
        &["fancy==1.0.0"],
        "\n[package.optional-dependencies]\ncolor = [\n    { name = \"colorlib\" },\n]\n",
    );
    lock += &uv_package(
        &w,
        "fastcore",
        "2.0.0",
        &[
            "fastcore==2.0.0 (macos)",
            "fastcore==2.0.0",
            "fastcore==2.0.0 (windows)",
        ],
        "",
    );
    lock += &uv_package(&w, "linuxonly", "1.0.0", &["linuxonly==1.0.0"], "");
    lock += &uv_package(&w, "oldcompat", "1.0.0", &["oldcompat==1.0.0"], "");
    lock += &uv_package(&w, "tinyserve", "1.0.0", &["tinyserve==1.0.0"], "");
    lock += r#"[[package]]
name = "uvapp"
version = "0.1.0"
source = { virtual = "." }
dependencies = [
    { name = "fancy", extra = ["color"] },
    { name = "fastcore" },
    { name = "linuxonly", marker = "sys_platform == 'linux'" },
    { name = "oldcompat", marker = "python_full_version < '3.8'" },
    { name = "tinyserve" },
]

[package.dev-dependencies]
dev = [
    { name = "devtool" },
]

[package.metadata]
requires-dist = [
    { name = "fancy", extras = ["color"], specifier = "==1.0.0" },
    { name = "fastcore", specifier = "==2.0.0" },
    { name = "linuxonly", marker = "sys_platform == 'linux'", specifier = "==1.0.0" },
    { name = "oldcompat", marker = "python_full_version < '3.8'", specifier = "==1.0.0" },
    { name = "tinyserve", specifier = "==1.0.0" },
]

[package.metadata.requires-dev]
dev = [{ name = "devtool", specifier = "==1.0.0" }]
"#;
    std::fs::write(w.app.join("uv.lock"), lock).unwrap();
    std::fs::write(
        w.app.join("app.py"),
        format!("{MARKERS_MAIN}import tinyserve\nprint(\"tinyserve: \" + tinyserve.__version__)\n"),
    )
    .unwrap();

    // No index named: the lock's own URLs are used, and no project page is read.
    let out = w.build_with(&debian(), &[]).success();
    let text = all_output(&out);
    let pages: Vec<String> = w
        .server
        .all_hits()
        .into_keys()
        .filter(|p| p.starts_with("/simple/"))
        .collect();
    assert!(pages.is_empty(), "{pages:?}\n{text}");
    assert_eq!(w.file_hits("fastcore==2.0.0"), 1, "{text}");
    assert_eq!(w.file_hits("fastcore==2.0.0 (macos)"), 0, "{text}");
    assert_eq!(w.file_hits("oldcompat==1.0.0"), 0, "{text}");
    assert_eq!(
        w.file_hits("devtool==1.0.0"),
        0,
        "dev group left out: {text}"
    );

    let ran = run_image(&w.layout(), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(line_of(&ran, "paint:"), "paint: <red>kiln</red>");
    assert_eq!(line_of(&ran, "build:"), "build: manylinux");
    assert_eq!(line_of(&ran, "oldcompat:"), "oldcompat: False");
    assert_eq!(line_of(&ran, "tinyserve:"), "tinyserve: 1.0.0");

    let kiln_venv = w.image_venv("kiln-venv");
    let names: Vec<String> = installed(&w.site_packages(&kiln_venv))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["colorlib", "fancy", "fastcore", "linuxonly", "tinyserve"]
    );
    assert!(kiln_venv.join("bin/tinyserve").is_file());
}

#[test]
fn poetry_lock_app() {
    let w = World::new();
    std::fs::write(
        w.app.join("pyproject.toml"),
        r#"[tool.poetry]
name = "poetryapp"
version = "0.1.0"
description = ""
authors = ["Kiln <kiln@example.invalid>"]
package-mode = false

[tool.poetry.dependencies]
python = ">=3.8"
colorlib = "1.0.0"
tinyserve = "1.0.0"

[tool.poetry.group.dev.dependencies]
devtool = "1.0.0"

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
"#,
    )
    .unwrap();
    let package = |name: &str, key: &str, group: &str| {
        let (file, sha) = w.file(key);
        format!(
            "[[package]]\nname = \"{name}\"\nversion = \"1.0.0\"\ndescription = \"\"\noptional = false\npython-versions = \">=3.8\"\ngroups = [\"{group}\"]\nfiles = [\n    {{file = \"{file}\", hash = \"sha256:{sha}\"}},\n]\n\n"
        )
    };
    let mut lock = String::from(
        "# This file is automatically @generated by Poetry 2.1.1 and should not be changed by hand.\n\n",
    );
    lock += &package("colorlib", "colorlib==1.0.0", "main");
    lock += &package("devtool", "devtool==1.0.0", "dev");
    lock += &package("tinyserve", "tinyserve==1.0.0", "main");
    lock += "[metadata]\nlock-version = \"2.1\"\npython-versions = \">=3.8\"\ncontent-hash = \"";
    lock += &sha256_hex(b"poetryapp");
    lock += "\"\n";
    std::fs::write(w.app.join("poetry.lock"), lock).unwrap();
    std::fs::write(
        w.app.join("main.py"),
        "import colorlib, tinyserve\nprint('poetry: ' + colorlib.red('app') + ' ' + tinyserve.__version__)\n",
    )
    .unwrap();

    let out = w.build(&debian(), &[]).success();
    let text = all_output(&out);
    assert_eq!(
        w.file_hits("devtool==1.0.0"),
        0,
        "dev group left out: {text}"
    );
    assert_eq!(w.file_hits("tinyserve==1.0.0"), 1, "{text}");
    let ran = run_image(&w.layout(), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(line_of(&ran, "poetry:"), "poetry: <red>app</red> 1.0.0");
    let tool = launch(&w.layout(), &["tinyserve-version"]);
    assert_eq!(tool.stdout.trim(), "tinyserve 1.0.0", "{}", tool.stderr);
}

#[test]
fn hash_mismatch_fails_naming_the_package_and_writes_nothing() {
    let w = World::new();
    w.wsgi_app();
    // The mirror now serves a different (well-formed) wheel under the pinned file's name.
    let evil = Wheel::pure(
        "tinyserve",
        "1.0.0",
        &[("tinyserve/__init__.py", "raise SystemExit('evil')\n")],
    )
    .bytes();
    let (file, pinned) = w.file("tinyserve==1.0.0").clone();
    w.index.tamper(&file, &evil);
    let out = w.build(&busybox(), &[]);
    assert_ne!(out.code, 0);
    let text = all_output(&out);
    assert!(text.contains("tinyserve"), "{text}");
    assert!(text.contains(&pinned), "the pinned sha256 is named: {text}");
    assert!(
        !text.contains(&sha256_hex(&evil)),
        "never the digest of what arrived: {text}"
    );
    assert!(
        !w.layout().join("index.json").exists(),
        "nothing is written to the output"
    );
    let bad = w.downloads().join("sha256").join(sha256_hex(&evil));
    assert!(!bad.exists(), "the bad file is not cached");
}

#[test]
fn unchanged_lock_rebuild_makes_no_request() {
    let w = World::new();
    w.wsgi_app();
    let base = debian();
    let cold = w.build(&base, &[]).success();
    let before = w.server.total();
    assert!(before >= 2, "{:?}", w.server.all_hits());

    let warm = w.build(&base, &[]).success();
    assert_eq!(
        w.server.total(),
        before,
        "{:?}\n{}",
        w.server.all_hits(),
        all_output(&warm)
    );
    assert_eq!(
        digest_of(&warm),
        digest_of(&cold),
        "same inputs, same image"
    );

    // Only the app changes: still nothing fetched, and the new code runs.
    std::fs::write(
        w.app.join("app.py"),
        WSGI_APP.replace("hello from wsgi", "hello again"),
    )
    .unwrap();
    let changed = w.build(&base, &[]).success();
    assert_eq!(w.server.total(), before, "{}", all_output(&changed));
    assert_ne!(digest_of(&changed), digest_of(&cold));
    let ran = run_image(&w.layout(), "latest", &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        line_of(&ran, "body:").starts_with("body: hello again; venv="),
        "{}",
        ran.stdout
    );
}

#[test]
fn unpinned_requirements_fail_unless_allowed() {
    let w = World::new();
    w.wsgi_app();
    std::fs::write(w.app.join("requirements.txt"), "tinyserve==1.0.0\n").unwrap();
    let refused = w.build(&busybox(), &[]);
    assert_ne!(refused.code, 0);
    let text = all_output(&refused);
    assert!(text.contains("--generate-hashes"), "{text}");
    assert!(text.contains("tinyserve"), "{text}");
    assert_eq!(w.file_hits("tinyserve==1.0.0"), 0, "{text}");
    assert!(!w.layout().join("index.json").exists());

    let allowed = w.build(&busybox(), &["--allow-unpinned"]).success();
    assert!(
        all_output(&allowed).contains("unpinned"),
        "{}",
        all_output(&allowed)
    );
    let info = inspect_json(&w.layout(), "latest");
    assert_eq!(
        info["summary"]["labels"]["io.kiln.reproducible"].as_str(),
        Some("false"),
        "{info}"
    );
}
