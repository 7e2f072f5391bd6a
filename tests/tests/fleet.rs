//! `kiln image`: a fleet of ten image specs on a local registry, each app in its own local
//! git repository (made here with gix), sharing one run image and one packaged buildpack.
//! Every build reason is provoked for real and checked against what reconcile did.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../host/git/tests/common/mod.rs"]
mod git_fixture;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use git_fixture::{Fixture, Item};
use support::*;

const APPS: usize = 10;

/// One app repository: a Procfile on `main`.
fn commit_app(repo: &Fixture, greeting: &str) {
    let procfile = format!("web: echo {greeting}\n");
    repo.commit("main", &[("Procfile", Item::File(procfile.as_bytes()))]);
}

/// Every blob the registry stores.
fn registry_blobs(reg: &TestRegistry) -> usize {
    let dir = tools_work_dir()
        .join("registry")
        .join(reg.port.to_string())
        .join("data/docker/registry/v2/blobs/sha256");
    let mut n = 0;
    for prefix in std::fs::read_dir(dir).unwrap() {
        n += std::fs::read_dir(prefix.unwrap().path()).unwrap().count();
    }
    n
}

/// A copy of the procfile component with a custom section appended: the same behaviour,
/// another digest (what a new release of a buildpack looks like to the fleet).
fn new_release(component: &Path, dest: &Path, note: &str) {
    let mut bytes = std::fs::read(component).unwrap();
    let name = b"kiln-test-release";
    let payload = note.as_bytes();
    let size = 1 + name.len() + payload.len();
    bytes.push(0);
    assert!(size < 128, "one-byte LEB128 sizes only");
    bytes.push(u8::try_from(size).unwrap());
    bytes.push(u8::try_from(name.len()).unwrap());
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    std::fs::write(dest, bytes).unwrap();
}

fn package(component: &Path, reference: &str) -> String {
    digest_of(
        &run(kiln_command()
            .args(["buildpack", "package"])
            .arg(component)
            .arg(reference))
        .success(),
    )
}

/// A spec directory with a cache of its own: the first reconcile starts with an empty
/// registry store and compile cache, as on a fresh machine, so its parallel builds pull the
/// same run-image and buildpack blobs at the same time.
struct Fleet {
    specs: PathBuf,
    cache: PathBuf,
    _dir: tempfile::TempDir,
}

impl Fleet {
    fn kiln(&self, args: &[&str]) -> Output {
        run(kiln_command()
            .env("KILN_CACHE_DIR", &self.cache)
            .args(["image"])
            .args(args)
            .arg("--specs")
            .arg(&self.specs))
    }

    /// `reconcile --all --json`: (name, reasons, result) per image, and the exit code.
    fn reconcile(&self, extra: &[&str]) -> (Vec<(String, Vec<String>, String)>, Output) {
        let mut args = vec!["reconcile", "--all", "--json", "--jobs", "2"];
        args.extend_from_slice(extra);
        let out = self.kiln(&args);
        let reports: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
        let rows = reports
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let reasons = r["decision"]["reasons"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default();
                (
                    r["name"].as_str().unwrap().to_owned(),
                    reasons,
                    r["outcome"]["result"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (rows, out)
    }
}

fn changed(rows: &[(String, Vec<String>, String)]) -> Vec<(String, Vec<String>, String)> {
    rows.iter()
        .filter(|(_, _, result)| result != "up-to-date")
        .cloned()
        .collect()
}

/// Pull `reference` from the registry into a layout and run its default process.
fn run_from_registry(reference: &str, work: &Path) -> String {
    let layout = work.join(reference.replace(['/', ':'], "_"));
    let copied = run(Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:app", layout.display())));
    assert_eq!(copied.code, 0, "{}", copied.stderr);
    let out = run_image(&layout, "app", &[], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

#[test]
fn a_fleet_rebuilds_rebases_and_records_exactly_what_changed() {
    let reg = TestRegistry::start(None);
    let work = tempfile::tempdir().unwrap();
    let run_tag = reg.reference("base/run:latest");
    reg.push_layout(&busybox(), "base/run:latest");
    let bp_tag = format!("docker://{}", reg.reference("buildpacks/procfile:latest"));
    package(&test_buildpack("procfile"), &bp_tag);

    let repos: Vec<Fixture> = (0..APPS)
        .map(|i| {
            let repo = Fixture::new();
            commit_app(&repo, &format!("hello from app {i}"));
            repo
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet {
        specs: dir.path().join("specs"),
        cache: dir.path().join("cache"),
        _dir: dir,
    };
    let mut files = Vec::new();
    for (i, repo) in repos.iter().enumerate() {
        let file = work.path().join(format!("app-{i}.toml"));
        std::fs::write(
            &file,
            format!(
                "tag = \"{}\"\n[source]\ngit = {{ url = \"{}\", revision = \"main\" }}\n[build]\nbuildpacks = [\"{bp_tag}\"]\nrun-image = \"{run_tag}\"\n[cache]\nimage = \"{}\"\n",
                reg.reference(&format!("apps/app-{i}:latest")),
                repo.file_url(),
                reg.reference(&format!("apps/app-{i}-cache:latest")),
            ),
        )
        .unwrap();
        files.push(file);
    }
    let mut apply = vec!["apply"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    apply.extend(names.iter().map(String::as_str));
    let out = fleet.kiln(&apply).success();
    assert_eq!(
        out.stdout.matches("configured").count(),
        APPS,
        "{}",
        out.stdout
    );
    let listed = fleet.kiln(&["list"]).success();
    assert_eq!(listed.stdout.matches("never built").count(), APPS);

    // 1. Nothing at the tags yet: ten CONFIG builds.
    let (rows, out) = fleet.reconcile(&[]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        rows.iter()
            .all(|(_, r, result)| r == &["CONFIG"] && result == "built"),
        "{rows:?}"
    );
    let label = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false"])
        .arg(format!("docker://{}", reg.reference("apps/app-0:latest")))
        .output()
        .unwrap();
    let inspect: serde_json::Value = serde_json::from_slice(&label.stdout).unwrap();
    let inputs: serde_json::Value =
        serde_json::from_str(inspect["Labels"]["io.kiln.build.inputs"].as_str().unwrap()).unwrap();
    assert_eq!(
        inputs["source"]["id"].as_str().unwrap().len(),
        40,
        "{inputs}"
    );
    assert_eq!(inputs["buildpacks"][0]["id"], "kiln/procfile", "{inputs}");
    assert!(
        inputs["runImage"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // 2. An unchanged fleet: no build, no blob.
    let blobs = registry_blobs(&reg);
    let (rows, _) = fleet.reconcile(&[]);
    assert!(changed(&rows).is_empty(), "{rows:?}");
    assert_eq!(
        registry_blobs(&reg),
        blobs,
        "an unchanged fleet writes no blob"
    );

    // 3. A commit in one app: exactly one COMMIT build.
    commit_app(&repos[3], "app 3, second commit");
    let (rows, _) = fleet.reconcile(&[]);
    assert_eq!(
        changed(&rows),
        [("app-3".into(), vec!["COMMIT".into()], "built".into())]
    );
    let app3 = run_from_registry(&reg.reference("apps/app-3:latest"), work.path());
    assert!(app3.contains("app 3, second commit"), "{app3}");

    // 4. A new run image: a dry run says so, then ten STACK rebases and no build; each runs.
    reg.push_layout(&busybox_variant("v2"), "base/run:latest");
    let dry = fleet.kiln(&["reconcile", "--all", "--dry-run"]).success();
    assert!(
        dry.stdout.contains(&format!(
            "would rebuild {APPS} of {APPS} images: {APPS} STACK (rebase)"
        )),
        "{}",
        dry.stdout
    );
    let (rows, _) = fleet.reconcile(&[]);
    assert!(
        rows.iter()
            .all(|(_, r, result)| r == &["STACK"] && result == "rebased"),
        "{rows:?}"
    );
    for i in 0..APPS {
        let said = run_from_registry(&reg.reference(&format!("apps/app-{i}:latest")), work.path());
        assert!(said.contains("app"), "app-{i}: {said}");
    }

    // 5. A new buildpack release and a broken app: ten BUILDPACK builds, nine succeed, the
    //    broken one fails with its failure recorded.
    let release = work.path().join("procfile-2.wasm");
    new_release(&test_buildpack("procfile"), &release, "2");
    package(&release, &bp_tag);
    repos[7].commit("main", &[("README", Item::File(b"no Procfile here\n"))]);
    let (rows, out) = fleet.reconcile(&[]);
    assert_ne!(out.code, 0, "a failed image fails the reconcile");
    for (name, reasons, result) in &rows {
        if name == "app-7" {
            assert_eq!(
                (reasons.as_slice(), result.as_str()),
                (&["COMMIT".to_owned(), "BUILDPACK".to_owned()][..], "failed")
            );
        } else {
            assert_eq!(
                (reasons.as_slice(), result.as_str()),
                (&["BUILDPACK".to_owned()][..], "built"),
                "{name}"
            );
        }
    }
    let status = fleet.kiln(&["status", "app-7"]).success();
    assert!(status.stdout.contains("failed"), "{}", status.stdout);
    let history: serde_json::Value =
        serde_json::from_str(&fleet.kiln(&["status", "app-7", "--json"]).success().stdout).unwrap();
    let last = history["builds"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["result"], "failed");
    assert!(Path::new(last["log"].as_str().unwrap()).is_file());

    // 6. A spec change: CONFIG for that image only; a trigger: TRIGGER for that one.
    let spec1 = std::fs::read_to_string(&files[1]).unwrap();
    std::fs::write(
        &files[1],
        spec1.replace("[build]\n", "[build]\nenv = { GREETING = \"hi\" }\n"),
    )
    .unwrap();
    fleet.kiln(&["apply", files[1].to_str().unwrap()]).success();
    fleet.kiln(&["trigger", "app-2"]).success();
    commit_app(&repos[7], "app 7 repaired");
    let (rows, out) = fleet.reconcile(&[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        changed(&rows),
        [
            ("app-1".into(), vec!["CONFIG".into()], "built".into()),
            ("app-2".into(), vec!["TRIGGER".into()], "built".into()),
            // Its failed build left the image on the old buildpack.
            (
                "app-7".into(),
                vec!["COMMIT".into(), "BUILDPACK".into()],
                "built".into()
            ),
        ]
    );
    let (rows, _) = fleet.reconcile(&[]);
    assert!(changed(&rows).is_empty(), "{rows:?}");
}

#[test]
fn bad_specs_remotes_and_foreign_images_are_reported_clearly() {
    let work = tempfile::tempdir().unwrap();
    let specs = work.path().join("specs");
    let kiln_image = |args: &[&str]| {
        run(kiln_command()
            .args(["image"])
            .args(args)
            .arg("--specs")
            .arg(&specs))
    };
    let repo = Fixture::new();
    commit_app(&repo, "hello");
    let layout = work.path().join("out");
    let spec = |name: &str, url: &str, revision: &str| {
        let file = work.path().join(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!(
                "tag = \"oci:{}:{name}\"\n[source]\ngit = {{ url = \"{url}\", revision = \"{revision}\" }}\n[build]\nrun-image = \"{}\"\n",
                layout.display(),
                busybox()
            ),
        )
        .unwrap();
        file
    };

    // A typo'd key: the file and the key are named, and nothing is applied.
    let good = spec("good", &repo.file_url(), "main");
    let typo = work.path().join("typo.toml");
    std::fs::write(
        &typo,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace("run-image", "run_image"),
    )
    .unwrap();
    let out = kiln_image(&["apply", good.to_str().unwrap(), typo.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("typo.toml") && out.stderr.contains("run_image"),
        "{}",
        out.stderr
    );
    assert!(!specs.exists() || std::fs::read_dir(&specs).unwrap().next().is_none());
    let yaml = work.path().join("kp.yaml");
    std::fs::write(&yaml, "apiVersion: kpack.io/v1alpha2\nkind: Image\nmetadata: {name: kp}\nspec:\n  tag: x\n  tagg: y\n").unwrap();
    let out = kiln_image(&["apply", yaml.to_str().unwrap()]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr.contains("kp.yaml") && out.stderr.contains("tagg"),
        "{}",
        out.stderr
    );

    // An unreachable remote and a revision that does not exist: failures that say so.
    let unreachable = spec("unreachable", "file:///nonexistent/repo.git", "main");
    let missing = spec("missing", &repo.file_url(), "no-such-branch");
    kiln_image(&[
        "apply",
        good.to_str().unwrap(),
        unreachable.to_str().unwrap(),
        missing.to_str().unwrap(),
    ])
    .success();
    let out = kiln_image(&["reconcile", "unreachable", "missing"]);
    assert_ne!(out.code, 0);
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {}", out.stdout))
            .to_owned()
    };
    assert!(
        line("unreachable").contains("file:///nonexistent/repo.git"),
        "{}",
        out.stdout
    );
    assert!(
        line("missing").contains("no-such-branch") && line("missing").contains("main"),
        "{}",
        out.stdout
    );

    // An image at the tag that Kiln's reconcile did not build: CONFIG, saying why.
    kiln([
        "-q",
        "build",
        &format!("oci:{}:good", layout.display()),
        "--path",
        fixture("procfile-app").to_str().unwrap(),
        "--run-image",
        &busybox(),
    ])
    .success();
    let out = kiln_image(&["reconcile", "good", "--dry-run"]).success();
    assert!(
        out.stdout.contains("CONFIG") && out.stdout.contains("has no io.kiln.build.inputs label"),
        "{}",
        out.stdout
    );
    let out = kiln_image(&["reconcile", "good"]).success();
    assert!(out.stdout.contains("built"), "{}", out.stdout);
    let out = kiln_image(&["reconcile", "good"]).success();
    assert!(out.stdout.contains("up-to-date"), "{}", out.stdout);
    let said = run_image(&layout, "good", &[], &[]);
    assert!(said.stdout.contains("hello"), "{}", said.stderr);
}

#[test]
fn a_blob_source_is_built_only_when_it_matches_its_pin() {
    use sha2::Digest as _;
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("app.tar.gz");
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        std::fs::File::create(&archive).unwrap(),
        flate2::Compression::default(),
    ));
    tar.append_dir_all("app", fixture("procfile-app")).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(std::fs::read(&archive).unwrap()))
    );
    let layout = work.path().join("out");
    let specs = work.path().join("specs");
    std::fs::create_dir_all(&specs).unwrap();
    let write = |digest: &str| {
        std::fs::write(
            specs.join("blob.toml"),
            format!(
                "tag = \"oci:{}:blob\"\n[source]\nblob = {{ url = \"file://{}\", digest = \"{digest}\" }}\nsub-path = \"app\"\n[build]\nrun-image = \"{}\"\n",
                layout.display(),
                archive.display(),
                busybox()
            ),
        )
        .unwrap();
    };
    let reconcile = || {
        run(kiln_command()
            .args(["image", "reconcile", "--all", "--specs"])
            .arg(&specs))
    };
    write(&format!("sha256:{}", "0".repeat(64)));
    let out = reconcile();
    assert_ne!(out.code, 0);
    assert!(
        out.stdout.contains("does not match its pin"),
        "{}",
        out.stdout
    );
    assert!(!layout.join("index.json").exists(), "nothing is written");
    write(&digest);
    let out = reconcile().success();
    assert!(
        out.stdout.contains("CONFIG") && out.stdout.contains("built"),
        "{}",
        out.stdout
    );
    let said = run_image(&layout, "blob", &[], &[]);
    assert!(said.stdout.contains("hello from kiln"), "{}", said.stderr);
    assert!(reconcile().success().stdout.contains("up-to-date"));
}

#[test]
fn k8s_manifests_parse_back_into_kubernetes_types() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("web.yaml");
    std::fs::write(
        &file,
        "apiVersion: kpack.io/v1alpha2\nkind: Image\nmetadata: {name: web}\nspec:\n  tag: registry.example.com/apps/web\n  builder: {runImage: registry.example.com/base/run}\n  source: {git: {url: 'https://git.example.com/web.git', revision: main}}\n",
    )
    .unwrap();
    for extra in [&[][..], &["--indexed"][..]] {
        let out = run(kiln_command()
            .args(["image", "k8s"])
            .arg(&file)
            .args(["--image", "registry.example.com/kiln:0.1.0"])
            .args(extra))
        .success();
        let objects = kiln_k8s::from_yaml(&out.stdout).unwrap();
        assert_eq!(objects.len(), 2, "{}", out.stdout);
        assert!(!out.stdout.contains("hostPath"));
        assert!(out.stdout.contains("runAsNonRoot: true"), "{}", out.stdout);
    }
}
