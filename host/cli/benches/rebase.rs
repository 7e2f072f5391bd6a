//! Kiln benchmark: `kiln rebase` of an app image onto a large base, as the CLI does it (open
//! and check the run image, lock the layout, rebase, sweep the layout), cold (the base's
//! layers checked for the first time) and warm (checked before). Prints a Markdown table of
//! medians.
//!
//! Run with `cargo bench -p kiln --bench rebase`. `KILN_BENCH_BASE_MB` sets the size of the
//! base's one random layer (default 1024), `KILN_BENCH_RUNS` the number of warm runs
//! (default 10).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln::image_ref::ImageRef;
use kiln::pipeline::{self, OutputTarget, Request, Silent, open_run_image};
use kiln::services::Services;
use kiln_fs::CachePaths;
use kiln_oci::{
    CopyOutcome, Descriptor, HashingWriter, ImageConfig, LayerBuilder, LayerOwnership,
    MEDIA_TYPE_OCI_LAYER_GZIP, OciLayout,
};
use kiln_runtime::Runtime;

/// `len` pseudo-random bytes from a xorshift64 generator (incompressible, cheap).
struct Random {
    state: u64,
    left: u64,
}

impl Read for Random {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A base image in `dir` (tag `latest`) whose one layer holds `mb` MiB of random bytes in
/// `/opt/big.bin`, written as a gzip layer with stored (level 0) deflate blocks.
fn big_base(dir: &Path, mb: u64) {
    let layout = OciLayout::create_or_open(dir).unwrap();
    let blob = layout.blobs().writer().unwrap();
    let gz = flate2::write::GzEncoder::new(blob, flate2::Compression::none());
    let mut tar = tar::Builder::new(HashingWriter::new(gz));
    let len = mb << 20;
    let mut header = tar::Header::new_ustar();
    header.set_path("opt/big.bin").unwrap();
    header.set_size(len);
    header.set_mode(0o644);
    header.set_mtime(kiln_oci::NORMALIZED_MTIME);
    header.set_cksum();
    tar.append(
        &header,
        Random {
            state: 0x9E37_79B9_7F4A_7C15,
            left: len,
        },
    )
    .unwrap();
    let (gz, diff_id, _) = tar.into_inner().unwrap().finish();
    let desc: Descriptor = gz
        .finish()
        .unwrap()
        .finish(MEDIA_TYPE_OCI_LAYER_GZIP)
        .unwrap();
    write_base(&layout, desc, diff_id);
}

/// A small base in `dir`: one layer with `/etc/os-release`.
fn small_base(dir: &Path) {
    let layout = OciLayout::create_or_open(dir).unwrap();
    let mut layer = LayerBuilder::new(LayerOwnership::ROOT);
    layer
        .add_file("etc/os-release", b"NAME=small\n".to_vec(), 0o644)
        .unwrap();
    let written = layer.write_to(layout.blobs()).unwrap();
    write_base(&layout, written.descriptor, written.diff_id);
}

fn write_base(layout: &OciLayout, desc: Descriptor, diff_id: kiln_oci::Digest) {
    let mut config = ImageConfig::new("linux", kiln_spec::platform::host_arch());
    config.set_diff_ids(&[diff_id]);
    layout.write_image("latest", &config, vec![desc]).unwrap();
}

/// The app image `oci:<dir>:app`, built by the pipeline with the embedded Procfile
/// buildpack on `run_image`; also tagged `orig`, so every warm run can start from it.
fn build_app(work: &Path, services: Services, run_image: &str) -> PathBuf {
    let app = work.join("src");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("Procfile"), "web: /bin/true\n").unwrap();
    std::fs::write(app.join("data.txt"), "hello\n").unwrap();
    let mut request = Request::new(&app, services);
    request.run_image = ImageRef::parse(run_image).unwrap();
    request.compile_cache = Some(work.join("cwasm"));
    let layout_dir = work.join("app");
    let out = OutputTarget::parse(
        &format!("oci:{}:app", layout_dir.display()),
        &request.services,
    )
    .unwrap();
    let log: kiln_runtime::LogSink = Arc::new(|_, _, _| {});
    let rt = Runtime::new(
        request.compile_cache.clone(),
        kiln_runtime::Limits::default(),
        log,
    )
    .unwrap();
    pipeline::build_with_runtime(&request, &out, &rt, &Silent).unwrap();
    retag(&layout_dir, "app", "orig");
    layout_dir
}

/// Point `to` at the manifest `from` names.
fn retag(dir: &Path, from: &str, to: &str) {
    let layout = OciLayout::open(dir).unwrap();
    let mut desc = layout.resolve(Some(from)).unwrap().manifest_descriptor;
    desc.set_ref_name(to);
    layout.tag_descriptor(desc).unwrap();
}

/// One `kiln rebase oci:<app>:app --run-image <base>` as the CLI runs it; returns how the
/// base's blobs got into the app layout.
fn rebase(services: &Services, app: &Path, base: &ImageRef) -> Vec<CopyOutcome> {
    let image = ImageRef::parse(&format!("oci:{}:app", app.display())).unwrap();
    let run_image = open_run_image(base, services).unwrap();
    let _lock = kiln::layout_gc::lock(&services.caches.locks(), app, false, &Silent).unwrap();
    let (report, _) = kiln::rebase_image::rebase_anywhere(
        &services.registries,
        &image,
        &run_image.image,
        None,
        false,
        &std::collections::BTreeMap::new(),
    )
    .unwrap();
    kiln::layout_gc::sweep_after(&OciLayout::open(app).unwrap(), &Silent);
    report.base_copies
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn services(cache: &Path) -> Services {
    let caches = CachePaths::at(cache);
    let registry = kiln_registry::RegistrySettings::new(caches.registry_store());
    Services::new(caches, registry).unwrap()
}

fn main() {
    let mb: u64 = std::env::var("KILN_BENCH_BASE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let runs: usize = std::env::var("KILN_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    std::fs::create_dir_all(&root).unwrap();
    let work = tempfile::Builder::new()
        .prefix("kiln-bench-rebase-")
        .tempdir_in(&root)
        .unwrap();
    let w = work.path();
    let t = Instant::now();
    small_base(&w.join("small"));
    big_base(&w.join("big"), mb);
    let big_blob = OciLayout::open(w.join("big"))
        .unwrap()
        .resolve(Some("latest"))
        .unwrap()
        .manifest
        .layers[0]
        .clone();
    eprintln!(
        "bases written in {} ({} MiB layer {})",
        ms(t.elapsed()),
        mb,
        big_blob.digest
    );
    let cache = w.join("cache");
    let app = build_app(
        w,
        services(&cache),
        &format!("oci:{}:latest", w.join("small").display()),
    );
    let base = ImageRef::parse(&format!("oci:{}:latest", w.join("big").display())).unwrap();
    let services = services(&cache);
    let app_blob = app.join("blobs/sha256").join(big_blob.digest.hex());

    // Cold: the base's layer is checked (hashed, decompressed) and copied.
    let t = Instant::now();
    let cold_copies = rebase(&services, &app, &base);
    let cold = t.elapsed();

    // Warm, base blobs already in the app layout (a second rebase after a rebuild on the
    // old base): checked before, nothing to copy.
    let mut present = Vec::new();
    let mut present_copies = Vec::new();
    for _ in 0..runs {
        retag(&app, "orig", "app");
        let t = Instant::now();
        present_copies = rebase(&services, &app, &base);
        present.push(t.elapsed());
    }

    // Warm, the app layout does not have the base's blob: checked before, so copied with
    // copy_file_range (or a reflink) instead of read-hash-write.
    let mut copied = Vec::new();
    let mut copied_copies = Vec::new();
    for _ in 0..runs.min(5) {
        retag(&app, "orig", "app");
        kiln_oci::collect_garbage(&OciLayout::open(&app).unwrap()).unwrap();
        assert!(!app_blob.exists());
        let t = Instant::now();
        copied_copies = rebase(&services, &app, &base);
        copied.push(t.elapsed());
    }

    // For comparison: the read-hash-write copy every rebase did before.
    let big_store = OciLayout::open(w.join("big")).unwrap();
    let hashed: Vec<Duration> = (0..3)
        .map(|i| {
            let dest = OciLayout::create_or_open(w.join(format!("hashed{i}"))).unwrap();
            let t = Instant::now();
            assert!(
                dest.blobs()
                    .copy_from(big_store.blobs(), &big_blob)
                    .unwrap()
            );
            let d = t.elapsed();
            std::fs::remove_dir_all(dest.root()).unwrap();
            d
        })
        .collect();

    println!("\n### `kiln rebase` onto a {mb} MiB base\n");
    println!("| case | median | base blob |\n|---|---:|---|");
    println!(
        "| cold: base never checked (1 run) | {} | {cold_copies:?} |",
        ms(cold)
    );
    println!(
        "| warm: base checked before, its blob already in the app layout ({runs} runs) | {} | {present_copies:?} |",
        ms(median(present))
    );
    println!(
        "| warm: base checked before, blob copied into the app layout ({} runs) | {} | {copied_copies:?} |",
        copied.len(),
        ms(median(copied))
    );
    println!(
        "| for comparison: the blob's read-hash-write copy alone (`BlobStore::copy_from`, 3 runs) | {} | Hashed |",
        ms(median(hashed))
    );
    std::io::stdout().flush().unwrap();
}
