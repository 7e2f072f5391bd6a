//! Source distributions with no wheel, built in the build image's sandbox: a PEP 517 backend
//! pinned in `build-constraints.txt`, the built wheel installed like any other, reused on the
//! next build; refusals without a build image or without a pin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod python_support;
mod support;

use std::path::PathBuf;

use python_support::{Index, PythonDist, Server, Wheel, python_dist, requirements_txt, sdist};
use support::*;

/// A tiny PEP 517 backend: zips the project's package directory into a wheel, with a RECORD.
const BACKEND: &str = r#"import base64, hashlib, os, zipfile

def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def _meta():
    fields = {}
    for line in open("PKG-INFO", encoding="utf-8"):
        if ": " in line:
            k, v = line.rstrip("\n").split(": ", 1)
            fields.setdefault(k, v)
    return fields["Name"], fields["Version"]

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version = _meta()
    stem = name.replace("-", "_") + "-" + version
    filename = stem + "-py3-none-any.whl"
    info = stem + ".dist-info"
    files = []
    for root, dirs, names in os.walk(name.replace("-", "_")):
        dirs.sort()
        for n in sorted(names):
            path = os.path.join(root, n)
            files.append((path.replace(os.sep, "/"), open(path, "rb").read()))
    files.append((info + "/METADATA", ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version)).encode()))
    files.append((info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: kilnbuild\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    record = "".join("%s,%s,%d\n" % (p, _hash(d), len(d)) for p, d in files) + info + "/RECORD,,\n"
    files.append((info + "/RECORD", record.encode()))
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))
    import time
    stamp = time.gmtime(max(epoch, 315532800))[:6]
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as z:
        for p, d in files:
            zi = zipfile.ZipInfo(p, stamp)
            zi.external_attr = 0o644 << 16
            z.writestr(zi, d)
    return filename
"#;

struct World {
    work: tempfile::TempDir,
    server: Server,
    app: PathBuf,
}

impl World {
    /// An app pinning `tinysdist` (sdist only) whose build needs `kilnbuild` (a wheel);
    /// `pin_backend` writes build-constraints.txt.
    fn new(pin_backend: bool) -> Self {
        let work = tempfile::tempdir().unwrap();
        let served_dir = work.path().join("served");
        let dist: PythonDist = python_dist();
        dist.serve(&served_dir, "python-dist");
        let mut index = Index::new(&served_dir);
        let backend = Wheel::pure("kilnbuild", "0.1.0", &[("kilnbuild/__init__.py", BACKEND)]);
        let (_, backend_sha) = index.publish(&backend);
        let mut bytes = sdist(
            "tinysdist",
            "1.0",
            &[(
                "tinysdist/__init__.py",
                "VALUE = 'built from source in the sandbox'\n",
            )],
        );
        // The helper's sdist builds with setuptools; this one names the tiny backend.
        bytes = retarget(&bytes);
        let sdist_sha = index.publish_bytes("tinysdist", "tinysdist-1.0.tar.gz", &bytes);
        let server = Server::start(&served_dir);
        let app = work.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("python-inventory.toml"), dist.inventory_toml()).unwrap();
        std::fs::write(app.join(".python-version"), format!("{}\n", dist.minor())).unwrap();
        std::fs::write(
            app.join("requirements.txt"),
            requirements_txt(&[("tinysdist==1.0", None, vec![sdist_sha])]),
        )
        .unwrap();
        if pin_backend {
            std::fs::write(
                app.join("build-constraints.txt"),
                requirements_txt(&[("kilnbuild==0.1.0", None, vec![backend_sha])]),
            )
            .unwrap();
        }
        std::fs::write(
            app.join("Procfile"),
            "web: python -c \"import tinysdist; print('value: ' + tinysdist.VALUE)\"\n",
        )
        .unwrap();
        Self { work, server, app }
    }

    fn build(&self, extra: &[&str]) -> Output {
        let mut cmd = kiln_command();
        cmd.arg("build")
            .arg(format!("oci:{}", self.work.path().join("image").display()))
            .arg("--path")
            .arg(&self.app)
            .args(["--run-image", &debian()])
            .arg("--download-cache")
            .arg(self.work.path().join("downloads"))
            .arg("--cache-dir")
            .arg(self.work.path().join("layer-cache"))
            .args(["--env", "KILN_PYTHON_INVENTORY=python-inventory.toml"])
            .arg("--env")
            .arg(format!(
                "KILN_PYTHON_DIST_URL={}/python-dist",
                self.server.base
            ))
            .arg("--env")
            .arg(format!("PIP_INDEX_URL={}", self.server.index_url()))
            .args(["--network-allow", "127.0.0.1"])
            .args(extra);
        run(&mut cmd)
    }
}

/// The sdist with its pyproject.toml naming `kilnbuild` as its backend.
fn retarget(tgz: &[u8]) -> Vec<u8> {
    let pyproject = "[build-system]\nrequires = [\"kilnbuild\"]\nbuild-backend = \"kilnbuild\"\n\n[project]\nname = \"tinysdist\"\nversion = \"1.0\"\n";
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let rel = path
            .split_once('/')
            .map_or(path.clone(), |(_, r)| r.to_owned());
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if rel == "pyproject.toml" {
            data = pyproject.as_bytes().to_vec();
        }
        files.push((rel, data, 0o644));
    }
    let refs: Vec<(&str, &[u8], u32)> = files
        .iter()
        .map(|(p, d, m)| (p.as_str(), d.as_slice(), *m))
        .collect();
    kiln_test::fixtures::tgz("tinysdist-1.0", &refs).unwrap()
}

fn build_image_ref() -> String {
    debian_image("debian-node-gyp", Some("python3,make,g++"))
}

#[test]
fn an_sdist_is_built_in_the_sandbox_installed_and_reused() {
    let w = World::new(true);
    let image = build_image_ref();
    let out = w.build(&["--build-image", &image]).success();
    let log = out.stderr.clone();
    assert!(
        log.contains("Building a wheel from tinysdist-1.0.tar.gz"),
        "{log}"
    );
    let ran = run_image(&w.work.path().join("image"), "latest", &[], &[]);
    let stdout = ran.stdout.clone();
    assert!(
        stdout.contains("value: built from source in the sandbox"),
        "{stdout}\n{}",
        ran.stderr
    );

    // A changed lock (a comment) reinstalls the venv but reuses the built wheel.
    let req = std::fs::read_to_string(w.app.join("requirements.txt")).unwrap();
    std::fs::write(w.app.join("requirements.txt"), format!("# changed\n{req}")).unwrap();
    let again = w.build(&["--build-image", &image]).success();
    let log = again.stderr.clone();
    assert!(
        log.contains("Reusing the wheel built from tinysdist-1.0.tar.gz"),
        "{log}"
    );
    assert!(!log.contains("Building a wheel"), "{log}");
}

#[test]
fn without_a_build_image_the_sdist_is_named() {
    let w = World::new(true);
    let out = w.build(&[]);
    assert_ne!(out.code, 0);
    let log = out.stderr.clone();
    assert!(
        log.contains("tinysdist 1.0") && log.contains("--build-image"),
        "{log}"
    );
}

#[test]
fn an_unpinned_build_requirement_says_how_to_pin_it() {
    let w = World::new(false);
    let out = w.build(&["--build-image", &build_image_ref()]);
    assert_ne!(out.code, 0);
    let log = out.stderr.clone();
    assert!(
        log.contains("kilnbuild") && log.contains("build-constraints.txt"),
        "{log}"
    );
}
