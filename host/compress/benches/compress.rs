//! Layer compression throughput: flate2/miniz gzip (what Kiln used) against the parallel gzip
//! and zstd writers of `kiln-compress`. Prints a Markdown table.
//!
//! `cargo bench -p kiln-compress`; `KILN_BENCH_MB` (default 64) and `KILN_BENCH_RUNS`
//! (default 3) set the input size and the number of timed runs (the median is reported).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use kiln_compress::{GzipEncoder, ZstdEncoder, default_threads};
/// gzip exactly as Kiln wrote layers before: flate2 (miniz_oxide backend), one stream, one
/// thread, `GzBuilder::new().mtime(0).operating_system(255)`, level 6.
fn flate2_gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::new(6));
    for piece in data.chunks(64 * 1024) {
        enc.write_all(piece)?;
    }
    enc.finish()
}

fn kiln_gzip(data: &[u8], threads: usize) -> io::Result<Vec<u8>> {
    let mut enc = GzipEncoder::with_options(Vec::new(), 6, threads).map_err(io::Error::other)?;
    // Like a tar writer: many moderate writes.
    for piece in data.chunks(64 * 1024) {
        enc.write_all(piece)?;
    }
    enc.finish()
}

fn kiln_zstd(data: &[u8], workers: usize) -> io::Result<Vec<u8>> {
    let mut enc = ZstdEncoder::new(Vec::new(), 3, workers).map_err(io::Error::other)?;
    for piece in data.chunks(64 * 1024) {
        enc.write_all(piece)?;
    }
    enc.finish()
}

fn pigz(data: &[u8]) -> io::Result<Vec<u8>> {
    let (ok, out) = common::pipe("pigz", &["-6", "-c"], data)
        .ok_or_else(|| io::Error::other("pigz did not run"))?;
    if ok {
        Ok(out)
    } else {
        Err(io::Error::other("pigz failed"))
    }
}

fn has_pigz() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("pigz").is_file()))
}

fn gunzip(gz: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut out)?;
    Ok(out)
}

/// A compressor under test.
type Method = Box<dyn Fn(&[u8]) -> io::Result<Vec<u8>>>;

struct Row {
    name: String,
    threads: usize,
    median: Duration,
    size: usize,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn measure(
    data: &[u8],
    runs: usize,
    f: &dyn Fn(&[u8]) -> io::Result<Vec<u8>>,
) -> io::Result<(Duration, Vec<u8>)> {
    let mut times = Vec::with_capacity(runs);
    let mut out = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        out = f(data)?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], out))
}

#[allow(clippy::cast_precision_loss)]
fn main() -> io::Result<()> {
    let mb = env_usize("KILN_BENCH_MB", 64);
    let runs = env_usize("KILN_BENCH_RUNS", 3).max(1);
    let threads = default_threads();
    let data = common::mixed(mb * 1024 * 1024, 70, 0x5eed);
    eprintln!(
        "input: {} bytes (70 % text-like, 30 % random), {runs} runs each, {threads} threads",
        data.len()
    );

    let mut methods: Vec<(String, usize, Method, bool)> = vec![
        (
            "flate2/miniz GzEncoder level 6 (baseline)".into(),
            1,
            Box::new(flate2_gzip),
            true,
        ),
        (
            "kiln-compress gzip level 6".into(),
            1,
            Box::new(|d: &[u8]| kiln_gzip(d, 1)),
            true,
        ),
        (
            "kiln-compress gzip level 6".into(),
            threads,
            Box::new(move |d: &[u8]| kiln_gzip(d, threads)),
            true,
        ),
        (
            "kiln-compress zstd level 3".into(),
            1,
            Box::new(|d: &[u8]| kiln_zstd(d, 1)),
            false,
        ),
        (
            "kiln-compress zstd level 3".into(),
            threads,
            Box::new(move |d: &[u8]| kiln_zstd(d, threads)),
            false,
        ),
    ];
    if has_pigz() {
        methods.push(("pigz -6".into(), threads, Box::new(pigz), true));
    } else {
        eprintln!("pigz not installed; skipping it");
    }

    let mut rows = Vec::new();
    for (name, t, f, is_gzip) in &methods {
        eprintln!("{name}, {t} thread(s)...");
        let (median, out) = measure(&data, runs, f.as_ref())?;
        let back = if *is_gzip {
            gunzip(&out)?
        } else {
            zstd::decode_all(&out[..])?
        };
        if back != data {
            return Err(io::Error::other(format!("{name}: roundtrip mismatch")));
        }
        rows.push(Row {
            name: name.clone(),
            threads: *t,
            median,
            size: out.len(),
        });
    }

    let base = &rows[0];
    let (base_secs, base_size) = (base.median.as_secs_f64(), base.size as f64);
    let mbytes = data.len() as f64 / 1e6;
    println!(
        "| method | threads | median s | MB/s | speed vs baseline | compressed bytes | size vs baseline | ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        let secs = r.median.as_secs_f64();
        println!(
            "| {} | {} | {:.3} | {:.1} | {:.2}x | {} | {:.3} | {:.3} |",
            r.name,
            r.threads,
            secs,
            mbytes / secs,
            base_secs / secs,
            r.size,
            r.size as f64 / base_size,
            r.size as f64 / data.len() as f64,
        );
    }
    Ok(())
}
