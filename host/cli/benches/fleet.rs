//! Kiln benchmark: `kiln image reconcile --all` of an unchanged fleet, in process as the CLI
//! runs it. The fleet is 100 image specs over 10 local git repositories (10 apps each, one
//! per `subPath`), built once onto `scratch` into one `oci:` layout with the embedded
//! buildpacks; then each timed reconcile resolves every source again (git), resolves the
//! run image, reads the inputs label of every image and decides "up to date".
//!
//! The baseline in the same run is reading and validating the 100 spec files alone, the
//! floor of any reconcile. Prints a Markdown table of medians.
//!
//! Run with `cargo bench -p kiln --bench fleet`; `KILN_BENCH_RUNS` sets the number of timed
//! runs (default 9), `KILN_BENCH_SPECS` the fleet size (default 100, a multiple of 10).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    missing_docs
)]

use std::path::Path;
use std::time::{Duration, Instant};

use gix::ObjectId;
use gix::actor::SignatureRef;
use gix::objs::tree::EntryKind;

use kiln::fleet::KilnEngine;
use kiln::services::Services;
use kiln_fleet::{ImageOutcome, Options, SpecStore};
use kiln_fs::CachePaths;

const REPOS: usize = 10;

/// A repository in `dir` with one commit on `main`: `app-<j>/Procfile` for each app.
fn repo(dir: &Path, apps: usize) {
    let repo = gix::init(dir).unwrap();
    let mut editor = repo
        .edit_tree(ObjectId::empty_tree(gix::hash::Kind::Sha1))
        .unwrap();
    for j in 0..apps {
        let blob = repo
            .write_blob(format!("web: echo app {j}\n").as_bytes())
            .unwrap()
            .detach();
        editor
            .upsert(format!("app-{j}/Procfile"), EntryKind::Blob, blob)
            .unwrap();
    }
    let tree = editor.write().unwrap().detach();
    let sig = SignatureRef {
        name: "Kiln Bench".into(),
        email: "bench@kiln.invalid".into(),
        time: "1700000000 +0000",
    };
    repo.commit_as(sig, sig, "refs/heads/main", "apps", tree, None::<ObjectId>)
        .unwrap();
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    let specs_n: usize = std::env::var("KILN_BENCH_SPECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let per_repo = specs_n.div_ceil(REPOS);
    let work = tempfile::tempdir().unwrap();
    let services = Services::new(
        CachePaths::at(work.path().join("cache")),
        kiln_registry::RegistrySettings::new(work.path().join("cache/registry")),
    )
    .unwrap();
    let specs_dir = work.path().join("specs");
    std::fs::create_dir_all(&specs_dir).unwrap();
    let layout = work.path().join("images");
    for r in 0..REPOS {
        let dir = work.path().join(format!("repo-{r}"));
        repo(&dir, per_repo);
        for j in 0..per_repo {
            let name = format!("r{r}-app-{j}");
            std::fs::write(
                specs_dir.join(format!("{name}.toml")),
                format!(
                    "tag = \"oci:{}:{name}\"\n[source]\ngit = {{ url = \"{}\", revision = \"main\" }}\nsub-path = \"app-{j}\"\n[build]\nrun-image = \"scratch\"\n",
                    layout.display(),
                    dir.display()
                ),
            )
            .unwrap();
        }
    }
    let store = SpecStore::new(&specs_dir, None);
    let specs = store.load_all().unwrap();
    assert_eq!(specs.len(), REPOS * per_repo);

    let started = Instant::now();
    let built = kiln_fleet::reconcile(
        &store,
        &specs,
        &KilnEngine::new(services.clone()),
        Options {
            dry_run: false,
            jobs: 2,
        },
    );
    let build_time = started.elapsed();
    for r in &built {
        assert!(
            matches!(r.outcome, ImageOutcome::Built { .. }),
            "{}: {:?}",
            r.name,
            r.outcome
        );
    }
    let blobs = || {
        std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let blobs_before = blobs();

    let mut load = Vec::new();
    let mut reconcile = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let loaded = SpecStore::new(&specs_dir, None).load_all().unwrap();
        load.push(t.elapsed());
        let t = Instant::now();
        let engine = KilnEngine::new(services.clone());
        let reports = kiln_fleet::reconcile(
            &store,
            &loaded,
            &engine,
            Options {
                dry_run: false,
                jobs: 1,
            },
        );
        reconcile.push(t.elapsed());
        assert!(
            reports.iter().all(|r| r.outcome == ImageOutcome::UpToDate),
            "an unchanged fleet is up to date"
        );
    }
    assert_eq!(
        blobs(),
        blobs_before,
        "an unchanged reconcile writes no blob"
    );
    let (load, reconcile) = (median(load), median(reconcile));
    let n = specs.len();
    println!(
        "\n## kiln image reconcile of an unchanged fleet ({n} specs, {REPOS} git repos, median of {runs})\n"
    );
    println!("| case | median | per image | ratio |");
    println!("|---|---:|---:|---:|");
    println!(
        "| baseline: read and validate {n} specs | {:.1} ms | {:.3} ms | 1.0× |",
        ms(load),
        ms(load) / n as f64
    );
    println!(
        "| reconcile: resolve {REPOS} git sources + run image, read {n} labels, decide | {:.1} ms | {:.3} ms | {:.1}× |",
        ms(reconcile),
        ms(reconcile) / n as f64,
        reconcile.as_secs_f64() / load.as_secs_f64()
    );
    println!(
        "\nfirst reconcile (100 CONFIG builds, 2 jobs): {:.1} s; blobs written by unchanged reconciles: 0",
        build_time.as_secs_f64()
    );
}
